/*
 * The connector's wiring: streams from a configuration, their sources,
 * speech sessions and sinks, and reloads that start, stop and restart
 * streams without disturbing the others. See pipeline.h for the threads and
 * pipeline_int.h for who owns the stream list; every function here names
 * its thread.
 */
#include "pipeline/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airwave/audio.h"
#include "airwave/clock.h"
#include "airwave/log.h"
#include "ingest/ingest.h"
#include "pipeline/pipeline_int.h"

#define MOD           "pipeline"
#define MIN_TIMER_MS  5
#define MARK_SLOTS    64
#define HTTP_BODY_MAX (16 * 1024 * 1024)

/* Seconds from the end of a phrase's audio to its publication. */
static const double latency_bounds[] = {0.25, 0.5, 1, 2, 3, 5, 10, 30, 60};

/* Settings read once, when the process starts: a reload that changes them
 * is reported and otherwise ignored until the next restart. */
static const char *const fixed_prefixes[] = {
    "kafka.", "output.", "http.", "speech.ca_file", "speech.tls_verify",
};

/* --- sinks (service thread) -------------------------------------------- */

static void on_transcript(void *opaque, const struct aw_transcript *t)
{
    struct stream *st = opaque;
    struct aw_pipeline *p = st->p;
    struct aw_transcript rec = *t;

    rec.source = st->source;
    /* Failures are counted and logged by the sink. */
    aw_sink_transcript(p->sink, &rec);
    atomic_fetch_add(&st->phrases, 1);
    aw_histogram_observe(&st->latency,
                         (double)(aw_clock_wall_ms() - t->end_wall_ms) / 1000);
    AW_DEBUG(MOD, st->sc.id, "phrase at %lld ms: %s", (long long)t->offset_ms,
             t->text);
    if (p->o.on_transcript)
        p->o.on_transcript(p->o.opaque, &rec);
}

static void on_event(void *opaque, const struct aw_stream_event *e)
{
    struct stream *st = opaque;
    struct aw_pipeline *p = st->p;
    struct aw_stream_event rec = *e;

    rec.source = st->source;
    AW_INFO(MOD, st->sc.id, "event %s%s%s", aw_event_type_name(e->type),
            e->reason ? ": " : "", e->reason ? e->reason : "");
    aw_sink_event(p->sink, &rec);
}

/*
 * A stream has news for its session: audio or a mark from its source (a
 * source thread), or a message or close that lets the session move on (the
 * service thread: a turn.end may end the session, a close may call for a
 * reconnect now). The service thread sleeps between events instead of
 * polling: one wake-up is enough however many streams have news before it
 * runs, and it looks only at the dirty ones. The stream outlives every
 * call: its source is joined before it is freed.
 */
static void on_stream_news(void *opaque)
{
    struct stream *st = opaque;
    struct aw_pipeline *p = st->p;

    if (atomic_exchange(&st->dirty, true))
        return;
    if (!atomic_exchange(&p->news, true))
        aw_transport_wake(p->t);
}

/* --- websocket <-> session (service thread) ---------------------------- */

static void ws_open(void *opaque)
{
    struct stream *st = opaque;

    aw_stt_session_on_open(st->session);
}

static void ws_message(void *opaque, const uint8_t *data, size_t len,
                       bool binary)
{
    struct stream *st = opaque;

    aw_stt_session_on_message(st->session, data, len, binary);
    on_stream_news(st);
}

static enum aw_err ws_writable(void *opaque, uint8_t *buf, size_t cap,
                               size_t *len, bool *binary)
{
    struct stream *st = opaque;

    return aw_stt_session_next_frame(st->session, buf, cap, len, binary);
}

static void ws_close(void *opaque, int close_code, int http_status,
                     enum aw_err err, const char *detail)
{
    struct stream *st = opaque;

    st->conn = NULL; /* freed by the client after this returns */
    aw_stt_session_on_close(st->session, close_code, http_status, err, detail);
    on_stream_news(st);
}

