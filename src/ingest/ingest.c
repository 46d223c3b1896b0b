/*
 * The ingest thread of one stream: capture sessions, marks, pacing, the
 * file/live ring policy, reconnects, and counters for other threads.
 *
 *   loop: open -> session (decode until EOF/error/stall/stop) -> close
 *         file: end.  live: END mark, backoff, reopen -> new session.
 *
 * Threads: everything here runs on the ingest thread except
 * aw_ingest_stop() (one atomic store), aw_ingest_stats() and
 * aw_ingest_error() (atomics, plus a mutex for the two strings). The ring
 * is written by this thread only: it is the ring's single producer.
 *
 * Waiting (pacing, ring full, backoff) is done in short sleeps that check
 * the stop flag, so stop() needs no condition variable and stays
 * async-signal-safe. See docs/ingest.md.
 */
#include "ingest/ingest.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airwave/audio.h"
#include "airwave/clock.h"
#include "airwave/log.h"
#include "ingest/ingest_int.h"

#define MOD "ingest"

/* How long a full ring or pacing sleeps between checks of the stop flag. */
#define WAIT_SLICE_US     5000
#define NOTIFY_SAMPLES    (AW_AUDIO_RATE_HZ / 10) /* one 100 ms chunk */
#define MAX_BACKOFF_TABLE 16

struct aw_ingest {
    /* Immutable after aw_ingest_new(); the strings are our copies. */
    struct aw_ingest_opts opts;
    char *stream_id;
    char *url;
    char *audio_language;
    struct aw_kv *ffmpeg;
    struct aw_backoff backoff;
    uint32_t backoff_table[MAX_BACKOFF_TABLE];
    char url_redacted[AW_RING_MARK_TEXT];
    struct aw_ring *ring; /* borrowed; we are its producer */

    pthread_t thread;
    bool started; /* owner thread only */
    bool joined;
    atomic_bool stop;

    /* Counters for other threads. */
    atomic_int state;
    atomic_bool live;
    _Atomic uint64_t packets;
    _Atomic uint64_t samples;
    _Atomic uint64_t session_samples;
    _Atomic uint64_t decode_errors;
    _Atomic uint64_t dropped;
    _Atomic uint64_t sessions;
    _Atomic uint64_t reconnects;
    _Atomic uint64_t http_reconnects;
    _Atomic uint64_t last_packet_ms; /* monotonic; 0: none yet */
    _Atomic int64_t duration_ms;

    pthread_mutex_t lock; /* title, err, errmsg */
    char title[AW_RING_MARK_TEXT];
    enum aw_err err;
    char errmsg[AW_INGEST_ERRSTR];

    /* Ingest thread only. */
    struct aw_source src;
    struct aw_source_ctl ctl;
    bool in_session;            /* SESSION mark emitted, END not yet */
    bool end_marked;            /* the last session's END is the latest news */
    bool end_final;             /* ... and it said no session follows */
    bool title_unmarked;        /* title changed, TITLE mark still due */
    uint64_t session_start_us;  /* monotonic, at the first sample */
    uint64_t session_written;   /* samples written (or dropped) so far */
    uint64_t pending_gap;       /* live: samples lost, GAP mark due */
    uint64_t notified_head;     /* ring head at the last notify() */
    uint64_t last_progress_us;  /* last audio written: the stall clock */
    uint64_t open_written;      /* samples since the source was opened */
    unsigned http_flaps;        /* libavformat reconnects, recent */
    uint64_t http_flap_written; /* open_written at the last one */
    char emit_msg[AW_INGEST_ERRSTR]; /* why on_pcm() ended the session */
    char icy_meta[1024];
    uint32_t rng;
};

static const char *const state_names[] = {
    [AW_INGEST_IDLE] = "idle",       [AW_INGEST_OPENING] = "opening",
    [AW_INGEST_RUNNING] = "running", [AW_INGEST_RECONNECTING] = "reconnecting",
    [AW_INGEST_ENDED] = "ended",     [AW_INGEST_FAILED] = "failed",
};

