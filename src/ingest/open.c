/*
 * Opening a source: libavformat options, the interrupt callback, stream
 * selection, the decoder, the live/file decision, and the translation of
 * FFmpeg errors into enum aw_err with a one-line reason (STYLE.md §4:
 * translate once, at the boundary). docs/ingest.md has the tables.
 *
 * @locality the thread that opens the source (an ingest thread, or the
 *           caller of aw_ingest_probe()/aw_ingest_decode_memory())
 */
#include "ingest/ingest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/opt.h>

#include "airwave/clock.h"
#include "airwave/log.h"
#include "ingest/ingest_int.h"

#define MOD "ingest"

#ifndef AW_VERSION
#define AW_VERSION "dev"
#endif

void aw_ingest_opts_init(struct aw_ingest_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->pace = AW_INGEST_DEFAULT_PACE;
    opts->live = AW_LIVE_AUTO;
    opts->audio_track = -1;
    opts->open_timeout_seconds = AW_INGEST_DEFAULT_OPEN_TIMEOUT;
    opts->stall_timeout_seconds = AW_INGEST_DEFAULT_STALL_TIMEOUT;
    opts->max_reconnects = -1;
}

int aw_ingest_interrupt_cb(void *opaque)
{
    struct aw_source_ctl *ctl = opaque;

    if (ctl->stop && atomic_load_explicit(ctl->stop, memory_order_relaxed))
        return 1;
    if (ctl->deadline_us && aw_clock_mono_us() >= ctl->deadline_us) {
        ctl->timed_out = true;
        return 1;
    }
    /* FFmpeg calls us on the thread doing the I/O, whose av_log state
     * counts the reconnects its http protocol made meanwhile. */
    if (ctl->max_http_reconnects &&
        aw_ingest_avlog_pending_http_reconnects() >= ctl->max_http_reconnects) {
        ctl->flapping = true;
        return 1;
    }
    return 0;
}

/* An option counts as known if some demuxer, protocol, libavformat itself
 * or a decoder takes it when reading. Encoder/muxer-only options are not
 * known: they would be silently ignored on input. */
enum aw_err aw_ingest_check_options(const struct aw_kv *kv, size_t n,
                                    char *errstr, size_t errstr_size)
{
    char why[256];

    for (size_t i = 0; i < n; i++) {
        enum aw_err err =
            aw_ingest_check_option(kv[i].key, kv[i].value, why, sizeof(why));

        if (err) {
            aw_errstr_set(errstr, errstr_size, "ffmpeg option %s: %s",
                          kv[i].key ? kv[i].key : "", why);
            return err;
        }
    }
    return AW_OK;
}

static bool user_key(const struct aw_ingest_opts *opts, const char *key)
{
    for (size_t i = 0; i < opts->nffmpeg; i++)
        if (opts->ffmpeg[i].key && !strcmp(opts->ffmpeg[i].key, key))
            return true;
    return false;
}

static int set_int(AVDictionary **d, const char *key, int64_t v)
{
    return av_dict_set_int(d, key, v, 0);
}

/* Our network defaults first, the user's options over them. */
enum aw_err aw_ingest_build_dict(AVDictionary **d,
                                 const struct aw_ingest_opts *opts,
                                 char *errstr, size_t errstr_size)
{
    char scheme[16];
    int64_t rw_us = (int64_t)((opts->stall_timeout_seconds +
                               AW_INGEST_RW_TIMEOUT_MARGIN_S) *
                              1e6);
    int ret = 0;

    aw_ingest_url_scheme(opts->url, scheme, sizeof(scheme));
    if (aw_ingest_url_is_http(opts->url)) {
        /* FFmpeg 5.1 ignores reconnect_streamed unless reconnect is set
         * too (TESTBED.md §5.2); icy=1 asks Icecast/SHOUTcast servers for
         * in-band titles (libavformat strips them from the audio). */
        ret |= av_dict_set(d, "icy", "1", 0);
        ret |= av_dict_set(d, "reconnect", "1", 0);
        ret |= av_dict_set(d, "reconnect_streamed", "1", 0);
        ret |= set_int(d, "reconnect_delay_max",
                       AW_INGEST_HTTP_RECONNECT_DELAY_MAX);
        ret |= av_dict_set(d, "user_agent", "airwave/" AW_VERSION, 0);
        ret |= set_int(d, "rw_timeout", rw_us);
    } else if (aw_ingest_url_is_network(opts->url)) {
        ret |= set_int(d, "rw_timeout", rw_us);
        if (!strcmp(scheme, "udp"))
            /* A late reader must not kill a multicast stream: drop and
             * go on (the gap shows up as decoder errors, not an exit). */
            ret |= av_dict_set(d, "overrun_nonfatal", "1", 0);
        if (!strcmp(scheme, "rtsp") || !strcmp(scheme, "rtsps")) {
            ret |= set_int(d, "timeout", rw_us);
            ret |= av_dict_set(d, "user_agent", "airwave/" AW_VERSION, 0);
        }
    }
    for (size_t i = 0; i < opts->nffmpeg; i++)
        ret |= av_dict_set(d, opts->ffmpeg[i].key, opts->ffmpeg[i].value, 0);
    if (ret < 0) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return AW_ERR_NOMEM;
    }
    return AW_OK;
}

