/*
 * The connector's wiring. See pipeline.h for the threads; here every
 * function names its thread. The service thread owns the sessions and the
 * websocket connections; the caller's thread owns creation, the stop
 * request and destruction; the ingest threads touch only their rings.
 */
#include "pipeline/pipeline.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airwave/audio.h"
#include "airwave/clock.h"
#include "airwave/log.h"
#include "common/buf.h"
#include "ingest/ingest.h"
#include "metrics/metrics.h"
#include "pipeline/ring.h"
#include "sink/sink.h"
#include "stt/session.h"
#include "transport/transport.h"
#include "transport/ws_client.h"
#include "transport/ws_server.h"

#ifndef AW_VERSION
#define AW_VERSION "0"
#endif

#define MOD           "pipeline"
#define POLL_MS       20
#define MARK_SLOTS    64
#define HTTP_BODY_MAX (16 * 1024 * 1024)
#define STALL_TICK_MS 5000 /* /healthz: the loop must have turned since */

/* Seconds from the end of a phrase's audio to its publication. */
static const double latency_bounds[] = {0.25, 0.5, 1, 2, 3, 5, 10, 30, 60};

struct stream {
    struct aw_pipeline *p;
    const struct aw_stream_conf *sc;
    char source[AW_RING_MARK_TEXT]; /* redacted URL */
    struct aw_ring ring;
    bool ring_ok;
    struct aw_ingest *ingest;
    struct aw_stt_session *session; /* service thread */
    struct aw_ws_conn *conn;        /* service thread */
    _Atomic bool done;
    _Atomic uint64_t phrases;
    struct aw_histogram latency;
    enum aw_err err; /* written once on the service thread before done */
    char errmsg[256];
};