static const struct aw_ws_conn_cbs ws_cbs = {
    .on_open = ws_open,
    .on_message = ws_message,
    .on_writable = ws_writable,
    .on_close = ws_close,
};

static enum aw_err io_connect(void *opaque, const struct aw_stt_handshake *hs)
{
    struct stream *st = opaque;
    struct aw_ws_header hdrs[AW_STT_MAX_HEADERS];
    char errstr[256];

    for (size_t i = 0; i < hs->nheaders; i++) {
        hdrs[i].name = hs->headers[i].name;
        hdrs[i].value = hs->headers[i].value;
    }
    st->conn = aw_ws_connect(st->p->wsc, hs->url, hdrs, hs->nheaders, &ws_cbs,
                             st, errstr, sizeof(errstr));
    if (!st->conn) {
        AW_WARN(MOD, st->sc.id, "%s", errstr);
        return AW_ERR_NET;
    }
    return AW_OK;
}

static void io_close(void *opaque, int code, const char *reason)
{
    struct stream *st = opaque;

    aw_ws_conn_close(st->conn, code, reason);
}

static void io_want_write(void *opaque)
{
    struct stream *st = opaque;

    aw_ws_conn_want_write(st->conn);
}

/* With a token endpoint, every connection shows a bearer token and the
 * key itself never travels on the websocket. */
static enum aw_err io_credentials(void *opaque, bool reconnect,
                                  const char **key, const char **token,
                                  char *errstr, size_t errstr_size)
{
    struct stream *st = opaque;
    struct aw_pipeline *p = st->p;

    if (!p->tokens) {
        *key = p->key;
        *token = p->token;
        return AW_OK;
    }
    *key = NULL;
    return aw_stt_token_get(p->tokens, reconnect, token, errstr, errstr_size);
}

static const struct aw_stt_session_io session_io = {
    .connect = io_connect,
    .close = io_close,
    .want_write = io_want_write,
    .transcript = on_transcript,
    .event = on_event,
    .credentials = io_credentials,
};

static void token_done(void *opaque, int status, const char *body, size_t len,
                       enum aw_err err, const char *detail)
{
    struct aw_pipeline *p = opaque;

    aw_stt_token_on_result(p->tokens, status, body, len, err, detail);
}

static enum aw_err token_fetch(void *opaque, const char *url, const char *key)
{
    struct aw_pipeline *p = opaque;
    const struct aw_ws_header hdr = {"Ocp-Apim-Subscription-Key", key};
    char errstr[256];
    enum aw_err err;

    err = aw_http_post(p->wsc, url, &hdr, 1, AW_STT_TOKEN_MAX_BYTES, token_done,
                       p, errstr, sizeof(errstr));
    if (err)
        AW_WARN(MOD, NULL, "token endpoint: %s", errstr);
    return err;
}

static const struct aw_stt_token_io token_io = {
    .fetch = token_fetch,
};

/* --- streams: creation and destruction (caller's thread) --------------- */

static void stream_free(struct stream *st)
{
    if (!st)
        return;
    if (st->src_ops)
        st->src_ops->destroy(st->src);
    aw_stt_session_destroy(st->session);
    if (st->ring_ok)
        aw_ring_fini(&st->ring);
    aw_conf_stream_free(&st->sc);
    free(st);
}

