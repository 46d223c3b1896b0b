/*
 * Resampler: any decoded PCM (rate, channel count or layout, sample format,
 * planar or packed) -> the pipeline's 16 kHz mono signed 16-bit
 * (AW_AUDIO_RATE_HZ), wrapping libswresample.
 *
 * Only this directory includes <libswresample/...>. The input format is
 * described with plain ints so callers need no FFmpeg header; sample_fmt is
 * an enum AVSampleFormat value, which only ingest (the one caller that has
 * decoded frames) ever produces.
 *
 * Output goes into a buffer the caller owns and sizes with
 * aw_resampler_out_bound(): the converter keeps a few samples of filter
 * delay between calls, so one call may return more or fewer samples than
 * the rate ratio alone suggests. aw_resampler_flush() drains that delay at
 * the end of a source; aw_resampler_reconfigure() drains it and switches to
 * a new input format when a stream changes mid-way (HLS variants, ICY
 * stations switching encoders), so no sample is lost at the seam.
 *
 * One resampler is used by one thread (the ingest thread of its stream);
 * nothing here is shared.
 */
#ifndef AW_RESAMPLE_RESAMPLE_H
#define AW_RESAMPLE_RESAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"

/** Input rates outside this range are refused as unsupported: a decoder
 *  that reports 1 Hz or 10 MHz is broken, and the output buffer of a huge
 *  ratio would be unbounded. */
#define AW_RESAMPLER_MIN_RATE_HZ  1000
#define AW_RESAMPLER_MAX_RATE_HZ  768000
/** libswresample's own channel limit (SWR_CH_MAX). */
#define AW_RESAMPLER_MAX_CHANNELS 64

struct aw_resampler;

/** The input side of a conversion. */
struct aw_resample_format {
    int rate_hz;
    int channels;
    int sample_fmt;        /* enum AVSampleFormat, planar or packed */
    uint64_t channel_mask; /* AV_CH_* bits in native order; 0: the default
                              layout for \p channels */
};

/**
 * @brief Create a converter from \p in to 16 kHz mono s16.
 * @param errstr  receives a one-line reason on failure (may be NULL)
 * @returns the resampler, or NULL: invalid or unsupported format
 *          (rate, channels, sample format) or out of memory.
 * @remark destroy with aw_resampler_destroy().
 */
struct aw_resampler *aw_resampler_new(const struct aw_resample_format *in,
                                      char *errstr, size_t errstr_size);

/** NULL-safe. */
void aw_resampler_destroy(struct aw_resampler *rs);

/** @returns the current input format. */
const struct aw_resample_format *
aw_resampler_input(const struct aw_resampler *rs);

/** @returns true if \p a and \p b describe the same input. */
bool aw_resample_format_equal(const struct aw_resample_format *a,
                              const struct aw_resample_format *b);

/**
 * @brief Upper bound of the samples the next aw_resampler_convert() with
 *        \p in_samples input samples (or a flush, with 0) can produce,
 *        buffered delay included.
 */
size_t aw_resampler_out_bound(const struct aw_resampler *rs, int in_samples);

/**
 * @brief Convert \p in_samples samples per channel.
 * @param data  one pointer per channel for planar formats, one pointer for
 *              packed ones (AVFrame.extended_data has this shape)
 * @param out   receives up to \p out_cap samples
 * @param[out] nb_out  samples written to \p out
 * @returns AW_OK; AW_ERR_TOO_LARGE if \p out_cap is below
 *          aw_resampler_out_bound() (nothing is consumed); AW_ERR_INVAL for
 *          a negative count; AW_ERR_IO if libswresample fails.
 */
enum aw_err aw_resampler_convert(struct aw_resampler *rs,
                                 const uint8_t *const *data, int in_samples,
                                 int16_t *out, size_t out_cap, size_t *nb_out);

/**
 * @brief Drain the delayed samples at the end of the input. The resampler
 *        can be used again afterwards, as if new.
 * @returns as aw_resampler_convert().
 */
enum aw_err aw_resampler_flush(struct aw_resampler *rs, int16_t *out,
                               size_t out_cap, size_t *nb_out);

/**
 * @brief Switch to a new input format: drain what the old converter still
 *        holds into \p out, then set up the new one. A no-op (with
 *        *nb_out = 0) if the format is unchanged.
 * @returns AW_OK; AW_ERR_TOO_LARGE if \p out_cap cannot hold the drained
 *          samples; AW_ERR_UNSUPPORTED / AW_ERR_INVAL for a format that
 *          aw_resampler_new() would refuse (the old format is then kept);
 *          AW_ERR_NOMEM; AW_ERR_IO.
 */
enum aw_err aw_resampler_reconfigure(struct aw_resampler *rs,
                                     const struct aw_resample_format *in,
                                     int16_t *out, size_t out_cap,
                                     size_t *nb_out, char *errstr,
                                     size_t errstr_size);

#endif
