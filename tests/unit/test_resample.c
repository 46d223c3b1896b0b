/*
 * Unit tests of src/resample: rate ratios and lengths for the input shapes
 * radio streams have (44.1 kHz stereo float planar from MP3/AAC, 8 kHz mono
 * s16 from telephony codecs, packed s16 from WAV), the flush at the end,
 * a mid-stream format change, and refusals.
 *
 * The test builds its inputs from plain arrays; the sample format values
 * are FFmpeg's enum AVSampleFormat, spelled out below so the test needs no
 * FFmpeg header (STYLE.md §2: only src/resample includes libswresample).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "airwave/audio.h"
#include "airwave/err.h"
#include "resample/resample.h"

/* enum AVSampleFormat (libavutil/samplefmt.h, stable ABI values). */
#define FMT_S16  1
#define FMT_FLT  3
#define FMT_S16P 6
#define FMT_FLTP 8

/* AV_CH_FRONT_LEFT | AV_CH_FRONT_RIGHT and AV_CH_LAYOUT_5POINT1 */
#define MASK_STEREO 0x3u
#define MASK_5_1    0x60Fu

#define OUT_CAP 65536

static int16_t out[OUT_CAP];

/* Feed \p total frames of a tone in blocks of \p block through \p rs, then
 * flush; @returns every output sample. */
static size_t run_planar_float(struct aw_resampler *rs, int rate, int channels,
                               int total, int block, float amp)
{
    float *planes_buf = calloc((size_t)channels * (size_t)block, sizeof(float));
    const uint8_t *planes[8];
    size_t got = 0, n;

    assert_non_null(planes_buf);
    for (int done = 0; done < total; done += block) {
        int k = total - done < block ? total - done : block;

        for (int c = 0; c < channels; c++) {
            float *p = planes_buf + (size_t)c * (size_t)block;

            for (int i = 0; i < k; i++)
                p[i] = amp * sinf(2.0f * 3.14159265f * 440.0f *
                                  (float)(done + i) / (float)rate);
            planes[c] = (const uint8_t *)p;
        }
        assert_true(aw_resampler_out_bound(rs, k) <= OUT_CAP - got);
        assert_int_equal(
            aw_resampler_convert(rs, planes, k, out + got, OUT_CAP - got, &n),
            AW_OK);
        got += n;
    }
    assert_int_equal(aw_resampler_flush(rs, out + got, OUT_CAP - got, &n),
                     AW_OK);
    got += n;
    free(planes_buf);
    return got;
}

static int16_t peak(const int16_t *s, size_t n)
{
    int16_t m = 0;

    for (size_t i = 0; i < n; i++)
        if (abs(s[i]) > m)
            m = (int16_t)abs(s[i]);
    return m;
}

static void test_resampler_44k1_stereo_fltp_rate_ratio(void **state)
{
    const struct aw_resample_format in = {44100, 2, FMT_FLTP, MASK_STEREO};
    char errstr[256];
    struct aw_resampler *rs = aw_resampler_new(&in, errstr, sizeof(errstr));
    size_t got;

    (void)state;
    assert_non_null(rs);
    /* One second in odd-sized blocks, as an MP3 decoder delivers it. */
    got = run_planar_float(rs, 44100, 2, 44100, 1152, 0.5f);
    /* 44100 -> 16000 exactly, give or take the rounding of the last one. */
    assert_in_range(got, 15999, 16001);
    /* Both channels carry the same tone: the mono mix keeps its level
     * (0.5 of full scale, within filter ripple and downmix rounding). */
    assert_in_range(peak(out + 1000, 14000), 12000, 20000);
    aw_resampler_destroy(rs);
}

