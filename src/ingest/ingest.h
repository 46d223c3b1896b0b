/*
 * Ingest: one source (file or URL) -> decoded, resampled 16 kHz mono s16
 * samples and marks in the stream's ring (pipeline/ring.h).
 *
 * One struct aw_ingest per stream, owning one thread. The thread opens the
 * source with libavformat, picks the audio stream, decodes, resamples and
 * writes into a ring the caller owns, with marks:
 *
 *   SESSION  each (re)open starts a capture session; text = the URL with
 *            credentials and query removed, wall_ms = wall clock when its
 *            first sample was decoded
 *   TITLE    the ICY StreamTitle changed
 *   GAP      a live source produced audio the ring could not take
 *   END      the session ended: AW_ERR_EOF for a clean end, otherwise the
 *            error, with a one-line reason
 *
 * Files (not live) lose nothing: when the ring is full the thread waits.
 * Live sources never wait: they write what fits and announce the rest with
 * a GAP mark, and they are reopened with backoff when they fail or end.
 * docs/ingest.md has the whole behaviour (sources, options, errors, marks).
 *
 * Only src/ingest/ includes libavformat/libavcodec. Threads: the ingest
 * thread owns every FFmpeg object; other threads may call aw_ingest_stop(),
 * aw_ingest_stats() and aw_ingest_error() at any time.
 */
#ifndef AW_INGEST_INGEST_H
#define AW_INGEST_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"
#include "airwave/log.h"
#include "common/backoff.h"
#include "conf/conf.h"
#include "pipeline/ring.h"

struct aw_ingest;

/** Source reopens: 500, 1000, 2000, 5000, 10000 ms, +/- 20 % jitter, reset
 *  after 60 s healthy (common/backoff.h). */
extern const struct aw_backoff aw_ingest_default_backoff;

struct aw_ingest_opts {
    const char *stream_id;      /* for logs; may be NULL */
    const char *url;            /* path, file:, http(s):, .m3u8, rtmp:, rtsp:,
                                   udp: ... */
    double pace;                /* files: x real time; 0 = as fast as the ring
                                   takes it. Default 2. Ignored for live. */
    enum aw_live_mode live;     /* default AW_LIVE_AUTO */
    int audio_track;            /* AVStream index; -1 (default): see below */
    const char *audio_language; /* TV: the audio stream whose "language"
                                   tag matches (ISO 639-2, case-blind);
                                   NULL: FFmpeg's best audio stream */
    const struct aw_kv *ffmpeg; /* pass-through libavformat options (and
                                   decoder options) */
    size_t nffmpeg;
    double open_timeout_seconds;  /* open + probe deadline; default 30 */
    double stall_timeout_seconds; /* no audio for this long: the read is
                                     interrupted (reopen if live); also
                                     rw_timeout of network protocols;
                                     default 20 */
    int max_reconnects;           /* live sources: reopen attempts in a row; -1
                                     (default) = forever, 0 = never */
    const struct aw_backoff *backoff; /* NULL: the default table */
    /* Called on the ingest thread when the ring has news for its
     * consumer: a mark, or another 100 ms of audio. Must not block. */
    void (*notify)(void *opaque);
    void *notify_opaque;
};

/** Fill \p opts with the defaults above (url NULL). Always call it first:
 *  a zeroed struct would mean "unpaced, stream #0". */
void aw_ingest_opts_init(struct aw_ingest_opts *opts);

enum aw_ingest_state {
    AW_INGEST_IDLE,         /* created, not started */
    AW_INGEST_OPENING,      /* opening or probing the source */
    AW_INGEST_RUNNING,      /* decoding */
    AW_INGEST_RECONNECTING, /* waiting out a backoff delay */
    AW_INGEST_ENDED,        /* clean end (file EOF) or stopped */
    AW_INGEST_FAILED,       /* gave up; see aw_ingest_error() */
};

/** @returns "idle", "opening", ... for logs and metrics. */
const char *aw_ingest_state_name(enum aw_ingest_state state);