struct aw_pipeline {
    struct aw_pipeline_opts o;
    const struct aw_conf *conf;
    struct aw_transport *t;
    struct aw_ws_client *wsc;
    struct aw_transport_timer *tick;
    struct aw_sink *sink;
    struct aw_ws_server *http; /* /metrics /healthz /readyz, or NULL */
    struct aw_buf http_body;   /* service thread */
    uint64_t last_tick_ms;     /* service thread */
    struct stream *streams;
    size_t nstreams;
    _Atomic bool stopping;
    _Atomic bool started;
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
    AW_DEBUG(MOD, st->sc->id, "phrase at %lld ms: %s", (long long)t->offset_ms,
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
    AW_INFO(MOD, st->sc->id, "event %s%s%s", aw_event_type_name(e->type),
            e->reason ? ": " : "", e->reason ? e->reason : "");
    aw_sink_event(p->sink, &rec);
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
        AW_WARN(MOD, st->sc->id, "%s", errstr);
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

static const struct aw_stt_session_io session_io = {
    .connect = io_connect,
    .close = io_close,
    .want_write = io_want_write,
    .transcript = on_transcript,
    .event = on_event,
};

/* --- the service thread's clock ---------------------------------------- */

static void poll_streams(struct aw_pipeline *p)
{
    for (size_t i = 0; i < p->nstreams; i++) {
        struct stream *st = &p->streams[i];
        const char *detail;
        enum aw_err err;

        if (atomic_load(&st->done))
            continue;
        aw_stt_session_poll(st->session);
        if (!aw_stt_session_done(st->session, &err, &detail))
            continue;
        st->err = err;
        aw_errstr_set(st->errmsg, sizeof(st->errmsg), "%s", detail);
        if (err) {
            /* The speech session cannot go on: nor can the source. */
            aw_ingest_stop(st->ingest);
        }
        atomic_store(&st->done, true);
    }
}

static void on_tick(void *opaque)
{
    struct aw_pipeline *p = opaque;

    p->last_tick_ms = aw_clock_mono_ms();
    poll_streams(p);
    aw_transport_timer_schedule(p->tick, POLL_MS);
}

static void finish_all(void *opaque)
{
    struct aw_pipeline *p = opaque;

    for (size_t i = 0; i < p->nstreams; i++)
        if (!atomic_load(&p->streams[i].done))
            aw_stt_session_finish(p->streams[i].session);
}

static void start_ticking(void *opaque)
{
    struct aw_pipeline *p = opaque;

    on_tick(p);
}

/* --- /metrics /healthz /readyz (service thread) ------------------------- */

struct metric {
    const char *name;
    enum aw_metric_type type;
    const char *help;
    double (*get)(struct stream *st, const struct aw_ingest_stats *is,
                  const struct aw_stt_stats *ss);
};

static double sec(uint64_t samples)
{
    return (double)samples / AW_AUDIO_RATE_HZ;
}

static double m_source_up(struct stream *st, const struct aw_ingest_stats *is,
                          const struct aw_stt_stats *ss)
{
    (void)st;
    (void)ss;
    return is->state == AW_INGEST_RUNNING;
}

static double m_source_reconnects(struct stream *st,
                                  const struct aw_ingest_stats *is,
                                  const struct aw_stt_stats *ss)
{
    (void)st;
    (void)ss;
    return (double)(is->reconnects + is->http_reconnects);
}

static double m_decoded(struct stream *st, const struct aw_ingest_stats *is,
                        const struct aw_stt_stats *ss)
{
    (void)st;
    (void)ss;
    return is->seconds;
}

static double m_dropped(struct stream *st, const struct aw_ingest_stats *is,
                        const struct aw_stt_stats *ss)
{
    (void)st;
    return sec(is->dropped_samples + ss->dropped_samples);
}

static double m_ring_fill(struct stream *st, const struct aw_ingest_stats *is,
                          const struct aw_stt_stats *ss)
{
    (void)is;
    (void)ss;
    return (double)(aw_ring_head(&st->ring) - aw_ring_tail(&st->ring)) /
           (double)aw_ring_capacity(&st->ring);
}

static double m_lag(struct stream *st, const struct aw_ingest_stats *is,
                    const struct aw_stt_stats *ss)
{
    (void)st;
    (void)is;
    return sec(ss->backlog_samples);
}

static double m_speech_connected(struct stream *st,
                                 const struct aw_ingest_stats *is,
                                 const struct aw_stt_stats *ss)
{
    (void)st;
    (void)is;
    return ss->conn_state == AW_STT_CONN_OPEN;
}

#define SS_COUNTER(fn, field)                                                  \
    static double fn(struct stream *st, const struct aw_ingest_stats *is,      \
                     const struct aw_stt_stats *ss)                            \
    {                                                                          \
        (void)st;                                                              \
        (void)is;                                                              \
        return (double)ss->field;                                              \
    }
SS_COUNTER(m_connections, connects)
SS_COUNTER(m_connect_failures, connect_failures)
SS_COUNTER(m_rotations, rotations)
SS_COUNTER(m_reconnects, reconnects)
SS_COUNTER(m_duplicates, duplicates)
#undef SS_COUNTER

static double m_replayed(struct stream *st, const struct aw_ingest_stats *is,
                         const struct aw_stt_stats *ss)
{
    (void)st;
    (void)is;
    return sec(ss->replayed_samples);
}

static double m_sent(struct stream *st, const struct aw_ingest_stats *is,
                     const struct aw_stt_stats *ss)
{
    (void)st;
    (void)is;
    return sec(ss->sent_samples);
}

static double m_phrases(struct stream *st, const struct aw_ingest_stats *is,
                        const struct aw_stt_stats *ss)
{
    (void)is;
    (void)ss;
    return (double)atomic_load(&st->phrases);
}

static double kafka_count(struct stream *st, bool errors)
{
    struct aw_kafka *k = aw_sink_kafka(st->p->sink);
    struct aw_kafka_counts c;
    double n = 0;

    if (!k)
        return 0;
    for (int t = 0; t < AW_KAFKA_TOPIC_COUNT; t++) {
        aw_kafka_stream_counts(aw_kafka_stream_get(k, st->sc->id),
                               (enum aw_kafka_topic)t, &c);
        n += errors ? (double)(c.failed + c.dropped) : (double)c.delivered;
    }
    return n;
}

static double m_kafka_delivered(struct stream *st,
                                const struct aw_ingest_stats *is,
                                const struct aw_stt_stats *ss)
{
    (void)is;
    (void)ss;
    return kafka_count(st, false);
}

static double m_kafka_errors(struct stream *st,
                             const struct aw_ingest_stats *is,
                             const struct aw_stt_stats *ss)
{
    (void)is;
    (void)ss;
    return kafka_count(st, true);
}

/* One row per family, every one labelled by stream. */
static const struct metric stream_metrics[] = {
    {"airwave_source_up", AW_METRIC_GAUGE,
     "1 while the source is connected and decoding", m_source_up},
    {"airwave_source_reconnects_total", AW_METRIC_COUNTER,
     "Source reopens after a failure, stall or end", m_source_reconnects},
    {"airwave_audio_decoded_seconds_total", AW_METRIC_COUNTER,
     "Audio decoded from the source", m_decoded},
    {"airwave_audio_dropped_seconds_total", AW_METRIC_COUNTER,
     "Audio lost because the speech service fell behind", m_dropped},
    {"airwave_ring_fill_ratio", AW_METRIC_GAUGE,
     "Fill of the stream's audio buffer (replay and backlog), 0 to 1",
     m_ring_fill},
    {"airwave_stream_lag_seconds", AW_METRIC_GAUGE,
     "Audio received but not yet sent to the speech service", m_lag},
    {"airwave_speech_connected", AW_METRIC_GAUGE,
     "1 while a speech connection is open", m_speech_connected},
    {"airwave_speech_connections_total", AW_METRIC_COUNTER,
     "Speech connections opened", m_connections},
    {"airwave_speech_connect_failures_total", AW_METRIC_COUNTER,
     "Speech connection attempts that failed", m_connect_failures},
    {"airwave_speech_rotations_total", AW_METRIC_COUNTER,
     "Speech connections replaced before the service's limit", m_rotations},
    {"airwave_speech_reconnects_total", AW_METRIC_COUNTER,
     "Speech connections replaced after they were lost", m_reconnects},
    {"airwave_speech_sent_seconds_total", AW_METRIC_COUNTER,
     "Audio sent to the speech service, replays included", m_sent},
    {"airwave_speech_replayed_seconds_total", AW_METRIC_COUNTER,
     "Audio sent again after a reconnect or rotation", m_replayed},
    {"airwave_phrases_published_total", AW_METRIC_COUNTER,
     "Transcripts published", m_phrases},
    {"airwave_phrases_duplicate_total", AW_METRIC_COUNTER,
     "Replayed phrases recognised again and not published", m_duplicates},
    {"airwave_kafka_delivered_total", AW_METRIC_COUNTER,
     "Records acknowledged by Kafka (transcripts and events)",
     m_kafka_delivered},
    {"airwave_kafka_delivery_errors_total", AW_METRIC_COUNTER,
     "Records Kafka did not take (failed or dropped)", m_kafka_errors},
};

static enum aw_err write_metrics(struct aw_pipeline *p, struct aw_buf *b)
{
    struct aw_ingest_stats *is = calloc(p->nstreams, sizeof(*is));
    struct aw_stt_stats *ss = calloc(p->nstreams, sizeof(*ss));
    const char *build[] = {"version", AW_VERSION, NULL};
    struct aw_kafka *k = aw_sink_kafka(p->sink);
    enum aw_err err = AW_OK;

    if (!is || !ss) {
        free(is);
        free(ss);
        return AW_ERR_NOMEM;
    }
    /* One snapshot per stream, so every family reads the same moment. */
    for (size_t i = 0; i < p->nstreams; i++) {
        aw_ingest_stats(p->streams[i].ingest, &is[i]);
        aw_stt_session_stats(p->streams[i].session, &ss[i]);
    }
    err = aw_metrics_family(b, "airwave_build_info", AW_METRIC_GAUGE,
                            "The running version");
    if (!err)
        err = aw_metrics_sample(b, "airwave_build_info", build, 1);
    for (size_t m = 0; !err && m < AW_ARRAY_SIZE(stream_metrics); m++) {
        const struct metric *mt = &stream_metrics[m];

        err = aw_metrics_family(b, mt->name, mt->type, mt->help);
        for (size_t i = 0; !err && i < p->nstreams; i++) {
            const char *labels[] = {"stream", p->streams[i].sc->id, NULL};

            err = aw_metrics_sample(b, mt->name, labels,
                                    mt->get(&p->streams[i], &is[i], &ss[i]));
        }
    }
    if (!err)
        err = aw_metrics_family(b, "airwave_phrase_latency_seconds",
                                AW_METRIC_HISTOGRAM,
                                "From the end of a phrase's audio to its "
                                "publication");
    for (size_t i = 0; !err && i < p->nstreams; i++) {
        const char *labels[] = {"stream", p->streams[i].sc->id, NULL};

        err = aw_metrics_histogram(b, "airwave_phrase_latency_seconds", labels,
                                   &p->streams[i].latency);
    }
    if (!err && k) {
        err = aw_metrics_family(b, "airwave_kafka_queue_messages",
                                AW_METRIC_GAUGE,
                                "Records waiting in the Kafka producer");
        if (!err)
            err = aw_metrics_sample(b, "airwave_kafka_queue_messages", NULL,
                                    (double)aw_kafka_queue_depth(k));
        if (!err)
            err =
                aw_metrics_family(b, "airwave_kafka_connected", AW_METRIC_GAUGE,
                                  "1 while a Kafka broker answers");
        if (!err)
            err = aw_metrics_sample(b, "airwave_kafka_connected", NULL,
                                    aw_kafka_connected(k));
    }
    free(is);
    free(ss);
    return err;
}

/* Ready: every stream's source decoding (or finished cleanly), its speech
 * session connected (or with nothing to send), and Kafka answering. */
static bool write_readiness(struct aw_pipeline *p, struct aw_buf *b)
{
    struct aw_kafka *k = aw_sink_kafka(p->sink);
    bool ready = true;

    for (size_t i = 0; i < p->nstreams; i++) {
        struct stream *st = &p->streams[i];
        struct aw_ingest_stats is;
        bool src, speech;

        aw_ingest_stats(st->ingest, &is);
        src = is.state == AW_INGEST_RUNNING || is.state == AW_INGEST_ENDED;
        speech = aw_stt_session_ready(st->session);
        ready = ready && src && speech;
        aw_buf_printf(b, "%s: source %s, speech %s\n", st->sc->id,
                      aw_ingest_state_name(is.state),
                      speech ? "ready" : "not connected");
    }
    if (k) {
        bool up = aw_kafka_connected(k);

        ready = ready && up;
        aw_buf_printf(b, "kafka: %s\n", up ? "connected" : "not connected");
    }
    aw_buf_puts(b, ready ? "ready\n" : "not ready\n");
    return ready;
}

static int on_http(void *opaque, const char *path, const char **content_type,
                   const char **body)
{
    struct aw_pipeline *p = opaque;
    struct aw_buf *b = &p->http_body;
    int status = 200;

    aw_buf_reset(b);
    *content_type = "text/plain; charset=utf-8";
    if (!strcmp(path, "/metrics")) {
        *content_type = "text/plain; version=0.0.4; charset=utf-8";
        if (write_metrics(p, b)) {
            aw_buf_reset(b);
            aw_buf_puts(b, "metrics unavailable\n");
            status = 500;
        }
    } else if (!strcmp(path, "/healthz")) {
        /* Answering at all proves the service thread turns; the tick
         * proves its timer (which drives every stream) does too. */
        if (aw_clock_mono_ms() - p->last_tick_ms > STALL_TICK_MS) {
            aw_buf_puts(b, "stream loop stalled\n");
            status = 503;
        } else {
            aw_buf_puts(b, "ok\n");
        }
    } else if (!strcmp(path, "/readyz")) {
        status = write_readiness(p, b) ? 200 : 503;
    } else {
        aw_buf_puts(b, "not found\n");
        status = 404;
    }
    *body = b->data ? b->data : "";
    return status;
}

static int refuse_upgrade(void *opaque, const struct aw_ws_server_request *req,
                          void **conn_user, const char **body)
{
    (void)opaque;
    (void)req;
    (void)conn_user;
    *body = "not found\n";
    return 404;
}

static const struct aw_ws_server_ops http_ops = {
    .on_upgrade = refuse_upgrade,
    .on_http = on_http,
};

/* "HOST:PORT", "[v6]:PORT" or ":PORT". */
static enum aw_err parse_listen(const char *s, char *host, size_t host_size,
                                int *port)
{
    const char *colon = strrchr(s, ':');
    size_t hlen;
    char *end;
    long v;

    if (!colon)
        return AW_ERR_INVAL;
    v = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || v < 0 || v > 65535)
        return AW_ERR_INVAL;
    hlen = (size_t)(colon - s);
    if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
        s++;
        hlen -= 2;
    }
    if (hlen >= host_size)
        return AW_ERR_INVAL;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    *port = (int)v;
    return AW_OK;
}

