/*
 * Unit tests of src/capture/: PortAudio's callback driven directly with
 * synthetic buffers (no sound card), the float FIFO and the resampling
 * path, the device matcher, and the capture thread's refusal of a device
 * that does not exist.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "airwave/audio.h"
#include "airwave/clock.h"
#include "capture/capture.h"
#include "capture/capture_int.h"
#include "pipeline/ring.h"
#include "pipeline/source.h"

#define RING_SAMPLES 4096
#define RING_MARKS   16

struct fixture {
    struct aw_ring ring;
    struct aw_capture_cb cb;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct aw_ring_mark session;

    if (!f || aw_ring_init(&f->ring, RING_SAMPLES, RING_MARKS) != AW_OK) {
        free(f);
        return -1;
    }
    aw_capture_cb_init(&f->cb);
    memset(&session, 0, sizeof(session));
    strcpy(session.text, "portaudio:test");
    aw_capture_cb_arm(&f->cb, &f->ring, NULL, 1, AW_AUDIO_RATE_HZ, &session);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    aw_ring_fini(&f->ring);
    free(f);
    return 0;
}

/* One callback with \p n samples counting up from \p first. */
static int feed(struct fixture *f, int first, size_t n,
                const PaStreamCallbackTimeInfo *ti, PaStreamCallbackFlags flags)
{
    int16_t buf[1024];

    assert_true(n <= AW_ARRAY_SIZE(buf));
    for (size_t i = 0; i < n; i++)
        buf[i] = (int16_t)(first + (int)i);
    return aw_capture_callback(buf, NULL, n, ti, flags, &f->cb);
}

static void expect_mark(struct aw_ring *r, enum aw_ring_mark_type type,
                        uint64_t pos, uint64_t lost)
{
    struct aw_ring_mark m;

    assert_true(aw_ring_pop_mark(r, &m));
    assert_int_equal(m.type, type);
    assert_int_equal(m.pos, pos);
    if (type == AW_RING_MARK_GAP)
        assert_int_equal(m.lost_samples, lost);
}

