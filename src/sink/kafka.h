/*
 * Kafka sink: an idempotent librdkafka producer for the `transcripts` and
 * `stream-events` topics, key = stream id (docs/sinks.md has the settings,
 * their defaults and exactly when a record can be lost).
 *
 * Threads: aw_kafka_produce() may be called from any thread (in the
 * connector, the lws service thread). Delivery reports and client errors are
 * served by a small poll thread inside the sink, so the owner has nothing to
 * drive; librdkafka's own threads send, retry and log. Counters are atomics
 * and can be read from any thread (the /metrics handler).
 *
 * Every record handed to aw_kafka_produce() ends in exactly one counter:
 * delivered, failed (a delivery report with an error: message.timeout.ms
 * exceeded, a permanent broker error, purged at shutdown) or dropped (never
 * queued: queue full for longer than AW_KAFKA_QUEUE_FULL_WAIT_MS, a fatal
 * producer error, too large). Failed and dropped records are logged with the
 * stream id and the error name, never the payload.
 *
 * Only this module's .c file includes <librdkafka/rdkafka.h>.
 */
#ifndef AW_SINK_KAFKA_H
#define AW_SINK_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"
#include "conf/conf.h"

/** How long aw_kafka_produce() waits for room in a full queue. */
#define AW_KAFKA_QUEUE_FULL_WAIT_MS 1000

/** Flush deadline at aw_kafka_destroy() when the configuration has none. */
#define AW_KAFKA_FLUSH_TIMEOUT_MS 10000

/** Most per-stream counter blocks one sink keeps (aw_kafka_stream_get()). */
#define AW_KAFKA_MAX_STREAMS 4096

enum aw_kafka_topic {
    AW_KAFKA_TRANSCRIPTS = 0, /* conf->kafka_topic, "transcripts" */
    AW_KAFKA_EVENTS = 1,      /* conf->kafka_events_topic, "stream-events" */
};

#define AW_KAFKA_TOPIC_COUNT 2

/** A snapshot of counters (all monotonic). */
struct aw_kafka_counts {
    uint64_t produced;  /* accepted into the producer queue */
    uint64_t delivered; /* acknowledged by all in-sync replicas */
    uint64_t failed;    /* delivery report with an error: lost */
    uint64_t dropped;   /* refused before queueing: lost */
};

struct aw_kafka;
struct aw_kafka_stream; /* per-stream counters, owned by the sink */

/**
 * @brief Create the producer from the `kafka` settings of \p conf.
 *
 * Built-in defaults first (docs/sinks.md: acks=all, idempotence, bounded
 * queue, linger.ms=5, lz4, client.id=airwave ...), then every pass-through
 * property of conf->kafka in order with rd_kafka_conf_set(). Values of keys
 * containing "password", "secret" or "key" are registered with
 * aw_log_add_secret() before anything can log them.
 *
 * Refused (AW_ERR_INVAL): enable.idempotence=false, acks other than all/-1,
 * transactional.id, delivery.report.only.error=true (each would break the
 * delivery guarantee or the counters), an unknown property or bad value
 * (errstr names it as "FILE:LINE: kafka.PROPERTY: reason"; a secret value is
 * never quoted).
 * @returns the sink, or NULL with the reason in \p errstr.
 * @remark \p conf is only read during the call.
 * @locality main thread
 */
struct aw_kafka *aw_kafka_new(const struct aw_conf *conf, char *errstr,
                              size_t errstr_size);

/**
 * @brief Check one pass-through property (prefix stripped) as
 *        aw_kafka_new() will apply it, without creating anything: for the
 *        configuration loader, so `airwave check-config` reports a bad
 *        property with its file and line, and nothing outside this module
 *        includes librdkafka.
 *
 * Same refusals and messages as aw_kafka_new() (a secret value is never
 * quoted). plugin.library.paths is not tried (setting it loads the plugins).
 * @returns AW_OK or AW_ERR_INVAL with the reason in \p errstr (without the
 *          key: the caller adds "FILE:LINE: kafka.KEY: "); AW_ERR_NOMEM.
 * @locality any thread
 */
enum aw_err aw_kafka_conf_check(const char *key, const char *value,
                                char *errstr, size_t errstr_size);

