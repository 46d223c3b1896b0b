/*
 * Unit tests of src/speechd/turn.c: what a turn sends, and in which order,
 * for the engine events it gets: simple and detailed phrases, NoMatch,
 * InitialSilenceTimeout, the interactive mode's one-phrase turns, and the
 * rules of azure-speech-protocol.md §4.4 (numbers for offsets, Display in
 * detailed results, an Offset in every startDetected/endDetected).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "speechd/turn.h"

#define MAX_MSGS 32
#define SEC      10000000LL

struct sent {
    char path[64];
    json_t *body;
};

struct fixture {
    struct sent msgs[MAX_MSGS];
    size_t n;
    struct aw_speechd_turn turn;
    struct aw_speechd_engine_events ev;
};

static void capture(void *opaque, const char *path, const char *body)
{
    struct fixture *f = opaque;
    json_error_t jerr;

    assert_true(f->n < MAX_MSGS);
    (void)snprintf(f->msgs[f->n].path, sizeof(f->msgs[f->n].path), "%s", path);
    f->msgs[f->n].body = json_loads(body, 0, &jerr);
    assert_non_null(f->msgs[f->n].body); /* every body is JSON */
    f->n++;
}

static void start(struct fixture *f, enum aw_speechd_mode mode, bool detailed,
                  bool words, uint32_t silence_ms)
{
    struct aw_speechd_turn_conf conf = {mode, detailed, words, silence_ms};

    aw_speechd_turn_init(&f->turn, &conf, capture, f);
    aw_speechd_turn_events(&f->turn, &f->ev);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    for (size_t i = 0; i < f->n; i++)
        json_decref(f->msgs[i].body);
    free(f);
    return 0;
}

static const struct aw_speechd_word hello_words[] = {
    {"hello", 1 * SEC, 4000000},
    {"world", 14000000, 6000000},
};

static void utterance(struct fixture *f, const char *text,
                      const struct aw_speechd_word *w, size_t n, bool silent,
                      int64_t off, int64_t dur, int64_t end)
{
    struct aw_speechd_utt u = {off, dur, end, text, n ? 0.9 : 0, w, n, silent};

    f->ev.utterance(f->ev.opaque, &u);
}

static void hello(struct fixture *f)
{
    f->ev.hypothesis(f->ev.opaque, "hello", 1 * SEC, 5000000);
    utterance(f, "hello world", hello_words, 2, false, 1 * SEC, 1 * SEC,
              25000000);
}

static json_int_t num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    assert_true(json_is_integer(v)); /* numbers, never strings */
    return json_integer_value(v);
}

