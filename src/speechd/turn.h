/*
 * airwave-speechd - one turn's results as Azure messages.
 *
 * Turns what an engine reports (engine.h) into the service messages of a
 * turn, in the order the service sends them (azure-speech-protocol.md §4,
 * §4.4): per utterance speech.startDetected, speech.hypothesis while it is
 * spoken, speech.phrase and speech.endDetected; turn.end last.
 * InitialSilenceTimeout and the interactive mode's one-phrase turns are
 * decided here too. Pure logic: no threads, no sockets; the bodies go to an
 * emit callback (the caller frames them with the turn's X-RequestId).
 *
 * @locality the worker thread that decodes the turn's session
 */
#ifndef AW_SPEECHD_TURN_H
#define AW_SPEECHD_TURN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "speechd/engine.h"

/** Recognition modes, from the URL path (or speech.context). */
enum aw_speechd_mode {
    AW_SPEECHD_INTERACTIVE = 0,
    AW_SPEECHD_CONVERSATION = 1,
    AW_SPEECHD_DICTATION = 2,
};

/** @returns "interactive", "conversation" or "dictation". */
const char *aw_speechd_mode_name(enum aw_speechd_mode mode);

/** How a turn is answered. */
struct aw_speechd_turn_conf {
    enum aw_speechd_mode mode;
    bool detailed;               /* format=detailed: NBest in speech.phrase */
    bool word_timings;           /* Words[] in NBest (detailed only) */
    uint32_t initial_silence_ms; /* InitialSilenceTimeout after this much
                                    audio without speech; 0 = never */
};

/** Receives one service message: its Path and its JSON body. */
typedef void (*aw_speechd_emit_fn)(void *opaque, const char *path,
                                   const char *body);

struct aw_speechd_turn {
    struct aw_speechd_turn_conf conf;
    aw_speechd_emit_fn emit;
    void *opaque;
    uint64_t samples;    /* PCM of the turn so far */
    bool in_utterance;   /* speech.startDetected sent, phrase not yet */
    bool heard;          /* any speech (or sound) in this turn */
    bool silence_sent;   /* InitialSilenceTimeout sent */
    bool done;           /* turn.end sent: nothing more for this turn */
    unsigned phrases;    /* speech.phrase messages sent */
    unsigned recognized; /* ... of which Success */
};

/** Start a turn. */
void aw_speechd_turn_init(struct aw_speechd_turn *t,
                          const struct aw_speechd_turn_conf *conf,
                          aw_speechd_emit_fn emit, void *opaque);

/** The engine event table that feeds \p t (opaque = t). */
void aw_speechd_turn_events(struct aw_speechd_turn *t,
                            struct aw_speechd_engine_events *ev);

/**
 * Account for \p n samples just given to the engine (after its events for
 * them were reported): checks the initial silence timeout.
 */
void aw_speechd_turn_audio(struct aw_speechd_turn *t, size_t n);

/** The client's audio has ended and the engine has reported everything:
 *  send what the mode requires, then turn.end (once). */
void aw_speechd_turn_finish(struct aw_speechd_turn *t);

/** @returns false once the turn is over for the server (interactive mode
 *  after its phrase): later audio is not decoded. */
static inline bool aw_speechd_turn_wants_audio(const struct aw_speechd_turn *t)
{
    return !t->done;
}

/**
 * @brief Display form of a lexical text: first letter and the pronoun "i"
 *        upper-case, a final period. "" stays "".
 * @returns AW_OK or AW_ERR_TOO_LARGE if \p cap is too small.
 */
enum aw_err aw_speechd_display_text(const char *lexical, char *out, size_t cap);

#endif
