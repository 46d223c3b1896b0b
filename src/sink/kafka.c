/*
 * Kafka sink on librdkafka (see kafka.h, docs/sinks.md).
 *
 * Threads:
 * - callers of aw_kafka_produce() (the lws service thread in the connector);
 * - "poller", ours: rd_kafka_poll() in a loop, which runs the delivery
 *   report and error callbacks; aw_kafka_produce() and aw_kafka_flush() may
 *   poll too while they wait, so every callback is thread-safe (atomics,
 *   plus a mutex around the log limiter);
 * - librdkafka's own broker and main threads, which call on_log().
 *
 * Accounting: each record carries a pointer to a `struct slot` as its
 * message opaque. The slot names the topic and, optionally, the stream's
 * counter block, so the delivery report can count per topic and per stream
 * without a lookup. Slots live in the sink (per topic) or in a stream block,
 * and both outlive every message: stream blocks are only freed by
 * aw_kafka_destroy(), after the last delivery report.
 */
#include "sink/kafka.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <librdkafka/rdkafka.h>

#include "airwave/clock.h"
#include "airwave/log.h"

#define MOD "kafka"

/* At most this many failure lines per window; the rest are summed up in one
 * line when the window ends. An outage can fail thousands of records within
 * a second; the counters have the exact numbers. */
#define LOG_WINDOW_MS        1000
#define LOG_LINES_PER_WINDOW 10

enum counter { PRODUCED, DELIVERED, FAILED, DROPPED, NCOUNTERS };

struct counters {
    _Atomic uint64_t n[NCOUNTERS];
};

/* What a message's opaque points to: see the file header. */
struct slot {
    struct counters *stream; /* NULL: not counted per stream */
    enum aw_kafka_topic topic;
};

struct topic {
    rd_kafka_topic_t *rkt;
    char *name;
    struct counters c;
    struct slot anon; /* for records produced without a stream block */
};

struct aw_kafka_stream {
    struct aw_kafka_stream *next;
    struct counters c[AW_KAFKA_TOPIC_COUNT];
    struct slot slot[AW_KAFKA_TOPIC_COUNT];
    char id[65];
};

struct aw_kafka {
    rd_kafka_t *rk;
    struct topic topics[AW_KAFKA_TOPIC_COUNT];
    int flush_timeout_ms;
    bool flush_timed_out; /* a flush already waited in vain */

    pthread_t poller;
    bool poller_started;
    _Atomic bool stop;
    _Atomic bool fatal;
    _Atomic bool connected; /* a broker answered since the last outage */
    /* The last record met a full queue and waited in vain: do not hold the
     * caller's thread for another second per record until one gets in. */
    _Atomic bool queue_full;

    pthread_mutex_t streams_lock;
    struct aw_kafka_stream *streams;
    size_t nstreams;

    /* Failure log limiter (any thread that serves callbacks or produces). */
    pthread_mutex_t lim_lock;
    uint64_t lim_window_ms;
    unsigned lim_lines;
    uint64_t lim_suppressed;
};

/*
 * Defaults, applied before the pass-through properties, which may override
 * them (docs/sinks.md explains each). The guarantees themselves
 * (idempotence, acks=all) are also checked in check_property(), since an
 * override there would silently break "lose no transcript".
 */
static const struct {
    const char *name;
    const char *value;
} defaults[] = {
    {"client.id", "airwave"},
    /* Retries without duplicates or reordering: each partition's batches
     * carry sequence numbers. librdkafka then requires acks=all,
     * max.in.flight <= 5 and retries > 0, set explicitly here. */
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"max.in.flight.requests.per.connection", "5"},
    {"message.send.max.retries", "2147483647"},
    {"retry.backoff.ms", "100"},
    /* Phrase -> broker latency: at most 5 ms of batching. */
    {"linger.ms", "5"},
    /* The queue is bounded in messages and bytes: 64 MiB holds about 100k
     * transcripts, hours of a busy stream, rather than librdkafka's 1 GiB. */
    {"queue.buffering.max.messages", "100000"},
    {"queue.buffering.max.kbytes", "65536"},
    /* A record waits for a broker for up to an hour before it is failed:
     * ordinary Kafka maintenance must not cost transcripts. */
    {"message.timeout.ms", "3600000"},
    {"compression.type", "lz4"},
    /* The Java client's partitioner: a stream's records go to the same
     * partition as any other Kafka client would put them. */
    {"partitioner", "murmur2_random"},
    {"socket.keepalive.enable", "true"},
    /* After an outage, reconnect within a second rather than librdkafka's
     * 10 s backoff cap: queued transcripts flow as soon as Kafka is back,
     * for one connection attempt per broker per second meanwhile. */
    {"reconnect.backoff.max.ms", "1000"},
};