static enum aw_err http_init(struct aw_pipeline *p, char *errstr,
                             size_t errstr_size)
{
    struct aw_ws_server_opts so;
    char host[256];
    int port;

    if (parse_listen(p->conf->http_listen, host, sizeof(host), &port)) {
        aw_errstr_set(errstr, errstr_size, "http.listen: not HOST:PORT: %s",
                      p->conf->http_listen);
        return AW_ERR_INVAL;
    }
    memset(&so, 0, sizeof(so));
    so.name = "airwave-http";
    so.host = host[0] ? host : NULL;
    so.port = port;
    p->http = aw_ws_server_new(p->t, &so, &http_ops, p, errstr, errstr_size);
    if (!p->http)
        return AW_ERR_IO;
    AW_INFO(MOD, NULL, "serving /metrics /healthz /readyz on %s:%d",
            host[0] ? host : "*", aw_ws_server_port(p->http));
    return AW_OK;
}

int aw_pipeline_http_port(const struct aw_pipeline *p)
{
    return p->http ? aw_ws_server_port(p->http) : 0;
}

/* --- lifecycle (caller's thread) --------------------------------------- */

static enum aw_err stream_init(struct aw_pipeline *p, struct stream *st,
                               const struct aw_stream_conf *sc, char *errstr,
                               size_t errstr_size)
{
    const struct aw_conf *conf = p->conf;
    struct aw_ingest_opts io;
    struct aw_stt_session_opts so;
    size_t ring_samples;
    char err2[256];

    st->p = p;
    st->sc = sc;
    aw_histogram_init(&st->latency, latency_bounds,
                      AW_ARRAY_SIZE(latency_bounds));
    aw_ingest_redact_url(sc->url, st->source, sizeof(st->source));
    ring_samples = (size_t)(conf->ingest_buffer_seconds * AW_AUDIO_RATE_HZ);
    if (aw_ring_init(&st->ring, ring_samples, MARK_SLOTS)) {
        aw_errstr_set(errstr, errstr_size, "%s: out of memory", sc->id);
        return AW_ERR_NOMEM;
    }
    st->ring_ok = true;

    aw_ingest_opts_init(&io);
    io.stream_id = sc->id;
    io.url = sc->url;
    io.pace = sc->pace >= 0 ? sc->pace : conf->speech_pace;
    io.live = sc->live;
    io.audio_track = sc->audio_track;
    io.audio_language = sc->audio_language;
    io.stall_timeout_seconds = conf->ingest_stall_seconds;
    /* One-shot use wants an answer, not a vigil: a source that cannot be
     * reached is given two more tries. */
    if (p->o.mode == AW_PIPELINE_ONESHOT)
        io.max_reconnects = 2;
    /* Per-stream options win over the global ones: give the ingest the
     * merged list, global first, so later keys override. */
    {
        size_t n = conf->nffmpeg + sc->nffmpeg;
        struct aw_kv *kv = n ? calloc(n, sizeof(*kv)) : NULL;

        if (n && !kv) {
            aw_errstr_set(errstr, errstr_size, "out of memory");
            return AW_ERR_NOMEM;
        }
        if (n) {
            memcpy(kv, conf->ffmpeg, conf->nffmpeg * sizeof(*kv));
            memcpy(kv + conf->nffmpeg, sc->ffmpeg, sc->nffmpeg * sizeof(*kv));
        }
        io.ffmpeg = kv;
        io.nffmpeg = n;
        st->ingest = aw_ingest_new(&io, &st->ring, err2, sizeof(err2));
        free(kv);
    }
    if (!st->ingest) {
        aw_errstr_set(errstr, errstr_size, "stream %s: %s", sc->id, err2);
        return AW_ERR_INVAL;
    }

    memset(&so, 0, sizeof(so));
    so.stream_id = sc->id;
    so.language = sc->language ? sc->language : conf->speech_language;
    so.provider = conf->speech_provider;
    so.params.endpoint = conf->speech_endpoint;
    so.params.detailed = conf->speech_format == AW_SPEECH_FORMAT_DETAILED;
    so.params.word_timings = conf->speech_word_timings;
    so.params.key = p->o.key;
    so.params.token = p->o.token;
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
        return AW_ERR_INVAL;
    }
    return AW_OK;
}