/** A consistent-enough snapshot of the counters (each read atomically). */
struct aw_ingest_stats {
    enum aw_ingest_state state;
    bool live;                  /* as decided for the current session */
    uint64_t packets;           /* demuxed packets, all streams */
    uint64_t samples;           /* 16 kHz samples produced, all sessions */
    double seconds;             /* samples / AW_AUDIO_RATE_HZ */
    uint64_t session_samples;   /* produced in the current session */
    uint64_t decode_errors;     /* packets or frames the decoder refused */
    uint64_t dropped_samples;   /* live: samples the ring could not take */
    uint64_t sessions;          /* capture sessions started */
    uint64_t reconnects;        /* reopen attempts after a failure or end */
    uint64_t http_reconnects;   /* reconnects done inside libavformat's http */
    int64_t last_packet_age_ms; /* -1: no packet yet */
    int64_t duration_ms;        /* of the source, -1 if unknown (live) */
    char title[AW_RING_MARK_TEXT]; /* current ICY StreamTitle, or "" */
};

/**
 * @brief Check pass-through options without opening anything (for
 *        check-config): every key must be an option of libavformat, one of
 *        its protocols or demuxers, or a decoder.
 * @returns AW_OK or AW_ERR_INVAL with "unknown ffmpeg option KEY".
 */
enum aw_err aw_ingest_check_options(const struct aw_kv *kv, size_t n,
                                    char *errstr, size_t errstr_size);

/**
 * @brief Check one pass-through option, name and value, against FFmpeg's
 *        option tables (libavformat, its demuxers and protocols, and the
 *        decoders), as the configuration loader does for ffmpeg.* keys.
 * @returns AW_OK; AW_ERR_INVAL with the reason in \p err (without the
 *          key: the caller names it); AW_ERR_NOMEM.
 * @locality any thread
 */
enum aw_err aw_ingest_check_option(const char *name, const char *value,
                                   char *err, size_t err_size);

/**
 * @brief Create the ingest of one stream. Nothing is opened yet.
 * @param opts  copied; need not outlive the call
 * @param ring  borrowed: must outlive the ingest; this ingest is its only
 *              producer
 * @returns the ingest, or NULL with the reason in errstr: no URL, bad
 *          values, unknown ffmpeg option (AW_ERR_INVAL cases), out of
 *          memory.
 * @locality any thread
 */
struct aw_ingest *aw_ingest_new(const struct aw_ingest_opts *opts,
                                struct aw_ring *ring, char *errstr,
                                size_t errstr_size);

/**
 * @brief Start the ingest thread.
 * @returns AW_OK; AW_ERR_INVAL if already started; AW_ERR_NOMEM if no
 *          thread could be created.
 */
enum aw_err aw_ingest_start(struct aw_ingest *in);

/**
 * @brief Ask the thread to stop; returns at once. Any blocking FFmpeg call
 *        is interrupted through its interrupt callback. The session ends
 *        with END(AW_ERR_STOPPED).
 * @locality any thread (async-signal-safe: one atomic store)
 */
void aw_ingest_stop(struct aw_ingest *in);

/** @brief Wait for the thread to finish (after stop, or at the end of a
 *         file). A no-op if it was never started. */
void aw_ingest_join(struct aw_ingest *in);

/** @returns true once the thread has finished (ENDED or FAILED). */
bool aw_ingest_done(const struct aw_ingest *in);

/** Stop, join and free. NULL-safe. */
void aw_ingest_destroy(struct aw_ingest *in);

/** @locality any thread */
void aw_ingest_stats(const struct aw_ingest *in, struct aw_ingest_stats *st);

/**
 * @brief The final (or, while reconnecting, the latest) error.
 * @param[out] err  AW_OK while nothing failed; AW_ERR_EOF after a clean
 *                  end of a file; AW_ERR_STOPPED after aw_ingest_stop()
 * @param msg  receives the one-line reason (may be NULL)
 * @locality any thread
 */
void aw_ingest_error(const struct aw_ingest *in, enum aw_err *err, char *msg,
                     size_t msg_size);