static const struct {
    rd_kafka_resp_err_t rd;
    enum aw_err aw;
} err_map[] = {
    {RD_KAFKA_RESP_ERR__QUEUE_FULL, AW_ERR_AGAIN},
    {RD_KAFKA_RESP_ERR__FATAL, AW_ERR_PROTO},
    {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, AW_ERR_TOO_LARGE},
    {RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, AW_ERR_NOT_FOUND},
    {RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, AW_ERR_NOT_FOUND},
    {RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, AW_ERR_NOT_FOUND},
    {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, AW_ERR_AUTH},
    {RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, AW_ERR_AUTH},
    {RD_KAFKA_RESP_ERR__AUTHENTICATION, AW_ERR_AUTH},
    {RD_KAFKA_RESP_ERR__INVALID_ARG, AW_ERR_INVAL},
    {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, AW_ERR_TIMEOUT},
    {RD_KAFKA_RESP_ERR__TIMED_OUT, AW_ERR_TIMEOUT},
};

static enum aw_err map_err(rd_kafka_resp_err_t err)
{
    for (size_t i = 0; i < AW_ARRAY_SIZE(err_map); i++)
        if (err_map[i].rd == err)
            return err_map[i].aw;
    return AW_ERR_NET;
}

/* ---- counters ---------------------------------------------------------- */

static void count(struct aw_kafka *k, const struct slot *s, enum counter c)
{
    atomic_fetch_add(&k->topics[s->topic].c.n[c], 1);
    if (s->stream)
        atomic_fetch_add(&s->stream->n[c], 1);
}

static void snapshot(const struct counters *c, struct aw_kafka_counts *out)
{
    out->produced = atomic_load(&c->n[PRODUCED]);
    out->delivered = atomic_load(&c->n[DELIVERED]);
    out->failed = atomic_load(&c->n[FAILED]);
    out->dropped = atomic_load(&c->n[DROPPED]);
}

/* Records queued but not yet reported. The produced counter is bumped after
 * rd_kafka_producev() returns, so a fast report can briefly make the sum
 * exceed it: never report that as a huge unsigned number. */
static size_t in_flight(struct aw_kafka *k)
{
    uint64_t n = 0;

    for (int t = 0; t < AW_KAFKA_TOPIC_COUNT; t++) {
        struct aw_kafka_counts c;

        snapshot(&k->topics[t].c, &c);
        if (c.produced > c.delivered + c.failed)
            n += c.produced - c.delivered - c.failed;
    }
    return (size_t)n;
}

/* ---- logging ----------------------------------------------------------- */

/* @returns true if one more failure line may be logged now; *suppressed is
 * then the number held back since the last line (to mention in it). */
static bool limiter_allow(struct aw_kafka *k, uint64_t *suppressed)
{
    uint64_t now = aw_clock_mono_ms();
    bool ok;

    pthread_mutex_lock(&k->lim_lock);
    if (now - k->lim_window_ms >= LOG_WINDOW_MS) {
        k->lim_window_ms = now;
        k->lim_lines = 0;
    }
    ok = k->lim_lines < LOG_LINES_PER_WINDOW;
    *suppressed = 0;
    if (ok) {
        k->lim_lines++;
        *suppressed = k->lim_suppressed;
        k->lim_suppressed = 0;
    } else {
        k->lim_suppressed++;
    }
    pthread_mutex_unlock(&k->lim_lock);
    return ok;
}

/* Called by the poller: say how many lines were held back once a quiet
 * window has passed, so the log never ends on an unexplained silence. */
static void limiter_tick(struct aw_kafka *k)
{
    uint64_t now = aw_clock_mono_ms(), n = 0;

    pthread_mutex_lock(&k->lim_lock);
    if (k->lim_suppressed && now - k->lim_window_ms >= LOG_WINDOW_MS) {
        n = k->lim_suppressed;
        k->lim_suppressed = 0;
        k->lim_window_ms = now;
        k->lim_lines = 0;
    }
    pthread_mutex_unlock(&k->lim_lock);
    if (n)
        AW_WARN(MOD, NULL,
                "%llu more record failures not logged one by one (see the "
                "failed and dropped counters)",
                (unsigned long long)n);
}