const char *aw_ingest_state_name(enum aw_ingest_state state)
{
    if ((unsigned)state >= AW_ARRAY_SIZE(state_names))
        return "unknown";
    return state_names[state];
}

static void set_state(struct aw_ingest *in, enum aw_ingest_state s)
{
    atomic_store_explicit(&in->state, (int)s, memory_order_release);
}

static bool stopping(const struct aw_ingest *in)
{
    return atomic_load_explicit(&in->stop, memory_order_relaxed);
}

static void set_error(struct aw_ingest *in, enum aw_err err, const char *msg)
{
    pthread_mutex_lock(&in->lock);
    in->err = err;
    aw_errstr_set(in->errmsg, sizeof(in->errmsg), "%s", msg);
    pthread_mutex_unlock(&in->lock);
}

/* Sleep until the monotonic time \p until_us, in slices, unless stopped.
 * @returns false if stopped. */
static bool sleep_until(struct aw_ingest *in, uint64_t until_us)
{
    for (;;) {
        uint64_t now = aw_clock_mono_us(), left;
        struct timespec ts;

        if (stopping(in))
            return false;
        if (now >= until_us)
            return true;
        left = until_us - now;
        if (left > WAIT_SLICE_US * 2)
            left = WAIT_SLICE_US * 2;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(left * 1000);
        nanosleep(&ts, NULL);
    }
}

static const uint32_t default_backoff_ms[] = {500, 1000, 2000, 5000, 10000};

const struct aw_backoff aw_ingest_default_backoff = {
    .table_ms = default_backoff_ms,
    .table_count = AW_ARRAY_SIZE(default_backoff_ms),
    /* Streams that fail together (one upstream outage) must not all retry
     * in the same millisecond. */
    .jitter_percent = 20,
    .healthy_ms = 60000,
};

/* --- marks ------------------------------------------------------------ */

/* Files wait for room in the mark queue like they wait for sample room;
 * live sources never wait, the ring counts what is lost. */
/* Tell the consumer there is news: every mark, and audio a chunk at a
 * time, so it sleeps in between instead of polling. */
static void notify(struct aw_ingest *in, bool force)
{
    uint64_t head;

    if (!in->opts.notify)
        return;
    head = aw_ring_head(in->ring);
    if (!force && head - in->notified_head < NOTIFY_SAMPLES)
        return;
    in->notified_head = head;
    in->opts.notify(in->opts.notify_opaque);
}

static bool put_mark(struct aw_ingest *in, const struct aw_ring_mark *m,
                     bool wait)
{
    notify(in, true); /* the audio before the mark may be a short bit */
    while (!aw_ring_mark(in->ring, m)) {
        if (!wait || !sleep_until(in, aw_clock_mono_us() + WAIT_SLICE_US)) {
            static const char *const names[] = {"SESSION", "GAP", "TITLE",
                                                "WALLCLOCK", "END"};

            AW_WARN(MOD, in->stream_id, "mark queue full: %s mark lost",
                    (unsigned)m->type < AW_ARRAY_SIZE(names) ? names[m->type]
                                                             : "a");
            return false;
        }
    }
    notify(in, true);
    return true;
}

/* \p final: an END after which no session follows; \p live: a SESSION of
 * a live source (the consumer drops rather than waits). */
static void mark_text(struct aw_ingest *in, enum aw_ring_mark_type type,
                      const char *text, enum aw_err err, bool wait, bool final,
                      bool live)
{
    struct aw_ring_mark m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.err = err;
    m.final = final;
    m.live = live;
    m.wall_ms = aw_clock_wall_ms();
    aw_errstr_set(m.text, sizeof(m.text), "%s", text ? text : "");
    (void)put_mark(in, &m, wait);
}

static void flush_gap(struct aw_ingest *in)
{
    struct aw_ring_mark m;

    if (!in->pending_gap)
        return;
    memset(&m, 0, sizeof(m));
    m.type = AW_RING_MARK_GAP;
    m.lost_samples = in->pending_gap;
    m.wall_ms = aw_clock_wall_ms();
    if (aw_ring_mark(in->ring, &m)) {
        in->pending_gap = 0;
        notify(in, true);
    }
    /* else: still pending, retried before the next write */
}

