/*
 * The capture thread of one sound-card stream: opening the device, capture
 * sessions and their marks, resampling, stall detection, reopening.
 *
 *   loop: open -> start -> watch (drain the FIFO, check the stream) ->
 *         stop -> close -> END mark; backoff; reopen -> new session.
 *
 * Who writes the ring: the ring has one producer at a time, and which one
 * is fixed by the stream's state. While a direct (16 kHz mono int16)
 * stream runs, the PortAudio callback writes samples, the SESSION mark
 * (with its first audio, so wall_ms is when that sample was captured) and
 * GAP marks. Whenever no stream runs, and always on the resampling path
 * (where the callback only fills the FIFO), this thread writes. PortAudio
 * starts its callback thread after Pa_StartStream() and joins it before
 * Pa_StopStream()/Pa_AbortStream() return, which orders the hand-overs.
 *
 * Waiting (the watch tick, backoff) is done in short sleeps that check the
 * stop flag, so stop() stays async-signal-safe, as in ingest. See
 * docs/capture.md.
 */
#include "capture/capture.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airwave/audio.h"
#include "airwave/clock.h"
#include "airwave/log.h"
#include "capture/capture_int.h"

#define MOD "capture"

/* The watch tick: how often the thread drains the FIFO and looks at the
 * stream; also the granularity of stop and backoff waits. */
#define TICK_US           10000
/* At most one "audio lost" warning per this long. */
#define LOSS_LOG_MS       10000
#define MAX_BACKOFF_TABLE 16

/* Ordered by alignment, not by owner (clang-analyzer's padding check);
 * the comments say who touches what. */
struct aw_capture {
    /* Immutable after aw_capture_new(); the strings are our copies. */
    struct aw_capture_opts opts;
    char *stream_id;
    char *url;
    const char *spec; /* the DEVICE part of url */
    struct aw_backoff backoff;
    struct aw_ring *ring;   /* borrowed; we (or our callback) produce it */
    uint64_t notified_head; /* capture thread: at the last notify */
    uint64_t notified_marks;
    uint32_t backoff_table[MAX_BACKOFF_TABLE];

    pthread_t thread;     /* the owner's thread: start, join */
    pthread_mutex_t lock; /* err, errmsg */

    /* Counters for other threads. */
    _Atomic uint64_t samples;
    _Atomic uint64_t dropped;
    _Atomic uint64_t sessions;
    _Atomic uint64_t reconnects;
    atomic_int state;
    enum aw_err err; /* @locks lock */

    /* The callback's state; its atomics are read by aw_capture_stats(). */
    struct aw_capture_cb cb;

    /* Capture thread only, from here to the flags. */
    struct aw_capture_conv conv; /* the resampling path */
    PaStream *stream;
    double rate_hz;       /* of the open stream */
    uint64_t pending_gap; /* resampling: 16 kHz samples lost, GAP due */
    uint64_t seen_written;
    uint64_t seen_dropped;
    uint64_t lost_logged;    /* dropped samples at the last warning */
    uint64_t loss_logged_ms; /* monotonic */
    unsigned channels;       /* of the open stream */
    uint32_t rng;
    bool pa_held;    /* aw_capture_pa_acquire() done */
    bool direct;     /* the callback writes the ring */
    bool in_session; /* SESSION in the ring, END not yet */
    bool end_marked; /* the last session's END is the latest news */
    bool end_final;  /* ... and it said no session follows */

    bool spec_default; /* immutable: DEVICE is "" or "default" */
    bool started;      /* the owner's thread */
    bool joined;
    atomic_bool stop;       /* any thread */
    atomic_bool resampling; /* for stats */

    char errmsg[AW_CAPTURE_ERRSTR];     /* @locks lock */
    char dev_name[AW_CAPTURE_NAME_MAX]; /* capture thread: the device opened */
    char label[AW_RING_MARK_TEXT];      /* capture thread: "portaudio:NAME" */
};

static const char *const state_names[] = {
    [AW_CAPTURE_IDLE] = "idle",
    [AW_CAPTURE_OPENING] = "opening",
    [AW_CAPTURE_RUNNING] = "running",
    [AW_CAPTURE_RECONNECTING] = "reconnecting",
    [AW_CAPTURE_ENDED] = "ended",
    [AW_CAPTURE_FAILED] = "failed",
};