struct aw_pipeline *aw_pipeline_new(const struct aw_pipeline_opts *opts,
                                    char *errstr, size_t errstr_size)
{
    const struct aw_conf *conf = opts->conf;
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
    p->conf = conf;
    aw_buf_init(&p->http_body, HTTP_BODY_MAX);

    for (size_t i = 0; i < conf->nstreams; i++)
        if (!opts->only_stream ||
            !strcmp(conf->streams[i].id, opts->only_stream))
            n++;
    if (!n) {
        if (opts->only_stream)
            aw_errstr_set(errstr, errstr_size, "no stream \"%s\" in %s",
                          opts->only_stream,
                          conf->path ? conf->path : "the configuration");
        else
            aw_errstr_set(errstr, errstr_size, "no streams configured");
        goto fail;
    }
    p->streams = calloc(n, sizeof(*p->streams));
    if (!p->streams) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        goto fail;
    }

    p->sink = aw_sink_new(conf, errstr, errstr_size);
    if (!p->sink)
        goto fail;
    aw_sink_set_jsonl_events(p->sink, opts->jsonl_events);

    p->t = aw_transport_new(&to, errstr, errstr_size);
    if (!p->t)
        goto fail;
    memset(&wo, 0, sizeof(wo));
    wo.ca_file = conf->speech_ca_file;
    wo.tls_verify = conf->speech_tls_verify;
    p->wsc = aw_ws_client_new(p->t, &wo, errstr, errstr_size);
    if (!p->wsc)
        goto fail;
    if (conf->http_listen && http_init(p, errstr, errstr_size))
        goto fail;
    p->tick = aw_transport_timer_new(p->t, on_tick, p);
    if (!p->tick) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        goto fail;
    }

    for (size_t i = 0; i < conf->nstreams; i++) {
        const struct aw_stream_conf *sc = &conf->streams[i];

        if (opts->only_stream && strcmp(sc->id, opts->only_stream))
            continue;
        if (stream_init(p, &p->streams[p->nstreams++], sc, errstr, errstr_size))
            goto fail;
    }
    return p;