/* A stream of \p sc under the global settings of \p conf. */
static struct stream *stream_new(struct aw_pipeline *p,
                                 const struct aw_conf *conf,
                                 const struct aw_stream_conf *sc, char *errstr,
                                 size_t errstr_size)
{
    struct aw_source_args sa;
    struct aw_stt_session_opts so;
    struct stream *st;
    char err2[256];

    st = calloc(1, sizeof(*st));
    if (!st || aw_conf_stream_copy(&st->sc, sc)) {
        free(st);
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    st->p = p;
    aw_histogram_init(&st->latency, latency_bounds,
                      AW_ARRAY_SIZE(latency_bounds));
    /* Records and messages carry the URL without its userinfo and query:
     * station passwords and CDN tokens stay in the configuration. */
    aw_ingest_redact_url(st->sc.url, st->source, sizeof(st->source));
    if (aw_ring_init(&st->ring,
                     (size_t)(conf->ingest_buffer_seconds * AW_AUDIO_RATE_HZ),
                     MARK_SLOTS)) {
        aw_errstr_set(errstr, errstr_size, "%s: out of memory", sc->id);
        goto fail;
    }
    st->ring_ok = true;

    st->src_ops = aw_source_for(st->sc.url);
    if (!st->src_ops) {
        aw_errstr_set(errstr, errstr_size, "stream %s: no source handles %s",
                      sc->id, st->source);
        goto fail;
    }
    sa.sc = &st->sc;
    sa.conf = conf;
    sa.oneshot = p->o.mode == AW_PIPELINE_ONESHOT;
    sa.notify = on_stream_news;
    sa.notify_opaque = st;
    st->src = st->src_ops->create(&sa, &st->ring, err2, sizeof(err2));
    if (!st->src) {
        st->src_ops = NULL;
        aw_errstr_set(errstr, errstr_size, "stream %s: %s", sc->id, err2);
        goto fail;
    }

    memset(&so, 0, sizeof(so));
    so.stream_id = st->sc.id;
    so.language = st->sc.language ? st->sc.language : conf->speech_language;
    so.provider = conf->speech_provider;
    so.params.endpoint = conf->speech_endpoint;
    so.params.detailed = conf->speech_format == AW_SPEECH_FORMAT_DETAILED;
    so.params.word_timings = conf->speech_word_timings;
    so.params.key = p->key;
    so.params.token = p->token;
    so.chunk_ms = (unsigned)conf->speech_chunk_ms;
    so.rotate_after_ms = (uint64_t)(conf->speech_rotate_seconds * 1000);
    so.rotate_grace_ms = (uint64_t)(conf->speech_rotate_grace_seconds * 1000);
    so.connect_timeout_ms =
        (uint64_t)(conf->speech_connect_timeout_seconds * 1000);
    so.turn_start_timeout_ms = so.connect_timeout_ms;
    so.final_timeout_ms = (uint64_t)(conf->speech_final_timeout_seconds * 1000);
    so.max_failed_connects = p->o.mode == AW_PIPELINE_ONESHOT ? 2 : 0;
    st->session =
        aw_stt_session_new(&so, &session_io, st, &st->ring, err2, sizeof(err2));
    if (!st->session) {
        aw_errstr_set(errstr, errstr_size, "stream %s: %s", sc->id, err2);
        goto fail;
    }
    return st;

fail:
    stream_free(st);
    return NULL;
}

/* --- the service thread's clock ---------------------------------------- */

/* Take in new streams and let go of finished retired ones. */
static void update_list(struct aw_pipeline *p)
{
    struct stream *st;
    size_t i = 0;

    pthread_mutex_lock(&p->lock);
    while ((st = p->adding) != NULL && p->nstreams < p->cap) {
        p->adding = st->next;
        st->next = NULL;
        atomic_store(&st->dirty, true); /* news it may have had before */
        p->streams[p->nstreams++] = st;
    }
    while (i < p->nstreams) {
        st = p->streams[i];
        if (!st->retiring || !atomic_load(&st->done)) {
            i++;
            continue;
        }
        p->streams[i] = p->streams[--p->nstreams];
        st->next = p->graveyard;
        p->graveyard = st;
    }
    pthread_mutex_unlock(&p->lock);
}

/* One pass over the streams: the dirty ones (or all, on the timer), then
 * the timer again for the earliest thing any session waits for. */
static void poll_streams(struct aw_pipeline *p, bool all)
{
    uint64_t next_ms = 1000;

    atomic_store(&p->news, false);
    p->last_tick_ms = aw_clock_mono_ms();
    update_list(p);
    for (size_t i = 0; i < p->nstreams; i++) {
        struct stream *st = p->streams[i];
        const char *detail;
        enum aw_err err;
        bool dirty = atomic_exchange(&st->dirty, false);

        if (atomic_load(&st->retire) && !st->retiring) {
            st->retiring = true;
            aw_stt_session_finish(st->session);
            dirty = true;
        }
        if (atomic_load(&st->done))
            continue;
        if (dirty || all)
            aw_stt_session_poll(st->session);
        if (aw_stt_session_next_timer_ms(st->session) < next_ms)
            next_ms = aw_stt_session_next_timer_ms(st->session);
        if (!aw_stt_session_done(st->session, &err, &detail))
            continue;
        st->err = err;
        aw_errstr_set(st->errmsg, sizeof(st->errmsg), "%s", detail);
        /* The speech session cannot go on: nor can the source. */
        if (err)
            st->src_ops->stop(st->src);
        atomic_store(&st->done, true);
    }
    /* Each timer firing costs libwebsockets up to a millisecond of busy
     * polling (it sleeps in whole milliseconds, then spins to the
     * microsecond): the timer only runs for what needs it. */
    aw_transport_timer_schedule(p->tick, next_ms < MIN_TIMER_MS ? MIN_TIMER_MS
                                                                : next_ms);
}

static void on_tick(void *opaque)
{
    poll_streams(opaque, true);
}

static void on_wake(void *opaque)
{
    poll_streams(opaque, false);
}

static void finish_all(void *opaque)
{
    struct aw_pipeline *p = opaque;

    for (size_t i = 0; i < p->nstreams; i++)
        if (!atomic_load(&p->streams[i]->done))
            aw_stt_session_finish(p->streams[i]->session);
}

/* --- lifecycle (caller's thread) --------------------------------------- */

static bool wanted(const struct aw_pipeline *p, const struct aw_stream_conf *sc)
{
    return !p->o.only_stream || !strcmp(sc->id, p->o.only_stream);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

struct aw_pipeline *aw_pipeline_new(const struct aw_pipeline_opts *opts,
                                    struct aw_conf *conf, char *errstr,
                                    size_t errstr_size)
{
    struct aw_transport_opts to = {.name = "airwave", .tls = true};
    struct aw_ws_client_opts wo;
    struct aw_pipeline *p;
    size_t n = 0;

    p = calloc(1, sizeof(*p));
    if (!p) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->o = *opts;
    p->conf = *conf; /* ownership moves here */
    *conf = (struct aw_conf){0};
    pthread_mutex_init(&p->lock, NULL);
    aw_buf_init(&p->http_body, HTTP_BODY_MAX);
    p->key = dup_or_null(opts->key);
    p->token = dup_or_null(opts->token);
    p->o.key = p->o.token = NULL;
    p->o.only_stream = dup_or_null(opts->only_stream);
    if ((opts->key && !p->key) || (opts->token && !p->token) ||
        (opts->only_stream && !p->o.only_stream)) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        goto fail;
    }

    for (size_t i = 0; i < p->conf.nstreams; i++)
        n += wanted(p, &p->conf.streams[i]);
    if (!n && p->o.only_stream) {
        aw_errstr_set(errstr, errstr_size, "no stream \"%s\" in %s",
                      p->o.only_stream,
                      p->conf.path ? p->conf.path : "the configuration");
        goto fail;
    }
    if (!n && p->o.mode == AW_PIPELINE_ONESHOT) {
        aw_errstr_set(errstr, errstr_size, "no streams configured");
        goto fail;
    }
    p->cap = AW_CONF_MAX_STREAMS;
    p->streams = calloc(p->cap, sizeof(*p->streams));
    if (!p->streams) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        goto fail;
    }

    p->sink = aw_sink_new(&p->conf, errstr, errstr_size);
    if (!p->sink)
        goto fail;
    aw_sink_set_jsonl_events(p->sink, opts->jsonl_events);

    p->t = aw_transport_new(&to, errstr, errstr_size);
    if (!p->t)
        goto fail;
    memset(&wo, 0, sizeof(wo));
    wo.ca_file = p->conf.speech_ca_file;
    wo.tls_verify = p->conf.speech_tls_verify;
    p->wsc = aw_ws_client_new(p->t, &wo, errstr, errstr_size);
    if (!p->wsc)
        goto fail;
    if (p->conf.http_listen && aw_pipeline_http_init(p, errstr, errstr_size))
        goto fail;
    if (p->conf.speech_token_endpoint) {
        struct aw_stt_token_opts tok = {
            .url = p->conf.speech_token_endpoint,
            .key = p->key,
        };

        p->tokens = aw_stt_token_new(&tok, &token_io, p, errstr, errstr_size);
        if (!p->tokens)
            goto fail;
    }
    p->tick = aw_transport_timer_new(p->t, on_tick, p);
    if (!p->tick || aw_transport_on_wake(p->t, on_wake, p)) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        goto fail;
    }

    /* No service thread yet: the list is ours to fill. */
    for (size_t i = 0; i < p->conf.nstreams; i++) {
        struct stream *st;

        if (!wanted(p, &p->conf.streams[i]))
            continue;
        st = stream_new(p, &p->conf, &p->conf.streams[i], errstr, errstr_size);
        if (!st)
            goto fail;
        p->streams[p->nstreams++] = st;
    }
    return p;

