/*
 * The connector's HTTP endpoints, served on the transport's service thread
 * from http.listen: /metrics (Prometheus text), /healthz (the service loop
 * turns) and /readyz (every stream's source and speech session, and Kafka,
 * connected). Figures are read from the counters each module keeps when a
 * scrape asks for them.
 */
#include <stdlib.h>
#include <string.h>

#include "airwave/audio.h"
#include "airwave/clock.h"
#include "airwave/log.h"
#include "pipeline/pipeline_int.h"

#ifndef AW_VERSION
#define AW_VERSION "0"
#endif

#define MOD           "http"
#define STALL_TICK_MS 5000 /* /healthz: the loop must have turned since */

/* --- /metrics /healthz /readyz (service thread) ------------------------- */

struct metric {
    const char *name;
    enum aw_metric_type type;
    const char *help;
    double (*get)(struct stream *st, const struct aw_source_stats *is,
                  const struct aw_stt_stats *ss);
};

static double sec(uint64_t samples)
{
    return (double)samples / AW_AUDIO_RATE_HZ;
}

static double m_source_up(struct stream *st, const struct aw_source_stats *is,
                          const struct aw_stt_stats *ss)
{
    (void)st;
    (void)ss;
    return is->state == AW_SOURCE_RUNNING;
}

static double m_source_reconnects(struct stream *st,
                                  const struct aw_source_stats *is,
                                  const struct aw_stt_stats *ss)
{
    (void)st;
    (void)ss;
    return (double)is->reconnects;
}

static double m_decoded(struct stream *st, const struct aw_source_stats *is,
                        const struct aw_stt_stats *ss)
{
    (void)st;
    (void)ss;
    return is->seconds;
}

static double m_dropped(struct stream *st, const struct aw_source_stats *is,
                        const struct aw_stt_stats *ss)
{
    (void)st;
    return sec(is->dropped_samples + ss->dropped_samples);
}

static double m_ring_fill(struct stream *st, const struct aw_source_stats *is,
                          const struct aw_stt_stats *ss)
{
    (void)is;
    (void)ss;
    return (double)(aw_ring_head(&st->ring) - aw_ring_tail(&st->ring)) /
           (double)aw_ring_capacity(&st->ring);
}

static double m_lag(struct stream *st, const struct aw_source_stats *is,
                    const struct aw_stt_stats *ss)
{
    (void)st;
    (void)is;
    return sec(ss->backlog_samples);
}

static double m_speech_connected(struct stream *st,
                                 const struct aw_source_stats *is,
                                 const struct aw_stt_stats *ss)
{
    (void)st;
    (void)is;
    return ss->conn_state == AW_STT_CONN_OPEN;
}

#define SS_COUNTER(fn, field)                                                  \
    static double fn(struct stream *st, const struct aw_source_stats *is,      \
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

static double m_replayed(struct stream *st, const struct aw_source_stats *is,
                         const struct aw_stt_stats *ss)
{
    (void)st;
    (void)is;
    return sec(ss->replayed_samples);
}

static double m_sent(struct stream *st, const struct aw_source_stats *is,
                     const struct aw_stt_stats *ss)
{
    (void)st;
    (void)is;
    return sec(ss->sent_samples);
}

static double m_phrases(struct stream *st, const struct aw_source_stats *is,
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
        aw_kafka_stream_counts(aw_kafka_stream_get(k, st->sc.id),
                               (enum aw_kafka_topic)t, &c);
        n += errors ? (double)(c.failed + c.dropped) : (double)c.delivered;
    }
    return n;
}

static double m_kafka_delivered(struct stream *st,
                                const struct aw_source_stats *is,
                                const struct aw_stt_stats *ss)
{
    (void)is;
    (void)ss;
    return kafka_count(st, false);
}

static double m_kafka_errors(struct stream *st,
                             const struct aw_source_stats *is,
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
    struct aw_source_stats *is = calloc(p->nstreams, sizeof(*is));
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
        p->streams[i]->src_ops->stats(p->streams[i]->src, &is[i]);
        aw_stt_session_stats(p->streams[i]->session, &ss[i]);
    }
    err = aw_metrics_family(b, "airwave_build_info", AW_METRIC_GAUGE,
                            "The running version");
    if (!err)
        err = aw_metrics_sample(b, "airwave_build_info", build, 1);
    for (size_t m = 0; !err && m < AW_ARRAY_SIZE(stream_metrics); m++) {
        const struct metric *mt = &stream_metrics[m];

        err = aw_metrics_family(b, mt->name, mt->type, mt->help);
        for (size_t i = 0; !err && i < p->nstreams; i++) {
            const char *labels[] = {"stream", p->streams[i]->sc.id, NULL};

            err = aw_metrics_sample(b, mt->name, labels,
                                    mt->get(p->streams[i], &is[i], &ss[i]));
        }
    }
    if (!err)
        err = aw_metrics_family(b, "airwave_phrase_latency_seconds",
                                AW_METRIC_HISTOGRAM,
                                "From the end of a phrase's audio to its "
                                "publication");
    for (size_t i = 0; !err && i < p->nstreams; i++) {
        const char *labels[] = {"stream", p->streams[i]->sc.id, NULL};

        err = aw_metrics_histogram(b, "airwave_phrase_latency_seconds", labels,
                                   &p->streams[i]->latency);
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
        struct stream *st = p->streams[i];
        struct aw_source_stats is;
        bool src, speech;

        st->src_ops->stats(st->src, &is);
        src = is.state == AW_SOURCE_RUNNING || is.state == AW_SOURCE_ENDED;
        speech = aw_stt_session_ready(st->session);
        ready = ready && src && speech;
        aw_buf_printf(b, "%s: source %s, speech %s\n", st->sc.id,
                      aw_source_state_name(is.state),
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

static int on_http(void *opaque, const struct aw_ws_server_request *req,
                   const char **content_type, const char **body)
{
    const char *path = aw_ws_server_request_path(req);
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

enum aw_err aw_pipeline_http_init(struct aw_pipeline *p, char *errstr,
                                  size_t errstr_size)
{
    struct aw_ws_server_opts so;
    char host[256];
    int port;

    if (parse_listen(p->conf.http_listen, host, sizeof(host), &port)) {
        aw_errstr_set(errstr, errstr_size, "http.listen: not HOST:PORT: %s",
                      p->conf.http_listen);
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
