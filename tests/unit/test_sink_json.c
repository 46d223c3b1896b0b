/*
 * Unit tests of src/sink/json.c (record encoding) and src/sink/jsonl.c (the
 * JSONL output): exact output for known records, optional members omitted,
 * UTF-8 repair, every record type against the members and types of the JSON
 * Schemas in docs/schema/, and JSONL lines that parse, append and survive a
 * failing disk.
 */
#include <fcntl.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "airwave/log.h"
#include "airwave/transcript.h"
#include "common/buf.h"
#include "sink/json.h"
#include "sink/jsonl.h"
#include "sink/sink.h"

#define ID  "5f0c1a2b-3c4d-5e6f-8a9b-0c1d2e3f4a5b"
#define CS  "3b1e0000-1111-4222-8333-444455556666"
#define T0  1795694401230LL /* 2026-11-26T12:00:01.230Z */
#define MAX (1 << 20)

/* ---- helpers ----------------------------------------------------------- */

static struct aw_transcript full_transcript(void)
{
    static const struct aw_word words[] = {
        {"display", 123456, 300},
        {"form", 123756, 250},
    };
    struct aw_transcript t = {
        .id = ID,
        .stream_id = "radio-okapi",
        .source = "http://example.org/okapi.mp3",
        .language = "fr-FR",
        .text = "Display form of the phrase.",
        .lexical = "display form of the phrase",
        .confidence = 0.87,
        .start_wall_ms = T0,
        .end_wall_ms = T0 + 2300,
        .offset_ms = 123456,
        .duration_ms = 2300,
        .capture_session = CS,
        .stream_title = "Morning news",
        .provider = "azure",
        .words = words,
        .nwords = 2,
    };
    return t;
}

static struct aw_transcript minimal_transcript(void)
{
    struct aw_transcript t = full_transcript();

    t.lexical = NULL;
    t.confidence = -1;
    t.stream_title = NULL;
    t.words = NULL;
    t.nwords = 0;
    return t;
}

static char *source_path(const char *rel)
{
    const char *dir = getenv("AW_SOURCE_DIR");
    char *p = malloc(4096);
    const char *here = __FILE__, *cut;

    assert_non_null(p);
    if (dir) {
        aw_errstr_set(p, 4096, "%s/%s", dir, rel);
        return p;
    }
    /* Run by hand outside ctest: __FILE__ is absolute in CMake builds. */
    cut = strstr(here, "tests/unit/");
    aw_errstr_set(p, 4096, "%.*s%s", cut ? (int)(cut - here) : 0, here, rel);
    return p;
}

static json_t *load_schema(const char *rel)
{
    char *path = source_path(rel);
    json_error_t jerr;
    json_t *s = json_load_file(path, 0, &jerr);

    if (!s)
        fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
    free(path);
    return s;
}

/* Check \p rec against the parts of \p schema that jansson can check
 * without a validator: every required member present, no member the schema
 * does not list, each member of the declared JSON type, and const/enum.
 * tests/integration/sink_schema.py runs the full validator. */
static void check_against_schema(const json_t *schema, const json_t *rec)
{
    const json_t *props = json_object_get(schema, "properties");
    const json_t *req = json_object_get(schema, "required");
    const char *name;
    json_t *v;
    size_t i;

    assert_true(json_is_object(rec));
    json_array_foreach(req, i, v)
    {
        if (!json_object_get(rec, json_string_value(v)))
            fail_msg("required member %s missing", json_string_value(v));
    }
    json_object_foreach((json_t *)rec, name, v)
    {
        const json_t *p = json_object_get(props, name);
        const char *type;

        if (!p)
            fail_msg("member %s not in the schema", name);
        type = json_string_value(json_object_get(p, "type"));
        if (type && !strcmp(type, "string"))
            assert_true(json_is_string(v));
        else if (type && !strcmp(type, "integer"))
            assert_true(json_is_integer(v));
        else if (type && !strcmp(type, "number"))
            assert_true(json_is_number(v));
        else if (type && !strcmp(type, "array"))
            assert_true(json_is_array(v));
        if (json_object_get(p, "const"))
            assert_true(json_equal(v, json_object_get(p, "const")));
        if (json_object_get(p, "minimum") && json_is_number(v))
            assert_true(json_number_value(v) >=
                        json_number_value(json_object_get(p, "minimum")));
        if (json_object_get(p, "enum")) {
            size_t j;
            json_t *e;
            int found = 0;

            json_array_foreach(json_object_get(p, "enum"), j, e)
            {
                found |= json_equal(e, v);
            }
            assert_true(found);
        }
    }
}

