/*
 * Unit tests of airwave-speechd's engines (src/speechd/engine_ps.c,
 * engine_null.c) through the engine ops table.
 *
 * Speech comes from flite's kal16 voice at test time (TESTBED.md §3.1); the
 * tests that need it are skipped when flite is not installed. A "stream" is
 * built from known clips and known pauses, so the sentence boundaries are
 * known to the sample, and the phrase times the engine reports are checked
 * against them (within 0.5 s, the tolerance later tests rely on).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "speechd/engine.h"

#ifndef AW_PS_MODEL_DIR
#define AW_PS_MODEL_DIR "/usr/share/pocketsphinx/model/en-us"
#endif

#define RATE      16000
#define LOUD      64 /* |sample| above this is sound, as sox at -54 dBFS */
#define MAX_UTTS  16
#define TOL_TICKS 5000000 /* 0.5 s */

static const char *const sentences[] = {
    "The council approved the new budget on Monday.",
    "Heavy rain is expected across the north tonight.",
    "The hospital opened a new wing for children.",
};
static const char *const keywords[] = {"council", "rain", "hospital"};
static const double pauses_s[] = {0.7, 1.5, 0.5};

struct pcm {
    int16_t *s;
    size_t n, cap;
};

/* What the engine reported. */
struct utt {
    char text[512];
    int64_t offset, duration, end;
    size_t nwords;
    int64_t first_word, last_word_end;
    bool words_ordered;
    bool silent;
};

struct capture {
    struct utt utts[MAX_UTTS];
    size_t nutts;
    size_t nhyps;
    int64_t first_hyp_offset;
};

static struct {
    bool have_flite;
    struct pcm stream;
    /* Sound boundaries of each sentence in the stream, in samples. */
    size_t start[3], end[3];
    const char *model_dir;
} g;

/* ---- audio -------------------------------------------------------------- */

static void pcm_append(struct pcm *p, const int16_t *s, size_t n)
{
    if (p->n + n > p->cap) {
        size_t cap = p->cap ? p->cap : 65536;

        while (cap < p->n + n)
            cap *= 2;
        p->s = realloc(p->s, cap * sizeof(*p->s));
        assert_non_null(p->s);
        p->cap = cap;
    }
    if (s)
        memcpy(p->s + p->n, s, n * sizeof(*s));
    else
        memset(p->s + p->n, 0, n * sizeof(*s));
    p->n += n;
}

/* flite writes a canonical 44-byte header: 16 kHz mono s16. */
static bool say(const char *text, struct pcm *out)
{
    char path[] = "/tmp/aw-test-speechd-XXXXXX", cmd[1024];
    int fd = mkstemp(path);
    FILE *f;
    long size;
    bool ok = false;

    if (fd < 0)
        return false;
    close(fd);
    (void)snprintf(cmd, sizeof(cmd),
                   "flite -voice kal16 -t '%s' -o %s 2>/dev/null", text, path);
    if (system(cmd) != 0)
        goto out;
    f = fopen(path, "rb");
    if (!f)
        goto out;
    (void)fseek(f, 0, SEEK_END);
    size = ftell(f);
    if (size > 44) {
        size_t n = (size_t)(size - 44) / 2;

        (void)fseek(f, 44, SEEK_SET);
        pcm_append(out, NULL, n);
        ok = fread(out->s + out->n - n, 2, n, f) == n;
    }
    (void)fclose(f);
out:
    unlink(path);
    return ok;
}

static size_t first_loud(const int16_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] > LOUD || s[i] < -LOUD)
            return i;
    return n;
}

