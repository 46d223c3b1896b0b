/*
 * airwave-speechd - the PocketSphinx engine (Debian pocketsphinx 5prealpha,
 * model pocketsphinx-en-us).
 *
 * Decoding mirrors pocketsphinx_continuous -infile, so the words and the
 * word error rate are the same as that tool's on the same audio: the PCM of
 * a turn is fed in 2048-sample reads, one stream per turn (ps_start_stream),
 * an utterance starts with ps_start_utt, and when PocketSphinx's voice
 * activity detector (ps_get_in_speech) falls back to silence the utterance
 * ends and its hypothesis is taken.
 *
 * One departure: a turn that starts with more than 0.5 s of (near) digital
 * silence is decoded from 0.5 s before its first audible sample. Fed a
 * long quiet lead-in, PocketSphinx's detector opens an empty utterance and
 * its noise estimate settles on nothing, and the first sentence after it
 * comes out garbled; a turn that a reconnect starts in a pause between
 * sentences would lose that sentence. Whole files that start with speech
 * or a short pause decode exactly as pocketsphinx_continuous decodes them.
 *
 * Times: ps_start_stream() resets the front end's sample counter, and the
 * decoder places every utterance on that stream (acmod's utterance start
 * frame), so ps_seg_frames() returns frames counted from the first sample
 * of the turn even though the detector dropped the silence in between.
 * Frame f covers ticks [f, f + 1) * 10^7 / frate; see docs/speechd.md for
 * the measurements.
 *
 * Memory (figures in docs/speechd.md): a decoder built from the stock files
 * costs about 90 MB; a third of it is the n-gram LM and another part the
 * 134k-word dictionary. Here:
 *   - the dictionary is filtered once, at startup, to the words the LM
 *     knows (words outside the LM can never be recognised with it, so the
 *     results do not change), and written to an unlinked temporary file
 *     that every decoder reads as /proc/self/fd/N;
 *   - the LM is read once per worker thread and shared by all the decoders
 *     of that thread. Not across threads: the trie LM's scorer writes a
 *     history cache inside the shared model (lm_trie_score() updates
 *     hist_cache/backoff_cache), so two threads decoding with one LM would
 *     race and corrupt each other's scores;
 *   - decoders are pooled per worker; a session's decoder starts from a
 *     fresh decoder's live CMN estimate (or the one its client's previous
 *     connection had learnt, see engine.h), and every turn from a new
 *     stream and utterance, so a new session loads nothing.
 *
 * Threads: create/destroy on the main thread; everything else on the worker
 * thread that owns the worker state. PocketSphinx's log goes to aw_log at
 * debug level through err_set_callback().
 */
#include "speechd/engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pocketsphinx.h>
#include <sphinxbase/cmn.h>
#include <sphinxbase/err.h>
#include <sphinxbase/feat.h>
#include <sphinxbase/logmath.h>
#include <sphinxbase/ngram_model.h>

#include "airwave/log.h"
#include "common/buf.h"

#define MOD "engine"

/* pocketsphinx_continuous reads the file 2048 samples at a time; the
 * detector's decisions are taken per read, so the same read size gives the
 * same utterance boundaries. */
#define READ_SAMPLES 2048

/* An utterance whose samples never exceed this is digital silence. */
#define SILENT_PEAK 64

/* Of a turn's quiet lead-in, only this much is decoded (0.5 s). */
#define LEAD_KEEP_SAMPLES (AW_SPEECHD_RATE_HZ / 2)

#define MAX_TEXT_BYTES (64 * 1024)

struct ps_engine {
    char *hmm_dir;
    char *lm_path;
    char *dict_path; /* the filtered copy, or the stock file */
    int dict_fd;     /* the unlinked filtered copy, or -1 */
    unsigned hyp_interval_ms;
    unsigned max_idle;
};

