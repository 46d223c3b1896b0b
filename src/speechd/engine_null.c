/*
 * airwave-speechd - the null engine: speaks the full protocol but recognises
 * nothing, for benchmarking clients.
 *
 * It finds sound with a plain energy detector (10 ms frames; speech after
 * 100 ms above the threshold, silence again after 500 ms below it, the same
 * hangovers PocketSphinx's detector uses by default) and reports each sound
 * as an utterance without words, which the protocol layer answers with
 * speech.startDetected, a NoMatch speech.phrase and speech.endDetected. It
 * costs next to no CPU and no memory, so a client's throughput can be
 * measured without the decoder in the way.
 *
 * Threads: like every engine (engine.h); it has no shared state at all.
 */
#include "speechd/engine.h"

#include <stdlib.h>
#include <string.h>

#define FRAME_SAMPLES 160         /* 10 ms */
#define START_FRAMES  10          /* loud frames before speech starts */
#define END_FRAMES    50          /* quiet frames before speech ends */
#define THRESHOLD_SQ  (300 * 300) /* mean square of a loud frame */

struct null_stream {
    uint64_t samples;     /* samples of the turn so far */
    int64_t frame_sum;    /* sum of squares of the current frame */
    unsigned frame_fill;  /* samples in the current frame */
    uint64_t frame_index; /* index of the current frame */
    unsigned loud_run;    /* consecutive loud frames */
    unsigned quiet_run;   /* consecutive quiet frames while speaking */
    bool speaking;
    uint64_t start_frame; /* first loud frame of the utterance */
    uint64_t last_loud;   /* last loud frame of the utterance */
    struct aw_speechd_engine_stats st;
};

static enum aw_err null_create(const struct aw_speechd_engine_conf *conf,
                               void **engine, char *errstr, size_t errstr_size)
{
    static int nothing;

    (void)conf;
    aw_errstr_set(errstr, errstr_size, "%s", "");
    *engine = &nothing;
    return AW_OK;
}

static void null_destroy(void *engine)
{
    (void)engine;
}

static enum aw_err null_worker_init(void *engine, void **worker, char *errstr,
                                    size_t errstr_size)
{
    aw_errstr_set(errstr, errstr_size, "%s", "");
    *worker = engine;
    return AW_OK;
}

static void null_worker_fini(void *worker)
{
    (void)worker;
}

static enum aw_err null_stream_open(void *worker, void **stream, char *errstr,
                                    size_t errstr_size)
{
    (void)worker;
    *stream = calloc(1, sizeof(struct null_stream));
    if (!*stream) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return AW_ERR_NOMEM;
    }
    return AW_OK;
}

static void null_stream_close(void *worker, void *stream)
{
    (void)worker;
    free(stream);
}

static enum aw_err null_begin_turn(void *stream)
{
    struct null_stream *s = stream;
    struct aw_speechd_engine_stats st = s->st;

    memset(s, 0, sizeof(*s));
    s->st = st;
    return AW_OK;
}

static void report(struct null_stream *s, uint64_t end_frame,
                   const struct aw_speechd_engine_events *ev)
{
    struct aw_speechd_utt u = {0};
    int64_t tpf = aw_speechd_samples_to_ticks(FRAME_SAMPLES);

    u.offset_ticks = (int64_t)s->start_frame * tpf;
    u.duration_ticks = (int64_t)(s->last_loud + 1 - s->start_frame) * tpf;
    u.end_ticks = (int64_t)end_frame * tpf;
    u.text = "";
    s->st.utterances++;
    s->speaking = false;
    if (ev && ev->utterance)
        ev->utterance(ev->opaque, &u);
}

static void end_frame(struct null_stream *s,
                      const struct aw_speechd_engine_events *ev)
{
    bool loud = s->frame_sum / FRAME_SAMPLES > THRESHOLD_SQ;
    uint64_t f = s->frame_index++;

    s->frame_sum = 0;
    s->frame_fill = 0;
    if (!s->speaking) {
        s->loud_run = loud ? s->loud_run + 1 : 0;
        if (s->loud_run >= START_FRAMES) {
            s->speaking = true;
            s->start_frame = f + 1 - START_FRAMES;
            s->last_loud = f;
            s->quiet_run = 0;
        }
        return;
    }
    if (loud) {
        s->last_loud = f;
        s->quiet_run = 0;
        return;
    }
    if (++s->quiet_run >= END_FRAMES) {
        s->loud_run = 0;
        report(s, f + 1, ev);
    }
}

static enum aw_err null_feed(void *stream, const int16_t *pcm, size_t n,
                             const struct aw_speechd_engine_events *ev)
{
    struct null_stream *s = stream;

    for (size_t i = 0; i < n; i++) {
        s->frame_sum += (int64_t)pcm[i] * pcm[i];
        if (++s->frame_fill == FRAME_SAMPLES)
            end_frame(s, ev);
    }
    s->samples += n;
    s->st.samples += n;
    return AW_OK;
}

static enum aw_err null_end_turn(void *stream,
                                 const struct aw_speechd_engine_events *ev)
{
    struct null_stream *s = stream;

    if (s->speaking)
        report(s, s->frame_index, ev);
    return AW_OK;
}

static void null_abort_turn(void *stream)
{
    struct null_stream *s = stream;

    s->speaking = false;
}

static void null_stats(void *stream, struct aw_speechd_engine_stats *st)
{
    const struct null_stream *s = stream;

    *st = s->st;
}

const struct aw_speechd_engine_ops aw_speechd_engine_null_ops = {
    .name = "null",
    .create = null_create,
    .destroy = null_destroy,
    .worker_init = null_worker_init,
    .worker_fini = null_worker_fini,
    .stream_open = null_stream_open,
    .stream_close = null_stream_close,
    .begin_turn = null_begin_turn,
    .feed = null_feed,
    .end_turn = null_end_turn,
    .abort_turn = null_abort_turn,
    .stats = null_stats,
};
