/*
 * The speech session state machine. See session.h for the contract and the
 * reasoning; positions below are absolute ring positions (samples since the
 * ring was created), which never wrap and order every sample of the stream
 * across capture sessions, turns and connections.
 *
 * @locality transport thread, all of it.
 */
#include "stt/session.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "airwave/audio.h"
#include "airwave/clock.h"
#include "airwave/log.h"
#include "common/uuid.h"
#include "stt/usp.h"

#define MAX_SEGMENTS  16
#define MAX_TITLES    8
#define MAX_TELEMETRY 4
#define TITLE_BYTES   AW_RING_MARK_TEXT

/* Delays between connection attempts; a connection up for a minute resets
 * the table. Streams restarted together must not retry together. */
static const uint32_t default_backoff_ms[] = {0,    500,   1000, 2000,
                                              5000, 10000, 30000};
static const struct aw_backoff default_backoff = {
    .table_ms = default_backoff_ms,
    .table_count = AW_ARRAY_SIZE(default_backoff_ms),
    .jitter_percent = 20,
    .healthy_ms = 60000,
};

/* What a closed connection means: retry now, retry later, or stop for
 * good because retrying cannot fix it. */
enum verdict { RETRY_NOW, RETRY_LATER, FATAL };

/* A contiguous run of one capture session's samples in the ring. */
struct segment {
    uint64_t start_pos;
    uint64_t end_pos; /* meaningful once closed */
    bool closed;
    uint64_t sample0; /* capture session sample index at start_pos */
    char cs_id[AW_UUID_STR_LEN];
    int64_t wall0_ms; /* wall clock of the capture session's sample 0 */
};

struct title {
    uint64_t pos;
    char text[TITLE_BYTES];
};

struct turn {
    bool active;
    char rid[AW_STT_ID_LEN];
    uint64_t start_pos; /* the provider's offset 0 */
    uint64_t sent_pos;  /* next position to send */
    unsigned frames;    /* provider turn frames sent */
    bool end_sent;      /* end of audio sent: waiting for turn.end */
    bool started;       /* turn.start received */
    uint64_t first_audio_ms;
    uint64_t end_sent_ms;
};

struct aw_stt_session {
    struct aw_stt_session_opts o;
    struct aw_stt_session_io io;
    void *opaque;
    const struct aw_stt_ops *ops;
    struct aw_ring *ring;
    char *stream_id;
    char *language;
    char *endpoint;
    char *key;
    char *token;
    size_t chunk_samples;
    size_t max_frame;

    /* timeline */
    struct segment segs[MAX_SEGMENTS];
    size_t nsegs;           /* segs[0] is the oldest */
    uint64_t confirmed_pos; /* everything before is final */
    uint64_t trimmed_pos;   /* sent audio released unrecognised up to */
    uint64_t published_end_pos;
    uint64_t high_sent_pos; /* furthest position ever sent */
    struct title titles[MAX_TITLES];
    size_t ntitles;
    bool source_done; /* no more audio will come */
    bool live;        /* the current capture session is live */
    bool source_gap;  /* a capture session ended and another will follow */
    int64_t gap_from_wall_ms; /* ... the wall clock of its last sample */

    /* connection */
    enum aw_stt_conn_state conn;
    char conn_id[AW_UUID_NODASH_LEN];
    uint64_t conn_started_ms; /* connect() or on_open() time */
    int64_t conn_wall_ms;
    bool config_sent;
    bool healthy; /* this connection delivered a turn.start */
    bool ever_connected;
    bool in_speech;
    uint64_t retry_at_ms;
    unsigned failed_connects; /* attempts without a success, in a row */
    struct aw_backoff_state bo;
    bool we_closed;              /* the close in progress is ours */
    enum verdict after_close;    /* ... and what follows it */
    bool rotating;               /* ... because of a rotation */
    char last_close[160];        /* why the previous connection ended */
    uint64_t last_conn_sent_pos; /* sent_pos when the last one ended */
    uint64_t finish_by_ms;       /* finish(): give up waiting after this */

    struct turn turn;
    char telemetry[MAX_TELEMETRY][AW_STT_ID_LEN];
    size_t ntelemetry;

    /* outcome */
    bool done;
    bool failed;
    enum aw_err err;
    char detail[256];

    struct aw_stt_stats stats;
};

static uint64_t now_ms(const struct aw_stt_session *s)
{
    return s->o.now_ms ? s->o.now_ms() : aw_clock_mono_ms();
}

static char *dup_or_null(const char *v)
{
    return v ? strdup(v) : NULL;
}

/* --- timeline ---------------------------------------------------------- */

static struct segment *open_segment(struct aw_stt_session *s)
{
    if (!s->nsegs || s->segs[s->nsegs - 1].closed)
        return NULL;
    return &s->segs[s->nsegs - 1];
}

static uint64_t seg_sample(const struct segment *g, uint64_t pos)
{
    return g->sample0 + (pos - g->start_pos);
}

static int64_t seg_wall_ms(const struct segment *g, uint64_t pos)
{
    return g->wall0_ms + aw_samples_to_ms(seg_sample(g, pos));
}

/* The segment holding pos, or the last one starting before it. */
static const struct segment *seg_at(const struct aw_stt_session *s,
                                    uint64_t pos)
{
    const struct segment *found = s->nsegs ? &s->segs[0] : NULL;

    for (size_t i = 0; i < s->nsegs; i++)
        if (s->segs[i].start_pos <= pos)
            found = &s->segs[i];
    return found;
}

static void pop_segment(struct aw_stt_session *s)
{
    memmove(&s->segs[0], &s->segs[1], (s->nsegs - 1) * sizeof(s->segs[0]));
    s->nsegs--;
}