struct ps_worker {
    struct ps_engine *eng;
    ngram_model_t *lm; /* shared by this thread's decoders only */
    ps_decoder_t **idle;
    size_t nidle;
    /* The live CMN state of a fresh decoder, given to every new session. */
    mfcc_t *cmn_mean0;
    mfcc_t *cmn_sum0;
    int32 cmn_nframe0;
    int32 cmn_veclen;
    int64_t ticks_per_frame;
};

struct ps_stream {
    struct ps_worker *w;
    ps_decoder_t *ps;
    int16 pending[READ_SAMPLES];
    size_t npending;
    /* The turn's quiet lead-in: its last LEAD_KEEP_SAMPLES wait here, the
     * rest is skipped; the decoder's stream starts \p skipped samples into
     * the turn. */
    bool in_lead;
    int16 lead[LEAD_KEEP_SAMPLES];
    size_t lead_len;
    uint64_t skipped;
    uint64_t fed;       /* samples given to the decoder in this turn */
    bool in_utt;        /* between ps_start_utt and ps_end_utt */
    bool speaking;      /* the detector has reported speech */
    int peak;           /* max |sample| since the utterance began */
    uint64_t hyp_at;    /* fed at the last hypothesis */
    uint64_t hyp_every; /* samples between hypotheses; 0 = none */
    char *last_hyp;
    struct aw_buf text; /* scratch: the words joined by spaces */
    struct aw_buf wbuf; /* scratch: the words, NUL-separated */
    struct aw_speechd_word *words;
    size_t words_cap;
    struct aw_speechd_engine_stats st;
};

/* ---- logging ------------------------------------------------------------ */

static void ps_log(void *user_data, err_lvl_t lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ps_log(void *user_data, err_lvl_t lvl, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    size_t n;
    int rc;

    (void)user_data;
    if (lvl < ERR_ERROR && aw_log_threshold < AW_LOG_DEBUG)
        return;
    va_start(ap, fmt);
    rc = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (rc < 0)
        return;
    n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (!n)
        return;
    if (lvl >= ERR_ERROR)
        AW_WARN("pocketsphinx", NULL, "%s", line);
    else
        AW_DEBUG("pocketsphinx", NULL, "%s", line);
}

/* ---- helpers ------------------------------------------------------------ */

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);

    if (p)
        aw_errstr_set(p, n, "%s/%s", dir, name);
    return p;
}

static bool is_filler(const char *w)
{
    return w[0] == '<' || w[0] == '[' || w[0] == '+' || !w[0];
}

/* Length of \p w without an alternate-pronunciation suffix "(2)". */
static size_t base_len(const char *w)
{
    size_t n = strlen(w);

    if (n > 2 && w[n - 1] == ')') {
        size_t i = n - 2;

        while (i > 0 && w[i] >= '0' && w[i] <= '9')
            i--;
        if (i > 0 && i < n - 2 && w[i] == '(')
            return i;
    }
    return n;
}

/*
 * Write the lines of \p dict_in whose word (without "(N)") the LM knows to an
 * unlinked temporary file. @returns its descriptor, or -1 (the caller falls
 * back to the stock dictionary).
 */