/** What aw_ingest_probe() found. */
struct aw_ingest_probe_info {
    char format[32];  /* demuxer, e.g. "mp3", "hls", "mpegts" */
    char codec[32];   /* decoder, e.g. "mp3float", "aac" */
    int stream_index; /* the audio stream picked */
    int nb_streams;
    int rate_hz;
    int channels;
    char sample_fmt[16];           /* e.g. "fltp" */
    int64_t bit_rate;              /* bits/s, 0 if unknown */
    int64_t duration_ms;           /* -1 if unknown */
    bool live;                     /* as AW_LIVE_AUTO would decide */
    char language[16];             /* of the picked stream, "" if untagged */
    char name[AW_RING_MARK_TEXT];  /* icy-name, "" if none */
    char title[AW_RING_MARK_TEXT]; /* ICY StreamTitle, "" if none */
};

/**
 * @brief Open \p opts->url, pick its audio stream and open the decoder,
 *        without a thread; for check-config, the CLI and tests.
 * @returns AW_OK, or the error and message an ingest would end with
 *          (AW_ERR_NOT_FOUND, AW_ERR_UNSUPPORTED, AW_ERR_AUTH,
 *          AW_ERR_REFUSED, AW_ERR_NET, AW_ERR_TIMEOUT, AW_ERR_INVAL,
 *          AW_ERR_NOMEM, AW_ERR_IO).
 * @locality any thread; blocks up to opts->open_timeout_seconds
 */
enum aw_err aw_ingest_probe(const struct aw_ingest_opts *opts,
                            struct aw_ingest_probe_info *info, char *errstr,
                            size_t errstr_size);

/** Limits for aw_ingest_decode_memory(). */
struct aw_ingest_mem_limits {
    int64_t probe_bytes; /* libavformat probesize; 0: 32 KiB */
    int max_packets;     /* 0: 10000 */
    int64_t max_samples; /* output; 0: 10 minutes */
};

/**
 * @brief Decode a whole in-memory file through a custom AVIOContext: the
 *        same stream selection, decoder and resampler as an ingest. For the
 *        fuzzer (tests/fuzz/fuzz_ingest.c) and tests.
 * @param on_samples  called with each block of output (may be NULL)
 * @param[out] nb_samples  total output samples (may be NULL)
 * @returns AW_OK at the end of the data or a limit; the open/decoder
 *          errors of aw_ingest_probe() otherwise.
 */
enum aw_err aw_ingest_decode_memory(
    const uint8_t *data, size_t size, const struct aw_ingest_mem_limits *lim,
    void (*on_samples)(void *opaque, const int16_t *pcm, size_t n),
    void *opaque, uint64_t *nb_samples, char *errstr, size_t errstr_size);

/**
 * @brief Extract StreamTitle from an ICY metadata block, e.g.
 *        "StreamTitle='It's 5 o'clock; news';StreamUrl='';".
 *
 * The quoted value may contain quotes and semicolons: it ends at the first
 * quote followed by ';' that ends the block or starts another Key=.
 * Control characters become spaces; bytes that are not UTF-8 are taken as
 * Latin-1 (old SHOUTcast servers) and converted, so \p title is always
 * valid UTF-8, truncated at a character boundary.
 * @param meta  the block; stops at \p len or the first NUL
 * @returns AW_OK (the title may be ""), AW_ERR_NOT_FOUND if the block has
 *          no StreamTitle, AW_ERR_INVAL if \p size is 0.
 */
enum aw_err aw_ingest_icy_title(const char *meta, size_t len, char *title,
                                size_t size);

/**
 * @brief Copy \p url without credentials, query or fragment, for marks,
 *        logs and transcripts: "http://u:p@host/a.mp3?token=x" ->
 *        "http://host/a.mp3". Plain paths are copied unchanged.
 * @returns \p out (always NUL-terminated, truncated to \p size).
 */
char *aw_ingest_redact_url(const char *url, char *out, size_t size);

/**
 * @brief Route FFmpeg's av_log into aw_log and initialise networking; done
 *        once, thread-safe, called by aw_ingest_new()/probe() themselves.
 */
void aw_ingest_global_init(void);

/**
 * @brief Most verbose FFmpeg messages passed on: AW_LOG_WARN by default
 *        (FFmpeg's info lines are per-file chatter); AW_LOG_DEBUG shows
 *        FFmpeg's verbose and debug lines too.
 * @locality any thread
 */
void aw_ingest_set_ffmpeg_log_level(enum aw_log_level level);

#endif