static void begin_session(struct aw_ingest *in)
{
    char title[AW_RING_MARK_TEXT];

    in->in_session = true;
    in->session_start_us = aw_clock_mono_us();
    in->session_written = 0;
    atomic_store_explicit(&in->session_samples, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&in->sessions, 1, memory_order_relaxed);
    /* wall_ms is now: the first sample of the session was just decoded. */
    mark_text(in, AW_RING_MARK_SESSION, in->url_redacted, AW_OK, !in->src.live,
              false, in->src.live);
    /* HLS: the first sample after the open is the start segment's, whose
     * EXT-X-PROGRAM-DATE-TIME says when it was broadcast (hls.c). A
     * session begun later by a reconnect inside libavformat is not. */
    if (in->src.hls_dated && in->open_written == 0) {
        struct aw_ring_mark m;

        memset(&m, 0, sizeof(m));
        m.type = AW_RING_MARK_WALLCLOCK;
        m.wall_ms = in->src.hls_wall_ms;
        (void)put_mark(in, &m, !in->src.live);
    }
    AW_INFO(MOD, in->stream_id, "capture session started: %s (%s)",
            in->url_redacted, in->src.live ? "live" : "file");

    pthread_mutex_lock(&in->lock);
    memcpy(title, in->title, sizeof(title));
    pthread_mutex_unlock(&in->lock);
    /* Each session states its title, so a consumer needs no history. */
    if (title[0])
        mark_text(in, AW_RING_MARK_TITLE, title, AW_OK, !in->src.live, false,
                  false);
    in->title_unmarked = false;
}

static void end_session(struct aw_ingest *in, enum aw_err err,
                        const char *reason, bool final)
{
    if (!in->in_session)
        return;
    /* Lost audio is announced before the end, at the position it was
     * lost; a live source may still fail to queue it. */
    if (in->pending_gap) {
        flush_gap(in);
        in->pending_gap = 0;
    }
    mark_text(in, AW_RING_MARK_END, reason, err, !in->src.live, final, false);
    in->in_session = false;
    in->end_marked = true;
    in->end_final = final;
}

/* --- writing samples --------------------------------------------------- */

static enum aw_err write_file(struct aw_ingest *in, const int16_t *pcm,
                              size_t n)
{
    while (n) {
        size_t space = aw_ring_space(in->ring), w;

        if (!space) {
            /* A file has all the time in the world: wait for the consumer
             * rather than lose a sample. */
            if (!sleep_until(in, aw_clock_mono_us() + WAIT_SLICE_US))
                return AW_ERR_STOPPED;
            continue;
        }
        w = aw_ring_write(in->ring, pcm, n < space ? n : space);
        pcm += w;
        n -= w;
    }
    return AW_OK;
}

static void write_live(struct aw_ingest *in, const int16_t *pcm, size_t n)
{
    size_t w;

    /* The GAP goes where the audio resumes, so only once there is room;
     * until it is queued nothing is written, or audio would land before
     * the gap it follows (the consumer frees room at any moment). */
    if (in->pending_gap) {
        if (aw_ring_space(in->ring))
            flush_gap(in);
        if (in->pending_gap) {
            aw_ring_count_drops(in->ring, n);
            in->pending_gap += n;
            atomic_fetch_add_explicit(&in->dropped, n, memory_order_relaxed);
            return;
        }
    }
    w = aw_ring_write(in->ring, pcm, n); /* counts its own drops */
    if (w < n) {
        in->pending_gap += n - w;
        atomic_fetch_add_explicit(&in->dropped, n - w, memory_order_relaxed);
    }
}

static enum aw_err check_http_reconnect(struct aw_ingest *in)
{
    unsigned n = aw_ingest_avlog_take_http_reconnects();