static int filter_dict(const char *dict_in, const char *lm_path, size_t *kept,
                       size_t *total)
{
    const char *tmpdir = getenv("TMPDIR");
    char tmpl[4096], *line = NULL, *word = malloc(64);
    size_t line_cap = 0, word_cap = 64;
    cmd_ln_t *config = NULL;
    logmath_t *lmath = NULL;
    ngram_model_t *lm = NULL;
    FILE *in = NULL, *out = NULL;
    int fd = -1, dup_fd = -1;
    ssize_t len;

    *kept = *total = 0;
    if (!tmpdir || !*tmpdir)
        tmpdir = "/tmp";
    aw_errstr_set(tmpl, sizeof(tmpl), "%s/airwave-speechd-dict-XXXXXX", tmpdir);

    config = cmd_ln_init(NULL, ps_args(), TRUE, NULL);
    lmath = logmath_init(1.0001, 0, 0);
    if (!config || !lmath || !word)
        goto fail;
    lm = ngram_model_read(config, lm_path, NGRAM_AUTO, lmath);
    if (!lm)
        goto fail;
    in = fopen(dict_in, "r");
    if (!in)
        goto fail;
    fd = mkstemp(tmpl);
    if (fd < 0)
        goto fail;
    /* Nobody else needs the name; the descriptor keeps the file alive and
     * nothing is left behind whatever happens to the process. */
    unlink(tmpl);
    dup_fd = dup(fd);
    if (dup_fd < 0)
        goto fail;
    out = fdopen(dup_fd, "w");
    if (!out)
        goto fail;
    dup_fd = -1;

    while ((len = getline(&line, &line_cap, in)) > 0) {
        size_t wl = strcspn(line, " \t\r\n");

        if (!wl)
            continue;
        ++*total;
        if (wl + 1 > word_cap) {
            char *p = realloc(word, wl + 1);

            if (!p)
                goto fail;
            word = p;
            word_cap = wl + 1;
        }
        memcpy(word, line, wl);
        word[wl] = '\0';
        word[base_len(word)] = '\0';
        if (ngram_wid(lm, word) == ngram_unknown_wid(lm))
            continue;
        if (fwrite(line, 1, (size_t)len, out) != (size_t)len)
            goto fail;
        ++*kept;
    }
    if (fclose(out) != 0) {
        out = NULL;
        goto fail;
    }
    out = NULL;
    if (!*kept)
        goto fail;
    (void)fclose(in);
    free(line);
    free(word);
    ngram_model_free(lm);
    logmath_free(lmath);
    cmd_ln_free_r(config);
    return fd;

fail:
    if (out)
        (void)fclose(out);
    if (dup_fd >= 0)
        close(dup_fd);
    if (fd >= 0)
        close(fd);
    if (in)
        (void)fclose(in);
    free(line);
    free(word);
    if (lm)
        ngram_model_free(lm);
    logmath_free(lmath);
    cmd_ln_free_r(config);
    return -1;
}

/* ---- engine ------------------------------------------------------------- */

static void ps_destroy(void *engine)
{
    struct ps_engine *eng = engine;

    if (!eng)
        return;
    if (eng->dict_fd >= 0)
        close(eng->dict_fd);
    free(eng->hmm_dir);
    free(eng->lm_path);
    free(eng->dict_path);
    free(eng);
}

static enum aw_err ps_create(const struct aw_speechd_engine_conf *conf,
                             void **engine, char *errstr, size_t errstr_size)
{
    struct ps_engine *eng;
    char *stock_dict = NULL;
    size_t kept = 0, total = 0;
    enum aw_err err = AW_ERR_NOMEM;

    *engine = NULL;
    /* The default sink prints to stderr, and so do cmd_ln's configuration
     * dumps (through the log file pointer): close both. */
    err_set_logfp(NULL);
    err_set_callback(ps_log, NULL);

    eng = calloc(1, sizeof(*eng));
    if (!eng)
        goto fail;
    eng->dict_fd = -1;
    eng->hyp_interval_ms = conf->hyp_interval_ms;
    eng->max_idle = conf->max_idle_streams;
    eng->hmm_dir = path_join(conf->model_dir, "en-us");
    eng->lm_path = path_join(conf->model_dir, "en-us.lm.bin");
    stock_dict = path_join(conf->model_dir, "cmudict-en-us.dict");
    if (!eng->hmm_dir || !eng->lm_path || !stock_dict)
        goto fail;

    {
        char *mdef = path_join(eng->hmm_dir, "mdef");
        bool ok = mdef && access(mdef, R_OK) == 0 &&
                  access(eng->lm_path, R_OK) == 0 &&
                  access(stock_dict, R_OK) == 0;

        free(mdef);
        if (!ok) {
            err = AW_ERR_NOT_FOUND;
            aw_errstr_set(errstr, errstr_size,
                          "%s: no PocketSphinx model (need en-us/mdef, "
                          "en-us.lm.bin and cmudict-en-us.dict)",
                          conf->model_dir);
            goto fail;
        }
    }

    eng->dict_fd = filter_dict(stock_dict, eng->lm_path, &kept, &total);
    if (eng->dict_fd >= 0) {
        char p[64];

        aw_errstr_set(p, sizeof(p), "/proc/self/fd/%d", eng->dict_fd);
        if (access(p, R_OK) == 0) {
            eng->dict_path = strdup(p);
            if (!eng->dict_path)
                goto fail;
            AW_INFO(MOD, NULL,
                    "dictionary filtered to the LM's vocabulary: %zu of %zu "
                    "entries",
                    kept, total);
        } else {
            close(eng->dict_fd);
            eng->dict_fd = -1;
        }
    }
    if (!eng->dict_path) {
        AW_WARN(MOD, NULL,
                "could not filter the dictionary; decoders load all of %s",
                stock_dict);
        eng->dict_path = stock_dict;
        stock_dict = NULL;
    }
    free(stock_dict);
    *engine = eng;
    return AW_OK;

fail:
    if (err == AW_ERR_NOMEM)
        aw_errstr_set(errstr, errstr_size, "out of memory");
    free(stock_dict);
    ps_destroy(eng);
    return err;
}