const char *aw_capture_state_name(enum aw_capture_state state)
{
    if ((unsigned)state >= AW_ARRAY_SIZE(state_names))
        return "unknown";
    return state_names[state];
}

static const uint32_t default_backoff_ms[] = {500, 1000, 2000, 5000, 10000};

const struct aw_backoff aw_capture_default_backoff = {
    .table_ms = default_backoff_ms,
    .table_count = AW_ARRAY_SIZE(default_backoff_ms),
    /* Captures that lose one sound server together must not all reopen
     * in the same millisecond. */
    .jitter_percent = 20,
    .healthy_ms = 60000,
};

void aw_capture_opts_init(struct aw_capture_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->stall_timeout_seconds = AW_CAPTURE_DEFAULT_STALL_TIMEOUT;
    opts->max_reconnects = -1;
}

bool aw_capture_url_ok(const char *url)
{
    return url && !strncmp(url, AW_CAPTURE_URL_PREFIX,
                           sizeof(AW_CAPTURE_URL_PREFIX) - 1);
}

static void set_state(struct aw_capture *cap, enum aw_capture_state s)
{
    atomic_store_explicit(&cap->state, (int)s, memory_order_release);
}

static bool stopping(const struct aw_capture *cap)
{
    return atomic_load_explicit(&cap->stop, memory_order_relaxed);
}

static void set_error(struct aw_capture *cap, enum aw_err err, const char *msg)
{
    pthread_mutex_lock(&cap->lock);
    cap->err = err;
    aw_errstr_set(cap->errmsg, sizeof(cap->errmsg), "%s", msg);
    pthread_mutex_unlock(&cap->lock);
}

/* Sleep until the monotonic time \p until_us, in ticks, unless stopped.
 * @returns false if stopped. */
static bool sleep_until(struct aw_capture *cap, uint64_t until_us)
{
    for (;;) {
        uint64_t now = aw_clock_mono_us(), left;
        struct timespec ts;

        if (stopping(cap))
            return false;
        if (now >= until_us)
            return true;
        left = until_us - now;
        if (left > TICK_US)
            left = TICK_US;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(left * 1000);
        nanosleep(&ts, NULL);
    }
}

/* Device frames as 16 kHz samples. */
static uint64_t to_16k(const struct aw_capture *cap, uint64_t frames)
{
    return cap->direct ? frames : aw_capture_conv_to_16k(&cap->conv, frames);
}

/* --- marks (only while no direct stream runs) ----------------------------- */

/* Tell the consumer there is news (marks, or a chunk of audio), from this
 * thread: the callback may have produced either. */
static void notify(struct aw_capture *cap)
{
    uint64_t head = aw_ring_head(cap->ring);
    uint64_t marks =
        atomic_load_explicit(&cap->ring->mark_w, memory_order_acquire);

    if (!cap->opts.notify ||
        (marks == cap->notified_marks &&
         head - cap->notified_head < AW_AUDIO_RATE_HZ / 10))
        return;
    cap->notified_head = head;
    cap->notified_marks = marks;
    cap->opts.notify(cap->opts.notify_opaque);
}

static void put_mark(struct aw_capture *cap, enum aw_ring_mark_type type,
                     const char *text, enum aw_err err, bool final,
                     int64_t wall_ms, uint64_t lost)
{
    static const char *const names[] = {"SESSION", "GAP", "TITLE", "WALLCLOCK",
                                        "END"};
    struct aw_ring_mark m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.err = err;
    m.final = final;
    m.live = type == AW_RING_MARK_SESSION;
    m.lost_samples = lost;
    m.wall_ms = wall_ms ? wall_ms : aw_clock_wall_ms();
    aw_errstr_set(m.text, sizeof(m.text), "%s", text ? text : "");
    /* A live source never waits for the consumer, not even for a mark. */
    if (!aw_ring_mark(cap->ring, &m))
        AW_WARN(MOD, cap->stream_id, "mark queue full: %s mark lost",
                (unsigned)type < AW_ARRAY_SIZE(names) ? names[type] : "a");
    notify(cap);
}

