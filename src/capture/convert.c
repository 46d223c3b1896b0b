/*
 * The resampling path of a capture: for devices that cannot give 16 kHz
 * mono int16, the callback copies float frames at the device's own rate
 * into a FIFO (callback.c), and the capture thread converts them here, off
 * the real-time thread, with the same resampler ingest uses.
 *
 * Losses travel through the FIFO as records at the frame where the audio
 * resumes, so they reach the sink between the right two blocks of output
 * (give or take the resampler's few samples of filter delay).
 */
#include "capture/capture_int.h"

#include <stdlib.h>
#include <string.h>

/* Only for AV_SAMPLE_FMT_FLT, the resampler's name for what we hand it:
 * libavutil, not the libavformat or libswresample boundary. */
#include <libavutil/samplefmt.h>

#include "airwave/audio.h"
#include "resample/resample.h"

enum aw_err aw_capture_conv_init(struct aw_capture_conv *c, double rate_hz,
                                 unsigned channels, char *errstr,
                                 size_t errstr_size)
{
    struct aw_resample_format in;
    enum aw_err err;

    memset(c, 0, sizeof(*c));
    if (!(rate_hz >= AW_RESAMPLER_MIN_RATE_HZ &&
          rate_hz <= AW_RESAMPLER_MAX_RATE_HZ) ||
        !channels || channels > AW_CAPTURE_MAX_OPEN_CHANNELS) {
        aw_errstr_set(errstr, errstr_size,
                      "cannot resample %.0f Hz, %u channels", rate_hz,
                      channels);
        return AW_ERR_INVAL;
    }
    c->rate_hz = rate_hz;
    c->channels = channels;
    memset(&in, 0, sizeof(in));
    in.rate_hz = (int)(rate_hz + 0.5);
    in.channels = (int)channels;
    in.sample_fmt = AV_SAMPLE_FMT_FLT;
    c->rs = aw_resampler_new(&in, errstr, errstr_size);
    if (!c->rs) {
        err = AW_ERR_UNSUPPORTED;
        goto fail;
    }
    err = aw_capture_fifo_init(
        &c->fifo, (size_t)(rate_hz * AW_CAPTURE_FIFO_SECONDS), channels);
    if (err)
        goto nomem;
    c->scratch =
        calloc((size_t)AW_CAPTURE_CONV_FRAMES * channels, sizeof(*c->scratch));
    /* The bound counts the samples the converter holds back, which are
     * none yet: leave room for as many again as one block. */
    c->out_cap = aw_resampler_out_bound(c->rs, 2 * AW_CAPTURE_CONV_FRAMES);
    c->out = calloc(c->out_cap, sizeof(*c->out));
    if (!c->scratch || !c->out) {
        err = AW_ERR_NOMEM;
        goto nomem;
    }
    return AW_OK;

nomem:
    aw_errstr_set(errstr, errstr_size, "out of memory");
fail:
    aw_capture_conv_fini(c);
    return err;
}

void aw_capture_conv_fini(struct aw_capture_conv *c)
{
    aw_resampler_destroy(c->rs);
    c->rs = NULL;
    aw_capture_fifo_fini(&c->fifo);
    free(c->scratch);
    c->scratch = NULL;
    free(c->out);
    c->out = NULL;
    c->out_cap = 0;
}

uint64_t aw_capture_conv_to_16k(const struct aw_capture_conv *c,
                                uint64_t frames)
{
    if (c->rate_hz <= 0)
        return frames;
    return (uint64_t)((double)frames * AW_AUDIO_RATE_HZ / c->rate_hz + 0.5);
}

/* Convert \p frames frames of scratch (0: flush) and hand the output on. */
static enum aw_err convert(struct aw_capture_conv *c, size_t frames,
                           const struct aw_capture_conv_sink *sink)
{
    const uint8_t *planes[1] = {(const uint8_t *)c->scratch};
    size_t nout = 0;
    enum aw_err err;

    if (frames)
        err = aw_resampler_convert(c->rs, planes, (int)frames, c->out,
                                   c->out_cap, &nout);
    else
        err = aw_resampler_flush(c->rs, c->out, c->out_cap, &nout);
    if (err) {
        /* out_cap is the resampler's own bound, so this is not expected;
         * if it happens the block is lost like any that does not fit. */
        sink->gap(sink->opaque, aw_capture_conv_to_16k(c, frames));
        return err;
    }
    if (nout)
        sink->pcm(sink->opaque, c->out, nout);
    return AW_OK;
}

enum aw_err aw_capture_conv_drain(struct aw_capture_conv *c, bool flush,
                                  const struct aw_capture_conv_sink *sink)
{
    enum aw_err ret = AW_OK;

    for (;;) {
        uint64_t gap = 0;
        size_t n = aw_capture_fifo_read(&c->fifo, c->scratch,
                                        AW_CAPTURE_CONV_FRAMES, &gap);
        enum aw_err err;

        if (gap) {
            sink->gap(sink->opaque, aw_capture_conv_to_16k(c, gap));
            continue;
        }
        if (!n)
            break;
        err = convert(c, n, sink);
        if (err && !ret)
            ret = err;
    }
    if (flush) {
        enum aw_err err = convert(c, 0, sink);

        if (err && !ret)
            ret = err;
    }
    return ret;
}