static void event_id(const struct aw_stt_session *s, struct aw_stream_event *e,
                     uint64_t pos)
{
    char name[256];
    struct aw_uuid u;
    int n;

    /* A rotation also names its connection: replacements that fail
     * before any progress all start at the same position. */
    n = snprintf(name, sizeof(name), "event/%s/%s/%s/%" PRIu64 "%s%s",
                 s->stream_id, aw_event_type_name(e->type),
                 e->capture_session, pos,
                 e->type == AW_EVENT_ROTATION ? "/" : "",
                 e->type == AW_EVENT_ROTATION ? s->conn_id : "");
    aw_uuid_v5(&u, &aw_uuid_ns_airwave, name, n > 0 ? (size_t)n : 0);
    aw_uuid_format(&u, e->id);
}

static void emit_event(struct aw_stt_session *s, enum aw_event_type type,
                       const struct segment *g, uint64_t pos, const char *title,
                       const char *reason, double lost_s, double replay_s)
{
    struct aw_stream_event e;

    memset(&e, 0, sizeof(e));
    e.type = type;
    e.stream_id = s->stream_id;
    e.title = title;
    e.reason = reason;
    e.lost_seconds = lost_s;
    e.replay_seconds = replay_s;
    if (g) {
        memcpy(e.capture_session, g->cs_id, sizeof(e.capture_session));
        e.offset_ms = aw_samples_to_ms(seg_sample(g, pos));
        e.wall_ms = seg_wall_ms(g, pos);
    } else {
        e.wall_ms = aw_clock_wall_ms();
    }
    event_id(s, &e, pos);
    if (s->io.event)
        s->io.event(s->opaque, &e);
}

/* Close the open segment at pos and, unless a capture session ends here,
 * continue the same capture session after a gap of lost samples. */
static void split_segment(struct aw_stt_session *s, uint64_t pos,
                          uint64_t next_pos, uint64_t lost)
{
    struct segment *g = open_segment(s), *n;

    if (!g)
        return;
    if (pos < g->start_pos)
        pos = g->start_pos;
    g->closed = true;
    g->end_pos = pos;
    if (s->nsegs == MAX_SEGMENTS) {
        /* Gaps faster than turns can end: give up the oldest segment's
         * unsent audio rather than grow. */
        s->stats.dropped_samples += s->segs[0].end_pos - s->segs[0].start_pos;
        pop_segment(s);
        g = &s->segs[s->nsegs - 1];
    }
    n = &s->segs[s->nsegs++];
    *n = *g;
    n->closed = false;
    n->start_pos = next_pos;
    n->sample0 = seg_sample(g, pos) + lost + (next_pos - pos);
}

static void take_mark(struct aw_stt_session *s, const struct aw_ring_mark *m)
{
    struct segment *g = open_segment(s);

    switch (m->type) {
    case AW_RING_MARK_SESSION: {
        struct aw_uuid u;

        if (g) {
            g->closed = true;
            g->end_pos = m->pos;
        }
        if (s->nsegs == MAX_SEGMENTS)
            pop_segment(s);
        g = &s->segs[s->nsegs++];
        memset(g, 0, sizeof(*g));
        g->start_pos = m->pos;
        g->wall0_ms = m->wall_ms ? m->wall_ms : aw_clock_wall_ms();
        s->live = m->live;
        if (aw_uuid_v4(&u) != AW_OK)
            aw_uuid_v5(&u, &aw_uuid_ns_airwave, &m->pos, sizeof(m->pos));
        aw_uuid_format(&u, g->cs_id);
        emit_event(s, AW_EVENT_START, g, m->pos, NULL, m->text, 0, 0);
        /* The source came back: what was broadcast meanwhile is lost. */
        if (s->source_gap) {
            double lost = (double)(g->wall0_ms - s->gap_from_wall_ms) / 1000;

            emit_event(s, AW_EVENT_DISCONTINUITY, g, m->pos, NULL,
                       "source reconnected", lost > 0 ? lost : 0, 0);
            s->source_gap = false;
        }
        break;
    }
    case AW_RING_MARK_GAP:
        if (!g)
            break;
        split_segment(s, m->pos, m->pos, m->lost_samples);
        g = open_segment(s);
        emit_event(s, AW_EVENT_DISCONTINUITY, g, m->pos, NULL,
                   "audio dropped before the ring",
                   (double)m->lost_samples / AW_AUDIO_RATE_HZ, 0);
        break;
    case AW_RING_MARK_TITLE:
        if (s->ntitles == MAX_TITLES) {
            memmove(&s->titles[0], &s->titles[1],
                    (MAX_TITLES - 1) * sizeof(s->titles[0]));
            s->ntitles--;
        }
        s->titles[s->ntitles].pos = m->pos;
        memcpy(s->titles[s->ntitles].text, m->text, TITLE_BYTES);
        s->ntitles++;
        emit_event(s, AW_EVENT_TITLE, g, m->pos, m->text, NULL, 0, 0);
        break;
    case AW_RING_MARK_WALLCLOCK:
        if (g && m->pos >= g->start_pos)
            g->wall0_ms = m->wall_ms - aw_samples_to_ms(seg_sample(g, m->pos));
        break;
    case AW_RING_MARK_END:
        /* A final END may follow the END of the last capture session
         * (the source gave up after it): only the first is an event. */
        if (g) {
            g->closed = true;
            g->end_pos = m->pos;
            emit_event(s, AW_EVENT_END, g, m->pos, NULL, m->text, 0, 0);
            s->source_gap = !m->final;
            s->gap_from_wall_ms = seg_wall_ms(g, m->pos);
        }
        if (m->final) {
            s->source_done = true;
            if (m->err != AW_ERR_EOF && m->err != AW_OK &&
                m->err != AW_ERR_STOPPED && !s->err) {
                s->err = m->err;
                aw_errstr_set(s->detail, sizeof(s->detail), "%s", m->text);
            }
        }
        break;
    }
}