/* @returns false when the mark queue is full: the loss stays pending. */
static bool flush_gap(struct aw_capture *cap)
{
    struct aw_ring_mark m;

    if (!cap->pending_gap)
        return true;
    memset(&m, 0, sizeof(m));
    m.type = AW_RING_MARK_GAP;
    m.lost_samples = cap->pending_gap;
    m.wall_ms = aw_clock_wall_ms();
    if (!aw_ring_mark(cap->ring, &m))
        return false;
    cap->pending_gap = 0;
    return true;
}

static void session_started(struct aw_capture *cap)
{
    cap->in_session = true;
    atomic_fetch_add_explicit(&cap->sessions, 1, memory_order_relaxed);
    AW_INFO(MOD, cap->stream_id, "capture session started: %s (%s)", cap->label,
            cap->direct ? "16 kHz mono int16" : "resampled");
}

/* Resampling path: the thread opens the session with the first audio it
 * takes from the FIFO, dated by the callback's first buffer. */
static void begin_session(struct aw_capture *cap)
{
    int64_t wall =
        atomic_load_explicit(&cap->cb.first_wall_ms, memory_order_relaxed);

    put_mark(cap, AW_RING_MARK_SESSION, cap->label, AW_OK, false, wall, 0);
    cap->pending_gap = 0;
    session_started(cap);
}

static void end_session(struct aw_capture *cap, enum aw_err err,
                        const char *reason, bool final)
{
    if (!cap->in_session)
        return;
    /* The stream has stopped: what the callback could not announce is
     * announced here, before the end, at the position it was lost. */
    if (cap->cb.pending_gap)
        cap->pending_gap += to_16k(cap, cap->cb.pending_gap);
    cap->cb.pending_gap = 0;
    (void)flush_gap(cap);
    cap->pending_gap = 0;
    put_mark(cap, AW_RING_MARK_END, reason, err, final, 0, 0);
    cap->in_session = false;
    cap->end_marked = true;
    cap->end_final = final;
}

/* --- counters ------------------------------------------------------------ */

/* Mirror the callback's counters into ours, and warn (rarely) about loss:
 * the callback cannot log. */
static void sync_counters(struct aw_capture *cap)
{
    uint64_t w = atomic_load_explicit(&cap->cb.written, memory_order_relaxed);
    uint64_t d = atomic_load_explicit(&cap->cb.dropped, memory_order_relaxed);
    uint64_t now = aw_clock_mono_ms(), lost;

    if (cap->direct)
        atomic_fetch_add_explicit(&cap->samples, w - cap->seen_written,
                                  memory_order_relaxed);
    if (d != cap->seen_dropped)
        atomic_fetch_add_explicit(&cap->dropped,
                                  to_16k(cap, d - cap->seen_dropped),
                                  memory_order_relaxed);
    cap->seen_written = w;
    cap->seen_dropped = d;

    lost = atomic_load_explicit(&cap->dropped, memory_order_relaxed);
    if (lost != cap->lost_logged && now - cap->loss_logged_ms >= LOSS_LOG_MS) {
        AW_WARN(MOD, cap->stream_id,
                "%s: audio lost: %.2f s dropped so far, %llu input "
                "overflows",
                cap->label, (double)lost / AW_AUDIO_RATE_HZ,
                (unsigned long long)atomic_load_explicit(&cap->cb.overflows,
                                                         memory_order_relaxed));
        cap->lost_logged = lost;
        cap->loss_logged_ms = now;
    }
}

/* --- the resampling path ------------------------------------------------- */

