/*
 * airwave-speechd - one turn's results as Azure messages. See turn.h and
 * docs/speechd.md ("What is sent when").
 *
 * Offsets and durations are numbers (never strings: the SDK adds a base
 * offset arithmetically) in 100 ns ticks from the first sample of the turn.
 */
#include "speechd/turn.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "airwave/log.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(4))

const char *aw_speechd_mode_name(enum aw_speechd_mode mode)
{
    switch (mode) {
    case AW_SPEECHD_INTERACTIVE:
        return "interactive";
    case AW_SPEECHD_CONVERSATION:
        return "conversation";
    case AW_SPEECHD_DICTATION:
        return "dictation";
    }
    return "unknown";
}

static bool is_word_char(char c)
{
    return isalnum((unsigned char)c) || c == '\'';
}

enum aw_err aw_speechd_display_text(const char *lexical, char *out, size_t cap)
{
    size_t n = strlen(lexical);

    if (!n) {
        if (!cap)
            return AW_ERR_TOO_LARGE;
        out[0] = '\0';
        return AW_OK;
    }
    if (n + 2 > cap)
        return AW_ERR_TOO_LARGE;
    memcpy(out, lexical, n + 1);
    out[0] = (char)toupper((unsigned char)out[0]);
    /* The pronoun and its contractions: "i", "i'm", "i'll", "i've", "i'd". */
    for (size_t i = 0; i < n; i++) {
        bool start = i == 0 || !is_word_char(out[i - 1]);

        if (start && out[i] == 'i' &&
            (i + 1 == n || !isalnum((unsigned char)out[i + 1])))
            out[i] = 'I';
    }
    if (!strchr(".?!", out[n - 1])) {
        out[n] = '.';
        out[n + 1] = '\0';
    }
    return AW_OK;
}

static void emit_json(struct aw_speechd_turn *t, const char *path, json_t *body)
{
    char *s;

    if (!body) {
        AW_ERROR("turn", NULL, "out of memory building %s", path);
        return;
    }
    s = json_dumps(body, DUMP_FLAGS);
    json_decref(body);
    if (!s) {
        AW_ERROR("turn", NULL, "out of memory building %s", path);
        return;
    }
    t->emit(t->opaque, path, s);
    free(s);
}

static void emit_offset(struct aw_speechd_turn *t, const char *path,
                        int64_t offset)
{
    emit_json(t, path, json_pack("{sI}", "Offset", (json_int_t)offset));
}

static void emit_turn_end(struct aw_speechd_turn *t)
{
    if (t->done)
        return;
    t->done = true;
    t->emit(t->opaque, "turn.end", "{}");
}

static void start_utterance(struct aw_speechd_turn *t, int64_t offset)
{
    if (t->in_utterance)
        return;
    t->in_utterance = true;
    t->heard = true;
    emit_offset(t, "speech.startDetected", offset);
}

static void on_hypothesis(void *opaque, const char *text, int64_t offset,
                          int64_t duration)
{
    struct aw_speechd_turn *t = opaque;

    if (t->done || !text || !*text)
        return;
    start_utterance(t, offset);
    emit_json(t, "speech.hypothesis",
              json_pack("{sssIsI}", "Text", text, "Offset", (json_int_t)offset,
                        "Duration", (json_int_t)duration));
}