static void test_resampler_8k_mono_s16_doubles_length(void **state)
{
    const struct aw_resample_format in = {8000, 1, FMT_S16, 0};
    static int16_t pcm[8000];
    const uint8_t *planes[1] = {(const uint8_t *)pcm};
    struct aw_resampler *rs = aw_resampler_new(&in, NULL, 0);
    size_t got = 0, n;

    (void)state;
    assert_non_null(rs);
    for (int i = 0; i < 8000; i++)
        pcm[i] = (int16_t)(8000.0 * sin(2 * 3.14159265 * 300 * i / 8000.0));
    /* 160 samples = 20 ms, a telephony packet. */
    for (int off = 0; off < 8000; off += 160) {
        planes[0] = (const uint8_t *)(pcm + off);
        assert_int_equal(
            aw_resampler_convert(rs, planes, 160, out + got, OUT_CAP - got, &n),
            AW_OK);
        got += n;
    }
    assert_int_equal(aw_resampler_flush(rs, out + got, OUT_CAP - got, &n),
                     AW_OK);
    got += n;
    assert_in_range(got, 15999, 16001);
    assert_in_range(peak(out + 1000, 14000), 7000, 9000);
    aw_resampler_destroy(rs);
}

static void test_resampler_packed_s16_stereo_48k(void **state)
{
    const struct aw_resample_format in = {48000, 2, FMT_S16, 0};
    static int16_t pcm[2 * 4800];
    const uint8_t *planes[1] = {(const uint8_t *)pcm};
    struct aw_resampler *rs = aw_resampler_new(&in, NULL, 0);
    size_t got = 0, n;

    (void)state;
    assert_non_null(rs);
    for (int block = 0; block < 10; block++) {
        assert_int_equal(aw_resampler_convert(rs, planes, 4800, out + got,
                                              OUT_CAP - got, &n),
                         AW_OK);
        got += n;
    }
    assert_int_equal(aw_resampler_flush(rs, out + got, OUT_CAP - got, &n),
                     AW_OK);
    assert_in_range(got + n, 15999, 16001);
    aw_resampler_destroy(rs);
}

static void test_resampler_flush_returns_the_delay(void **state)
{
    const struct aw_resample_format in = {44100, 1, FMT_FLT, 0};
    static float pcm[4410];
    const uint8_t *planes[1] = {(const uint8_t *)pcm};
    struct aw_resampler *rs = aw_resampler_new(&in, NULL, 0);
    size_t before, flushed, again;

    (void)state;
    assert_non_null(rs);
    assert_int_equal(
        aw_resampler_convert(rs, planes, 4410, out, OUT_CAP, &before), AW_OK);
    /* The filter keeps some input back; without a flush it would be lost
     * at the end of every file. */
    assert_true(before < 1600);
    assert_int_equal(aw_resampler_flush(rs, out, OUT_CAP, &flushed), AW_OK);
    assert_true(flushed > 0);
    assert_in_range(before + flushed, 1599, 1601);
    /* Nothing is left after a flush, and the resampler is usable again. */
    assert_int_equal(aw_resampler_flush(rs, out, OUT_CAP, &again), AW_OK);
    assert_int_equal(again, 0);
    assert_int_equal(
        aw_resampler_convert(rs, planes, 4410, out, OUT_CAP, &before), AW_OK);
    assert_int_equal(aw_resampler_flush(rs, out, OUT_CAP, &flushed), AW_OK);
    assert_in_range(before + flushed, 1599, 1601);
    aw_resampler_destroy(rs);
}

static void test_resampler_format_change_keeps_every_sample(void **state)
{
    const struct aw_resample_format a = {44100, 2, FMT_FLTP, MASK_STEREO};
    const struct aw_resample_format b = {48000, 1, FMT_S16P, 0};
    static int16_t pcm48[24000];
    const uint8_t *planes[1] = {(const uint8_t *)pcm48};
    struct aw_resampler *rs = aw_resampler_new(&a, NULL, 0);
    char errstr[256];
    size_t got, n;

    (void)state;
    assert_non_null(rs);
    /* Half a second of 44.1 kHz stereo, without flushing... */
    {
        float *l = calloc(22050, sizeof(float)),
              *r = calloc(22050, sizeof(float));
        const uint8_t *lr[2] = {(const uint8_t *)l, (const uint8_t *)r};

        assert_non_null(l);
        assert_non_null(r);
        assert_int_equal(
            aw_resampler_convert(rs, lr, 22050, out, OUT_CAP, &got), AW_OK);
        free(l);
        free(r);
    }
    /* ... then the stream switches to 48 kHz mono planar: the old delay is
     * drained into the output, not dropped. */
    assert_int_equal(aw_resampler_reconfigure(rs, &b, out + got, OUT_CAP - got,
                                              &n, errstr, sizeof(errstr)),
                     AW_OK);
    assert_true(n > 0);
    got += n;
    assert_true(aw_resample_format_equal(aw_resampler_input(rs), &b));
    assert_int_equal(
        aw_resampler_convert(rs, planes, 24000, out + got, OUT_CAP - got, &n),
        AW_OK);
    got += n;
    assert_int_equal(aw_resampler_flush(rs, out + got, OUT_CAP - got, &n),
                     AW_OK);
    got += n;
    assert_in_range(got, 15998, 16002);

    /* The same format again is a no-op. */
    assert_int_equal(aw_resampler_reconfigure(rs, &b, out, OUT_CAP, &n, errstr,
                                              sizeof(errstr)),
                     AW_OK);
    assert_int_equal(n, 0);
    aw_resampler_destroy(rs);
}

