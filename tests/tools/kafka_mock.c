/*
 * aw-kafka-mock: a standalone librdkafka mock cluster on 127.0.0.1, and a
 * small consumer to read it back (TESTBED.md §2.2, docs/sinks.md).
 *
 *   aw-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... [--ignore-eof]
 *
 * prints "BOOTSTRAP host:port,..." and then takes one command a line on
 * stdin, answering "OK" or "ERR reason":
 *
 *   down N | up N            broker N (-1: all) refuses / accepts connections
 *   rtt N MS                 broker N (-1: all) answers MS later
 *   err APIKEY CODE COUNT    the next COUNT requests of APIKEY fail with CODE
 *                            (API keys: Produce 0, Metadata 3,
 *                            InitProducerId 22; codes: rd_kafka_resp_err_t)
 *   leader TOPIC PART N      make broker N the partition's leader
 *   topic NAME PARTITIONS    create a topic
 *   quit
 *
 * It exits cleanly on "quit", end of input (unless --ignore-eof: then only
 * on a signal) or SIGTERM/SIGINT. Topics not created with --topic are
 * auto-created on first use with the mock's default of 4 partitions.
 *
 *   aw-kafka-mock consume --bootstrap B --topic T [--timeout-ms N]
 *                 [--expect N]
 *
 * prints every message of T from the beginning, one JSON object a line:
 * {"key":"..."|null,"partition":P,"offset":O,"value":"..."} (key and value
 * as JSON strings; invalid UTF-8 becomes U+FFFD). It stops after N messages
 * (exit 0) or when none came for --timeout-ms (default 5000; exit 0 without
 * --expect, 1 if fewer than N arrived).
 *
 * Self-contained on purpose (only librdkafka): scripts and the README demo
 * can build and run it without the rest of airwave.
 */
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_TOPICS 32
#define LINE_BYTES 1024

static sigset_t stop_signals;

/* stdout is the protocol (BOOTSTRAP, OK/ERR, JSON lines): a failed write
 * means the reader is gone, and the tool stops. stderr is best effort. */
static bool out_failed;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void out(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (vfprintf(stdout, fmt, ap) < 0)
        out_failed = true;
    va_end(ap);
}

static void out_bytes(const void *p, size_t n)
{
    if (fwrite(p, 1, n, stdout) != n)
        out_failed = true;
}

static void out_flush(void)
{
    if (fflush(stdout) != 0)
        out_failed = true;
}

static void note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (vfprintf(stderr, fmt, ap) < 0) {
        /* nowhere left to say it */
    }
    va_end(ap);
}

static void usage(void)
{
    note("usage: aw-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... "
         "[--ignore-eof]\n"
         "       aw-kafka-mock consume --bootstrap B --topic T "
         "[--timeout-ms N] [--expect N]\n");
}

/* Block the stop signals in every thread (librdkafka's and the mock's are
 * created later and inherit the mask) and collect them with sigtimedwait():
 * no handler runs on a thread we do not own. */