static void drain_marks(struct aw_stt_session *s)
{
    struct aw_ring_mark m;

    while (aw_ring_pop_mark(s->ring, &m))
        if (!s->source_done)
            take_mark(s, &m);
}

static const char *title_at(const struct aw_stt_session *s, uint64_t pos)
{
    const char *t = NULL;

    for (size_t i = 0; i < s->ntitles; i++)
        if (s->titles[i].pos <= pos)
            t = s->titles[i].text;
    return t && *t ? t : NULL;
}

/* Where a new turn starts: the end of the last final phrase, unless that
 * audio has been given up or its segment is finished. */
static uint64_t replay_pos(const struct aw_stt_session *s)
{
    uint64_t pos = s->confirmed_pos, tail = aw_ring_tail(s->ring);

    if (pos < tail)
        pos = tail;
    if (s->nsegs && pos < s->segs[0].start_pos)
        pos = s->segs[0].start_pos;
    return pos;
}

/* The first position not yet sent: the turn's next audio, or where the
 * next turn starts; never before the tail (a cut may have ended the turn's
 * audio, and what follows it starts at or after the tail). */
static uint64_t unsent_from(const struct aw_stt_session *s)
{
    uint64_t pos = s->turn.active ? s->turn.sent_pos : replay_pos(s);
    uint64_t tail = aw_ring_tail(s->ring);

    return pos > tail ? pos : tail;
}

/* Free the ring up to the replay position and forget finished segments. */
static void retire(struct aw_stt_session *s)
{
    uint64_t pos;

    while (s->nsegs && s->segs[0].closed &&
           replay_pos(s) >= s->segs[0].end_pos &&
           !(s->turn.active && s->turn.start_pos < s->segs[0].end_pos))
        pop_segment(s);
    pos = replay_pos(s);
    aw_ring_release(s->ring, pos);
    while (s->ntitles > 1 && s->titles[1].pos <= pos) {
        memmove(&s->titles[0], &s->titles[1],
                (s->ntitles - 1) * sizeof(s->titles[0]));
        s->ntitles--;
    }
}

/*
 * Give up the unsent audio in [from, to): segments are truncated, split or
 * removed so that no turn is ever asked to send it. Samples keep their
 * capture session indices, so the wall clock stays exact after the gap.
 */
static void cut(struct aw_stt_session *s, uint64_t from, uint64_t to)
{
    struct segment out[2 * MAX_SEGMENTS];
    uint64_t head = aw_ring_head(s->ring);
    size_t n = 0;

    for (size_t i = 0; i < s->nsegs; i++) {
        const struct segment *g = &s->segs[i];
        uint64_t end = g->closed ? g->end_pos : head;

        if (end <= from || g->start_pos >= to) {
            out[n++] = *g;
            continue;
        }
        if (g->start_pos < from) {
            out[n] = *g;
            out[n].closed = true;
            out[n++].end_pos = from;
        }
        if (end > to || !g->closed) {
            out[n] = *g;
            out[n].start_pos = to;
            out[n++].sample0 = seg_sample(g, to);
        }
    }
    /* Only the newest segments matter now. */
    if (n > MAX_SEGMENTS) {
        memmove(out, out + (n - MAX_SEGMENTS), MAX_SEGMENTS * sizeof(out[0]));
        n = MAX_SEGMENTS;
    }
    memcpy(s->segs, out, n * sizeof(out[0]));
    s->nsegs = n;
    /* A turn that has sent no audio yet can start after the cut. */
    if (s->turn.active && s->turn.sent_pos == s->turn.start_pos && n &&
        s->turn.start_pos < s->segs[0].start_pos)
        s->turn.start_pos = s->turn.sent_pos = s->segs[0].start_pos;
}

/*
 * A live source never waits for the speech service: when the ring is
 * nearly full, give up replay audio first (audio the service has but has
 * not recognised: nothing is lost unless the connection drops, see
 * lose_trimmed()), then the oldest unsent audio, published as a
 * discontinuity. A file waits instead: its ingest thread blocks on a full
 * ring.
 */
static void shed_load(struct aw_stt_session *s)
{
    uint64_t head = aw_ring_head(s->ring), tail = aw_ring_tail(s->ring);
    uint64_t cap = aw_ring_capacity(s->ring), send_from, keep_from;
    double lost;

    if (!s->live || head - tail < cap - cap / 8)
        return;
    send_from = unsent_from(s);
    if (send_from > tail) {
        s->stats.trimmed_samples += send_from - tail;
        if (s->trimmed_pos < send_from)
            s->trimmed_pos = send_from;
        aw_ring_release(s->ring, send_from);
        tail = send_from;
    }
    if (head - tail < cap - cap / 8)
        return;
    /* Keep the newest half: the lag drops at once, and the next shed is
     * far away. An active turn ends where its segment is now cut. */
    keep_from = head - cap / 2;
    cut(s, send_from, keep_from);
    s->stats.dropped_samples += keep_from - send_from;
    aw_ring_release(s->ring, keep_from);
    lost = (double)(keep_from - send_from) / AW_AUDIO_RATE_HZ;
    AW_WARN("stt", s->stream_id,
            "speech service behind real time: dropped %.1f s of audio", lost);
    emit_event(s, AW_EVENT_DISCONTINUITY, open_segment(s), keep_from, NULL,
               "speech service behind real time", lost, 0);
}

/* A connection is gone with audio it had been sent and never recognised,
 * which shed_load() released to make room: it cannot be replayed. */
