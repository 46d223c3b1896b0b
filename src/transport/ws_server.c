/*
 * airwave - a generic websocket server on the transport's lws context. See
 * ws_server.h for the contract.
 *
 * lws 4.1.6 details this relies on:
 *   - The vhost has one protocol, at index 0, which handles HTTP and
 *     websocket callbacks alike: lws binds an upgrade that names no
 *     subprotocol (the Azure SDK names none) to protocols[0], and sends
 *     LWS_CALLBACK_HTTP, LWS_CALLBACK_HTTP_CONFIRM_UPGRADE and
 *     LWS_CALLBACK_WSI_DESTROY to it as well.
 *   - Refusing an upgrade with a status: in HTTP_CONFIRM_UPGRADE the headers
 *     are still parsed, so the filter can read them; writing a complete
 *     HTTP response there (status line, content-type, content-length, body)
 *     and returning 1 tells lws the callback answered the request itself
 *     (returning -1 would only hang up).
 *   - Custom headers (X-ConnectionId, Ocp-Apim-Subscription-Key) are not
 *     lws tokens: lws_hdr_custom_copy() finds them by their lower-case name
 *     with the colon ("x-connectionid:"). Known headers (Authorization)
 *     only exist as tokens, so aw_ws_server_request_header() tries both.
 *   - Query arguments are stored URL-decoded, one "name=value" fragment
 *     each, under WSI_TOKEN_HTTP_URI_ARGS; lws_get_urlarg_by_name() matches
 *     names case-sensitively, so the fragments are walked here instead.
 *   - The per-connection object hangs off the wsi with
 *     lws_set_opaque_user_data() from the upgrade on: the same wsi carries
 *     the websocket afterwards.
 *   - Cross-thread requests (send, close, pause) are queued on the
 *     connection and the connection on the server's pending list; a wake
 *     handler on the service thread then calls lws_callback_on_writable() /
 *     lws_rx_flow_control() (the only lws calls allowed there).
 */
#include "transport/ws_server.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "airwave/clock.h"
#include "airwave/log.h"
#include "transport/transport_int.h"

#define MOD             "ws_server"
#define DEFAULT_MAX_MSG (65536 + 8192)
#define DEFAULT_MAX_Q   (1024 * 1024)
#define PATH_MAX_BYTES  1024
#define REASON_MAX      123
#define MAX_URI_ARGS    64

struct out_msg {
    struct out_msg *next;
    size_t len;
    bool binary;
    uint8_t buf[]; /* LWS_PRE bytes of headroom, then the payload */
};

struct conn_timer {
    lws_sorted_usec_list_t sul; /* first: the lws callback gets its address */
    struct aw_ws_server_conn *conn;
    unsigned id;
};

struct aw_ws_server_conn {
    struct aw_ws_server *srv;
    _Atomic int refs;
    char peer[64];
    void *user;
    _Atomic uint64_t last_activity_ms;

    /* Service thread only. */
    struct lws *wsi; /* NULL once the connection is gone */
    bool opened;
    bool in_message;
    bool rx_binary;
    bool rx_paused;
    uint8_t *rx;
    size_t rx_len, rx_cap;
    uint16_t peer_code;
    char peer_reason[REASON_MAX + 1];
    uint16_t sent_code;
    char sent_reason[REASON_MAX + 1];
    struct conn_timer timers[AW_WS_SERVER_CONN_TIMERS];
    struct aw_ws_server_conn *prev, *next; /* srv->conns */

    /* Shared: under lock. */
    pthread_mutex_t lock;
    struct out_msg *q_head, *q_tail;
    size_t q_bytes;
    bool close_req;
    uint16_t close_code;
    char close_reason[REASON_MAX + 1];
    bool want_rx_paused;
    bool gone;    /* closed: sends are refused */
    bool pending; /* on srv->pending */
    struct aw_ws_server_conn *pending_next;
    uint64_t dropped;
};