fail:
    aw_pipeline_destroy(p);
    return NULL;
}

enum aw_err aw_pipeline_start(struct aw_pipeline *p)
{
    enum aw_err err;

    err = aw_transport_start(p->t);
    if (err)
        return err;
    atomic_store(&p->started, true);
    err = aw_transport_call(p->t, start_ticking, p);
    if (err)
        return err;
    for (size_t i = 0; i < p->nstreams; i++) {
        err = aw_ingest_start(p->streams[i].ingest);
        if (err)
            return err;
    }
    AW_INFO(MOD, NULL, "%zu stream%s started, speech endpoint %s", p->nstreams,
            p->nstreams == 1 ? "" : "s", p->conf->speech_endpoint);
    return AW_OK;
}

void aw_pipeline_stop(struct aw_pipeline *p)
{
    if (atomic_exchange(&p->stopping, true))
        return;
    AW_INFO(MOD, NULL, "stopping: ending the audio of every stream");
    for (size_t i = 0; i < p->nstreams; i++)
        aw_ingest_stop(p->streams[i].ingest);
    if (aw_transport_call(p->t, finish_all, p) != AW_OK)
        AW_WARN(MOD, NULL, "service thread unavailable while stopping");
}

bool aw_pipeline_done(const struct aw_pipeline *p)
{
    for (size_t i = 0; i < p->nstreams; i++)
        if (!atomic_load(&p->streams[i].done))
            return false;
    return true;
}