static void lose_trimmed(struct aw_stt_session *s)
{
    uint64_t from = s->confirmed_pos, to = s->trimmed_pos;
    double lost;

    if (to <= from)
        return;
    s->confirmed_pos = to;
    s->stats.dropped_samples += to - from;
    lost = (double)(to - from) / AW_AUDIO_RATE_HZ;
    AW_WARN("stt", s->stream_id,
            "speech connection lost with %.1f s of audio it had not "
            "recognised and that could not be kept for replay",
            lost);
    emit_event(s, AW_EVENT_DISCONTINUITY, seg_at(s, to), to, NULL,
               "speech connection lost with unrecognised audio", lost, 0);
}

/* --- publishing -------------------------------------------------------- */

static void publish(struct aw_stt_session *s, const struct aw_stt_msg *m,
                    uint64_t start_pos, uint64_t end_pos)
{
    const struct segment *g = &s->segs[0];
    struct aw_word words[256];
    struct aw_transcript t;
    struct aw_uuid u;
    char name[256];
    uint64_t start_sample = seg_sample(g, start_pos);
    size_t nwords = 0;
    int n;

    memset(&t, 0, sizeof(t));
    n = snprintf(name, sizeof(name), "%s/%s/%" PRIu64, s->stream_id, g->cs_id,
                 start_sample);
    aw_uuid_v5(&u, &aw_uuid_ns_airwave, name, n > 0 ? (size_t)n : 0);
    aw_uuid_format(&u, t.id);
    t.stream_id = s->stream_id;
    t.language = s->language;
    t.text = m->text;
    t.lexical = m->lexical;
    t.confidence = m->confidence;
    t.offset_ms = aw_samples_to_ms(start_sample);
    t.duration_ms = aw_samples_to_ms(seg_sample(g, end_pos)) - t.offset_ms;
    t.start_wall_ms = seg_wall_ms(g, start_pos);
    t.end_wall_ms = seg_wall_ms(g, end_pos);
    memcpy(t.capture_session, g->cs_id, sizeof(t.capture_session));
    t.stream_title = title_at(s, start_pos);
    t.provider = s->ops->name;
    for (size_t i = 0; i < m->nwords && nwords < AW_ARRAY_SIZE(words); i++) {
        uint64_t wpos =
            s->turn.start_pos + aw_ticks_to_samples(m->words[i].offset_ticks);

        if (wpos < start_pos)
            continue; /* already published with the previous phrase */
        words[nwords].word = m->words[i].word;
        words[nwords].offset_ms = aw_samples_to_ms(seg_sample(g, wpos));
        words[nwords].duration_ms =
            aw_samples_to_ms(aw_ticks_to_samples(m->words[i].duration_ticks));
        nwords++;
    }
    t.words = nwords ? words : NULL;
    t.nwords = nwords;
    s->stats.phrases++;
    if (s->io.transcript)
        s->io.transcript(s->opaque, &t);
}

/* --- connection -------------------------------------------------------- */

/* Close the connection ourselves; \p after says what on_close() does. */
static void close_conn(struct aw_stt_session *s, int code, const char *why,
                       enum verdict after)
{
    if (s->conn != AW_STT_CONN_OPEN && s->conn != AW_STT_CONN_CONNECTING)
        return;
    s->conn = AW_STT_CONN_CLOSING;
    s->we_closed = true;
    s->after_close = after;
    aw_errstr_set(s->last_close, sizeof(s->last_close), "%s", why);
    if (s->io.close)
        s->io.close(s->opaque, code, why);
}

static void set_failed(struct aw_stt_session *s, enum aw_err err,
                       const char *detail)
{
    if (s->failed)
        return;
    s->failed = true;
    s->done = true;
    s->err = err;
    aw_errstr_set(s->detail, sizeof(s->detail), "%s", detail);
    /* Redact in case a peer echoed a credential back in its reason. */
    aw_log_redact(s->detail, sizeof(s->detail));
    AW_ERROR("stt", s->stream_id, "%s", s->detail);
    emit_event(s, AW_EVENT_ERROR, seg_at(s, replay_pos(s)), replay_pos(s), NULL,
               s->detail, 0, 0);
    close_conn(s, 1000, "stopped", FATAL);
}

static bool has_audio(const struct aw_stt_session *s)
{
    return s->nsegs && (!s->segs[0].closed ||
                        replay_pos(s) < s->segs[0].end_pos || s->nsegs > 1);
}

static void start_connect(struct aw_stt_session *s)
{
    struct aw_stt_handshake hs;
    struct aw_uuid u;
    const char *key = s->key, *token = s->token;
    char errstr[256] = "";
    struct aw_stt_params p = s->o.params;
    enum aw_err err;

    if (s->io.credentials) {
        err = s->io.credentials(s->opaque, s->ever_connected, &key, &token,
                                errstr, sizeof(errstr));
        if (err == AW_ERR_AGAIN) {
            s->retry_at_ms = now_ms(s) + 50;
            return;
        }
        if (err) {
            if (!aw_err_is_retriable(err)) {
                set_failed(s, err, errstr);
                return;
            }
            s->stats.connect_failures++;
            s->retry_at_ms =
                now_ms(s) + aw_backoff_next_ms(s->o.backoff, &s->bo, now_ms(s));
            AW_WARN("stt", s->stream_id, "credentials: %s", errstr);
            return;
        }
    }
    p.endpoint = s->endpoint;
    p.language = s->language;
    p.key = key;
    p.token = token;
    /* One connection id for the whole session, as the Azure SDK does when
     * it reconnects: the service may then carry its adaptation over. */
    if (!s->conn_id[0]) {
        if (aw_uuid_v4(&u) != AW_OK) {
            set_failed(s, AW_ERR_IO, "no entropy for a connection id");
            return;
        }
        aw_uuid_format_nodash(&u, s->conn_id);
    }
    err = s->ops->handshake(&p, s->conn_id, &hs, errstr, sizeof(errstr));
    if (err) {
        set_failed(s, err, errstr);
        return;
    }
    s->conn = AW_STT_CONN_CONNECTING;
    s->conn_started_ms = now_ms(s);
    s->config_sent = false;
    s->healthy = false;
    s->in_speech = false;
    s->we_closed = false;
    s->rotating = false;
    err = s->io.connect(s->opaque, &hs);
    if (err)
        aw_stt_session_on_close(s, 0, 0, err, "could not start connecting");
}

