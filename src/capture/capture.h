/*
 * Capture: one sound-card input (PortAudio) -> 16 kHz mono s16 samples and
 * marks in the stream's ring (pipeline/ring.h), like ingest does for files
 * and URLs.
 *
 * One struct aw_capture per stream, owning one thread. The thread opens the
 * input device named by the URL ("portaudio:DEVICE"), lets PortAudio's
 * callback fill the ring (or a float FIFO, when the device cannot give
 * 16 kHz mono int16 and the thread resamples), and writes the marks:
 *
 *   SESSION  each (re)open starts a capture session once its first audio
 *            arrives; text = "portaudio:NAME", live = true, wall_ms = the
 *            wall clock of its first sample
 *   GAP      audio was lost: an input overflow, or a full ring
 *   END      the session ended: AW_ERR_STOPPED after aw_capture_stop(),
 *            otherwise the error (device gone, stalled), with a reason
 *
 * A sound card is live: nothing waits. What does not fit is dropped,
 * counted and announced with a GAP mark. A device that disappears, errors
 * or stalls is reopened with jittered backoff, like a dropped URL: each
 * reopen is a new capture session (END not final, then SESSION).
 *
 * Only src/capture/ includes <portaudio.h>. Threads: the capture thread
 * owns the PortAudio stream and everything else here; PortAudio's callback
 * touches only the ring's producer side and atomics (capture_int.h); other
 * threads may call aw_capture_stop(), aw_capture_stats() and
 * aw_capture_error() at any time. docs/capture.md has the whole behaviour.
 */
#ifndef AW_CAPTURE_CAPTURE_H
#define AW_CAPTURE_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "airwave/err.h"
#include "common/backoff.h"
#include "pipeline/ring.h"

/** The URL prefix of sound-card sources: "portaudio:DEVICE". */
#define AW_CAPTURE_URL_PREFIX "portaudio:"

struct aw_capture;

/** Device reopens: 500, 1000, 2000, 5000, 10000 ms, +/- 20 % jitter, reset
 *  after 60 s healthy (common/backoff.h); the same table as ingest. */
extern const struct aw_backoff aw_capture_default_backoff;

struct aw_capture_opts {
    const char *stream_id; /* for logs; may be NULL */
    const char *url;       /* "portaudio:DEVICE": an index, an exact device
                              name or a case-blind part of one; "portaudio:"
                              or "portaudio:default": the default input */
    double stall_timeout_seconds; /* no audio from the device for this long:
                                     it is treated as lost (default 20) */
    double latency_seconds;       /* suggested input latency; 0 (default):
                                     the device's default high latency */
    int max_reconnects;           /* reopen attempts in a row; -1 (default) =
                                     forever, 0 = never */
    const struct aw_backoff *backoff; /* NULL: the default table */
    /* Called on the capture thread (never the callback) when the ring has
     * news for its consumer: a mark, or another 100 ms of audio. */
    void (*notify)(void *opaque);
    void *notify_opaque;
};

/** Fill \p opts with the defaults above (url NULL). */
void aw_capture_opts_init(struct aw_capture_opts *opts);

enum aw_capture_state {
    AW_CAPTURE_IDLE,         /* created, not started */
    AW_CAPTURE_OPENING,      /* opening the device */
    AW_CAPTURE_RUNNING,      /* the stream is running */
    AW_CAPTURE_RECONNECTING, /* waiting out a backoff delay */
    AW_CAPTURE_ENDED,        /* stopped */
    AW_CAPTURE_FAILED,       /* gave up; see aw_capture_error() */
};

/** @returns "idle", "opening", ... for logs. */
const char *aw_capture_state_name(enum aw_capture_state state);

/** A consistent-enough snapshot of the counters (each read atomically). */
struct aw_capture_stats {
    enum aw_capture_state state;
    bool resampling;          /* the current device is read as float at its
                                 own rate and converted on our thread */
    uint64_t samples;         /* 16 kHz samples put in the ring, all sessions */
    double seconds;           /* samples / AW_AUDIO_RATE_HZ */
    uint64_t dropped_samples; /* lost (overflows, full ring or FIFO), in
                                 16 kHz samples */
    uint64_t overflows;       /* input overflows PortAudio reported */
    uint64_t sessions;        /* capture sessions started */
    uint64_t reconnects;      /* reopen attempts after a failure or stall */
    uint64_t callbacks;       /* PortAudio callbacks, all sessions */
};

/**
 * @brief Create the capture of one stream. Nothing is opened yet.
 * @param opts  copied; need not outlive the call
 * @param ring  borrowed: must outlive the capture; this capture is its only
 *              producer
 * @returns the capture, or NULL with the reason in errstr: not a
 *          portaudio: URL, bad values, out of memory.
 * @locality any thread
 */
struct aw_capture *aw_capture_new(const struct aw_capture_opts *opts,
                                  struct aw_ring *ring, char *errstr,
                                  size_t errstr_size);

/**
 * @brief Start the capture thread.
 * @returns AW_OK; AW_ERR_INVAL if already started; AW_ERR_NOMEM if no
 *          thread could be created.
 */
enum aw_err aw_capture_start(struct aw_capture *cap);

/**
 * @brief Ask the thread to stop; returns at once. The running session ends
 *        with a final END(AW_ERR_STOPPED).
 * @locality any thread (async-signal-safe: one atomic store)
 */
void aw_capture_stop(struct aw_capture *cap);

/** @brief Wait for the thread to finish (after stop, or once it gave up).
 *         A no-op if it was never started. */
void aw_capture_join(struct aw_capture *cap);

/** @returns true once the thread has finished (ENDED or FAILED). */
bool aw_capture_done(const struct aw_capture *cap);

/** Stop, join and free. NULL-safe. */
void aw_capture_destroy(struct aw_capture *cap);

/** @locality any thread */
void aw_capture_stats(const struct aw_capture *cap,
                      struct aw_capture_stats *st);

/**
 * @brief The final (or, while reconnecting, the latest) error.
 * @param[out] err  AW_OK while nothing failed; AW_ERR_STOPPED after
 *                  aw_capture_stop(); AW_ERR_NOT_FOUND (no such device),
 *                  AW_ERR_INVAL (ambiguous name), AW_ERR_UNSUPPORTED (no
 *                  usable format), AW_ERR_IO (PortAudio or device error),
 *                  AW_ERR_TIMEOUT (stalled) otherwise
 * @param msg  receives the one-line reason (may be NULL)
 * @locality any thread
 */
void aw_capture_error(const struct aw_capture *cap, enum aw_err *err, char *msg,
                      size_t msg_size);

/**
 * @brief Print one line per input device, under a header line: index, name,
 *        host API, maximum input channels, default sample rate, whether
 *        16 kHz mono int16 is supported, and a '*' before the default
 *        input. Prints "no capture devices" when there is none.
 * @returns AW_OK (also when there is no device); AW_ERR_IO with the reason
 *          in errstr when PortAudio cannot initialise or list its devices,
 *          or \p out cannot be written.
 * @locality any thread but a PortAudio callback
 */
enum aw_err aw_capture_list_devices(FILE *out, char *errstr,
                                    size_t errstr_size);

/** @returns true if \p url is a sound-card URL ("portaudio:..."). */
bool aw_capture_url_ok(const char *url);

#endif
