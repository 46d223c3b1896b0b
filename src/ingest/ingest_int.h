/*
 * Ingest internals shared by the files of src/ingest/ (private: includes
 * libavformat). ingest.c runs the thread, open.c opens sources and
 * translates FFmpeg errors, decode.c turns packets into 16 kHz samples,
 * avlog.c routes av_log, icy.c and url.c are pure helpers.
 */
#ifndef AW_INGEST_INGEST_INT_H
#define AW_INGEST_INGEST_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "airwave/err.h"
#include "ingest/ingest.h"
#include "resample/resample.h"

#define AW_INGEST_ERRSTR 256

/* Defaults of struct aw_ingest_opts. */
#define AW_INGEST_DEFAULT_PACE             2.0
#define AW_INGEST_DEFAULT_OPEN_TIMEOUT     30.0
#define AW_INGEST_DEFAULT_STALL_TIMEOUT    20.0
/* libavformat's own http reconnects give up after this many seconds of
 * delay, so longer outages come back to our policy (and its marks). */
#define AW_INGEST_HTTP_RECONNECT_DELAY_MAX 4
/* rw_timeout is a backstop behind the interrupt callback, which reports
 * stalls with a better message: keep it a little longer. */
#define AW_INGEST_RW_TIMEOUT_MARGIN_S      5
/* libavformat's http resets its reconnect delay after every successful
 * reconnect, so a server that accepts and hangs up at once is retried in
 * a tight loop that our backoff never sees. Past this many reconnects with
 * no audio in between the interrupt callback cuts the loop, and past
 * AW_INGEST_HTTP_FLAP_SESSION within one capture session's healthy
 * stretch the session ends: both hand over to our backoff. */
#define AW_INGEST_HTTP_FLAP_LIMIT          3
#define AW_INGEST_HTTP_FLAP_SESSION        5
#define AW_INGEST_HTTP_HEALTHY_S           30

/**
 * What the interrupt callback checks; owned by the thread doing the I/O.
 * FFmpeg calls the callback on that same thread, so only \p stop (set by
 * other threads) needs to be atomic.
 */
struct aw_source_ctl {
    const atomic_bool *stop;      /* NULL: never stopped */
    uint64_t deadline_us;         /* monotonic; 0: none */
    bool timed_out;               /* set when the deadline interrupted a call */
    double timeout_s;             /* the deadline's length, for messages */
    unsigned max_http_reconnects; /* libavformat reconnects without audio
                                     in between before we cut; 0: no limit */
    bool flapping;                /* set when that limit interrupted a call */
};

/**
 * @brief Receives each block of 16 kHz mono samples.
 * @returns AW_OK to go on; any error ends the session with it (e.g.
 *          AW_ERR_STOPPED while waiting for ring space).
 */
typedef enum aw_err (*aw_source_emit_fn)(void *opaque, const int16_t *pcm,
                                         size_t n);

/** One opened source: demuxer, decoder, resampler. */
struct aw_source {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frame;
    struct aw_resampler *rs;
    int16_t *out; /* resampler output, out_cap samples */
    size_t out_cap;
    AVIOContext *custom_pb; /* memory I/O (decode_memory), else NULL */
    struct aw_hls_watch *hls; /* hls.c: what the demuxer opened */
    bool hls_dated;           /* HLS: hls_wall_ms is known */
    int64_t hls_wall_ms;      /* HLS: EXT-X-PROGRAM-DATE-TIME of the first
                                 sample after the open */

    int stream; /* the audio stream's index */
    bool live;
    bool icy;              /* http(s) source: ICY metadata may come */
    int64_t duration_ms;   /* -1: unknown */
    const char *url;       /* redacted, for messages; borrowed */
    const char *stream_id; /* for logs; borrowed */

    uint64_t packets;       /* all streams */
    uint64_t decode_errors; /* packets or frames refused by the decoder */

    aw_source_emit_fn emit;
    void *opaque;
};

/**
 * @brief Open \p opts->url (or \p custom_pb when not NULL, which the source
 *        then owns, opened or not), pick the audio stream and open its
 *        decoder.
 * @param url_redacted  for messages; must outlive the source
 * @returns AW_OK or the translated error, with a one-line reason.
 */
enum aw_err
aw_ingest_source_open(struct aw_source *src, const struct aw_ingest_opts *opts,
                      const char *url_redacted, struct aw_source_ctl *ctl,
                      AVIOContext *custom_pb, char *errstr, size_t errstr_size);

/** Free everything; the struct can be opened again. NULL-safe fields. */
void aw_ingest_source_close(struct aw_source *src);