static size_t last_loud(const int16_t *s, size_t n)
{
    for (size_t i = n; i > 0; i--)
        if (s[i - 1] > LOUD || s[i - 1] < -LOUD)
            return i;
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    g.model_dir = getenv("AW_PS_MODEL_DIR");
    if (!g.model_dir)
        g.model_dir = AW_PS_MODEL_DIR;
    g.have_flite = system("command -v flite >/dev/null 2>&1") == 0;
    if (!g.have_flite)
        return 0;
    for (size_t i = 0; i < AW_ARRAY_SIZE(sentences); i++) {
        struct pcm clip = {0};

        if (!say(sentences[i], &clip)) {
            g.have_flite = false;
            free(clip.s);
            return 0;
        }
        g.start[i] = g.stream.n + first_loud(clip.s, clip.n);
        g.end[i] = g.stream.n + last_loud(clip.s, clip.n);
        pcm_append(&g.stream, clip.s, clip.n);
        pcm_append(&g.stream, NULL, (size_t)(pauses_s[i] * RATE));
        free(clip.s);
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(g.stream.s);
    return 0;
}

/* ---- running an engine -------------------------------------------------- */

static void on_hyp(void *opaque, const char *text, int64_t offset,
                   int64_t duration)
{
    struct capture *c = opaque;

    assert_true(text && *text);
    assert_true(duration >= 0);
    if (!c->nhyps++)
        c->first_hyp_offset = offset;
}

static void on_utt(void *opaque, const struct aw_speechd_utt *u)
{
    struct capture *c = opaque;
    struct utt *t;

    assert_true(c->nutts < MAX_UTTS);
    t = &c->utts[c->nutts++];
    (void)snprintf(t->text, sizeof(t->text), "%s", u->text);
    t->offset = u->offset_ticks;
    t->duration = u->duration_ticks;
    t->end = u->end_ticks;
    t->nwords = u->nwords;
    t->silent = u->silent;
    t->words_ordered = true;
    for (size_t i = 0; i < u->nwords; i++) {
        const struct aw_speechd_word *w = &u->words[i];

        assert_non_null(w->word);
        /* no fillers, no alternate-pronunciation suffix */
        assert_null(strchr(w->word, '('));
        assert_false(w->word[0] == '<' || w->word[0] == '[' ||
                     w->word[0] == '+');
        if (i && w->offset_ticks < u->words[i - 1].offset_ticks)
            t->words_ordered = false;
    }
    if (u->nwords) {
        t->first_word = u->words[0].offset_ticks;
        t->last_word_end = u->words[u->nwords - 1].offset_ticks +
                           u->words[u->nwords - 1].duration_ticks;
    }
}

struct engine {
    const struct aw_speechd_engine_ops *ops;
    void *engine, *worker;
};

static void engine_open(struct engine *e,
                        const struct aw_speechd_engine_ops *ops)
{
    struct aw_speechd_engine_conf conf = {
        .model_dir = g.model_dir,
        .hyp_interval_ms = 300,
        .max_idle_streams = 2,
    };
    char err[256];

    e->ops = ops;
    assert_int_equal(ops->create(&conf, &e->engine, err, sizeof(err)), AW_OK);
    assert_int_equal(ops->worker_init(e->engine, &e->worker, err, sizeof(err)),
                     AW_OK);
}

static void engine_close(struct engine *e)
{
    e->ops->worker_fini(e->worker);
    e->ops->destroy(e->engine);
}

/* One turn: feed \p n samples in 100 ms messages, as the SDK sends them. */
static void decode(struct engine *e, const int16_t *pcm, size_t n,
                   struct capture *c)
{
    struct aw_speechd_engine_events ev = {c, on_hyp, on_utt};
    char err[256];
    void *stream;

    memset(c, 0, sizeof(*c));
    assert_int_equal(e->ops->stream_open(e->worker, &stream, err, sizeof(err)),
                     AW_OK);
    assert_int_equal(e->ops->begin_turn(stream), AW_OK);
    for (size_t i = 0; i < n; i += 1600)
        assert_int_equal(
            e->ops->feed(stream, pcm + i, n - i < 1600 ? n - i : 1600, &ev),
            AW_OK);
    assert_int_equal(e->ops->end_turn(stream, &ev), AW_OK);
    e->ops->stream_close(e->worker, stream);
}

static const struct utt *only_speech(const struct capture *c, size_t k)
{
    size_t seen = 0;

    for (size_t i = 0; i < c->nutts; i++)
        if (c->utts[i].nwords && seen++ == k)
            return &c->utts[i];
    return NULL;
}

static int64_t ticks(size_t samples)
{
    return aw_speechd_samples_to_ticks(samples);
}

static void check_boundaries(const struct capture *c, size_t lead)
{
    for (size_t i = 0; i < AW_ARRAY_SIZE(sentences); i++) {
        const struct utt *u = only_speech(c, i);
        int64_t ref_start = ticks(lead + g.start[i]);
        int64_t ref_end = ticks(lead + g.end[i]);

        assert_non_null(u);
        if (!u)
            return;
        assert_non_null(strstr(u->text, keywords[i]));
        assert_true(u->words_ordered);
        assert_true(u->offset >= ref_start - TOL_TICKS &&
                    u->offset <= ref_start + TOL_TICKS);
        assert_true(u->offset + u->duration >= ref_end - TOL_TICKS &&
                    u->offset + u->duration <= ref_end + TOL_TICKS);
        assert_int_equal(u->offset, u->first_word);
        assert_int_equal(u->offset + u->duration, u->last_word_end);
        assert_true(u->end >= u->offset + u->duration);
    }
}

/* ---- tests -------------------------------------------------------------- */

static void test_speechd_engine_ps_phrase_times_match_sentences(void **state)
{
    struct engine e;
    struct capture c;

    (void)state;
    if (!g.have_flite)
        skip();
    engine_open(&e, &aw_speechd_engine_ps_ops);
    decode(&e, g.stream.s, g.stream.n, &c);
    check_boundaries(&c, 0);
    assert_true(c.nhyps >= 3);
    engine_close(&e);
}

/* A decoder from the pool behaves exactly like a fresh one. */
static void test_speechd_engine_ps_reused_decoder_is_reset(void **state)
{
    struct engine e;
    struct capture *a, *b;

    (void)state;
    if (!g.have_flite)
        skip();
    a = calloc(1, sizeof(*a));
    b = calloc(1, sizeof(*b));
    assert_true(a && b);
    engine_open(&e, &aw_speechd_engine_ps_ops);
    decode(&e, g.stream.s, g.stream.n, a);
    decode(&e, g.stream.s + RATE, g.stream.n - RATE, b); /* other audio */
    decode(&e, g.stream.s, g.stream.n, b);
    assert_int_equal(a->nutts, b->nutts);
    for (size_t i = 0; i < a->nutts; i++) {
        assert_string_equal(a->utts[i].text, b->utts[i].text);
        assert_int_equal(a->utts[i].offset, b->utts[i].offset);
        assert_int_equal(a->utts[i].duration, b->utts[i].duration);
    }
    engine_close(&e);
    free(a);
    free(b);
}

static void decode_turn(struct engine *e, void *stream, const int16_t *pcm,
                        size_t n, struct capture *c)
{
    struct aw_speechd_engine_events ev = {c, on_hyp, on_utt};

    memset(c, 0, sizeof(*c));
    assert_int_equal(e->ops->begin_turn(stream), AW_OK);
    for (size_t i = 0; i < n; i += 1600)
        assert_int_equal(
            e->ops->feed(stream, pcm + i, n - i < 1600 ? n - i : 1600, &ev),
            AW_OK);
    assert_int_equal(e->ops->end_turn(stream, &ev), AW_OK);
}

/* A client's next connection continues from what the last one adapted to:
 * the same as a second turn on the first connection. */
static void test_speechd_engine_ps_adaptation_carries_over(void **state)
{
    struct engine e;
    struct capture *a, *b;
    uint8_t saved[AW_SPEECHD_ADAPTATION_MAX];
    size_t len, half;
    void *s1, *s2;
    char err[256];

    (void)state;
    if (!g.have_flite)
        skip();
    a = calloc(1, sizeof(*a));
    b = calloc(1, sizeof(*b));
    assert_true(a && b);
    half = g.start[1] - RATE / 4;
    engine_open(&e, &aw_speechd_engine_ps_ops);
    assert_int_equal(e.ops->stream_open(e.worker, &s1, err, sizeof(err)),
                     AW_OK);
    decode_turn(&e, s1, g.stream.s, half, a);
    len = e.ops->save_adaptation(s1, saved, sizeof(saved));
    assert_true(len > 0);
    decode_turn(&e, s1, g.stream.s + half, g.stream.n - half, a);
    e.ops->stream_close(e.worker, s1);

    assert_int_equal(e.ops->stream_open(e.worker, &s2, err, sizeof(err)),
                     AW_OK);
    e.ops->load_adaptation(s2, saved, len);
    decode_turn(&e, s2, g.stream.s + half, g.stream.n - half, b);
    e.ops->stream_close(e.worker, s2);

    assert_int_equal(a->nutts, b->nutts);
    for (size_t i = 0; i < a->nutts; i++) {
        assert_string_equal(a->utts[i].text, b->utts[i].text);
        assert_int_equal(a->utts[i].offset, b->utts[i].offset);
    }
    engine_close(&e);
    free(a);
    free(b);
}

/* A long quiet lead-in is skipped, and times stay on the turn's timeline. */
static void test_speechd_engine_ps_quiet_lead_in_keeps_times(void **state)
{
    struct engine e;
    struct capture c;
    struct pcm p = {0};
    size_t lead = 3 * RATE;

    (void)state;
    if (!g.have_flite)
        skip();
    pcm_append(&p, NULL, lead);
    pcm_append(&p, g.stream.s, g.stream.n);
    engine_open(&e, &aw_speechd_engine_ps_ops);
    decode(&e, p.s, p.n, &c);
    check_boundaries(&c, lead);
    engine_close(&e);
    free(p.s);
}

/* Same words as pocketsphinx_continuous on the same file. */
static void test_speechd_engine_ps_matches_continuous(void **state)
{
    char path[] = "/tmp/aw-test-speechd-XXXXXX", cmd[2048], line[1024];
    char expect[2048] = "", got[2048] = "";
    struct engine e;
    struct capture c;
    FILE *f, *p;
    int fd;

    (void)state;
    if (!g.have_flite ||
        system("pocketsphinx_continuous -h >/dev/null 2>&1 </dev/null") == 127)
        skip();
    fd = mkstemp(path);
    assert_true(fd >= 0);
    /* Headerless: pocketsphinx_continuous only skips a header in files
     * named *.wav, and raw input is what it defaults to. */
    f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(g.stream.s, 2, g.stream.n, f), g.stream.n);
    (void)fclose(f);
    (void)snprintf(
        cmd, sizeof(cmd),
        "pocketsphinx_continuous -infile %s -hmm %s/en-us -lm "
        "%s/en-us.lm.bin -dict %s/cmudict-en-us.dict -logfn /dev/null "
        "2>/dev/null",
        path, g.model_dir, g.model_dir, g.model_dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof(line), p)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!*line)
            continue;
        strncat(expect, line, sizeof(expect) - strlen(expect) - 2);
        strncat(expect, "|", sizeof(expect) - strlen(expect) - 1);
    }
    pclose(p);
    unlink(path);

    engine_open(&e, &aw_speechd_engine_ps_ops);
    decode(&e, g.stream.s, g.stream.n, &c);
    for (size_t i = 0; i < c.nutts; i++) {
        if (!*c.utts[i].text)
            continue;
        strncat(got, c.utts[i].text, sizeof(got) - strlen(got) - 2);
        strncat(got, "|", sizeof(got) - strlen(got) - 1);
    }
    assert_string_equal(got, expect);
    engine_close(&e);
}

