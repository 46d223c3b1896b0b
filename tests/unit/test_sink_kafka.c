/*
 * Unit tests of src/sink/kafka.c against librdkafka's mock cluster, run in
 * this process on 127.0.0.1 (TESTBED.md §2.1). The sink connects to it over
 * TCP like to a real cluster; a separate consumer handle reads back what
 * arrived. Covered: round trip and per-key ordering, exactly-once delivery
 * through injected Produce errors and a broker outage, failed deliveries
 * counted (never silent), the flush deadline, a full queue, a fatal producer
 * error, configuration refusals and secrets kept out of the log.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "airwave/clock.h"
#include "airwave/log.h"
#include "airwave/transcript.h"
#include "common/buf.h"
#include "sink/json.h"
#include "sink/kafka.h"
#include "sink/sink.h"

/* API keys are not in the public headers (TESTBED.md §2). */
#define APIKEY_PRODUCE          0
#define APIKEY_INIT_PRODUCER_ID 22

#define MAX_MSGS 512

/* ---- log capture --------------------------------------------------------- */

struct capture {
    pthread_mutex_t lock;
    char *text;
    size_t len, cap;
};

static struct capture logcap = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

static void capture_line(void *opaque, const char *line, size_t len)
{
    struct capture *c = opaque;

    pthread_mutex_lock(&c->lock);
    if (c->len + len + 2 > c->cap && c->cap < (8u << 20)) {
        size_t ncap = (c->cap ? c->cap * 2 : 65536) + len;
        char *p = realloc(c->text, ncap);

        if (p) {
            c->text = p;
            c->cap = ncap;
        }
    }
    if (c->len + len + 2 <= c->cap) {
        memcpy(c->text + c->len, line, len);
        c->len += len;
        c->text[c->len++] = '\n';
        c->text[c->len] = '\0';
    }
    pthread_mutex_unlock(&c->lock);
}

static bool log_has(const char *needle)
{
    bool found;

    pthread_mutex_lock(&logcap.lock);
    found = logcap.text && strstr(logcap.text, needle);
    pthread_mutex_unlock(&logcap.lock);
    return found;
}

static void log_reset(void)
{
    pthread_mutex_lock(&logcap.lock);
    logcap.len = 0;
    if (logcap.text)
        logcap.text[0] = '\0';
    pthread_mutex_unlock(&logcap.lock);
}

/* ---- fixture: one mock cluster per test ------------------------------- */

struct fixture {
    rd_kafka_t *mrk; /* handle the mock cluster lives on */
    rd_kafka_mock_cluster_t *mc;
    char bootstrap[512];
    struct aw_kv kv[16];
    size_t nkv;
    struct aw_conf conf;
};

static int setup_brokers(void **state, int brokers)
{
    struct fixture *f = calloc(1, sizeof(*f));
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char errstr[256];

    if (!f || !c)
        goto fail;
    /* Quiet: this handle only hosts the cluster and would warn that it has
     * no bootstrap.servers. */
    if (rd_kafka_conf_set(c, "log_level", "3", errstr, sizeof(errstr)))
        goto fail;
    f->mrk = rd_kafka_new(RD_KAFKA_PRODUCER, c, errstr, sizeof(errstr));
    if (!f->mrk)
        goto fail;
    c = NULL; /* owned by f->mrk */
    f->mc = rd_kafka_mock_cluster_new(f->mrk, brokers);
    if (!f->mc)
        goto fail;
    aw_errstr_set(f->bootstrap, sizeof(f->bootstrap), "%s",
                  rd_kafka_mock_cluster_bootstraps(f->mc));
    f->conf.path = "test.yaml";
    f->conf.kafka_enabled = true;
    f->conf.kafka_flush_timeout_ms = 3000;
    f->conf.kafka = f->kv;
    log_reset();
    aw_log_set_sink(capture_line, &logcap);
    *state = f;
    return 0;

fail:
    if (c)
        rd_kafka_conf_destroy(c);
    if (f && f->mrk)
        rd_kafka_destroy(f->mrk);
    free(f);
    return -1;
}

static int setup1(void **state)
{
    return setup_brokers(state, 1);
}

static int setup3(void **state)
{
    return setup_brokers(state, 3);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    aw_log_set_sink(NULL, NULL);
    aw_log_clear_secrets();
    /* AW_TEST_SHOW_LOG=1: see what the sink logged in each test. */
    if (getenv("AW_TEST_SHOW_LOG") && logcap.text)
        (void)fputs(logcap.text, stderr);
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->mrk);
    free(f);
    return 0;
}

static void set_kv(struct fixture *f, const char *key, const char *value,
                   int line)
{
    assert_true(f->nkv < AW_ARRAY_SIZE(f->kv));
    f->kv[f->nkv].key = (char *)key;
    f->kv[f->nkv].value = (char *)value;
    f->kv[f->nkv].line = line;
    f->nkv++;
    f->conf.nkafka = f->nkv;
}