/* Options nobody took. Defaults of ours may legitimately stay (rw_timeout
 * for rtsp); every user option was checked against FFmpeg's tables when the
 * ingest was made, so one left over just does not apply to this source (a
 * global ffmpeg.reconnect also reaches file streams). */
static void report_leftovers(const struct aw_ingest_opts *opts, const char *url,
                             AVDictionary *d)
{
    const AVDictionaryEntry *e = NULL;

    while ((e = av_dict_get(d, "", e, AV_DICT_IGNORE_SUFFIX)))
        if (user_key(opts, e->key))
            AW_INFO(MOD, opts->stream_id,
                    "ffmpeg option %s does not apply to %s", e->key, url);
}

enum aw_err aw_ingest_translate_error(int averr, const char *url, bool is_path,
                                      const struct aw_source_ctl *ctl,
                                      const char *during, char *errstr,
                                      size_t errstr_size)
{
    const char *detail = aw_ingest_avlog_last_error();
    int http = aw_ingest_avlog_http_code();
    char avmsg[AV_ERROR_MAX_STRING_SIZE];
    enum aw_err err;

    /* Our own interrupts first: FFmpeg reports them variously (EXIT, EIO,
     * ETIMEDOUT) depending on where the call was cut short. */
    if (ctl && ctl->stop &&
        atomic_load_explicit(ctl->stop, memory_order_relaxed)) {
        aw_errstr_set(errstr, errstr_size, "stopped");
        return AW_ERR_STOPPED;
    }
    if (ctl && ctl->timed_out) {
        if (!strcmp(during, "opening"))
            aw_errstr_set(errstr, errstr_size,
                          "timed out after %g s opening %s", ctl->timeout_s,
                          url);
        else
            aw_errstr_set(errstr, errstr_size, "no audio from %s for %g s", url,
                          ctl->timeout_s);
        return AW_ERR_TIMEOUT;
    }
    if (ctl && ctl->flapping) {
        aw_errstr_set(errstr, errstr_size,
                      "connection to %s keeps dropping (%u reconnects in "
                      "libavformat without audio)",
                      url, aw_ingest_avlog_pending_http_reconnects());
        return AW_ERR_NET;
    }

    av_strerror(averr, avmsg, sizeof(avmsg));
    switch (averr) {
    case AVERROR(ENOENT):
        aw_errstr_set(errstr, errstr_size, "%s: %s",
                      is_path ? "No such file" : "Not found", url);
        return AW_ERR_NOT_FOUND;
    case AVERROR(EACCES):
    case AVERROR(EPERM):
        aw_errstr_set(errstr, errstr_size, "Permission denied: %s", url);
        return AW_ERR_IO;
    case AVERROR(EISDIR):
        aw_errstr_set(errstr, errstr_size, "Is a directory: %s", url);
        return AW_ERR_INVAL;
    case AVERROR_HTTP_NOT_FOUND:
        aw_errstr_set(errstr, errstr_size, "HTTP 404 Not Found: %s", url);
        return AW_ERR_NOT_FOUND;
    case AVERROR_HTTP_UNAUTHORIZED:
        aw_errstr_set(errstr, errstr_size, "HTTP 401 Unauthorized: %s", url);
        return AW_ERR_AUTH;
    case AVERROR_HTTP_FORBIDDEN:
        aw_errstr_set(errstr, errstr_size, "HTTP 403 Forbidden: %s", url);
        return AW_ERR_AUTH;
    case AVERROR_HTTP_BAD_REQUEST:
        aw_errstr_set(errstr, errstr_size, "HTTP 400 Bad Request: %s", url);
        return AW_ERR_REFUSED;
    case AVERROR_HTTP_OTHER_4XX:
        /* FFmpeg folds every other 4xx into one code; the status itself is
         * only in its log line, which avlog.c keeps. */
        if (http == 429) {
            aw_errstr_set(errstr, errstr_size, "HTTP 429 Too Many Requests: %s",
                          url);
            return AW_ERR_BUSY;
        }
        if (http >= 400 && http < 500)
            aw_errstr_set(errstr, errstr_size, "HTTP %d error: %s", http, url);
        else
            aw_errstr_set(errstr, errstr_size, "HTTP 4xx error: %s", url);
        return AW_ERR_REFUSED;
    case AVERROR_HTTP_SERVER_ERROR:
        if (http >= 500 && http < 600)
            aw_errstr_set(errstr, errstr_size, "HTTP %d server error: %s", http,
                          url);
        else
            aw_errstr_set(errstr, errstr_size, "HTTP 5xx server error: %s",
                          url);
        return http == 503 ? AW_ERR_BUSY : AW_ERR_NET;
    case AVERROR(ECONNREFUSED):
        aw_errstr_set(errstr, errstr_size, "connection refused: %s", url);
        return AW_ERR_NET;
    case AVERROR(ETIMEDOUT):
        aw_errstr_set(errstr, errstr_size, "timed out %s %s", during, url);
        return AW_ERR_TIMEOUT;
    case AVERROR(EINVAL):
        /* A demuxer chosen by the file name that then finds no frames
         * ("mp3: Failed to read frame size") says so with EINVAL. */
        if (!is_path || strcmp(during, "opening") != 0)
            break;
        if (detail[0])
            aw_errstr_set(errstr, errstr_size, "%s: not an audio file (%s)",
                          url, detail);
        else
            aw_errstr_set(errstr, errstr_size, "%s: not an audio file", url);
        return AW_ERR_UNSUPPORTED;
    case AVERROR_INVALIDDATA:
        aw_errstr_set(errstr, errstr_size,
                      "%s: invalid data found when processing input", url);
        return AW_ERR_UNSUPPORTED;
    case AVERROR_PROTOCOL_NOT_FOUND:
        aw_errstr_set(errstr, errstr_size, "unsupported protocol: %s", url);
        return AW_ERR_UNSUPPORTED;
    case AVERROR_DEMUXER_NOT_FOUND:
    case AVERROR_DECODER_NOT_FOUND:
    case AVERROR_PATCHWELCOME:
    case AVERROR(ENOSYS):
        aw_errstr_set(errstr, errstr_size, "%s: unsupported input (%s)", url,
                      avmsg);
        return AW_ERR_UNSUPPORTED;
    case AVERROR(ENOMEM):
        aw_errstr_set(errstr, errstr_size, "out of memory %s %s", during, url);
        return AW_ERR_NOMEM;
    case AVERROR_EOF:
        /* A file that ends while it is being probed holds no audio. */
        if (is_path && !strcmp(during, "opening")) {
            aw_errstr_set(errstr, errstr_size,
                          "%s: not an audio file (no audio frames)", url);
            return AW_ERR_UNSUPPORTED;
        }
        aw_errstr_set(errstr, errstr_size, "end of stream: %s", url);
        return AW_ERR_EOF;
    default:
        break;
    }
    /* Everything else (EIO above all) says little by itself: name the URL,
     * FFmpeg's text, and FFmpeg's last complaint, which usually has the
     * cause ("Failed to resolve hostname ..."). */
    err = is_path ? AW_ERR_IO : AW_ERR_NET;
    if (detail[0])
        aw_errstr_set(errstr, errstr_size, "%s %s: %s (%s)", during, url, avmsg,
                      detail);
    else
        aw_errstr_set(errstr, errstr_size, "%s %s: %s", during, url, avmsg);
    return err;
}