    if (!n)
        return AW_OK;
    atomic_fetch_add_explicit(&in->http_reconnects, n, memory_order_relaxed);
    /* A stream restarts wherever the server is now, if the mount is there
     * at all: the audio jumps. Close the source and let the reopen start
     * the next capture session, so each connection is one session and the
     * discontinuity before it says how long the station was gone. */
    if (in->src.live) {
        aw_errstr_set(in->emit_msg, sizeof(in->emit_msg),
                      "connection to %s lost", in->url_redacted);
        return AW_ERR_NET;
    }
    /* A file over http resumes at its byte offset (a Range request):
     * nothing is lost, unless the reconnects never stop. */
    AW_WARN(MOD, in->stream_id, "%s: connection lost, libavformat resumed",
            in->url_redacted);
    if (in->open_written - in->http_flap_written >=
        (uint64_t)AW_INGEST_HTTP_HEALTHY_S * AW_AUDIO_RATE_HZ)
        in->http_flaps = 0;
    in->http_flaps += n;
    in->http_flap_written = in->open_written;
    if (in->http_flaps >= AW_INGEST_HTTP_FLAP_SESSION) {
        aw_errstr_set(in->emit_msg, sizeof(in->emit_msg),
                      "connection to %s keeps dropping (%u reconnects in "
                      "libavformat)",
                      in->url_redacted, in->http_flaps);
        return AW_ERR_NET;
    }
    return AW_OK;
}

static enum aw_err on_pcm(void *opaque, const int16_t *pcm, size_t n)
{
    struct aw_ingest *in = opaque;
    enum aw_err err = AW_OK;

    if (!in->in_session)
        begin_session(in);
    else if (in->title_unmarked) {
        char title[AW_RING_MARK_TEXT];

        pthread_mutex_lock(&in->lock);
        memcpy(title, in->title, sizeof(title));
        pthread_mutex_unlock(&in->lock);
        mark_text(in, AW_RING_MARK_TITLE, title, AW_OK, !in->src.live, false,
                  false);
        in->title_unmarked = false;
    }

    if (in->src.live) {
        write_live(in, pcm, n);
    } else {
        if (in->opts.pace > 0) {
            /* Release sample k no earlier than k / rate / pace after the
             * session started. */
            uint64_t due = in->session_start_us +
                           (uint64_t)((double)in->session_written * 1e6 /
                                      AW_AUDIO_RATE_HZ / in->opts.pace);

            if (!sleep_until(in, due))
                return AW_ERR_STOPPED;
        }
        err = write_file(in, pcm, n);
    }
    notify(in, false);
    in->session_written += n;
    in->open_written += n;
    atomic_fetch_add_explicit(&in->samples, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&in->session_samples, n, memory_order_relaxed);
    in->last_progress_us = aw_clock_mono_us();
    /* After the write: these samples may still be the old connection's. */
    if (err == AW_OK)
        err = check_http_reconnect(in);
    return err;
}

/* --- ICY titles -------------------------------------------------------- */

static void poll_icy(struct aw_ingest *in)
{
    char meta[sizeof(in->icy_meta)], title[AW_RING_MARK_TEXT];
    bool changed;

    /* Every packet: a lookup and a small copy, against a title that may
     * change between any two reads of a fast (unpaced) source. */
    if (!in->src.icy)
        return;
    if (!aw_ingest_source_icy_meta(&in->src, "icy_metadata_packet", meta,
                                   sizeof(meta)))
        return;
    if (!strcmp(meta, in->icy_meta))
        return;
    memcpy(in->icy_meta, meta, sizeof(meta));
    if (aw_ingest_icy_title(meta, sizeof(meta), title, sizeof(title)) != AW_OK)
        return;

    pthread_mutex_lock(&in->lock);
    changed = strcmp(title, in->title) != 0;
    if (changed)
        memcpy(in->title, title, sizeof(title));
    pthread_mutex_unlock(&in->lock);
    if (!changed)
        return;
    AW_INFO(MOD, in->stream_id, "title: %s", title);
    /* Before the session's first sample, begin_session() marks it. */
    if (in->in_session) {
        mark_text(in, AW_RING_MARK_TITLE, title, AW_OK, !in->src.live, false,
                  false);
        in->title_unmarked = false;
    } else {
        in->title_unmarked = true;
    }
}

