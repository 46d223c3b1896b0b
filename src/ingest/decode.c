/*
 * Packets -> frames -> 16 kHz mono s16, with the send/receive loop of
 * FFmpeg's doc/examples/demux_decode.c: AVERROR(EAGAIN) and AVERROR_EOF are
 * states, not errors. A packet the decoder refuses is counted and skipped
 * (radio streams carry the odd corrupt frame, and a reconnect lands
 * mid-frame); only the demuxer's errors end a session.
 *
 * Also aw_ingest_decode_memory(): the same path over a custom AVIOContext,
 * in the shape of FFmpeg's tools/target_dem_fuzzer.c, for the fuzzer.
 *
 * @locality the thread that opened the source
 */
#include "ingest/ingest.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/mem.h>

#include "airwave/audio.h"
#include "airwave/clock.h"
#include "airwave/log.h"
#include "ingest/ingest_int.h"

/* No sane decoder frame needs more than a minute of output; a bigger
 * bound means a broken rate, not a reason to allocate. */
#define MAX_OUT_SAMPLES ((size_t)AW_AUDIO_RATE_HZ * 60)

static enum aw_err reserve_out(struct aw_source *src, size_t need)
{
    int16_t *p;

    if (need <= src->out_cap)
        return AW_OK;
    if (need > MAX_OUT_SAMPLES)
        return AW_ERR_TOO_LARGE;
    /* Grow with headroom so a slightly longer frame does not realloc. */
    need =
        need + need / 2 < MAX_OUT_SAMPLES ? need + need / 2 : MAX_OUT_SAMPLES;
    p = realloc(src->out, need * sizeof(*p));
    if (!p)
        return AW_ERR_NOMEM;
    src->out = p;
    src->out_cap = need;
    return AW_OK;
}

static enum aw_err emit(struct aw_source *src, size_t n)
{
    if (!n || !src->emit)
        return AW_OK;
    return src->emit(src->opaque, src->out, n);
}

static enum aw_err process_frame(struct aw_source *src, AVFrame *frame,
                                 char *errstr, size_t errstr_size)
{
    struct aw_resample_format in = {
        .rate_hz = frame->sample_rate,
        .channels = frame->ch_layout.nb_channels,
        .sample_fmt = frame->format,
        .channel_mask = frame->ch_layout.order == AV_CHANNEL_ORDER_NATIVE
                            ? frame->ch_layout.u.mask
                            : 0,
    };
    enum aw_err err;
    size_t n;

    if (frame->nb_samples <= 0)
        return AW_OK;
    /* FFmpeg 5.1's MP3 decoder stamps each frame with the sample rate the
     * context had before that frame was parsed: the first frame after a
     * rate change (and the very first one, which gets the probed rate)
     * carries the old rate. The context is updated by the same decode
     * call, so for these one-packet-one-frame audio decoders it is the
     * right value. */
    if (src->dec->sample_rate > 0 && src->dec->sample_rate != in.rate_hz)
        in.rate_hz = src->dec->sample_rate;
    if (!src->rs) {
        src->rs = aw_resampler_new(&in, errstr, errstr_size);
        if (!src->rs)
            return AW_ERR_UNSUPPORTED;
    } else if (!aw_resample_format_equal(aw_resampler_input(src->rs), &in)) {
        /* HLS variants and re-encoded ICY streams switch formats: drain the
         * old converter into the output, then rebuild it. */
        const struct aw_resample_format *old = aw_resampler_input(src->rs);

        AW_INFO("ingest", src->stream_id,
                "%s: audio format changed: %d Hz %d ch %s -> %d Hz %d ch %s",
                src->url, old->rate_hz, old->channels,
                av_get_sample_fmt_name((enum AVSampleFormat)old->sample_fmt),
                in.rate_hz, in.channels,
                av_get_sample_fmt_name((enum AVSampleFormat)in.sample_fmt));
        err = reserve_out(src, aw_resampler_out_bound(src->rs, 0));
        if (err != AW_OK)
            return err;
        err = aw_resampler_reconfigure(src->rs, &in, src->out, src->out_cap, &n,
                                       errstr, errstr_size);
        if (err != AW_OK)
            return err;
        err = emit(src, n);
        if (err != AW_OK)
            return err;
    }
    err = reserve_out(src, aw_resampler_out_bound(src->rs, frame->nb_samples));
    if (err != AW_OK) {
        aw_errstr_set(errstr, errstr_size, "%s: frame too large (%d samples)",
                      src->url, frame->nb_samples);
        return err;
    }
    err = aw_resampler_convert(src->rs,
                               (const uint8_t *const *)frame->extended_data,
                               frame->nb_samples, src->out, src->out_cap, &n);
    if (err != AW_OK) {
        aw_errstr_set(errstr, errstr_size, "%s: resampling failed: %s",
                      src->url, aw_err_str(err));
        return err;
    }
    return emit(src, n);
}