struct aw_ws_server {
    struct aw_transport *t;
    struct lws_vhost *vh;
    struct lws_protocols protocols[2];
    char *name;
    size_t max_msg;
    size_t max_q;
    struct aw_ws_server_ops ops;
    void *opaque;
    int port;
    _Atomic size_t nconns;
    struct aw_ws_server_conn *conns; /* service thread only */

    pthread_mutex_t lock; /* pending */
    struct aw_ws_server_conn *pending;
};

struct aw_ws_server_request {
    struct lws *wsi;
    const char *method; /* "GET" or "POST" */
    char path[PATH_MAX_BYTES];
    char peer[64];
};

/* ---- connections: lifetime ---------------------------------------------- */

void aw_ws_server_conn_ref(struct aw_ws_server_conn *conn)
{
    atomic_fetch_add(&conn->refs, 1);
}

static void free_queue(struct aw_ws_server_conn *c)
{
    struct out_msg *m = c->q_head, *next;

    for (; m; m = next) {
        next = m->next;
        free(m);
    }
    c->q_head = c->q_tail = NULL;
    c->q_bytes = 0;
}

void aw_ws_server_conn_unref(struct aw_ws_server_conn *conn)
{
    if (!conn || atomic_fetch_sub(&conn->refs, 1) != 1)
        return;
    free_queue(conn);
    free(conn->rx);
    pthread_mutex_destroy(&conn->lock);
    free(conn);
}

static struct aw_ws_server_conn *conn_new(struct aw_ws_server *srv,
                                          const char *peer)
{
    struct aw_ws_server_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->srv = srv;
    atomic_init(&c->refs, 1); /* the wsi's */
    pthread_mutex_init(&c->lock, NULL);
    aw_errstr_set(c->peer, sizeof(c->peer), "%s", peer);
    atomic_init(&c->last_activity_ms, aw_clock_mono_ms());
    for (unsigned i = 0; i < AW_WS_SERVER_CONN_TIMERS; i++) {
        c->timers[i].conn = c;
        c->timers[i].id = i;
    }
    return c;
}

static void touch(struct aw_ws_server_conn *c)
{
    atomic_store(&c->last_activity_ms, aw_clock_mono_ms());
}

/* Ask the service thread to look at \p c. Caller holds c->lock. */
static bool mark_pending_locked(struct aw_ws_server_conn *c)
{
    if (c->pending)
        return false;
    c->pending = true;
    aw_ws_server_conn_ref(c); /* held by the pending list */
    return true;
}

static void push_pending(struct aw_ws_server_conn *c)
{
    struct aw_ws_server *srv = c->srv;

    pthread_mutex_lock(&srv->lock);
    c->pending_next = srv->pending;
    srv->pending = c;
    pthread_mutex_unlock(&srv->lock);
    aw_transport_wake(srv->t);
}

/* The wsi is going away: detach, tell the user, drop the wsi's reference. */
static void conn_gone(struct aw_ws_server_conn *c, struct lws *wsi)
{
    struct aw_ws_server *srv = c->srv;
    uint16_t code = c->sent_code ? c->sent_code : c->peer_code;
    const char *reason = c->sent_code ? c->sent_reason : c->peer_reason;

    lws_set_opaque_user_data(wsi, NULL);
    for (unsigned i = 0; i < AW_WS_SERVER_CONN_TIMERS; i++)
        lws_sul_cancel(&c->timers[i].sul);
    pthread_mutex_lock(&c->lock);
    c->gone = true;
    free_queue(c);
    pthread_mutex_unlock(&c->lock);
    c->wsi = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else if (srv->conns == c)
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    atomic_fetch_sub(&srv->nconns, 1);
    if (c->opened) {
        if (!code)
            code = 1006; /* no close frame either way */
        if (srv->ops.on_close)
            srv->ops.on_close(srv->opaque, c, c->user, code, reason);
    } else if (srv->ops.on_abort) {
        srv->ops.on_abort(srv->opaque, c->user);
    }
    aw_ws_server_conn_unref(c);
}

