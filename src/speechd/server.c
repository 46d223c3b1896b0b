/*
 * airwave-speechd - sessions: the websocket side (handshake, messages,
 * limits) and the decoding side (jobs run on a worker). See server.h.
 *
 * A session lives from the accepted upgrade until the last of its
 * references is dropped: one held by the websocket side until the
 * connection is gone, one held while the session is queued or running on
 * its worker. The close log line is written when it is freed, when every
 * figure (decode time, phrases) is final.
 *
 * Between the two sides: a FIFO of jobs (turn begin, PCM, end of audio,
 * abandon) under the session's lock. The websocket side appends and, when
 * the session was idle, submits it to its worker; the worker drains a slice
 * and either goes again or marks it idle.
 */
#include "speechd/server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airwave/clock.h"
#include "airwave/log.h"
#include "speechd/proto.h"
#include "speechd/tokens.h"
#include "speechd/turn.h"
#include "speechd/workers.h"
#include "stt/usp.h"
#include "transport/transport.h"
#include "transport/ws_server.h"

#define MOD          "speechd"
#define CONTENT_TYPE "application/json; charset=utf-8"
#define TIMER_MAX    0 /* connection duration limit */
#define TIMER_IDLE   1 /* idle timeout check */
#define SLICE_SAMPLES                                                          \
    AW_SPEECHD_RATE_HZ         /* audio decoded per turn on a                  \
                                  worker before others get theirs */
#define LIMIT_SETTLE_MS 250    /* reading resumed this long: caught up */
#define LIMIT_GRACE_MS  120000 /* the longest a close waits past the limit */

#define ADAPT_ENTRIES    128 /* clients whose adaptation is remembered */
#define ADAPT_MAX_AGE_MS (3600 * 1000)

static const char max_duration_reason[] =
    "Maximum connection duration exceeded.";

enum job_kind { JOB_BEGIN, JOB_AUDIO, JOB_END, JOB_ABORT };

struct job {
    struct job *next;
    enum job_kind kind;
    size_t n; /* samples in pcm[] */
    char request_id[AW_UUID_NODASH_LEN];
    struct aw_speechd_turn_conf conf;
    int16_t pcm[];
};

/* Grouped by the thread that owns each part, not packed for size.
 * NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding) */
struct session {
    struct aw_speechd_task task; /* first: the pool hands it back */
    struct aw_speechd *sd;
    _Atomic int refs;
    char tag[48];
    struct aw_speechd_params params;
    char peer[64];
    struct aw_ws_server_conn *conn; /* from on_open; a reference is held */
    unsigned worker;
    bool assigned;

    /* Websocket thread only. */
    struct aw_speechd_proto proto;
    uint64_t opened_ms;
    bool closing;
    bool overflow;
    uint64_t limit_ms; /* when the duration limit struck, 0 = not yet */

    /* Shared, under lock. */
    pthread_mutex_t lock;
    struct job *head, *tail;
    size_t queued_samples;
    bool scheduled;
    bool rx_paused;
    bool closed;               /* the connection is gone */
    unsigned ends_outstanding; /* end-of-audio jobs not yet decoded */
    bool limit_hit;            /* close after the outstanding turn.end */
    uint64_t rx_resumed_ms;    /* when backpressure last let go */
    uint16_t close_code;
    char close_reason[128];

    /* Worker only. */
    void *stream;
    uint64_t throttle_start_ms; /* --max-speed: when the first audio ran */
    uint64_t throttle_samples;  /* ... and how much has run since */
    bool failed;
    struct aw_speechd_turn turn;
    bool turn_active;
    char turn_id[AW_UUID_NODASH_LEN];
    uint8_t *msg;
    size_t msg_cap;
    uint64_t cpu_us;
    uint64_t samples;
    unsigned phrases;
    unsigned recognized;
};

/* What a client's last connection had adapted to, by connection id. */
struct adapt_entry {
    char id[AW_UUID_NODASH_LEN];
    uint64_t saved_ms;
    size_t len;
    uint8_t data[AW_SPEECHD_ADAPTATION_MAX];
};

struct aw_speechd {
    struct aw_speechd_conf conf;
    struct aw_speechd_policy policy;
    void *engine;
    struct aw_speechd_pool *pool;
    struct aw_transport *t;
    struct aw_ws_server *srv;
    struct aw_speechd_tokens *tokens;
    char token_body[AW_SPEECHD_TOKEN_LEN]; /* service thread: a reply */
    size_t queue_high;                     /* samples */
    size_t queue_low;
    size_t queue_hard;
    _Atomic bool stopping;
    _Atomic unsigned seq;
    pthread_mutex_t adapt_lock;
    struct adapt_entry adapt[ADAPT_ENTRIES];
    bool started;
    bool stopped;
};

