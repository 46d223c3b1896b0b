/*
 * Unit tests of the speech session state machine (src/stt/session.c) with
 * the real Azure provider against a scripted in-process service: what a
 * user cares about is that every phrase of the audio is published once, at
 * the right place on the timeline, whatever the connection does.
 *
 * The test audio encodes its own timeline: every sample holds its capture
 * session millisecond (idx / 16), so the fake service knows exactly which
 * audio each turn received and answers with phrases at fixed places.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "airwave/audio.h"
#include "airwave/log.h"
#include "pipeline/ring.h"
#include "stt/session.h"
#include "stt/usp.h"

#define MAX_OUT   64
#define RING_SECS 8

struct phrase_def {
    int64_t start_ms, end_ms;
    const char *text;
};

/* Utterances of the test stream, on the capture session's timeline. */
static const struct phrase_def phrases[] = {
    {300, 1800, "First phrase."},  {2300, 3900, "Second phrase."},
    {4500, 5200, "Third."},        {5800, 7400, "Fourth phrase."},
    {8000, 9600, "Fifth phrase."}, {10100, 11500, "Sixth."},
};

struct published {
    char text[64];
    char id[37];
    int64_t offset_ms, duration_ms;
};

struct fake {
    /* transport side */
    int connects;
    bool connected;
    bool want_write;
    int closes_requested;
    int last_close_code;
    /* service side */
    bool config_seen;
    char rid[33];
    int turn_frames;      /* context + riff seen for rid */
    int64_t turn_base_ms; /* -1 until the first audio sample */
    int64_t received_ms;  /* turn audio received, in capture-session ms */
    size_t next_phrase;   /* first phrase not yet answered in this turn */
    bool ended;           /* end of audio received */
    int turns;
    int first_samples_ms[16]; /* where each turn began */
    /* script */
    int close_after_chunks; /* 0: never */
    int close_code;
    int chunks;
    bool ignore_audio;           /* a service that never answers */
    bool end_turn_after_phrase2; /* service ends a turn mid-stream */
    bool repeat_phrases;         /* a misbehaving service sends each twice */
    int http_status;             /* refuse the upgrade */
    /* outputs */
    size_t samples;           /* audio samples received, all turns */
    size_t frame_samples_min; /* smallest audio frame after a turn's first */
    struct published out[MAX_OUT];
    size_t nout;
    int events[8];
    double lost_seconds;
};

static struct fake fk;
static uint64_t fake_now;

static uint64_t clock_ms(void)
{
    return fake_now;
}

static enum aw_err io_connect(void *opaque, const struct aw_stt_handshake *hs)
{
    (void)opaque;
    assert_non_null(strstr(hs->url, "language=en-US"));
    assert_string_equal(hs->headers[0].name, "X-ConnectionId");
    fk.connects++;
    fk.connected = false;
    return AW_OK;
}

static void io_close(void *opaque, int code, const char *reason)
{
    (void)opaque;
    (void)reason;
    fk.closes_requested++;
    fk.last_close_code = code;
}

static void io_want_write(void *opaque)
{
    (void)opaque;
    fk.want_write = true;
}

static void io_transcript(void *opaque, const struct aw_transcript *t)
{
    struct published *p = &fk.out[fk.nout++];

    (void)opaque;
    assert_true(fk.nout <= MAX_OUT);
    snprintf(p->text, sizeof(p->text), "%s", t->text);
    memcpy(p->id, t->id, sizeof(p->id));
    p->offset_ms = t->offset_ms;
    p->duration_ms = t->duration_ms;
    assert_string_equal(t->stream_id, "radio-1");
    assert_string_equal(t->provider, "azure");
    assert_true(t->end_wall_ms - t->start_wall_ms == t->duration_ms);
}

static void io_event(void *opaque, const struct aw_stream_event *e)
{
    (void)opaque;
    fk.events[e->type]++;
    if (e->type == AW_EVENT_DISCONTINUITY)
        fk.lost_seconds += e->lost_seconds;
}

static const struct aw_stt_session_io io = {
    .connect = io_connect,
    .close = io_close,
    .want_write = io_want_write,
    .transcript = io_transcript,
    .event = io_event,
};

/* --- the fake service --------------------------------------------------- */