static json_t *parse(const struct aw_buf *b)
{
    json_error_t jerr;
    /* jansson refuses invalid UTF-8 and NUL bytes in strings. */
    json_t *j = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES, &jerr);

    if (!j)
        fail_msg("not JSON (%s): %s", jerr.text, b->data);
    return j;
}

/* ---- encoding ---------------------------------------------------------- */

static void test_sink_json_transcript_exact(void **state)
{
    struct aw_transcript t = full_transcript();
    struct aw_buf b;

    (void)state;
    aw_buf_init(&b, MAX);
    assert_int_equal(aw_json_transcript(&b, &t), AW_OK);
    assert_string_equal(
        b.data,
        "{\"schema\":\"airwave.transcript.v1\",\"id\":\"" ID "\","
        "\"stream_id\":\"radio-okapi\","
        "\"source\":\"http://example.org/okapi.mp3\",\"language\":\"fr-FR\","
        "\"text\":\"Display form of the phrase.\","
        "\"lexical\":\"display form of the phrase\",\"confidence\":0.87,"
        "\"start\":\"2026-11-26T12:00:01.230Z\","
        "\"end\":\"2026-11-26T12:00:03.530Z\",\"offset_ms\":123456,"
        "\"duration_ms\":2300,\"capture_session\":\"" CS "\","
        "\"stream_title\":\"Morning news\",\"provider\":\"azure\","
        "\"words\":[{\"word\":\"display\",\"offset_ms\":123456,"
        "\"duration_ms\":300},{\"word\":\"form\",\"offset_ms\":123756,"
        "\"duration_ms\":250}]}");
    aw_buf_fini(&b);
}

static void test_sink_json_transcript_omits_absent_members(void **state)
{
    struct aw_transcript t = minimal_transcript();
    json_t *schema = load_schema("docs/schema/transcript.v1.json"), *j;
    struct aw_buf b;

    (void)state;
    aw_buf_init(&b, MAX);
    assert_int_equal(aw_json_transcript(&b, &t), AW_OK);
    j = parse(&b);
    assert_null(json_object_get(j, "lexical"));
    assert_null(json_object_get(j, "confidence"));
    assert_null(json_object_get(j, "stream_title"));
    assert_null(json_object_get(j, "words"));
    assert_int_equal(json_object_size(j), 12);
    check_against_schema(schema, j);
    json_decref(j);

    /* And the full record passes the same checks. */
    t = full_transcript();
    aw_buf_reset(&b);
    assert_int_equal(aw_json_transcript(&b, &t), AW_OK);
    j = parse(&b);
    check_against_schema(schema, j);
    json_decref(j);
    json_decref(schema);
    aw_buf_fini(&b);
}