/* --- the thread -------------------------------------------------------- */

static enum aw_err run_session(struct aw_ingest *in, char *errstr,
                               size_t errstr_size)
{
    uint64_t stall_us = (uint64_t)(in->opts.stall_timeout_seconds * 1e6);
    uint64_t packets = 0, decode_errors = 0;

    in->last_progress_us = aw_clock_mono_us();
    in->ctl.timeout_s = in->opts.stall_timeout_seconds;
    in->open_written = 0;
    in->http_flaps = 0;
    in->http_flap_written = 0;
    in->emit_msg[0] = '\0';
    (void)aw_ingest_avlog_take_http_reconnects(); /* none of this session */
    for (;;) {
        enum aw_err err;

        if (stopping(in)) {
            aw_errstr_set(errstr, errstr_size, "stopped");
            return AW_ERR_STOPPED;
        }
        /* The stall clock runs from the last audio written, so time spent
         * waiting on a full ring or on pacing does not count. */
        in->ctl.deadline_us = in->last_progress_us + stall_us;
        /* timed_out and flapping stay set once the interrupt fired: the
         * AVIOContext keeps the error, and a later read reports it without
         * asking the callback again. */
        err = aw_ingest_source_step(&in->src, &in->ctl, errstr, errstr_size);
        if (err != AW_OK && err != AW_ERR_AGAIN && in->emit_msg[0])
            aw_errstr_set(errstr, errstr_size, "%s", in->emit_msg);

        if (in->src.packets != packets) {
            atomic_fetch_add_explicit(&in->packets, in->src.packets - packets,
                                      memory_order_relaxed);
            packets = in->src.packets;
            atomic_store_explicit(&in->last_packet_ms, aw_clock_mono_ms(),
                                  memory_order_relaxed);
        }
        if (in->src.decode_errors != decode_errors) {
            atomic_fetch_add_explicit(&in->decode_errors,
                                      in->src.decode_errors - decode_errors,
                                      memory_order_relaxed);
            decode_errors = in->src.decode_errors;
        }
        if ((err == AW_OK || err == AW_ERR_AGAIN) &&
            check_http_reconnect(in) != AW_OK) {
            aw_errstr_set(errstr, errstr_size, "%s", in->emit_msg);
            return AW_ERR_NET;
        }
        poll_icy(in);

        if (err == AW_ERR_AGAIN) {
            if (!sleep_until(in, aw_clock_mono_us() + WAIT_SLICE_US)) {
                aw_errstr_set(errstr, errstr_size, "stopped");
                return AW_ERR_STOPPED;
            }
            continue;
        }
        if (err == AW_ERR_STOPPED)
            aw_errstr_set(errstr, errstr_size, "stopped");
        if (err != AW_OK)
            return err;
    }
}

/* Is a failed open worth retrying? Errors that describe the configuration
 * (404, 401, not audio) end the stream at once on the first open, so a
 * typo shows up immediately; once a source has worked, everything is
 * retried, because a station that 404s during maintenance comes back. */
static bool retry_after(enum aw_err err, bool ever_opened)
{
    if (err == AW_ERR_STOPPED || err == AW_ERR_INVAL || err == AW_ERR_NOMEM)
        return false;
    if (ever_opened)
        return true;
    return aw_err_is_retriable(err) || err == AW_ERR_EOF;
}

