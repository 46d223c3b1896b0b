/*
 * Unit tests of src/conf: the property table, the YAML loader and its
 * messages, environment and command-line overrides, pass-through checks,
 * limits, and the generated reference and example files.
 *
 * Files are read from AW_SOURCE_DIR (set by ctest); the environment is
 * cleared of AIRWAVE_* variables first so the caller's shell cannot change
 * the results.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "airwave/err.h"
#include "conf/conf.h"

extern char **environ;

#define ERRS_SIZE 8192

static char errs[ERRS_SIZE];

static enum aw_err load(struct aw_conf *conf, const char *yaml)
{
    return aw_conf_load_string(conf, "t.yaml", yaml, strlen(yaml), errs,
                               sizeof(errs));
}

/* Load \p yaml, expect it to fail, and expect \p line among the errors. */
static void expect_error(const char *yaml, const char *line)
{
    struct aw_conf conf;

    assert_int_equal(load(&conf, yaml), AW_ERR_INVAL);
    if (!strstr(errs, line))
        fail_msg("expected \"%s\" in:\n%s", line, errs);
    aw_conf_free(&conf); /* harmless after a failed load */
}

static unsigned count_lines(const char *s)
{
    unsigned n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 &&
        !fseek(f, 0, SEEK_SET)) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
            buf[n] = '\0';
        } else {
            free(buf);
            buf = NULL;
        }
    }
    (void)fclose(f);
    return buf;
}

static const char *source_dir(void)
{
    const char *dir = getenv("AW_SOURCE_DIR");

    if (!dir)
        fail_msg("AW_SOURCE_DIR is not set (run through ctest)");
    return dir ? dir : "."; /* fail_msg() is not marked noreturn */
}

static char *write_temp(const char *yaml)
{
    char *path = strdup("/tmp/aw-conf-XXXXXX");
    int fd;

    assert_non_null(path);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    return path;
}

static void test_conf_defaults_match_the_table(void **state)
{
    struct aw_conf conf;

    (void)state;
    assert_int_equal(aw_conf_defaults(&conf), AW_OK);
    assert_string_equal(conf.speech_provider, "azure");
    assert_string_equal(conf.speech_endpoint,
                        "ws://127.0.0.1:5000/speech/recognition/conversation/"
                        "cognitiveservices/v1");
    assert_null(conf.speech_region);
    assert_string_equal(conf.speech_language, "en-US");
    assert_int_equal(conf.speech_format, AW_SPEECH_FORMAT_DETAILED);
    assert_false(conf.speech_word_timings);
    assert_null(conf.speech_key_file);
    assert_null(conf.speech_token_endpoint);
    assert_null(conf.speech_ca_file);
    assert_true(conf.speech_tls_verify);
    assert_true(conf.speech_rotate_seconds == 540);
    assert_true(conf.speech_rotate_grace_seconds == 45);
    assert_int_equal(conf.speech_chunk_ms, 100);
    assert_true(conf.speech_pace == 2);
    assert_true(conf.speech_connect_timeout_seconds == 10);
    assert_true(conf.speech_final_timeout_seconds == 15);
    assert_false(conf.kafka_enabled);
    assert_string_equal(conf.kafka_topic, "transcripts");
    assert_string_equal(conf.kafka_events_topic, "stream-events");
    assert_int_equal(conf.kafka_flush_timeout_ms, 10000);
    assert_int_equal(conf.nkafka, 0);
    assert_int_equal(conf.nffmpeg, 0);
    assert_true(conf.ingest_buffer_seconds == 30);
    assert_true(conf.ingest_stall_seconds == 20);
    assert_null(conf.output_jsonl);
    assert_null(conf.http_listen);
    assert_string_equal(conf.log_level, "info");
    assert_string_equal(conf.log_format, "logfmt");
    assert_int_equal(conf.nstreams, 0);
    aw_conf_free(&conf);

    /* An empty file and a comment-only file are the defaults too. */
    assert_int_equal(load(&conf, ""), AW_OK);
    assert_string_equal(conf.path, "t.yaml");
    assert_int_equal(conf.speech_chunk_ms, 100);
    aw_conf_free(&conf);
    assert_int_equal(load(&conf, "# nothing\n---\n"), AW_OK);
    aw_conf_free(&conf);
}

static void test_conf_stream_defaults_inherit(void **state)
{
    struct aw_conf conf;
    const struct aw_stream_conf *s;

    (void)state;
    assert_int_equal(load(&conf, "streams:\n"
                                 "  - id: a\n"
                                 "    url: samples/a.mp3\n"),
                     AW_OK);
    assert_int_equal(conf.nstreams, 1);
    s = &conf.streams[0];
    assert_string_equal(s->id, "a");
    assert_string_equal(s->url, "samples/a.mp3");
    assert_null(s->language);
    assert_int_equal(s->audio_track, -1);
    assert_null(s->audio_language);
    assert_int_equal(s->live, AW_LIVE_AUTO);
    assert_true(s->pace < 0);
    assert_int_equal(s->nffmpeg, 0);
    assert_int_equal(s->line, 2);
    aw_conf_free(&conf);
}

static void test_conf_nested_and_dotted_forms_are_equal(void **state)
{
    static const char nested[] = "speech:\n"
                                 "  format: simple\n"
                                 "  chunk_ms: 40\n"
                                 "kafka:\n"
                                 "  bootstrap.servers: k1:9092\n"
                                 "  sasl:\n"
                                 "    mechanisms: PLAIN\n"
                                 "ffmpeg:\n"
                                 "  rw_timeout: 5000000\n"
                                 "log: {level: debug}\n";
    static const char dotted[] = "speech.format: simple\n"
                                 "speech.chunk_ms: 40\n"
                                 "kafka.bootstrap.servers: k1:9092\n"
                                 "kafka.sasl.mechanisms: PLAIN\n"
                                 "ffmpeg.rw_timeout: 5000000\n"
                                 "log.level: debug\n";
    struct aw_conf a, b;

    (void)state;
    assert_int_equal(load(&a, nested), AW_OK);
    assert_int_equal(load(&b, dotted), AW_OK);
    assert_int_equal(a.speech_format, AW_SPEECH_FORMAT_SIMPLE);
    assert_int_equal(a.speech_format, b.speech_format);
    assert_int_equal(a.speech_chunk_ms, 40);
    assert_int_equal(a.speech_chunk_ms, b.speech_chunk_ms);
    assert_string_equal(a.log_level, "debug");
    assert_string_equal(a.log_level, b.log_level);
    assert_int_equal(a.nkafka, 2);
    assert_int_equal(b.nkafka, 2);
    for (size_t i = 0; i < a.nkafka; i++) {
        assert_string_equal(a.kafka[i].key, b.kafka[i].key);
        assert_string_equal(a.kafka[i].value, b.kafka[i].value);
    }
    assert_string_equal(a.kafka[1].key, "sasl.mechanisms");
    assert_int_equal(a.kafka[1].line, 7);
    assert_int_equal(a.nffmpeg, 1);
    assert_string_equal(b.ffmpeg[0].key, "rw_timeout");
    assert_string_equal(b.ffmpeg[0].value, "5000000");
    aw_conf_free(&a);
    aw_conf_free(&b);
}