/* A sink on the fixture's cluster plus the given extra properties
 * (NULL-terminated key, value pairs). */
static struct aw_kafka *new_sink(struct fixture *f, ...)
{
    struct aw_kafka *k;
    char errstr[512];
    const char *key;
    va_list ap;

    f->nkv = 0;
    set_kv(f, "bootstrap.servers", f->bootstrap, 3);
    va_start(ap, f);
    while ((key = va_arg(ap, const char *)) != NULL)
        set_kv(f, key, va_arg(ap, const char *), 10 + (int)f->nkv);
    va_end(ap);
    k = aw_kafka_new(&f->conf, errstr, sizeof(errstr));
    if (!k)
        fail_msg("aw_kafka_new: %s", errstr);
    return k;
}

/* ---- records ------------------------------------------------------------ */

/* An encoded transcript whose text and id carry \p seq. */
static void make_record(struct aw_buf *b, const char *stream_id, int seq,
                        const char *text_prefix)
{
    char text[128];
    struct aw_transcript t = {
        .stream_id = stream_id,
        .source = "http://127.0.0.1/x.mp3",
        .language = "en-US",
        .text = text,
        .confidence = -1,
        .start_wall_ms = 1795694401230LL + seq * 1000,
        .end_wall_ms = 1795694401230LL + seq * 1000 + 900,
        .offset_ms = seq * 1000,
        .duration_ms = 900,
        .capture_session = "3b1e0000-1111-4222-8333-444455556666",
        .provider = "azure",
    };

    aw_errstr_set(t.id, sizeof(t.id), "00000000-0000-5000-8000-%012d", seq);
    aw_errstr_set(text, sizeof(text), "%s %d", text_prefix, seq);
    aw_buf_reset(b);
    assert_int_equal(aw_json_transcript(b, &t), AW_OK);
}

static int record_seq(const char *value, size_t len)
{
    json_error_t jerr;
    json_t *j = json_loadb(value, len, 0, &jerr);
    const char *id;
    char *end = NULL;
    int seq = -1;

    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "schema")),
                        AW_TRANSCRIPT_SCHEMA);
    id = json_string_value(json_object_get(j, "id"));
    assert_non_null(id);
    seq = (int)strtol(id + 24, &end, 10);
    assert_true(end && *end == '\0');
    json_decref(j);
    return seq;
}

/* ---- consumer ------------------------------------------------------------ */

struct msg {
    char key[80];
    char *value;
    size_t len;
    int32_t partition;
    int64_t offset;
};

static int partitions_of(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n = 0;

    for (int tries = 0; tries < 50 && n == 0; tries++) {
        const struct rd_kafka_metadata *md;

        if (rd_kafka_metadata(rk, 0, rkt, &md, 2000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && !md->topics[0].err)
                n = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
        }
        if (!n) {
            struct timespec ts = {0, 100 * 1000 * 1000};

            nanosleep(&ts, NULL);
        }
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* Read \p topic from the beginning until \p expect messages have arrived
 * (then 500 ms more, to catch duplicates) or nothing came for \p idle_ms.
 * @returns the number read; messages in \p out (free with free_msgs). */
static size_t consume(const char *bootstrap, const char *topic, size_t expect,
                      int idle_ms, struct msg *out, size_t max, int *nparts)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *parts;
    rd_kafka_t *rk;
    char errstr[256];
    uint64_t last, until = 0;
    size_t n = 0;
    int np;

    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, errstr,
                      sizeof(errstr));
    rd_kafka_conf_set(c, "group.id", "aw-test", errstr, sizeof(errstr));
    rd_kafka_conf_set(c, "enable.auto.commit", "false", errstr, sizeof(errstr));
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof(errstr));
    assert_non_null(rk);
    rd_kafka_poll_set_consumer(rk);
    np = partitions_of(rk, topic);
    assert_true(np > 0);
    if (nparts)
        *nparts = np;
    parts = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);

    last = aw_clock_mono_ms();
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        uint64_t now = aw_clock_mono_ms();

        if (m && !m->err && n < max) {
            struct msg *o = &out[n++];

            aw_errstr_set(o->key, sizeof(o->key), "%.*s", (int)m->key_len,
                          (const char *)m->key);
            o->value = malloc(m->len + 1);
            assert_non_null(o->value);
            memcpy(o->value, m->payload, m->len);
            o->value[m->len] = '\0';
            o->len = m->len;
            o->partition = m->partition;
            o->offset = m->offset;
            last = now;
            if (n == expect)
                until = now + 500;
        }
        if (m)
            rd_kafka_message_destroy(m);
        if ((until && now >= until) || now - last >= (uint64_t)idle_ms)
            break;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

static void free_msgs(struct msg *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].value);
        m[i].value = NULL;
    }
}

/* Every (key, seq) exactly once, in order within each key and all of one key
 * in one partition. seqs are 0..per_key-1 for each of keys[]. */