/* The record id, read from the payload's start where aw_json_transcript()
 * and aw_json_event() put it, so a lost record can be named (and recovered
 * from the JSONL copy) without logging its content. */
static void payload_id(const void *payload, size_t len, char out[37])
{
    static const char tag[] = "\"id\":\"";
    const char *p = payload;
    size_t scan = len < 128 ? len : 128;

    out[0] = '\0';
    for (size_t i = 0; p && i + sizeof(tag) - 1 + 36 <= scan; i++) {
        if (memcmp(p + i, tag, sizeof(tag) - 1) == 0) {
            const char *id = p + i + sizeof(tag) - 1;

            for (size_t j = 0; j < 36; j++) {
                char c = id[j];

                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                      c == '-'))
                    return;
            }
            memcpy(out, id, 36);
            out[36] = '\0';
            return;
        }
    }
}

static void log_lost(struct aw_kafka *k, enum aw_kafka_topic t, const void *key,
                     size_t key_len, const void *payload, size_t len,
                     const char *what, rd_kafka_resp_err_t err)
{
    char src[65], id[37], earlier[80] = "";
    uint64_t suppressed;

    if (!limiter_allow(k, &suppressed))
        return;
    if (key_len >= sizeof(src))
        key_len = sizeof(src) - 1;
    if (key)
        memcpy(src, key, key_len);
    src[key ? key_len : 0] = '\0';
    payload_id(payload, len, id);
    if (suppressed)
        aw_errstr_set(earlier, sizeof(earlier),
                      " (%llu earlier failures not logged one by one)",
                      (unsigned long long)suppressed);
    AW_WARN(MOD, src[0] ? src : NULL,
            "%s: topic=%s id=%s err=%s (%s); record lost%s", what,
            k->topics[t].name, id[0] ? id : "-", rd_kafka_err2name(err),
            rd_kafka_err2str(err), earlier);
}

/* ---- librdkafka callbacks --------------------------------------------- */

/* @locality the poller, or a thread inside aw_kafka_produce/flush */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    struct aw_kafka *k = opaque;
    const struct slot *s = m->_private;

    (void)rk;
    if (!s) /* not ours: nothing else produces on this handle */
        return;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        count(k, s, DELIVERED);
        atomic_store(&k->connected, true);
        return;
    }
    count(k, s, FAILED);
    log_lost(k, s->topic, m->key, m->key_len, m->payload, m->len,
             "delivery failed", m->err);
}

/* @locality the poller, or a thread inside aw_kafka_produce/flush */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct aw_kafka *k = opaque;
    char fatal[512];
    rd_kafka_resp_err_t orig;

    if (err != RD_KAFKA_RESP_ERR__FATAL) {
        /* Transport errors, all brokers down, authentication: librdkafka
         * retries these by itself; records wait in the queue meanwhile. */
        if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
            atomic_store(&k->connected, false);
        AW_WARN(MOD, NULL, "%s: %s", rd_kafka_err2name(err), reason);
        return;
    }
    orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    atomic_store(&k->fatal, true);
    AW_ERROR(MOD, NULL,
             "fatal producer error %s: %s; the Kafka sink has stopped: "
             "later records are dropped and counted",
             rd_kafka_err2name(orig), fatal);
}

/* @locality any librdkafka thread */
static void on_log(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    enum aw_log_level lvl;

    (void)rk;
    /* Both use syslog severities; librdkafka's 0-2 are rarer still. FAIL
     * and FATAL lines repeat what on_error() reports at once, with the
     * error name: keep them for debugging only, not as a second line. */
    if (level >= AW_LOG_DEBUG || !strcmp(fac, "FAIL") || !strcmp(fac, "FATAL"))
        lvl = AW_LOG_DEBUG;
    else if (level <= AW_LOG_ERROR)
        lvl = AW_LOG_ERROR;
    else
        lvl = (enum aw_log_level)level;
    AW_LOG(lvl, MOD, NULL, "%s: %s", fac, buf);
}