static void reply(struct aw_stt_session *s, const char *path, const char *body)
{
    uint8_t buf[2048];
    size_t len;

    assert_int_equal(aw_usp_build_text(buf, sizeof(buf), &len, path, fk.rid,
                                       "application/json; charset=utf-8", body,
                                       strlen(body)),
                     AW_OK);
    aw_stt_session_on_message(s, buf, len, false);
}

static void service_close(struct aw_stt_session *s, int code)
{
    fk.connected = false;
    aw_stt_session_on_close(s, code, 0, AW_OK, "");
}

/* Answer every phrase whose audio the turn has received completely. */
static void service_answer(struct aw_stt_session *s)
{
    while (fk.next_phrase < AW_ARRAY_SIZE(phrases) && fk.turn_base_ms >= 0) {
        const struct phrase_def *p = &phrases[fk.next_phrase];
        char body[256];
        int64_t start = p->start_ms - fk.turn_base_ms;

        if (p->end_ms > fk.received_ms && !fk.ended)
            break;
        if (p->end_ms > fk.received_ms)
            break; /* the audio ended before this phrase */
        if (start < 0) {
            /* The replay started inside this phrase: the service only
             * hears its tail, and says so with a shorter phrase. */
            start = 0;
        }
        snprintf(body, sizeof(body),
                 "{\"RecognitionStatus\":\"Success\",\"DisplayText\":\"%s\","
                 "\"Offset\":%lld,\"Duration\":%lld}",
                 p->text, (long long)start * 10000,
                 (long long)(p->end_ms - fk.turn_base_ms - start) * 10000);
        reply(s, "speech.phrase", body);
        if (fk.repeat_phrases)
            reply(s, "speech.phrase", body);
        fk.next_phrase++;
        if (fk.end_turn_after_phrase2 && fk.next_phrase == 2 && !fk.ended) {
            fk.end_turn_after_phrase2 = false;
            reply(s, "turn.end", "{}");
            fk.rid[0] = '\0';
            return;
        }
    }
    if (fk.ended && fk.rid[0]) {
        reply(s, "speech.endDetected", "{\"Offset\":0}");
        reply(s, "turn.end", "{}");
        fk.rid[0] = '\0';
    }
}

static void service_receive(struct aw_stt_session *s, const uint8_t *buf,
                            size_t len, bool binary)
{
    struct aw_usp_msg m;

    assert_int_equal(aw_usp_parse(buf, len, binary, NULL, &m, NULL), AW_OK);
    if (aw_usp_path_is(&m, "speech.config")) {
        assert_false(binary);
        fk.config_seen = true;
        return;
    }
    assert_true(fk.config_seen);
    assert_int_equal(aw_usp_require(&m, true, NULL), AW_OK);
    if (aw_usp_path_is(&m, "telemetry"))
        return;
    if (aw_usp_path_is(&m, "speech.context")) {
        /* A new turn: a new request id, never one seen before. */
        assert_false(m.request_id_len == 32 &&
                     !memcmp(m.request_id, fk.rid, 32));
        memcpy(fk.rid, m.request_id, 32);
        fk.rid[32] = '\0';
        fk.turn_frames = 1;
        fk.turn_base_ms = -1;
        fk.next_phrase = 0;
        fk.ended = false;
        fk.turns++;
        return;
    }
    assert_true(aw_usp_path_is(&m, "audio"));
    assert_memory_equal(m.request_id, fk.rid, 32);
    if (fk.turn_frames == 1) {
        struct aw_usp_wav_format f;

        assert_int_equal(aw_usp_riff_parse(m.body, m.body_len, &f, NULL),
                         AW_OK);
        assert_int_equal(f.sample_rate_hz, 16000);
        fk.turn_frames = 2;
        reply(s, "turn.start", "{\"context\":{\"serviceTag\":\"x\"}}");
        return;
    }
    if (!m.body_len) {
        fk.ended = true;
    } else {
        int16_t pcm[AW_USP_MAX_AUDIO_BYTES / 2];
        size_t n = m.body_len / 2;

        /* The body follows an odd-length header: copy, don't cast. */
        memcpy(pcm, m.body, n * sizeof(pcm[0]));

        if (fk.turn_base_ms >= 0) {
            /* Within a turn the audio is contiguous: this frame starts
             * in the millisecond the last one ended in, or the next. */
            assert_in_range(pcm[0], fk.received_ms - 1, fk.received_ms);
            fk.frame_samples_min = n < fk.frame_samples_min
                                       ? n
                                       : fk.frame_samples_min;
        }
        fk.samples += n;
        if (fk.turn_base_ms < 0) {
            fk.turn_base_ms = pcm[0];
            if (fk.turns <= 16)
                fk.first_samples_ms[fk.turns - 1] = pcm[0];
            /* Skip phrases that ended before this turn's audio. */
            while (fk.next_phrase < AW_ARRAY_SIZE(phrases) &&
                   phrases[fk.next_phrase].end_ms <= fk.turn_base_ms)
                fk.next_phrase++;
        }
        fk.received_ms = pcm[n - 1] + 1;
        fk.chunks++;
    }
    if (fk.ignore_audio)
        return;
    service_answer(s);
    if (fk.close_after_chunks && fk.chunks == fk.close_after_chunks)
        service_close(s, fk.close_code);
}