static void test_speechd_engine_ps_silence_is_not_speech(void **state)
{
    struct engine e;
    struct capture c;
    struct pcm p = {0};

    (void)state;
    pcm_append(&p, NULL, 4 * RATE);
    engine_open(&e, &aw_speechd_engine_ps_ops);
    decode(&e, p.s, p.n, &c);
    for (size_t i = 0; i < c.nutts; i++) {
        assert_int_equal(c.utts[i].nwords, 0);
        assert_true(c.utts[i].silent);
    }
    engine_close(&e);
    free(p.s);
}

static void test_speechd_engine_find_by_name(void **state)
{
    (void)state;
    assert_ptr_equal(aw_speechd_engine_find("pocketsphinx"),
                     &aw_speechd_engine_ps_ops);
    assert_ptr_equal(aw_speechd_engine_find("null"),
                     &aw_speechd_engine_null_ops);
    assert_null(aw_speechd_engine_find("whisper"));
    assert_null(aw_speechd_engine_find(NULL));
}

/* Bursts of tone at known places: wordless utterances at those places. */
static void test_speechd_engine_null_reports_sounds(void **state)
{
    static const double at_s[] = {0.5, 2.5, 5.0}, len_s = 1.0;
    struct engine e;
    struct capture c;
    struct pcm p = {0};

    (void)state;
    pcm_append(&p, NULL, 7 * RATE);
    for (size_t k = 0; k < AW_ARRAY_SIZE(at_s); k++) {
        size_t from = (size_t)(at_s[k] * RATE);

        for (size_t i = 0; i < (size_t)(len_s * RATE); i++)
            p.s[from + i] = (int16_t)((i / 18) % 2 ? 8000 : -8000);
    }
    engine_open(&e, &aw_speechd_engine_null_ops);
    decode(&e, p.s, p.n, &c);
    assert_int_equal(c.nutts, AW_ARRAY_SIZE(at_s));
    assert_int_equal(c.nhyps, 0);
    for (size_t k = 0; k < AW_ARRAY_SIZE(at_s); k++) {
        int64_t start = (int64_t)(at_s[k] * 1e7);

        assert_int_equal(c.utts[k].nwords, 0);
        assert_string_equal(c.utts[k].text, "");
        assert_false(c.utts[k].silent);
        assert_true(c.utts[k].offset >= start - 200000 &&
                    c.utts[k].offset <= start + 200000);
        assert_true(c.utts[k].duration >= 9000000 &&
                    c.utts[k].duration <= 11000000);
    }
    engine_close(&e);
    free(p.s);
}