static void *poll_main(void *arg)
{
    struct aw_kafka *k = arg;

    uint64_t next_probe_ms = 0;

    while (!atomic_load(&k->stop)) {
        /* Returns early whenever there is something to serve; 100 ms only
         * bounds how late a stop request is noticed. */
        rd_kafka_poll(k->rk, 100);
        limiter_tick(k);
        /* Readiness: while no broker is known to answer, ask one for
         * metadata now and then; a delivery report says the same. */
        if (!atomic_load(&k->connected) &&
            aw_clock_mono_ms() >= next_probe_ms) {
            const struct rd_kafka_metadata *md = NULL;

            if (rd_kafka_metadata(k->rk, 0, NULL, &md, 1000) ==
                RD_KAFKA_RESP_ERR_NO_ERROR)
                atomic_store(&k->connected, true);
            if (md)
                rd_kafka_metadata_destroy(md);
            next_probe_ms = aw_clock_mono_ms() + 2000;
        }
    }
    return NULL;
}

/* ---- configuration ----------------------------------------------------- */

static bool contains_ci(const char *s, const char *word)
{
    size_t n = strlen(word);

    for (; *s; s++) {
        size_t i = 0;

        while (i < n && s[i] &&
               (s[i] == word[i] ||
                (s[i] >= 'A' && s[i] <= 'Z' && s[i] - 'A' + 'a' == word[i])))
            i++;
        if (i == n)
            return true;
    }
    return false;
}

/* Keys whose values must never be logged: ssl.key.password, sasl.password,
 * sasl.oauthbearer.client.secret, ssl.key.pem ... "key" also matches a few
 * paths (ssl.key.location); hiding a path in the log is the cheap mistake. */
static bool is_secret_key(const char *key)
{
    return contains_ci(key, "password") || contains_ci(key, "secret") ||
           contains_ci(key, "key");
}

/* librdkafka's own reading of a boolean (anything else it refuses). */
static bool is_true(const char *v)
{
    return !strcasecmp(v, "true") || !strcasecmp(v, "t") || !strcmp(v, "1");
}

/* "FILE:LINE: kafka.KEY" or "kafka.KEY" (environment or command line). */
static void where(char *out, size_t size, const struct aw_conf *conf,
                  const struct aw_kv *kv)
{
    if (kv->line > 0)
        aw_errstr_set(out, size, "%s:%d: kafka.%s",
                      conf->path ? conf->path : "config", kv->line, kv->key);
    else
        aw_errstr_set(out, size, "kafka.%s", kv->key);
}

/* Refuse overrides that would break the delivery guarantee or the counters.
 * @returns NULL if the property is acceptable, else why not. */
static const char *check_property(const char *key, const char *value)
{
    if (!strcmp(key, "enable.idempotence") && !is_true(value))
        return "must stay true: without it a retry can duplicate or reorder "
               "transcripts";
    if ((!strcmp(key, "acks") || !strcmp(key, "request.required.acks")) &&
        strcmp(value, "all") != 0 && strcmp(value, "-1") != 0)
        return "must be all (or -1): fewer acknowledgements can lose "
               "acknowledged transcripts when a broker fails";
    if (!strcmp(key, "transactional.id"))
        return "transactions are not supported by the airwave sink";
    if (!strcmp(key, "delivery.report.only.error") && is_true(value))
        return "must stay false: the sink counts every delivery";
    return NULL;
}

/* Check and set one pass-through property; on refusal, write the reason
 * (without the key) to \p why. A secret value is never quoted. */
static enum aw_err apply_property(rd_kafka_conf_t *rconf, const char *key,
                                  const char *value, char *why, size_t why_size)
{
    const char *refused = check_property(key, value);
    char rderr[512] = "";

    if (refused) {
        aw_errstr_set(why, why_size, "%s", refused);
        return AW_ERR_INVAL;
    }
    if (rd_kafka_conf_set(rconf, key, value, rderr, sizeof(rderr)) ==
        RD_KAFKA_CONF_OK)
        return AW_OK;
    /* librdkafka may quote the value it refused: redact it (registered
     * secrets), and if it is still there, say less. */
    aw_log_redact(rderr, sizeof(rderr));
    if (is_secret_key(key) && *value && strstr(rderr, value))
        aw_errstr_set(why, why_size, "invalid value (not shown: secret)");
    else
        aw_errstr_set(why, why_size, "%s", rderr);
    return AW_ERR_INVAL;
}