/* Run the loop: poll, connect, write everything writable, advance time. */
static void pump(struct aw_stt_session *s, int rounds)
{
    uint8_t buf[16384];

    for (int r = 0; r < rounds; r++) {
        aw_stt_session_poll(s);
        if (fk.closes_requested) {
            /* Our side asked to close: the transport confirms. */
            fk.closes_requested = 0;
            fk.connected = false;
            aw_stt_session_on_close(s, fk.last_close_code, 0, AW_OK, "");
            continue;
        }
        if (fk.connects && !fk.connected) {
            struct aw_stt_stats st;

            aw_stt_session_stats(s, &st);
            if (st.conn_state == AW_STT_CONN_CONNECTING) {
                if (fk.http_status) {
                    aw_stt_session_on_close(s, 0, fk.http_status, AW_ERR_NET,
                                            "refused");
                    continue;
                }
                fk.connected = true;
                fk.config_seen = false;
                fk.rid[0] = '\0';
                aw_stt_session_on_open(s);
            }
        }
        for (int w = 0; w < 64 && fk.connected; w++) {
            size_t len;
            bool binary;

            if (aw_stt_session_next_frame(s, buf, sizeof(buf), &len, &binary) !=
                AW_OK)
                break;
            assert_true(len <= aw_stt_session_max_frame(s));
            service_receive(s, buf, len, binary);
        }
        fake_now += 20;
    }
}

/* Write seconds of self-describing audio: each sample holds its ms. */
static void feed(struct aw_ring *ring, uint64_t *idx, int64_t ms)
{
    int16_t chunk[160];

    for (int64_t i = 0; i < ms * AW_AUDIO_SAMPLES_PER_MS; i += 160) {
        for (int k = 0; k < 160; k++)
            chunk[k] = (int16_t)((*idx + (uint64_t)k) / 16);
        assert_int_equal(aw_ring_write(ring, chunk, 160), 160);
        *idx += 160;
    }
}

static bool live_source;

static void mark(struct aw_ring *ring, enum aw_ring_mark_type type, bool fin)
{
    struct aw_ring_mark m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.wall_ms = 1795694400000;
    m.err = AW_ERR_EOF;
    m.final = fin;
    m.live = live_source;
    snprintf(m.text, sizeof(m.text), "test");
    assert_true(aw_ring_mark(ring, &m));
}

struct fixture {
    struct aw_ring ring;
    struct aw_stt_session *s;
    uint64_t idx;
};

static struct aw_stt_session_opts base_opts(void)
{
    struct aw_stt_session_opts o;

    memset(&o, 0, sizeof(o));
    o.stream_id = "radio-1";
    o.language = "en-US";
    o.provider = "azure";
    o.params.endpoint =
        "ws://127.0.0.1:1/speech/recognition/conversation/cognitiveservices/v1";
    o.params.key = "test-key-1234";
    o.chunk_ms = 100;
    o.connect_timeout_ms = 5000;
    o.turn_start_timeout_ms = 5000;
    o.final_timeout_ms = 5000;
    o.now_ms = clock_ms;
    return o;
}