fail:
    aw_pipeline_destroy(p);
    return NULL;
}

static void start_ticking(void *opaque)
{
    on_tick(opaque);
}

enum aw_err aw_pipeline_start(struct aw_pipeline *p)
{
    enum aw_err err;

    err = aw_transport_start(p->t);
    if (err)
        return err;
    p->started = true;
    err = aw_transport_call(p->t, start_ticking, p);
    if (err)
        return err;
    for (size_t i = 0; i < p->nstreams; i++) {
        err = p->streams[i]->src_ops->start(p->streams[i]->src);
        if (err)
            return err;
    }
    AW_INFO(MOD, NULL, "%zu stream%s started, speech endpoint %s", p->nstreams,
            p->nstreams == 1 ? "" : "s", p->conf.speech_endpoint);
    return AW_OK;
}

void aw_pipeline_stop(struct aw_pipeline *p)
{
    if (atomic_exchange(&p->stopping, true))
        return;
    AW_INFO(MOD, NULL, "stopping: ending the audio of every stream");
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->nstreams; i++)
        p->streams[i]->src_ops->stop(p->streams[i]->src);
    pthread_mutex_unlock(&p->lock);
    if (aw_transport_call(p->t, finish_all, p) != AW_OK)
        AW_WARN(MOD, NULL, "service thread unavailable while stopping");
}