static json_t *words_json(const struct aw_speechd_utt *u)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < u->nwords; i++) {
        const struct aw_speechd_word *w = &u->words[i];

        if (json_array_append_new(
                arr, json_pack("{sssIsI}", "Word", w->word, "Offset",
                               (json_int_t)w->offset_ticks, "Duration",
                               (json_int_t)w->duration_ticks))) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *success_json(const struct aw_speechd_turn *t,
                            const struct aw_speechd_utt *u)
{
    size_t cap = strlen(u->text) + 2;
    char *display = malloc(cap);
    json_t *body = NULL, *best, *nbest;

    if (!display || aw_speechd_display_text(u->text, display, cap))
        goto out;
    body = json_pack("{sssIsIss}", "RecognitionStatus", "Success", "Offset",
                     (json_int_t)u->offset_ticks, "Duration",
                     (json_int_t)u->duration_ticks, "DisplayText", display);
    if (!body || !t->conf.detailed)
        goto out;
    /* No inverse text normalisation here: ITN and MaskedITN repeat the
     * lexical form. Display is mandatory (§4.4 rule 3). */
    best = json_pack("{sfssssssss}", "Confidence", u->confidence, "Lexical",
                     u->text, "ITN", u->text, "MaskedITN", u->text, "Display",
                     display);
    if (best && t->conf.word_timings &&
        json_object_set_new(best, "Words", words_json(u))) {
        json_decref(best);
        best = NULL;
    }
    nbest = best ? json_array() : NULL;
    if (!nbest || json_array_append_new(nbest, best) ||
        json_object_set_new(body, "NBest", nbest)) {
        json_decref(nbest);
        json_decref(body);
        body = NULL;
    }
out:
    free(display);
    return body;
}

static void on_utterance(void *opaque, const struct aw_speechd_utt *u)
{
    struct aw_speechd_turn *t = opaque;
    json_t *body;

    if (t->done)
        return;
    /* Digital silence that the detector took for an utterance: not sound
     * at all, so no NoMatch either. */
    if (!u->nwords && u->silent && !t->in_utterance)
        return;
    start_utterance(t, u->offset_ticks);
    if (u->nwords)
        body = success_json(t, u);
    else
        body = json_pack("{sssIsI}", "RecognitionStatus", "NoMatch", "Offset",
                         (json_int_t)u->offset_ticks, "Duration",
                         (json_int_t)u->duration_ticks);
    t->phrases++;
    if (u->nwords)
        t->recognized++;
    emit_json(t, "speech.phrase", body);
    emit_offset(t, "speech.endDetected", u->end_ticks);
    t->in_utterance = false;
    if (t->conf.mode == AW_SPEECHD_INTERACTIVE)
        emit_turn_end(t);
}

static void emit_silence_timeout(struct aw_speechd_turn *t, int64_t at)
{
    t->silence_sent = true;
    t->phrases++;
    /* As the service reports it: where the timeout struck, no duration. */
    emit_json(t, "speech.phrase",
              json_pack("{sssIsI}", "RecognitionStatus",
                        "InitialSilenceTimeout", "Offset", (json_int_t)at,
                        "Duration", (json_int_t)0));
}

void aw_speechd_turn_init(struct aw_speechd_turn *t,
                          const struct aw_speechd_turn_conf *conf,
                          aw_speechd_emit_fn emit, void *opaque)
{
    memset(t, 0, sizeof(*t));
    t->conf = *conf;
    t->emit = emit;
    t->opaque = opaque;
}

void aw_speechd_turn_events(struct aw_speechd_turn *t,
                            struct aw_speechd_engine_events *ev)
{
    ev->opaque = t;
    ev->hypothesis = on_hypothesis;
    ev->utterance = on_utterance;
}

void aw_speechd_turn_audio(struct aw_speechd_turn *t, size_t n)
{
    uint64_t limit;

    t->samples += n;
    if (t->done || t->heard || t->silence_sent || !t->conf.initial_silence_ms)
        return;
    limit = (uint64_t)t->conf.initial_silence_ms * AW_SPEECHD_RATE_HZ / 1000;
    if (t->samples < limit)
        return;
    emit_silence_timeout(t, aw_speechd_samples_to_ticks(limit));
    if (t->conf.mode == AW_SPEECHD_INTERACTIVE) {
        emit_offset(t, "speech.endDetected",
                    aw_speechd_samples_to_ticks(limit));
        emit_turn_end(t);
    }
}

void aw_speechd_turn_finish(struct aw_speechd_turn *t)
{
    if (t->done)
        return;
    /* Interactive mode always answers with one phrase. */
    if (t->conf.mode == AW_SPEECHD_INTERACTIVE && !t->phrases) {
        int64_t at = aw_speechd_samples_to_ticks(t->samples);

        emit_silence_timeout(t, at);
        emit_offset(t, "speech.endDetected", at);
    }
    emit_turn_end(t);
}