static void test_capture_callback_samples_in_order(void **state)
{
    struct fixture *f = *state;
    int64_t before = aw_clock_wall_ms();
    struct aw_ring_mark m;
    int16_t out[1000];

    for (int i = 0; i < 10; i++)
        assert_int_equal(feed(f, i * 100, 100, NULL, 0), paContinue);

    /* SESSION first, at 0, live, with the device and the first sample's
     * wall clock (now, less the 100-sample buffer). */
    assert_true(aw_ring_pop_mark(&f->ring, &m));
    assert_int_equal(m.type, AW_RING_MARK_SESSION);
    assert_int_equal(m.pos, 0);
    assert_true(m.live);
    assert_string_equal(m.text, "portaudio:test");
    assert_true(m.wall_ms >= before - 10 && m.wall_ms <= aw_clock_wall_ms());
    assert_false(aw_ring_pop_mark(&f->ring, &m));
    assert_true(atomic_load(&f->cb.session_marked));

    assert_int_equal(aw_ring_head(&f->ring), 1000);
    assert_int_equal(aw_ring_peek(&f->ring, 0, out, 1000), 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(out[i], i);
    assert_int_equal(atomic_load(&f->cb.calls), 10);
    assert_int_equal(atomic_load(&f->cb.frames), 1000);
    assert_int_equal(atomic_load(&f->cb.written), 1000);
    assert_int_equal(atomic_load(&f->cb.dropped), 0);
    assert_int_equal(aw_ring_drops(&f->ring), 0);
}

/* The SESSION wall clock is the first buffer's arrival less its length;
 * the host's timestamps are not trusted for it (PulseAudio's ALSA plugin
 * reports start-up latency that is not there). */
static void test_capture_callback_dates_first_sample(void **state)
{
    struct fixture *f = *state;
    PaStreamCallbackTimeInfo ti = {.inputBufferAdcTime = 100.0,
                                   .currentTime = 100.5};
    int64_t before = aw_clock_wall_ms();
    struct aw_ring_mark m;

    feed(f, 0, 800, &ti, 0); /* 50 ms */
    assert_true(aw_ring_pop_mark(&f->ring, &m));
    assert_int_equal(m.type, AW_RING_MARK_SESSION);
    assert_true(m.wall_ms >= before - 50 - 5);
    assert_true(m.wall_ms <= aw_clock_wall_ms() - 50 + 5);
}

/* An input overflow is counted, not an error: the samples lost (from the
 * jump in ADC time) are announced by a GAP where the audio resumes. */
static void test_capture_callback_overflow_gap(void **state)
{
    struct fixture *f = *state;
    PaStreamCallbackTimeInfo ti = {.inputBufferAdcTime = 10.0,
                                   .currentTime = 10.01};

    feed(f, 0, 160, &ti, 0);
    /* The next buffer should start at 10.01 s; it starts 50 samples
     * later. */
    ti.inputBufferAdcTime = 10.0 + (160.0 + 50.0) / AW_AUDIO_RATE_HZ;
    ti.currentTime = ti.inputBufferAdcTime + 0.01;
    assert_int_equal(feed(f, 1000, 160, &ti, paInputOverflow), paContinue);

    expect_mark(&f->ring, AW_RING_MARK_SESSION, 0, 0);
    expect_mark(&f->ring, AW_RING_MARK_GAP, 160, 50);
    assert_int_equal(aw_ring_head(&f->ring), 320);
    assert_int_equal(atomic_load(&f->cb.overflows), 1);
    assert_int_equal(atomic_load(&f->cb.dropped), 50);
    assert_int_equal(atomic_load(&f->cb.gap_marks), 1);
}

/* Without usable timestamps an overflow is taken as one buffer lost. */
static void test_capture_callback_overflow_without_time(void **state)
{
    struct fixture *f = *state;

    feed(f, 0, 100, NULL, 0);
    feed(f, 100, 80, NULL, paInputOverflow);
    expect_mark(&f->ring, AW_RING_MARK_SESSION, 0, 0);
    expect_mark(&f->ring, AW_RING_MARK_GAP, 100, 80);
    assert_int_equal(atomic_load(&f->cb.overflows), 1);
    assert_int_equal(atomic_load(&f->cb.dropped), 80);
}

/* A full ring drops (a sound card never waits) and counts; the GAP comes
 * where the audio resumes, once the consumer has made room. */
static void test_capture_callback_full_ring_drops_then_gap(void **state)
{
    struct fixture *f = *state;
    int16_t out[200];

    for (int i = 0; i < 5; i++)
        feed(f, i * 1000, 1000, NULL, 0); /* 5000 into 4096 */
    assert_int_equal(aw_ring_head(&f->ring), RING_SAMPLES);
    assert_int_equal(atomic_load(&f->cb.dropped), 5000 - RING_SAMPLES);
    assert_int_equal(aw_ring_drops(&f->ring), 5000 - RING_SAMPLES);
    expect_mark(&f->ring, AW_RING_MARK_SESSION, 0, 0);
    /* No room yet: the GAP waits with the audio. */
    feed(f, 7000, 100, NULL, 0);
    assert_false(aw_ring_pop_mark(&f->ring, &(struct aw_ring_mark){0}));
    assert_int_equal(atomic_load(&f->cb.dropped), 5100 - RING_SAMPLES);

    aw_ring_release(&f->ring, 1000);
    feed(f, 9000, 200, NULL, 0);
    expect_mark(&f->ring, AW_RING_MARK_GAP, RING_SAMPLES, 5100 - RING_SAMPLES);
    assert_int_equal(aw_ring_peek(&f->ring, RING_SAMPLES, out, 200), 200);
    for (int i = 0; i < 200; i++)
        assert_int_equal(out[i], 9000 + i);
    assert_int_equal(atomic_load(&f->cb.gap_marks), 1);
}

/* Nothing blocks: a full ring and a full mark queue only count. */
static void test_capture_callback_never_blocks(void **state)
{
    struct fixture *f = *state;
    uint64_t t0 = aw_clock_mono_us(), gaps = 0;
    struct aw_ring_mark m;

    for (int i = 0; i < 100000; i++)
        assert_int_equal(
            feed(f, 0, 1000, NULL, i % 7 == 0 ? paInputOverflow : 0),
            paContinue);
    /* 100 M samples offered to a 4096-sample ring nobody reads. */
    assert_true(atomic_load(&f->cb.dropped) >= 100000ull * 1000 - RING_SAMPLES);
    assert_true(aw_clock_mono_us() - t0 < 10 * 1000000ull);

    /* Now fill the mark queue with GAPs while the consumer frees samples
     * but never reads marks: the callback keeps going and a GAP is still
     * pending, not lost. */
    for (int i = 0; i < 100; i++) {
        aw_ring_release(&f->ring, aw_ring_head(&f->ring));
        feed(f, 0, 1000, NULL, paInputOverflow);
    }
    assert_true(aw_ring_mark_drops(&f->ring) > 0);
    while (aw_ring_pop_mark(&f->ring, &m))
        gaps += m.type == AW_RING_MARK_GAP;
    assert_int_equal(gaps, RING_MARKS - 1);
    assert_true(f->cb.pending_gap > 0);
    aw_ring_release(&f->ring, aw_ring_head(&f->ring));
    feed(f, 0, 10, NULL, 0);
    assert_true(aw_ring_pop_mark(&f->ring, &m));
    assert_int_equal(m.type, AW_RING_MARK_GAP);
    assert_int_equal(f->cb.pending_gap, 0);
}

/* No input buffer is a hole, not silence. */
static void test_capture_callback_null_input_is_lost(void **state)
{
    struct fixture *f = *state;

    feed(f, 0, 100, NULL, 0);
    assert_int_equal(aw_capture_callback(NULL, NULL, 64, NULL, 0, &f->cb),
                     paContinue);
    feed(f, 100, 100, NULL, 0);
    expect_mark(&f->ring, AW_RING_MARK_SESSION, 0, 0);
    expect_mark(&f->ring, AW_RING_MARK_GAP, 100, 64);
    assert_int_equal(aw_ring_head(&f->ring), 200);
}

/* Audio that cannot have its SESSION before it is dropped, so no sample
 * belongs to no session. */
static void test_capture_callback_session_waits_for_mark_room(void **state)
{
    struct fixture *f = *state;
    struct aw_ring_mark m, filler;

    memset(&filler, 0, sizeof(filler));
    filler.type = AW_RING_MARK_TITLE;
    while (aw_ring_mark(&f->ring, &filler))
        ;
    feed(f, 0, 100, NULL, 0);
    assert_int_equal(aw_ring_head(&f->ring), 0);
    assert_int_equal(atomic_load(&f->cb.dropped), 100);
    assert_false(atomic_load(&f->cb.session_marked));

    assert_true(aw_ring_pop_mark(&f->ring, &m));
    feed(f, 100, 100, NULL, 0);
    assert_true(atomic_load(&f->cb.session_marked));
    assert_int_equal(aw_ring_head(&f->ring), 100);
}

/* Re-arming for a new session keeps the counters and queues a new
 * SESSION with the next audio. */
static void test_capture_callback_rearm_new_session(void **state)
{
    struct fixture *f = *state;
    struct aw_ring_mark session;

    feed(f, 0, 100, NULL, 0);
    memset(&session, 0, sizeof(session));
    strcpy(session.text, "portaudio:again");
    aw_capture_cb_arm(&f->cb, &f->ring, NULL, 1, AW_AUDIO_RATE_HZ, &session);
    assert_false(atomic_load(&f->cb.session_marked));
    feed(f, 100, 100, NULL, 0);
    expect_mark(&f->ring, AW_RING_MARK_SESSION, 0, 0);
    expect_mark(&f->ring, AW_RING_MARK_SESSION, 100, 0);
    assert_int_equal(atomic_load(&f->cb.written), 200);
}

/* --- the float FIFO and the resampling path ----------------------------- */

#define FLT_RATE 48000
#define FLT_CH   2
#define FLT_BUF  480 /* 10 ms */
#define TONE_HZ  440.0
#define TWO_PI   6.283185307179586 /* M_PI is not C11 */

struct collect {
    int16_t *pcm;
    size_t n, cap;
    uint64_t gaps, lost;
    size_t gap_at; /* output samples before the first gap */
};

static void collect_pcm(void *opaque, const int16_t *pcm, size_t n)
{
    struct collect *c = opaque;

    assert_true(c->n + n <= c->cap);
    memcpy(c->pcm + c->n, pcm, n * sizeof(*pcm));
    c->n += n;
}

static void collect_gap(void *opaque, uint64_t lost)
{
    struct collect *c = opaque;

    if (!c->gaps)
        c->gap_at = c->n;
    c->gaps++;
    c->lost += lost;
}

static void fill_tone(float *buf, size_t frames, uint64_t start)
{
    for (size_t i = 0; i < frames; i++) {
        double t = (double)(start + i) / FLT_RATE;
        float v = (float)(0.5 * sin(TWO_PI * TONE_HZ * t));

        for (int ch = 0; ch < FLT_CH; ch++)
            buf[i * FLT_CH + ch] = v;
    }
}

/* 48 kHz stereo float -> the callback -> the FIFO -> the resampler ->
 * 16 kHz mono: a second of tone comes out as a second of the same tone. */
static void test_capture_float_path_resamples_to_16k_mono(void **state)
{
    struct aw_capture_conv conv;
    struct aw_capture_cb cb;
    struct collect col = {0};
    const struct aw_capture_conv_sink sink = {collect_pcm, collect_gap, &col};
    float buf[FLT_BUF * FLT_CH];
    char errstr[256];
    size_t crossings = 0;
    int peak = 0;

    (void)state;
    assert_int_equal(
        aw_capture_conv_init(&conv, FLT_RATE, FLT_CH, errstr, sizeof(errstr)),
        AW_OK);
    aw_capture_cb_init(&cb);
    aw_capture_cb_arm(&cb, NULL, &conv.fifo, FLT_CH, FLT_RATE, NULL);
    col.cap = 2 * AW_AUDIO_RATE_HZ;
    col.pcm = calloc(col.cap, sizeof(*col.pcm));
    assert_non_null(col.pcm);

    for (uint64_t k = 0; k < 100; k++) { /* 1 s, drained every 50 ms */
        fill_tone(buf, FLT_BUF, k * FLT_BUF);
        assert_int_equal(aw_capture_callback(buf, NULL, FLT_BUF, NULL, 0, &cb),
                         paContinue);
        if (k % 5 == 4)
            assert_int_equal(aw_capture_conv_drain(&conv, false, &sink), AW_OK);
    }
    assert_int_equal(aw_capture_conv_drain(&conv, true, &sink), AW_OK);
    assert_int_equal(atomic_load(&cb.written), 100 * FLT_BUF);
    assert_int_equal(atomic_load(&cb.dropped), 0);
    assert_int_equal(col.gaps, 0);

    /* One second in, one second out (the resampler's delay drained). */
    assert_true(col.n >= AW_AUDIO_RATE_HZ - 16 &&
                col.n <= AW_AUDIO_RATE_HZ + 16);
    for (size_t i = 1000; i < col.n - 1000; i++) {
        int v = abs(col.pcm[i]);

        peak = v > peak ? v : peak;
        crossings += (col.pcm[i - 1] < 0) != (col.pcm[i] < 0);
    }
    /* 440 Hz: 880 zero crossings a second, over the 14,000 samples
     * looked at; amplitude 0.5 of full scale, the channels averaged. */
    assert_true(crossings >= 760 && crossings <= 780);
    assert_true(peak >= 15500 && peak <= 17000);

    free(col.pcm);
    aw_capture_conv_fini(&conv);
}

/* A FIFO that overflows (the thread fell behind) drops in the callback and
 * reports the loss, in 16 kHz samples, between the right two blocks. */
static void test_capture_float_path_reports_loss_in_order(void **state)
{
    struct aw_capture_conv conv;
    struct aw_capture_cb cb;
    struct collect col = {0};
    const struct aw_capture_conv_sink sink = {collect_pcm, collect_gap, &col};
    size_t fifo_frames, offered = 0;
    float buf[FLT_BUF * FLT_CH];
    char errstr[256];

    (void)state;
    assert_int_equal(
        aw_capture_conv_init(&conv, FLT_RATE, FLT_CH, errstr, sizeof(errstr)),
        AW_OK);
    fifo_frames = conv.fifo.mask + 1;
    aw_capture_cb_init(&cb);
    aw_capture_cb_arm(&cb, NULL, &conv.fifo, FLT_CH, FLT_RATE, NULL);
    col.cap = 8 * AW_AUDIO_RATE_HZ;
    col.pcm = calloc(col.cap, sizeof(*col.pcm));
    assert_non_null(col.pcm);

    /* Offer half a second more than the FIFO holds, undrained. */
    while (offered < fifo_frames + FLT_RATE / 2) {
        fill_tone(buf, FLT_BUF, offered);
        aw_capture_callback(buf, NULL, FLT_BUF, NULL, 0, &cb);
        offered += FLT_BUF;
    }
    assert_int_equal(atomic_load(&cb.dropped), offered - fifo_frames);
    assert_int_equal(aw_capture_conv_drain(&conv, false, &sink), AW_OK);
    assert_int_equal(col.gaps, 0); /* the loss is queued with new audio */

    fill_tone(buf, FLT_BUF, offered);
    aw_capture_callback(buf, NULL, FLT_BUF, NULL, 0, &cb);
    assert_int_equal(aw_capture_conv_drain(&conv, true, &sink), AW_OK);
    assert_int_equal(col.gaps, 1);
    assert_int_equal(col.lost, (offered - fifo_frames) / 3);
    /* The gap sits after the FIFO's worth of audio (give or take the
     * resampler's delay). */
    assert_true(col.gap_at + 32 >= fifo_frames / 3 &&
                col.gap_at <= fifo_frames / 3 + 32);
    assert_true(col.n >= (fifo_frames + FLT_BUF) / 3 - 32);

    free(col.pcm);
    aw_capture_conv_fini(&conv);
}

static void test_capture_fifo_wraps_and_orders(void **state)
{
    struct aw_capture_fifo fifo;
    float in[300], out[300];
    uint64_t gap;
    float next = 0;

    (void)state;
    assert_int_equal(aw_capture_fifo_init(&fifo, 256, 1), AW_OK);
    for (int round = 0; round < 20; round++) {
        size_t n;

        for (int i = 0; i < 200; i++)
            in[i] = (float)(round * 200 + i);
        assert_int_equal(aw_capture_fifo_write(&fifo, in, 200), 200);
        n = aw_capture_fifo_read(&fifo, out, 300, &gap);
        assert_int_equal(n, 200);
        assert_int_equal(gap, 0);
        for (size_t i = 0; i < n; i++)
            assert_true(out[i] == next++);
    }
    /* Over capacity: the rest is refused, not overwritten. */
    assert_int_equal(aw_capture_fifo_write(&fifo, in, 300), 256);
    assert_true(aw_capture_fifo_gap(&fifo, 44));
    assert_int_equal(aw_capture_fifo_read(&fifo, out, 300, &gap), 256);
    assert_int_equal(aw_capture_fifo_read(&fifo, out, 300, &gap), 0);
    assert_int_equal(gap, 44);
    aw_capture_fifo_fini(&fifo);
    assert_int_equal(aw_capture_fifo_init(&fifo, 0, 1), AW_ERR_INVAL);
}

/* --- two threads ---------------------------------------------------------- */

#define SPSC_CALLS 20000
#define SPSC_BUF   256

struct spsc {
    struct aw_ring ring;
    struct aw_capture_fifo fifo;
    struct aw_capture_cb cb;
    atomic_bool done;
};

/* The callback on its own thread, offering a counter: every sample offered
 * is the previous plus one, whether or not it fits. */
static void *spsc_producer(void *arg)
{
    struct spsc *t = arg;
    int16_t pcm[SPSC_BUF];
    float flt[SPSC_BUF];
    uint32_t v = 0;

    for (int k = 0; k < SPSC_CALLS; k++) {
        for (int i = 0; i < SPSC_BUF; i++, v++) {
            pcm[i] = (int16_t)(uint16_t)v;
            flt[i] = (float)(v & 0xffffff);
        }
        if (t->cb.fifo)
            aw_capture_callback(flt, NULL, SPSC_BUF, NULL, 0, &t->cb);
        else
            aw_capture_callback(pcm, NULL, SPSC_BUF, NULL, 0, &t->cb);
        /* Now and then let the consumer in, so the two really interleave
         * (and the ring runs both full and empty). */
        if (k % 8 == 0) {
            struct timespec ts = {0, 20000};

            nanosleep(&ts, NULL);
        }
    }
    atomic_store(&t->done, true);
    return NULL;
}

/* Direct path, producer and consumer on two threads (run it under TSan):
 * what arrives is in order, and each hole is exactly what its GAP says. */
static void test_capture_callback_spsc_threads(void **state)
{
    struct spsc *t = calloc(1, sizeof(*t));
    struct aw_ring_mark marks[64], m;
    size_t nmarks = 0, gaps = 0;
    uint64_t pos = 0, expect = 0, got = 0;
    pthread_t th;

    (void)state;
    assert_non_null(t);
    assert_int_equal(aw_ring_init(&t->ring, 1024, 1024), AW_OK);
    aw_capture_cb_init(&t->cb);
    aw_capture_cb_arm(&t->cb, &t->ring, NULL, 1, AW_AUDIO_RATE_HZ, NULL);
    atomic_init(&t->done, false);
    assert_int_equal(pthread_create(&th, NULL, spsc_producer, t), 0);
    for (;;) {
        bool done = atomic_load(&t->done);
        /* Marks are queued before the samples they precede: read the head
         * first, and every mark up to it is there. */
        uint64_t head = aw_ring_head(&t->ring);

        while (nmarks < AW_ARRAY_SIZE(marks) && aw_ring_pop_mark(&t->ring, &m))
            marks[nmarks++] = m;
        while (pos < head) {
            uint64_t until = head;
            int16_t buf[512];
            size_t n;

            if (nmarks && marks[0].pos <= pos) {
                if (marks[0].type == AW_RING_MARK_GAP) {
                    expect += marks[0].lost_samples;
                    gaps++;
                }
                memmove(marks, marks + 1, --nmarks * sizeof(marks[0]));
                continue;
            }
            if (nmarks && marks[0].pos < until)
                until = marks[0].pos;
            n = aw_ring_peek(&t->ring, pos, buf,
                             until - pos < 512 ? (size_t)(until - pos) : 512);
            for (size_t i = 0; i < n; i++, expect++)
                assert_int_equal(buf[i], (int16_t)(uint16_t)expect);
            pos += n;
            got += n;
            aw_ring_release(&t->ring, pos);
        }
        if (done && pos == aw_ring_head(&t->ring))
            break;
    }
    pthread_join(th, NULL);
    /* A GAP still pending at the end is announced by the thread, after
     * the stream stops. */
    expect += t->cb.pending_gap;
    assert_int_equal(expect, (uint64_t)SPSC_CALLS * SPSC_BUF);
    assert_int_equal(got, atomic_load(&t->cb.written));
    assert_int_equal(got + atomic_load(&t->cb.dropped),
                     (uint64_t)SPSC_CALLS * SPSC_BUF);
    assert_int_equal(aw_ring_mark_drops(&t->ring), 0);
    assert_int_equal(aw_ring_drops(&t->ring), atomic_load(&t->cb.dropped));
    print_message("direct: %llu samples through, %llu dropped, %zu GAP marks\n",
                  (unsigned long long)got,
                  (unsigned long long)atomic_load(&t->cb.dropped), gaps);
    aw_ring_fini(&t->ring);
    free(t);
}

/* The same through the float FIFO, its loss records included. */
static void test_capture_fifo_spsc_threads(void **state)
{
    struct spsc *t = calloc(1, sizeof(*t));
    uint64_t expect = 0, got = 0, gaps = 0;
    float buf[300];
    pthread_t th;

    (void)state;
    assert_non_null(t);
    assert_int_equal(aw_capture_fifo_init(&t->fifo, 1024, 1), AW_OK);
    aw_capture_cb_init(&t->cb);
    aw_capture_cb_arm(&t->cb, NULL, &t->fifo, 1, 48000, NULL);
    atomic_init(&t->done, false);
    assert_int_equal(pthread_create(&th, NULL, spsc_producer, t), 0);
    for (;;) {
        bool done = atomic_load(&t->done);
        uint64_t gap = 0;
        size_t n = aw_capture_fifo_read(&t->fifo, buf, 300, &gap);

        if (gap) {
            expect += gap;
            gaps++;
            continue;
        }
        for (size_t i = 0; i < n; i++, expect++)
            assert_true(buf[i] == (float)(expect & 0xffffff));
        got += n;
        /* done was read before the FIFO was: nothing more can come. */
        if (!n && done)
            break;
    }
    pthread_join(th, NULL);
    expect += t->cb.pending_gap;
    assert_int_equal(expect, (uint64_t)SPSC_CALLS * SPSC_BUF);
    assert_int_equal(got + atomic_load(&t->cb.dropped),
                     (uint64_t)SPSC_CALLS * SPSC_BUF);
    print_message("fifo: %llu frames through, %llu dropped, %llu losses\n",
                  (unsigned long long)got,
                  (unsigned long long)atomic_load(&t->cb.dropped),
                  (unsigned long long)gaps);
    aw_capture_fifo_fini(&t->fifo);
    free(t);
}

/* --- the device matcher -------------------------------------------------- */

static const struct aw_capture_dev devs[] = {
    {.index = 0, .name = "filecap", .host_api = "ALSA"},
    {.index = 1, .name = "default", .host_api = "ALSA", .is_default = true},
    {.index = 2, .name = "sysdefault", .host_api = "ALSA"},
    {.index = 3,
     .name = "HDA Intel PCH: ALC892 Analog (hw:0,0)",
     .host_api = "ALSA"},
    {.index = 5, .name = "USB Audio Device: - (hw:1,0)", .host_api = "ALSA"},
    {.index = 6, .name = "USB Audio Device: Mic (hw:2,0)", .host_api = "ALSA"},
};

static enum aw_err match(const char *spec, size_t *k, char *errstr, size_t size)
{
    return aw_capture_match_device(spec, devs, AW_ARRAY_SIZE(devs), k, errstr,
                                   size);
}

static void test_capture_match_device(void **state)
{
    char errstr[512];
    size_t k = 99;

    (void)state;
    /* The default input, however it is asked for. */
    assert_int_equal(match("", &k, errstr, sizeof(errstr)), AW_OK);
    assert_int_equal(devs[k].index, 1);
    assert_int_equal(match("default", &k, errstr, sizeof(errstr)), AW_OK);
    assert_int_equal(devs[k].index, 1);
    /* An exact name beats a part of a longer one. */
    assert_int_equal(match("sysdefault", &k, errstr, sizeof(errstr)), AW_OK);
    assert_int_equal(devs[k].index, 2);
    /* An index. */
    assert_int_equal(match("3", &k, errstr, sizeof(errstr)), AW_OK);
    assert_int_equal(devs[k].index, 3);
    assert_int_equal(match("6", &k, errstr, sizeof(errstr)), AW_OK);
    assert_int_equal(k, 5);
    /* A case-blind part of exactly one name. */
    assert_int_equal(match("FILE", &k, errstr, sizeof(errstr)), AW_OK);
    assert_int_equal(devs[k].index, 0);
    assert_int_equal(match("alc892", &k, errstr, sizeof(errstr)), AW_OK);
    assert_int_equal(devs[k].index, 3);
    assert_int_equal(match("usb audio device: mic", &k, errstr, sizeof(errstr)),
                     AW_OK);
    assert_int_equal(devs[k].index, 6);
}

static void test_capture_match_device_lists_candidates(void **state)
{
    char errstr[512];
    size_t k;

    (void)state;
    /* Several: refused, naming them. */
    assert_int_equal(match("usb audio", &k, errstr, sizeof(errstr)),
                     AW_ERR_INVAL);
    assert_non_null(strstr(errstr, "'usb audio' matches 2 input devices"));
    assert_non_null(strstr(errstr, "[5] 'USB Audio Device: - (hw:1,0)'"));
    assert_non_null(strstr(errstr, "[6] 'USB Audio Device: Mic (hw:2,0)'"));
    assert_null(strstr(errstr, "filecap"));
    /* None: refused, listing every input. */
    assert_int_equal(match("nosuch", &k, errstr, sizeof(errstr)),
                     AW_ERR_NOT_FOUND);
    assert_non_null(strstr(errstr, "no input device matches 'nosuch'"));
    assert_non_null(strstr(errstr, "[0] 'filecap', [1] 'default'"));
    assert_int_equal(match("4", &k, errstr, sizeof(errstr)), AW_ERR_NOT_FOUND);
    assert_non_null(strstr(errstr, "no input device has index 4"));
    /* No default input; no input at all. */
    assert_int_equal(aw_capture_match_device("default", devs + 2, 2, &k, errstr,
                                             sizeof(errstr)),
                     AW_ERR_NOT_FOUND);
    assert_non_null(strstr(errstr, "no default input device"));
    assert_int_equal(
        aw_capture_match_device("", NULL, 0, &k, errstr, sizeof(errstr)),
        AW_ERR_NOT_FOUND);
    assert_non_null(strstr(errstr, "no capture devices"));
    /* A short buffer truncates, never overflows. */
    assert_int_equal(match("nosuch", &k, errstr, 16), AW_ERR_NOT_FOUND);
    assert_int_equal(strlen(errstr), 15);
}

/* --- the capture object -------------------------------------------------- */

static void test_capture_new_refuses_bad_options(void **state)
{
    struct aw_capture_opts o;
    struct aw_ring ring;
    char errstr[256];

    (void)state;
    assert_int_equal(aw_ring_init(&ring, 1024, 8), AW_OK);
    aw_capture_opts_init(&o);
    o.url = "http://example.org/a.mp3";
    assert_null(aw_capture_new(&o, &ring, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "portaudio:DEVICE"));
    o.url = "portaudio:default";
    o.stall_timeout_seconds = 0;
    assert_null(aw_capture_new(&o, &ring, errstr, sizeof(errstr)));
    aw_capture_opts_init(&o);
    o.url = "portaudio:default";
    assert_null(aw_capture_new(&o, NULL, errstr, sizeof(errstr)));
    aw_capture_destroy(NULL);
    aw_ring_fini(&ring);

    /* The pipeline picks this module for portaudio: URLs only. */
    assert_ptr_equal(aw_source_for("portaudio:"), &aw_source_portaudio_ops);
    assert_ptr_equal(aw_source_for("portaudio:USB Mic"),
                     &aw_source_portaudio_ops);
    assert_ptr_equal(aw_source_for("/tmp/a.wav"), &aw_source_ffmpeg_ops);
}

/* A device that does not exist ends the stream at once (a typo must show),
 * with a final END that says why: a real PortAudio, no device needed. */
static void test_capture_unknown_device_fails_with_final_end(void **state)
{
    struct aw_capture_stats st;
    struct aw_capture_opts o;
    struct aw_capture *cap;
    struct aw_ring ring;
    struct aw_ring_mark m;
    char errstr[256], msg[256];
    enum aw_err err;

    (void)state;
#if defined(__SANITIZE_THREAD__)
    /* PortAudio, ALSA and libpulse are not instrumented: ThreadSanitizer
     * reports their own atomics as races. The two-thread tests above cover
     * our side. */
    skip();
#endif
    assert_int_equal(aw_ring_init(&ring, 1024, 8), AW_OK);
    aw_capture_opts_init(&o);
    o.stream_id = "unit";
    o.url = "portaudio:no-such-device-anywhere-0123";
    o.max_reconnects = 0; /* an environment where PortAudio fails: once */
    cap = aw_capture_new(&o, &ring, errstr, sizeof(errstr));
    assert_non_null(cap);
    aw_capture_stats(cap, &st);
    assert_int_equal(st.state, AW_CAPTURE_IDLE);
    assert_int_equal(aw_capture_start(cap), AW_OK);
    assert_int_equal(aw_capture_start(cap), AW_ERR_INVAL);
    aw_capture_join(cap);
    assert_true(aw_capture_done(cap));
    aw_capture_error(cap, &err, msg, sizeof(msg));
    /* Where PortAudio cannot initialise at all, that is the reason. */
    if (err == AW_ERR_IO)
        assert_non_null(strstr(msg, "PortAudio"));
    else
        assert_int_equal(err, AW_ERR_NOT_FOUND);
    aw_capture_stats(cap, &st);
    assert_int_equal(st.state, AW_CAPTURE_FAILED);
    assert_int_equal(st.sessions, 0);

    assert_true(aw_ring_pop_mark(&ring, &m));
    assert_int_equal(m.type, AW_RING_MARK_END);
    assert_true(m.final);
    assert_int_equal(m.err, err);
    assert_string_equal(m.text, msg);
    assert_false(aw_ring_pop_mark(&ring, &m));
    aw_capture_destroy(cap);
    aw_ring_fini(&ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_capture_callback_samples_in_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_capture_callback_dates_first_sample, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_callback_overflow_gap,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_capture_callback_overflow_without_time, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_capture_callback_full_ring_drops_then_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_callback_never_blocks,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_capture_callback_null_input_is_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_capture_callback_session_waits_for_mark_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_callback_rearm_new_session,
                                        setup, teardown),
        cmocka_unit_test(test_capture_float_path_resamples_to_16k_mono),
        cmocka_unit_test(test_capture_float_path_reports_loss_in_order),
        cmocka_unit_test(test_capture_fifo_wraps_and_orders),
        cmocka_unit_test(test_capture_callback_spsc_threads),
        cmocka_unit_test(test_capture_fifo_spsc_threads),
        cmocka_unit_test(test_capture_match_device),
        cmocka_unit_test(test_capture_match_device_lists_candidates),
        cmocka_unit_test(test_capture_new_refuses_bad_options),
        cmocka_unit_test(test_capture_unknown_device_fails_with_final_end),
    };

    return cmocka_run_group_tests_name("capture", tests, NULL, NULL);
}