/* ---- connections: API --------------------------------------------------- */

enum aw_err aw_ws_server_conn_send(struct aw_ws_server_conn *conn,
                                   const void *data, size_t len, bool binary)
{
    struct out_msg *m;
    bool push;

    m = malloc(sizeof(*m) + LWS_PRE + len);
    if (!m)
        return AW_ERR_NOMEM;
    m->next = NULL;
    m->len = len;
    m->binary = binary;
    memcpy(m->buf + LWS_PRE, data, len);

    pthread_mutex_lock(&conn->lock);
    if (conn->gone || conn->close_req) {
        pthread_mutex_unlock(&conn->lock);
        free(m);
        return AW_ERR_STOPPED;
    }
    if (conn->q_bytes + len > conn->srv->max_q) {
        conn->dropped++;
        pthread_mutex_unlock(&conn->lock);
        free(m);
        return AW_ERR_TOO_LARGE;
    }
    if (conn->q_tail)
        conn->q_tail->next = m;
    else
        conn->q_head = m;
    conn->q_tail = m;
    conn->q_bytes += len;
    push = mark_pending_locked(conn);
    pthread_mutex_unlock(&conn->lock);
    if (push)
        push_pending(conn);
    return AW_OK;
}

void aw_ws_server_conn_close(struct aw_ws_server_conn *conn, uint16_t code,
                             const char *reason)
{
    bool push = false;

    pthread_mutex_lock(&conn->lock);
    if (!conn->gone && !conn->close_req) {
        conn->close_req = true;
        conn->close_code = code;
        aw_errstr_set(conn->close_reason, sizeof(conn->close_reason), "%s",
                      reason ? reason : "");
        push = mark_pending_locked(conn);
    }
    pthread_mutex_unlock(&conn->lock);
    if (push)
        push_pending(conn);
}

void aw_ws_server_conn_pause_rx(struct aw_ws_server_conn *conn, bool pause)
{
    bool push;

    pthread_mutex_lock(&conn->lock);
    conn->want_rx_paused = pause;
    push = !conn->gone && mark_pending_locked(conn);
    pthread_mutex_unlock(&conn->lock);
    if (push)
        push_pending(conn);
}

static void conn_timer_fired(lws_sorted_usec_list_t *sul)
{
    struct conn_timer *tm = (struct conn_timer *)sul;
    struct aw_ws_server_conn *c = tm->conn;

    if (c->wsi && c->srv->ops.on_timer)
        c->srv->ops.on_timer(c->srv->opaque, c, c->user, tm->id);
}

void aw_ws_server_conn_timer(struct aw_ws_server_conn *conn, unsigned id,
                             uint64_t delay_ms)
{
    struct lws_context *ctx;

    if (id >= AW_WS_SERVER_CONN_TIMERS || !conn->wsi)
        return;
    ctx = lws_get_context(conn->wsi);
    if (!delay_ms) {
        lws_sul_cancel(&conn->timers[id].sul);
        return;
    }
    lws_sul_schedule(ctx, 0, &conn->timers[id].sul, conn_timer_fired,
                     (lws_usec_t)delay_ms * LWS_US_PER_MS);
}

const char *aw_ws_server_conn_peer(const struct aw_ws_server_conn *conn)
{
    return conn->peer;
}

uint64_t
aw_ws_server_conn_last_activity_ms(const struct aw_ws_server_conn *conn)
{
    return atomic_load(&((struct aw_ws_server_conn *)conn)->last_activity_ms);
}