static void check_exactly_once_in_order(const struct msg *m, size_t n,
                                        const char *const *keys, size_t nkeys,
                                        int per_key)
{
    assert_int_equal(n, nkeys * (size_t)per_key);
    for (size_t k = 0; k < nkeys; k++) {
        int next = 0;
        int32_t part = -1;

        for (size_t i = 0; i < n; i++) {
            /* Messages of one partition arrive in offset order; a key's
             * order is its order within its partition. */
            if (strcmp(m[i].key, keys[k]) != 0)
                continue;
            if (part < 0)
                part = m[i].partition;
            assert_int_equal(m[i].partition, part);
            assert_int_equal(record_seq(m[i].value, m[i].len), next);
            next++;
        }
        assert_int_equal(next, per_key);
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void assert_counts(const struct aw_kafka_counts *c, uint64_t produced,
                          uint64_t delivered, uint64_t failed, uint64_t dropped)
{
    assert_int_equal(c->produced, produced);
    assert_int_equal(c->delivered, delivered);
    assert_int_equal(c->failed, failed);
    assert_int_equal(c->dropped, dropped);
}

/* ---- tests ----------------------------------------------------------------
 */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void test_sink_kafka_round_trip(void **state)
{
    static const char *const keys[] = {"radio-a", "radio-b"};
    struct fixture *f = *state;
    struct aw_kafka *k = new_sink(f, NULL);
    struct aw_kafka_stream *st[2];
    struct aw_kafka_counts c;
    struct msg *m = calloc(MAX_MSGS, sizeof(*m));
    uint64_t lat_us[40];
    struct aw_buf b;
    int32_t part[2] = {-1, -1};
    size_t n;
    int nparts = 0;

    assert_non_null(m);
    aw_buf_init(&b, 1 << 20);
    st[0] = aw_kafka_stream_get(k, keys[0]);
    st[1] = aw_kafka_stream_get(k, keys[1]);
    assert_non_null(st[0]);
    assert_ptr_equal(aw_kafka_stream_get(k, keys[0]), st[0]);
    assert_string_equal(aw_kafka_topic_name(k, AW_KAFKA_TRANSCRIPTS),
                        "transcripts");
    assert_string_equal(aw_kafka_topic_name(k, AW_KAFKA_EVENTS),
                        "stream-events");

    /* Phrase -> acknowledged latency, one record at a time (the first one
     * also pays for metadata and the producer id). */
    make_record(&b, "lat", 0, "warm-up");
    assert_int_equal(
        aw_kafka_produce(k, AW_KAFKA_EVENTS, "lat", b.data, b.len, NULL),
        AW_OK);
    assert_int_equal(aw_kafka_flush(k, 10000), 0);
    for (int i = 0; i < 40; i++) {
        uint64_t t0;

        make_record(&b, "lat", i, "latency");
        t0 = aw_clock_mono_us();
        assert_int_equal(
            aw_kafka_produce(k, AW_KAFKA_EVENTS, "lat", b.data, b.len, NULL),
            AW_OK);
        /* Until the sink's own poller has counted the acknowledgement:
         * rd_kafka_flush() would add its own polling granularity. */
        do {
            struct timespec ts = {0, 100 * 1000};

            nanosleep(&ts, NULL);
            aw_kafka_counts(k, AW_KAFKA_EVENTS, &c);
        } while (c.delivered < (uint64_t)i + 2 &&
                 aw_clock_mono_us() - t0 < 5000000);
        lat_us[i] = aw_clock_mono_us() - t0;
    }
    qsort(lat_us, 40, sizeof(lat_us[0]), cmp_u64);
    print_message("produce -> acknowledged: median %.1f ms, 2nd worst of 40 "
                  "%.1f ms, worst %.1f ms\n",
                  (double)lat_us[20] / 1000, (double)lat_us[38] / 1000,
                  (double)lat_us[39] / 1000);
    /* linger.ms=5 plus a loopback round trip; generous for sanitizers. */
    assert_true(lat_us[20] < 100000);

    for (int i = 0; i < 40; i++) {
        make_record(&b, keys[i % 2], i / 2, "phrase");
        assert_int_equal(aw_kafka_produce(k, AW_KAFKA_TRANSCRIPTS, keys[i % 2],
                                          b.data, b.len, st[i % 2]),
                         AW_OK);
    }
    assert_int_equal(aw_kafka_flush(k, 10000), 0);
    aw_kafka_counts(k, AW_KAFKA_TRANSCRIPTS, &c);
    assert_counts(&c, 40, 40, 0, 0);
    aw_kafka_counts(k, AW_KAFKA_EVENTS, &c);
    assert_counts(&c, 41, 41, 0, 0);
    aw_kafka_stream_counts(st[1], AW_KAFKA_TRANSCRIPTS, &c);
    assert_counts(&c, 20, 20, 0, 0);
    aw_kafka_stream_counts(st[1], AW_KAFKA_EVENTS, &c);
    assert_counts(&c, 0, 0, 0, 0);
    assert_int_equal(aw_kafka_queue_depth(k), 0);
    assert_false(aw_kafka_failed(k));

    n = consume(f->bootstrap, "transcripts", 40, 5000, m, MAX_MSGS, &nparts);
    check_exactly_once_in_order(m, n, keys, 2, 20);
    for (size_t k2 = 0; k2 < 2; k2++)
        for (size_t i = 0; i < n; i++)
            if (!strcmp(m[i].key, keys[k2])) {
                part[k2] = m[i].partition;
                break;
            }
    print_message("auto-created topic: %d partitions; radio-a -> %d, "
                  "radio-b -> %d\n",
                  nparts, (int)part[0], (int)part[1]);
    /* murmur2_random, as the Java client: murmur2(key) % 4. */
    assert_int_equal(part[0], 3);
    assert_int_equal(part[1], 1);
    /* Byte for byte what was produced. */
    for (size_t i = 0; i < n; i++) {
        int seq = record_seq(m[i].value, m[i].len);

        make_record(&b, m[i].key, seq, "phrase");
        assert_int_equal(m[i].len, b.len);
        assert_memory_equal(m[i].value, b.data, b.len);
    }
    free_msgs(m, n);
    aw_kafka_destroy(k);
    assert_true(log_has("topic transcripts: 40 produced, 40 delivered, "
                        "0 failed, 0 dropped"));
    aw_buf_fini(&b);
    free(m);
}

static void test_sink_kafka_exactly_once_through_produce_errors(void **state)
{
    static const char *const keys[] = {"radio-x", "radio-y"};
    struct fixture *f = *state;
    struct aw_kafka *k = new_sink(f, NULL);
    struct msg *m = calloc(MAX_MSGS, sizeof(*m));
    struct aw_kafka_counts c;
    struct aw_buf b;
    size_t n;

    assert_non_null(m);
    aw_buf_init(&b, 1 << 20);
    /* The next four Produce requests fail, each with a retriable error: the
     * idempotent producer retries without duplicating or reordering. */
    rd_kafka_mock_push_request_errors(
        f->mc, APIKEY_PRODUCE, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR__TRANSPORT);
    for (int i = 0; i < 200; i++) {
        make_record(&b, keys[i % 2], i / 2, "phrase");
        assert_int_equal(aw_kafka_produce(k, AW_KAFKA_TRANSCRIPTS, keys[i % 2],
                                          b.data, b.len, NULL),
                         AW_OK);
        if (i % 20 == 0)
            sleep_ms(5); /* several batches, so several requests fail */
    }
    assert_int_equal(aw_kafka_flush(k, 30000), 0);
    aw_kafka_counts(k, AW_KAFKA_TRANSCRIPTS, &c);
    assert_counts(&c, 200, 200, 0, 0);

    n = consume(f->bootstrap, "transcripts", 200, 5000, m, MAX_MSGS, NULL);
    check_exactly_once_in_order(m, n, keys, 2, 100);
    free_msgs(m, n);
    aw_kafka_destroy(k);
    aw_buf_fini(&b);
    free(m);
}

static void test_sink_kafka_exactly_once_through_broker_outage(void **state)
{
    static const char *const keys[] = {"radio-z"};
    struct fixture *f = *state;
    struct aw_kafka *k = new_sink(f, NULL);
    struct aw_kafka_stream *st = aw_kafka_stream_get(k, keys[0]);
    struct msg *m = calloc(MAX_MSGS, sizeof(*m));
    struct aw_kafka_counts c;
    struct aw_buf b;
    size_t n;

    assert_non_null(m);
    aw_buf_init(&b, 1 << 20);
    for (int i = 0; i < 20; i++) {
        make_record(&b, keys[0], i, "before");
        assert_int_equal(aw_kafka_produce(k, AW_KAFKA_TRANSCRIPTS, keys[0],
                                          b.data, b.len, st),
                         AW_OK);
    }
    assert_int_equal(aw_kafka_flush(k, 10000), 0);

    /* Every broker down (-1) for 3 s while records keep coming. */
    rd_kafka_mock_broker_set_down(f->mc, -1);
    for (int i = 20; i < 60; i++) {
        make_record(&b, keys[0], i, "during");
        assert_int_equal(aw_kafka_produce(k, AW_KAFKA_TRANSCRIPTS, keys[0],
                                          b.data, b.len, st),
                         AW_OK);
        sleep_ms(50);
    }
    sleep_ms(1000);
    assert_int_equal(aw_kafka_flush(k, 10), 40); /* waiting, not lost */
    rd_kafka_mock_broker_set_up(f->mc, -1);
    assert_int_equal(aw_kafka_flush(k, 30000), 0);
    aw_kafka_stream_counts(st, AW_KAFKA_TRANSCRIPTS, &c);
    assert_counts(&c, 60, 60, 0, 0);

    n = consume(f->bootstrap, "transcripts", 60, 5000, m, MAX_MSGS, NULL);
    check_exactly_once_in_order(m, n, keys, 1, 60);
    free_msgs(m, n);
    aw_kafka_destroy(k);
    aw_buf_fini(&b);
    free(m);
}

static void test_sink_kafka_counts_timed_out_records_as_failed(void **state)
{
    struct fixture *f = *state;
    struct aw_kafka *k = new_sink(f, "message.timeout.ms", "1500", NULL);
    struct aw_kafka_stream *st = aw_kafka_stream_get(k, "radio-t");
    struct aw_kafka_counts c;
    struct aw_buf b;

    aw_buf_init(&b, 1 << 20);
    rd_kafka_mock_broker_set_down(f->mc, -1);
    for (int i = 0; i < 5; i++) {
        make_record(&b, "radio-t", i, "PRIVATE-PAYLOAD-TEXT");
        assert_int_equal(aw_kafka_produce(k, AW_KAFKA_TRANSCRIPTS, "radio-t",
                                          b.data, b.len, st),
                         AW_OK);
    }
    /* Every record gets its report within message.timeout.ms. */
    assert_int_equal(aw_kafka_flush(k, 10000), 0);
    aw_kafka_counts(k, AW_KAFKA_TRANSCRIPTS, &c);
    assert_counts(&c, 5, 0, 5, 0);
    aw_kafka_stream_counts(st, AW_KAFKA_TRANSCRIPTS, &c);
    assert_counts(&c, 5, 0, 5, 0);
    /* Logged with the stream, the record id and the error name, never the
     * content. */
    assert_true(log_has("delivery failed: topic=transcripts "
                        "id=00000000-0000-5000-8000-000000000003 "
                        "err=_MSG_TIMED_OUT"));
    assert_true(log_has("stream=radio-t"));
    assert_false(log_has("PRIVATE-PAYLOAD-TEXT"));
    rd_kafka_mock_broker_set_up(f->mc, -1);
    aw_kafka_destroy(k);
    assert_true(log_has("0 delivered, 5 failed"));
    aw_buf_fini(&b);
}

static void test_sink_kafka_flush_deadline_returns_remaining(void **state)
{
    struct fixture *f = *state;
    struct aw_kafka *k = new_sink(f, NULL);
    struct aw_kafka_counts c;
    struct aw_buf b;
    uint64_t t0, dt;

    aw_buf_init(&b, 1 << 20);
    rd_kafka_mock_broker_set_down(f->mc, -1);
    for (int i = 0; i < 7; i++) {
        make_record(&b, "radio-f", i, "phrase");
        assert_int_equal(aw_kafka_produce(k, AW_KAFKA_TRANSCRIPTS, "radio-f",
                                          b.data, b.len, NULL),
                         AW_OK);
    }
    t0 = aw_clock_mono_ms();
    assert_int_equal(aw_kafka_flush(k, 500), 7);
    dt = aw_clock_mono_ms() - t0;
    assert_true(dt >= 450 && dt < 3000);
    assert_true(aw_kafka_queue_depth(k) >= 7);
    rd_kafka_mock_broker_set_up(f->mc, -1);
    assert_int_equal(aw_kafka_flush(k, 30000), 0);
    aw_kafka_counts(k, AW_KAFKA_TRANSCRIPTS, &c);
    assert_counts(&c, 7, 7, 0, 0);
    aw_kafka_destroy(k);
    aw_buf_fini(&b);
}

static void test_sink_kafka_shutdown_purges_and_counts(void **state)
{
    struct fixture *f = *state;
    struct aw_kafka *k;
    struct aw_buf b;

    aw_buf_init(&b, 1 << 20);
    f->conf.kafka_flush_timeout_ms = 500; /* read by aw_kafka_new() */
    k = new_sink(f, NULL);
    rd_kafka_mock_broker_set_down(f->mc, -1);
    for (int i = 0; i < 4; i++) {
        make_record(&b, "radio-s", i, "phrase");
        assert_int_equal(aw_kafka_produce(k, AW_KAFKA_TRANSCRIPTS, "radio-s",
                                          b.data, b.len, NULL),
                         AW_OK);
    }
    aw_kafka_destroy(k);
    assert_true(log_has("4 records not delivered within 500 ms at "
                        "shutdown"));
    assert_true(log_has("err=_PURGE_QUEUE"));
    assert_true(log_has("topic transcripts: 4 produced, 0 delivered, "
                        "4 failed, 0 dropped"));
    aw_buf_fini(&b);
}

static void test_sink_kafka_full_queue_drops_after_wait(void **state)
{
    struct fixture *f = *state;
    struct aw_kafka *k = new_sink(f, "queue.buffering.max.messages", "3", NULL);
    struct aw_kafka_stream *st = aw_kafka_stream_get(k, "radio-q");
    struct aw_kafka_counts c;
    struct aw_buf b;
    uint64_t t0, dt;

    aw_buf_init(&b, 1 << 20);
    rd_kafka_mock_broker_set_down(f->mc, -1);
    for (int i = 0; i < 3; i++) {
        make_record(&b, "radio-q", i, "phrase");
        assert_int_equal(aw_kafka_produce(k, AW_KAFKA_TRANSCRIPTS, "radio-q",
                                          b.data, b.len, st),
                         AW_OK);
    }
    make_record(&b, "radio-q", 3, "phrase");
    t0 = aw_clock_mono_ms();
    assert_int_equal(
        aw_kafka_produce(k, AW_KAFKA_TRANSCRIPTS, "radio-q", b.data, b.len, st),
        AW_ERR_AGAIN);
    dt = aw_clock_mono_ms() - t0;
    assert_true(dt >= AW_KAFKA_QUEUE_FULL_WAIT_MS - 50 &&
                dt < AW_KAFKA_QUEUE_FULL_WAIT_MS + 2000);
    aw_kafka_stream_counts(st, AW_KAFKA_TRANSCRIPTS, &c);
    assert_counts(&c, 3, 0, 0, 1);
    assert_true(log_has("not queued: topic=transcripts "
                        "id=00000000-0000-5000-8000-000000000003 "
                        "err=_QUEUE_FULL"));

    /* Still full: refused at once, not after another second. */
    make_record(&b, "radio-q", 4, "phrase");
    t0 = aw_clock_mono_ms();
    assert_int_equal(
        aw_kafka_produce(k, AW_KAFKA_TRANSCRIPTS, "radio-q", b.data, b.len, st),
        AW_ERR_AGAIN);
    assert_true(aw_clock_mono_ms() - t0 < AW_KAFKA_QUEUE_FULL_WAIT_MS / 2);
    aw_kafka_stream_counts(st, AW_KAFKA_TRANSCRIPTS, &c);
    assert_counts(&c, 3, 0, 0, 2);

    rd_kafka_mock_broker_set_up(f->mc, -1);
    assert_int_equal(aw_kafka_flush(k, 30000), 0);
    make_record(&b, "radio-q", 5, "phrase");
    assert_int_equal(
        aw_kafka_produce(k, AW_KAFKA_TRANSCRIPTS, "radio-q", b.data, b.len, st),
        AW_OK);
    assert_int_equal(aw_kafka_flush(k, 30000), 0);
    aw_kafka_counts(k, AW_KAFKA_TRANSCRIPTS, &c);
    assert_counts(&c, 4, 4, 0, 2);
    aw_kafka_destroy(k);
    aw_buf_fini(&b);
}

static void test_sink_kafka_fatal_error_stops_the_sink(void **state)
{
    struct fixture *f = *state;
    struct aw_kafka *k;
    struct aw_kafka_counts c;
    struct aw_buf b;
    int attempts = 0;

    aw_buf_init(&b, 1 << 20);
    /* The producer id request fails for good: librdkafka raises a fatal
     * error (observed with 2.0.2; an idempotent producer cannot go on). */
    rd_kafka_mock_push_request_errors(
        f->mc, APIKEY_INIT_PRODUCER_ID, 1,
        RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED);
    k = new_sink(f, NULL);
    for (int i = 0; i < 2; i++, attempts++) {
        make_record(&b, "radio-e", i, "phrase");
        (void)aw_kafka_produce(k, AW_KAFKA_TRANSCRIPTS, "radio-e", b.data,
                               b.len, NULL);
    }
    for (int i = 0; i < 100 && !aw_kafka_failed(k); i++)
        sleep_ms(50);
    assert_true(aw_kafka_failed(k));
    make_record(&b, "radio-e", 2, "phrase");
    attempts++;
    assert_int_equal(aw_kafka_produce(k, AW_KAFKA_TRANSCRIPTS, "radio-e",
                                      b.data, b.len, NULL),
                     AW_ERR_PROTO);
    assert_false(aw_err_is_retriable(AW_ERR_PROTO));
    assert_int_equal(aw_kafka_flush(k, 5000), 0);
    aw_kafka_counts(k, AW_KAFKA_TRANSCRIPTS, &c);
    /* Nothing vanished: every attempt is failed or dropped. */
    assert_int_equal(c.delivered, 0);
    assert_int_equal(c.produced, c.failed);
    assert_int_equal(c.produced + c.dropped, (uint64_t)attempts);
    assert_true(c.dropped >= 1);
    assert_true(log_has("level=error mod=kafka msg=\"fatal producer error "
                        "CLUSTER_AUTHORIZATION_FAILED"));
    aw_kafka_destroy(k);
    aw_buf_fini(&b);
}

static void test_sink_kafka_keeps_secrets_out_of_logs(void **state)
{
    struct fixture *f = *state;
    struct aw_kafka *k;
    struct aw_buf b;
    char line[128], errstr[512];
    int saved = aw_log_threshold;

    aw_buf_init(&b, 1 << 20);
    aw_log_threshold = AW_LOG_DEBUG;
    /* debug=conf makes librdkafka log its configuration at creation. */
    k = new_sink(f, "sasl.username", "bob", "sasl.password", "Pa55-w0rd-XYZ",
                 "ssl.key.password", "K3y-Pa55-QRS", "ssl.keystore.password",
                 "0auth-S3cret-UVW", "debug", "conf,generic,broker,security",
                 "log_level", "7", NULL);
    make_record(&b, "radio-p", 0, "phrase");
    assert_int_equal(aw_kafka_produce(k, AW_KAFKA_TRANSCRIPTS, "radio-p",
                                      b.data, b.len, NULL),
                     AW_OK);
    assert_int_equal(aw_kafka_flush(k, 10000), 0);
    /* Something to redact even if librdkafka printed nothing secret. */
    AW_WARN("test", NULL, "leak attempt: %s %s %s", "Pa55-w0rd-XYZ",
            "K3y-Pa55-QRS", "0auth-S3cret-UVW");
    aw_kafka_destroy(k);
    aw_log_threshold = saved;
    assert_true(log_has("mod=kafka"));
    assert_true(log_has("leak attempt: [REDACTED]"));
    assert_false(log_has("Pa55-w0rd-XYZ"));
    assert_false(log_has("K3y-Pa55-QRS"));
    assert_false(log_has("0auth-S3cret-UVW"));
    aw_errstr_set(line, sizeof(line), "x Pa55-w0rd-XYZ y");
    assert_int_equal(aw_log_redact(line, sizeof(line)), 1);

    /* A refused secret property never quotes its value. */
    f->nkv = 0;
    set_kv(f, "bootstrap.servers", f->bootstrap, 3);
    set_kv(f, "no.such.password", "Hunter2-secret", 4);
    assert_null(aw_kafka_new(&f->conf, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "test.yaml:4: kafka.no.such.password"));
    assert_null(strstr(errstr, "Hunter2"));
    /* Debian's 2.0.2 is built without libcurl: no OIDC. */
    f->nkv = 0;
    set_kv(f, "bootstrap.servers", f->bootstrap, 3);
    set_kv(f, "sasl.oauthbearer.client.secret", "0idc-S3cret-RST", 5);
    assert_null(aw_kafka_new(&f->conf, errstr, sizeof(errstr)));
    assert_non_null(
        strstr(errstr, "test.yaml:5: kafka.sasl.oauthbearer.client.secret"));
    assert_null(strstr(errstr, "0idc-S3cret-RST"));
    aw_buf_fini(&b);
}

static void expect_refused(struct fixture *f, const char *key,
                           const char *value, const char *why)
{
    char errstr[512];

    f->nkv = 0;
    set_kv(f, "bootstrap.servers", f->bootstrap, 3);
    set_kv(f, key, value, 12);
    assert_null(aw_kafka_new(&f->conf, errstr, sizeof(errstr)));
    if (!strstr(errstr, why))
        fail_msg("%s=%s: \"%s\" lacks \"%s\"", key, value, errstr, why);
}

static void test_sink_kafka_refuses_unsafe_or_bad_settings(void **state)
{
    struct fixture *f = *state;
    struct aw_kafka *k;
    char errstr[512];

    expect_refused(f, "acks", "1", "test.yaml:12: kafka.acks: must be all");
    expect_refused(f, "request.required.acks", "0", "must be all");
    expect_refused(f, "enable.idempotence", "false",
                   "test.yaml:12: kafka.enable.idempotence: must stay true");
    expect_refused(f, "transactional.id", "t1", "not supported");
    expect_refused(f, "delivery.report.only.error", "true", "must stay false");
    expect_refused(f, "no.such.property", "1",
                   "test.yaml:12: kafka.no.such.property: No such "
                   "configuration property");
    expect_refused(f, "linger.ms", "soon",
                   "test.yaml:12: kafka.linger.ms: "
                   "Invalid value");

    /* Line 0: set from the environment or the command line. */
    f->nkv = 0;
    set_kv(f, "bootstrap.servers", f->bootstrap, 0);
    set_kv(f, "compression.type", "zip", 0);
    assert_null(aw_kafka_new(&f->conf, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "kafka.compression.type: Invalid value"));
    assert_null(strstr(errstr, "test.yaml"));

    f->nkv = 0;
    set_kv(f, "linger.ms", "5", 2);
    assert_null(aw_kafka_new(&f->conf, errstr, sizeof(errstr)));
    assert_string_equal(errstr, "kafka.bootstrap.servers is not set");

    /* The same checks for the configuration loader, without a producer. */
    assert_int_equal(aw_kafka_conf_check("acks", "1", errstr, sizeof(errstr)),
                     AW_ERR_INVAL);
    assert_non_null(strstr(errstr, "must be all"));
    assert_int_equal(
        aw_kafka_conf_check("linger.ms", "soon", errstr, sizeof(errstr)),
        AW_ERR_INVAL);
    assert_non_null(strstr(errstr, "Invalid value"));
    assert_int_equal(
        aw_kafka_conf_check("sasl.password", "x", errstr, sizeof(errstr)),
        AW_OK);
    assert_int_equal(
        aw_kafka_conf_check("compression.type", "zstd", errstr, sizeof(errstr)),
        AW_OK);

    /* Tuning is the operator's: these overrides are accepted. */
    k = new_sink(f, "linger.ms", "0", "compression.type", "none", "acks", "-1",
                 "queue.buffering.max.kbytes", "1024", "enable.idempotence",
                 "TRUE", NULL);
    aw_kafka_destroy(k);
    aw_kafka_destroy(NULL);
}

static void test_sink_kafka_fanout_same_bytes_in_jsonl_and_kafka(void **state)
{
    struct fixture *f = *state;
    char path[] = "/tmp/aw-test-fanout-XXXXXX", errstr[512], line[4096];
    struct aw_stream_event ev = {
        .type = AW_EVENT_TITLE,
        .id = "11111111-2222-5333-8444-555555555555",
        .stream_id = "radio-j",
        .wall_ms = 1795694401230LL,
        .capture_session = "3b1e0000-1111-4222-8333-444455556666",
        .title = "Caf\xe9 news", /* Latin-1 from an ICY server */
    };
    struct aw_transcript t = {
        .id = "11111111-2222-5333-8444-666666666666",
        .stream_id = "radio-j",
        .source = "http://127.0.0.1/j.mp3",
        .language = "en-US",
        .text = "Hello.",
        .confidence = 0.5,
        .capture_session = "3b1e0000-1111-4222-8333-444455556666",
        .provider = "azure",
    };
    struct msg *m = calloc(8, sizeof(*m));
    struct aw_sink *s;
    FILE *fp;
    size_t n;
    int fd;

    assert_non_null(m);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    f->nkv = 0;
    set_kv(f, "bootstrap.servers", f->bootstrap, 3);
    f->conf.output_jsonl = path;
    s = aw_sink_new(&f->conf, errstr, sizeof(errstr));
    assert_non_null(s);
    assert_int_equal(aw_sink_transcript(s, &t), AW_OK);
    assert_int_equal(aw_sink_event(s, &ev), AW_OK);
    assert_int_equal(aw_kafka_flush(aw_sink_kafka(s), 10000), 0);
    aw_sink_destroy(s);
    f->conf.output_jsonl = NULL;

    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof(line), fp));
    n = consume(f->bootstrap, "transcripts", 1, 5000, m, 8, NULL);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].key, "radio-j");
    assert_int_equal(strlen(line), m[0].len + 1);
    assert_memory_equal(line, m[0].value, m[0].len);
    free_msgs(m, n);
    assert_non_null(fgets(line, sizeof(line), fp));
    n = consume(f->bootstrap, "stream-events", 1, 5000, m, 8, NULL);
    assert_int_equal(n, 1);
    assert_non_null(m[0].value);
    assert_memory_equal(line, m[0].value, m[0].len);
    /* (cmocka's asserts are not marked noreturn for the analyser) */
    assert_non_null(strstr(m[0].value ? m[0].value : "",
                           "\"title\":\"Caf\xef\xbf\xbd news\""));
    free_msgs(m, n);
    assert_int_equal(fclose(fp), 0);
    unlink(path);
    free(m);
}

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sink_kafka_round_trip, setup1,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_sink_kafka_exactly_once_through_produce_errors, setup3,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sink_kafka_exactly_once_through_broker_outage, setup1,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sink_kafka_counts_timed_out_records_as_failed, setup1,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sink_kafka_flush_deadline_returns_remaining, setup1, teardown),
        cmocka_unit_test_setup_teardown(
            test_sink_kafka_shutdown_purges_and_counts, setup1, teardown),
        cmocka_unit_test_setup_teardown(
            test_sink_kafka_full_queue_drops_after_wait, setup1, teardown),
        cmocka_unit_test_setup_teardown(
            test_sink_kafka_fatal_error_stops_the_sink, setup1, teardown),
        cmocka_unit_test_setup_teardown(
            test_sink_kafka_keeps_secrets_out_of_logs, setup1, teardown),
        cmocka_unit_test_setup_teardown(
            test_sink_kafka_refuses_unsafe_or_bad_settings, setup1, teardown),
        cmocka_unit_test_setup_teardown(
            test_sink_kafka_fanout_same_bytes_in_jsonl_and_kafka, setup1,
            teardown),
    };

#ifdef UNDER_TSAN
    /* librdkafka 2.0.2 starts its threads with glibc's thrd_create(), which
     * ThreadSanitizer (gcc 12) does not intercept: the first allocation in
     * such a thread crashes inside TSan. These tests run under ASan/UBSan. */
    (void)tests;
    printf("sink_kafka: skipped under TSan (librdkafka's threads crash "
           "it)\n");
    return 0;
#else
    return cmocka_run_group_tests_name("sink_kafka", tests, NULL, NULL);
#endif
}