/* ---- decoders ----------------------------------------------------------- */

static ps_decoder_t *decoder_new(struct ps_engine *eng)
{
    cmd_ln_t *config;
    ps_decoder_t *ps;

    config = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", eng->hmm_dir, "-dict",
                         eng->dict_path, NULL);
    if (!config)
        return NULL;
    ps = ps_init(config);
    cmd_ln_free_r(config); /* the decoder keeps its own reference */
    return ps;
}

static enum aw_err decoder_attach_lm(struct ps_worker *w, ps_decoder_t *ps)
{
    if (ps_set_lm(ps, "lm", w->lm) != 0 || ps_set_search(ps, "lm") != 0)
        return AW_ERR_IO;
    return AW_OK;
}

static void ps_worker_fini(void *worker)
{
    struct ps_worker *w = worker;

    if (!w)
        return;
    for (size_t i = 0; i < w->nidle; i++)
        ps_free(w->idle[i]);
    free(w->idle);
    if (w->lm)
        ngram_model_free(w->lm);
    free(w->cmn_mean0);
    free(w->cmn_sum0);
    free(w);
}

static enum aw_err ps_worker_init(void *engine, void **worker, char *errstr,
                                  size_t errstr_size)
{
    struct ps_engine *eng = engine;
    struct ps_worker *w;
    ps_decoder_t *ps = NULL;
    cmn_t *cmn;
    size_t cap = eng->max_idle ? eng->max_idle : 1;

    *worker = NULL;
    w = calloc(1, sizeof(*w));
    if (!w)
        goto nomem;
    w->eng = eng;
    w->idle = calloc(cap, sizeof(ps_decoder_t *));
    if (!w->idle)
        goto nomem;

    ps = decoder_new(eng);
    if (!ps) {
        aw_errstr_set(errstr, errstr_size,
                      "PocketSphinx could not load the model in %s",
                      eng->hmm_dir);
        goto fail;
    }
    w->lm = ngram_model_read(ps_get_config(ps), eng->lm_path, NGRAM_AUTO,
                             ps_get_logmath(ps));
    if (!w->lm) {
        aw_errstr_set(errstr, errstr_size, "%s: cannot read the LM",
                      eng->lm_path);
        goto fail;
    }
    if (decoder_attach_lm(w, ps)) {
        aw_errstr_set(errstr, errstr_size, "PocketSphinx refused the LM");
        goto fail;
    }
    w->ticks_per_frame =
        10000000 / (int64_t)cmd_ln_int32_r(ps_get_config(ps), "-frate");
    cmn = ps_get_feat(ps)->cmn_struct;
    w->cmn_veclen = cmn->veclen;
    w->cmn_nframe0 = cmn->nframe;
    w->cmn_mean0 = calloc((size_t)cmn->veclen, sizeof(mfcc_t));
    w->cmn_sum0 = calloc((size_t)cmn->veclen, sizeof(mfcc_t));
    if (!w->cmn_mean0 || !w->cmn_sum0)
        goto nomem;
    memcpy(w->cmn_mean0, cmn->cmn_mean, (size_t)cmn->veclen * sizeof(mfcc_t));
    memcpy(w->cmn_sum0, cmn->sum, (size_t)cmn->veclen * sizeof(mfcc_t));
    w->idle[w->nidle++] = ps;
    *worker = w;
    return AW_OK;

nomem:
    aw_errstr_set(errstr, errstr_size, "out of memory");
fail:
    if (ps)
        ps_free(ps);
    ps_worker_fini(w);
    return AW_ERR_NOMEM;
}