static void test_conf_unknown_key_suggests_the_closest(void **state)
{
    (void)state;
    expect_error("speech:\n"
                 "  language: en-GB\n"
                 "  fromat: simple\n",
                 "t.yaml:3: speech.fromat: unknown key (did you mean "
                 "speech.format?)\n");
    expect_error("speach:\n  format: simple\n",
                 "t.yaml:1: speach: unknown key (did you mean speech?)\n");
    expect_error("colour: blue\n", "t.yaml:1: colour: unknown key\n");
    expect_error("streams:\n  - id: a\n    url: b\n    lang: fr-FR\n",
                 "t.yaml:4: streams[0].lang: unknown key\n");
    expect_error("streams:\n  - id: a\n    url: b\n    languag: fr-FR\n",
                 "t.yaml:4: streams[0].languag: unknown key (did you mean "
                 "language?)\n");
}

static void test_conf_wrong_type_reports_line_and_key(void **state)
{
    (void)state;
    expect_error("speech:\n  chunk_ms: fast\n",
                 "t.yaml:2: speech.chunk_ms: expected an integer\n");
    expect_error("speech.rotate_seconds: soon\n",
                 "t.yaml:1: speech.rotate_seconds: expected a number\n");
    expect_error("speech.tls_verify: maybe\n",
                 "t.yaml:1: speech.tls_verify: expected a boolean (true or "
                 "false)\n");
    expect_error("speech.format: verbose\n",
                 "t.yaml:1: speech.format: expected one of: simple, "
                 "detailed\n");
    expect_error("log.level: loud\n",
                 "t.yaml:1: log.level: expected one of: error, warn, notice, "
                 "info, debug\n");
    expect_error("speech:\n  language: [en-US, fr-FR]\n",
                 "t.yaml:2: speech.language: expected a string, got a "
                 "sequence\n");
    expect_error("speech.format:\n  a: b\n",
                 "t.yaml:2: speech.format: expected one of: simple, "
                 "detailed, got a mapping\n");
    expect_error("speech.language:\n",
                 "t.yaml:1: speech.language: expected a string\n");
    expect_error("streams: yes\n",
                 "t.yaml:1: streams: expected a list of streams\n");
    expect_error("streams:\n  - just-a-url\n",
                 "t.yaml:2: streams[0]: expected a mapping with id and "
                 "url\n");
    expect_error("- a\n- b\n",
                 "t.yaml:1: the top level must be a mapping of keys\n");
}

static void test_conf_out_of_range_reports_bounds(void **state)
{
    (void)state;
    expect_error("speech:\n  chunk_ms: 300\n",
                 "t.yaml:2: speech.chunk_ms: 300 is out of range 20 .. 250\n");
    expect_error("speech.rotate_seconds: 4\n",
                 "t.yaml:1: speech.rotate_seconds: 4 is out of range 5 .. "
                 "3600\n");
    expect_error("ingest.buffer_seconds: 1e9\n",
                 "t.yaml:1: ingest.buffer_seconds: 1e+09 is out of range 2 .. "
                 "600\n");
    expect_error("kafka.flush_timeout_ms: 99999999999999999999\n",
                 "t.yaml:1: kafka.flush_timeout_ms: expected an integer\n");
    expect_error("streams:\n  - {id: a, url: b, audio_track: -2}\n",
                 "t.yaml:2: streams[0].audio_track: -2 is out of range 0 .. "
                 "65535\n");
}

static void test_conf_pace_is_zero_or_in_range(void **state)
{
    struct aw_conf conf;

    (void)state;
    assert_int_equal(load(&conf, "speech.pace: 0\n"), AW_OK);
    assert_true(conf.speech_pace == 0);
    aw_conf_free(&conf);
    assert_int_equal(load(&conf, "speech.pace: 0.5\n"), AW_OK);
    aw_conf_free(&conf);
    expect_error("speech.pace: 0.2\n",
                 "t.yaml:1: speech.pace: expected 0 (unpaced) or 0.5 .. "
                 "100\n");
    expect_error("speech.pace: 101\n",
                 "t.yaml:1: speech.pace: 101 is out of range 0 .. 100\n");
    expect_error("streams:\n  - {id: a, url: b, pace: 0.1}\n",
                 "t.yaml:2: streams[0].pace: expected 0 (unpaced)");
    expect_error("speech.pace: nan\n", "speech.pace: expected a number\n");
}

static void test_conf_stream_needs_id_and_url(void **state)
{
    (void)state;
    expect_error("streams:\n"
                 "  - id: a\n"
                 "    url: b\n"
                 "  - url: c\n",
                 "t.yaml:4: streams[1]: missing required key id\n");
    expect_error("streams:\n"
                 "  - id: a\n",
                 "t.yaml:2: streams[0]: missing required key url\n");
    expect_error("streams:\n  - {id: 'a b', url: x}\n",
                 "t.yaml:2: streams[0].id: expected 1 .. 64 of "
                 "[A-Za-z0-9._-]\n");
    expect_error("streams:\n  - {id: a, url: ''}\n",
                 "t.yaml:2: streams[0].url: expected a URL or a file path\n");
}

static void test_conf_duplicate_stream_id_names_both_lines(void **state)
{
    (void)state;
    expect_error("streams:\n"
                 "  - id: okapi\n"
                 "    url: a\n"
                 "  - id: other\n"
                 "    url: b\n"
                 "  - id: okapi\n"
                 "    url: c\n",
                 "t.yaml:6: streams[2].id: duplicate stream id \"okapi\" "
                 "(first on line 2)\n");
}

