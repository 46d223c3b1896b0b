/*
 * Capture internals shared by the files of src/capture/ and its unit test
 * (private: includes <portaudio.h>).
 *
 *   callback.c  PortAudio's stream callback and the float FIFO: real-time
 *               code, no allocation, no lock, no log, no blocking call
 *   devices.c   the device list, the DEVICE matcher, `airwave devices`,
 *               PortAudio's reference-counted initialisation
 *   convert.c   the resampling path: FIFO -> resampler -> 16 kHz mono,
 *               on the capture thread
 *   capture.c   the capture thread: open, marks, stall detection, reopen
 *               with backoff
 *   source.c    the pipeline source ops table
 */
#ifndef AW_CAPTURE_CAPTURE_INT_H
#define AW_CAPTURE_CAPTURE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <portaudio.h>

#include "airwave/err.h"
#include "capture/capture.h"
#include "pipeline/ring.h"

#define AW_CAPTURE_ERRSTR   256
#define AW_CAPTURE_NAME_MAX 128

/* Defaults of struct aw_capture_opts. */
#define AW_CAPTURE_DEFAULT_STALL_TIMEOUT 20.0

struct aw_resampler;

/* Seconds of device audio the float FIFO holds between the callback and
 * the capture thread, which drains it every few milliseconds. */
#define AW_CAPTURE_FIFO_SECONDS      2
/* Losses the FIFO can describe before the thread reads them; more are
 * merged into the last one the callback could not queue yet. */
#define AW_CAPTURE_FIFO_GAPS         64
/* Channels opened at most when the device cannot give mono: the resampler
 * mixes them down, and a 128-channel ALSA plug device is one stream. */
#define AW_CAPTURE_MAX_OPEN_CHANNELS 8

/* --- the float FIFO (device format -> capture thread) ------------------ */

/** A loss in the FIFO: \p frames device frames were lost just before
 *  frame position \p pos. */
struct aw_capture_gap {
    uint64_t pos;
    uint64_t frames;
};

/**
 * Single-producer (the callback) single-consumer (the capture thread) FIFO
 * of interleaved float frames, with a side queue of losses, in the manner
 * of aw_ring. Positions count frames since aw_capture_fifo_init().
 */
struct aw_capture_fifo {
    float *buf;
    size_t mask; /* capacity in frames - 1; a power of two */
    unsigned channels;
    _Atomic uint64_t head; /* producer only */
    _Atomic uint64_t tail; /* consumer only */
    struct aw_capture_gap gaps[AW_CAPTURE_FIFO_GAPS];
    _Atomic uint64_t gap_w; /* producer only */
    _Atomic uint64_t gap_r; /* consumer only */
};

/**
 * @brief Allocate a FIFO of at least \p frames frames of \p channels.
 * @returns AW_OK, AW_ERR_INVAL or AW_ERR_NOMEM.
 * @locality capture thread (allocates)
 */
enum aw_err aw_capture_fifo_init(struct aw_capture_fifo *f, size_t frames,
                                 unsigned channels);
/** NULL-safe on a zeroed struct. */
void aw_capture_fifo_fini(struct aw_capture_fifo *f);

/** Producer: copy up to \p frames frames. @returns the frames taken. */
size_t aw_capture_fifo_write(struct aw_capture_fifo *f, const float *src,
                             size_t frames);

/** Producer: describe a loss at the current head. @returns false when the
 *  loss queue is full (retry later). */
bool aw_capture_fifo_gap(struct aw_capture_fifo *f, uint64_t frames);

/**
 * @brief Consumer: copy up to \p max frames into \p dst, stopping at the
 *        next loss; a loss at the tail is popped into *gap_frames instead
 *        (then 0 frames are returned).
 * @param[out] gap_frames  frames lost before the next returned frame, or 0
 * @returns the frames copied.
 */
size_t aw_capture_fifo_read(struct aw_capture_fifo *f, float *dst, size_t max,
                            uint64_t *gap_frames);

/* --- the callback ------------------------------------------------------ */