static void write_live(struct aw_capture *cap, const int16_t *pcm, size_t n)
{
    size_t space, w;

    /* The GAP goes where the audio resumes, so only once there is room;
     * one look at the room decides both (see put_ring() in callback.c). */
    space = aw_ring_space(cap->ring);
    if (cap->pending_gap && space && !flush_gap(cap))
        space = 0; /* no GAP, no audio after it: see put_ring() */
    w = aw_ring_write(cap->ring, pcm, n < space ? n : space);
    if (w < n) {
        aw_ring_count_drops(cap->ring, n - w);
        cap->pending_gap += n - w;
        atomic_fetch_add_explicit(&cap->dropped, n - w, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&cap->samples, w, memory_order_relaxed);
}

static void conv_pcm(void *opaque, const int16_t *pcm, size_t n)
{
    struct aw_capture *cap = opaque;

    if (!cap->in_session)
        begin_session(cap);
    write_live(cap, pcm, n);
}

static void conv_gap(void *opaque, uint64_t lost)
{
    struct aw_capture *cap = opaque;

    /* Nothing was lost within a session that has not begun. */
    if (cap->in_session)
        cap->pending_gap += lost;
}

/* Take everything the callback left in the FIFO; at the end of a session
 * (\p flush) also what the resampler still holds. */
static void drain_fifo(struct aw_capture *cap, bool flush)
{
    const struct aw_capture_conv_sink sink = {conv_pcm, conv_gap, cap};
    enum aw_err err;

    err = aw_capture_conv_drain(&cap->conv, flush && cap->in_session, &sink);
    if (err)
        AW_ERROR(MOD, cap->stream_id, "resampler: %s", aw_err_str(err));
}

/* --- opening and closing ------------------------------------------------- */

static void close_device(struct aw_capture *cap)
{
    if (cap->stream) {
        aw_capture_pa_lock();
        (void)Pa_AbortStream(cap->stream);
        (void)Pa_CloseStream(cap->stream);
        aw_capture_pa_unlock();
        cap->stream = NULL;
    }
    if (cap->pa_held) {
        aw_capture_pa_release();
        cap->pa_held = false;
    }
    aw_capture_conv_fini(&cap->conv);
}

/* Which device: the default input again if that is what was asked for;
 * else, once a device has been opened, that device by its exact name, so
 * an index that moved or a new device that also matches the name's part
 * does not change what a reopen picks. */
static const char *device_spec(const struct aw_capture *cap)
{
    if (cap->spec_default || !cap->dev_name[0])
        return cap->spec;
    return cap->dev_name;
}

/* Pick the format: 16 kHz mono int16 straight into the ring, else float at
 * the device's default rate, mono if it can, else the fewest channels. */
static enum aw_err pick_format(struct aw_capture *cap,
                               const struct aw_capture_dev *dev,
                               PaStreamParameters *p, char *errstr,
                               size_t errstr_size)
{
    int chans[3] = {1, 2, dev->max_input_channels};

    memset(p, 0, sizeof(*p));
    p->device = dev->index;
    p->suggestedLatency = cap->opts.latency_seconds > 0
                              ? cap->opts.latency_seconds
                              : dev->default_high_latency_s;
    p->channelCount = 1;
    p->sampleFormat = paInt16;
    if (Pa_IsFormatSupported(p, NULL, AW_AUDIO_RATE_HZ) ==
        paFormatIsSupported) {
        cap->direct = true;
        cap->rate_hz = AW_AUDIO_RATE_HZ;
        cap->channels = 1;
        return AW_OK;
    }
    if (chans[2] > AW_CAPTURE_MAX_OPEN_CHANNELS)
        chans[2] = AW_CAPTURE_MAX_OPEN_CHANNELS;
    p->sampleFormat = paFloat32;
    for (size_t i = 0; i < AW_ARRAY_SIZE(chans); i++) {
        if (chans[i] < 1 || chans[i] > dev->max_input_channels)
            continue;
        p->channelCount = chans[i];
        if (Pa_IsFormatSupported(p, NULL, dev->default_rate_hz) ==
            paFormatIsSupported) {
            cap->direct = false;
            cap->rate_hz = dev->default_rate_hz;
            cap->channels = (unsigned)chans[i];
            return AW_OK;
        }
    }
    aw_errstr_set(errstr, errstr_size,
                  "device '%s' takes neither 16 kHz mono int16 nor float "
                  "at its default rate (%.0f Hz)",
                  dev->name, dev->default_rate_hz);
    return AW_ERR_UNSUPPORTED;
}

static enum aw_err open_device(struct aw_capture *cap, char *errstr,
                               size_t errstr_size)
{
    struct aw_capture_dev *devs = NULL, *dev;
    struct aw_ring_mark session;
    PaStreamParameters p;
    char why[AW_CAPTURE_ERRSTR];
    size_t n = 0, k = 0;
    enum aw_err err;
    PaError pe;

    err = aw_capture_pa_acquire(errstr, errstr_size);
    if (err)
        return err;
    cap->pa_held = true;

    aw_capture_pa_lock();
    err = aw_capture_devices(&devs, &n, errstr, errstr_size);
    if (!err)
        err = aw_capture_match_device(device_spec(cap), devs, n, &k, errstr,
                                      errstr_size);
    if (err)
        goto fail;
    dev = &devs[k];
    err = pick_format(cap, dev, &p, errstr, errstr_size);
    if (err)
        goto fail;
    aw_errstr_set(cap->dev_name, sizeof(cap->dev_name), "%s", dev->name);
    aw_errstr_set(cap->label, sizeof(cap->label), "%s%s", AW_CAPTURE_URL_PREFIX,
                  dev->name);
    atomic_store_explicit(&cap->resampling, !cap->direct, memory_order_relaxed);
    /* The resampling path's buffers: allocated here, never in the
     * callback. */
    if (!cap->direct) {
        err = aw_capture_conv_init(&cap->conv, cap->rate_hz, cap->channels,
                                   errstr, errstr_size);
        if (err)
            goto fail;
    }

    memset(&session, 0, sizeof(session));
    aw_errstr_set(session.text, sizeof(session.text), "%s", cap->label);
    aw_capture_cb_arm(&cap->cb, cap->direct ? cap->ring : NULL,
                      cap->direct ? NULL : &cap->conv.fifo, cap->channels,
                      cap->rate_hz, &session);
    cap->seen_written = atomic_load(&cap->cb.written);
    cap->seen_dropped = atomic_load(&cap->cb.dropped);
    cap->pending_gap = 0;

    /* paDitherOff: any conversion PortAudio does must not add noise. */
    pe = Pa_OpenStream(&cap->stream, &p, NULL, cap->rate_hz,
                       paFramesPerBufferUnspecified, paDitherOff,
                       aw_capture_callback, &cap->cb);
    if (pe != paNoError) {
        cap->stream = NULL;
        aw_capture_pa_errstr(pe, why, sizeof(why));
        aw_errstr_set(errstr, errstr_size, "cannot open device '%s': %s",
                      dev->name, why);
        err = aw_capture_pa_error(pe);
        goto fail;
    }
    aw_capture_pa_unlock();

    if (cap->direct)
        AW_INFO(MOD, cap->stream_id,
                "opened [%d] '%s' (%s): 16 kHz mono int16, latency %.0f ms",
                dev->index, dev->name, dev->host_api,
                p.suggestedLatency * 1000);
    else
        AW_INFO(MOD, cap->stream_id,
                "opened [%d] '%s' (%s): %.0f Hz, %u ch float, resampled to "
                "16 kHz mono; latency %.0f ms",
                dev->index, dev->name, dev->host_api, cap->rate_hz,
                cap->channels, p.suggestedLatency * 1000);
    free(devs);
    return AW_OK;

fail:
    aw_capture_pa_unlock();
    free(devs);
    return err;
}

/* --- a session ----------------------------------------------------------- */

/* Run the open stream until stop, a stall or a stream error; the stream is
 * stopped (the callback no longer runs) when this returns. */
static enum aw_err run_session(struct aw_capture *cap, char *errstr,
                               size_t errstr_size)
{
    uint64_t stall_us = (uint64_t)(cap->opts.stall_timeout_seconds * 1e6);
    uint64_t start_us, last_progress_us, frames_seen, frames;
    char why[AW_CAPTURE_ERRSTR];
    enum aw_err err = AW_OK;
    bool heard = false;
    PaError pe;

    aw_capture_pa_lock();
    pe = Pa_StartStream(cap->stream);
    aw_capture_pa_unlock();
    if (pe != paNoError) {
        aw_capture_pa_errstr(pe, why, sizeof(why));
        aw_errstr_set(errstr, errstr_size, "cannot start device '%s': %s",
                      cap->dev_name, why);
        return aw_capture_pa_error(pe);
    }
    set_state(cap, AW_CAPTURE_RUNNING);
    start_us = last_progress_us = aw_clock_mono_us();
    frames_seen = atomic_load_explicit(&cap->cb.frames, memory_order_relaxed);

    for (;;) {
        uint64_t now;
        PaError active;

        if (stopping(cap)) {
            aw_errstr_set(errstr, errstr_size, "stopped");
            err = AW_ERR_STOPPED;
            break;
        }
        if (!cap->direct)
            drain_fifo(cap, false);
        else if (!cap->in_session &&
                 atomic_load_explicit(&cap->cb.session_marked,
                                      memory_order_acquire))
            session_started(cap);
        sync_counters(cap);
        notify(cap);

        now = aw_clock_mono_us();
        frames = atomic_load_explicit(&cap->cb.frames, memory_order_relaxed);
        if (frames != frames_seen) {
            frames_seen = frames;
            last_progress_us = now;
            if (!heard) {
                heard = true;
                AW_DEBUG(MOD, cap->stream_id,
                         "first audio %llu ms after the start",
                         (unsigned long long)((now - start_us) / 1000));
            }
        } else if (now - last_progress_us >= stall_us) {
            aw_errstr_set(errstr, errstr_size,
                          "no audio from device '%s' for %.0f s", cap->dev_name,
                          cap->opts.stall_timeout_seconds);
            err = AW_ERR_TIMEOUT;
            break;
        }

        aw_capture_pa_lock();
        active = Pa_IsStreamActive(cap->stream);
        aw_capture_pa_unlock();
        if (active != 1) {
            /* The host API stopped the stream under us: the device went
             * away or failed (PortAudio has printed its own reason). */
            if (active < 0)
                aw_capture_pa_errstr(active, why, sizeof(why));
            else
                aw_errstr_set(why, sizeof(why), "the stream stopped");
            aw_errstr_set(errstr, errstr_size, "device '%s' lost: %s",
                          cap->dev_name, why);
            err = active < 0 ? aw_capture_pa_error(active) : AW_ERR_IO;
            break;
        }
        if (!sleep_until(cap, now + TICK_US))
            continue; /* stopping: handled at the top */
    }

    /* A clean stop lets the last buffers in; a lost device may not even
     * return them. */
    aw_capture_pa_lock();
    if (err == AW_ERR_STOPPED)
        (void)Pa_StopStream(cap->stream);
    else
        (void)Pa_AbortStream(cap->stream);
    (void)Pa_CloseStream(cap->stream);
    aw_capture_pa_unlock();
    cap->stream = NULL;

    /* The callback has stopped: this thread is the producer again. */
    if (cap->direct) {
        if (!cap->in_session &&
            atomic_load_explicit(&cap->cb.session_marked, memory_order_acquire))
            session_started(cap);
    } else {
        drain_fifo(cap, true);
    }
    sync_counters(cap);
    return err;
}

/* --- the thread ---------------------------------------------------------- */

/* Is a failed open worth retrying? Errors that describe the configuration
 * (no such device, an ambiguous name, no usable format) end the stream at
 * once on the first open, so a typo shows up immediately; once the device
 * has worked everything is retried, because a card that was unplugged or a
 * sound server that restarted comes back. */
static bool retry_after(enum aw_err err, bool ever_opened)
{
    if (err == AW_ERR_STOPPED || err == AW_ERR_NOMEM)
        return false;
    if (ever_opened)
        return true;
    return aw_err_is_retriable(err);
}

static void *capture_main(void *arg)
{
    struct aw_capture *cap = arg;
    char errstr[AW_CAPTURE_ERRSTR] = "";
    enum aw_err err = AW_OK;
    bool ever_opened = false;
    unsigned attempt = 0;
    int in_row = 0;

    for (;;) {
        uint64_t opened_us = 0;
        bool opened = false;

        set_state(cap, AW_CAPTURE_OPENING);
        cap->end_marked = false;
        errstr[0] = '\0';
        err = open_device(cap, errstr, sizeof(errstr));
        if (err == AW_OK) {
            opened = ever_opened = true;
            opened_us = aw_clock_mono_us();
            err = run_session(cap, errstr, sizeof(errstr));
            /* Whether another session follows decides if this END is the
             * last: the consumer finishes the stream on a final one. */
            end_session(cap, err, errstr,
                        err == AW_ERR_STOPPED || stopping(cap) ||
                            !retry_after(err, true) ||
                            (cap->opts.max_reconnects >= 0 &&
                             in_row >= cap->opts.max_reconnects));
        }
        close_device(cap);
        set_error(cap, err, errstr);
        if (err == AW_ERR_STOPPED || stopping(cap)) {
            err = AW_ERR_STOPPED;
            aw_errstr_set(errstr, sizeof(errstr), "stopped");
            break;
        }
        if (!retry_after(err, ever_opened))
            break;

        /* A session that ran long enough proves the device healthy: start
         * the backoff table again. */
        if (opened && aw_clock_mono_us() - opened_us >=
                          (uint64_t)cap->backoff.healthy_ms * 1000) {
            attempt = 0;
            in_row = 0;
        }
        if (cap->opts.max_reconnects >= 0 && in_row >= cap->opts.max_reconnects)
            break;
        {
            uint32_t delay = aw_backoff_delay_ms(&cap->backoff, attempt,
                                                 aw_backoff_rand(&cap->rng));

            AW_WARN(MOD, cap->stream_id, "%s (%s); reopening in %u ms", errstr,
                    aw_err_name(err), delay);
            set_state(cap, AW_CAPTURE_RECONNECTING);
            if (!sleep_until(cap,
                             aw_clock_mono_us() + (uint64_t)delay * 1000)) {
                err = AW_ERR_STOPPED;
                aw_errstr_set(errstr, sizeof(errstr), "stopped");
                break;
            }
        }
        if (attempt < UINT32_MAX)
            attempt++;
        in_row++;
        atomic_fetch_add_explicit(&cap->reconnects, 1, memory_order_relaxed);
    }

    /* The ring always ends with a final END: after a session it was just
     * written; when the last thing that happened was a failed open, say
     * why now. No stream runs, so this thread is the producer. */
    if (!cap->end_marked || !cap->end_final)
        put_mark(cap, AW_RING_MARK_END, errstr, err, true, 0, 0);
    set_error(cap, err, errstr);
    if (err == AW_ERR_STOPPED) {
        AW_INFO(MOD, cap->stream_id, "%s: %s",
                cap->label[0] ? cap->label : cap->url, errstr);
        set_state(cap, AW_CAPTURE_ENDED);
    } else {
        AW_ERROR(MOD, cap->stream_id, "%s (%s)", errstr, aw_err_name(err));
        set_state(cap, AW_CAPTURE_FAILED);
    }
    return NULL;
}

/* --- lifecycle ----------------------------------------------------------- */

static enum aw_err check_opts(const struct aw_capture_opts *opts, char *errstr,
                              size_t errstr_size)
{
    if (!opts || !aw_capture_url_ok(opts->url)) {
        aw_errstr_set(errstr, errstr_size,
                      "not a sound-card URL (portaudio:DEVICE): %s",
                      opts && opts->url ? opts->url : "(none)");
        return AW_ERR_INVAL;
    }
    if (strlen(opts->url) - (sizeof(AW_CAPTURE_URL_PREFIX) - 1) >=
        AW_CAPTURE_NAME_MAX) {
        aw_errstr_set(errstr, errstr_size, "device name too long: %s",
                      opts->url);
        return AW_ERR_INVAL;
    }
    if (!(opts->stall_timeout_seconds > 0 &&
          opts->stall_timeout_seconds <= 86400)) {
        aw_errstr_set(errstr, errstr_size,
                      "stall timeout must be between 0 and 86400 seconds");
        return AW_ERR_INVAL;
    }
    if (!(opts->latency_seconds >= 0 && opts->latency_seconds <= 10)) {
        aw_errstr_set(errstr, errstr_size,
                      "latency must be between 0 and 10 seconds");
        return AW_ERR_INVAL;
    }
    if (opts->backoff &&
        (opts->backoff->table_count > MAX_BACKOFF_TABLE ||
         (opts->backoff->table_count && !opts->backoff->table_ms))) {
        aw_errstr_set(errstr, errstr_size,
                      "backoff table must have 0 to %d entries",
                      MAX_BACKOFF_TABLE);
        return AW_ERR_INVAL;
    }
    return AW_OK;
}

struct aw_capture *aw_capture_new(const struct aw_capture_opts *opts,
                                  struct aw_ring *ring, char *errstr,
                                  size_t errstr_size)
{
    const struct aw_backoff *bo;
    struct aw_capture *cap;

    if (check_opts(opts, errstr, errstr_size) != AW_OK)
        return NULL;
    if (!ring) {
        aw_errstr_set(errstr, errstr_size, "no ring");
        return NULL;
    }
    cap = calloc(1, sizeof(*cap));
    if (!cap) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&cap->lock, NULL);
    cap->ring = ring;
    cap->opts = *opts;
    cap->url = strdup(opts->url);
    cap->stream_id = opts->stream_id ? strdup(opts->stream_id) : NULL;
    if (!cap->url || (opts->stream_id && !cap->stream_id)) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        goto fail;
    }
    /* Our copies replace the caller's pointers. */
    cap->opts.url = cap->url;
    cap->opts.stream_id = cap->stream_id;
    cap->spec = cap->url + sizeof(AW_CAPTURE_URL_PREFIX) - 1;
    cap->spec_default = !*cap->spec || !strcmp(cap->spec, "default");
    bo = opts->backoff ? opts->backoff : &aw_capture_default_backoff;
    cap->backoff = *bo;
    if (bo->table_count)
        memcpy(cap->backoff_table, bo->table_ms,
               bo->table_count * sizeof(*bo->table_ms));
    cap->backoff.table_ms = cap->backoff_table;
    cap->opts.backoff = &cap->backoff;

    aw_capture_cb_init(&cap->cb);
    atomic_init(&cap->stop, false);
    atomic_init(&cap->state, AW_CAPTURE_IDLE);
    atomic_init(&cap->resampling, false);
    atomic_init(&cap->samples, 0);
    atomic_init(&cap->dropped, 0);
    atomic_init(&cap->sessions, 0);
    atomic_init(&cap->reconnects, 0);
    cap->rng = (uint32_t)aw_clock_mono_us() ^ (uint32_t)(uintptr_t)cap;
    if (!cap->rng)
        cap->rng = 0x9e3779b9u;
    return cap;

