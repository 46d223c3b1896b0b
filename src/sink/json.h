/*
 * JSON encoding of the records that leave the connector:
 * "airwave.transcript.v1" and "airwave.stream-event.v1" (docs/sinks.md,
 * docs/schema/). One compact JSON object per record, no trailing newline.
 *
 * Hand-written rather than built with jansson so that the key order is the
 * documented one, numbers are formatted without the locale (a decimal comma
 * would break every consumer) and text from the speech provider or an ICY
 * title is made valid UTF-8 while it is escaped: invalid byte sequences
 * become U+FFFD, never a rejected record.
 *
 * Pure functions: any thread.
 */
#ifndef AW_SINK_JSON_H
#define AW_SINK_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "airwave/err.h"
#include "airwave/transcript.h"
#include "common/buf.h"

/**
 * @brief Append \p s (\p len bytes) to \p b as a quoted JSON string.
 *
 * Escapes '"', '\\', control characters, DEL, U+2028 and U+2029 (the last
 * two so that the line can be pasted into JavaScript). Each maximal invalid
 * UTF-8 subpart (Unicode 15 §3.9, "U+FFFD substitution of maximal subparts")
 * is replaced by U+FFFD, so the output is valid UTF-8 whatever the input.
 * @returns AW_OK, AW_ERR_TOO_LARGE (cap of \p b reached) or AW_ERR_NOMEM; on
 *          error \p b is left as it was.
 * @locality any thread
 */
enum aw_err aw_json_put_string(struct aw_buf *b, const char *s, size_t len);

/**
 * @brief Append the "airwave.transcript.v1" object of \p t to \p b.
 *
 * Optional members are omitted when absent: lexical (NULL), confidence
 * (< 0 or not finite; values above 1 are written as 1), stream_title (NULL),
 * words (nwords == 0).
 * @returns AW_OK; AW_ERR_INVAL if a required member is missing or malformed
 *          (NULL stream_id, source, language, text or provider; stream_id
 *          not [A-Za-z0-9._-]{1,64}; id or capture_session not a UUID;
 *          a negative offset or duration; a NULL word); AW_ERR_TOO_LARGE;
 *          AW_ERR_NOMEM. On error \p b is left as it was.
 * @locality any thread
 */
enum aw_err aw_json_transcript(struct aw_buf *b, const struct aw_transcript *t);

/**
 * @brief Append the "airwave.stream-event.v1" object of \p ev to \p b.
 *
 * lost_seconds is written for discontinuities, replay_seconds for rotations
 * and title for title changes (an empty string when \p ev->title is NULL: the
 * title was cleared); source and reason when not NULL. An empty
 * capture_session (an event before any audio, e.g. the first error opening a
 * source) is written as the nil UUID.
 * @returns as aw_json_transcript(); AW_ERR_INVAL also for an unknown type.
 * @locality any thread
 */
enum aw_err aw_json_event(struct aw_buf *b, const struct aw_stream_event *ev);

/** @returns true if \p id is a valid stream id: [A-Za-z0-9._-]{1,64}. */
bool aw_json_stream_id_ok(const char *id);

#endif