static struct fixture *make_ring(const struct aw_stt_session_opts *o,
                                 size_t ring_samples)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char errstr[256];

    assert_non_null(f);
    memset(&fk, 0, sizeof(fk));
    fk.frame_samples_min = SIZE_MAX;
    fake_now = 1000;
    live_source = false;
    assert_int_equal(aw_ring_init(&f->ring, ring_samples, 32), AW_OK);
    f->s = aw_stt_session_new(o, &io, NULL, &f->ring, errstr, sizeof(errstr));
    assert_non_null(f->s);
    return f;
}

static struct fixture *make(const struct aw_stt_session_opts *o)
{
    return make_ring(o, RING_SECS * AW_AUDIO_RATE_HZ);
}

static void destroy(struct fixture *f)
{
    aw_stt_session_destroy(f->s);
    aw_ring_fini(&f->ring);
    free(f);
}

/* Feed a whole 12 s "file" in 1 s pieces, as a paced ingest would. */
static void run_file(struct fixture *f)
{
    mark(&f->ring, AW_RING_MARK_SESSION, false);
    for (int sec = 0; sec < 12; sec++) {
        feed(&f->ring, &f->idx, 1000);
        pump(f->s, 60);
    }
    mark(&f->ring, AW_RING_MARK_END, true);
    pump(f->s, 200);
}

static void assert_all_phrases_once(void)
{
    assert_int_equal(fk.nout, AW_ARRAY_SIZE(phrases));
    for (size_t i = 0; i < fk.nout; i++) {
        assert_string_equal(fk.out[i].text, phrases[i].text);
        /* Within one sample-ms of where the phrase really is. */
        assert_true(llabs(fk.out[i].offset_ms - phrases[i].start_ms) <= 1);
        assert_true(llabs(fk.out[i].offset_ms + fk.out[i].duration_ms -
                          phrases[i].end_ms) <= 1);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(fk.out[i].id, fk.out[j].id);
    }
}

static void test_session_publishes_every_phrase_at_its_place(void **state)
{
    struct aw_stt_session_opts o = base_opts();
    struct fixture *f = make(&o);
    enum aw_err err;

    (void)state;
    run_file(f);
    assert_all_phrases_once();
    assert_true(aw_stt_session_done(f->s, &err, NULL));
    assert_int_equal(err, AW_OK);
    assert_int_equal(fk.connects, 1);
    assert_int_equal(fk.events[AW_EVENT_START], 1);
    assert_int_equal(fk.events[AW_EVENT_END], 1);
    destroy(f);
}

static void test_session_sends_across_the_ring_end(void **state)
{
    struct aw_stt_session_opts o = base_opts();
    /* Not a whole number of 100-ms chunks: the 12 s of audio wrap the
     * ring with a chunk straddling its end, which goes out as two
     * frames read in place. */
    struct fixture *f = make_ring(&o, RING_SECS * AW_AUDIO_RATE_HZ + 1000);

    (void)state;
    run_file(f);
    assert_all_phrases_once();
    assert_int_equal(fk.turns, 1);
    assert_int_equal(fk.samples, 12 * AW_AUDIO_RATE_HZ);
    assert_true(fk.frame_samples_min < 1600);
    destroy(f);
}

static void test_session_replays_after_a_dropped_connection(void **state)
{
    struct aw_stt_session_opts o = base_opts();
    struct fixture *f = make(&o);
    struct aw_stt_stats st;

    (void)state;
    /* Closed with 1011 in the middle of the fourth phrase. */
    fk.close_after_chunks = 66;
    fk.close_code = 1011;
    run_file(f);
    assert_all_phrases_once();
    assert_true(fk.connects >= 2);
    /* The new turn started where the last final phrase ended. */
    assert_int_equal(fk.first_samples_ms[1], phrases[2].end_ms);
    aw_stt_session_stats(f->s, &st);
    assert_true(st.replayed_samples > 0);
    assert_int_equal(st.reconnects, 1);
    assert_int_equal(fk.events[AW_EVENT_ROTATION], 1);
    destroy(f);
}