/**
 * @brief Flush (deadline: conf->kafka_flush_timeout_ms), purge what is left
 *        (counted as failed and logged), stop the poll thread and free.
 *
 * NULL-safe. Every aw_kafka_stream of this sink is freed too.
 * @locality main thread; no other call on \p k may run or follow
 */
void aw_kafka_destroy(struct aw_kafka *k);

/**
 * @brief The counter block of \p stream_id, created on first use.
 *
 * Pass it to aw_kafka_produce() so that delivery reports are counted per
 * stream too. The sink owns it and keeps it until aw_kafka_destroy(): a
 * stream that restarts while its old records are still in flight gets the
 * same block, and no delivery report can reach freed memory.
 * @returns the block, or NULL (out of memory, or AW_KAFKA_MAX_STREAMS
 *          reached: produce without per-stream counts then).
 * @locality any thread
 * @locks the sink's stream list mutex
 */
struct aw_kafka_stream *aw_kafka_stream_get(struct aw_kafka *k,
                                            const char *stream_id);

/**
 * @brief Queue one record (copied: RD_KAFKA_MSG_F_COPY) for \p topic with
 *        key \p key (the stream id).
 *
 * If the queue is full, serves delivery reports and retries for up to
 * AW_KAFKA_QUEUE_FULL_WAIT_MS, then gives up. While the queue stays full
 * after such a wait, later records are refused at once (one attempt, no
 * wait) until one gets in again: an outage holds the caller's thread for
 * one second, not one second per record.
 * @param st  per-stream counters from aw_kafka_stream_get(), or NULL
 * @returns AW_OK (queued; the delivery report will count it delivered or
 *          failed); otherwise the record was dropped, counted and logged:
 *          AW_ERR_AGAIN (queue still full: RD_KAFKA_RESP_ERR__QUEUE_FULL),
 *          AW_ERR_PROTO (fatal producer error: not retriable, see
 *          aw_kafka_failed()), AW_ERR_TOO_LARGE (above message.max.bytes),
 *          AW_ERR_NOT_FOUND (unknown topic or partition), AW_ERR_AUTH
 *          (not authorised), AW_ERR_INVAL (NULL argument or bad topic),
 *          AW_ERR_NET (any other client error).
 * @locality any thread; may block up to AW_KAFKA_QUEUE_FULL_WAIT_MS
 */
enum aw_err aw_kafka_produce(struct aw_kafka *k, enum aw_kafka_topic topic,
                             const char *key, const void *payload, size_t len,
                             struct aw_kafka_stream *st);

/**
 * @brief Wait up to \p timeout_ms for every queued record to be reported.
 * @returns the records still without a delivery report (0: all delivered or
 *          failed, see the counters).
 * @locality any thread; blocks
 */
size_t aw_kafka_flush(struct aw_kafka *k, int timeout_ms);

/** @returns librdkafka's queue depth (rd_kafka_outq_len(): messages,
 *  requests and undelivered reports). @locality any thread */
size_t aw_kafka_queue_depth(const struct aw_kafka *k);

/** Counters of one topic, all streams. @locality any thread */
void aw_kafka_counts(const struct aw_kafka *k, enum aw_kafka_topic topic,
                     struct aw_kafka_counts *out);

/** Counters of one topic for one stream. @locality any thread */
void aw_kafka_stream_counts(const struct aw_kafka_stream *st,
                            enum aw_kafka_topic topic,
                            struct aw_kafka_counts *out);

/** @returns the topic name in use for \p topic. */
const char *aw_kafka_topic_name(const struct aw_kafka *k,
                                enum aw_kafka_topic topic);

/**
 * @returns true once the producer hit a fatal error (rd_kafka_fatal_error():
 *          e.g. the idempotent producer lost its sequence state). Every later
 *          aw_kafka_produce() is refused; the owner should report not-ready
 *          and recreate the sink.
 * @locality any thread
 */
bool aw_kafka_failed(const struct aw_kafka *k);

/**
 * @brief Whether a broker has answered since the last time all brokers
 *        were down (a delivery, or a metadata probe every 2 s while not):
 *        the Kafka part of /readyz. @locality any thread
 */
bool aw_kafka_connected(const struct aw_kafka *k);

#endif