static void *ingest_main(void *arg)
{
    struct aw_ingest *in = arg;
    char errstr[AW_INGEST_ERRSTR] = "";
    enum aw_err err = AW_OK;
    bool ever_opened = false, live_guess;
    unsigned attempt = 0;
    int in_row = 0;

    aw_ingest_avlog_bind(in->stream_id);
    live_guess =
        in->opts.live == AW_LIVE_YES ||
        (in->opts.live == AW_LIVE_AUTO && aw_ingest_url_is_network(in->url));
    for (;;) {
        uint64_t opened_us = 0;
        bool opened = false;

        set_state(in, AW_INGEST_OPENING);
        in->end_marked = false;
        errstr[0] = '\0';
        err = aw_ingest_source_open(&in->src, &in->opts, in->url_redacted,
                                    &in->ctl, NULL, errstr, sizeof(errstr));
        if (err == AW_OK) {
            opened = ever_opened = true;
            opened_us = aw_clock_mono_us();
            live_guess = in->src.live;
            atomic_store_explicit(&in->live, in->src.live,
                                  memory_order_relaxed);
            atomic_store_explicit(&in->duration_ms, in->src.duration_ms,
                                  memory_order_relaxed);
            pthread_mutex_lock(&in->lock);
            in->title[0] = '\0'; /* a new connection states its own */
            pthread_mutex_unlock(&in->lock);
            in->icy_meta[0] = '\0';
            in->src.emit = on_pcm;
            in->src.opaque = in;
            set_state(in, AW_INGEST_RUNNING);
            AW_INFO(MOD, in->stream_id, "opened %s: %s, %s, %d Hz, %d ch%s",
                    in->url_redacted, in->src.fmt->iformat->name,
                    in->src.dec->codec->name, in->src.dec->sample_rate,
                    in->src.dec->ch_layout.nb_channels,
                    in->src.live ? ", live" : "");
            poll_icy(in);

            err = run_session(in, errstr, sizeof(errstr));
            /* A file that ends before a single sample decoded is not audio
             * at all (a text file with an .aac name probes as ADTS). */
            if (err == AW_ERR_EOF && !in->src.live && in->open_written == 0) {
                err = AW_ERR_UNSUPPORTED;
                aw_errstr_set(errstr, sizeof(errstr),
                              "no audio could be decoded from %s (%" PRIu64
                              " packets, %" PRIu64 " decode errors)",
                              in->url_redacted, in->src.packets,
                              in->src.decode_errors);
            }
            /* Whether another session follows decides if this END is the
             * last: the consumer finishes the stream on a final one. */
            end_session(in, err, errstr,
                        err == AW_ERR_STOPPED || stopping(in) ||
                            !in->src.live || !retry_after(err, true) ||
                            (in->opts.max_reconnects >= 0 &&
                             in_row >= in->opts.max_reconnects));
            aw_ingest_source_close(&in->src);
        }
        set_error(in, err, errstr);
        if (err == AW_ERR_STOPPED || stopping(in)) {
            err = AW_ERR_STOPPED;
            aw_errstr_set(errstr, sizeof(errstr), "stopped");
            break;
        }
        if (!live_guess || !retry_after(err, ever_opened))
            break;

        /* A session that ran long enough proves the source healthy: start
         * the backoff table again. */
        if (opened && aw_clock_mono_us() - opened_us >=
                          (uint64_t)in->backoff.healthy_ms * 1000) {
            attempt = 0;
            in_row = 0;
        }
        if (in->opts.max_reconnects >= 0 && in_row >= in->opts.max_reconnects)
            break;
        {
            uint32_t delay = aw_backoff_delay_ms(&in->backoff, attempt,
                                                 aw_backoff_rand(&in->rng));

            AW_WARN(MOD, in->stream_id, "%s (%s); reopening in %u ms", errstr,
                    aw_err_name(err), delay);
            set_state(in, AW_INGEST_RECONNECTING);
            if (!sleep_until(in, aw_clock_mono_us() + (uint64_t)delay * 1000)) {
                err = AW_ERR_STOPPED;
                aw_errstr_set(errstr, sizeof(errstr), "stopped");
                break;
            }
        }
        if (attempt < UINT32_MAX)
            attempt++;
        in_row++;
        atomic_fetch_add_explicit(&in->reconnects, 1, memory_order_relaxed);
    }

    /* The ring always ends with END: after a session it was just emitted;
     * when the last thing that happened was a failed open, say why now. */
    if (!in->end_marked || !in->end_final)
        mark_text(in, AW_RING_MARK_END, errstr, err, false, true, false);
    set_error(in, err, errstr);
    if (err == AW_ERR_EOF || err == AW_ERR_STOPPED) {
        AW_INFO(MOD, in->stream_id, "%s: %s", in->url_redacted, errstr);
        set_state(in, AW_INGEST_ENDED);
    } else {
        AW_ERROR(MOD, in->stream_id, "%s (%s)", errstr, aw_err_name(err));
        set_state(in, AW_INGEST_FAILED);
    }
    return NULL;
}