/* Memory input comes from untrusted bytes (the fuzzer): a playlist or a
 * concat script in it must not make libavformat open files or URLs. */
static int refuse_io_open(struct AVFormatContext *s, AVIOContext **pb,
                          const char *url, int flags, AVDictionary **options)
{
    (void)s;
    (void)pb;
    (void)url;
    (void)flags;
    (void)options;
    return AVERROR(EPERM);
}

static bool is_path_url(const char *url)
{
    char scheme[16];

    return !aw_ingest_url_scheme(url, scheme, sizeof(scheme)) ||
           !strcmp(scheme, "file");
}

static enum aw_err pick_stream(struct aw_source *src,
                               const struct aw_ingest_opts *opts,
                               const AVCodec **codec, char *errstr,
                               size_t errstr_size)
{
    AVFormatContext *fmt = src->fmt;
    AVStream *st;
    int idx = -1;

    if (opts->audio_track >= 0) {
        if ((unsigned)opts->audio_track >= fmt->nb_streams ||
            fmt->streams[opts->audio_track]->codecpar->codec_type !=
                AVMEDIA_TYPE_AUDIO) {
            aw_errstr_set(errstr, errstr_size,
                          "no audio stream #%d in %s (%u streams)",
                          opts->audio_track, src->url, fmt->nb_streams);
            return AW_ERR_NOT_FOUND;
        }
        idx = opts->audio_track;
    } else if (opts->audio_language && opts->audio_language[0]) {
        char seen[128] = "";
        size_t used = 0;

        for (unsigned i = 0; i < fmt->nb_streams && idx < 0; i++) {
            const AVDictionaryEntry *tag;

            st = fmt->streams[i];
            if (st->codecpar->codec_type != AVMEDIA_TYPE_AUDIO)
                continue;
            tag = av_dict_get(st->metadata, "language", NULL, 0);
            if (tag && !strcasecmp(tag->value, opts->audio_language))
                idx = (int)i;
            else if (used < sizeof(seen))
                aw_errstr_set(seen + used, sizeof(seen) - used, "%s%s",
                              used ? ", " : "", tag ? tag->value : "und");
            used = strlen(seen);
        }
        if (idx < 0) {
            aw_errstr_set(errstr, errstr_size,
                          "no audio track in language %s in %s (found: %s)",
                          opts->audio_language, src->url,
                          seen[0] ? seen : "none");
            return AW_ERR_NOT_FOUND;
        }
    } else {
        idx = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
        if (idx < 0) {
            aw_errstr_set(errstr, errstr_size, "no audio stream in %s",
                          src->url);
            return AW_ERR_UNSUPPORTED;
        }
    }
    st = fmt->streams[idx];
    *codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!*codec) {
        aw_errstr_set(errstr, errstr_size, "no decoder for %s audio in %s",
                      avcodec_get_name(st->codecpar->codec_id), src->url);
        return AW_ERR_UNSUPPORTED;
    }
    /* TV: never demux the video and the other languages we do not use. */
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        if ((int)i != idx)
            fmt->streams[i]->discard = AVDISCARD_ALL;
    src->stream = idx;
    return AW_OK;
}