enum aw_err aw_kafka_conf_check(const char *key, const char *value,
                                char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *scratch;
    enum aw_err err;

    if (!key || !value) {
        aw_errstr_set(errstr, errstr_size, "empty property");
        return AW_ERR_INVAL;
    }
    /* Setting it loads the plugins: not while merely checking a file. */
    if (!strcmp(key, "plugin.library.paths"))
        return check_property(key, value) ? AW_ERR_INVAL : AW_OK;
    scratch = rd_kafka_conf_new();
    if (!scratch) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return AW_ERR_NOMEM;
    }
    err = apply_property(scratch, key, value, errstr, errstr_size);
    rd_kafka_conf_destroy(scratch);
    return err;
}

static rd_kafka_conf_t *build_conf(struct aw_kafka *k,
                                   const struct aw_conf *conf, char *errstr,
                                   size_t errstr_size)
{
    rd_kafka_conf_t *rconf = rd_kafka_conf_new();
    bool have_brokers = false;
    char rderr[512], at[320];

    if (!rconf) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < AW_ARRAY_SIZE(defaults); i++) {
        if (rd_kafka_conf_set(rconf, defaults[i].name, defaults[i].value, rderr,
                              sizeof(rderr)) != RD_KAFKA_CONF_OK) {
            /* A librdkafka without lz4 or a renamed property: a build
             * problem, not a configuration one. */
            aw_errstr_set(errstr, errstr_size, "librdkafka default %s=%s: %s",
                          defaults[i].name, defaults[i].value, rderr);
            goto fail;
        }
    }

    /* Register every secret before the first rd_kafka_conf_set() of the
     * list: librdkafka may log while applying a property. */
    for (size_t i = 0; i < conf->nkafka; i++) {
        const struct aw_kv *kv = &conf->kafka[i];

        if (!kv->key || !kv->value) {
            aw_errstr_set(errstr, errstr_size, "kafka: empty property");
            goto fail;
        }
        if (is_secret_key(kv->key) && !aw_log_add_secret(kv->value)) {
            where(at, sizeof(at), conf, kv);
            aw_errstr_set(errstr, errstr_size,
                          "%s: too many secrets to keep out of the logs", at);
            goto fail;
        }
    }

    for (size_t i = 0; i < conf->nkafka; i++) {
        const struct aw_kv *kv = &conf->kafka[i];

        if (apply_property(rconf, kv->key, kv->value, rderr, sizeof(rderr))) {
            where(at, sizeof(at), conf, kv);
            aw_errstr_set(errstr, errstr_size, "%s: %s", at, rderr);
            goto fail;
        }
        if (!strcmp(kv->key, "bootstrap.servers") ||
            !strcmp(kv->key, "metadata.broker.list") ||
            !strcmp(kv->key, "test.mock.num.brokers"))
            have_brokers = true;
    }
    if (!have_brokers) {
        aw_errstr_set(errstr, errstr_size,
                      "kafka.bootstrap.servers is not set");
        goto fail;
    }

    rd_kafka_conf_set_opaque(rconf, k);
    rd_kafka_conf_set_dr_msg_cb(rconf, on_delivery);
    rd_kafka_conf_set_error_cb(rconf, on_error);
    rd_kafka_conf_set_log_cb(rconf, on_log);
    return rconf;

fail:
    rd_kafka_conf_destroy(rconf);
    return NULL;
}

/* ---- lifecycle --------------------------------------------------------- */