static void test_conf_duplicate_key_is_refused_in_either_form(void **state)
{
    (void)state;
    expect_error("speech:\n"
                 "  format: simple\n"
                 "speech.format: detailed\n",
                 "t.yaml:3: speech.format: duplicate key (first on line 2)\n");
    expect_error("log.level: info\nlog.level: debug\n",
                 "t.yaml:2: log.level: duplicate key (first on line 1)\n");
    expect_error("speech:\n  format: simple\nspeech:\n  language: fr-FR\n",
                 "t.yaml:3: speech: duplicate key (first on line 1)\n");
    expect_error("kafka:\n"
                 "  acks: all\n"
                 "kafka.acks: 1\n",
                 "t.yaml:3: kafka.acks: duplicate key (first on line 2)\n");
    expect_error("streams:\n  - {id: a, url: b, url: c}\n",
                 "t.yaml:2: streams[0].url: duplicate key (first on line "
                 "2)\n");
}

static void test_conf_kafka_passthrough_reports_librdkafka_message(void **state)
{
    (void)state;
    expect_error("kafka:\n"
                 "  bootstrap.servers: k:9092\n"
                 "  compression.codec: zip\n",
                 "t.yaml:3: kafka.compression.codec: Invalid value \"zip\" "
                 "for configuration property \"compression.codec\"");
    expect_error("kafka.no.such.thing: 1\n",
                 "t.yaml:1: kafka.no.such.thing: No such configuration "
                 "property: \"no.such.thing\"");
    /* What the sink refuses, check-config refuses too. */
    expect_error("kafka.acks: 1\n", "t.yaml:1: kafka.acks:");
    expect_error("kafka.enable.idempotence: false\n",
                 "t.yaml:1: kafka.enable.idempotence:");
}

static void
test_conf_kafka_passthrough_strips_prefix_and_enables_sink(void **state)
{
    struct aw_conf conf;

    (void)state;
    assert_int_equal(load(&conf, "kafka:\n"
                                 "  topic: tx\n"
                                 "  acks: all\n"
                                 "  compression.codec: lz4\n"),
                     AW_OK);
    assert_false(conf.kafka_enabled); /* no brokers: Kafka stays off */
    assert_string_equal(conf.kafka_topic, "tx");
    assert_int_equal(conf.nkafka,
                     2); /* kafka.topic is ours, not librdkafka's */
    assert_string_equal(conf.kafka[0].key, "acks");
    assert_string_equal(conf.kafka[0].value, "all");
    assert_int_equal(conf.kafka[0].line, 3);
    aw_conf_free(&conf);

    assert_int_equal(load(&conf, "kafka.bootstrap.servers: a:1,b:2\n"), AW_OK);
    assert_true(conf.kafka_enabled);
    assert_string_equal(conf.kafka[0].key, "bootstrap.servers");
    assert_string_equal(conf.kafka[0].value, "a:1,b:2");
    aw_conf_free(&conf);

    expect_error("kafka.bootstrap.servers: ''\n",
                 "t.yaml:1: kafka.bootstrap.servers: expected host:port");
    expect_error("kafka.topic: 'bad topic'\n",
                 "t.yaml:1: kafka.topic: expected a Kafka topic name");
}

static void test_conf_ffmpeg_options_are_checked(void **state)
{
    struct aw_conf conf;

    (void)state;
    assert_int_equal(load(&conf, "ffmpeg:\n"
                                 "  rw_timeout: 15000000\n"
                                 "  reconnect: 1\n"
                                 "  reconnect_streamed: true\n"
                                 "  reconnect_delay_max: 30\n"
                                 "  user_agent: airwave/0.1\n"
                                 "  headers: \"X-A: b\\r\\n\"\n"
                                 "  icy: 1\n"
                                 "  fflags: +genpts+discardcorrupt\n"
                                 "  timeout: 5000000\n"
                                 "streams:\n"
                                 "  - id: a\n"
                                 "    url: http://example.org/a\n"
                                 "    ffmpeg: {icy: 0, probesize: 65536}\n"
                                 "    ffmpeg.analyzeduration: 1000000\n"),
                     AW_OK);
    assert_int_equal(conf.nffmpeg, 9);
    assert_int_equal(conf.streams[0].nffmpeg, 3);
    assert_string_equal(conf.streams[0].ffmpeg[0].key, "icy");
    assert_string_equal(conf.streams[0].ffmpeg[2].key, "analyzeduration");
    aw_conf_free(&conf);

    expect_error("ffmpeg:\n  rw_timout: 1\n",
                 "t.yaml:2: ffmpeg.rw_timout: unknown ffmpeg option");
    /* An output-only (muxer) option is unknown on input. */
    expect_error("ffmpeg.movflags: faststart\n",
                 "t.yaml:1: ffmpeg.movflags: unknown ffmpeg option");
    expect_error("ffmpeg.reconnect: perhaps\n",
                 "t.yaml:1: ffmpeg.reconnect: expected a boolean (ffmpeg "
                 "http option and 1 more)");
    expect_error("ffmpeg.rw_timeout: -5\n",
                 "t.yaml:1: ffmpeg.rw_timeout: out of range 0 .. ");
    expect_error("ffmpeg.timeout: 5s\n",
                 "t.yaml:1: ffmpeg.timeout: expected an integer (ffmpeg ");
    expect_error("ffmpeg.fflags: +nosuchflag\n",
                 "t.yaml:1: ffmpeg.fflags: expected flags or an integer");
    expect_error("streams:\n  - {id: a, url: b, ffmpeg: {bogus: 1}}\n",
                 "t.yaml:2: streams[0].ffmpeg.bogus: unknown ffmpeg option");
    expect_error("streams:\n  - {id: a, url: b, ffmpeg: [icy]}\n",
                 "t.yaml:2: streams[0].ffmpeg: unknown key");
}

static void test_conf_speech_key_is_refused_everywhere(void **state)
{
    struct aw_conf conf;
    char err[512];

    (void)state;
    expect_error("speech:\n  key: 0123456789abcdef\n",
                 "t.yaml:2: speech.key: never read from the configuration: "
                 "set the environment variable AZURE_SPEECH_KEY or "
                 "speech.key_file");
    assert_null(strstr(errs, "0123456789abcdef")); /* never echoed */
    expect_error("speech.key: {a: b}\n", "t.yaml:1: speech.key: never read");

    assert_int_equal(aw_conf_defaults(&conf), AW_OK);
    assert_int_equal(
        aw_conf_set(&conf, "speech.key", "secret", err, sizeof(err)),
        AW_ERR_INVAL);
    assert_non_null(strstr(err, "AZURE_SPEECH_KEY"));
    assert_null(strstr(err, "secret"));

    setenv("AIRWAVE_SPEECH_KEY", "secret", 1);
    assert_int_equal(aw_conf_apply_env(&conf, errs, sizeof(errs)),
                     AW_ERR_INVAL);
    unsetenv("AIRWAVE_SPEECH_KEY");
    assert_non_null(strstr(errs, "environment AIRWAVE_SPEECH_KEY: never "
                                 "read from the configuration"));
    assert_null(strstr(errs, "secret"));
    aw_conf_free(&conf);
}