static bool has_icy_headers(struct aw_source *src)
{
    char buf[64];

    return src->icy &&
           aw_ingest_source_icy_meta(src, "icy_metadata_headers", buf,
                                     sizeof(buf)) &&
           buf[0];
}

static bool decide_live(struct aw_source *src,
                        const struct aw_ingest_opts *opts)
{
    AVFormatContext *fmt = src->fmt;

    if (opts->live == AW_LIVE_YES)
        return true;
    if (opts->live == AW_LIVE_NO || src->custom_pb)
        return false;
    if (aw_ingest_url_is_stream(opts->url))
        return true;
    /* HLS reads its playlist through pb, whose seekability says nothing
     * about the presentation: a VOD playlist has a duration, a live one
     * does not. */
    if (!strcmp(fmt->iformat->name, "hls"))
        return fmt->duration == AV_NOPTS_VALUE;
    if (fmt->duration == AV_NOPTS_VALUE || fmt->duration <= 0)
        return true;
    if (fmt->pb && !(fmt->iformat->flags & AVFMT_NOFILE) &&
        !(fmt->pb->seekable & AVIO_SEEKABLE_NORMAL))
        return true;
    return has_icy_headers(src);
}

static enum aw_err open_decoder(struct aw_source *src, const AVCodec *codec,
                                AVDictionary **dict, char *errstr,
                                size_t errstr_size)
{
    AVStream *st = src->fmt->streams[src->stream];
    int ret;

    src->dec = avcodec_alloc_context3(codec);
    if (!src->dec) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return AW_ERR_NOMEM;
    }
    ret = avcodec_parameters_to_context(src->dec, st->codecpar);
    if (ret < 0)
        goto fail;
    src->dec->pkt_timebase = st->time_base;
    ret = avcodec_open2(src->dec, codec, dict);
    if (ret < 0)
        goto fail;
    return AW_OK;

fail:
    aw_errstr_set(errstr, errstr_size, "cannot open the %s decoder for %s: %s",
                  codec->name, src->url, av_err2str(ret));
    return ret == AVERROR(ENOMEM) ? AW_ERR_NOMEM : AW_ERR_UNSUPPORTED;
}