/* Ask the service thread to finish \p st for good. @locks p->lock */
static void retire_locked(struct stream *st, const char *why)
{
    st->src_ops->stop(st->src);
    atomic_store(&st->retire, true);
    AW_INFO(MOD, st->sc.id, "stream stopping: %s", why);
}

enum aw_err aw_pipeline_reload(struct aw_pipeline *p, struct aw_conf *conf,
                               char *errstr, size_t errstr_size)
{
    const char *speech = aw_conf_global_diff(&p->conf, conf, "speech.");
    struct stream *added = NULL, *st;
    size_t kept = 0, restarted = 0, removed = 0, nadded = 0;
    const char *fixed = NULL;

    if (atomic_load(&p->stopping)) {
        aw_errstr_set(errstr, errstr_size, "stopping: reload ignored");
        return AW_ERR_STOPPED;
    }
    for (size_t i = 0; !fixed && i < AW_ARRAY_SIZE(fixed_prefixes); i++)
        fixed = aw_conf_global_diff(&p->conf, conf, fixed_prefixes[i]);
    if (fixed)
        AW_WARN(MOD, NULL,
                "%s changed: takes effect at the next restart; the rest of "
                "the configuration is reloaded",
                fixed);
    if (speech && !strncmp(speech, "speech.ca_file", 14))
        speech = NULL;
    if (!speech)
        speech = aw_conf_global_diff(&p->conf, conf, "ingest.");

    /* Build the new streams first: nothing changes if one cannot be. */
    for (size_t i = 0; i < conf->nstreams; i++) {
        const struct aw_stream_conf *sc = &conf->streams[i];
        bool same = false;

        if (!wanted(p, sc))
            continue;
        pthread_mutex_lock(&p->lock);
        for (size_t k = 0; k < p->nstreams; k++) {
            st = p->streams[k];
            if (!atomic_load(&st->retire) && !strcmp(st->sc.id, sc->id))
                same = !speech && aw_conf_stream_equal(&st->sc, sc);
        }
        pthread_mutex_unlock(&p->lock);
        if (same)
            continue;
        st = stream_new(p, conf, sc, errstr, errstr_size);
        if (!st) {
            while ((st = added) != NULL) {
                added = st->next;
                stream_free(st);
            }
            return AW_ERR_INVAL;
        }
        st->next = added;
        added = st;
    }

    /* Retire what is gone or changed; untouched streams are not touched. */
    pthread_mutex_lock(&p->lock);
    for (size_t k = 0; k < p->nstreams; k++) {
        const struct aw_stream_conf *sc;

        st = p->streams[k];
        if (atomic_load(&st->retire))
            continue;
        sc = aw_conf_stream(conf, st->sc.id);
        if (!sc || !wanted(p, sc)) {
            retire_locked(st, "removed from the configuration");
            removed++;
        } else if (speech || !aw_conf_stream_equal(&st->sc, sc)) {
            retire_locked(st, speech ? speech : "its settings changed");
            restarted++;
        } else {
            kept++;
        }
    }
    /* Start the new sources; the service thread takes the streams in at
     * its next tick (the ring holds the audio until then). */
    while ((st = added) != NULL) {
        added = st->next;
        st->src_ops->start(st->src);
        st->next = p->adding;
        p->adding = st;
        nadded++;
    }
    pthread_mutex_unlock(&p->lock);

    aw_conf_free(&p->conf);
    p->conf = *conf;
    *conf = (struct aw_conf){0};
    aw_transport_wake(p->t); /* the service thread acts on it now */
    AW_INFO(MOD, NULL,
            "configuration reloaded: %zu stream%s kept, %zu restarted, "
            "%zu removed, %zu added",
            kept, kept == 1 ? "" : "s", restarted, removed, nadded - restarted);
    return AW_OK;
}