fail:
    aw_capture_destroy(cap);
    return NULL;
}

enum aw_err aw_capture_start(struct aw_capture *cap)
{
    if (cap->started)
        return AW_ERR_INVAL;
    if (pthread_create(&cap->thread, NULL, capture_main, cap) != 0)
        return AW_ERR_NOMEM;
    cap->started = true;
    return AW_OK;
}

void aw_capture_stop(struct aw_capture *cap)
{
    if (cap)
        atomic_store_explicit(&cap->stop, true, memory_order_relaxed);
}

void aw_capture_join(struct aw_capture *cap)
{
    if (!cap || !cap->started || cap->joined)
        return;
    pthread_join(cap->thread, NULL);
    cap->joined = true;
}

bool aw_capture_done(const struct aw_capture *cap)
{
    int s = atomic_load_explicit(&cap->state, memory_order_acquire);

    return s == AW_CAPTURE_ENDED || s == AW_CAPTURE_FAILED;
}

void aw_capture_destroy(struct aw_capture *cap)
{
    if (!cap)
        return;
    aw_capture_stop(cap);
    aw_capture_join(cap);
    close_device(cap); /* a no-op after the thread; frees a never-run one */
    free(cap->stream_id);
    free(cap->url);
    pthread_mutex_destroy(&cap->lock);
    free(cap);
}