enum aw_err
aw_ingest_source_open(struct aw_source *src, const struct aw_ingest_opts *opts,
                      const char *url_redacted, struct aw_source_ctl *ctl,
                      AVIOContext *custom_pb, char *errstr, size_t errstr_size)
{
    AVDictionary *dict = NULL;
    AVFormatContext *fmt = NULL;
    const AVCodec *codec = NULL;
    bool is_path = !custom_pb && is_path_url(opts->url);
    enum aw_err err;
    int ret;

    memset(src, 0, sizeof(*src));
    src->url = url_redacted;
    src->stream_id = opts->stream_id;
    src->stream = -1;
    src->duration_ms = -1;
    src->custom_pb = custom_pb;
    aw_ingest_avlog_reset();

    src->pkt = av_packet_alloc();
    src->frame = av_frame_alloc();
    fmt = avformat_alloc_context();
    if (!src->pkt || !src->frame || !fmt) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        err = AW_ERR_NOMEM;
        goto fail;
    }
    fmt->interrupt_callback.callback = aw_ingest_interrupt_cb;
    fmt->interrupt_callback.opaque = ctl;
    if (custom_pb) {
        fmt->pb = custom_pb;
        fmt->io_open = refuse_io_open;
    } else {
        aw_ingest_hls_watch(src, fmt); /* for EXT-X-PROGRAM-DATE-TIME */
    }
    err = aw_ingest_build_dict(&dict, opts, errstr, errstr_size);
    if (err != AW_OK)
        goto fail;

    ctl->timed_out = false;
    ctl->flapping = false;
    if (!ctl->max_http_reconnects)
        ctl->max_http_reconnects = AW_INGEST_HTTP_FLAP_LIMIT;
    (void)aw_ingest_avlog_take_http_reconnects(); /* earlier sources' */
    ctl->timeout_s = opts->open_timeout_seconds;
    ctl->deadline_us =
        aw_clock_mono_us() + (uint64_t)(opts->open_timeout_seconds * 1e6);

    /* On failure avformat_open_input() frees fmt (not a custom pb). */
    ret = avformat_open_input(&fmt, custom_pb ? "" : opts->url, NULL, &dict);
    if (ret < 0) {
        err = aw_ingest_translate_error(ret, url_redacted, is_path, ctl,
                                        "opening", errstr, errstr_size);
        goto fail;
    }
    src->fmt = fmt;
    ret = avformat_find_stream_info(fmt, NULL);
    /* find_stream_info() takes a read error for the end of the data and
     * may succeed after our interrupt: ask the interrupt state itself. */
    if (ret == AVERROR_EXIT || ctl->timed_out || ctl->flapping ||
        aw_ingest_interrupt_cb(ctl)) {
        err = aw_ingest_translate_error(ret < 0 ? ret : AVERROR_EXIT,
                                        url_redacted, is_path, ctl, "opening",
                                        errstr, errstr_size);
        goto fail;
    }
    if (ret < 0) {
        /* As ffmpeg(1) does: warn and try the streams found so far. */
        AW_WARN(MOD, opts->stream_id, "%s: incomplete stream info: %s",
                url_redacted, av_err2str(ret));
    }
    err = pick_stream(src, opts, &codec, errstr, errstr_size);
    if (err != AW_OK)
        goto fail;
    /* Options left by libavformat may be decoder options (drc_scale ...). */
    err = open_decoder(src, codec, &dict, errstr, errstr_size);
    if (err != AW_OK)
        goto fail;
    report_leftovers(opts, url_redacted, dict);

    src->icy = !custom_pb && aw_ingest_url_is_http(opts->url) &&
               strcmp(fmt->iformat->name, "hls") != 0;
    src->live = decide_live(src, opts);
    if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0)
        src->duration_ms = fmt->duration / (AV_TIME_BASE / 1000);
    aw_ingest_hls_anchor(src, opts, ctl);
    ctl->deadline_us = 0;
    av_dict_free(&dict);
    return AW_OK;

fail:
    ctl->deadline_us = 0;
    av_dict_free(&dict);
    if (!src->fmt)
        avformat_free_context(fmt); /* NULL after a failed open */
    aw_ingest_source_close(src);
    return err;
}