static void session_close(struct session *s, uint16_t code, const char *reason);
static bool session_run(struct aw_speechd_task *task, void *engine_worker);

/* ---- defaults ----------------------------------------------------------- */

void aw_speechd_conf_defaults(struct aw_speechd_conf *conf)
{
    static const char *const en_us[] = {"en-US", NULL};

    memset(conf, 0, sizeof(*conf));
    conf->host = "127.0.0.1";
    conf->port = 5000;
    conf->languages = en_us;
    conf->engine = &aw_speechd_engine_ps_ops;
    conf->engine_conf.model_dir = AW_PS_MODEL_DIR;
    conf->engine_conf.hyp_interval_ms = 300;
    conf->engine_conf.max_idle_streams = 8;
    conf->workers = 1;
    conf->max_sessions = 64;
    conf->max_connection_s = 600;
    conf->idle_timeout_s = 180;
    conf->max_message_bytes = 65536 + AW_USP_MAX_HEADER_BYTES;
    conf->initial_silence_ms = 5000;
    conf->queue_ms = 10000;
}

/* ---- sessions: lifetime ------------------------------------------------- */

static double thread_cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct session *session_new(struct aw_speechd *sd,
                                   const struct aw_speechd_params *params,
                                   const char *peer)
{
    struct session *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->sd = sd;
    s->task.run = session_run;
    atomic_init(&s->refs, 1); /* the websocket side's */
    s->params = *params;
    aw_errstr_set(s->peer, sizeof(s->peer), "%s", peer);
    aw_errstr_set(s->tag, sizeof(s->tag), "%.8s-%u", params->connection_id,
                  atomic_fetch_add(&sd->seq, 1) + 1);
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

static void free_jobs(struct job *j)
{
    while (j) {
        struct job *next = j->next;

        free(j);
        j = next;
    }
}

static void session_free(struct session *s)
{
    struct aw_speechd *sd = s->sd;

    if (s->conn) {
        double dur = (double)(aw_clock_mono_ms() - s->opened_ms) / 1000.0;
        double audio = (double)s->samples / AW_SPEECHD_RATE_HZ;
        double cpu = (double)s->cpu_us / 1e6;

        AW_INFO(MOD, s->tag,
                "close duration_s=%.1f audio_s=%.1f turns=%u phrases=%u "
                "recognized=%u cpu_s=%.2f rtf=%.3f code=%u reason=\"%s\"",
                dur, audio, s->proto.turns, s->phrases, s->recognized, cpu,
                audio > 0 ? cpu / audio : 0.0, s->close_code, s->close_reason);
        aw_ws_server_conn_unref(s->conn);
    }
    if (s->assigned && sd->pool)
        aw_speechd_pool_release(sd->pool, s->worker);
    free_jobs(s->head);
    free(s->msg);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void session_ref(struct session *s)
{
    atomic_fetch_add(&s->refs, 1);
}

static void session_unref(struct session *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        session_free(s);
}

/* ---- adaptation carried over reconnects ---------------------------------- */

/*
 * The SDK reconnects with the same connection id (every 10 minutes at the
 * service's limit) and replays the audio after its last phrase. Starting
 * that connection's decoder from what the previous one had adapted to (the
 * live CMN estimate) keeps the words as they would have been on one long
 * connection; a new client starts from scratch.
 */
static void adapt_save(struct aw_speechd *sd, const char *id,
                       const uint8_t *data, size_t len)
{
    struct adapt_entry *e = NULL;

    if (!len || len > AW_SPEECHD_ADAPTATION_MAX)
        return;
    pthread_mutex_lock(&sd->adapt_lock);
    for (size_t i = 0; i < ADAPT_ENTRIES && !e; i++)
        if (!strcmp(sd->adapt[i].id, id))
            e = &sd->adapt[i];
    for (size_t i = 0; i < ADAPT_ENTRIES && !e; i++)
        if (!sd->adapt[i].id[0])
            e = &sd->adapt[i];
    if (!e) { /* replace the oldest */
        e = &sd->adapt[0];
        for (size_t i = 1; i < ADAPT_ENTRIES; i++)
            if (sd->adapt[i].saved_ms < e->saved_ms)
                e = &sd->adapt[i];
    }
    memcpy(e->id, id, sizeof(e->id));
    e->saved_ms = aw_clock_mono_ms();
    e->len = len;
    memcpy(e->data, data, len);
    pthread_mutex_unlock(&sd->adapt_lock);
}

static size_t adapt_load(struct aw_speechd *sd, const char *id, uint8_t *data)
{
    size_t len = 0;

    pthread_mutex_lock(&sd->adapt_lock);
    for (size_t i = 0; i < ADAPT_ENTRIES; i++) {
        struct adapt_entry *e = &sd->adapt[i];

        if (strcmp(e->id, id) != 0)
            continue;
        if (aw_clock_mono_ms() - e->saved_ms < ADAPT_MAX_AGE_MS) {
            len = e->len;
            memcpy(data, e->data, len);
        }
        break;
    }
    pthread_mutex_unlock(&sd->adapt_lock);
    return len;
}

/* ---- the worker side ---------------------------------------------------- */

/* turn.c's output: frame it with the turn's request id and queue it. */
static void emit(void *opaque, const char *path, const char *body)
{
    struct session *s = opaque;
    size_t blen = strlen(body), need = blen + 512, len;
    enum aw_err err;

    if (need > s->msg_cap) {
        uint8_t *p = realloc(s->msg, need);

        if (!p) {
            aw_ws_server_conn_close(s->conn, AW_SPEECHD_CLOSE_SERVER,
                                    "Out of memory.");
            return;
        }
        s->msg = p;
        s->msg_cap = need;
    }
    err = aw_usp_build_text(s->msg, s->msg_cap, &len, path, s->turn_id,
                            CONTENT_TYPE, body, blen);
    if (err) {
        AW_ERROR(MOD, s->tag, "cannot frame %s: %s", path, aw_err_str(err));
        return;
    }
    if (!strcmp(path, "speech.phrase"))
        s->phrases++;
    AW_DEBUG(MOD, s->tag, "send %s %s %s", path, s->turn_id, body);
    err = aw_ws_server_conn_send(s->conn, s->msg, len, false);
    if (err == AW_ERR_TOO_LARGE)
        aw_ws_server_conn_close(s->conn, AW_SPEECHD_CLOSE_SERVER,
                                "Client is not reading results.");
}

static bool ensure_stream(struct session *s, void *engine_worker)
{
    const struct aw_speechd_engine_ops *ops = s->sd->conf.engine;
    char errstr[256];

    if (s->stream)
        return true;
    if (s->failed)
        return false;
    if (ops->stream_open(engine_worker, &s->stream, errstr, sizeof(errstr))) {
        AW_ERROR(MOD, s->tag, "no decoder: %s", errstr);
        s->failed = true;
        s->stream = NULL;
        aw_ws_server_conn_close(s->conn, AW_SPEECHD_CLOSE_SERVER,
                                "Recognizer unavailable.");
        return false;
    }
    if (ops->load_adaptation) {
        uint8_t state[AW_SPEECHD_ADAPTATION_MAX];
        size_t len = adapt_load(s->sd, s->params.connection_id, state);

        if (len) {
            AW_DEBUG(MOD, s->tag,
                     "continuing from the last connection's "
                     "adaptation");
            ops->load_adaptation(s->stream, state, len);
        }
    }
    return true;
}

static void end_turn_figures(struct session *s)
{
    s->recognized += s->turn.recognized;
    s->turn_active = false;
}

static void decoder_failed(struct session *s)
{
    AW_ERROR(MOD, s->tag, "decoder failure");
    s->failed = true;
    s->turn_active = false;
    aw_ws_server_conn_close(s->conn, AW_SPEECHD_CLOSE_SERVER,
                            "Recognizer failure.");
}

static void run_job(struct session *s, void *engine_worker, struct job *j)
{
    const struct aw_speechd_engine_ops *ops = s->sd->conf.engine;
    struct aw_speechd_engine_events ev;
    double t0;

    if (s->failed)
        return;
    aw_speechd_turn_events(&s->turn, &ev);
    t0 = thread_cpu_s();
    switch (j->kind) {
    case JOB_BEGIN:
        if (!ensure_stream(s, engine_worker))
            return;
        if (s->turn_active) {
            ops->abort_turn(s->stream);
            end_turn_figures(s);
        }
        if (ops->begin_turn(s->stream)) {
            decoder_failed(s);
            return;
        }
        memcpy(s->turn_id, j->request_id, sizeof(s->turn_id));
        aw_speechd_turn_init(&s->turn, &j->conf, emit, s);
        s->turn_active = true;
        break;
    case JOB_AUDIO:
        if (!s->turn_active || !aw_speechd_turn_wants_audio(&s->turn))
            return;
        if (ops->feed(s->stream, j->pcm, j->n, &ev)) {
            decoder_failed(s);
            return;
        }
        aw_speechd_turn_audio(&s->turn, j->n);
        s->samples += j->n;
        break;
    case JOB_END:
        if (!s->turn_active)
            return;
        if (aw_speechd_turn_wants_audio(&s->turn)) {
            if (ops->end_turn(s->stream, &ev)) {
                decoder_failed(s);
                return;
            }
        } else {
            ops->abort_turn(s->stream);
        }
        aw_speechd_turn_finish(&s->turn);
        end_turn_figures(s);
        break;
    case JOB_ABORT:
        if (!s->turn_active)
            return;
        ops->abort_turn(s->stream);
        end_turn_figures(s);
        break;
    }
    s->cpu_us += (uint64_t)((thread_cpu_s() - t0) * 1e6);
}

/* Remember the stream's adaptation for this client's next connection:
 * after every slice, since the client may reconnect before this session's
 * close reaches its worker. */
static void save_adaptation(struct session *s)
{
    const struct aw_speechd_engine_ops *ops = s->sd->conf.engine;
    uint8_t state[AW_SPEECHD_ADAPTATION_MAX];
    size_t len;

    if (!s->stream || !ops->save_adaptation || s->failed)
        return;
    len = ops->save_adaptation(s->stream, state, sizeof(state));
    adapt_save(s->sd, s->params.connection_id, state, len);
}

/* The connection is gone: drop the turn and give the decoder back. */
static void release_stream(struct session *s, void *engine_worker)
{
    const struct aw_speechd_engine_ops *ops = s->sd->conf.engine;

    if (!s->stream)
        return;
    if (s->turn_active) {
        ops->abort_turn(s->stream);
        end_turn_figures(s);
    }
    save_adaptation(s);
    ops->stream_close(engine_worker, s->stream);
    s->stream = NULL;
}

static void close_for_limit(struct session *s)
{
    AW_DEBUG(MOD, s->tag, "duration limit: closing after turn.end");
    aw_ws_server_conn_close(s->conn, AW_SPEECHD_CLOSE_NORMAL,
                            max_duration_reason);
}

/*
 * An end of audio has been decoded (its turn.end is queued). If the
 * connection outlived its limit meanwhile, close it now: see on_timer().
 */
static void turn_end_done(struct session *s)
{
    bool close;

    pthread_mutex_lock(&s->lock);
    s->ends_outstanding--;
    close = s->limit_hit && !s->ends_outstanding;
    if (close)
        s->limit_hit = false;
    pthread_mutex_unlock(&s->lock);
    if (close)
        close_for_limit(s);
}

/* A deliberately slow service: hold this worker until the session's audio
 * so far may have been decoded at max_speed_pct of real time. */
static void throttle(struct session *s, size_t n)
{
    uint64_t now = aw_clock_mono_ms(), due_ms;

    if (!s->throttle_start_ms)
        s->throttle_start_ms = now;
    s->throttle_samples += n;
    due_ms = s->throttle_start_ms +
             s->throttle_samples * 1000 * 100 /
                 ((uint64_t)AW_SPEECHD_RATE_HZ * s->sd->conf.max_speed_pct);
    if (due_ms > now) {
        struct timespec ts = {(time_t)((due_ms - now) / 1000),
                              (long)((due_ms - now) % 1000) * 1000000L};

        nanosleep(&ts, NULL);
    }
}

static bool session_run(struct aw_speechd_task *task, void *engine_worker)
{
    struct session *s = (struct session *)task;
    struct aw_speechd *sd = s->sd;
    size_t done = 0;

    for (;;) {
        struct job *j, *dropped = NULL;
        bool resume = false, closed;

        pthread_mutex_lock(&s->lock);
        closed = s->closed;
        if (closed) {
            dropped = s->head;
            s->head = s->tail = NULL;
            s->queued_samples = 0;
            j = NULL;
        } else {
            j = s->head;
            if (j) {
                s->head = j->next;
                if (!s->head)
                    s->tail = NULL;
                if (j->kind == JOB_AUDIO)
                    s->queued_samples -= j->n;
                if (s->rx_paused && s->queued_samples <= sd->queue_low) {
                    s->rx_paused = false;
                    s->rx_resumed_ms = aw_clock_mono_ms();
                    resume = true;
                }
            } else {
                s->scheduled = false;
            }
        }
        pthread_mutex_unlock(&s->lock);

        if (closed) {
            free_jobs(dropped);
            release_stream(s, engine_worker);
            pthread_mutex_lock(&s->lock);
            s->scheduled = false;
            pthread_mutex_unlock(&s->lock);
            session_unref(s); /* the scheduled reference */
            return false;
        }
        if (!j) {
            save_adaptation(s);
            session_unref(s); /* the scheduled reference */
            return false;
        }
        if (resume)
            aw_ws_server_conn_pause_rx(s->conn, false);
        if (j->kind == JOB_AUDIO && sd->conf.max_speed_pct)
            throttle(s, j->n);
        run_job(s, engine_worker, j);
        if (j->kind == JOB_AUDIO)
            done += j->n;
        if (j->kind == JOB_END)
            turn_end_done(s);
        free(j);
        if (done >= SLICE_SAMPLES) {
            save_adaptation(s);
            return true; /* let the worker's other sessions have a go */
        }
    }
}

/* ---- the websocket side: jobs ------------------------------------------- */

static void enqueue(struct session *s, struct job *j)
{
    struct aw_speechd *sd = s->sd;
    bool submit = false, pause = false;

    pthread_mutex_lock(&s->lock);
    j->next = NULL;
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    if (j->kind == JOB_END)
        s->ends_outstanding++;
    if (j->kind == JOB_AUDIO) {
        s->queued_samples += j->n;
        if (s->queued_samples > sd->queue_high && !s->rx_paused) {
            s->rx_paused = true;
            pause = true;
        }
        if (s->queued_samples > sd->queue_hard)
            s->overflow = true;
    }
    if (!s->scheduled && !s->closed) {
        s->scheduled = true;
        session_ref(s);
        submit = true;
    }
    pthread_mutex_unlock(&s->lock);
    if (pause) {
        AW_DEBUG(MOD, s->tag, "backpressure: %zu samples queued",
                 s->queued_samples);
        aw_ws_server_conn_pause_rx(s->conn, true);
    }
    if (submit)
        aw_speechd_pool_submit(sd->pool, s->worker, &s->task);
}

static struct job *job_new(struct session *s, enum job_kind kind, size_t n)
{
    struct job *j = calloc(1, sizeof(*j) + n * sizeof(int16_t));

    if (!j) {
        s->overflow = true; /* closes the session after this message */
        return NULL;
    }
    j->kind = kind;
    j->n = n;
    return j;
}

static void p_send(void *opaque, const char *path, const char *request_id,
                   const char *body)
{
    struct session *s = opaque;
    uint8_t buf[1024];
    size_t len;

    if (aw_usp_build_text(buf, sizeof(buf), &len, path, request_id,
                          CONTENT_TYPE, body, strlen(body)) == AW_OK)
        aw_ws_server_conn_send(s->conn, buf, len, false);
}

static void p_turn_begin(void *opaque, const char *request_id,
                         const struct aw_speechd_turn_conf *conf)
{
    struct session *s = opaque;
    struct job *j = job_new(s, JOB_BEGIN, 0);

    if (!j)
        return;
    memcpy(j->request_id, request_id, sizeof(j->request_id));
    j->conf = *conf;
    AW_DEBUG(MOD, s->tag, "turn %s: mode=%s format=%s word_timings=%d",
             request_id, aw_speechd_mode_name(conf->mode),
             conf->detailed ? "detailed" : "simple", conf->word_timings);
    enqueue(s, j);
}

static void p_audio(void *opaque, const int16_t *pcm, size_t n)
{
    struct session *s = opaque;
    struct job *j = job_new(s, JOB_AUDIO, n);

    if (!j)
        return;
    memcpy(j->pcm, pcm, n * sizeof(*pcm));
    enqueue(s, j);
}

static void p_turn_end(void *opaque)
{
    struct session *s = opaque;
    struct job *j = job_new(s, JOB_END, 0);

    if (j)
        enqueue(s, j);
}

static void p_turn_abort(void *opaque)
{
    struct session *s = opaque;
    struct job *j = job_new(s, JOB_ABORT, 0);

    if (j)
        enqueue(s, j);
}

static const struct aw_speechd_proto_ops proto_ops = {
    .send = p_send,
    .turn_begin = p_turn_begin,
    .audio = p_audio,
    .turn_end = p_turn_end,
    .turn_abort = p_turn_abort,
};

/* ---- the websocket side: callbacks -------------------------------------- */

struct lookup_ctx {
    const struct aw_ws_server_request *req;
};

static enum aw_err lookup(void *opaque, bool header, const char *name,
                          char *buf, size_t cap)
{
    const struct lookup_ctx *ctx = opaque;

    return header ? aw_ws_server_request_header(ctx->req, name, buf, cap)
                  : aw_ws_server_request_query(ctx->req, name, buf, cap);
}

static int on_upgrade(void *opaque, const struct aw_ws_server_request *req,
                      void **conn_user, const char **body)
{
    struct aw_speechd *sd = opaque;
    struct lookup_ctx ctx = {req};
    struct aw_speechd_params params;
    struct session *s;
    int status;

    if (atomic_load(&sd->stopping)) {
        *body = "Service is shutting down.";
        status = 503;
        goto refuse;
    }
    status = aw_speechd_handshake(&sd->policy, aw_ws_server_request_path(req),
                                  lookup, &ctx, &params, body);
    if (status)
        goto refuse;
    if (aw_ws_server_count(sd->srv) >= sd->conf.max_sessions) {
        *body = "Too many sessions.";
        status = 503;
        goto refuse;
    }
    s = session_new(sd, &params, aw_ws_server_request_peer(req));
    if (!s) {
        *body = "Out of memory.";
        status = 503;
        goto refuse;
    }
    *conn_user = s;
    return 0;

refuse:
    AW_INFO(MOD, NULL, "refused path=%s peer=%s status=%d reason=\"%s\"",
            aw_ws_server_request_path(req), aw_ws_server_request_peer(req),
            status, *body);
    return status;
}

static void session_close(struct session *s, uint16_t code, const char *reason)
{
    if (s->closing)
        return;
    s->closing = true;
    AW_DEBUG(MOD, s->tag, "closing %u \"%s\"", code, reason);
    aw_ws_server_conn_close(s->conn, code, reason);
}

static void on_open(void *opaque, struct aw_ws_server_conn *conn,
                    void *conn_user)
{
    struct aw_speechd *sd = opaque;
    struct session *s = conn_user;

    s->conn = conn;
    aw_ws_server_conn_ref(conn);
    s->worker = aw_speechd_pool_assign(sd->pool);
    s->assigned = true;
    s->opened_ms = aw_clock_mono_ms();
    aw_speechd_proto_init(&s->proto, &sd->policy, &s->params, &proto_ops, s);
    s->proto.tag = s->tag;
    AW_INFO(MOD, s->tag,
            "open mode=%s language=%s format=%s word_timings=%s peer=%s "
            "connection_id=%s worker=%u auth=%s",
            aw_speechd_mode_name(s->params.mode), s->params.language,
            s->params.turn.detailed ? "detailed" : "simple",
            s->params.turn.word_timings ? "true" : "false", s->peer,
            s->params.connection_id, s->worker, s->params.auth);
    if (sd->conf.max_connection_s)
        aw_ws_server_conn_timer(conn, TIMER_MAX,
                                (uint64_t)sd->conf.max_connection_s * 1000);
    if (sd->conf.idle_timeout_s)
        aw_ws_server_conn_timer(conn, TIMER_IDLE,
                                (uint64_t)sd->conf.idle_timeout_s * 1000);
    if (atomic_load(&sd->stopping))
        session_close(s, AW_SPEECHD_CLOSE_GOING_AWAY, "Going away");
    /* An unsupported locale is refused at the first message, as the
     * service does: a client closed before it has sent anything reports a
     * failed send instead of the reason. */
}

static void on_message(void *opaque, struct aw_ws_server_conn *conn,
                       void *conn_user, const uint8_t *data, size_t len,
                       bool binary)
{
    struct session *s = conn_user;
    const char *reason = NULL;
    int code;

    (void)opaque;
    (void)conn;
    if (s->closing)
        return;
    if (!s->params.language_ok) {
        aw_errstr_set(s->proto.reason, sizeof(s->proto.reason),
                      "Unsupported locale: %s.", s->params.language);
        session_close(s, AW_SPEECHD_CLOSE_PAYLOAD, s->proto.reason);
        return;
    }
    code = aw_speechd_proto_message(&s->proto, data, len, binary, &reason);
    if (code) {
        AW_INFO(MOD, s->tag, "protocol error: %d %s", code,
                reason ? reason : "");
        session_close(s, (uint16_t)code, reason ? reason : "");
    } else if (s->overflow) {
        session_close(s, AW_SPEECHD_CLOSE_SERVER, "Audio queue overflow.");
    }
}

static void on_timer(void *opaque, struct aw_ws_server_conn *conn,
                     void *conn_user, unsigned id)
{
    struct aw_speechd *sd = opaque;
    struct session *s = conn_user;
    uint64_t idle_ms, limit_ms;

    if (id == TIMER_MAX) {
        uint64_t now = aw_clock_mono_ms();
        bool wait = false;

        /*
         * The connection is cut like the service cuts it, mid-turn: the
         * SDK reconnects and replays what is not final yet. But once a
         * client has sent its end of audio it sends no audio on a new
         * connection (SDK 1.52: RequestSession.isSpeechEnded), so a cut
         * between that end of audio and turn.end would lose the rest of
         * the turn for good. So the close waits while
         *   - an end of audio is being decoded: until its turn.end;
         *   - the client is ahead of the decoder (reading paused by
         *     backpressure, or resumed less than LIMIT_SETTLE_MS ago): its
         *     end of audio may be among what is not read yet;
         * for at most LIMIT_GRACE_MS past the limit.
         */
        if (!s->limit_ms)
            s->limit_ms = now;
        pthread_mutex_lock(&s->lock);
        if (s->ends_outstanding) {
            s->limit_hit = true; /* turn_end_done() closes */
            wait = true;
        } else if (s->rx_paused || now - s->rx_resumed_ms < LIMIT_SETTLE_MS) {
            wait = true;
        }
        pthread_mutex_unlock(&s->lock);
        if (wait && now - s->limit_ms < LIMIT_GRACE_MS) {
            AW_DEBUG(MOD, s->tag,
                     "duration limit: the client is ahead, "
                     "waiting");
            aw_ws_server_conn_timer(conn, TIMER_MAX, LIMIT_SETTLE_MS);
            return;
        }
        session_close(s, AW_SPEECHD_CLOSE_NORMAL, max_duration_reason);
        return;
    }
    limit_ms = (uint64_t)sd->conf.idle_timeout_s * 1000;
    idle_ms = aw_clock_mono_ms() - aw_ws_server_conn_last_activity_ms(conn);
    if (idle_ms >= limit_ms)
        session_close(s, AW_SPEECHD_CLOSE_NORMAL, "Idle timeout exceeded.");
    else
        aw_ws_server_conn_timer(conn, TIMER_IDLE, limit_ms - idle_ms);
}

static void on_close(void *opaque, struct aw_ws_server_conn *conn,
                     void *conn_user, uint16_t code, const char *reason)
{
    struct aw_speechd *sd = opaque;
    struct session *s = conn_user;
    bool submit = false;

    (void)conn;
    pthread_mutex_lock(&s->lock);
    s->closed = true;
    s->close_code = code;
    aw_errstr_set(s->close_reason, sizeof(s->close_reason), "%s",
                  reason ? reason : "");
    if (!s->scheduled) {
        s->scheduled = true;
        session_ref(s);
        submit = true;
    }
    pthread_mutex_unlock(&s->lock);
    /* The worker gives the decoder back. */
    if (submit)
        aw_speechd_pool_submit(sd->pool, s->worker, &s->task);
    session_unref(s); /* the websocket side's reference */
}

static void on_abort(void *opaque, void *conn_user)
{
    (void)opaque;
    session_unref(conn_user);
}

static bool token_ok(void *opaque, const char *token)
{
    struct aw_speechd *sd = opaque;

    return aw_speechd_tokens_valid(sd->tokens, token);
}

/* The token service: POST /sts/v1.0/issueToken with the key, as Azure's
 * regional endpoint answers it. Plain requests get 404, as before. */
static int on_http(void *opaque, const struct aw_ws_server_request *req,
                   const char **content_type, const char **body)
{
    struct aw_speechd *sd = opaque;
    char key[1024];

    if (strcmp(aw_ws_server_request_path(req), "/sts/v1.0/issueToken")) {
        *body = "No such endpoint.";
        return 404;
    }
    if (strcmp(aw_ws_server_request_method(req), "POST")) {
        *body = "Use POST.";
        return 405;
    }
    if (sd->conf.key &&
        (aw_ws_server_request_header(req, "Ocp-Apim-Subscription-Key", key,
                                     sizeof(key)) ||
         !aw_speechd_key_equal(key, sd->conf.key))) {
        AW_INFO(MOD, NULL, "token refused peer=%s",
                aw_ws_server_request_peer(req));
        *body = "Access denied due to invalid subscription key.";
        return 401;
    }
    if (aw_speechd_tokens_issue(sd->tokens, sd->token_body)) {
        *body = "No entropy.";
        return 500;
    }
    AW_INFO(MOD, NULL, "token issued peer=%s lifetime_s=%u",
            aw_ws_server_request_peer(req),
            sd->conf.token_lifetime_s ? sd->conf.token_lifetime_s : 600);
    *content_type = "text/plain";
    *body = sd->token_body;
    return 200;
}

static const struct aw_ws_server_ops server_ops = {
    .on_upgrade = on_upgrade,
    .on_http = on_http,
    .on_open = on_open,
    .on_message = on_message,
    .on_timer = on_timer,
    .on_close = on_close,
    .on_abort = on_abort,
};

/* ---- the service -------------------------------------------------------- */

struct aw_speechd *aw_speechd_new(const struct aw_speechd_conf *conf,
                                  char *errstr, size_t errstr_size)
{
    struct aw_transport_opts topts = {0};
    struct aw_ws_server_opts wopts = {0};
    struct aw_speechd *sd;
    enum aw_err err;

    sd = calloc(1, sizeof(*sd));
    if (!sd) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    sd->conf = *conf;
    pthread_mutex_init(&sd->adapt_lock, NULL);
    if (!sd->conf.workers)
        sd->conf.workers = 1;
    sd->policy.key = conf->key;
    sd->policy.languages = conf->languages;
    sd->policy.initial_silence_ms = conf->initial_silence_ms;
    sd->policy.token_ok = token_ok;
    sd->policy.token_opaque = sd;
    sd->tokens = aw_speechd_tokens_new(
        conf->token_lifetime_s ? conf->token_lifetime_s : 600, 1024);
    if (!sd->tokens) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        goto fail;
    }
    aw_log_add_secret(conf->key);
    sd->policy.limits = aw_usp_default_limits;
    /* The Java client prepends the RIFF header to a full 8 KiB chunk. */
    sd->policy.limits.max_audio_body_bytes =
        AW_USP_MAX_AUDIO_BYTES + AW_USP_RIFF_BYTES;
    sd->queue_high = (size_t)conf->queue_ms * AW_SPEECHD_RATE_HZ / 1000;
    sd->queue_low = sd->queue_high / 2;
    sd->queue_hard = 2 * sd->queue_high + 4 * AW_USP_MAX_AUDIO_BYTES;

    err = conf->engine->create(&conf->engine_conf, &sd->engine, errstr,
                               errstr_size);
    if (err)
        goto fail;
    sd->pool = aw_speechd_pool_new(conf->engine, sd->engine, sd->conf.workers,
                                   errstr, errstr_size);
    if (!sd->pool)
        goto fail;

    topts.name = "speechd";
    topts.tls = conf->tls_cert && conf->tls_key;
    sd->t = aw_transport_new(&topts, errstr, errstr_size);
    if (!sd->t)
        goto fail;
    wopts.name = "speechd";
    wopts.host = conf->host;
    wopts.port = conf->port;
    wopts.tls_cert = conf->tls_cert;
    wopts.tls_key = conf->tls_key;
    wopts.max_message_bytes = conf->max_message_bytes;
    sd->srv =
        aw_ws_server_new(sd->t, &wopts, &server_ops, sd, errstr, errstr_size);
    if (!sd->srv)
        goto fail;
    return sd;

fail:
    aw_speechd_destroy(sd);
    return NULL;
}

int aw_speechd_port(const struct aw_speechd *sd)
{
    return aw_ws_server_port(sd->srv);
}

size_t aw_speechd_sessions(const struct aw_speechd *sd)
{
    return sd->srv ? aw_ws_server_count(sd->srv) : 0;
}

enum aw_err aw_speechd_start(struct aw_speechd *sd)
{
    enum aw_err err = aw_transport_start(sd->t);

    if (!err)
        sd->started = true;
    return err;
}

static void begin_shutdown(void *opaque)
{
    struct aw_speechd *sd = opaque;

    aw_ws_server_close_all(sd->srv, AW_SPEECHD_CLOSE_GOING_AWAY, "Going away");
}

void aw_speechd_shutdown(struct aw_speechd *sd, unsigned grace_ms)
{
    if (sd->stopped)
        return;
    sd->stopped = true;
    atomic_store(&sd->stopping, true);
    if (sd->started && sd->srv &&
        aw_transport_call(sd->t, begin_shutdown, sd) == AW_OK) {
        uint64_t deadline = aw_clock_mono_ms() + grace_ms;
        struct timespec nap = {0, 20 * 1000 * 1000};

        while (aw_ws_server_count(sd->srv) && aw_clock_mono_ms() < deadline)
            nanosleep(&nap, NULL);
    }
    /* Closes whatever is left; the sessions hand their decoders back to
     * the workers, which finish their queues before they exit. */
    aw_transport_stop(sd->t);
    aw_speechd_pool_destroy(sd->pool);
    sd->pool = NULL;
}

void aw_speechd_destroy(struct aw_speechd *sd)
{
    if (!sd)
        return;
    if (sd->t)
        aw_speechd_shutdown(sd, 0);
    aw_speechd_pool_destroy(sd->pool);
    aw_ws_server_destroy(sd->srv);
    aw_transport_destroy(sd->t);
    if (sd->engine)
        sd->conf.engine->destroy(sd->engine);
    pthread_mutex_destroy(&sd->adapt_lock);
    aw_speechd_tokens_destroy(sd->tokens);
    free(sd);
}