/**
 * @brief Read one packet and decode it, passing samples to src->emit.
 * @returns AW_OK; AW_ERR_AGAIN (nothing available, call again); AW_ERR_EOF
 *          at the end (decoder and resampler drained); the emit callback's
 *          error; or a translated read error.
 */
enum aw_err aw_ingest_source_step(struct aw_source *src,
                                  struct aw_source_ctl *ctl, char *errstr,
                                  size_t errstr_size);

/** Copy the last ICY metadata block into \p buf. @returns false if none. */
bool aw_ingest_source_icy_meta(struct aw_source *src, const char *key,
                               char *buf, size_t size);

/**
 * @brief Translate an FFmpeg error into enum aw_err with a one-line reason
 *        naming the cause.
 * @param during  "opening" or "reading", for the messages
 */
enum aw_err aw_ingest_translate_error(int averr, const char *url, bool is_path,
                                      const struct aw_source_ctl *ctl,
                                      const char *during, char *errstr,
                                      size_t errstr_size);

/** The interrupt callback given to every AVFormatContext. */
int aw_ingest_interrupt_cb(void *opaque);

/** Our network defaults, then the user's ffmpeg.* options (open.c). */
enum aw_err aw_ingest_build_dict(AVDictionary **d,
                                 const struct aw_ingest_opts *opts,
                                 char *errstr, size_t errstr_size);

/* hls.c: EXT-X-PROGRAM-DATE-TIME of the segment an HLS source starts
 * from. watch() goes before avformat_open_input() (it notes the URLs the
 * demuxer opens), anchor() after the stream is picked (it sets
 * src->hls_dated and hls_wall_ms when the source is HLS), release() after
 * avformat_close_input(). */
struct aw_hls_watch;
void aw_ingest_hls_watch(struct aw_source *src, AVFormatContext *fmt);
void aw_ingest_hls_anchor(struct aw_source *src,
                          const struct aw_ingest_opts *opts,
                          struct aw_source_ctl *ctl);
void aw_ingest_hls_release(struct aw_source *src);

/** Where an HLS media playlist starts, and when that was broadcast. */
struct aw_hls_start {
    long segment;    /* index in the playlist, -1: none */
    size_t segments; /* in the playlist */
    bool matched;    /* a URL the demuxer opened named it (else the rule) */
    bool live;       /* no EXT-X-ENDLIST */
    bool dated;      /* wall_ms known (own tag or extrapolated) */
    int64_t wall_ms; /* EXT-X-PROGRAM-DATE-TIME of its first sample */
    char uri[1024];  /* as written in the playlist */
};

/**
 * @brief Find the start segment of media playlist \p text (modified in
 *        place): the first of \p opened (URLs the demuxer opened) that is
 *        one of its segments, resolved against \p base (the playlist's
 *        URL); else live_start_index's rule (live) or the first (VOD).
 * @returns AW_OK with a date; AW_ERR_NOT_FOUND (no date, or no segment);
 *          AW_ERR_INVAL for a master playlist; AW_ERR_UNSUPPORTED if not
 *          a playlist; AW_ERR_NOMEM.
 */
enum aw_err aw_ingest_hls_start_wall(char *text, const char *base,
                                     const char *const *opened,
                                     size_t nopened, long live_start_index,
                                     struct aw_hls_start *out);

/**
 * @brief Master playlist \p text (modified in place): the URL of variant
 *        \p index (the first if out of range), resolved against \p base.
 * @returns AW_OK; AW_ERR_INVAL if \p text is a media playlist.
 */
enum aw_err aw_ingest_hls_variant(char *text, size_t index, const char *base,
                                  char *out, size_t size);

/* url.c */
size_t aw_ingest_url_scheme(const char *url, char *out, size_t size);
bool aw_ingest_url_is_network(const char *url);
bool aw_ingest_url_is_stream(const char *url);
bool aw_ingest_url_is_http(const char *url);

/* icy.c: copies \p n bytes as valid UTF-8 without control characters. */
size_t aw_ingest_text_sanitize(const char *in, size_t n, char *out,
                               size_t size);

/* avlog.c: per-thread state of the av_log callback. */
void aw_ingest_avlog_bind(const char *stream_id);
void aw_ingest_avlog_reset(void);
const char *aw_ingest_avlog_last_error(void);
int aw_ingest_avlog_http_code(void);
unsigned aw_ingest_avlog_take_http_reconnects(void);
unsigned aw_ingest_avlog_pending_http_reconnects(void);

#endif