static void test_session_survives_repeated_closes(void **state)
{
    struct aw_stt_session_opts o = base_opts();
    struct fixture *f = make(&o);
    int rounds = 0;

    (void)state;
    /* The service closes 1000 every 15 chunks, as a short connection
     * limit does. */
    mark(&f->ring, AW_RING_MARK_SESSION, false);
    for (int sec = 0; sec < 12; sec++) {
        feed(&f->ring, &f->idx, 1000);
        for (int r = 0; r < 60; r++) {
            pump(f->s, 1);
            if (fk.connected && fk.chunks >= 15) {
                fk.chunks = 0;
                service_close(f->s, 1000);
                rounds++;
            }
        }
    }
    mark(&f->ring, AW_RING_MARK_END, true);
    pump(f->s, 300);
    assert_true(rounds >= 5);
    assert_all_phrases_once();
    destroy(f);
}

static void test_session_rotates_before_the_limit(void **state)
{
    struct aw_stt_session_opts o = base_opts();
    struct fixture *f = make(&o);
    struct aw_stt_stats st;

    (void)state;
    o.rotate_after_ms = 3000;
    o.rotate_grace_ms = 1000;
    aw_stt_session_destroy(f->s);
    f->s = aw_stt_session_new(&o, &io, NULL, &f->ring, NULL, 0);
    run_file(f);
    assert_all_phrases_once();
    aw_stt_session_stats(f->s, &st);
    assert_true(st.rotations >= 3);
    assert_int_equal(st.reconnects, 0);
    destroy(f);
}

static void test_session_new_turn_when_service_ends_one(void **state)
{
    struct aw_stt_session_opts o = base_opts();
    struct fixture *f = make(&o);

    (void)state;
    fk.end_turn_after_phrase2 = true;
    run_file(f);
    assert_all_phrases_once();
    assert_int_equal(fk.connects, 1);
    assert_true(fk.turns >= 2);
    assert_int_equal(fk.first_samples_ms[1], phrases[1].end_ms);
    destroy(f);
}

static void test_session_ignores_repeated_phrases(void **state)
{
    struct aw_stt_session_opts o = base_opts();
    struct fixture *f = make(&o);
    struct aw_stt_stats st;

    (void)state;
    fk.repeat_phrases = true;
    run_file(f);
    assert_all_phrases_once();
    aw_stt_session_stats(f->s, &st);
    assert_int_equal(st.duplicates, AW_ARRAY_SIZE(phrases));
    destroy(f);
}

static void test_session_publishes_source_gaps(void **state)
{
    struct aw_stt_session_opts o = base_opts();
    struct fixture *f = make(&o);
    struct aw_ring_mark m;

    (void)state;
    mark(&f->ring, AW_RING_MARK_SESSION, false);
    feed(&f->ring, &f->idx, 2000);
    pump(f->s, 100);
    /* The source drops and comes back 4 s of broadcast later. */
    mark(&f->ring, AW_RING_MARK_END, false);
    memset(&m, 0, sizeof(m));
    m.type = AW_RING_MARK_SESSION;
    m.wall_ms = 1795694400000 + 2000 + 4000;
    assert_true(aw_ring_mark(&f->ring, &m));
    feed(&f->ring, &f->idx, 1000);
    pump(f->s, 100);
    assert_int_equal(fk.events[AW_EVENT_START], 2);
    assert_int_equal(fk.events[AW_EVENT_END], 1);
    assert_int_equal(fk.events[AW_EVENT_DISCONTINUITY], 1);
    assert_true(fk.lost_seconds > 3.9 && fk.lost_seconds < 4.1);
    destroy(f);
}

static void test_session_finish_publishes_the_end(void **state)
{
    struct aw_stt_session_opts o = base_opts();
    struct fixture *f = make(&o);

    (void)state;
    mark(&f->ring, AW_RING_MARK_SESSION, false);
    feed(&f->ring, &f->idx, 4000);
    pump(f->s, 100);
    /* A graceful stop: the last phrases are published, the capture
     * session's end is an event, and the source's own END, arriving
     * after, is not a second one. */
    aw_stt_session_finish(f->s);
    mark(&f->ring, AW_RING_MARK_END, true);
    pump(f->s, 200);
    assert_true(aw_stt_session_done(f->s, NULL, NULL));
    assert_int_equal(fk.events[AW_EVENT_END], 1);
    assert_int_equal(fk.nout, 2); /* the phrases that ended by 4 s */
    destroy(f);
}