void aw_stt_session_on_open(struct aw_stt_session *s)
{
    uint64_t from = replay_pos(s);

    if (s->conn != AW_STT_CONN_CONNECTING)
        return;
    s->conn = AW_STT_CONN_OPEN;
    s->conn_started_ms = now_ms(s);
    s->conn_wall_ms = aw_clock_wall_ms();
    s->stats.connects++;
    aw_backoff_connected(&s->bo, now_ms(s));
    AW_INFO("stt", s->stream_id, "speech connection %s open", s->conn_id);
    if (s->ever_connected) {
        double replay =
            s->last_conn_sent_pos > from
                ? (double)(s->last_conn_sent_pos - from) / AW_AUDIO_RATE_HZ
                : 0;

        emit_event(s, AW_EVENT_ROTATION, seg_at(s, from), from, NULL,
                   s->last_close, 0, replay);
    }
    s->ever_connected = true;
    if (s->io.want_write)
        s->io.want_write(s->opaque);
}

static enum verdict classify(int close_code, int http_status, enum aw_err err,
                             enum aw_err *fatal_err)
{
    if (http_status == 401 || http_status == 403) {
        *fatal_err = AW_ERR_AUTH;
        return FATAL;
    }
    if (http_status == 400 || http_status == 404 || http_status == 405) {
        *fatal_err = AW_ERR_REFUSED;
        return FATAL;
    }
    if (http_status)
        return RETRY_LATER; /* 429, 5xx and anything unexpected */
    switch (close_code) {
    case 1002:
    case 1003:
    case 1007:
    case 1008:
    case 1009:
    case 4000:
        *fatal_err = AW_ERR_REFUSED;
        return FATAL;
    case 1000:
    case 1001:
        return RETRY_NOW;
    default:
        break;
    }
    if (err == AW_ERR_AUTH || err == AW_ERR_REFUSED || err == AW_ERR_INVAL) {
        *fatal_err = err;
        return FATAL;
    }
    return RETRY_LATER;
}

void aw_stt_session_on_close(struct aw_stt_session *s, int close_code,
                             int http_status, enum aw_err err,
                             const char *detail)
{
    enum aw_err fatal_err = AW_ERR_REFUSED;
    bool was_open = s->conn == AW_STT_CONN_OPEN ||
                    (s->conn == AW_STT_CONN_CLOSING && s->config_sent);
    bool ours = s->we_closed, rotating = s->rotating;
    enum verdict v;
    char what[320];
    uint64_t now = now_ms(s), delay;

    if (s->conn == AW_STT_CONN_DOWN)
        return;
    s->conn = AW_STT_CONN_DOWN;
    /* What the next rotation event reports: the connection that carried
     * audio, not the failed attempts to replace it. */
    if (was_open)
        s->last_conn_sent_pos =
            s->turn.active ? s->turn.sent_pos : replay_pos(s);
    /* The turn in flight is abandoned; its unconfirmed audio is replayed. */
    memset(&s->turn, 0, sizeof(s->turn));
    s->ntelemetry = 0;
    if (http_status)
        snprintf(what, sizeof(what), "HTTP %d%s%s", http_status,
                 detail && *detail ? ": " : "", detail ? detail : "");
    else if (close_code)
        snprintf(what, sizeof(what), "closed %d%s%s", close_code,
                 detail && *detail ? " " : "", detail ? detail : "");
    else
        snprintf(what, sizeof(what), "%s",
                 detail && *detail ? detail : aw_err_str(err));
    aw_log_redact(what, sizeof(what));
    s->we_closed = false;
    s->rotating = false;

    if (s->done)
        return;
    if (was_open)
        lose_trimmed(s);
    if (rotating) {
        s->retry_at_ms = now;
        return;
    }
    if (!ours && was_open)
        aw_errstr_set(s->last_close, sizeof(s->last_close), "%s", what);
    v = ours ? s->after_close
             : classify(close_code, http_status, err, &fatal_err);
    if (v == FATAL) {
        char msg[400];

        snprintf(msg, sizeof(msg), "speech service refused the %s: %s",
                 was_open ? "session" : "connection", what);
        set_failed(s, fatal_err, msg);
        return;
    }
    if (!was_open) {
        s->stats.connect_failures++;
        s->failed_connects++;
        if (s->o.max_failed_connects &&
            s->failed_connects >= s->o.max_failed_connects &&
            !s->ever_connected) {
            char msg[400];

            snprintf(msg, sizeof(msg),
                     "cannot connect to the speech service "
                     "at %s: %s",
                     s->endpoint, what);
            set_failed(s, err ? err : AW_ERR_NET, msg);
            return;
        }
    } else {
        s->stats.reconnects++;
    }
    /* A connection that closed "normally" but never got as far as a turn
     * would loop at full speed: such closes back off like failures. */
    if (v == RETRY_NOW && s->healthy) {
        aw_backoff_reset(&s->bo);
        delay = 0;
    } else {
        delay = aw_backoff_next_ms(s->o.backoff, &s->bo, now);
    }
    s->retry_at_ms = now + delay;
    AW_WARN("stt", s->stream_id,
            "speech connection %s: %s; reconnecting in "
            "%" PRIu64 " ms",
            was_open ? "lost" : "failed", what, delay);
}