static const char *str(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void assert_paths(const struct fixture *f, const char *const *paths,
                         size_t n)
{
    assert_int_equal(f->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(f->msgs[i].path, paths[i]);
}

static void test_speechd_turn_simple_phrase_sequence(void **state)
{
    static const char *const paths[] = {"speech.startDetected",
                                        "speech.hypothesis", "speech.phrase",
                                        "speech.endDetected", "turn.end"};
    struct fixture *f = *state;
    json_t *p;

    start(f, AW_SPEECHD_CONVERSATION, false, false, 5000);
    hello(f);
    aw_speechd_turn_finish(&f->turn);
    assert_paths(f, paths, AW_ARRAY_SIZE(paths));
    assert_int_equal(num(f->msgs[0].body, "Offset"), 1 * SEC);
    assert_string_equal(str(f->msgs[1].body, "Text"), "hello");
    assert_int_equal(num(f->msgs[1].body, "Duration"), 5000000);
    p = f->msgs[2].body;
    assert_string_equal(str(p, "RecognitionStatus"), "Success");
    assert_string_equal(str(p, "DisplayText"), "Hello world.");
    assert_int_equal(num(p, "Offset"), 1 * SEC);
    assert_int_equal(num(p, "Duration"), 1 * SEC);
    assert_null(json_object_get(p, "NBest"));
    assert_int_equal(num(f->msgs[3].body, "Offset"), 25000000);
    assert_int_equal(f->turn.phrases, 1);
    assert_int_equal(f->turn.recognized, 1);
}

static void test_speechd_turn_detailed_has_nbest_display(void **state)
{
    struct fixture *f = *state;
    json_t *best;

    start(f, AW_SPEECHD_CONVERSATION, true, false, 0);
    hello(f);
    best = json_array_get(json_object_get(f->msgs[2].body, "NBest"), 0);
    assert_non_null(best);
    assert_string_equal(str(best, "Display"), "Hello world.");
    assert_string_equal(str(best, "Lexical"), "hello world");
    assert_string_equal(str(best, "ITN"), "hello world");
    assert_string_equal(str(best, "MaskedITN"), "hello world");
    assert_true(json_is_number(json_object_get(best, "Confidence")));
    assert_null(json_object_get(best, "Words"));
    assert_string_equal(str(f->msgs[2].body, "DisplayText"), "Hello world.");
}

static void test_speechd_turn_word_timings(void **state)
{
    struct fixture *f = *state;
    json_t *words, *w;

    start(f, AW_SPEECHD_CONVERSATION, true, true, 0);
    hello(f);
    words = json_object_get(
        json_array_get(json_object_get(f->msgs[2].body, "NBest"), 0), "Words");
    assert_int_equal(json_array_size(words), 2);
    w = json_array_get(words, 1);
    assert_string_equal(str(w, "Word"), "world");
    assert_int_equal(num(w, "Offset"), 14000000);
    assert_int_equal(num(w, "Duration"), 6000000);
}

/* Word timings need the detailed format: simple results stay simple. */
static void test_speechd_turn_simple_ignores_word_timings(void **state)
{
    struct fixture *f = *state;

    start(f, AW_SPEECHD_CONVERSATION, false, true, 0);
    hello(f);
    assert_null(json_object_get(f->msgs[2].body, "NBest"));
}

static void test_speechd_turn_nomatch_for_wordless_sound(void **state)
{
    static const char *const paths[] = {"speech.startDetected", "speech.phrase",
                                        "speech.endDetected"};
    struct fixture *f = *state;

    start(f, AW_SPEECHD_CONVERSATION, true, false, 0);
    utterance(f, "", NULL, 0, false, 2 * SEC, 1 * SEC, 35000000);
    assert_paths(f, paths, AW_ARRAY_SIZE(paths));
    assert_string_equal(str(f->msgs[1].body, "RecognitionStatus"), "NoMatch");
    assert_int_equal(num(f->msgs[1].body, "Offset"), 2 * SEC);
    assert_null(json_object_get(f->msgs[1].body, "NBest"));
    assert_int_equal(f->turn.recognized, 0);
}

static void test_speechd_turn_digital_silence_sends_nothing(void **state)
{
    struct fixture *f = *state;

    start(f, AW_SPEECHD_CONVERSATION, false, false, 0);
    utterance(f, "", NULL, 0, true, 0, 1 * SEC, 1 * SEC);
    assert_int_equal(f->n, 0);
}

static void test_speechd_turn_initial_silence_once_continuous(void **state)
{
    struct fixture *f = *state;

    start(f, AW_SPEECHD_CONVERSATION, false, false, 5000);
    for (int i = 0; i < 100; i++) /* 10 s of 100 ms messages */
        aw_speechd_turn_audio(&f->turn, 1600);
    assert_int_equal(f->n, 1);
    assert_string_equal(f->msgs[0].path, "speech.phrase");
    assert_string_equal(str(f->msgs[0].body, "RecognitionStatus"),
                        "InitialSilenceTimeout");
    assert_int_equal(num(f->msgs[0].body, "Offset"), 5 * SEC);
    assert_int_equal(num(f->msgs[0].body, "Duration"), 0);
    assert_true(aw_speechd_turn_wants_audio(&f->turn));
    hello(f); /* speech after the timeout is still recognised */
    aw_speechd_turn_finish(&f->turn);
    assert_string_equal(f->msgs[f->n - 1].path, "turn.end");
}

static void test_speechd_turn_no_silence_timeout_after_speech(void **state)
{
    struct fixture *f = *state;

    start(f, AW_SPEECHD_CONVERSATION, false, false, 5000);
    aw_speechd_turn_audio(&f->turn, 16000);
    hello(f);
    for (int i = 0; i < 100; i++)
        aw_speechd_turn_audio(&f->turn, 1600);
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->msgs[i].path, "speech.phrase"))
            assert_string_equal(str(f->msgs[i].body, "RecognitionStatus"),
                                "Success");
}

