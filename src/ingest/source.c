/*
 * The FFmpeg ingest as a pipeline source (pipeline/source.h): files and
 * every URL libavformat opens.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "pipeline/source.h"

static bool ffmpeg_accepts(const char *url)
{
    return url && *url && strncmp(url, "portaudio:", 10);
}

static void *ffmpeg_create(const struct aw_source_args *a, struct aw_ring *ring,
                           char *errstr, size_t errstr_size)
{
    const struct aw_stream_conf *sc = a->sc;
    const struct aw_conf *conf = a->conf;
    size_t n = conf->nffmpeg + sc->nffmpeg;
    struct aw_ingest_opts io;
    struct aw_kv *kv = NULL;
    struct aw_ingest *in;

    aw_ingest_opts_init(&io);
    io.stream_id = sc->id;
    io.url = sc->url;
    io.pace = sc->pace >= 0 ? sc->pace : conf->speech_pace;
    io.live = sc->live;
    io.audio_track = sc->audio_track;
    io.audio_language = sc->audio_language;
    io.stall_timeout_seconds = conf->ingest_stall_seconds;
    io.notify = a->notify;
    io.notify_opaque = a->notify_opaque;
    /* One-shot use wants an answer, not a vigil: a source that cannot be
     * reached is given two more tries. */
    if (a->oneshot)
        io.max_reconnects = 2;
    /* Per-stream options win over the global ones: the later key of the
     * merged list overrides. */
    if (n) {
        kv = calloc(n, sizeof(*kv));
        if (!kv) {
            aw_errstr_set(errstr, errstr_size, "out of memory");
            return NULL;
        }
        /* Either list may be empty (NULL): memcpy() takes no NULL. */
        if (conf->nffmpeg)
            memcpy(kv, conf->ffmpeg, conf->nffmpeg * sizeof(*kv));
        if (sc->nffmpeg)
            memcpy(kv + conf->nffmpeg, sc->ffmpeg, sc->nffmpeg * sizeof(*kv));
    }
    io.ffmpeg = kv;
    io.nffmpeg = n;
    in = aw_ingest_new(&io, ring, errstr, errstr_size);
    free(kv);
    return in;
}

static enum aw_err ffmpeg_start(void *src)
{
    return aw_ingest_start(src);
}

static void ffmpeg_stop(void *src)
{
    aw_ingest_stop(src);
}

static void ffmpeg_join(void *src)
{
    aw_ingest_join(src);
}

static void ffmpeg_destroy(void *src)
{
    aw_ingest_destroy(src);
}

static void ffmpeg_stats(const void *src, struct aw_source_stats *st)
{
    struct aw_ingest_stats is;

    aw_ingest_stats(src, &is);
    switch (is.state) {
    case AW_INGEST_IDLE:
        st->state = AW_SOURCE_IDLE;
        break;
    case AW_INGEST_OPENING:
        st->state = AW_SOURCE_OPENING;
        break;
    case AW_INGEST_RUNNING:
        st->state = AW_SOURCE_RUNNING;
        break;
    case AW_INGEST_RECONNECTING:
        st->state = AW_SOURCE_RECONNECTING;
        break;
    case AW_INGEST_ENDED:
        st->state = AW_SOURCE_ENDED;
        break;
    default:
        st->state = AW_SOURCE_FAILED;
        break;
    }
    st->seconds = is.seconds;
    st->dropped_samples = is.dropped_samples;
    /* A live stream that libavformat reconnects is closed and reopened by
     * the ingest, and that reopen is already in reconnects: only a file's
     * resumes inside libavformat add to it (else each outage counts twice). */
    st->reconnects = is.reconnects + (is.live ? 0 : is.http_reconnects);
    st->duration_ms = is.duration_ms;
}

static void ffmpeg_error(const void *src, enum aw_err *err, char *msg,
                         size_t msg_size)
{
    aw_ingest_error(src, err, msg, msg_size);
}

const struct aw_source_ops aw_source_ffmpeg_ops = {
    .name = "ffmpeg",
    .accepts = ffmpeg_accepts,
    .create = ffmpeg_create,
    .start = ffmpeg_start,
    .stop = ffmpeg_stop,
    .join = ffmpeg_join,
    .destroy = ffmpeg_destroy,
    .stats = ffmpeg_stats,
    .error = ffmpeg_error,
};
