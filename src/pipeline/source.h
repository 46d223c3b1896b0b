/*
 * Where a stream's audio comes from: an ops table each source module
 * provides (FFmpeg ingest for files and URLs, PortAudio capture for sound
 * cards), so the pipeline starts, watches and stops any of them the same
 * way. Every source is the single producer of the stream's ring and writes
 * the marks described in pipeline/ring.h: SESSION first, END last.
 */
#ifndef AW_PIPELINE_SOURCE_H
#define AW_PIPELINE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"
#include "conf/conf.h"
#include "pipeline/ring.h"

enum aw_source_state {
    AW_SOURCE_IDLE,         /* created, not started */
    AW_SOURCE_OPENING,      /* connecting, probing, opening a device */
    AW_SOURCE_RUNNING,      /* producing audio */
    AW_SOURCE_RECONNECTING, /* waiting out a backoff delay */
    AW_SOURCE_ENDED,        /* clean end (end of file) or stopped */
    AW_SOURCE_FAILED,       /* gave up; see error() */
};

struct aw_source_stats {
    enum aw_source_state state;
    double seconds;           /* audio produced, all capture sessions */
    uint64_t dropped_samples; /* lost before the ring could take them */
    uint64_t reconnects;      /* reopens after a failure, stall or end */
    int64_t duration_ms;      /* of the source, -1 when unknown (live) */
};

/** What a source is made from. All borrowed for the call. */
struct aw_source_args {
    const struct aw_stream_conf *sc; /* the stream's own settings */
    const struct aw_conf *conf;      /* the global ones */
    bool oneshot; /* one-shot use: give up on an unreachable source soon */
    /* To call (from the source's own thread, never a real-time callback)
     * when the ring has news: a mark or another chunk of audio. The
     * consumer sleeps in between. */
    void (*notify)(void *opaque);
    void *notify_opaque;
};

struct aw_source_ops {
    const char *name; /* for logs: "ffmpeg", "portaudio" */
    /** @returns true if this module handles \p url. */
    bool (*accepts)(const char *url);
    /** @returns the source, or NULL with errstr set. @locality main */
    void *(*create)(const struct aw_source_args *a, struct aw_ring *ring,
                    char *errstr, size_t errstr_size);
    enum aw_err (*start)(void *src);
    /** Ask it to stop; returns at once; END(AW_ERR_STOPPED) follows.
     *  @locality any thread */
    void (*stop)(void *src);
    /** Wait for it to finish (after stop, or at its end). */
    void (*join)(void *src);
    /** Stop, join and free. NULL-safe. */
    void (*destroy)(void *src);
    /** @locality any thread */
    void (*stats)(const void *src, struct aw_source_stats *st);
    /** The final (or latest) error and its one-line reason. */
    void (*error)(const void *src, enum aw_err *err, char *msg,
                  size_t msg_size);
};

extern const struct aw_source_ops aw_source_ffmpeg_ops;
extern const struct aw_source_ops aw_source_portaudio_ops;

/** The module that handles \p url, or NULL. */
const struct aw_source_ops *aw_source_for(const char *url);

/** "opening", "running", ... for logs and /readyz. */
const char *aw_source_state_name(enum aw_source_state state);

#endif
