/*
 * airwave-speechd - recognition engines behind one ops table.
 *
 * An engine turns the PCM of a turn (16 kHz, 16-bit, mono) into utterances:
 * partial hypotheses while someone speaks and one final result per
 * utterance, with times in 100 ns ticks on the turn's own timeline (tick 0 is
 * the first sample of the turn). What the Azure protocol makes of those
 * events (speech.startDetected, speech.hypothesis, speech.phrase, ...) is
 * decided in turn.c, not here, so an engine knows nothing about JSON or
 * websockets.
 *
 * Objects and threads:
 *   engine  one per process: configuration and read-only shared data.
 *           Created and destroyed on the main thread.
 *   worker  one per decoding thread: whatever an engine may share between
 *           the streams of that thread but not across threads (PocketSphinx:
 *           the n-gram LM, whose scorer keeps a mutable cache, and a pool of
 *           idle decoders). Created, used and destroyed on its own thread.
 *   stream  one per websocket session: the decoding state of its turns.
 *           Always used on the worker thread that opened it, one call at a
 *           time.
 *
 * Implementations: aw_speechd_engine_ps_ops (engine_ps.c, PocketSphinx) and
 * aw_speechd_engine_null_ops (engine_null.c: finds speech by energy but
 * recognises nothing, for benchmarking clients). See docs/speechd.md.
 */
#ifndef AW_SPEECHD_ENGINE_H
#define AW_SPEECHD_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"

#define AW_SPEECHD_RATE_HZ          16000
#define AW_SPEECHD_TICKS_PER_SAMPLE 625 /* 10^7 ticks/s / 16000 Hz */
#define AW_SPEECHD_TICKS_PER_MS     10000

/** Ticks at the start of sample \p n of a turn. */
static inline int64_t aw_speechd_samples_to_ticks(uint64_t n)
{
    return (int64_t)n * AW_SPEECHD_TICKS_PER_SAMPLE;
}

/** Engine configuration, copied by create(). */
struct aw_speechd_engine_conf {
    const char *model_dir; /* holds en-us/, en-us.lm.bin, cmudict-en-us.dict */
    unsigned hyp_interval_ms;  /* partial hypotheses at most this often
                                  (audio time); 0 = never */
    unsigned max_idle_streams; /* idle decoders kept per worker for reuse */
};

/** One recognised word; the text is borrowed for the callback only. */
struct aw_speechd_word {
    const char *word; /* lower case, "(2)" suffix stripped */
    int64_t offset_ticks;
    int64_t duration_ticks;
};

/** The final result of one utterance; borrowed for the callback only. */
struct aw_speechd_utt {
    int64_t offset_ticks;   /* first word, or the start of the sound */
    int64_t duration_ticks; /* to the end of the last word or sound */
    int64_t end_ticks;      /* where the engine decided speech ended */
    const char *text;       /* words joined by one space; "" if none */
    double confidence;      /* 0..1; 0 when there are no words */
    const struct aw_speechd_word *words;
    size_t nwords;
    bool silent; /* no audible sound at all (digital silence): a voice
                    activity detector artefact, not an utterance */
};

/**
 * Where an engine reports what it found, in order, from inside feed() and
 * end_turn(). Texts are borrowed for the call.
 */
struct aw_speechd_engine_events {
    void *opaque;
    /** A partial result of the utterance in progress (non-empty text). */
    void (*hypothesis)(void *opaque, const char *text, int64_t offset_ticks,
                       int64_t duration_ticks);
    /** The utterance in progress has ended. */
    void (*utterance)(void *opaque, const struct aw_speechd_utt *utt);
};

/** Figures an engine keeps about one stream (for logs). */
struct aw_speechd_engine_stats {
    uint64_t samples;    /* PCM fed */
    uint64_t utterances; /* utterances ended */
};

struct aw_speechd_engine_ops {
    const char *name; /* as given to --engine */

    /**
     * Check the configuration and load what can be shared read-only by every
     * thread. @locality main thread, once.
     * @returns AW_OK, AW_ERR_NOT_FOUND (model missing), AW_ERR_NOMEM,
     *          AW_ERR_IO.
     */
    enum aw_err (*create)(const struct aw_speechd_engine_conf *conf,
                          void **engine, char *errstr, size_t errstr_size);
    void (*destroy)(void *engine);

    /**
     * Per-thread state, e.g. a model copy and a pool of idle decoders; may
     * load models, so it is called on the worker thread at startup, never on
     * the websocket thread. @locality the worker thread
     */
    enum aw_err (*worker_init)(void *engine, void **worker, char *errstr,
                               size_t errstr_size);
    void (*worker_fini)(void *worker);

    /** A decoding stream for one session, taken from the worker's pool when
     *  possible. @locality the worker thread */
    enum aw_err (*stream_open)(void *worker, void **stream, char *errstr,
                               size_t errstr_size);
    /** Give the stream back (its decoder goes back to the pool). */
    void (*stream_close)(void *worker, void *stream);

    /** Start a turn: tick 0 is the next sample fed. What the stream has
     *  adapted to (save_adaptation) carries over from earlier turns. */
    enum aw_err (*begin_turn)(void *stream);

    /** Decode \p n samples; reports events as they are found.
     *  @returns AW_OK or AW_ERR_IO (decoder failure). */
    enum aw_err (*feed)(void *stream, const int16_t *pcm, size_t n,
                        const struct aw_speechd_engine_events *ev);

    /** End of the turn's audio: finish the utterance in progress and report
     *  it. */
    enum aw_err (*end_turn)(void *stream,
                            const struct aw_speechd_engine_events *ev);

    /** Abandon the turn: drop the utterance in progress, report nothing. */
    void (*abort_turn)(void *stream);

    /**
     * Optional: what the stream has adapted to its client's audio so far
     * (PocketSphinx: the live cepstral mean estimate), to carry over to the
     * same client's next connection (the SDK reconnects every 10 minutes
     * and replays): a reconnect then does not start from scratch.
     * @returns bytes written to \p buf, 0 if none or \p cap is too small.
     */
    size_t (*save_adaptation)(void *stream, void *buf, size_t cap);
    /** Optional: start from a saved adaptation (after stream_open). */
    void (*load_adaptation)(void *stream, const void *buf, size_t len);

    void (*stats)(void *stream, struct aw_speechd_engine_stats *st);
};

/** Room for any engine's saved adaptation. */
#define AW_SPEECHD_ADAPTATION_MAX 512

extern const struct aw_speechd_engine_ops aw_speechd_engine_ps_ops;
extern const struct aw_speechd_engine_ops aw_speechd_engine_null_ops;

/** @returns the engine called \p name ("pocketsphinx", "null"), or NULL. */
const struct aw_speechd_engine_ops *aw_speechd_engine_find(const char *name);

#endif
