/*
 * Framing of the Azure speech websocket protocol ("USP"), both directions.
 *
 * Text frames:   "Name: value\r\n" ... "\r\n" <UTF-8 body>
 * Binary frames: uint16 big-endian header length, US-ASCII header lines each
 *                ending in CRLF, then the body (audio).
 * The first audio message of a turn carries a 44-byte RIFF/WAV header.
 *
 * Shared by the connector (src/stt/azure.c) and airwave-speechd, which parses
 * whatever any client sends: every size and count is bounded, every byte is
 * checked, and a refusal comes with the reason text the service itself uses,
 * ready for a websocket close frame. Pure functions: no allocation, no I/O,
 * no global state, callable from any thread.
 *
 * Protocol reference: docs/azure-speech-protocol (shared) §2, §6.
 */
#ifndef AW_STT_USP_H
#define AW_STT_USP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"

#define AW_USP_MAX_HEADERS      32
#define AW_USP_MAX_HEADER_BYTES 8192 /* binary header section (Bing limit) */
#define AW_USP_MAX_AUDIO_BYTES  8192 /* audio body per message (Bing limit) */
#define AW_USP_RIFF_BYTES       44
#define AW_USP_TIMESTAMP_LEN    25 /* "2026-11-26T12:00:01.230Z" + NUL */

/** Limits applied to untrusted input; see aw_usp_default_limits. */
struct aw_usp_limits {
    size_t max_headers;          /* header lines per message */
    size_t max_header_bytes;     /* header section, either framing */
    size_t max_text_body_bytes;  /* body of a text message */
    size_t max_audio_body_bytes; /* body of a binary message */
};

/** 32 headers, 8 KiB headers, 64 KiB text body, 8 KiB audio body. */
extern const struct aw_usp_limits aw_usp_default_limits;

/** One header line; both parts borrowed from the parsed frame. */
struct aw_usp_header {
    const char *name;
    size_t name_len;
    const char *value; /* leading and trailing blanks trimmed */
    size_t value_len;
};

/** A parsed message. Every pointer borrows from the frame passed to
 *  aw_usp_parse() and is valid as long as that frame is. */
struct aw_usp_msg {
    bool binary;
    size_t nheaders;
    struct aw_usp_header headers[AW_USP_MAX_HEADERS];
    const char *path; /* value of the Path header, NULL if absent */
    size_t path_len;
    const char *request_id; /* value of X-RequestId, NULL if absent */
    size_t request_id_len;
    const uint8_t *body;
    size_t body_len;
};

/**
 * @brief Parse one websocket message.
 *
 * Checks the framing only: header syntax, sizes, counts, US-ASCII headers
 * and, for text frames, UTF-8. Which paths and headers a message needs is
 * the caller's business (see aw_usp_require()).
 *
 * @param lim     limits; NULL means aw_usp_default_limits
 * @param reason  on failure, a static text fit for a close frame, e.g.
 *                "Text message contains no header separator"; may be NULL
 * @returns AW_OK; AW_ERR_PROTO for malformed framing (the service closes
 *          with 1007); AW_ERR_TOO_LARGE when a limit is exceeded.
 */
enum aw_err aw_usp_parse(const uint8_t *data, size_t len, bool binary,
                         const struct aw_usp_limits *lim,
                         struct aw_usp_msg *msg, const char **reason);

/**
 * @brief Check the headers every client message needs: a non-empty Path and
 *        a no-dash 32-hex-digit X-RequestId (unless \p need_request_id is
 *        false, as for speech.config in the Bing spec).
 * @param reason  on failure, the service's text, e.g.
 *                "Missing/Empty header. Path."; may be NULL
 * @returns AW_OK or AW_ERR_PROTO (the service closes with 1002).
 */
enum aw_err aw_usp_require(const struct aw_usp_msg *msg, bool need_request_id,
                           const char **reason);

/** @returns the value of header \p name (case-insensitive) and its length
 *  in *len, or NULL. */
const char *aw_usp_header(const struct aw_usp_msg *msg, const char *name,
                          size_t *len);

/** @returns true if the message's Path equals \p path (case-insensitive). */
bool aw_usp_path_is(const struct aw_usp_msg *msg, const char *path);

/**
 * @brief Build a text message: Path, X-RequestId (omitted if NULL),
 *        X-Timestamp (now, UTC), Content-Type (omitted if NULL), blank line,
 *        body.
 * @param[out] len  bytes written
 * @returns AW_OK, AW_ERR_TOO_LARGE if \p cap is too small, AW_ERR_INVAL if
 *          a header value contains CR or LF.
 */
enum aw_err aw_usp_build_text(uint8_t *buf, size_t cap, size_t *len,
                              const char *path, const char *request_id,
                              const char *content_type, const char *body,
                              size_t body_len);

/**
 * @brief Build a binary audio message: length prefix, Path: audio,
 *        X-RequestId, X-Timestamp, Content-Type (omitted if NULL), then
 *        \p n bytes of audio (0 marks the end of the audio).
 * @returns AW_OK, AW_ERR_TOO_LARGE (buffer, or n > AW_USP_MAX_AUDIO_BYTES),
 *          AW_ERR_INVAL.
 */
enum aw_err aw_usp_build_audio(uint8_t *buf, size_t cap, size_t *len,
                               const char *request_id, const char *content_type,
                               const uint8_t *audio, size_t n);

/** Bytes aw_usp_build_audio() needs for \p n audio bytes with these
 *  headers: for sizing buffers once. */
size_t aw_usp_audio_frame_size(const char *request_id, const char *content_type,
                               size_t n);

/** The format carried by a RIFF/WAV header. */
struct aw_usp_wav_format {
    uint16_t format_tag; /* 1 PCM, 6 A-law, 7 mu-law, 0xFFFE extensible */
    uint16_t channels;
    uint32_t sample_rate_hz;
    uint32_t byte_rate;
    uint16_t block_align;
    uint16_t bits_per_sample;
    size_t data_offset; /* where the samples start in the parsed buffer */
};

/** Write the 44-byte header of a PCM stream of unknown length (both size
 *  fields 0, as the Azure SDK sends). */
void aw_usp_riff_build(uint8_t out[AW_USP_RIFF_BYTES], uint32_t rate_hz,
                       uint16_t bits_per_sample, uint16_t channels);

/**
 * @brief Parse and check a RIFF/WAV header at the start of \p data: RIFF and
 *        WAVE tags, a well-formed fmt chunk, consistent rates, and a data
 *        chunk within \p len (its size may be 0 or larger than \p len:
 *        streams have unknown length).
 * @returns AW_OK, or AW_ERR_PROTO with \p reason set.
 */
enum aw_err aw_usp_riff_parse(const uint8_t *data, size_t len,
                              struct aw_usp_wav_format *fmt,
                              const char **reason);

/** Current time as the X-Timestamp value. */
void aw_usp_timestamp(char out[AW_USP_TIMESTAMP_LEN]);

#endif