size_t aw_pipeline_nstreams(const struct aw_pipeline *p)
{
    return p->nstreams;
}

void aw_pipeline_progress(const struct aw_pipeline *p, size_t i,
                          struct aw_pipeline_progress *out)
{
    const struct stream *st = &p->streams[i];
    struct aw_ingest_stats is;

    aw_ingest_stats(st->ingest, &is);
    out->stream_id = st->sc->id;
    out->decoded_seconds = is.seconds;
    out->total_seconds = is.duration_ms >= 0 ? is.duration_ms / 1000.0 : -1;
    out->phrases = atomic_load(&st->phrases);
    out->done = atomic_load(&st->done);
}

enum aw_err aw_pipeline_error(const struct aw_pipeline *p, char *msg,
                              size_t msg_size)
{
    for (size_t i = 0; i < p->nstreams; i++) {
        const struct stream *st = &p->streams[i];
        enum aw_err err;
        char imsg[256];

        if (!atomic_load(&st->done))
            continue;
        if (st->err) {
            aw_errstr_set(msg, msg_size, "%s", st->errmsg);
            return st->err;
        }
        /* A source that failed for good ends the session cleanly: its
         * error is the stream's. */
        aw_ingest_error(st->ingest, &err, imsg, sizeof(imsg));
        if (err && err != AW_ERR_EOF && err != AW_ERR_STOPPED) {
            aw_errstr_set(msg, msg_size, "%s", imsg);
            return err;
        }
    }
    if (msg_size)
        msg[0] = '\0';
    return AW_OK;
}

