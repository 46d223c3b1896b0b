/*
 * libswresample -> 16 kHz mono s16. See resample.h.
 *
 * @locality the ingest thread that owns the resampler
 */
#include "resample/resample.h"

#include <limits.h>
#include <stdlib.h>

#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/samplefmt.h>
#include <libswresample/swresample.h>

#include "airwave/audio.h"

struct aw_resampler {
    struct SwrContext *swr;
    struct aw_resample_format in;
};

static int popcount64(uint64_t v)
{
    int n = 0;

    while (v) {
        v &= v - 1;
        n++;
    }
    return n;
}

/* Checked here rather than left to swr_init(), so the caller gets a reason
 * it can act on instead of "Invalid argument". */
static enum aw_err check_format(const struct aw_resample_format *in,
                                char *errstr, size_t errstr_size)
{
    if (!in) {
        aw_errstr_set(errstr, errstr_size, "resampler: no input format");
        return AW_ERR_INVAL;
    }
    if (in->sample_fmt < 0 || in->sample_fmt >= AV_SAMPLE_FMT_NB ||
        !av_get_sample_fmt_name((enum AVSampleFormat)in->sample_fmt)) {
        aw_errstr_set(errstr, errstr_size,
                      "resampler: unknown sample format %d", in->sample_fmt);
        return AW_ERR_UNSUPPORTED;
    }
    if (in->channels < 1 || in->channels > AW_RESAMPLER_MAX_CHANNELS) {
        aw_errstr_set(errstr, errstr_size,
                      "resampler: unsupported channel count %d", in->channels);
        return AW_ERR_UNSUPPORTED;
    }
    if (in->rate_hz < AW_RESAMPLER_MIN_RATE_HZ ||
        in->rate_hz > AW_RESAMPLER_MAX_RATE_HZ) {
        aw_errstr_set(errstr, errstr_size,
                      "resampler: unsupported sample rate %d Hz", in->rate_hz);
        return AW_ERR_UNSUPPORTED;
    }
    return AW_OK;
}

/* Builds a new SwrContext for \p in; *swr is only replaced on success. */
static enum aw_err open_swr(struct SwrContext **swr,
                            const struct aw_resample_format *in, char *errstr,
                            size_t errstr_size)
{
    AVChannelLayout in_layout = {0}, out_layout = AV_CHANNEL_LAYOUT_MONO;
    struct SwrContext *s = NULL;
    int ret;

    /* A mask that disagrees with the channel count (decoders report some
     * odd ones) is ignored: the default layout for the count is a safer
     * guess than failing the stream. */
    if (in->channel_mask && popcount64(in->channel_mask) == in->channels)
        ret = av_channel_layout_from_mask(&in_layout, in->channel_mask);
    else
        ret = -1;
    if (ret < 0)
        av_channel_layout_default(&in_layout, in->channels);

    ret = swr_alloc_set_opts2(
        &s, &out_layout, AV_SAMPLE_FMT_S16, AW_AUDIO_RATE_HZ, &in_layout,
        (enum AVSampleFormat)in->sample_fmt, in->rate_hz, 0, NULL);
    if (ret < 0)
        goto fail;
    ret = swr_init(s);
    if (ret < 0)
        goto fail;

    av_channel_layout_uninit(&in_layout);
    swr_free(swr);
    *swr = s;
    return AW_OK;

fail:
    aw_errstr_set(errstr, errstr_size, "resampler: %d Hz, %d channels, %s: %s",
                  in->rate_hz, in->channels,
                  av_get_sample_fmt_name((enum AVSampleFormat)in->sample_fmt),
                  av_err2str(ret));
    av_channel_layout_uninit(&in_layout);
    swr_free(&s);
    return ret == AVERROR(ENOMEM) ? AW_ERR_NOMEM : AW_ERR_UNSUPPORTED;
}

struct aw_resampler *aw_resampler_new(const struct aw_resample_format *in,
                                      char *errstr, size_t errstr_size)
{
    struct aw_resampler *rs;

    if (check_format(in, errstr, errstr_size) != AW_OK)
        return NULL;
    rs = calloc(1, sizeof(*rs));
    if (!rs) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    rs->in = *in;
    if (open_swr(&rs->swr, in, errstr, errstr_size) != AW_OK)
        goto fail;
    return rs;

fail:
    aw_resampler_destroy(rs);
    return NULL;
}