static void test_resampler_refuses_small_output(void **state)
{
    const struct aw_resample_format in = {44100, 1, FMT_FLT, 0};
    static float pcm[4410];
    const uint8_t *planes[1] = {(const uint8_t *)pcm};
    struct aw_resampler *rs = aw_resampler_new(&in, NULL, 0);
    size_t n = 99;

    (void)state;
    assert_non_null(rs);
    assert_int_equal(aw_resampler_convert(rs, planes, 4410, out, 10, &n),
                     AW_ERR_TOO_LARGE);
    assert_int_equal(n, 0);
    assert_int_equal(aw_resampler_convert(rs, planes, -1, out, OUT_CAP, &n),
                     AW_ERR_INVAL);
    aw_resampler_destroy(rs);
}

static void test_resampler_rejects_bad_formats(void **state)
{
    static const struct aw_resample_format bad[] = {
        {0, 1, FMT_S16, 0},   {44100, 0, FMT_S16, 0}, {44100, 65, FMT_S16, 0},
        {44100, 1, -1, 0},    {44100, 1, 999, 0},     {10000000, 1, FMT_S16, 0},
        {500, 1, FMT_S16, 0},
    };
    char errstr[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errstr[0] = '\0';
        assert_null(aw_resampler_new(&bad[i], errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "resampler: "));
    }
    assert_null(aw_resampler_new(NULL, errstr, sizeof(errstr)));
    aw_resampler_destroy(NULL); /* NULL-safe */
}

static void test_resampler_surround_and_odd_masks(void **state)
{
    /* 5.1 with its mask, and a mask that disagrees with the channel count
     * (then the default layout for the count is used). */
    const struct aw_resample_format s51 = {48000, 6, FMT_FLTP, MASK_5_1};
    const struct aw_resample_format odd = {48000, 3, FMT_FLTP, MASK_STEREO};
    struct aw_resampler *rs;

    (void)state;
    rs = aw_resampler_new(&s51, NULL, 0);
    assert_non_null(rs);
    assert_in_range(run_planar_float(rs, 48000, 6, 48000, 1024, 0.25f), 15999,
                    16001);
    aw_resampler_destroy(rs);
    rs = aw_resampler_new(&odd, NULL, 0);
    assert_non_null(rs);
    assert_in_range(run_planar_float(rs, 48000, 3, 4800, 1024, 0.25f), 1599,
                    1601);
    aw_resampler_destroy(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resampler_44k1_stereo_fltp_rate_ratio),
        cmocka_unit_test(test_resampler_8k_mono_s16_doubles_length),
        cmocka_unit_test(test_resampler_packed_s16_stereo_48k),
        cmocka_unit_test(test_resampler_flush_returns_the_delay),
        cmocka_unit_test(test_resampler_format_change_keeps_every_sample),
        cmocka_unit_test(test_resampler_refuses_small_output),
        cmocka_unit_test(test_resampler_rejects_bad_formats),
        cmocka_unit_test(test_resampler_surround_and_odd_masks),
    };

    return cmocka_run_group_tests_name("resample", tests, NULL, NULL);
}