void aw_ingest_source_close(struct aw_source *src)
{
    avcodec_free_context(&src->dec);
    avformat_close_input(&src->fmt);
    aw_ingest_hls_release(src);
    if (src->custom_pb) {
        av_freep(&src->custom_pb->buffer);
        avio_context_free(&src->custom_pb);
    }
    av_packet_free(&src->pkt);
    av_frame_free(&src->frame);
    aw_resampler_destroy(src->rs);
    src->rs = NULL;
    free(src->out);
    src->out = NULL;
    src->out_cap = 0;
}

bool aw_ingest_source_icy_meta(struct aw_source *src, const char *key,
                               char *buf, size_t size)
{
    uint8_t *val = NULL;
    bool ok;

    if (!size)
        return false;
    buf[0] = '\0';
    if (!src->icy || !src->fmt || !src->fmt->pb)
        return false;
    /* The http protocol context sits behind the AVIOContext: reach it with
     * AV_OPT_SEARCH_CHILDREN (TESTBED.md §5.2). */
    if (av_opt_get(src->fmt->pb, key, AV_OPT_SEARCH_CHILDREN, &val) < 0)
        return false;
    ok = val && val[0];
    if (ok)
        aw_errstr_set(buf, size, "%s", (const char *)val);
    av_free(val);
    return ok;
}

/* "icy-name: Test FM\n..." -> "Test FM" */
static void header_value(const char *headers, const char *name, char *out,
                         size_t size)
{
    size_t nlen = strlen(name);

    out[0] = '\0';
    for (const char *p = headers; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);

        if (len > nlen && !strncasecmp(p, name, nlen) && p[nlen] == ':') {
            const char *v = p + nlen + 1;

            while (*v == ' ')
                v++;
            aw_ingest_text_sanitize(v, (size_t)(p + len - v), out, size);
            return;
        }
        p = eol ? eol + 1 : NULL;
    }
}

enum aw_err aw_ingest_probe(const struct aw_ingest_opts *opts,
                            struct aw_ingest_probe_info *info, char *errstr,
                            size_t errstr_size)
{
    struct aw_source_ctl ctl = {0};
    struct aw_source src;
    char url[AW_RING_MARK_TEXT], meta[1024];
    const AVDictionaryEntry *tag;
    AVStream *st;
    enum aw_err err;

    memset(info, 0, sizeof(*info));
    info->stream_index = -1;
    info->duration_ms = -1;
    if (!opts || !opts->url || !opts->url[0]) {
        aw_errstr_set(errstr, errstr_size, "no source URL");
        return AW_ERR_INVAL;
    }
    aw_ingest_global_init();
    err = aw_ingest_check_options(opts->ffmpeg, opts->nffmpeg, errstr,
                                  errstr_size);
    if (err != AW_OK)
        return err;
    aw_ingest_redact_url(opts->url, url, sizeof(url));
    err =
        aw_ingest_source_open(&src, opts, url, &ctl, NULL, errstr, errstr_size);
    if (err != AW_OK)
        return err;

    st = src.fmt->streams[src.stream];
    aw_errstr_set(info->format, sizeof(info->format), "%s",
                  src.fmt->iformat->name);
    aw_errstr_set(info->codec, sizeof(info->codec), "%s", src.dec->codec->name);
    info->stream_index = src.stream;
    info->nb_streams = (int)src.fmt->nb_streams;
    info->rate_hz = src.dec->sample_rate;
    info->channels = src.dec->ch_layout.nb_channels;
    aw_errstr_set(info->sample_fmt, sizeof(info->sample_fmt), "%s",
                  av_get_sample_fmt_name(src.dec->sample_fmt)
                      ? av_get_sample_fmt_name(src.dec->sample_fmt)
                      : "none");
    info->bit_rate =
        src.dec->bit_rate > 0 ? src.dec->bit_rate : src.fmt->bit_rate;
    info->duration_ms = src.duration_ms;
    info->live = src.live;
    tag = av_dict_get(st->metadata, "language", NULL, 0);
    if (tag)
        aw_ingest_text_sanitize(tag->value, strlen(tag->value), info->language,
                                sizeof(info->language));
    if (aw_ingest_source_icy_meta(&src, "icy_metadata_headers", meta,
                                  sizeof(meta)))
        header_value(meta, "icy-name", info->name, sizeof(info->name));
    if (aw_ingest_source_icy_meta(&src, "icy_metadata_packet", meta,
                                  sizeof(meta)))
        (void)aw_ingest_icy_title(meta, sizeof(meta), info->title,
                                  sizeof(info->title));
    aw_ingest_source_close(&src);
    return AW_OK;
}