static void test_sink_json_numbers_ignore_locale(void **state)
{
    struct aw_transcript t = full_transcript();
    struct aw_stream_event ev = {
        .type = AW_EVENT_DISCONTINUITY,
        .id = ID,
        .stream_id = "s",
        .wall_ms = T0,
        .capture_session = CS,
        .lost_seconds = 2.5,
    };
    struct aw_buf b;

    (void)state;
    /* A locale with a decimal comma, if the machine has one: printf's %f
     * would then write 0,87. */
    if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") &&
        !setlocale(LC_NUMERIC, "fr_FR.UTF-8"))
        print_message("no decimal-comma locale here: checking C only\n");
    aw_buf_init(&b, MAX);
    t.confidence = 0.1234567;
    assert_int_equal(aw_json_transcript(&b, &t), AW_OK);
    assert_non_null(strstr(b.data, "\"confidence\":0.123457,"));
    aw_buf_reset(&b);
    t.confidence = 1.7; /* out of range from a provider: capped */
    assert_int_equal(aw_json_transcript(&b, &t), AW_OK);
    assert_non_null(strstr(b.data, "\"confidence\":1,"));
    aw_buf_reset(&b);
    t.confidence = 0;
    assert_int_equal(aw_json_transcript(&b, &t), AW_OK);
    assert_non_null(strstr(b.data, "\"confidence\":0,"));
    aw_buf_reset(&b);
    assert_int_equal(aw_json_event(&b, &ev), AW_OK);
    assert_non_null(strstr(b.data, "\"lost_seconds\":2.5"));
    aw_buf_reset(&b);
    ev.lost_seconds = 0.0004; /* below a millisecond */
    assert_int_equal(aw_json_event(&b, &ev), AW_OK);
    assert_non_null(strstr(b.data, "\"lost_seconds\":0}"));
    assert_non_null(setlocale(LC_NUMERIC, "C"));
    aw_buf_fini(&b);
}

static void test_sink_json_event_types(void **state)
{
    json_t *schema = load_schema("docs/schema/stream-event.v1.json");
    static const char *const names[] = {"start", "end",      "discontinuity",
                                        "title", "rotation", "error"};
    struct aw_buf b;

    (void)state;
    aw_buf_init(&b, MAX);
    for (int type = AW_EVENT_START; type <= AW_EVENT_ERROR; type++) {
        struct aw_stream_event ev = {
            .type = (enum aw_event_type)type,
            .id = ID,
            .stream_id = "tv.france_24-en",
            .source = "udp://239.0.0.1:1234",
            .wall_ms = T0,
            .capture_session = CS,
            .offset_ms = 5000,
            .lost_seconds = 1.25,
            .replay_seconds = 12.5,
            .title = "News at noon",
            .reason = type == AW_EVENT_START ? NULL : "why it happened",
        };
        json_t *j;

        assert_string_equal(aw_event_type_name(ev.type), names[type]);
        aw_buf_reset(&b);
        assert_int_equal(aw_json_event(&b, &ev), AW_OK);
        j = parse(&b);
        check_against_schema(schema, j);
        assert_string_equal(json_string_value(json_object_get(j, "type")),
                            names[type]);
        assert_string_equal(json_string_value(json_object_get(j, "time")),
                            "2026-11-26T12:00:01.230Z");
        /* Type-specific members appear with their type only. */
        assert_int_equal(json_object_get(j, "lost_seconds") != NULL,
                         type == AW_EVENT_DISCONTINUITY);
        assert_int_equal(json_object_get(j, "replay_seconds") != NULL,
                         type == AW_EVENT_ROTATION);
        assert_int_equal(json_object_get(j, "title") != NULL,
                         type == AW_EVENT_TITLE);
        assert_int_equal(json_object_get(j, "reason") != NULL,
                         type != AW_EVENT_START);
        json_decref(j);
    }
    assert_null(aw_event_type_name((enum aw_event_type)42));
    json_decref(schema);
    aw_buf_fini(&b);
}