struct aw_kafka *aw_kafka_new(const struct aw_conf *conf, char *errstr,
                              size_t errstr_size)
{
    const char *names[AW_KAFKA_TOPIC_COUNT];
    struct aw_kafka *k = NULL;
    rd_kafka_conf_t *rconf = NULL;
    sigset_t all, old;
    char rderr[512];
    int rc;

    if (!conf) {
        aw_errstr_set(errstr, errstr_size, "no configuration");
        return NULL;
    }
    names[AW_KAFKA_TRANSCRIPTS] =
        conf->kafka_topic ? conf->kafka_topic : "transcripts";
    names[AW_KAFKA_EVENTS] =
        conf->kafka_events_topic ? conf->kafka_events_topic : "stream-events";

    k = calloc(1, sizeof(*k));
    if (!k) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&k->streams_lock, NULL);
    pthread_mutex_init(&k->lim_lock, NULL);
    k->flush_timeout_ms = conf->kafka_flush_timeout_ms > 0
                              ? conf->kafka_flush_timeout_ms
                              : AW_KAFKA_FLUSH_TIMEOUT_MS;
    for (int t = 0; t < AW_KAFKA_TOPIC_COUNT; t++) {
        k->topics[t].anon.topic = (enum aw_kafka_topic)t;
        k->topics[t].name = strdup(names[t]);
        if (!k->topics[t].name) {
            aw_errstr_set(errstr, errstr_size, "out of memory");
            goto fail;
        }
    }

    rconf = build_conf(k, conf, errstr, errstr_size);
    if (!rconf)
        goto fail;
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, rconf, rderr, sizeof(rderr));
    if (!k->rk) {
        /* rd_kafka_new() leaves the conf with us when it fails. */
        rd_kafka_conf_destroy(rconf);
        aw_log_redact(rderr, sizeof(rderr));
        aw_errstr_set(errstr, errstr_size, "kafka: %s", rderr);
        goto fail;
    }

    for (int t = 0; t < AW_KAFKA_TOPIC_COUNT; t++) {
        /* NULL topic conf: the topic-level properties set above (acks,
         * message.timeout.ms, partitioner) are the defaults of every
         * topic. */
        k->topics[t].rkt = rd_kafka_topic_new(k->rk, k->topics[t].name, NULL);
        if (!k->topics[t].rkt) {
            aw_errstr_set(errstr, errstr_size, "kafka: topic %s: %s",
                          k->topics[t].name,
                          rd_kafka_err2str(rd_kafka_last_error()));
            goto fail;
        }
    }

    /* The poller must not take the process's signals (the main thread waits
     * for them), so it starts with every signal blocked. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&k->poller, NULL, poll_main, k);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        aw_errstr_set(errstr, errstr_size, "kafka: cannot start poll thread");
        goto fail;
    }
    k->poller_started = true;

    AW_INFO(MOD, NULL, "producer %s: topics %s and %s", rd_kafka_name(k->rk),
            k->topics[AW_KAFKA_TRANSCRIPTS].name,
            k->topics[AW_KAFKA_EVENTS].name);
    return k;

fail:
    aw_kafka_destroy(k);
    return NULL;
}

void aw_kafka_destroy(struct aw_kafka *k)
{
    struct aw_kafka_stream *st, *next;

    if (!k)
        return;
    if (k->rk && k->poller_started) {
        /* Do not make the caller wait twice for a broker that is down. */
        size_t left =
            aw_kafka_flush(k, k->flush_timed_out ? 0 : k->flush_timeout_ms);

        if (left) {
            AW_ERROR(MOD, NULL,
                     "%zu records not delivered within %d ms at shutdown: "
                     "purged and counted as failed (those already sent may "
                     "still have reached the broker)",
                     left, k->flush_timeout_ms);
            rd_kafka_purge(k->rk,
                           RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            /* Serve the purge reports so the counters add up. */
            rd_kafka_flush(k->rk, 2000);
        }
    }
    if (k->poller_started) {
        atomic_store(&k->stop, true);
        pthread_join(k->poller, NULL);
    }
    if (k->rk && k->poller_started) {
        for (int t = 0; t < AW_KAFKA_TOPIC_COUNT; t++) {
            struct aw_kafka_counts c;

            snapshot(&k->topics[t].c, &c);
            AW_INFO(MOD, NULL,
                    "topic %s: %llu produced, %llu delivered, %llu failed, "
                    "%llu dropped",
                    k->topics[t].name, (unsigned long long)c.produced,
                    (unsigned long long)c.delivered,
                    (unsigned long long)c.failed,
                    (unsigned long long)c.dropped);
        }
    }
    for (int t = 0; t < AW_KAFKA_TOPIC_COUNT; t++) {
        if (k->topics[t].rkt)
            rd_kafka_topic_destroy(k->topics[t].rkt);
        free(k->topics[t].name);
    }
    if (k->rk)
        rd_kafka_destroy(k->rk);
    for (st = k->streams; st; st = next) {
        next = st->next;
        free(st);
    }
    pthread_mutex_destroy(&k->streams_lock);
    pthread_mutex_destroy(&k->lim_lock);
    free(k);
}