void aw_pipeline_maintain(struct aw_pipeline *p)
{
    struct stream *dead;

    pthread_mutex_lock(&p->lock);
    dead = p->graveyard;
    p->graveyard = NULL;
    pthread_mutex_unlock(&p->lock);
    while (dead) {
        struct stream *next = dead->next;

        AW_INFO(MOD, dead->sc.id, "stream stopped");
        stream_free(dead);
        dead = next;
    }
}

bool aw_pipeline_done(const struct aw_pipeline *p)
{
    bool done;

    pthread_mutex_lock((pthread_mutex_t *)&p->lock);
    done = !p->adding;
    for (size_t i = 0; done && i < p->nstreams; i++)
        done = atomic_load(&p->streams[i]->done);
    pthread_mutex_unlock((pthread_mutex_t *)&p->lock);
    return done;
}

size_t aw_pipeline_nstreams(const struct aw_pipeline *p)
{
    size_t n;

    pthread_mutex_lock((pthread_mutex_t *)&p->lock);
    n = p->nstreams;
    pthread_mutex_unlock((pthread_mutex_t *)&p->lock);
    return n;
}

void aw_pipeline_progress(const struct aw_pipeline *p, size_t i,
                          struct aw_pipeline_progress *out)
{
    struct aw_source_stats ss;
    const struct stream *st;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock((pthread_mutex_t *)&p->lock);
    if (i < p->nstreams) {
        st = p->streams[i];
        st->src_ops->stats(st->src, &ss);
        out->stream_id = st->sc.id;
        out->decoded_seconds = ss.seconds;
        out->total_seconds = ss.duration_ms >= 0 ? ss.duration_ms / 1000.0 : -1;
        out->phrases = atomic_load(&st->phrases);
        out->done = atomic_load(&st->done);
    }
    pthread_mutex_unlock((pthread_mutex_t *)&p->lock);
}

