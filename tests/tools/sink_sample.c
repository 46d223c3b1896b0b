/*
 * aw-sink-sample: publish a known set of sample records through the real
 * sinks (src/sink/sink.c: JSON encoding, JSONL and Kafka), for
 * tests/integration/sink_schema.py and for trying consumers by hand.
 *
 *   aw-sink-sample [--bootstrap B] [--jsonl FILE|-] [--count N]
 *                  [--kafka PROPERTY=VALUE]...
 *
 * For each of three streams: N transcripts (default 10) with every optional
 * member present in some and absent in others, and text with odd bytes
 * (Latin-1, a lone continuation byte, controls, quotes, emoji); then one
 * stream event of every type, and an error event before any audio. Waits
 * until Kafka has acknowledged or failed everything, prints the counts on
 * stderr and exits 0 only if every record was delivered and written.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airwave/log.h"
#include "airwave/transcript.h"
#include "conf/conf.h"
#include "sink/kafka.h"
#include "sink/sink.h"

#define MAX_KV 32

static const char *const streams[] = {"radio-okapi", "tv.france24_en",
                                      "Radio_3"};

static const char *const texts[] = {
    "The council approved the new budget on Monday.",
    "Caf\xe9 cr\xe8me (Latin-1 from an old ICY server)",
    "A lone \x80 continuation and a truncated \xe2\x82",
    "Quotes \"inside\", a back\\slash, a tab\tand a\nnewline.",
    "\xf0\x9f\x93\xbb Radio \xc3\xa9mission \xe2\x80\x94 d\xc3\xa9j\xc3\xa0 vu",
    "",
};

/* Report on stderr; there is nowhere else to report a failure to. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (vfprintf(stderr, fmt, ap) < 0) {
        /* stderr is gone: the exit status still tells */
    }
    va_end(ap);
}

static void usage(void)
{
    say("usage: aw-sink-sample [--bootstrap B] [--jsonl FILE|-] "
        "[--count N] [--kafka PROPERTY=VALUE]...\n");
}

static void make_id(char out[37], int stream, int kind, int seq)
{
    aw_errstr_set(out, 37, "%08x-0000-5000-8000-%04x%08x", stream + 1, kind,
                  seq);
}