/* ---- streams ------------------------------------------------------------ */

static void reset_cmn(struct ps_stream *s)
{
    cmn_t *cmn = ps_get_feat(s->ps)->cmn_struct;
    size_t n = (size_t)s->w->cmn_veclen * sizeof(mfcc_t);

    if (cmn->veclen != s->w->cmn_veclen)
        return;
    memcpy(cmn->cmn_mean, s->w->cmn_mean0, n);
    memcpy(cmn->sum, s->w->cmn_sum0, n);
    cmn->nframe = s->w->cmn_nframe0;
}

static void ps_stream_close(void *worker, void *stream)
{
    struct ps_worker *w = worker;
    struct ps_stream *s = stream;

    if (!s)
        return;
    if (s->ps) {
        if (s->in_utt)
            ps_end_utt(s->ps);
        if (w->nidle < w->eng->max_idle)
            w->idle[w->nidle++] = s->ps;
        else
            ps_free(s->ps);
    }
    free(s->last_hyp);
    free(s->words);
    aw_buf_fini(&s->text);
    aw_buf_fini(&s->wbuf);
    free(s);
}

static enum aw_err ps_stream_open(void *worker, void **stream, char *errstr,
                                  size_t errstr_size)
{
    struct ps_worker *w = worker;
    struct ps_stream *s;

    *stream = NULL;
    s = calloc(1, sizeof(*s));
    if (!s) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return AW_ERR_NOMEM;
    }
    s->w = w;
    aw_buf_init(&s->text, MAX_TEXT_BYTES);
    aw_buf_init(&s->wbuf, MAX_TEXT_BYTES);
    s->hyp_every =
        (uint64_t)w->eng->hyp_interval_ms * AW_SPEECHD_RATE_HZ / 1000;
    if (w->nidle) {
        s->ps = w->idle[--w->nidle];
    } else {
        s->ps = decoder_new(w->eng);
        if (!s->ps || decoder_attach_lm(w, s->ps)) {
            aw_errstr_set(errstr, errstr_size,
                          "PocketSphinx could not create a decoder");
            ps_stream_close(w, s);
            return AW_ERR_NOMEM;
        }
    }
    /* A pooled decoder must not carry another session's adaptation. */
    reset_cmn(s);
    *stream = s;
    return AW_OK;
}


static enum aw_err ps_begin_turn(void *stream)
{
    struct ps_stream *s = stream;

    if (s->in_utt)
        ps_end_utt(s->ps);
    s->in_utt = false;
    s->speaking = false;
    s->npending = 0;
    s->in_lead = true;
    s->lead_len = 0;
    s->skipped = 0;
    s->fed = 0;
    s->peak = 0;
    s->hyp_at = 0;
    free(s->last_hyp);
    s->last_hyp = NULL;
    /* A new stream and detector state; the live CMN estimate carries on
     * from the session's earlier turns, as it would in one long stream. */
    if (ps_start_stream(s->ps) < 0 || ps_start_utt(s->ps) < 0)
        return AW_ERR_IO;
    s->in_utt = true;
    return AW_OK;
}

/* A decoder frame on the turn's timeline (past the skipped lead-in). */
static int64_t frame_ticks(const struct ps_stream *s, int frame)
{
    return aw_speechd_samples_to_ticks(s->skipped) +
           (int64_t)frame * s->w->ticks_per_frame;
}