/* --- messages ---------------------------------------------------------- */

static void on_phrase(struct aw_stt_session *s, const struct aw_stt_msg *m)
{
    uint64_t start = s->turn.start_pos + aw_ticks_to_samples(m->offset_ticks);
    uint64_t end = start + aw_ticks_to_samples(m->duration_ticks);

    s->in_speech = false;
    /* A phrase cannot end in audio we have not sent. */
    if (end > s->turn.sent_pos)
        end = s->turn.sent_pos;
    if (start > end)
        start = end;

    switch (m->status) {
    case AW_STT_SUCCESS:
        if (end <= s->published_end_pos) {
            s->stats.duplicates++;
            AW_DEBUG("stt", s->stream_id,
                     "replayed phrase not published "
                     "again: %s",
                     m->text);
            break;
        }
        if (start < s->published_end_pos)
            start = s->published_end_pos;
        publish(s, m, start, end);
        s->published_end_pos = end;
        break;
    case AW_STT_ERROR:
    case AW_STT_TOO_MANY_REQUESTS:
        AW_WARN("stt", s->stream_id, "speech service reported %s",
                aw_stt_status_name(m->status));
        close_conn(s, 1000, "service error", RETRY_LATER);
        return;
    case AW_STT_BAD_REQUEST:
    case AW_STT_FORBIDDEN: {
        char msg[128];

        snprintf(msg, sizeof(msg), "speech service refused the session: %s",
                 aw_stt_status_name(m->status));
        set_failed(s,
                   m->status == AW_STT_FORBIDDEN ? AW_ERR_AUTH : AW_ERR_REFUSED,
                   msg);
        return;
    }
    case AW_STT_UNKNOWN:
        return;
    default:
        s->stats.no_match++;
        break;
    }
    if (end > s->confirmed_pos)
        s->confirmed_pos = end;
    retire(s);
}

static void on_turn_end(struct aw_stt_session *s)
{
    struct turn *t = &s->turn;

    if (s->ntelemetry < MAX_TELEMETRY)
        memcpy(s->telemetry[s->ntelemetry++], t->rid, AW_STT_ID_LEN);
    if (t->end_sent && t->sent_pos > s->confirmed_pos) {
        /* The service has processed every sample of the turn: whatever
         * was not in a phrase was not speech. */
        s->confirmed_pos = t->sent_pos;
    }
    AW_DEBUG("stt", s->stream_id, "turn %s ended%s", t->rid,
             t->end_sent ? "" : " by the service");
    memset(t, 0, sizeof(*t));
    retire(s);
}

void aw_stt_session_on_message(struct aw_stt_session *s, const uint8_t *data,
                               size_t len, bool binary)
{
    struct aw_stt_msg m;
    char errstr[256];

    if (s->conn != AW_STT_CONN_OPEN || s->done)
        return;
    if (s->ops->parse(data, len, binary, &m, errstr, sizeof(errstr))) {
        AW_WARN("stt", s->stream_id, "%s", errstr);
        close_conn(s, 1002, "invalid message", RETRY_LATER);
        return;
    }
    /* Messages of an earlier turn are stale: the service discards them
     * too once a new request id starts. */
    if (!s->turn.active || strcasecmp(m.request_id, s->turn.rid)) {
        aw_stt_msg_clear(&m);
        return;
    }
    switch (m.type) {
    case AW_STT_MSG_TURN_START:
        s->turn.started = true;
        if (!s->healthy) {
            s->healthy = true;
            s->failed_connects = 0;
        }
        break;
    case AW_STT_MSG_SPEECH_START:
    case AW_STT_MSG_HYPOTHESIS:
        s->in_speech = true;
        break;
    case AW_STT_MSG_SPEECH_END:
        s->in_speech = false;
        break;
    case AW_STT_MSG_PHRASE:
        on_phrase(s, &m);
        break;
    case AW_STT_MSG_TURN_END:
        on_turn_end(s);
        break;
    case AW_STT_MSG_OTHER:
        break;
    }
    aw_stt_msg_clear(&m);
    if (s->io.want_write)
        s->io.want_write(s->opaque);
}

/* --- sending ----------------------------------------------------------- */

/* Audio of the turn's segment that can be sent now, up to one chunk. */
static size_t sendable(const struct aw_stt_session *s, bool *last)
{
    const struct segment *g = &s->segs[0];
    uint64_t limit = g->closed ? g->end_pos : aw_ring_head(s->ring);
    uint64_t avail = limit > s->turn.sent_pos ? limit - s->turn.sent_pos : 0;

    *last = g->closed;
    if (avail >= s->chunk_samples)
        return s->chunk_samples;
    /* A live turn waits for a full chunk; a closed segment sends its
     * remainder. */
    return g->closed ? (size_t)avail : 0;
}

static bool begin_turn(struct aw_stt_session *s)
{
    struct turn *t = &s->turn;
    struct aw_uuid u;
    uint64_t from;
    bool last;

    retire(s);
    if (!s->nsegs)
        return false;
    from = replay_pos(s);
    if (s->segs[0].closed && from >= s->segs[0].end_pos)
        return false;
    memset(t, 0, sizeof(*t));
    t->start_pos = from;
    t->sent_pos = from;
    t->active = true; /* tentatively, for sendable() */
    if (!sendable(s, &last)) {
        t->active = false;
        return false;
    }
    if (aw_uuid_v4(&u) != AW_OK) {
        t->active = false;
        return false;
    }
    aw_uuid_format_nodash(&u, t->rid);
    s->stats.turns++;
    return true;
}