static void block_stop_signals(void)
{
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    /* A reader that goes away must not kill us mid-line: the failed write
     * is noticed instead. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        note("cannot ignore SIGPIPE\n");
}

static bool stop_requested(void)
{
    struct timespec zero = {0, 0};

    return sigtimedwait(&stop_signals, NULL, &zero) > 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* ---- the cluster ------------------------------------------------------ */

static void reply(rd_kafka_resp_err_t err)
{
    if (err)
        out("ERR %s\n", rd_kafka_err2name(err));
    else
        out("OK\n");
    out_flush();
}

/* Split \p line into at most \p max words; @returns how many. */
static int split(char *line, char **words, int max)
{
    char *save = NULL, *w;
    int n = 0;

    for (w = strtok_r(line, " \t\r", &save); w && n < max;
         w = strtok_r(NULL, " \t\r", &save))
        words[n++] = w;
    return w ? max + 1 : n; /* max + 1: too many words */
}

/* @returns false on "quit". */
static bool run_command(rd_kafka_mock_cluster_t *mc, char *line)
{
    char *w[5];
    long a, b, c;
    int n = split(line, w, 4);

    if (n == 0)
        return true;
    if (n == 1 && !strcmp(w[0], "quit"))
        return false;
    if (n == 2 && !strcmp(w[0], "down") && parse_int(w[1], -1, 1000, &a)) {
        reply(rd_kafka_mock_broker_set_down(mc, (int32_t)a));
    } else if (n == 2 && !strcmp(w[0], "up") && parse_int(w[1], -1, 1000, &a)) {
        reply(rd_kafka_mock_broker_set_up(mc, (int32_t)a));
    } else if (n == 3 && !strcmp(w[0], "rtt") &&
               parse_int(w[1], -1, 1000, &a) &&
               parse_int(w[2], 0, 3600000, &b)) {
        reply(rd_kafka_mock_broker_set_rtt(mc, (int32_t)a, (int)b));
    } else if (n == 4 && !strcmp(w[0], "err") && parse_int(w[1], 0, 1000, &a) &&
               parse_int(w[2], -200, 1000, &b) &&
               parse_int(w[3], 1, 10000, &c)) {
        rd_kafka_resp_err_t *errs = malloc(sizeof(*errs) * (size_t)c);

        if (!errs) {
            out("ERR out of memory\n");
            out_flush();
            return true;
        }
        for (long i = 0; i < c; i++)
            errs[i] = (rd_kafka_resp_err_t)b;
        /* API keys are not in the public headers: Produce is 0. */
        rd_kafka_mock_push_request_errors_array(mc, (int16_t)a, (size_t)c,
                                                errs);
        free(errs);
        reply(RD_KAFKA_RESP_ERR_NO_ERROR);
    } else if (n == 4 && !strcmp(w[0], "leader") &&
               parse_int(w[2], 0, 100000, &a) &&
               parse_int(w[3], -1, 1000, &b)) {
        reply(rd_kafka_mock_partition_set_leader(mc, w[1], (int32_t)a,
                                                 (int32_t)b));
    } else if (n == 3 && !strcmp(w[0], "topic") &&
               parse_int(w[2], 1, 10000, &a)) {
        reply(rd_kafka_mock_topic_create(mc, w[1], (int)a, 1));
    } else {
        out("ERR unknown command or bad arguments\n");
        out_flush();
    }
    return true;
}

static int run_cluster(int argc, char **argv)
{
    const char *topics[MAX_TOPICS];
    long partitions[MAX_TOPICS], brokers = 3;
    size_t ntopics = 0, used = 0;
    bool ignore_eof = false, eof = false;
    rd_kafka_mock_cluster_t *mc;
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    char errstr[256], buf[LINE_BYTES];

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
            if (!parse_int(argv[++i], 1, 64, &brokers)) {
                note("--brokers: 1 to 64\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
            char *colon = strrchr(argv[++i], ':');

            if (!colon || ntopics == MAX_TOPICS ||
                !parse_int(colon + 1, 1, 10000, &partitions[ntopics])) {
                note("--topic NAME:PARTITIONS\n");
                return 2;
            }
            *colon = '\0';
            topics[ntopics++] = argv[i];
        } else if (!strcmp(argv[i], "--ignore-eof")) {
            ignore_eof = true;
        } else {
            usage();
            return 2;
        }
    }

    conf = rd_kafka_conf_new();
    /* This handle only hosts the cluster: without bootstrap.servers it
     * would warn (CONFWARN, level 5) that it cannot connect anywhere. */
    rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr));
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        note("rd_kafka_new: %s\n", errstr);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, (int)brokers);
    if (!mc) {
        note("rd_kafka_mock_cluster_new failed\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    for (size_t i = 0; i < ntopics; i++) {
        /* Replicas cannot outnumber brokers; 3 like a production topic. */
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
            mc, topics[i], (int)partitions[i], brokers < 3 ? (int)brokers : 3);

        if (err)
            note("topic %s: %s\n", topics[i], rd_kafka_err2str(err));
    }
    out("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mc));
    out_flush();

    for (;;) {
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        bool quit = false;
        ssize_t n;
        char *nl;

        if (stop_requested() || out_failed)
            break;
        if (eof) {
            if (!ignore_eof)
                break;
            poll(NULL, 0, 200);
            continue;
        }
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        n = read(STDIN_FILENO, buf + used, sizeof(buf) - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            eof = true;
            continue;
        }
        used += (size_t)n;
        buf[used] = '\0';
        while (!quit && (nl = strchr(buf, '\n')) != NULL) {
            *nl = '\0';
            quit = !run_command(mc, buf);
            used -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, used + 1);
        }
        if (quit)
            break;
        if (used == sizeof(buf) - 1) { /* an endless line: drop it */
            out("ERR line too long\n");
            out_flush();
            used = 0;
        }
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}