/* --- lifecycle --------------------------------------------------------- */

static char *dup_str(const char *s, bool *ok)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

static enum aw_err check_opts(const struct aw_ingest_opts *opts, char *errstr,
                              size_t errstr_size)
{
    if (!opts || !opts->url || !opts->url[0]) {
        aw_errstr_set(errstr, errstr_size, "no source URL");
        return AW_ERR_INVAL;
    }
    if (!(opts->pace >= 0 && opts->pace <= 1000)) {
        aw_errstr_set(errstr, errstr_size,
                      "pace must be between 0 and 1000, not %g", opts->pace);
        return AW_ERR_INVAL;
    }
    if (!(opts->open_timeout_seconds > 0 &&
          opts->open_timeout_seconds <= 86400) ||
        !(opts->stall_timeout_seconds > 0 &&
          opts->stall_timeout_seconds <= 86400)) {
        aw_errstr_set(errstr, errstr_size,
                      "open and stall timeouts must be between 0 and 86400 "
                      "seconds");
        return AW_ERR_INVAL;
    }
    if (opts->live != AW_LIVE_AUTO && opts->live != AW_LIVE_YES &&
        opts->live != AW_LIVE_NO) {
        aw_errstr_set(errstr, errstr_size, "invalid live mode %d",
                      (int)opts->live);
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
    return aw_ingest_check_options(opts->ffmpeg, opts->nffmpeg, errstr,
                                   errstr_size);
}

struct aw_ingest *aw_ingest_new(const struct aw_ingest_opts *opts,
                                struct aw_ring *ring, char *errstr,
                                size_t errstr_size)
{
    const struct aw_backoff *bo;
    struct aw_ingest *in;
    bool ok = true;

    aw_ingest_global_init();
    if (check_opts(opts, errstr, errstr_size) != AW_OK)
        return NULL;
    if (!ring) {
        aw_errstr_set(errstr, errstr_size, "no ring");
        return NULL;
    }
    in = calloc(1, sizeof(*in));
    if (!in) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&in->lock, NULL);
    in->ring = ring;
    in->opts = *opts;
    in->stream_id = dup_str(opts->stream_id, &ok);
    in->url = dup_str(opts->url, &ok);
    in->audio_language = dup_str(opts->audio_language, &ok);
    if (opts->nffmpeg) {
        in->ffmpeg = calloc(opts->nffmpeg, sizeof(*in->ffmpeg));
        if (!in->ffmpeg)
            ok = false;
        for (size_t i = 0; in->ffmpeg && i < opts->nffmpeg; i++) {
            in->ffmpeg[i].key = dup_str(opts->ffmpeg[i].key, &ok);
            in->ffmpeg[i].value = dup_str(opts->ffmpeg[i].value, &ok);
            in->ffmpeg[i].line = opts->ffmpeg[i].line;
        }
    }
    if (!ok) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        goto fail;
    }
    /* Our copies replace the caller's pointers. */
    in->opts.stream_id = in->stream_id;
    in->opts.url = in->url;
    in->opts.audio_language = in->audio_language;
    in->opts.ffmpeg = in->ffmpeg;
    bo = opts->backoff ? opts->backoff : &aw_ingest_default_backoff;
    in->backoff = *bo;
    if (bo->table_count)
        memcpy(in->backoff_table, bo->table_ms,
               bo->table_count * sizeof(*bo->table_ms));
    in->backoff.table_ms = in->backoff_table;
    in->opts.backoff = &in->backoff;
    aw_ingest_redact_url(in->url, in->url_redacted, sizeof(in->url_redacted));

    atomic_init(&in->stop, false);
    atomic_init(&in->state, AW_INGEST_IDLE);
    atomic_init(&in->live, false);
    atomic_init(&in->duration_ms, -1);
    in->ctl.stop = &in->stop;
    in->ctl.max_http_reconnects = AW_INGEST_HTTP_FLAP_LIMIT;
    in->rng = (uint32_t)aw_clock_mono_us() ^ (uint32_t)(uintptr_t)in;
    if (!in->rng)
        in->rng = 0x9e3779b9u;
    return in;