static void test_conf_yaml_syntax_error_reports_position(void **state)
{
    (void)state;
    expect_error("speech:\n"
                 "  format: simple\n"
                 " language: en-US\n",
                 "t.yaml:3:2: YAML syntax error: did not find expected key");
    expect_error("speech: {format: simple\n",
                 "t.yaml:2:1: YAML syntax error: did not find expected ',' "
                 "or '}' (while parsing a flow mapping started on line 1)");
    expect_error("log.level: \"info\n",
                 "t.yaml:2:1: YAML syntax error: found unexpected end of "
                 "stream");
    expect_error("a: 1\n\n\xff\xfe: 2\n", "t.yaml:3: invalid input: invalid "
                                          "leading UTF-8 octet");
    expect_error("log.level: info\n---\nlog.level: debug\n",
                 "t.yaml:2: only one YAML document is allowed\n");
}

static void test_conf_every_error_is_reported(void **state)
{
    struct aw_conf conf;

    (void)state;
    assert_int_equal(load(&conf, "speech:\n"
                                 "  format: plain\n"  /* 2 */
                                 "  chunk_ms: 1000\n" /* 3 */
                                 "  langauge: fr\n"   /* 4 */
                                 "kafka.acks: most\n" /* 5 */
                                 "log.format: xml\n"  /* 6 */
                                 "streams:\n"
                                 "  - id: x\n" /* 8 */
                                 "  - id: x\n" /* 9 */
                                 "    url: y\n"),
                     AW_ERR_INVAL);
    assert_non_null(strstr(errs, "t.yaml:2: speech.format:"));
    assert_non_null(strstr(errs, "t.yaml:3: speech.chunk_ms:"));
    assert_non_null(strstr(errs, "t.yaml:4: speech.langauge: unknown key "
                                 "(did you mean speech.language?)"));
    assert_non_null(strstr(errs, "t.yaml:5: kafka.acks:"));
    assert_non_null(strstr(errs, "t.yaml:6: log.format:"));
    assert_non_null(strstr(errs, "t.yaml:8: streams[0]: missing required "
                                 "key url"));
    assert_non_null(strstr(errs, "t.yaml:9: streams[1].id: duplicate stream "
                                 "id \"x\" (first on line 8)"));
    assert_int_equal(count_lines(errs), 7);
    /* A failed load leaves nothing behind. */
    assert_null(conf.speech_language);
    assert_null(conf.streams);
    aw_conf_free(&conf);
}

static void test_conf_errors_truncate_but_still_fail(void **state)
{
    struct aw_conf conf;
    char small[40];

    (void)state;
    assert_int_equal(aw_conf_load_string(&conf, "t.yaml", "a: 1\nb: 2\nc: 3\n",
                                         15, small, sizeof(small)),
                     AW_ERR_INVAL);
    assert_true(strlen(small) < sizeof(small));
    assert_int_equal(strncmp(small, "t.yaml:1: a: unknown key\n", 25), 0);
    assert_int_equal(aw_conf_load_string(&conf, "t.yaml", "a: 1\n", 5, NULL, 0),
                     AW_ERR_INVAL);
}

static void test_conf_environment_overrides_the_file(void **state)
{
    char *path = write_temp("speech:\n"
                            "  format: detailed\n"
                            "  chunk_ms: 60\n"
                            "kafka.bootstrap.servers: file:9092\n"
                            "ffmpeg.rw_timeout: 1000000\n");
    struct aw_conf conf;

    (void)state;
    setenv("AIRWAVE_SPEECH_FORMAT", "simple", 1);
    setenv("AIRWAVE_KAFKA_BOOTSTRAP_SERVERS", "env:9092", 1);
    setenv("AIRWAVE_FFMPEG_RW_TIMEOUT", "2000000", 1);
    setenv("AIRWAVE_OUTPUT_JSONL", "-", 1);
    setenv("AIRWAVE_CONFIG", "/elsewhere.yaml", 1); /* not ours: ignored */
    assert_int_equal(aw_conf_load(&conf, path, errs, sizeof(errs)), AW_OK);
    assert_int_equal(conf.speech_format, AW_SPEECH_FORMAT_SIMPLE);
    assert_int_equal(conf.speech_chunk_ms, 60); /* the file still counts */
    assert_true(conf.kafka_enabled);
    assert_string_equal(conf.kafka[0].value, "env:9092");
    assert_int_equal(conf.kafka[0].line, 0);
    assert_string_equal(conf.ffmpeg[0].key, "rw_timeout");
    assert_string_equal(conf.ffmpeg[0].value, "2000000");
    assert_string_equal(conf.output_jsonl, "-");
    assert_string_equal(conf.path, path);
    aw_conf_free(&conf);

    /* An empty value unsets an optional key. */
    setenv("AIRWAVE_KAFKA_BOOTSTRAP_SERVERS", "", 1);
    setenv("AIRWAVE_OUTPUT_JSONL", "", 1);
    assert_int_equal(aw_conf_load(&conf, path, errs, sizeof(errs)), AW_OK);
    assert_false(conf.kafka_enabled);
    assert_null(conf.output_jsonl);
    aw_conf_free(&conf);

    /* aw_conf_load_string() reads the bytes alone. */
    assert_int_equal(load(&conf, "speech.format: detailed\n"), AW_OK);
    assert_int_equal(conf.speech_format, AW_SPEECH_FORMAT_DETAILED);
    aw_conf_free(&conf);

    unsetenv("AIRWAVE_SPEECH_FORMAT");
    unsetenv("AIRWAVE_KAFKA_BOOTSTRAP_SERVERS");
    unsetenv("AIRWAVE_FFMPEG_RW_TIMEOUT");
    unsetenv("AIRWAVE_OUTPUT_JSONL");
    unsetenv("AIRWAVE_CONFIG");
    unlink(path);
    free(path);
}