/* Ticks of a duration of \p frames. */
static int64_t frames_ticks(const struct ps_stream *s, int frames)
{
    return (int64_t)frames * s->w->ticks_per_frame;
}

/* The turn's timeline at the decoder's current position. */
static int64_t now_ticks(const struct ps_stream *s)
{
    return aw_speechd_samples_to_ticks(s->skipped + s->fed);
}

/*
 * Collect the words of the current hypothesis: s->words[] (texts in
 * s->wbuf, NUL-separated) and the words joined by spaces in s->text.
 * @returns the number of words; 0 also when memory ran out.
 */
static size_t collect_words(struct ps_stream *s, double *confidence)
{
    logmath_t *lmath = ps_get_logmath(s->ps);
    double conf = 0;
    size_t n = 0, pos = 0;
    ps_seg_t *seg;

    aw_buf_reset(&s->text);
    aw_buf_reset(&s->wbuf);
    for (seg = ps_seg_iter(s->ps); seg; seg = ps_seg_next(seg)) {
        const char *w = ps_seg_word(seg);
        size_t wl = base_len(w);
        int sf, ef;

        if (is_filler(w))
            continue;
        if (n == s->words_cap) {
            size_t cap = s->words_cap ? 2 * s->words_cap : 32;
            struct aw_speechd_word *p = realloc(s->words, cap * sizeof(*p));

            if (!p)
                break;
            s->words = p;
            s->words_cap = cap;
        }
        if ((n && aw_buf_append(&s->text, " ", 1)) ||
            aw_buf_append(&s->text, w, wl) || aw_buf_append(&s->wbuf, w, wl) ||
            aw_buf_append(&s->wbuf, "", 1))
            break; /* keep the words that fit */
        ps_seg_frames(seg, &sf, &ef);
        s->words[n].offset_ticks = frame_ticks(s, sf);
        s->words[n].duration_ticks = frames_ticks(s, ef + 1 - sf);
        conf += logmath_exp(lmath, ps_seg_prob(seg, NULL, NULL, NULL));
        n++;
    }
    if (seg)
        ps_seg_free(seg);
    /* The buffer has stopped moving: point the words into it. */
    for (size_t i = 0; i < n; i++) {
        s->words[i].word = s->wbuf.data + pos;
        pos += strlen(s->words[i].word) + 1;
    }
    conf = n ? conf / (double)n : 0;
    *confidence = conf > 1 ? 1 : conf < 0 ? 0 : conf;
    return n;
}

static void report_utterance(struct ps_stream *s,
                             const struct aw_speechd_engine_events *ev)
{
    struct aw_speechd_utt u = {0};
    double conf = 0;
    size_t n = collect_words(s, &conf);

    u.end_ticks = now_ticks(s);
    if (n) {
        const struct aw_speechd_word *last = &s->words[n - 1];
        int64_t end = last->offset_ticks + last->duration_ticks;

        u.offset_ticks = s->words[0].offset_ticks;
        u.duration_ticks = end - u.offset_ticks;
        if (u.end_ticks < end)
            u.end_ticks = end;
    } else {
        ps_seg_t *seg = ps_seg_iter(s->ps);
        int sf = 0, ef = 0;

        /* No words: place the sound where the decoder's segmentation put
         * the utterance (its first segment). */
        if (seg) {
            ps_seg_frames(seg, &sf, &ef);
            ps_seg_free(seg);
        }
        u.offset_ticks = frame_ticks(s, sf);
        if (u.offset_ticks > u.end_ticks)
            u.offset_ticks = u.end_ticks;
        u.duration_ticks = u.end_ticks - u.offset_ticks;
    }
    u.text = n ? s->text.data : "";
    u.words = s->words;
    u.nwords = n;
    u.confidence = conf;
    u.silent = !n && s->peak < SILENT_PEAK;
    s->st.utterances++;
    if (ev && ev->utterance)
        ev->utterance(ev->opaque, &u);
}