/* Take every frame the decoder has ready. */
static enum aw_err receive_all(struct aw_source *src, char *errstr,
                               size_t errstr_size)
{
    for (;;) {
        enum aw_err err;
        int ret = avcodec_receive_frame(src->dec, src->frame);

        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return AW_OK;
        if (ret < 0) {
            src->decode_errors++;
            /* A decoder error is about this frame only; one that keeps
             * failing stops producing audio, and the stall deadline then
             * reopens the source. */
            if (ret == AVERROR(ENOMEM))
                return AW_ERR_NOMEM;
            return AW_OK;
        }
        err = process_frame(src, src->frame, errstr, errstr_size);
        av_frame_unref(src->frame);
        if (err != AW_OK)
            return err;
    }
}

static enum aw_err drain(struct aw_source *src, char *errstr,
                         size_t errstr_size)
{
    enum aw_err err;
    size_t n;

    /* The decoder holds a frame or two, the resampler a few samples of
     * filter delay: both are real audio. */
    if (avcodec_send_packet(src->dec, NULL) >= 0) {
        err = receive_all(src, errstr, errstr_size);
        if (err != AW_OK)
            return err;
    }
    if (!src->rs)
        return AW_OK;
    err = reserve_out(src, aw_resampler_out_bound(src->rs, 0));
    if (err != AW_OK)
        return err;
    err = aw_resampler_flush(src->rs, src->out, src->out_cap, &n);
    if (err != AW_OK)
        return err;
    return emit(src, n);
}

enum aw_err aw_ingest_source_step(struct aw_source *src,
                                  struct aw_source_ctl *ctl, char *errstr,
                                  size_t errstr_size)
{
    char drain_err[AW_INGEST_ERRSTR] = "";
    enum aw_err err, read_err;
    int ret;

    ret = av_read_frame(src->fmt, src->pkt);
    if (ret == AVERROR(EAGAIN))
        return AW_ERR_AGAIN;
    if (ret < 0) {
        bool is_path = !aw_ingest_url_is_network(src->url);

        read_err = aw_ingest_translate_error(ret, src->url, is_path, ctl,
                                             "reading", errstr, errstr_size);
        if (read_err == AW_ERR_EOF)
            aw_errstr_set(errstr, errstr_size, "end of %s",
                          src->live ? "stream" : "file");
        if (read_err == AW_ERR_STOPPED)
            return read_err;
        /* Whatever ended the input, what was decoded so far is kept. */
        err = drain(src, drain_err, sizeof(drain_err));
        if (err != AW_OK) {
            aw_errstr_set(errstr, errstr_size, "%s",
                          err == AW_ERR_STOPPED ? "stopped" : drain_err);
            return err;
        }
        return read_err;
    }
    src->packets++;
    if (src->pkt->stream_index != src->stream) {
        av_packet_unref(src->pkt);
        return AW_OK;
    }

    ret = avcodec_send_packet(src->dec, src->pkt);
    if (ret == AVERROR(EAGAIN)) {
        /* Not expected since every frame is taken after each send, but the
         * API allows it: empty the decoder and send again. */
        err = receive_all(src, errstr, errstr_size);
        if (err != AW_OK) {
            av_packet_unref(src->pkt);
            return err;
        }
        ret = avcodec_send_packet(src->dec, src->pkt);
    }
    av_packet_unref(src->pkt);
    if (ret < 0 && ret != AVERROR_EOF) {
        src->decode_errors++;
        if (ret == AVERROR(ENOMEM))
            return AW_ERR_NOMEM;
    }
    return receive_all(src, errstr, errstr_size);
}

/* --- aw_ingest_decode_memory(): a custom AVIOContext over a buffer ------ */

struct mem_io {
    const uint8_t *data;
    size_t size;
    size_t pos;
};