static void test_conf_environment_kafka_underscores_become_dots(void **state)
{
    struct aw_conf conf;

    (void)state;
    assert_int_equal(aw_conf_defaults(&conf), AW_OK);
    setenv("AIRWAVE_KAFKA_SASL_MECHANISMS", "PLAIN", 1);
    setenv("AIRWAVE_KAFKA_EVENTS_TOPIC", "ev", 1); /* ours keeps its name */
    setenv("AIRWAVE_KAFKA_FLUSH_TIMEOUT_MS", "500", 1);
    assert_int_equal(aw_conf_apply_env(&conf, errs, sizeof(errs)), AW_OK);
    unsetenv("AIRWAVE_KAFKA_SASL_MECHANISMS");
    unsetenv("AIRWAVE_KAFKA_EVENTS_TOPIC");
    unsetenv("AIRWAVE_KAFKA_FLUSH_TIMEOUT_MS");
    assert_int_equal(conf.nkafka, 1);
    assert_string_equal(conf.kafka[0].key, "sasl.mechanisms");
    assert_string_equal(conf.kafka[0].value, "PLAIN");
    assert_string_equal(conf.kafka_events_topic, "ev");
    assert_int_equal(conf.kafka_flush_timeout_ms, 500);
    aw_conf_free(&conf);
}

static void test_conf_environment_bad_value_names_the_variable(void **state)
{
    struct aw_conf conf;

    (void)state;
    assert_int_equal(aw_conf_defaults(&conf), AW_OK);
    setenv("AIRWAVE_SPEECH_CHUNK_MS", "9000", 1);
    setenv("AIRWAVE_SPEECH_FROMAT", "simple", 1);
    setenv("AIRWAVE_KAFKA_NOPE", "1", 1);
    setenv("AIRWAVE_STREAMS_0_ID", "x", 1);
    assert_int_equal(aw_conf_apply_env(&conf, errs, sizeof(errs)),
                     AW_ERR_INVAL);
    unsetenv("AIRWAVE_SPEECH_CHUNK_MS");
    unsetenv("AIRWAVE_SPEECH_FROMAT");
    unsetenv("AIRWAVE_KAFKA_NOPE");
    unsetenv("AIRWAVE_STREAMS_0_ID");
    assert_non_null(strstr(errs, "environment AIRWAVE_SPEECH_CHUNK_MS: 9000 "
                                 "is out of range 20 .. 250\n"));
    assert_non_null(strstr(errs, "environment AIRWAVE_SPEECH_FROMAT: unknown "
                                 "key speech.fromat (did you mean "
                                 "AIRWAVE_SPEECH_FORMAT?)\n"));
    assert_non_null(strstr(errs, "environment AIRWAVE_KAFKA_NOPE: No such "
                                 "configuration property"));
    assert_non_null(strstr(errs, "environment AIRWAVE_STREAMS_0_ID: streams "
                                 "are only read from the configuration "
                                 "file\n"));
    assert_int_equal(count_lines(errs), 4);
    assert_int_equal(conf.speech_chunk_ms, 100); /* bad values not applied */
    aw_conf_free(&conf);

    /* Through aw_conf_load(), the same errors fail the load. */
    setenv("AIRWAVE_LOG_LEVEL", "chatty", 1);
    {
        char *path = write_temp("log.format: json\n");

        assert_int_equal(aw_conf_load(&conf, path, errs, sizeof(errs)),
                         AW_ERR_INVAL);
        assert_non_null(strstr(errs, "environment AIRWAVE_LOG_LEVEL: "
                                     "expected one of"));
        unlink(path);
        free(path);
    }
    unsetenv("AIRWAVE_LOG_LEVEL");
}

static void test_conf_set_validates_like_the_file(void **state)
{
    struct aw_conf conf;
    char err[512];

    (void)state;
    assert_int_equal(load(&conf, "speech.format: simple\n"), AW_OK);
    assert_int_equal(
        aw_conf_set(&conf, "speech.format", "detailed", err, sizeof(err)),
        AW_OK);
    assert_int_equal(conf.speech_format, AW_SPEECH_FORMAT_DETAILED);
    assert_int_equal(
        aw_conf_set(&conf, "speech.chunk_ms", "10", err, sizeof(err)),
        AW_ERR_INVAL);
    assert_string_equal(err, "speech.chunk_ms: 10 is out of range 20 .. 250");
    assert_int_equal(
        aw_conf_set(&conf, "speech.fromat", "simple", err, sizeof(err)),
        AW_ERR_INVAL);
    assert_string_equal(err, "speech.fromat: unknown key (did you mean "
                             "speech.format?)");
    assert_int_equal(
        aw_conf_set(&conf, "kafka.linger.ms", "5", err, sizeof(err)), AW_OK);
    assert_string_equal(conf.kafka[0].key, "linger.ms");
    assert_int_equal(
        aw_conf_set(&conf, "kafka.linger.ms", "50", err, sizeof(err)), AW_OK);
    assert_int_equal(conf.nkafka, 1); /* replaced, not appended */
    assert_string_equal(conf.kafka[0].value, "50");
    assert_int_equal(
        aw_conf_set(&conf, "kafka.bootstrap.servers", "k:1", err, sizeof(err)),
        AW_OK);
    assert_true(conf.kafka_enabled);
    assert_int_equal(
        aw_conf_set(&conf, "kafka.bootstrap.servers", NULL, err, sizeof(err)),
        AW_OK);
    assert_false(conf.kafka_enabled);
    assert_int_equal(
        aw_conf_set(&conf, "http.listen", "127.0.0.1:0", err, sizeof(err)),
        AW_OK);
    assert_int_equal(aw_conf_set(&conf, "streams", "x", err, sizeof(err)),
                     AW_ERR_INVAL);
    assert_int_equal(
        aw_conf_set(&conf, "speech.language", NULL, err, sizeof(err)),
        AW_ERR_INVAL); /* has a default: cannot be unset */
    assert_string_equal(conf.speech_language, "en-US");
    aw_conf_free(&conf);
}

static void test_conf_add_stream_validates_like_the_file(void **state)
{
    struct aw_conf conf;
    char err[256];

    (void)state;
    assert_int_equal(aw_conf_defaults(&conf), AW_OK);
    assert_int_equal(
        aw_conf_add_stream(&conf, "news-1", "samples/a.mp3", err, sizeof(err)),
        AW_OK);
    assert_int_equal(conf.nstreams, 1);
    assert_string_equal(conf.streams[0].url, "samples/a.mp3");
    assert_null(conf.streams[0].language); /* inherits speech.language */
    assert_true(conf.streams[0].pace < 0); /* inherits speech.pace */
    assert_int_equal(conf.streams[0].audio_track, -1);
    assert_int_equal(
        aw_conf_add_stream(&conf, "news-1", "b.mp3", err, sizeof(err)),
        AW_ERR_INVAL);
    assert_non_null(strstr(err, "taken"));
    assert_int_equal(
        aw_conf_add_stream(&conf, "bad id!", "b.mp3", err, sizeof(err)),
        AW_ERR_INVAL);
    assert_int_equal(conf.nstreams, 1);
    aw_conf_free(&conf);
}