static void test_sink_json_event_before_any_audio(void **state)
{
    struct aw_stream_event ev = {
        .type = AW_EVENT_ERROR,
        .id = ID,
        .stream_id = "radio-okapi",
        .wall_ms = T0,
        .reason = "cannot open source",
    };
    struct aw_stream_event title = {
        .type = AW_EVENT_TITLE,
        .id = ID,
        .stream_id = "radio-okapi",
        .wall_ms = T0,
        .capture_session = CS,
    };
    struct aw_buf b;

    (void)state;
    aw_buf_init(&b, MAX);
    assert_int_equal(aw_json_event(&b, &ev), AW_OK);
    assert_non_null(
        strstr(b.data,
               "\"capture_session\":\"00000000-0000-0000-0000-000000000000\""));
    aw_buf_reset(&b);
    /* A cleared title is an empty title, not a missing one. */
    assert_int_equal(aw_json_event(&b, &title), AW_OK);
    assert_non_null(strstr(b.data, "\"title\":\"\""));
    aw_buf_fini(&b);
}

static void test_sink_json_refuses_malformed_records(void **state)
{
    struct aw_transcript t;
    struct aw_word bad_word = {NULL, 0, 10};
    struct aw_stream_event ev = {.type = AW_EVENT_START,
                                 .id = ID,
                                 .stream_id = "s",
                                 .capture_session = CS};
    struct aw_buf b;

    (void)state;
    aw_buf_init(&b, MAX);
    assert_int_equal(aw_buf_puts(&b, "keep"), AW_OK);

    t = full_transcript();
    t.stream_id = "has space";
    assert_int_equal(aw_json_transcript(&b, &t), AW_ERR_INVAL);
    t = full_transcript();
    t.stream_id = "";
    assert_int_equal(aw_json_transcript(&b, &t), AW_ERR_INVAL);
    t = full_transcript();
    t.stream_id =
        "a234567890123456789012345678901234567890123456789012345678901"
        "2345"; /* 65 */
    assert_int_equal(aw_json_transcript(&b, &t), AW_ERR_INVAL);
    t = full_transcript();
    t.text = NULL;
    assert_int_equal(aw_json_transcript(&b, &t), AW_ERR_INVAL);
    t = full_transcript();
    memcpy(t.id, "not-a-uuid", 11);
    assert_int_equal(aw_json_transcript(&b, &t), AW_ERR_INVAL);
    t = full_transcript();
    t.offset_ms = -1;
    assert_int_equal(aw_json_transcript(&b, &t), AW_ERR_INVAL);
    t = full_transcript();
    t.words = &bad_word;
    t.nwords = 1;
    assert_int_equal(aw_json_transcript(&b, &t), AW_ERR_INVAL);
    ev.type = (enum aw_event_type)9;
    assert_int_equal(aw_json_event(&b, &ev), AW_ERR_INVAL);
    assert_string_equal(b.data, "keep"); /* untouched on refusal */
    aw_buf_fini(&b);

    /* A buffer too small: refused, left as it was. */
    t = full_transcript();
    aw_buf_init(&b, 100);
    assert_int_equal(aw_buf_puts(&b, "keep"), AW_OK);
    assert_int_equal(aw_json_transcript(&b, &t), AW_ERR_TOO_LARGE);
    assert_string_equal(b.data, "keep");
    assert_int_equal(b.len, 4);
    aw_buf_fini(&b);
}

/* ---- strings and UTF-8 ------------------------------------------------- */

static void check_str(const char *in, size_t len, const char *want)
{
    struct aw_buf b;

    aw_buf_init(&b, MAX);
    assert_int_equal(aw_json_put_string(&b, in, len), AW_OK);
    assert_string_equal(b.data, want);
    aw_buf_fini(&b);
}