enum aw_err aw_stt_session_next_frame(struct aw_stt_session *s, uint8_t *buf,
                                      size_t cap, size_t *len, bool *binary)
{
    struct turn *t = &s->turn;
    struct aw_stt_params p = s->o.params;
    const int16_t *pcm;
    enum aw_err err;
    size_t n;
    bool last;

    *len = 0;
    *binary = false;
    if (s->conn != AW_STT_CONN_OPEN)
        return AW_ERR_AGAIN;
    p.endpoint = s->endpoint;
    p.language = s->language;

    if (!s->config_sent) {
        s->config_sent = true;
        return s->ops->open_frame(&p, buf, cap, len);
    }
    if (s->ntelemetry) {
        err = s->ops->after_turn_frame(s->telemetry[0], s->conn_id,
                                       s->conn_wall_ms, buf, cap, len);
        memmove(&s->telemetry[0], &s->telemetry[1],
                (s->ntelemetry - 1) * sizeof(s->telemetry[0]));
        s->ntelemetry--;
        if (err || *len)
            return err;
    }
    if (!t->active && !begin_turn(s))
        return AW_ERR_AGAIN;
    err = s->ops->turn_frame(&p, t->rid, t->frames, buf, cap, len, binary);
    if (err)
        return err;
    if (*len) {
        t->frames++;
        return AW_OK;
    }
    if (t->end_sent)
        return AW_ERR_AGAIN;

    n = sendable(s, &last);
    if (!n) {
        if (!last)
            return AW_ERR_AGAIN;
        err = s->ops->audio_frame(t->rid, NULL, 0, buf, cap, len);
        if (err)
            return err;
        t->end_sent = true;
        t->end_sent_ms = now_ms(s);
        *binary = true;
        return AW_OK;
    }
    /* Straight from the ring into the frame, no copy in between; a chunk
     * that straddles the end of the ring goes as two shorter frames. */
    n = aw_ring_borrow(s->ring, t->sent_pos, &pcm, n);
    if (!n)
        return AW_ERR_AGAIN; /* released under us: shed_load() moved on */
    err = s->ops->audio_frame(t->rid, (const uint8_t *)pcm,
                              n * AW_AUDIO_BYTES_PER_SAMPLE, buf, cap, len);
    if (err)
        return err;
    if (!t->first_audio_ms)
        t->first_audio_ms = now_ms(s);
    if (t->sent_pos < s->high_sent_pos)
        s->stats.replayed_samples += (s->high_sent_pos - t->sent_pos) < n
                                         ? s->high_sent_pos - t->sent_pos
                                         : n;
    t->sent_pos += n;
    if (t->sent_pos > s->high_sent_pos)
        s->high_sent_pos = t->sent_pos;
    s->stats.sent_samples += n;
    *binary = true;
    return AW_OK;
}

size_t aw_stt_session_max_frame(const struct aw_stt_session *s)
{
    return s->max_frame;
}

/* --- timers ------------------------------------------------------------ */

static void check_timers(struct aw_stt_session *s, uint64_t now)
{
    struct turn *t = &s->turn;
    uint64_t age = now - s->conn_started_ms;

    switch (s->conn) {
    case AW_STT_CONN_CONNECTING:
        if (s->o.connect_timeout_ms && age >= s->o.connect_timeout_ms)
            close_conn(s, 1000, "connect timeout", RETRY_LATER);
        return;
    case AW_STT_CONN_OPEN:
        break;
    default:
        return;
    }
    if (t->active && !t->started && t->first_audio_ms &&
        s->o.turn_start_timeout_ms &&
        now - t->first_audio_ms >= s->o.turn_start_timeout_ms) {
        AW_WARN("stt", s->stream_id, "no turn.start from the speech service");
        close_conn(s, 1000, "no turn.start", RETRY_LATER);
        return;
    }
    if (t->active && t->end_sent && s->o.final_timeout_ms &&
        now - t->end_sent_ms >= s->o.final_timeout_ms) {
        AW_WARN("stt", s->stream_id, "no turn.end within %" PRIu64 " ms",
                s->o.final_timeout_ms);
        close_conn(s, 1000, "no turn.end", RETRY_LATER);
        return;
    }
    if (s->o.rotate_after_ms && age >= s->o.rotate_after_ms &&
        !(t->active && t->end_sent)) {
        bool pause = !s->in_speech;

        if (pause || age >= s->o.rotate_after_ms + s->o.rotate_grace_ms) {
            AW_INFO("stt", s->stream_id,
                    "rotating speech connection after %.0f s%s",
                    (double)age / 1000, pause ? " at a pause" : "");
            s->stats.rotations++;
            close_conn(s, 1000, "rotation", RETRY_NOW);
            s->rotating = true;
        }
    }
}

void aw_stt_session_poll(struct aw_stt_session *s)
{
    uint64_t now = now_ms(s);

    drain_marks(s);
    if (s->done)
        return;
    shed_load(s);
    retire(s);
    check_timers(s, now);

    if (s->source_done && !has_audio(s) && !s->turn.active) {
        s->done = true;
        AW_INFO("stt", s->stream_id,
                "speech session finished: %" PRIu64 " phrases",
                s->stats.phrases);
        close_conn(s, 1000, "done", FATAL);
        return;
    }
    if (s->finish_by_ms && now >= s->finish_by_ms) {
        uint64_t left = aw_ring_head(s->ring) - replay_pos(s);

        s->done = true;
        AW_WARN("stt", s->stream_id,
                "gave up waiting for the last phrases: %.1f s of audio "
                "not transcribed",
                (double)left / AW_AUDIO_RATE_HZ);
        close_conn(s, 1000, "done", FATAL);
        return;
    }
    if (s->conn == AW_STT_CONN_DOWN && now >= s->retry_at_ms && has_audio(s))
        start_connect(s);
    else if (s->conn == AW_STT_CONN_OPEN && s->io.want_write)
        s->io.want_write(s->opaque);
}