struct aw_kafka_stream *aw_kafka_stream_get(struct aw_kafka *k,
                                            const char *stream_id)
{
    struct aw_kafka_stream *st = NULL;

    if (!k || !stream_id || strlen(stream_id) >= sizeof(st->id))
        return NULL;
    pthread_mutex_lock(&k->streams_lock);
    for (st = k->streams; st; st = st->next)
        if (!strcmp(st->id, stream_id))
            goto out;
    if (k->nstreams >= AW_KAFKA_MAX_STREAMS)
        goto out; /* st is NULL */
    st = calloc(1, sizeof(*st));
    if (!st)
        goto out;
    memcpy(st->id, stream_id, strlen(stream_id) + 1);
    for (int t = 0; t < AW_KAFKA_TOPIC_COUNT; t++) {
        st->slot[t].stream = &st->c[t];
        st->slot[t].topic = (enum aw_kafka_topic)t;
    }
    st->next = k->streams;
    k->streams = st;
    k->nstreams++;
out:
    pthread_mutex_unlock(&k->streams_lock);
    return st;
}

/* ---- producing --------------------------------------------------------- */

enum aw_err aw_kafka_produce(struct aw_kafka *k, enum aw_kafka_topic topic,
                             const char *key, const void *payload, size_t len,
                             struct aw_kafka_stream *st)
{
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__FATAL;
    const struct slot *s;
    uint64_t deadline;

    if (!k || !key || (!payload && len) || (int)topic < 0 ||
        topic >= AW_KAFKA_TOPIC_COUNT)
        return AW_ERR_INVAL;
    s = st ? &st->slot[topic] : &k->topics[topic].anon;

    if (atomic_load(&k->fatal))
        goto dropped;
    deadline = aw_clock_mono_ms() +
               (atomic_load(&k->queue_full) ? 0 : AW_KAFKA_QUEUE_FULL_WAIT_MS);
    for (;;) {
        /* F_COPY: the caller's buffer is reused at once; records are small,
         * and librdkafka keeps the copy until the delivery report. */
        err = rd_kafka_producev(k->rk, RD_KAFKA_V_RKT(k->topics[topic].rkt),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_KEY(key, strlen(key)),
                                RD_KAFKA_V_VALUE((void *)payload, len),
                                RD_KAFKA_V_OPAQUE((void *)s), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL ||
            aw_clock_mono_ms() >= deadline)
            break;
        /* Room appears only when delivery reports are served (librdkafka
         * frees a message after its report): serve some here rather than
         * only wait for the poller. */
        rd_kafka_poll(k->rk, 10);
    }
    atomic_store(&k->queue_full, err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        count(k, s, PRODUCED);
        return AW_OK;
    }

dropped:
    count(k, s, DROPPED);
    log_lost(k, topic, key, strlen(key), payload, len, "not queued", err);
    return map_err(err);
}

size_t aw_kafka_flush(struct aw_kafka *k, int timeout_ms)
{
    size_t left;

    if (!k || !k->rk)
        return 0;
    /* When the queue is empty every report has been served (librdkafka
     * frees a message only after its report callback), so in_flight() is
     * then exact. */
    rd_kafka_flush(k->rk, timeout_ms);
    left = in_flight(k);
    k->flush_timed_out = left > 0;
    return left;
}

/* ---- getters ----------------------------------------------------------- */

size_t aw_kafka_queue_depth(const struct aw_kafka *k)
{
    if (!k || !k->rk)
        return 0;
    /* rd_kafka_outq_len() only reads counters; it is not const-declared. */
    return (size_t)rd_kafka_outq_len((rd_kafka_t *)k->rk);
}

void aw_kafka_counts(const struct aw_kafka *k, enum aw_kafka_topic topic,
                     struct aw_kafka_counts *out)
{
    memset(out, 0, sizeof(*out));
    if (k && (int)topic >= 0 && topic < AW_KAFKA_TOPIC_COUNT)
        snapshot(&k->topics[topic].c, out);
}

void aw_kafka_stream_counts(const struct aw_kafka_stream *st,
                            enum aw_kafka_topic topic,
                            struct aw_kafka_counts *out)
{
    memset(out, 0, sizeof(*out));
    if (st && (int)topic >= 0 && topic < AW_KAFKA_TOPIC_COUNT)
        snapshot(&st->c[topic], out);
}

const char *aw_kafka_topic_name(const struct aw_kafka *k,
                                enum aw_kafka_topic topic)
{
    if (!k || (int)topic < 0 || topic >= AW_KAFKA_TOPIC_COUNT)
        return NULL;
    return k->topics[topic].name;
}

bool aw_kafka_failed(const struct aw_kafka *k)
{
    return k && atomic_load(&k->fatal);
}

bool aw_kafka_connected(const struct aw_kafka *k)
{
    return k && !atomic_load(&k->fatal) && atomic_load(&k->connected);
}
