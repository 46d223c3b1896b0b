/*
 * The connector: every stream of a configuration, from its source to the
 * sinks. Per stream: an ingest thread fills a ring; a speech session on the
 * transport's service thread sends the ring's audio over websocket
 * connections and turns the results into transcripts; the sinks (Kafka,
 * JSONL, a caller's callback) take them.
 *
 * Threads (ARCHITECTURE.md): one ingest thread per stream, one service
 * thread for every websocket and timer, librdkafka's threads, and the
 * caller's thread, which starts, watches and stops the pipeline and owns
 * nothing the others touch. The hand-off from ingest to the service thread
 * is the ring; the service thread polls every stream's session on a short
 * timer.
 */
#ifndef AW_PIPELINE_PIPELINE_H
#define AW_PIPELINE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"
#include "airwave/transcript.h"
#include "conf/conf.h"

struct aw_pipeline;

enum aw_pipeline_mode {
    /* `airwave run`: retry connections for ever; a stream that fails
     * stops alone. */
    AW_PIPELINE_SERVICE,
    /* `airwave transcribe`: fail fast when the speech service cannot be
     * reached at all; done when every stream is. */
    AW_PIPELINE_ONESHOT,
};

struct aw_pipeline_opts {
    const char *only_stream; /* run only this stream id, or NULL */
    enum aw_pipeline_mode mode;
    const char *key;   /* speech subscription key, or NULL */
    const char *token; /* bearer token, or NULL */
    bool jsonl_events; /* JSONL output carries stream events too */
    /** Every published transcript, on the service thread, after the
     *  sinks have it. May be NULL. */
    void (*on_transcript)(void *opaque, const struct aw_transcript *t);
    void *opaque;
};

/** How far one stream has got, for progress displays and tests. */
struct aw_pipeline_progress {
    const char *stream_id;
    double decoded_seconds; /* audio produced by the source */
    double total_seconds;   /* of the source, < 0 when unknown (live) */
    uint64_t phrases;
    bool done;
};

/**
 * @brief Build every part of the pipeline without starting anything.
 * @param conf  taken over: the pipeline frees it (and leaves *conf empty),
 *              whatever the outcome
 * @returns NULL with errstr set: a bad stream option, a sink that cannot
 *          be created (bad Kafka setting, unwritable JSONL file), no such
 *          stream id.
 */
struct aw_pipeline *aw_pipeline_new(const struct aw_pipeline_opts *opts,
                                    struct aw_conf *conf, char *errstr,
                                    size_t errstr_size);

/** Start the service thread and every ingest thread. */
enum aw_err aw_pipeline_start(struct aw_pipeline *p);

/**
 * @brief Begin a graceful stop: ingest stops, each session sends what it
 *        has, ends the audio and waits (bounded) for its last phrases.
 * @locality any thread but the service thread
 */
void aw_pipeline_stop(struct aw_pipeline *p);

/**
 * @brief Apply a new configuration: streams that are gone stop (their last
 *        phrases are still published), new ones start, changed ones
 *        restart, untouched ones are not disturbed. A change to a speech.*
 *        or ingest.* setting restarts every stream; kafka.*, output.*,
 *        http.* and the TLS settings take effect at the next restart.
 * @param conf  taken over on success (*conf is left empty)
 * @returns AW_OK; AW_ERR_INVAL (a new stream could not be built: nothing
 *          changed); AW_ERR_STOPPED (stopping).
 * @locality the caller's thread
 */
enum aw_err aw_pipeline_reload(struct aw_pipeline *p, struct aw_conf *conf,
                               char *errstr, size_t errstr_size);

/** Free streams that finished after a reload. Call it now and then (the
 *  main loop does, every tick). @locality the caller's thread */
void aw_pipeline_maintain(struct aw_pipeline *p);

/** @returns true once every stream is done (ended, failed or stopped). */
bool aw_pipeline_done(const struct aw_pipeline *p);

/** Number of streams, and the progress of stream \p i. */
size_t aw_pipeline_nstreams(const struct aw_pipeline *p);
void aw_pipeline_progress(const struct aw_pipeline *p, size_t i,
                          struct aw_pipeline_progress *out);

/**
 * @brief The first stream failure, if any.
 * @returns AW_OK when every stream ended cleanly; else the error of the
 *          first stream that failed, with its one-line message in \p msg.
 */
enum aw_err aw_pipeline_error(const struct aw_pipeline *p, char *msg,
                              size_t msg_size);

/** The port /metrics, /healthz and /readyz are served on (http.listen),
 *  or 0 when they are off. */
int aw_pipeline_http_port(const struct aw_pipeline *p);

/**
 * @brief Stop the service thread, join ingest, flush the sinks (bounded by
 *        kafka.flush_timeout_ms) and free everything. NULL-safe.
 * @returns the number of records still undelivered after the flush.
 */
size_t aw_pipeline_destroy(struct aw_pipeline *p);

#endif