static void test_conf_copies_and_compares_for_reload(void **state)
{
    const char *yaml = "speech: {format: simple}\n"
                       "kafka: {bootstrap.servers: 'k:9092', acks: all}\n"
                       "streams:\n"
                       "  - id: a\n"
                       "    url: http://x/a.mp3\n"
                       "    ffmpeg: {rw_timeout: 5000000}\n"
                       "  - id: b\n"
                       "    url: http://x/b.mp3\n";
    struct aw_conf a, b;
    struct aw_stream_conf copy;

    (void)state;
    assert_int_equal(load(&a, yaml), AW_OK);
    assert_int_equal(load(&b, yaml), AW_OK);
    assert_null(aw_conf_global_diff(&a, &b, NULL));
    assert_int_equal(aw_conf_stream_copy(&copy, &a.streams[0]), AW_OK);
    assert_true(aw_conf_stream_equal(&copy, &a.streams[0]));
    assert_false(aw_conf_stream_equal(&copy, &a.streams[1]));
    assert_string_equal(copy.ffmpeg[0].value, "5000000");
    assert_ptr_not_equal(copy.url, a.streams[0].url);
    aw_conf_free(&a); /* the copy stands alone */
    assert_string_equal(copy.url, "http://x/a.mp3");

    free(b.streams[1].url);
    b.streams[1].url = strdup("http://x/other.mp3");
    assert_false(aw_conf_stream_equal(&copy, &b.streams[1]));
    assert_true(aw_conf_stream_equal(&copy, &b.streams[0]));
    assert_int_equal(
        aw_conf_set(&b, "speech.format", "detailed", errs, sizeof(errs)),
        AW_OK);
    assert_int_equal(load(&a, yaml), AW_OK);
    assert_string_equal(aw_conf_global_diff(&a, &b, NULL), "speech.format");
    assert_null(aw_conf_global_diff(&a, &b, "kafka."));
    aw_conf_stream_free(&copy);
    aw_conf_free(&a);
    aw_conf_free(&b);
}

static void test_conf_region_fills_in_the_endpoint(void **state)
{
    struct aw_conf conf;
    char err[512];

    (void)state;
    assert_int_equal(load(&conf, "speech.region: westeurope\n"), AW_OK);
    assert_string_equal(conf.speech_endpoint,
                        "wss://westeurope.stt.speech.microsoft.com/speech/"
                        "recognition/conversation/cognitiveservices/v1");
    /* An endpoint set explicitly wins, whatever the order. */
    assert_int_equal(aw_conf_set(&conf, "speech.endpoint",
                                 "wss://proxy.example.org/stt", err,
                                 sizeof(err)),
                     AW_OK);
    assert_int_equal(
        aw_conf_set(&conf, "speech.region", "eastus2", err, sizeof(err)),
        AW_OK);
    assert_string_equal(conf.speech_endpoint, "wss://proxy.example.org/stt");
    aw_conf_free(&conf);

    assert_int_equal(load(&conf, "speech:\n"
                                 "  endpoint: ws://speechd:5000/x/y\n"
                                 "  region: westeurope\n"),
                     AW_OK);
    assert_string_equal(conf.speech_endpoint, "ws://speechd:5000/x/y");
    aw_conf_free(&conf);

    expect_error("speech.region: West Europe\n",
                 "t.yaml:1: speech.region: expected an Azure region name");
}

static void test_conf_endpoint_must_be_a_websocket_url(void **state)
{
    static const char *const good[] = {
        ("ws://127.0.0.1:5000/speech/recognition/dictation/"
         "cognitiveservices/v1"),
        "wss://westeurope.stt.speech.microsoft.com/speech/x",
        "WSS://[::1]:443/p",
        "ws://speechd/p?language=en-US",
    };
    static const char *const bad[] = {
        "http://127.0.0.1:5000/speech",
        "ws://",
        "ws:///path",
        "ws://host",
        "ws://host/",
        "ws://host:99999/p",
        "ws://host:port/p",
        "ws://ho st/p",
        "wss://[::1/p",
    };
    struct aw_conf conf;
    char err[512];

    (void)state;
    assert_int_equal(aw_conf_defaults(&conf), AW_OK);
    for (size_t i = 0; i < AW_ARRAY_SIZE(good); i++) {
        if (aw_conf_set(&conf, "speech.endpoint", good[i], err, sizeof(err)) !=
            AW_OK)
            fail_msg("%s refused: %s", good[i], err);
    }
    for (size_t i = 0; i < AW_ARRAY_SIZE(bad); i++) {
        if (aw_conf_set(&conf, "speech.endpoint", bad[i], err, sizeof(err)) !=
            AW_ERR_INVAL)
            fail_msg("%s accepted", bad[i]);
    }
    assert_int_equal(aw_conf_set(&conf, "speech.token_endpoint",
                                 "http://x/issueToken", err, sizeof(err)),
                     AW_ERR_INVAL);
    assert_string_equal(err, "speech.token_endpoint: expected a https:// URL");
    assert_int_equal(aw_conf_set(&conf, "speech.token_endpoint",
                                 "https://westeurope.api.cognitive."
                                 "microsoft.com/sts/v1.0/issueToken",
                                 err, sizeof(err)),
                     AW_OK);
    aw_conf_free(&conf);
}

static void test_conf_language_must_be_bcp47(void **state)
{
    static const char *const good[] = {"en-US", "fr-FR",  "zh-Hans-CN", "fra",
                                       "sw",    "es-419", "de-CH-1996"};
    static const char *const bad[] = {
        "e",   "en_US",  "english-US!",     "en-",
        "-US", "en--US", "toolongsubtag-x", "abcd"};
    struct aw_conf conf;
    char err[512];

    (void)state;
    assert_int_equal(aw_conf_defaults(&conf), AW_OK);
    for (size_t i = 0; i < AW_ARRAY_SIZE(good); i++) {
        if (aw_conf_set(&conf, "speech.language", good[i], err, sizeof(err)) !=
            AW_OK)
            fail_msg("%s refused: %s", good[i], err);
    }
    for (size_t i = 0; i < AW_ARRAY_SIZE(bad); i++) {
        if (aw_conf_set(&conf, "speech.language", bad[i], err, sizeof(err)) !=
            AW_ERR_INVAL)
            fail_msg("%s accepted", bad[i]);
    }
    aw_conf_free(&conf);
}