size_t aw_pipeline_destroy(struct aw_pipeline *p)
{
    size_t left = 0;

    if (!p)
        return 0;
    /* Ingest first: nothing may write a ring the sessions stop reading. */
    for (size_t i = 0; i < p->nstreams; i++)
        aw_ingest_stop(p->streams[i].ingest);
    for (size_t i = 0; i < p->nstreams; i++)
        aw_ingest_join(p->streams[i].ingest);
    /* Stopping the transport closes every connection; their close
     * callbacks run here and reach sessions that still exist. */
    aw_transport_stop(p->t);
    for (size_t i = 0; p->streams && i < p->nstreams; i++) {
        struct stream *st = &p->streams[i];

        aw_stt_session_destroy(st->session);
        aw_ingest_destroy(st->ingest);
        if (st->ring_ok)
            aw_ring_fini(&st->ring);
    }
    aw_transport_timer_destroy(p->tick);
    aw_ws_server_destroy(p->http);
    aw_ws_client_destroy(p->wsc);
    aw_transport_destroy(p->t);
    if (aw_sink_kafka(p->sink))
        left = aw_kafka_flush(aw_sink_kafka(p->sink),
                              p->conf->kafka_flush_timeout_ms);
    /* Anything still queued is purged, counted and logged here. */
    aw_sink_destroy(p->sink);
    aw_buf_fini(&p->http_body);
    free(p->streams);
    free(p);
    return left;
}
