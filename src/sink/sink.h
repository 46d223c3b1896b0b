/*
 * The sinks of one process, as one object: each record is encoded once
 * (sink/json.h) and written to every configured output, the JSONL file
 * (output.jsonl) and Kafka (kafka.bootstrap.servers). docs/sinks.md has the
 * formats and guarantees.
 *
 * Threads: aw_sink_transcript() and aw_sink_event() may be called from any
 * thread; each output serialises what it must.
 */
#ifndef AW_SINK_SINK_H
#define AW_SINK_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"
#include "airwave/transcript.h"
#include "conf/conf.h"
#include "sink/jsonl.h"
#include "sink/kafka.h"

/** Largest encoded record; Kafka's default message.max.bytes is 1 MB. */
#define AW_SINK_MAX_RECORD_BYTES (1000 * 1000 - 1024)

struct aw_sink;

/**
 * @brief Open the outputs \p conf asks for: Kafka if conf->kafka_enabled,
 *        JSONL if conf->output_jsonl is set ("-" is stdout). Neither is
 *        allowed (records are then only counted).
 * @returns the sink, or NULL with the reason in \p errstr.
 * @locality main thread
 */
struct aw_sink *aw_sink_new(const struct aw_conf *conf, char *errstr,
                            size_t errstr_size);

/**
 * @brief Encode \p t and write it to every output.
 * @returns AW_OK when every output took it; else the first failure:
 *          AW_ERR_INVAL / AW_ERR_TOO_LARGE / AW_ERR_NOMEM (not encoded,
 *          written nowhere, logged and counted in aw_sink_encode_errors()),
 *          any aw_kafka_produce() error (dropped and counted there), or
 *          AW_ERR_IO (JSONL write failed). An output that failed does not
 *          stop the others.
 * @locality any thread; may block up to AW_KAFKA_QUEUE_FULL_WAIT_MS
 */
enum aw_err aw_sink_transcript(struct aw_sink *s,
                               const struct aw_transcript *t);

/** As aw_sink_transcript(), for a stream event (topic stream-events). */
enum aw_err aw_sink_event(struct aw_sink *s, const struct aw_stream_event *ev);

/**
 * @brief Whether stream events go to the JSONL output as well as to Kafka
 *        (default true: the file then mirrors both topics, told apart by
 *        their "schema"). `airwave transcribe --jsonl` prints transcripts
 *        only. @locality before records flow
 */
void aw_sink_set_jsonl_events(struct aw_sink *s, bool on);

/** @returns the Kafka output (for metrics), or NULL if not configured. */
struct aw_kafka *aw_sink_kafka(const struct aw_sink *s);

/** @returns the JSONL output (for metrics), or NULL if not configured. */
struct aw_jsonl *aw_sink_jsonl(const struct aw_sink *s);

/** @returns records that could not be encoded. @locality any thread */
uint64_t aw_sink_encode_errors(const struct aw_sink *s);

/** Flush and close every output (aw_kafka_destroy()). NULL-safe. */
void aw_sink_destroy(struct aw_sink *s);

#endif