/* ---- the consumer ----------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (Unicode table 3-7), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    for (size_t i = 1; i < len; i++) {
        if (i >= n || s[i] < lo || s[i] > hi)
            return 0;
        lo = 0x80;
        hi = 0xBF;
    }
    return len;
}

static void put_json_string(const void *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = data;

    out_bytes("\"", 1);
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        size_t seq;

        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};

            out_bytes(esc, 2);
            i++;
        } else if (c == '\n') {
            out_bytes("\\n", 2);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

            out_bytes(esc, 6);
            i++;
        } else if ((seq = utf8_seq(p + i, len - i)) != 0) {
            out_bytes(p + i, seq);
            i += seq;
        } else {
            out_bytes("\xEF\xBF\xBD", 3); /* U+FFFD, per invalid byte */
            i++;
        }
    }
    out_bytes("\"", 1);
}

static int partitions_of(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    uint64_t until = now_ms() + (uint64_t)timeout_ms;
    int n = 0;

    while (rkt && n == 0 && now_ms() < until && !stop_requested()) {
        const struct rd_kafka_metadata *md;

        if (rd_kafka_metadata(rk, 0, rkt, &md, 1000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && !md->topics[0].err)
                n = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
        }
        if (!n)
            poll(NULL, 0, 200); /* the topic may not exist yet */
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return n;
}

static int run_consumer(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = NULL;
    long timeout_ms = 5000, expect = 0, got = 0;
    rd_kafka_topic_partition_list_t *parts;
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    char errstr[256];
    uint64_t last;
    int np;

    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--bootstrap") && i + 1 < argc) {
            bootstrap = argv[++i];
        } else if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
            topic = argv[++i];
        } else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
            if (!parse_int(argv[++i], 1, 86400000, &timeout_ms)) {
                usage();
                return 2;
            }
        } else if (!strcmp(argv[i], "--expect") && i + 1 < argc) {
            if (!parse_int(argv[++i], 1, 100000000, &expect)) {
                usage();
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (!bootstrap || !topic) {
        usage();
        return 2;
    }

    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr,
                          sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "group.id", "aw-kafka-mock-consume", errstr,
                          sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr,
                          sizeof(errstr))) {
        note("%s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        note("rd_kafka_new: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);

    /* Read every partition from the start: assign, not subscribe, so no
     * group rebalance delays the first message. */
    np = partitions_of(rk, topic, (int)timeout_ms);
    if (np == 0) {
        note("topic %s: not found within %ld ms\n", topic, timeout_ms);
        rd_kafka_destroy(rk);
        return expect ? 1 : 0;
    }
    parts = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);

    last = now_ms();
    while ((!expect || got < expect) &&
           now_ms() - last < (uint64_t)timeout_ms && !stop_requested() &&
           !out_failed) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            out("{\"key\":");
            if (m->key)
                put_json_string(m->key, m->key_len);
            else
                out("null");
            out(",\"partition\":%d,\"offset\":%lld,\"value\":",
                (int)m->partition, (long long)m->offset);
            put_json_string(m->payload, m->len);
            out("}\n");
            out_flush();
            got++;
            last = now_ms();
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            note("consume: %s\n", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (out_failed)
        return 1;
    if (expect && got < expect) {
        note("%ld of %ld messages within the timeout\n", got, expect);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    block_stop_signals();
    if (argc > 1 && !strcmp(argv[1], "consume"))
        return run_consumer(argc, argv);
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage();
        return 0;
    }
    return run_cluster(argc, argv);
}