static void test_session_stops_on_refused_key(void **state)
{
    struct aw_stt_session_opts o = base_opts();
    struct fixture *f = make(&o);
    const char *detail;
    enum aw_err err;

    (void)state;
    fk.http_status = 401;
    mark(&f->ring, AW_RING_MARK_SESSION, false);
    feed(&f->ring, &f->idx, 1000);
    pump(f->s, 200);
    assert_true(aw_stt_session_done(f->s, &err, &detail));
    assert_int_equal(err, AW_ERR_AUTH);
    assert_int_equal(fk.connects, 1); /* no retry loop */
    assert_non_null(strstr(detail, "401"));
    assert_int_equal(fk.events[AW_EVENT_ERROR], 1);
    destroy(f);
}

static void test_session_stops_on_close_1007(void **state)
{
    struct aw_stt_session_opts o = base_opts();
    struct fixture *f = make(&o);
    enum aw_err err;

    (void)state;
    fk.close_after_chunks = 1;
    fk.close_code = 1007;
    mark(&f->ring, AW_RING_MARK_SESSION, false);
    feed(&f->ring, &f->idx, 2000);
    pump(f->s, 200);
    assert_true(aw_stt_session_done(f->s, &err, NULL));
    assert_int_equal(err, AW_ERR_REFUSED);
    assert_int_equal(fk.connects, 1);
    destroy(f);
}

static void test_session_gives_up_after_failed_connects(void **state)
{
    struct aw_stt_session_opts o = base_opts();
    struct fixture *f;
    enum aw_err err;
    const char *detail;

    (void)state;
    o.max_failed_connects = 3;
    f = make(&o);
    fk.http_status = 503;
    mark(&f->ring, AW_RING_MARK_SESSION, false);
    feed(&f->ring, &f->idx, 1000);
    pump(f->s, 1000);
    assert_true(aw_stt_session_done(f->s, &err, &detail));
    assert_int_equal(fk.connects, 3);
    assert_non_null(strstr(detail, "cannot connect"));
    assert_null(strstr(detail, "test-key-1234"));
    destroy(f);
}

static void test_session_live_source_sheds_oldest_audio(void **state)
{
    struct aw_stt_session_opts o = base_opts();
    struct fixture *f;
    struct aw_stt_stats st;

    (void)state;
    f = make(&o);
    live_source = true;
    fk.ignore_audio = true;
    mark(&f->ring, AW_RING_MARK_SESSION, false);
    /* The service never confirms anything and the socket stops taking
     * audio (not connected): the ring must not fill up. */
    fk.http_status = 503;
    for (int sec = 0; sec < 20; sec++) {
        size_t space = aw_ring_space(&f->ring);

        assert_true(space >= AW_AUDIO_RATE_HZ);
        feed(&f->ring, &f->idx, 1000);
        pump(f->s, 3);
    }
    aw_stt_session_stats(f->s, &st);
    assert_true(st.dropped_samples > 0);
    assert_true(fk.events[AW_EVENT_DISCONTINUITY] >= 1);
    assert_true(fk.lost_seconds > 1.0);
    assert_int_equal(aw_ring_drops(&f->ring), 0);
    destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_publishes_every_phrase_at_its_place),
        cmocka_unit_test(test_session_sends_across_the_ring_end),
        cmocka_unit_test(test_session_replays_after_a_dropped_connection),
        cmocka_unit_test(test_session_survives_repeated_closes),
        cmocka_unit_test(test_session_rotates_before_the_limit),
        cmocka_unit_test(test_session_new_turn_when_service_ends_one),
        cmocka_unit_test(test_session_ignores_repeated_phrases),
        cmocka_unit_test(test_session_publishes_source_gaps),
        cmocka_unit_test(test_session_finish_publishes_the_end),
        cmocka_unit_test(test_session_stops_on_refused_key),
        cmocka_unit_test(test_session_stops_on_close_1007),
        cmocka_unit_test(test_session_gives_up_after_failed_connects),
        cmocka_unit_test(test_session_live_source_sheds_oldest_audio),
    };

    aw_log_threshold = AW_LOG_ERROR - 1; /* quiet: failures are asserted */
    return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