static void maybe_hypothesis(struct ps_stream *s,
                             const struct aw_speechd_engine_events *ev)
{
    const char *hyp;
    double conf;
    int64_t off;

    if (!s->hyp_every || !ev || !ev->hypothesis ||
        s->fed - s->hyp_at < s->hyp_every)
        return;
    s->hyp_at = s->fed;
    hyp = ps_get_hyp(s->ps, NULL);
    if (!hyp || !*hyp)
        return;
    if (s->last_hyp && !strcmp(s->last_hyp, hyp))
        return;
    if (!collect_words(s, &conf))
        return;
    free(s->last_hyp);
    s->last_hyp = strdup(hyp);
    off = s->words[0].offset_ticks;
    ev->hypothesis(ev->opaque, s->text.data, off, now_ticks(s) - off);
}

static enum aw_err process_read(struct ps_stream *s, const int16 *pcm, size_t n,
                                const struct aw_speechd_engine_events *ev)
{
    bool in_speech;

    for (size_t i = 0; i < n; i++) {
        int v = pcm[i] < 0 ? -(int)pcm[i] : pcm[i];

        if (v > s->peak)
            s->peak = v;
    }
    if (ps_process_raw(s->ps, pcm, n, FALSE, FALSE) < 0)
        return AW_ERR_IO;
    s->fed += n;
    s->st.samples += n;
    in_speech = ps_get_in_speech(s->ps);
    if (in_speech && !s->speaking) {
        s->speaking = true;
        s->hyp_at = s->fed;
        free(s->last_hyp);
        s->last_hyp = NULL;
    }
    if (!in_speech && s->speaking) {
        ps_end_utt(s->ps);
        s->in_utt = false;
        report_utterance(s, ev);
        if (ps_start_utt(s->ps) < 0)
            return AW_ERR_IO;
        s->in_utt = true;
        s->speaking = false;
        s->peak = 0;
    } else if (s->speaking) {
        maybe_hypothesis(s, ev);
    }
    return AW_OK;
}

/* Decode in pocketsphinx_continuous's read size. */
static enum aw_err feed_reads(struct ps_stream *s, const int16 *pcm, size_t n,
                              const struct aw_speechd_engine_events *ev)
{
    enum aw_err err;

    while (n) {
        size_t take = READ_SAMPLES - s->npending;

        if (take > n)
            take = n;
        memcpy(s->pending + s->npending, pcm, take * sizeof(*pcm));
        s->npending += take;
        pcm += take;
        n -= take;
        if (s->npending == READ_SAMPLES) {
            s->npending = 0;
            err = process_read(s, s->pending, READ_SAMPLES, ev);
            if (err)
                return err;
        }
    }
    return AW_OK;
}

/* Keep the last LEAD_KEEP_SAMPLES of the quiet lead-in, skip the rest. */
static void lead_keep(struct ps_stream *s, const int16 *pcm, size_t n)
{
    if (n >= LEAD_KEEP_SAMPLES) {
        s->skipped += s->lead_len + (n - LEAD_KEEP_SAMPLES);
        memcpy(s->lead, pcm + (n - LEAD_KEEP_SAMPLES),
               LEAD_KEEP_SAMPLES * sizeof(*pcm));
        s->lead_len = LEAD_KEEP_SAMPLES;
        return;
    }
    if (s->lead_len + n > LEAD_KEEP_SAMPLES) {
        size_t drop = s->lead_len + n - LEAD_KEEP_SAMPLES;

        memmove(s->lead, s->lead + drop,
                (s->lead_len - drop) * sizeof(*s->lead));
        s->lead_len -= drop;
        s->skipped += drop;
    }
    memcpy(s->lead + s->lead_len, pcm, n * sizeof(*pcm));
    s->lead_len += n;
}

static enum aw_err ps_feed(void *stream, const int16_t *pcm, size_t n,
                           const struct aw_speechd_engine_events *ev)
{
    struct ps_stream *s = stream;
    enum aw_err err;
    size_t k = 0;

    if (!s->in_utt)
        return AW_ERR_INVAL;
    if (s->in_lead) {
        while (k < n && pcm[k] < SILENT_PEAK && pcm[k] > -SILENT_PEAK)
            k++;
        lead_keep(s, pcm, k);
        if (k == n)
            return AW_OK;
        s->in_lead = false;
        err = feed_reads(s, s->lead, s->lead_len, ev);
        s->lead_len = 0;
        if (err)
            return err;
    }
    return feed_reads(s, pcm + k, n - k, ev);
}

