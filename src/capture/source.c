/*
 * The PortAudio capture as a pipeline source (pipeline/source.h): URLs of
 * the form "portaudio:DEVICE".
 */
#include <stdlib.h>
#include <string.h>

#include "capture/capture.h"
#include "pipeline/source.h"

static bool portaudio_accepts(const char *url)
{
    return aw_capture_url_ok(url);
}

static void *portaudio_create(const struct aw_source_args *a,
                              struct aw_ring *ring, char *errstr,
                              size_t errstr_size)
{
    struct aw_capture_opts co;

    aw_capture_opts_init(&co);
    co.stream_id = a->sc->id;
    co.url = a->sc->url;
    co.stall_timeout_seconds = a->conf->ingest_stall_seconds;
    co.notify = a->notify;
    co.notify_opaque = a->notify_opaque;
    /* One-shot use wants an answer, not a vigil: a device that fails is
     * given two more tries, as ingest gives a URL. */
    if (a->oneshot)
        co.max_reconnects = 2;
    return aw_capture_new(&co, ring, errstr, errstr_size);
}

static enum aw_err portaudio_start(void *src)
{
    return aw_capture_start(src);
}

static void portaudio_stop(void *src)
{
    aw_capture_stop(src);
}

static void portaudio_join(void *src)
{
    aw_capture_join(src);
}

static void portaudio_destroy(void *src)
{
    aw_capture_destroy(src);
}

static void portaudio_stats(const void *src, struct aw_source_stats *st)
{
    static const enum aw_source_state states[] = {
        [AW_CAPTURE_IDLE] = AW_SOURCE_IDLE,
        [AW_CAPTURE_OPENING] = AW_SOURCE_OPENING,
        [AW_CAPTURE_RUNNING] = AW_SOURCE_RUNNING,
        [AW_CAPTURE_RECONNECTING] = AW_SOURCE_RECONNECTING,
        [AW_CAPTURE_ENDED] = AW_SOURCE_ENDED,
        [AW_CAPTURE_FAILED] = AW_SOURCE_FAILED,
    };
    struct aw_capture_stats cs;

    aw_capture_stats(src, &cs);
    st->state = (unsigned)cs.state < AW_ARRAY_SIZE(states) ? states[cs.state]
                                                           : AW_SOURCE_FAILED;
    st->seconds = cs.seconds;
    st->dropped_samples = cs.dropped_samples;
    st->reconnects = cs.reconnects;
    st->duration_ms = -1; /* a sound card never ends */
}

static void portaudio_error(const void *src, enum aw_err *err, char *msg,
                            size_t msg_size)
{
    aw_capture_error(src, err, msg, msg_size);
}

const struct aw_source_ops aw_source_portaudio_ops = {
    .name = "portaudio",
    .accepts = portaudio_accepts,
    .create = portaudio_create,
    .start = portaudio_start,
    .stop = portaudio_stop,
    .join = portaudio_join,
    .destroy = portaudio_destroy,
    .stats = portaudio_stats,
    .error = portaudio_error,
};