void aw_capture_stats(const struct aw_capture *cap, struct aw_capture_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->state = (enum aw_capture_state)atomic_load_explicit(
        &cap->state, memory_order_acquire);
    st->resampling =
        atomic_load_explicit(&cap->resampling, memory_order_relaxed);
    st->samples = atomic_load_explicit(&cap->samples, memory_order_relaxed);
    st->seconds = (double)st->samples / AW_AUDIO_RATE_HZ;
    st->dropped_samples =
        atomic_load_explicit(&cap->dropped, memory_order_relaxed);
    st->overflows =
        atomic_load_explicit(&cap->cb.overflows, memory_order_relaxed);
    st->sessions = atomic_load_explicit(&cap->sessions, memory_order_relaxed);
    st->reconnects =
        atomic_load_explicit(&cap->reconnects, memory_order_relaxed);
    st->callbacks = atomic_load_explicit(&cap->cb.calls, memory_order_relaxed);
}

void aw_capture_error(const struct aw_capture *cap, enum aw_err *err, char *msg,
                      size_t msg_size)
{
    struct aw_capture *mut = (struct aw_capture *)cap; /* the lock only */

    pthread_mutex_lock(&mut->lock);
    if (err)
        *err = cap->err;
    aw_errstr_set(msg, msg_size, "%s", cap->errmsg);
    pthread_mutex_unlock(&mut->lock);
}