static void test_conf_paths_and_addresses_are_checked(void **state)
{
    struct aw_conf conf;
    char err[512];
    char *ca = write_temp("not really PEM\n");

    (void)state;
    assert_int_equal(aw_conf_defaults(&conf), AW_OK);
    assert_int_equal(aw_conf_set(&conf, "speech.ca_file", ca, err, sizeof(err)),
                     AW_OK);
    assert_int_equal(aw_conf_set(&conf, "speech.ca_file", "/nonexistent/ca",
                                 err, sizeof(err)),
                     AW_ERR_INVAL);
    assert_string_equal(err, "speech.ca_file: /nonexistent/ca: No such file "
                             "or directory");
    assert_int_equal(
        aw_conf_set(&conf, "speech.ca_file", "/tmp", err, sizeof(err)),
        AW_ERR_INVAL);
    assert_string_equal(conf.speech_ca_file, ca); /* unchanged on failure */
    assert_int_equal(
        aw_conf_set(&conf, "http.listen", "0.0.0.0:9090", err, sizeof(err)),
        AW_OK);
    assert_int_equal(
        aw_conf_set(&conf, "http.listen", "[::]:9090", err, sizeof(err)),
        AW_OK);
    assert_int_equal(
        aw_conf_set(&conf, "http.listen", "9090", err, sizeof(err)),
        AW_ERR_INVAL);
    assert_int_equal(
        aw_conf_set(&conf, "http.listen", "host:", err, sizeof(err)),
        AW_ERR_INVAL);
    assert_int_equal(aw_conf_set(&conf, "output.jsonl", "-", err, sizeof(err)),
                     AW_OK);
    assert_int_equal(aw_conf_set(&conf, "output.jsonl", "", err, sizeof(err)),
                     AW_ERR_INVAL);
    aw_conf_free(&conf);
    unlink(ca);
    free(ca);
}

static void test_conf_aliases_are_refused(void **state)
{
    (void)state;
    expect_error("base: &b {format: simple}\nspeech: *b\n",
                 "t.yaml:1: base: unknown key\n");
    expect_error("speech:\n  format: &f simple\nlog.level: *f\n",
                 "t.yaml:3: log.level: YAML aliases are not supported\n");
    /* Nested aliases that would expand to billions of nodes cost nothing. */
    expect_error("a: &a [x, x, x, x, x, x, x, x, x]\n"
                 "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                 "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                 "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                 "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
                 "t.yaml:5: e: unknown key\n");
}

static void test_conf_limits_are_enforced(void **state)
{
    struct aw_conf conf;
    char *big;
    size_t n = 0, cap = AW_CONF_MAX_FILE_BYTES + 2;

    (void)state;
    big = malloc(cap);
    assert_non_null(big);

    /* File size. */
    memset(big, '#', cap - 1);
    big[cap - 1] = '\0';
    assert_int_equal(
        aw_conf_load_string(&conf, "t.yaml", big, cap - 1, errs, sizeof(errs)),
        AW_ERR_TOO_LARGE);
    assert_non_null(strstr(errs, "t.yaml: larger than 1048576 bytes"));

    /* Nesting. */
    n = (size_t)sprintf(big, "kafka:");
    for (int i = 0; i < 40; i++)
        n += (size_t)sprintf(big + n, " {k%d:", i);
    n += (size_t)sprintf(big + n, " v");
    for (int i = 0; i < 40; i++)
        big[n++] = '}';
    big[n++] = '\n';
    big[n] = '\0';
    expect_error(big, "t.yaml:1: nested deeper than 32 levels\n");
    n = (size_t)sprintf(big, "x: ");
    for (int i = 0; i < 100000; i++)
        big[n++] = '[';
    big[n] = '\0';
    expect_error(big, "t.yaml:1: nested deeper than 32 levels\n");

    /* Streams. */
    n = (size_t)sprintf(big, "streams:\n");
    for (int i = 0; i <= AW_CONF_MAX_STREAMS; i++)
        n += (size_t)sprintf(big + n, "- {id: s%d, url: u}\n", i);
    expect_error(big, "t.yaml:10002: streams: more than 10000 streams\n");
    assert_int_equal(count_lines(errs), 1);

    /* Exactly the limit is fine. */
    big[n - strlen("- {id: s10000, url: u}\n")] = '\0';
    assert_int_equal(load(&conf, big), AW_OK);
    assert_int_equal(conf.nstreams, AW_CONF_MAX_STREAMS);
    assert_non_null(aw_conf_stream(&conf, "s9999"));
    aw_conf_free(&conf);

    free(big);
}

static void test_conf_free_and_reload_do_not_leak(void **state)
{
    static const char yaml[] = "speech.region: westeurope\n"
                               "kafka.bootstrap.servers: k:9092\n"
                               "kafka.acks: all\n"
                               "ffmpeg.rw_timeout: 1000000\n"
                               "output.jsonl: out.jsonl\n"
                               "streams:\n"
                               "  - id: a\n"
                               "    url: http://example.org/a\n"
                               "    language: fr-FR\n"
                               "    ffmpeg: {icy: 1}\n";
    struct aw_conf conf;

    (void)state;
    /* ASan's leak check at exit proves the frees; this proves reuse. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(load(&conf, yaml), AW_OK);
        assert_string_equal(aw_conf_stream(&conf, "a")->language, "fr-FR");
        assert_null(aw_conf_stream(&conf, "b"));
        aw_conf_free(&conf);
        assert_null(conf.path);
        assert_int_equal(conf.nstreams, 0);
        aw_conf_free(&conf); /* twice is harmless */
        assert_int_equal(load(&conf, "speech.format: bad\n" /* fails */),
                         AW_ERR_INVAL);
        aw_conf_free(&conf);
    }
    aw_conf_free(NULL);
}

static void test_conf_missing_file_is_not_found(void **state)
{
    struct aw_conf conf;

    (void)state;
    assert_int_equal(
        aw_conf_load(&conf, "/nonexistent/airwave.yaml", errs, sizeof(errs)),
        AW_ERR_NOT_FOUND);
    assert_string_equal(errs, "/nonexistent/airwave.yaml: No such file or "
                              "directory\n");
    aw_conf_free(&conf);
    assert_int_equal(aw_conf_load(&conf, "/tmp", errs, sizeof(errs)),
                     AW_ERR_IO);
    aw_conf_free(&conf);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");

    if (f) {
        (void)fputs(text, f);
        (void)fclose(f);
    }
}

/* Compare a checked-in file with what a writer produces; on a mismatch
 * leave the fresh copy in the build directory for `cp`. */