void aw_resampler_destroy(struct aw_resampler *rs)
{
    if (!rs)
        return;
    swr_free(&rs->swr);
    free(rs);
}

const struct aw_resample_format *
aw_resampler_input(const struct aw_resampler *rs)
{
    return &rs->in;
}

bool aw_resample_format_equal(const struct aw_resample_format *a,
                              const struct aw_resample_format *b)
{
    return a->rate_hz == b->rate_hz && a->channels == b->channels &&
           a->sample_fmt == b->sample_fmt && a->channel_mask == b->channel_mask;
}

size_t aw_resampler_out_bound(const struct aw_resampler *rs, int in_samples)
{
    int n;

    if (in_samples < 0)
        in_samples = 0;
    n = swr_get_out_samples(rs->swr, in_samples);
    /* swr_get_out_samples() fails only for an uninitialised context; fall
     * back to the plain ratio plus generous room for the filter delay. */
    if (n < 0)
        n = (int)av_rescale_rnd(in_samples, AW_AUDIO_RATE_HZ, rs->in.rate_hz,
                                AV_ROUND_UP) +
            256;
    return (size_t)n;
}

static enum aw_err run(struct aw_resampler *rs, const uint8_t *const *data,
                       int in_samples, int16_t *out, size_t out_cap,
                       size_t *nb_out)
{
    uint8_t *out_planes[1] = {(uint8_t *)out};
    int cap = out_cap > INT_MAX ? INT_MAX : (int)out_cap;
    int ret;

    *nb_out = 0;
    if (out_cap < aw_resampler_out_bound(rs, in_samples))
        return AW_ERR_TOO_LARGE;
    ret = swr_convert(rs->swr, out_planes, cap, (const uint8_t **)data,
                      in_samples);
    if (ret < 0)
        return ret == AVERROR(ENOMEM) ? AW_ERR_NOMEM : AW_ERR_IO;
    *nb_out = (size_t)ret;
    return AW_OK;
}

enum aw_err aw_resampler_convert(struct aw_resampler *rs,
                                 const uint8_t *const *data, int in_samples,
                                 int16_t *out, size_t out_cap, size_t *nb_out)
{
    *nb_out = 0;
    if (in_samples < 0 || (in_samples > 0 && !data))
        return AW_ERR_INVAL;
    if (in_samples == 0)
        return AW_OK; /* a NULL input would mean "flush" to swr_convert() */
    return run(rs, data, in_samples, out, out_cap, nb_out);
}

enum aw_err aw_resampler_flush(struct aw_resampler *rs, int16_t *out,
                               size_t out_cap, size_t *nb_out)
{
    enum aw_err err;

    err = run(rs, NULL, 0, out, out_cap, nb_out);
    if (err != AW_OK)
        return err;
    /* swr_init() clears the filter history, so the next input starts
     * clean instead of being blended with the tail of the last one. */
    if (swr_init(rs->swr) < 0)
        return AW_ERR_IO;
    return AW_OK;
}

enum aw_err aw_resampler_reconfigure(struct aw_resampler *rs,
                                     const struct aw_resample_format *in,
                                     int16_t *out, size_t out_cap,
                                     size_t *nb_out, char *errstr,
                                     size_t errstr_size)
{
    enum aw_err err;

    *nb_out = 0;
    if (aw_resample_format_equal(&rs->in, in))
        return AW_OK;
    err = check_format(in, errstr, errstr_size);
    if (err != AW_OK)
        return err;
    err = run(rs, NULL, 0, out, out_cap, nb_out);
    if (err != AW_OK) {
        aw_errstr_set(errstr, errstr_size,
                      "resampler: cannot drain before a format change: %s",
                      aw_err_str(err));
        return err;
    }
    err = open_swr(&rs->swr, in, errstr, errstr_size);
    if (err != AW_OK) {
        /* Keep the old format usable: the drain left it flushed. */
        (void)swr_init(rs->swr);
        return err;
    }
    rs->in = *in;
    return AW_OK;
}