static void test_speechd_turn_interactive_silence_ends_turn(void **state)
{
    static const char *const paths[] = {"speech.phrase", "speech.endDetected",
                                        "turn.end"};
    struct fixture *f = *state;

    start(f, AW_SPEECHD_INTERACTIVE, false, false, 5000);
    for (int i = 0; i < 60; i++)
        aw_speechd_turn_audio(&f->turn, 1600);
    assert_paths(f, paths, AW_ARRAY_SIZE(paths));
    assert_false(aw_speechd_turn_wants_audio(&f->turn));
    hello(f); /* too late: nothing more */
    aw_speechd_turn_finish(&f->turn);
    assert_int_equal(f->n, AW_ARRAY_SIZE(paths));
}

static void test_speechd_turn_interactive_one_phrase(void **state)
{
    static const char *const paths[] = {"speech.startDetected",
                                        "speech.hypothesis", "speech.phrase",
                                        "speech.endDetected", "turn.end"};
    struct fixture *f = *state;

    start(f, AW_SPEECHD_INTERACTIVE, false, false, 5000);
    hello(f);
    assert_false(aw_speechd_turn_wants_audio(&f->turn));
    hello(f);
    aw_speechd_turn_finish(&f->turn);
    assert_paths(f, paths, AW_ARRAY_SIZE(paths));
}

/* Interactive audio that ends before any speech or timeout still gets its
 * one phrase. */
static void test_speechd_turn_interactive_short_silence(void **state)
{
    static const char *const paths[] = {"speech.phrase", "speech.endDetected",
                                        "turn.end"};
    struct fixture *f = *state;

    start(f, AW_SPEECHD_INTERACTIVE, false, false, 5000);
    aw_speechd_turn_audio(&f->turn, 16000 * 2);
    aw_speechd_turn_finish(&f->turn);
    assert_paths(f, paths, AW_ARRAY_SIZE(paths));
    assert_string_equal(str(f->msgs[0].body, "RecognitionStatus"),
                        "InitialSilenceTimeout");
    assert_int_equal(num(f->msgs[0].body, "Offset"), 2 * SEC);
}

static void test_speechd_turn_end_once(void **state)
{
    struct fixture *f = *state;

    start(f, AW_SPEECHD_DICTATION, false, false, 0);
    aw_speechd_turn_finish(&f->turn);
    aw_speechd_turn_finish(&f->turn);
    assert_int_equal(f->n, 1);
    assert_string_equal(f->msgs[0].path, "turn.end");
    assert_int_equal(json_object_size(f->msgs[0].body), 0);
}

static void test_speechd_turn_display_text(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(
        aw_speechd_display_text("i think i'm here", out, sizeof(out)), AW_OK);
    assert_string_equal(out, "I think I'm here.");
    assert_int_equal(aw_speechd_display_text("is it", out, sizeof(out)), AW_OK);
    assert_string_equal(out, "Is it.");
    assert_int_equal(aw_speechd_display_text("", out, sizeof(out)), AW_OK);
    assert_string_equal(out, "");
    assert_int_equal(aw_speechd_display_text("hello", out, 6),
                     AW_ERR_TOO_LARGE);
    assert_string_equal(aw_speechd_mode_name(AW_SPEECHD_DICTATION),
                        "dictation");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_speechd_turn_simple_phrase_sequence),
        T(test_speechd_turn_detailed_has_nbest_display),
        T(test_speechd_turn_word_timings),
        T(test_speechd_turn_simple_ignores_word_timings),
        T(test_speechd_turn_nomatch_for_wordless_sound),
        T(test_speechd_turn_digital_silence_sends_nothing),
        T(test_speechd_turn_initial_silence_once_continuous),
        T(test_speechd_turn_no_silence_timeout_after_speech),
        T(test_speechd_turn_interactive_silence_ends_turn),
        T(test_speechd_turn_interactive_one_phrase),
        T(test_speechd_turn_interactive_short_silence),
        T(test_speechd_turn_end_once),
        cmocka_unit_test(test_speechd_turn_display_text),
    };
#undef T

    return cmocka_run_group_tests_name("speechd_turn", tests, NULL, NULL);
}