static void expect_generated(const char *rel, enum aw_err (*gen)(FILE *))
{
    const char *bdir = getenv("AW_BUILD_DIR");
    char path[4096], fresh[4096], *want, *got = NULL;
    size_t got_len = 0;
    FILE *mem = open_memstream(&got, &got_len);
    bool stale;

    assert_non_null(mem);
    assert_int_equal(gen(mem), AW_OK);
    assert_int_equal(fclose(mem), 0);
    aw_errstr_set(path, sizeof(path), "%s/%s", source_dir(), rel);
    aw_errstr_set(fresh, sizeof(fresh), "%s/%s", bdir ? bdir : ".",
                  strrchr(rel, '/') + 1);
    want = read_file(path);
    stale = !want || strcmp(want, got) != 0;
    if (stale)
        write_file(fresh, got);
    free(want);
    free(got);
    if (stale)
        fail_msg("%s is stale: the table changed. Fresh copy: cp %s %s", rel,
                 fresh, path);
}

static void test_conf_reference_matches_docs(void **state)
{
    (void)state;
    expect_generated("docs/CONFIGURATION.md", aw_conf_write_reference);
}

static void test_conf_example_matches_configs(void **state)
{
    (void)state;
    expect_generated("configs/airwave.example.yaml", aw_conf_write_example);
}

static void test_conf_bundled_configs_validate(void **state)
{
    char dir[4096], path[4096 + 256];
    struct dirent *de;
    DIR *d;
    int n = 0;

    (void)state;
    aw_errstr_set(dir, sizeof(dir), "%s/configs", source_dir());
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        struct aw_conf conf;

        if (len < 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        aw_errstr_set(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (aw_conf_load(&conf, path, errs, sizeof(errs)) != AW_OK)
            fail_msg("%s does not validate:\n%s", path, errs);
        aw_conf_free(&conf);
        n++;
    }
    closedir(d);
    assert_true(n >= 4); /* example, local, azure, many-streams */
}

static void test_conf_bundled_configs_mean_what_they_say(void **state)
{
    char path[4096];
    struct aw_conf conf;

    (void)state;
    aw_errstr_set(path, sizeof(path), "%s/configs/azure.yaml", source_dir());
    assert_int_equal(aw_conf_load(&conf, path, errs, sizeof(errs)), AW_OK);
    assert_int_equal(strncmp(conf.speech_endpoint, "wss://", 6), 0);
    assert_non_null(conf.speech_region);
    aw_conf_free(&conf);

    aw_errstr_set(path, sizeof(path), "%s/configs/local.yaml", source_dir());
    assert_int_equal(aw_conf_load(&conf, path, errs, sizeof(errs)), AW_OK);
    assert_int_equal(strncmp(conf.speech_endpoint, "ws://127.0.0.1:", 15), 0);
    assert_true(conf.nstreams >= 3);
    aw_conf_free(&conf);

    aw_errstr_set(path, sizeof(path), "%s/configs/many-streams.yaml",
                  source_dir());
    assert_int_equal(aw_conf_load(&conf, path, errs, sizeof(errs)), AW_OK);
    assert_true(conf.nstreams >= 12);
    for (size_t i = 0; i < conf.nstreams; i++)
        assert_non_null(strstr(conf.streams[i].url, "example.org"));
    aw_conf_free(&conf);
}

/* ctest passes the caller's environment through: drop anything that could
 * change the results. */
static int clear_airwave_env(void **state)
{
    char name[256];

    (void)state;
    for (;;) {
        char **e = environ;
        const char *eq = NULL;

        while (e && *e && strncmp(*e, "AIRWAVE_", 8) != 0)
            e++;
        if (!e || !*e)
            return 0;
        eq = strchr(*e, '=');
        if (!eq || (size_t)(eq - *e) >= sizeof(name))
            return -1;
        memcpy(name, *e, (size_t)(eq - *e));
        name[eq - *e] = '\0';
        unsetenv(name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_defaults_match_the_table),
        cmocka_unit_test(test_conf_stream_defaults_inherit),
        cmocka_unit_test(test_conf_nested_and_dotted_forms_are_equal),
        cmocka_unit_test(test_conf_unknown_key_suggests_the_closest),
        cmocka_unit_test(test_conf_wrong_type_reports_line_and_key),
        cmocka_unit_test(test_conf_out_of_range_reports_bounds),
        cmocka_unit_test(test_conf_pace_is_zero_or_in_range),
        cmocka_unit_test(test_conf_stream_needs_id_and_url),
        cmocka_unit_test(test_conf_duplicate_stream_id_names_both_lines),
        cmocka_unit_test(test_conf_duplicate_key_is_refused_in_either_form),
        cmocka_unit_test(
            test_conf_kafka_passthrough_reports_librdkafka_message),
        cmocka_unit_test(
            test_conf_kafka_passthrough_strips_prefix_and_enables_sink),
        cmocka_unit_test(test_conf_ffmpeg_options_are_checked),
        cmocka_unit_test(test_conf_speech_key_is_refused_everywhere),
        cmocka_unit_test(test_conf_yaml_syntax_error_reports_position),
        cmocka_unit_test(test_conf_every_error_is_reported),
        cmocka_unit_test(test_conf_errors_truncate_but_still_fail),
        cmocka_unit_test(test_conf_environment_overrides_the_file),
        cmocka_unit_test(test_conf_environment_kafka_underscores_become_dots),
        cmocka_unit_test(test_conf_environment_bad_value_names_the_variable),
        cmocka_unit_test(test_conf_set_validates_like_the_file),
        cmocka_unit_test(test_conf_add_stream_validates_like_the_file),
        cmocka_unit_test(test_conf_copies_and_compares_for_reload),
        cmocka_unit_test(test_conf_region_fills_in_the_endpoint),
        cmocka_unit_test(test_conf_endpoint_must_be_a_websocket_url),
        cmocka_unit_test(test_conf_language_must_be_bcp47),
        cmocka_unit_test(test_conf_paths_and_addresses_are_checked),
        cmocka_unit_test(test_conf_aliases_are_refused),
        cmocka_unit_test(test_conf_limits_are_enforced),
        cmocka_unit_test(test_conf_free_and_reload_do_not_leak),
        cmocka_unit_test(test_conf_missing_file_is_not_found),
        cmocka_unit_test(test_conf_reference_matches_docs),
        cmocka_unit_test(test_conf_example_matches_configs),
        cmocka_unit_test(test_conf_bundled_configs_validate),
        cmocka_unit_test(test_conf_bundled_configs_mean_what_they_say),
    };

    return cmocka_run_group_tests_name("conf", tests, clear_airwave_env, NULL);
}