static enum aw_err ps_end_turn(void *stream,
                               const struct aw_speechd_engine_events *ev)
{
    struct ps_stream *s = stream;
    enum aw_err err = AW_OK;

    if (!s->in_utt)
        return AW_OK;
    if (s->npending) {
        size_t n = s->npending;

        s->npending = 0;
        err = process_read(s, s->pending, n, ev);
    }
    if (s->in_utt) {
        ps_end_utt(s->ps);
        s->in_utt = false;
        if (s->speaking)
            report_utterance(s, ev);
    }
    s->speaking = false;
    return err;
}

static void ps_abort_turn(void *stream)
{
    struct ps_stream *s = stream;

    if (s->in_utt)
        ps_end_utt(s->ps);
    s->in_utt = false;
    s->speaking = false;
    s->npending = 0;
}

/* The live CMN estimate: veclen, nframe, then the means and the sums. */
static size_t ps_save_adaptation(void *stream, void *buf, size_t cap)
{
    const struct ps_stream *s = stream;
    cmn_t *cmn = ps_get_feat(s->ps)->cmn_struct;
    size_t vec = (size_t)cmn->veclen * sizeof(mfcc_t);
    uint8_t *p = buf;

    if (2 * sizeof(int32) + 2 * vec > cap)
        return 0;
    memcpy(p, &cmn->veclen, sizeof(int32));
    memcpy(p + sizeof(int32), &cmn->nframe, sizeof(int32));
    memcpy(p + 2 * sizeof(int32), cmn->cmn_mean, vec);
    memcpy(p + 2 * sizeof(int32) + vec, cmn->sum, vec);
    return 2 * sizeof(int32) + 2 * vec;
}

static void ps_load_adaptation(void *stream, const void *buf, size_t len)
{
    struct ps_stream *s = stream;
    cmn_t *cmn = ps_get_feat(s->ps)->cmn_struct;
    size_t vec = (size_t)cmn->veclen * sizeof(mfcc_t);
    const uint8_t *p = buf;
    int32 veclen;

    if (len != 2 * sizeof(int32) + 2 * vec)
        return;
    memcpy(&veclen, p, sizeof(int32));
    if (veclen != cmn->veclen)
        return;
    memcpy(&cmn->nframe, p + sizeof(int32), sizeof(int32));
    memcpy(cmn->cmn_mean, p + 2 * sizeof(int32), vec);
    memcpy(cmn->sum, p + 2 * sizeof(int32) + vec, vec);
}

static void ps_stats(void *stream, struct aw_speechd_engine_stats *st)
{
    const struct ps_stream *s = stream;

    *st = s->st;
}

const struct aw_speechd_engine_ops aw_speechd_engine_ps_ops = {
    .name = "pocketsphinx",
    .create = ps_create,
    .destroy = ps_destroy,
    .worker_init = ps_worker_init,
    .worker_fini = ps_worker_fini,
    .stream_open = ps_stream_open,
    .stream_close = ps_stream_close,
    .begin_turn = ps_begin_turn,
    .feed = ps_feed,
    .end_turn = ps_end_turn,
    .abort_turn = ps_abort_turn,
    .save_adaptation = ps_save_adaptation,
    .load_adaptation = ps_load_adaptation,
    .stats = ps_stats,
};

const struct aw_speechd_engine_ops *aw_speechd_engine_find(const char *name)
{
    static const struct aw_speechd_engine_ops *const all[] = {
        &aw_speechd_engine_ps_ops,
        &aw_speechd_engine_null_ops,
    };

    for (size_t i = 0; name && i < AW_ARRAY_SIZE(all); i++)
        if (!strcmp(all[i]->name, name))
            return all[i];
    return NULL;
}