static int mem_read(void *opaque, uint8_t *buf, int buf_size)
{
    struct mem_io *m = opaque;
    size_t left = m->size - m->pos;
    size_t n = (size_t)buf_size < left ? (size_t)buf_size : left;

    if (!n)
        return AVERROR_EOF;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (int)n;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence)
{
    struct mem_io *m = opaque;
    int64_t base;

    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE:
        return (int64_t)m->size;
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = (int64_t)m->pos;
        break;
    case SEEK_END:
        base = (int64_t)m->size;
        break;
    default:
        return AVERROR(EINVAL);
    }
    if (offset < -base || offset > (int64_t)m->size - base)
        return AVERROR(EINVAL);
    m->pos = (size_t)(base + offset);
    return (int64_t)m->pos;
}

struct mem_sink {
    void (*on_samples)(void *opaque, const int16_t *pcm, size_t n);
    void *opaque;
    uint64_t total;
    uint64_t max;
};

static enum aw_err mem_emit(void *opaque, const int16_t *pcm, size_t n)
{
    struct mem_sink *s = opaque;

    if (s->on_samples)
        s->on_samples(s->opaque, pcm, n);
    s->total += n;
    return s->total >= s->max ? AW_ERR_TOO_LARGE : AW_OK;
}

enum aw_err aw_ingest_decode_memory(
    const uint8_t *data, size_t size, const struct aw_ingest_mem_limits *lim,
    void (*on_samples)(void *opaque, const int16_t *pcm, size_t n),
    void *opaque, uint64_t *nb_samples, char *errstr, size_t errstr_size)
{
    const size_t io_size = 4096;
    struct mem_io m = {data, size, 0};
    struct mem_sink sink = {on_samples, opaque, 0, 0};
    struct aw_source_ctl ctl = {0};
    struct aw_ingest_opts opts;
    struct aw_source src;
    struct aw_kv kv[2];
    char probe[24], analyze[24];
    AVIOContext *pb = NULL;
    uint8_t *iobuf;
    int64_t probe_bytes =
        lim && lim->probe_bytes > 0 ? lim->probe_bytes : 32768;
    int max_packets = lim && lim->max_packets > 0 ? lim->max_packets : 10000;
    enum aw_err err;

    if (nb_samples)
        *nb_samples = 0;
    sink.max = lim && lim->max_samples > 0 ? (uint64_t)lim->max_samples
                                           : (uint64_t)AW_AUDIO_RATE_HZ * 600;
    aw_ingest_global_init();

    iobuf = av_malloc(io_size);
    if (iobuf)
        pb = avio_alloc_context(iobuf, (int)io_size, 0, &m, mem_read, NULL,
                                mem_seek);
    if (!pb) {
        av_free(iobuf);
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return AW_ERR_NOMEM;
    }

    /* Bounded probing, as target_dem_fuzzer.c does, so one input cannot
     * make find_stream_info read or decode for long. */
    aw_errstr_set(probe, sizeof(probe), "%lld", (long long)probe_bytes);
    aw_errstr_set(analyze, sizeof(analyze), "%d", 2000000);
    kv[0] = (struct aw_kv){.key = "probesize", .value = probe};
    kv[1] = (struct aw_kv){.key = "analyzeduration", .value = analyze};
    aw_ingest_opts_init(&opts);
    opts.url = "memory";
    opts.live = AW_LIVE_NO;
    opts.pace = 0;
    opts.ffmpeg = kv;
    opts.nffmpeg = AW_ARRAY_SIZE(kv);

    /* The source owns pb from here, opened or not. */
    err = aw_ingest_source_open(&src, &opts, "memory", &ctl, pb, errstr,
                                errstr_size);
    if (err != AW_OK)
        return err;
    src.emit = mem_emit;
    src.opaque = &sink;
    for (int i = 0; i < max_packets; i++) {
        err = aw_ingest_source_step(&src, &ctl, errstr, errstr_size);
        if (err == AW_ERR_AGAIN)
            continue;
        if (err != AW_OK)
            break;
    }
    if (err == AW_ERR_EOF || err == AW_ERR_TOO_LARGE || err == AW_OK)
        err = AW_OK;
    if (nb_samples)
        *nb_samples = sink.total;
    aw_ingest_source_close(&src);
    return err;
}