/* The last sound runs into the end of the turn: reported at end_turn. */
static void test_speechd_engine_null_flushes_at_end(void **state)
{
    struct engine e;
    struct capture c;
    struct pcm p = {0};

    (void)state;
    pcm_append(&p, NULL, 2 * RATE);
    for (size_t i = RATE; i < 2 * RATE; i++)
        p.s[i] = (int16_t)((i / 18) % 2 ? 8000 : -8000);
    engine_open(&e, &aw_speechd_engine_null_ops);
    decode(&e, p.s, p.n, &c);
    assert_int_equal(c.nutts, 1);
    assert_true(c.utts[0].end >= c.utts[0].offset + c.utts[0].duration);
    engine_close(&e);
    free(p.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_speechd_engine_find_by_name),
        cmocka_unit_test(test_speechd_engine_null_reports_sounds),
        cmocka_unit_test(test_speechd_engine_null_flushes_at_end),
        cmocka_unit_test(test_speechd_engine_ps_silence_is_not_speech),
        cmocka_unit_test(test_speechd_engine_ps_phrase_times_match_sentences),
        cmocka_unit_test(test_speechd_engine_ps_reused_decoder_is_reset),
        cmocka_unit_test(test_speechd_engine_ps_quiet_lead_in_keeps_times),
        cmocka_unit_test(test_speechd_engine_ps_adaptation_carries_over),
        cmocka_unit_test(test_speechd_engine_ps_matches_continuous),
    };

    return cmocka_run_group_tests_name("speechd_engine", tests, group_setup,
                                       group_teardown);
}