/**
 * What PortAudio's callback works with, one per capture. The capture thread
 * sets it up before Pa_StartStream() and reads the plain fields after the
 * stream has stopped (PortAudio joins its callback thread first); while the
 * stream runs, only the callback touches them. The atomics may be read by
 * any thread at any time; they are cumulative over every session.
 */
struct aw_capture_cb {
    /* Set by the thread before each start; read-only in the callback. */
    struct aw_ring *ring;         /* direct path: the stream's ring */
    struct aw_capture_fifo *fifo; /* resampling path, else NULL */
    unsigned channels;            /* of the input buffers */
    double rate_hz;               /* of the input buffers */
    struct aw_ring_mark session;  /* direct path: the SESSION mark the
                                     callback queues with its first audio */

    /* Callback only, while the stream runs. */
    bool session_due;     /* direct path: SESSION not queued yet */
    bool first_seen;      /* a buffer arrived in this session */
    uint64_t pending_gap; /* lost (direct: samples; FIFO: frames), its GAP
                             or FIFO loss not queued yet */
    double next_adc_s;    /* expected ADC time of the next buffer; 0:
                             unknown */

    /* Any thread. */
    atomic_bool session_marked;    /* direct path: SESSION is in the ring */
    _Atomic int64_t first_wall_ms; /* this session's first sample; 0: none */
    _Atomic uint64_t calls;        /* callbacks: the stall clock */
    _Atomic uint64_t frames;       /* frames PortAudio delivered */
    _Atomic uint64_t written;      /* frames put in the ring or FIFO */
    _Atomic uint64_t dropped;      /* frames lost (overflows, full buffers) */
    _Atomic uint64_t overflows;    /* paInputOverflow flags */
    _Atomic uint64_t gap_marks; /* GAP marks (direct) or FIFO losses queued */
};

/** Zero everything, counters included. @locality capture thread */
void aw_capture_cb_init(struct aw_capture_cb *cb);

/**
 * @brief Prepare \p cb for a new session on the stream's \p ring (direct
 *        path, \p fifo NULL) or on \p fifo; the cumulative counters are
 *        kept. In the direct path \p session is the SESSION mark the
 *        callback queues with the first audio (its wall_ms is filled in).
 * @locality capture thread, stream stopped
 */
void aw_capture_cb_arm(struct aw_capture_cb *cb, struct aw_ring *ring,
                       struct aw_capture_fifo *fifo, unsigned channels,
                       double rate_hz, const struct aw_ring_mark *session);

/**
 * @brief The PortAudio stream callback (a PaStreamCallback), given the
 *        struct aw_capture_cb as user data. Copies the input into the ring
 *        (paInt16 mono 16 kHz) or the FIFO (paFloat32 interleaved), counts
 *        overflows and what does not fit, and queues GAP marks (or FIFO
 *        losses) where the audio resumes. Never blocks, allocates, locks
 *        or logs: atomics and memcpy only, plus the vDSO wall clock once
 *        per session.
 * @returns paContinue, always: the capture thread decides when to stop.
 * @locality PortAudio's callback thread (real-time priority)
 */
int aw_capture_callback(const void *input, void *output, unsigned long frames,
                        const PaStreamCallbackTimeInfo *time_info,
                        PaStreamCallbackFlags flags, void *opaque);

/* --- the resampling path (capture thread) ------------------------------ */

/**
 * Device frames (float, any rate, 1 to AW_CAPTURE_MAX_OPEN_CHANNELS
 * channels) from the FIFO -> 16 kHz mono s16, on the capture thread. Owns
 * the FIFO the callback fills, the resampler and their buffers, all
 * allocated before the stream starts.
 */
struct aw_capture_conv {
    struct aw_capture_fifo fifo;
    struct aw_resampler *rs;
    double rate_hz;
    unsigned channels;
    float *scratch; /* AW_CAPTURE_CONV_FRAMES frames */
    int16_t *out;
    size_t out_cap;
};

/* Frames converted per resampler call. */
#define AW_CAPTURE_CONV_FRAMES 1024