int main(int argc, char **argv)
{
    struct aw_kv kv[MAX_KV];
    struct aw_conf conf = {0};
    struct aw_kafka_counts c[AW_KAFKA_TOPIC_COUNT] = {{0}};
    struct aw_sink *sink;
    char errstr[512];
    long count = 10;
    int bad = 0, rc = 0;
    const char *bootstrap = NULL;
    size_t nkv = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bootstrap") && i + 1 < argc) {
            bootstrap = argv[++i];
        } else if (!strcmp(argv[i], "--jsonl") && i + 1 < argc) {
            conf.output_jsonl = argv[++i];
        } else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
            count = strtol(argv[++i], NULL, 10);
            if (count < 1 || count > 100000) {
                usage();
                return 2;
            }
        } else if (!strcmp(argv[i], "--kafka") && i + 1 < argc &&
                   strchr(argv[i + 1], '=') && nkv + 1 < MAX_KV) {
            char *eq = strchr(argv[++i], '=');

            *eq = '\0';
            kv[nkv++] = (struct aw_kv){argv[i], eq + 1, 0};
        } else {
            usage();
            return 2;
        }
    }
    if (bootstrap) {
        kv[nkv++] = (struct aw_kv){"bootstrap.servers", (char *)bootstrap, 0};
        conf.kafka_enabled = true;
    }
    conf.kafka = kv;
    conf.nkafka = nkv;
    conf.kafka_flush_timeout_ms = 30000;

    sink = aw_sink_new(&conf, errstr, sizeof(errstr));
    if (!sink) {
        say("aw-sink-sample: %s\n", errstr);
        return 1;
    }

    for (int seq = 0; seq < count; seq++) {
        for (int s = 0; s < (int)AW_ARRAY_SIZE(streams); s++) {
            struct aw_word words[3] = {
                {"the", seq * 3000L, 120},
                {"council", seq * 3000L + 120, 400},
                {texts[1], seq * 3000L + 520, 300},
            };
            struct aw_transcript t = {
                .stream_id = streams[s],
                .source = s == 1 ? "udp://239.0.0.1:1234"
                                 : "http://example.org/live.mp3",
                .language = s == 1 ? "en-GB" : "fr-FR",
                .text = texts[(size_t)seq % AW_ARRAY_SIZE(texts)],
                .lexical = seq % 2 ? NULL : "the council approved",
                .confidence = seq % 3 == 0 ? -1 : 0.5 + 0.049 * (seq % 10),
                .start_wall_ms = 1795694401230LL + seq * 3000L,
                .end_wall_ms = 1795694401230LL + seq * 3000L + 2300,
                .offset_ms = seq * 3000L,
                .duration_ms = 2300,
                .stream_title = seq % 4 == 1 ? "Morning news \xff" : NULL,
                .provider = "azure",
                .words = seq % 2 ? words : NULL,
                .nwords = seq % 2 ? 3 : 0,
            };

            make_id(t.id, s, 1, seq);
            make_id(t.capture_session, s, 0, 0);
            if (aw_sink_transcript(sink, &t) != AW_OK)
                bad++;
        }
    }
    for (int s = 0; s < (int)AW_ARRAY_SIZE(streams); s++) {
        for (int type = AW_EVENT_START; type <= AW_EVENT_ERROR + 1; type++) {
            struct aw_stream_event ev = {
                .type = type > AW_EVENT_ERROR ? AW_EVENT_ERROR
                                              : (enum aw_event_type)type,
                .stream_id = streams[s],
                .source =
                    type == AW_EVENT_START ? "http://example.org/x" : NULL,
                .wall_ms = 1795694401230LL + type * 1000L,
                .offset_ms = type > AW_EVENT_ERROR ? 0 : type * 1000L,
                .lost_seconds = 1.5,
                .replay_seconds = 42.25,
                .title = type == AW_EVENT_TITLE && s == 1 ? NULL : "Title \xe9",
                .reason = type == AW_EVENT_START ? NULL : "sample reason",
            };

            make_id(ev.id, s, 2, type);
            /* The last one precedes any audio: no capture session. */
            if (type <= AW_EVENT_ERROR)
                make_id(ev.capture_session, s, 0, 0);
            if (aw_sink_event(sink, &ev) != AW_OK)
                bad++;
        }
    }

    if (aw_sink_kafka(sink)) {
        size_t left = aw_kafka_flush(aw_sink_kafka(sink), 30000);

        for (int t = 0; t < AW_KAFKA_TOPIC_COUNT; t++) {
            aw_kafka_counts(aw_sink_kafka(sink), (enum aw_kafka_topic)t, &c[t]);
            say("%s: %llu produced, %llu delivered, %llu failed, %llu "
                "dropped\n",
                aw_kafka_topic_name(aw_sink_kafka(sink),
                                    (enum aw_kafka_topic)t),
                (unsigned long long)c[t].produced,
                (unsigned long long)c[t].delivered,
                (unsigned long long)c[t].failed,
                (unsigned long long)c[t].dropped);
            if (c[t].failed || c[t].dropped || c[t].delivered != c[t].produced)
                rc = 1;
        }
        if (left)
            rc = 1;
    }
    if (aw_sink_jsonl(sink))
        say("jsonl: %llu lines, %llu errors\n",
            (unsigned long long)aw_jsonl_lines(aw_sink_jsonl(sink)),
            (unsigned long long)aw_jsonl_errors(aw_sink_jsonl(sink)));
    if (bad) {
        say("%d records not published\n", bad);
        rc = 1;
    }
    aw_sink_destroy(sink);
    return rc;
}