/* The earliest of \p due and \p start + \p after, if that is set. */
static uint64_t sooner(uint64_t due, uint64_t start, uint64_t after)
{
    return after && start + after < due ? start + after : due;
}

uint64_t aw_stt_session_next_timer_ms(const struct aw_stt_session *s)
{
    uint64_t now = now_ms(s), due = now + 1000;
    const struct turn *t = &s->turn;

    if (s->done)
        return 1000;
    switch (s->conn) {
    case AW_STT_CONN_DOWN:
        if (has_audio(s))
            due = s->retry_at_ms < due ? s->retry_at_ms : due;
        break;
    case AW_STT_CONN_CONNECTING:
        due = sooner(due, s->conn_started_ms, s->o.connect_timeout_ms);
        break;
    case AW_STT_CONN_OPEN:
        due = sooner(due, s->conn_started_ms, s->o.rotate_after_ms);
        if (t->active && !t->started && t->first_audio_ms)
            due = sooner(due, t->first_audio_ms, s->o.turn_start_timeout_ms);
        if (t->active && t->end_sent)
            due = sooner(due, t->end_sent_ms, s->o.final_timeout_ms);
        break;
    default:
        break;
    }
    if (s->finish_by_ms && s->finish_by_ms < due)
        due = s->finish_by_ms;
    return due > now ? due - now : 0;
}

void aw_stt_session_finish(struct aw_stt_session *s)
{
    struct segment *g;

    drain_marks(s);
    g = open_segment(s);
    if (g) {
        /* The source's own END may come later and is then ignored: this
         * is where the capture session ends for the timeline. */
        g->closed = true;
        g->end_pos = aw_ring_head(s->ring);
        emit_event(s, AW_EVENT_END, g, g->end_pos, NULL, "stopped", 0, 0);
    }
    s->source_done = true;
    if (s->o.final_timeout_ms)
        s->finish_by_ms = now_ms(s) + s->o.final_timeout_ms;
}

bool aw_stt_session_done(const struct aw_stt_session *s, enum aw_err *err,
                         const char **detail)
{
    if (err)
        *err = s->err;
    if (detail)
        *detail = s->detail;
    return s->done && s->conn == AW_STT_CONN_DOWN;
}

bool aw_stt_session_ready(const struct aw_stt_session *s)
{
    return !s->failed && (s->conn == AW_STT_CONN_OPEN || !has_audio(s));
}

void aw_stt_session_stats(const struct aw_stt_session *s,
                          struct aw_stt_stats *st)
{
    uint64_t head = aw_ring_head(s->ring);
    uint64_t sent = unsent_from(s);

    *st = s->stats;
    st->conn_state = s->conn;
    st->backlog_samples = head > sent ? head - sent : 0;
}

/* --- lifecycle --------------------------------------------------------- */

struct aw_stt_session *aw_stt_session_new(const struct aw_stt_session_opts *o,
                                          const struct aw_stt_session_io *io,
                                          void *opaque, struct aw_ring *ring,
                                          char *errstr, size_t errstr_size)
{
    struct aw_stt_session *s;

    if (!o->stream_id || !o->language || !o->params.endpoint || !io->connect) {
        aw_errstr_set(errstr, errstr_size,
                      "stream id, language, endpoint and io are required");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->o = *o;
    s->io = *io;
    s->opaque = opaque;
    s->ring = ring;
    s->ops = aw_stt_find(o->provider ? o->provider : "azure");
    if (!s->ops) {
        aw_errstr_set(errstr, errstr_size, "unknown speech provider \"%s\"",
                      o->provider);
        goto fail;
    }
    if (!s->o.backoff)
        s->o.backoff = &default_backoff;
    s->chunk_samples =
        (size_t)(o->chunk_ms ? o->chunk_ms : 100) * AW_AUDIO_SAMPLES_PER_MS;
    if (s->chunk_samples * AW_AUDIO_BYTES_PER_SAMPLE > AW_USP_MAX_AUDIO_BYTES ||
        s->chunk_samples > aw_ring_capacity(ring) / 4) {
        aw_errstr_set(errstr, errstr_size, "chunk of %u ms does not fit",
                      o->chunk_ms);
        goto fail;
    }
    /* Control frames (config, context, telemetry) are a few hundred bytes;
     * 4 KiB covers them with room, audio frames add their overhead. */
    s->max_frame = s->chunk_samples * AW_AUDIO_BYTES_PER_SAMPLE +
                   s->ops->audio_overhead() + 64;
    if (s->max_frame < 4096)
        s->max_frame = 4096;
    s->stream_id = strdup(o->stream_id);
    s->language = strdup(o->language);
    s->endpoint = strdup(o->params.endpoint);
    s->key = dup_or_null(o->params.key);
    s->token = dup_or_null(o->params.token);
    if (!s->stream_id || !s->language || !s->endpoint ||
        (o->params.key && !s->key) || (o->params.token && !s->token)) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (s->key)
        aw_log_add_secret(s->key);
    if (s->token)
        aw_log_add_secret(s->token);
    aw_backoff_init(&s->bo, (uint32_t)(uintptr_t)s ^ (uint32_t)now_ms(s));
    s->o.params.key = NULL;
    s->o.params.token = NULL;
    return s;

fail:
    aw_stt_session_destroy(s);
    return NULL;
}

void aw_stt_session_destroy(struct aw_stt_session *s)
{
    if (!s)
        return;
    free(s->stream_id);
    free(s->language);
    free(s->endpoint);
    free(s->key);
    free(s->token);
    free(s);
}