/**
 * @brief Set up the path for \p channels channels at \p rate_hz.
 * @returns AW_OK; AW_ERR_UNSUPPORTED (the resampler refuses the format);
 *          AW_ERR_INVAL; AW_ERR_NOMEM. On failure \p c is left as after
 *          aw_capture_conv_fini().
 */
enum aw_err aw_capture_conv_init(struct aw_capture_conv *c, double rate_hz,
                                 unsigned channels, char *errstr,
                                 size_t errstr_size);

/** Free everything; NULL-safe on a zeroed struct. */
void aw_capture_conv_fini(struct aw_capture_conv *c);

/** What aw_capture_conv_drain() hands over, in stream order. */
struct aw_capture_conv_sink {
    /** 16 kHz mono samples, borrowed for the call. */
    void (*pcm)(void *opaque, const int16_t *pcm, size_t n);
    /** \p lost 16 kHz samples were lost before the next pcm. */
    void (*gap)(void *opaque, uint64_t lost);
    void *opaque;
};

/**
 * @brief Take everything in the FIFO through the resampler; with \p flush
 *        (the stream has stopped) also what the resampler still holds.
 * @returns AW_OK, or the resampler's error (that block is reported to
 *          sink->gap as lost).
 * @locality capture thread
 */
enum aw_err aw_capture_conv_drain(struct aw_capture_conv *c, bool flush,
                                  const struct aw_capture_conv_sink *sink);

/** Device frames as 16 kHz samples (rounded). */
uint64_t aw_capture_conv_to_16k(const struct aw_capture_conv *c,
                                uint64_t frames);

/* --- devices ----------------------------------------------------------- */

/** One input device as the matcher and `airwave devices` see it. */
struct aw_capture_dev {
    int index; /* PaDeviceIndex */
    char name[AW_CAPTURE_NAME_MAX];
    char host_api[64];
    int max_input_channels;
    double default_rate_hz;
    double default_high_latency_s;
    bool mono16k; /* 16 kHz mono paInt16 is supported */
    bool is_default;
};

/**
 * @brief Pick the device \p spec names among \p n input devices: "" or
 *        "default" is the default input; digits are an index; otherwise an
 *        exact name, else a case-blind part of exactly one name. Pure.
 * @param[out] out  the position in \p devs of the device picked
 * @returns AW_OK; AW_ERR_NOT_FOUND when nothing matches (errstr lists the
 *          inputs); AW_ERR_INVAL when several do (errstr lists them).
 */
enum aw_err aw_capture_match_device(const char *spec,
                                    const struct aw_capture_dev *devs, size_t n,
                                    size_t *out, char *errstr,
                                    size_t errstr_size);

/**
 * @brief Initialise PortAudio for one more user (Pa_Initialize on the
 *        first), under a process-wide mutex: Pa_Initialize and Pa_Terminate
 *        are process-global and not thread-safe.
 * @returns AW_OK or AW_ERR_IO with PortAudio's reason.
 */
enum aw_err aw_capture_pa_acquire(char *errstr, size_t errstr_size);

/** One user fewer (Pa_Terminate after the last, so the next acquire sees
 *  devices plugged in meanwhile). */
void aw_capture_pa_release(void);

/** Hold / drop the mutex around PortAudio calls made outside the callback
 *  (open, start, stop, close, device queries): PortAudio is not
 *  thread-safe, and streams of several captures share it. */
void aw_capture_pa_lock(void);
void aw_capture_pa_unlock(void);

/**
 * @brief List the input devices. Call between acquire and release, with the
 *        lock held.
 * @param[out] devs  allocated array (free() it), NULL when \p *n is 0
 * @returns AW_OK, AW_ERR_NOMEM, or AW_ERR_IO (PortAudio refused to count).
 */
enum aw_err aw_capture_devices(struct aw_capture_dev **devs, size_t *n,
                               char *errstr, size_t errstr_size);

/** PortAudio's error translated once, here (STYLE.md §4). */
enum aw_err aw_capture_pa_error(PaError pe);

/** "PortAudio's text" or, for a host error, the host API's own text. */
void aw_capture_pa_errstr(PaError pe, char *buf, size_t size);

#endif