uint64_t aw_ws_server_conn_dropped(const struct aw_ws_server_conn *conn)
{
    struct aw_ws_server_conn *c = (struct aw_ws_server_conn *)conn;
    uint64_t n;

    pthread_mutex_lock(&c->lock);
    n = c->dropped;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* ---- the service thread's side of the pending requests ------------------ */

static void apply_rx_flow(struct aw_ws_server_conn *c, bool paused,
                          bool outside)
{
    int how;

    if (!c->wsi || c->rx_paused == paused)
        return;
    c->rx_paused = paused;
    if (!outside) {
        lws_rx_flow_control(c->wsi, !paused);
        return;
    }
    /* Outside the wsi's own callbacks the change must be applied now. */
    how = LWS_RXFLOW_REASON_USER_BOOL | LWS_RXFLOW_REASON_FLAG_PROCESS_NOW |
          (paused ? LWS_RXFLOW_REASON_APPLIES_DISABLE
                  : LWS_RXFLOW_REASON_APPLIES_ENABLE);
    lws_rx_flow_control(c->wsi, how);
}

static void service_pending(void *opaque)
{
    struct aw_ws_server *srv = opaque;
    struct aw_ws_server_conn *c, *next;

    pthread_mutex_lock(&srv->lock);
    c = srv->pending;
    srv->pending = NULL;
    pthread_mutex_unlock(&srv->lock);

    for (; c; c = next) {
        bool want_write, paused;

        next = c->pending_next;
        pthread_mutex_lock(&c->lock);
        c->pending = false;
        c->pending_next = NULL;
        want_write = c->q_head || c->close_req;
        paused = c->want_rx_paused;
        pthread_mutex_unlock(&c->lock);
        if (c->wsi) {
            apply_rx_flow(c, paused, true);
            if (want_write)
                lws_callback_on_writable(c->wsi);
        }
        aw_ws_server_conn_unref(c);
    }
}

/* ---- HTTP answers ------------------------------------------------------- */

static int http_reply(struct lws *wsi, unsigned status, const char *ctype,
                      const char *body)
{
    size_t blen = body ? strlen(body) : 0;
    uint8_t hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start;
    uint8_t *end = hdr + sizeof(hdr) - 1;
    uint8_t *buf;
    int rc = -1;

    if (lws_add_http_common_headers(wsi, status, ctype ? ctype : "text/plain",
                                    (lws_filepos_t)blen, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (!blen)
        return 0;
    buf = malloc(LWS_PRE + blen);
    if (!buf)
        return -1;
    /* A body, not a string: no terminator.
     * NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
    memcpy(buf + LWS_PRE, body, blen);
    if (lws_write(wsi, buf + LWS_PRE, blen, LWS_WRITE_HTTP_FINAL) == (int)blen)
        rc = 0;
    free(buf);
    return rc;
}

/* ---- the upgrade request ------------------------------------------------ */

const char *aw_ws_server_request_path(const struct aw_ws_server_request *req)
{
    return req->path;
}

const char *aw_ws_server_request_peer(const struct aw_ws_server_request *req)
{
    return req->peer;
}

const char *aw_ws_server_request_method(const struct aw_ws_server_request *req)
{
    return req->method ? req->method : "GET";
}

enum aw_err aw_ws_server_request_header(const struct aw_ws_server_request *req,
                                        const char *name, char *buf, size_t cap)
{
    char key[128];
    size_t n = strlen(name);
    int len;

    if (!cap || n + 2 > sizeof(key))
        return AW_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        key[i] = (char)tolower((unsigned char)name[i]);
    key[n] = ':';
    key[n + 1] = '\0';

    /* A header lws knows lives under its token... */
    for (int tok = 0; tok < (int)WSI_TOKEN_COUNT; tok++) {
        const unsigned char *s = lws_token_to_string(tok);

        if (!s || strcmp((const char *)s, key) != 0)
            continue;
        len = lws_hdr_total_length(req->wsi, tok);
        if (len <= 0)
            return AW_ERR_NOT_FOUND;
        if ((size_t)len >= cap)
            return AW_ERR_TOO_LARGE;
        if (lws_hdr_copy(req->wsi, buf, (int)cap, tok) < 0)
            return AW_ERR_TOO_LARGE;
        return AW_OK;
    }
    /* ...any other is a custom header, stored by its lower-case name. */
    len = lws_hdr_custom_length(req->wsi, key, (int)n + 1);
    if (len < 0)
        return AW_ERR_NOT_FOUND;
    if ((size_t)len >= cap)
        return AW_ERR_TOO_LARGE;
    if (lws_hdr_custom_copy(req->wsi, buf, (int)cap, key, (int)n + 1) < 0)
        return AW_ERR_TOO_LARGE;
    return AW_OK;
}

enum aw_err aw_ws_server_request_query(const struct aw_ws_server_request *req,
                                       const char *name, char *buf, size_t cap)
{
    size_t nlen = strlen(name);
    char *frag = NULL;
    size_t frag_cap = 0;
    enum aw_err err = AW_ERR_NOT_FOUND;

    for (int i = 0; i < MAX_URI_ARGS; i++) {
        int flen =
            lws_hdr_fragment_length(req->wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        size_t vlen;

        if (flen <= 0)
            continue;
        if ((size_t)flen + 1 > frag_cap) {
            char *p = realloc(frag, (size_t)flen + 1);

            if (!p) {
                err = AW_ERR_NOMEM;
                break;
            }
            frag = p;
            frag_cap = (size_t)flen + 1;
        }
        if (lws_hdr_copy_fragment(req->wsi, frag, (int)frag_cap,
                                  WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
            continue;
        if (strncasecmp(frag, name, nlen) != 0 || frag[nlen] != '=')
            continue;
        vlen = strlen(frag + nlen + 1);
        if (vlen >= cap) {
            err = AW_ERR_TOO_LARGE;
            break;
        }
        memcpy(buf, frag + nlen + 1, vlen + 1);
        err = AW_OK;
        break;
    }
    free(frag);
    return err;
}

/* ---- lws callbacks ------------------------------------------------------ */

static int on_confirm_upgrade(struct aw_ws_server *srv, struct lws *wsi,
                              const char *upgrade)
{
    struct aw_ws_server_request req;
    struct aw_ws_server_conn *c;
    const char *body = NULL;
    void *user = NULL;
    int status;

    if (!upgrade || strcasecmp(upgrade, "websocket") != 0)
        return -1; /* h2c and the like: not here */
    memset(&req, 0, sizeof(req));
    req.wsi = wsi;
    lws_get_peer_simple(wsi, req.peer, sizeof(req.peer));
    if (lws_hdr_copy(wsi, req.path, sizeof(req.path), WSI_TOKEN_GET_URI) <= 0) {
        status = 400;
        body = "Websocket upgrades use GET.";
        goto refuse;
    }
    status = srv->ops.on_upgrade(srv->opaque, &req, &user, &body);
    if (status)
        goto refuse;
    c = conn_new(srv, req.peer);
    if (!c) {
        status = 503;
        body = "Out of memory.";
        if (srv->ops.on_abort)
            srv->ops.on_abort(srv->opaque, user);
        goto refuse;
    }
    c->user = user;
    c->wsi = wsi;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    atomic_fetch_add(&srv->nconns, 1);
    lws_set_opaque_user_data(wsi, c);
    return 0;

refuse:
    AW_DEBUG(MOD, srv->name, "upgrade %s from %s refused: %d %s", req.path,
             req.peer, status, body ? body : "");
    if (http_reply(wsi, (unsigned)status, "text/plain", body))
        return -1;
    return 1; /* answered: lws completes the transaction */
}

static int deliver_rx(struct aw_ws_server *srv, struct aw_ws_server_conn *c,
                      const void *in, size_t len)
{
    bool close_req;

    touch(c);
    if (!c->in_message) {
        c->in_message = true;
        c->rx_len = 0;
        c->rx_binary = lws_frame_is_binary(c->wsi);
    }
    if (len > srv->max_msg - c->rx_len) {
        unsigned char why[] = "Message too big.";

        c->sent_code = 1009;
        aw_errstr_set(c->sent_reason, sizeof(c->sent_reason), "%s", why);
        lws_close_reason(c->wsi, 1009, why, sizeof(why) - 1);
        return -1;
    }
    if (c->rx_len + len > c->rx_cap) {
        size_t cap = c->rx_cap ? c->rx_cap : 4096;
        uint8_t *p;

        while (cap < c->rx_len + len)
            cap *= 2;
        if (cap > srv->max_msg)
            cap = srv->max_msg;
        p = realloc(c->rx, cap ? cap : 1);
        if (!p)
            return -1;
        c->rx = p;
        c->rx_cap = cap;
    }
    if (len)
        memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (!lws_is_final_fragment(c->wsi) || lws_remaining_packet_payload(c->wsi))
        return 0;
    c->in_message = false;
    pthread_mutex_lock(&c->lock);
    close_req = c->close_req;
    pthread_mutex_unlock(&c->lock);
    if (!close_req && srv->ops.on_message)
        srv->ops.on_message(srv->opaque, c, c->user, c->rx, c->rx_len,
                            c->rx_binary);
    return 0;
}

static int on_writeable(struct aw_ws_server_conn *c)
{
    struct out_msg *m;
    bool more, close_req;
    uint16_t code = 0;
    char reason[REASON_MAX + 1];
    int n;

    /* The close frame is out and lws awaits the peer's: asking to close a
     * second time would make it drop the socket at once (and the peer,
     * whose unread data the kernel then resets, would see 1006). */
    if (c->sent_code)
        return 0;
    pthread_mutex_lock(&c->lock);
    m = c->q_head;
    if (m) {
        c->q_head = m->next;
        if (!c->q_head)
            c->q_tail = NULL;
        c->q_bytes -= m->len;
    }
    more = c->q_head != NULL;
    close_req = c->close_req;
    if (close_req && !m) {
        code = c->close_code;
        memcpy(reason, c->close_reason, sizeof(reason));
    }
    pthread_mutex_unlock(&c->lock);

    if (m) {
        n = lws_write(c->wsi, m->buf + LWS_PRE, m->len,
                      m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
        free(m);
        if (n < 0)
            return -1;
        touch(c);
        if (more || close_req)
            lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (close_req) {
        c->sent_code = code;
        memcpy(c->sent_reason, reason, sizeof(c->sent_reason));
        lws_close_reason(c->wsi, (enum lws_close_status)code,
                         (unsigned char *)reason, strlen(reason));
        return -1;
    }
    return 0;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
                       void *user, void *in, size_t len)
{
    struct aw_ws_server *srv = lws_get_vhost_user(lws_get_vhost(wsi));
    struct aw_ws_server_conn *c = lws_get_opaque_user_data(wsi);

    (void)user;
    if (!srv)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        const char *ctype = "text/plain", *body = "Not found.";
        struct aw_ws_server_request req;
        int status = 404;
        char clen[24] = "";

        memset(&req, 0, sizeof(req));
        req.wsi = wsi;
        req.method =
            lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) ? "POST" : "GET";
        aw_errstr_set(req.path, sizeof(req.path), "%s",
                      in ? (const char *)in : "");
        lws_get_peer_simple(wsi, req.peer, sizeof(req.peer));
        lws_hdr_copy(wsi, clen, sizeof(clen), WSI_TOKEN_HTTP_CONTENT_LENGTH);
        if (!strcmp(req.method, "POST") && clen[0] && strcmp(clen, "0")) {
            /* Nothing served here takes a request body. */
            status = 413;
            body = "Request bodies are not accepted.";
        } else if (srv->ops.on_http) {
            status = srv->ops.on_http(srv->opaque, &req, &ctype, &body);
        }
        if (http_reply(wsi, (unsigned)status, ctype, body))
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return on_confirm_upgrade(srv, wsi, in);

    case LWS_CALLBACK_ESTABLISHED:
        if (!c)
            return -1;
        c->opened = true;
        aw_transport_bound_sockbuf(wsi, SO_RCVBUF, AW_TRANSPORT_AUDIO_SOCKBUF);
        touch(c);
        if (srv->ops.on_open)
            srv->ops.on_open(srv->opaque, c, c->user);
        return 0;

    case LWS_CALLBACK_RECEIVE:
        if (!c || !c->wsi)
            return -1;
        return deliver_rx(srv, c, in, len);

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!c || !c->wsi)
            return -1;
        return on_writeable(c);

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c && len >= 2) {
            const uint8_t *p = in;
            size_t rlen = len - 2;

            c->peer_code = (uint16_t)(p[0] << 8 | p[1]);
            if (rlen > REASON_MAX)
                rlen = REASON_MAX;
            memcpy(c->peer_reason, p + 2, rlen);
            c->peer_reason[rlen] = '\0';
        } else if (c) {
            c->peer_code = 1005; /* a close frame without a code */
        }
        return 0;

    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        if (c)
            conn_gone(c, wsi);
        return 0;

    default:
        return 0;
    }
}

/* ---- the server --------------------------------------------------------- */

struct aw_ws_server *aw_ws_server_new(struct aw_transport *t,
                                      const struct aw_ws_server_opts *opts,
                                      const struct aw_ws_server_ops *ops,
                                      void *opaque, char *errstr,
                                      size_t errstr_size)
{
    struct aw_transport_vhost_opts vo = {0};
    struct aw_ws_server *srv;

    srv = calloc(1, sizeof(*srv));
    if (!srv) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&srv->lock, NULL);
    srv->t = t;
    srv->name = strdup(opts->name ? opts->name : "ws");
    srv->max_msg =
        opts->max_message_bytes ? opts->max_message_bytes : DEFAULT_MAX_MSG;
    srv->max_q = opts->max_queue_bytes ? opts->max_queue_bytes : DEFAULT_MAX_Q;
    srv->ops = *ops;
    srv->opaque = opaque;
    if (!srv->name) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        goto fail;
    }
    srv->protocols[0].name = srv->name;
    srv->protocols[0].callback = ws_callback;
    srv->protocols[0].rx_buffer_size = 0;

    if (aw_transport_on_wake(t, service_pending, srv)) {
        aw_errstr_set(errstr, errstr_size, "too many transport modules");
        goto fail;
    }
    vo.name = srv->name;
    vo.host = opts->host && *opts->host ? opts->host : NULL;
    vo.port = opts->port;
    vo.tls_cert = opts->tls_cert;
    vo.tls_key = opts->tls_key;
    vo.protocols = srv->protocols;
    vo.user = srv;
    srv->vh = aw_transport_vhost_new(t, &vo, errstr, errstr_size);
    if (!srv->vh)
        goto fail;
    srv->port = lws_get_vhost_listen_port(srv->vh);
    return srv;

fail:
    aw_ws_server_destroy(srv);
    return NULL;
}

int aw_ws_server_port(const struct aw_ws_server *srv)
{
    return srv->port;
}

size_t aw_ws_server_count(const struct aw_ws_server *srv)
{
    return atomic_load(&((struct aw_ws_server *)srv)->nconns);
}

void aw_ws_server_close_all(struct aw_ws_server *srv, uint16_t code,
                            const char *reason)
{
    for (struct aw_ws_server_conn *c = srv->conns; c; c = c->next) {
        if (!c->opened) {
            /* Still in the handshake: just hang up. */
            continue;
        }
        aw_ws_server_conn_close(c, code, reason);
    }
}

void aw_ws_server_destroy(struct aw_ws_server *srv)
{
    struct aw_ws_server_conn *c, *next;

    if (!srv)
        return;
    /* Requests queued after the loop stopped: drop their references. */
    for (c = srv->pending; c; c = next) {
        next = c->pending_next;
        aw_ws_server_conn_unref(c);
    }
    pthread_mutex_destroy(&srv->lock);
    free(srv->name);
    free(srv);
}