static void test_sink_json_escapes_and_repairs_utf8(void **state)
{
    (void)state;
    check_str("plain", 5, "\"plain\"");
    check_str("", 0, "\"\"");
    check_str("q\"b\\s/", 6, "\"q\\\"b\\\\s/\"");
    check_str("a\nb\tc\rd\be\ff", 11, "\"a\\nb\\tc\\rd\\be\\ff\"");
    check_str("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"");
    check_str("nul\0x", 5, "\"nul\\u0000x\"");
    /* Valid multi-byte text passes through unchanged. */
    check_str("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xbb", 14,
              "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xbb\"");
    /* U+2028/U+2029 are valid JSON but end a JavaScript line. */
    check_str("a\xe2\x80\xa8z\xe2\x80\xa9", 8, "\"a\\u2028z\\u2029\"");
    /* Invalid: lone continuation, Latin-1 byte, overlong, surrogate,
     * beyond U+10FFFF, truncated at the end. */
    check_str("\x80", 1, "\"\xef\xbf\xbd\"");
    check_str("caf\xe9!", 5, "\"caf\xef\xbf\xbd!\"");
    check_str("\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    check_str("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    check_str("\xf4\x90\x80\x80", 4,
              "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    /* A truncated sequence is one maximal subpart: one U+FFFD. */
    check_str("ab\xe2\x82", 4, "\"ab\xef\xbf\xbd\"");
    check_str("\xf0\x9f\x93x", 4, "\"\xef\xbf\xbdx\"");
}

static void test_sink_json_random_bytes_give_valid_json(void **state)
{
    unsigned seed = 12345;
    char in[64];
    struct aw_transcript t = full_transcript();
    struct aw_buf b;

    (void)state;
    aw_buf_init(&b, MAX);
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(rand_r(&seed) % (sizeof(in) - 1));
        json_t *j;

        for (size_t i = 0; i < len; i++) {
            /* Mostly high bytes and controls: the interesting ones. */
            int r = rand_r(&seed);

            in[i] = (char)(r % 3 ? 0x80 + (r >> 4) % 128 : (r >> 4) % 256);
            if (!in[i])
                in[i] = 'x';
        }
        in[len] = '\0';
        t.text = in;
        t.stream_title = in;
        aw_buf_reset(&b);
        assert_int_equal(aw_json_transcript(&b, &t), AW_OK);
        j = parse(&b);
        assert_true(json_is_string(json_object_get(j, "text")));
        json_decref(j);
    }
    aw_buf_fini(&b);
}

/* ---- JSONL ------------------------------------------------------------- */

struct capture {
    char text[16384];
    size_t len;
    int lines;
};

static void capture_line(void *opaque, const char *line, size_t len)
{
    struct capture *c = opaque;

    if (c->len + len + 2 < sizeof(c->text)) {
        memcpy(c->text + c->len, line, len);
        c->len += len;
        c->text[c->len++] = '\n';
        c->text[c->len] = '\0';
    }
    c->lines++;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *data = calloc(1, MAX);
    size_t n;

    assert_non_null(f);
    assert_non_null(data);
    n = fread(data, 1, MAX - 1, f);
    data[n] = '\0';
    assert_int_equal(fclose(f), 0);
    return data;
}

static void test_sink_jsonl_writes_valid_lines_and_appends(void **state)
{
    char path[] = "/tmp/aw-test-jsonl-XXXXXX", errstr[256];
    struct aw_transcript t = full_transcript();
    struct aw_jsonl *j;
    struct aw_buf b;
    char *data, *line, *save = NULL;
    int fd, n = 0;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    aw_buf_init(&b, MAX);

    for (int round = 0; round < 2; round++) {
        /* The second open appends: a restart must not truncate. */
        j = aw_jsonl_open(path, errstr, sizeof(errstr));
        assert_non_null(j);
        for (int i = 0; i < 3; i++) {
            t.text = i == 1 ? "two\nlines \xff" : "one line";
            aw_buf_reset(&b);
            assert_int_equal(aw_json_transcript(&b, &t), AW_OK);
            assert_int_equal(aw_jsonl_write(j, b.data, b.len), AW_OK);
        }
        assert_int_equal(aw_jsonl_write(j, "a\nb", 3), AW_ERR_INVAL);
        assert_int_equal(aw_jsonl_lines(j), 3);
        assert_int_equal(aw_jsonl_errors(j), 0);
        aw_jsonl_destroy(j);
    }
    data = read_file(path);
    for (line = strtok_r(data, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *rec = json_loads(line, 0, &jerr);

        assert_non_null(rec);
        json_decref(rec);
        n++;
    }
    assert_int_equal(n, 6);
    free(data);
    unlink(path);
    aw_buf_fini(&b);
    aw_jsonl_destroy(NULL);
    assert_null(
        aw_jsonl_open("/nonexistent-dir/x.jsonl", errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "/nonexistent-dir/x.jsonl"));
}

static void test_sink_jsonl_write_error_logged_once_and_counted(void **state)
{
    struct capture cap = {0};
    char errstr[256];
    struct aw_jsonl *j;

    (void)state;
    /* /dev/full: every write fails with ENOSPC. */
    j = aw_jsonl_open("/dev/full", errstr, sizeof(errstr));
    if (!j)
        skip();
    aw_log_set_sink(capture_line, &cap);
    for (int i = 0; i < 5; i++)
        assert_int_equal(aw_jsonl_write(j, "{}", 2), AW_ERR_IO);
    aw_log_set_sink(NULL, NULL);
    assert_int_equal(aw_jsonl_errors(j), 5);
    assert_int_equal(aw_jsonl_lines(j), 0);
    assert_int_equal(cap.lines, 1);
    assert_non_null(strstr(cap.text, "/dev/full"));
    assert_non_null(strstr(cap.text, "No space left on device"));
    aw_jsonl_destroy(j);
}

static void test_sink_fanout_writes_jsonl(void **state)
{
    char path[] = "/tmp/aw-test-sink-XXXXXX", errstr[256];
    struct aw_conf conf = {0};
    struct aw_transcript t = full_transcript();
    struct aw_stream_event ev = {.type = AW_EVENT_START,
                                 .id = ID,
                                 .stream_id = "radio-okapi",
                                 .wall_ms = T0,
                                 .capture_session = CS};
    struct capture cap = {0};
    struct aw_sink *s;
    char *data;
    int fd;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    conf.output_jsonl = path;
    s = aw_sink_new(&conf, errstr, sizeof(errstr));
    assert_non_null(s);
    assert_null(aw_sink_kafka(s));
    assert_int_equal(aw_sink_transcript(s, &t), AW_OK);
    assert_int_equal(aw_sink_event(s, &ev), AW_OK);
    aw_log_set_sink(capture_line, &cap);
    t.stream_id = "bad id";
    assert_int_equal(aw_sink_transcript(s, &t), AW_ERR_INVAL);
    aw_log_set_sink(NULL, NULL);
    assert_int_equal(aw_sink_encode_errors(s), 1);
    assert_non_null(strstr(cap.text, ID));
    assert_int_equal(aw_jsonl_lines(aw_sink_jsonl(s)), 2);
    aw_sink_destroy(s);
    data = read_file(path);
    assert_non_null(strstr(data, "\"schema\":\"airwave.transcript.v1\""));
    assert_non_null(strstr(data, "\n{\"schema\":\"airwave.stream-event.v1\""));
    free(data);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sink_json_transcript_exact),
        cmocka_unit_test(test_sink_json_transcript_omits_absent_members),
        cmocka_unit_test(test_sink_json_numbers_ignore_locale),
        cmocka_unit_test(test_sink_json_event_types),
        cmocka_unit_test(test_sink_json_event_before_any_audio),
        cmocka_unit_test(test_sink_json_refuses_malformed_records),
        cmocka_unit_test(test_sink_json_escapes_and_repairs_utf8),
        cmocka_unit_test(test_sink_json_random_bytes_give_valid_json),
        cmocka_unit_test(test_sink_jsonl_writes_valid_lines_and_appends),
        cmocka_unit_test(test_sink_jsonl_write_error_logged_once_and_counted),
        cmocka_unit_test(test_sink_fanout_writes_jsonl),
    };

    return cmocka_run_group_tests_name("sink_json", tests, NULL, NULL);
}