enum aw_err aw_pipeline_error(const struct aw_pipeline *p, char *msg,
                              size_t msg_size)
{
    enum aw_err found = AW_OK;

    if (msg_size)
        msg[0] = '\0';
    pthread_mutex_lock((pthread_mutex_t *)&p->lock);
    for (size_t i = 0; !found && i < p->nstreams; i++) {
        const struct stream *st = p->streams[i];
        enum aw_err err;
        char smsg[256];

        if (!atomic_load(&st->done))
            continue;
        if (st->err) {
            aw_errstr_set(msg, msg_size, "%s", st->errmsg);
            found = st->err;
            continue;
        }
        /* A source that failed for good ends the session cleanly: its
         * error is the stream's. */
        st->src_ops->error(st->src, &err, smsg, sizeof(smsg));
        if (err && err != AW_ERR_EOF && err != AW_ERR_STOPPED) {
            aw_errstr_set(msg, msg_size, "%s", smsg);
            found = err;
        }
    }
    pthread_mutex_unlock((pthread_mutex_t *)&p->lock);
    return found;
}

int aw_pipeline_http_port(const struct aw_pipeline *p)
{
    return p->http ? aw_ws_server_port(p->http) : 0;
}

size_t aw_pipeline_destroy(struct aw_pipeline *p)
{
    struct aw_kafka *k;
    size_t left = 0;

    if (!p)
        return 0;
    /* Sources first: nothing may write a ring the sessions stop reading. */
    for (size_t i = 0; p->streams && i < p->nstreams; i++)
        p->streams[i]->src_ops->stop(p->streams[i]->src);
    for (struct stream *st = p->adding; st; st = st->next)
        st->src_ops->stop(st->src);
    for (size_t i = 0; p->streams && i < p->nstreams; i++)
        p->streams[i]->src_ops->join(p->streams[i]->src);
    /* Stopping the transport closes every connection; their close
     * callbacks run here and reach sessions that still exist. */
    aw_transport_stop(p->t);
    aw_pipeline_maintain(p);
    for (size_t i = 0; p->streams && i < p->nstreams; i++)
        stream_free(p->streams[i]);
    while (p->adding) {
        struct stream *next = p->adding->next;

        stream_free(p->adding);
        p->adding = next;
    }
    aw_transport_timer_destroy(p->tick);
    aw_stt_token_destroy(p->tokens);
    aw_ws_server_destroy(p->http);
    aw_ws_client_destroy(p->wsc);
    aw_transport_destroy(p->t);
    k = aw_sink_kafka(p->sink);
    if (k)
        left = aw_kafka_flush(k, p->conf.kafka_flush_timeout_ms);
    /* Anything still queued is purged, counted and logged here. */
    aw_sink_destroy(p->sink);
    aw_buf_fini(&p->http_body);
    aw_conf_free(&p->conf);
    free(p->streams);
    free(p->key);
    free(p->token);
    free((char *)p->o.only_stream);
    pthread_mutex_destroy(&p->lock);
    free(p);
    return left;
}