fail:
    aw_ingest_destroy(in);
    return NULL;
}

enum aw_err aw_ingest_start(struct aw_ingest *in)
{
    if (in->started)
        return AW_ERR_INVAL;
    if (pthread_create(&in->thread, NULL, ingest_main, in) != 0)
        return AW_ERR_NOMEM;
    in->started = true;
    return AW_OK;
}

void aw_ingest_stop(struct aw_ingest *in)
{
    if (in)
        atomic_store_explicit(&in->stop, true, memory_order_relaxed);
}

void aw_ingest_join(struct aw_ingest *in)
{
    if (!in || !in->started || in->joined)
        return;
    pthread_join(in->thread, NULL);
    in->joined = true;
}

bool aw_ingest_done(const struct aw_ingest *in)
{
    int s = atomic_load_explicit(&in->state, memory_order_acquire);

    return s == AW_INGEST_ENDED || s == AW_INGEST_FAILED;
}

void aw_ingest_destroy(struct aw_ingest *in)
{
    if (!in)
        return;
    aw_ingest_stop(in);
    aw_ingest_join(in);
    for (size_t i = 0; in->ffmpeg && i < in->opts.nffmpeg; i++) {
        free(in->ffmpeg[i].key);
        free(in->ffmpeg[i].value);
    }
    free(in->ffmpeg);
    free(in->stream_id);
    free(in->url);
    free(in->audio_language);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

void aw_ingest_stats(const struct aw_ingest *in, struct aw_ingest_stats *st)
{
    struct aw_ingest *mut = (struct aw_ingest *)in; /* the lock only */
    uint64_t last;

    memset(st, 0, sizeof(*st));
    st->state = (enum aw_ingest_state)atomic_load_explicit(
        &in->state, memory_order_acquire);
    st->live = atomic_load_explicit(&in->live, memory_order_relaxed);
    st->packets = atomic_load_explicit(&in->packets, memory_order_relaxed);
    st->samples = atomic_load_explicit(&in->samples, memory_order_relaxed);
    st->seconds = (double)st->samples / AW_AUDIO_RATE_HZ;
    st->session_samples =
        atomic_load_explicit(&in->session_samples, memory_order_relaxed);
    st->decode_errors =
        atomic_load_explicit(&in->decode_errors, memory_order_relaxed);
    st->dropped_samples =
        atomic_load_explicit(&in->dropped, memory_order_relaxed);
    st->sessions = atomic_load_explicit(&in->sessions, memory_order_relaxed);
    st->reconnects =
        atomic_load_explicit(&in->reconnects, memory_order_relaxed);
    st->http_reconnects =
        atomic_load_explicit(&in->http_reconnects, memory_order_relaxed);
    last = atomic_load_explicit(&in->last_packet_ms, memory_order_relaxed);
    st->last_packet_age_ms =
        last ? (int64_t)(aw_clock_mono_ms() - last) : (int64_t)-1;
    st->duration_ms =
        atomic_load_explicit(&in->duration_ms, memory_order_relaxed);
    pthread_mutex_lock(&mut->lock);
    memcpy(st->title, in->title, sizeof(st->title));
    pthread_mutex_unlock(&mut->lock);
}

void aw_ingest_error(const struct aw_ingest *in, enum aw_err *err, char *msg,
                     size_t msg_size)
{
    struct aw_ingest *mut = (struct aw_ingest *)in; /* the lock only */

    pthread_mutex_lock(&mut->lock);
    if (err)
        *err = in->err;
    aw_errstr_set(msg, msg_size, "%s", in->errmsg);
    pthread_mutex_unlock(&mut->lock);
}
