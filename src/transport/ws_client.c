/*
 * airwave - websocket client connections. See ws_client.h.
 *
 * Lifetime: the struct aw_ws_conn is the wsi's user data. It is reported
 * closed exactly once (CLIENT_CONNECTION_ERROR or CLIENT_CLOSED, else at
 * WSI_DESTROY) and freed at WSI_DESTROY. lws may run the error callback
 * from inside lws_client_connect_via_info(); while that call is in progress
 * the connection only records what happened and aw_ws_connect() sorts it
 * out afterwards.
 */
#include "transport/ws_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "airwave/log.h"
#include "common/buf.h"
#include "transport/transport_int.h"

#define MOD             "ws-client"
#define MAX_HEADERS     8
#define DEFAULT_MAX_MSG (1024 * 1024)
#define DEFAULT_FRAME   (16 * 1024)
#define SYSTEM_CA       "/etc/ssl/certs/ca-certificates.crt"

struct aw_ws_client {
    struct aw_transport *t;
    struct lws_vhost *vh;
    size_t max_message_bytes;
    size_t max_frame_bytes;
    bool tls_verify;
};

/* lws sends WSI_DESTROY of every wsi to protocols[0] (the websocket one),
 * whichever protocol the wsi had: the first member of both kinds of user
 * data says which it is. */
enum user_kind {
    KIND_WS = 0x61770001,
    KIND_HTTP = 0x61770002,
};

struct aw_ws_conn {
    enum user_kind kind; /* KIND_WS; first */
    struct aw_ws_client *c;
    struct lws *wsi;
    struct aw_ws_conn_cbs cbs;
    void *opaque;
    char *url; /* parsed in place: address and path point into it */
    char *path;
    char *hdr_names[MAX_HEADERS];
    char *hdr_values[MAX_HEADERS];
    size_t nhdrs;
    struct aw_buf rx;
    bool rx_binary;
    bool rx_dropping; /* an oversized message is being discarded */
    uint8_t *tx;      /* LWS_PRE + max frame */
    bool open;
    bool reported;
    bool saved;      /* a failure seen inside connect, reported later */
    bool in_connect; /* inside lws_client_connect_via_info() */
    bool destroyed;  /* WSI_DESTROY seen during in_connect */
    int close_code;  /* ours to send, or the peer's */
    char close_reason[124];
    bool close_pending; /* ours: send at the next writable */
    bool peer_closed;
    char error[160]; /* the saved failure */
    enum aw_err error_code;
    int error_close_code;
    int http_status;
};

static void conn_free(struct aw_ws_conn *conn)
{
    if (!conn)
        return;
    for (size_t i = 0; i < conn->nhdrs; i++) {
        free(conn->hdr_names[i]);
        free(conn->hdr_values[i]);
    }
    aw_buf_fini(&conn->rx);
    free(conn->tx);
    free(conn->url);
    free(conn->path);
    free(conn);
}

static void report(struct aw_ws_conn *conn, int close_code, int http_status,
                   enum aw_err err, const char *detail)
{
    if (conn->reported)
        return;
    if (conn->in_connect) {
        /* Never call the owner from inside aw_ws_connect(): keep it for
         * aw_ws_connect()'s error text or for WSI_DESTROY. */
        if (!conn->saved) {
            conn->saved = true;
            aw_errstr_set(conn->error, sizeof(conn->error), "%s", detail);
            conn->error_code = err;
            conn->error_close_code = close_code;
            conn->http_status = http_status;
        }
        return;
    }
    conn->reported = true;
    if (conn->cbs.on_close)
        conn->cbs.on_close(conn->opaque, close_code, http_status, err, detail);
}

/* What CLIENT_CONNECTION_ERROR means, in our terms. */
static enum aw_err classify_error(int http_status)
{
    if (http_status == 401 || http_status == 403)
        return AW_ERR_AUTH;
    if (http_status == 429 || http_status == 503)
        return AW_ERR_BUSY;
    if (http_status >= 400 && http_status < 500)
        return AW_ERR_REFUSED;
    return AW_ERR_NET;
}

static void on_connection_error(struct aw_ws_conn *conn, const char *in,
                                size_t len)
{
    char why[160], detail[320];
    int status = 0;

    snprintf(why, sizeof(why), "%.*s", in ? (int)len : 0, in ? in : "");
    if (conn->wsi)
        status = (int)lws_http_client_http_response(conn->wsi);
    if (status && status != 101) {
        snprintf(detail, sizeof(detail), "%s", why);
        report(conn, 0, status, classify_error(status), detail);
        return;
    }
    if (conn->close_pending) {
        report(conn, 0, 0, AW_ERR_STOPPED, conn->close_reason);
        return;
    }
    /* lws names the TLS step but not OpenSSL's verdict; the likely cause
     * and the fix are worth a line of their own. */
    if (strstr(why, "SSL") || strstr(why, "ssl") || strstr(why, "tls"))
        snprintf(detail, sizeof(detail),
                 "TLS handshake failed (server certificate not trusted? "
                 "speech.ca_file names a CA to trust): %s",
                 why);
    else
        snprintf(detail, sizeof(detail), "%s",
                 why[0] ? why : "connection failed");
    report(conn, 0, 0, classify_error(0), detail);
}

static void on_receive(struct aw_ws_conn *conn, const void *in, size_t len)
{
    struct lws *wsi = conn->wsi;
    enum aw_err err;

    if (lws_is_first_fragment(wsi)) {
        aw_buf_reset(&conn->rx);
        conn->rx_binary = lws_frame_is_binary(wsi);
        conn->rx_dropping = false;
    }
    if (conn->rx_dropping)
        return;
    err = aw_buf_append(&conn->rx, in, len);
    if (err) {
        AW_WARN(MOD, NULL, "message larger than %zu bytes from %s: closing",
                conn->c->max_message_bytes, conn->url);
        conn->rx_dropping = true;
        aw_ws_conn_close(conn, 1009, "message too big");
        return;
    }
    if (!lws_is_final_fragment(wsi))
        return;
    if (conn->cbs.on_message)
        conn->cbs.on_message(conn->opaque, (const uint8_t *)conn->rx.data,
                             conn->rx.len, conn->rx_binary);
    aw_buf_reset(&conn->rx);
}

static int on_writable(struct aw_ws_conn *conn)
{
    size_t len = 0;
    bool binary = false;
    enum aw_err err;
    int n;

    if (conn->close_pending) {
        lws_close_reason(conn->wsi, (enum lws_close_status)conn->close_code,
                         (unsigned char *)conn->close_reason,
                         strlen(conn->close_reason));
        return -1;
    }
    if (!conn->cbs.on_writable)
        return 0;
    err = conn->cbs.on_writable(conn->opaque, conn->tx + LWS_PRE,
                                conn->c->max_frame_bytes, &len, &binary);
    if (err == AW_ERR_AGAIN || (!err && !len))
        return 0;
    if (err) {
        AW_ERROR(MOD, NULL, "cannot build a frame: %s", aw_err_str(err));
        aw_ws_conn_close(conn, 1011, "client error");
        return 0;
    }
    n = lws_write(conn->wsi, conn->tx + LWS_PRE, len,
                  binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    if (n < (int)len)
        return -1; /* the socket is gone; CLIENT_CLOSED follows */
    /* One write per callback: ask for the next chance. The owner says
     * AW_ERR_AGAIN when it has nothing, which ends the chain. */
    lws_callback_on_writable(conn->wsi);
    return 0;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len);

static int client_callback(struct lws *wsi, enum lws_callback_reasons reason,
                           void *user, void *in, size_t len)
{
    struct aw_ws_conn *conn = user;

    if (conn && conn->kind == KIND_HTTP)
        return http_callback(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = in, *end = *p + len;

        if (!conn)
            return 0;
        for (size_t i = 0; i < conn->nhdrs; i++) {
            char name[128];

            /* lws wants the colon in the name. */
            snprintf(name, sizeof(name), "%s:", conn->hdr_names[i]);
            if (lws_add_http_header_by_name(
                    wsi, (const unsigned char *)name,
                    (const unsigned char *)conn->hdr_values[i],
                    (int)strlen(conn->hdr_values[i]), p, end))
                return -1;
        }
        return 0;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (conn) {
            conn->wsi = wsi;
            on_connection_error(conn, in, len);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!conn)
            return -1;
        conn->wsi = wsi;
        conn->open = true;
        aw_transport_bound_sockbuf(wsi, SO_SNDBUF, AW_TRANSPORT_AUDIO_SOCKBUF);
        if (conn->close_pending) {
            lws_callback_on_writable(wsi);
            return 0;
        }
        if (conn->cbs.on_open)
            conn->cbs.on_open(conn->opaque);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (conn && !conn->close_pending)
            on_receive(conn, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return conn ? on_writable(conn) : 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (conn) {
            const unsigned char *b = in;

            conn->peer_closed = true;
            conn->close_code = len >= 2 ? b[0] << 8 | b[1] : 1005;
            snprintf(conn->close_reason, sizeof(conn->close_reason), "%.*s",
                     len > 2 ? (int)(len - 2) : 0,
                     len > 2 ? (const char *)b + 2 : "");
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (!conn)
            return 0;
        if (conn->peer_closed)
            report(conn, conn->close_code, 0, AW_OK, conn->close_reason);
        else if (conn->close_pending)
            report(conn, conn->close_code, 0, AW_OK, conn->close_reason);
        else
            report(conn, 1006, 0, AW_ERR_NET,
                   "connection closed without a close frame");
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (!conn)
            return 0;
        if (conn->saved)
            report(conn, conn->error_close_code, conn->http_status,
                   conn->error_code, conn->error);
        else
            report(conn, conn->open ? 1006 : 0, 0, AW_ERR_NET,
                   "connection lost");
        conn->wsi = NULL;
        if (conn->in_connect)
            conn->destroyed = true;
        else
            conn_free(conn);
        return 0;
    default:
        return 0;
    }
}

/* ---- HTTP requests (the token endpoint) ------------------------------- */

struct aw_http_req {
    enum user_kind kind; /* KIND_HTTP; first */
    aw_http_done_fn done;
    void *opaque;
    char *url; /* parsed in place */
    char *path;
    char *hdr_names[MAX_HEADERS];
    char *hdr_values[MAX_HEADERS];
    size_t nhdrs;
    struct aw_buf body;
    int status;
    bool reported;
    bool too_large;
    bool in_connect;
    bool destroyed;
    char error[160];
};

static void req_free(struct aw_http_req *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nhdrs; i++) {
        free(r->hdr_names[i]);
        free(r->hdr_values[i]);
    }
    aw_buf_fini(&r->body);
    free(r->url);
    free(r->path);
    free(r);
}

static void req_report(struct aw_http_req *r, enum aw_err err,
                       const char *detail)
{
    if (r->reported)
        return;
    if (r->in_connect) {
        /* aw_http_post() reports this itself. */
        aw_errstr_set(r->error, sizeof(r->error), "%s", detail);
        return;
    }
    r->reported = true;
    r->done(r->opaque, r->status, r->body.data ? r->body.data : "", r->body.len,
            err, detail);
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len)
{
    struct aw_http_req *r = user;

    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = in, *end = *p + len;

        if (!r)
            return 0;
        for (size_t i = 0; i < r->nhdrs; i++) {
            char name[128];

            snprintf(name, sizeof(name), "%s:", r->hdr_names[i]);
            if (lws_add_http_header_by_name(
                    wsi, (const unsigned char *)name,
                    (const unsigned char *)r->hdr_values[i],
                    (int)strlen(r->hdr_values[i]), p, end))
                return -1;
        }
        /* An empty body, said so: token endpoints require the header. */
        if (lws_add_http_header_content_length(wsi, 0, p, end))
            return -1;
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        if (r)
            r->status = (int)lws_http_client_http_response(wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
        char buf[LWS_PRE + 1024], *px = buf + LWS_PRE;
        int lenx = (int)sizeof(buf) - LWS_PRE;

        return lws_http_client_read(wsi, &px, &lenx) < 0 ? -1 : 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        if (r && !r->too_large && aw_buf_append(&r->body, in, len))
            r->too_large = true;
        return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        if (r) {
            if (r->too_large)
                req_report(r, AW_ERR_TOO_LARGE, "response too large");
            else
                req_report(r, AW_OK, "");
        }
        return -1; /* one request per connection: done with it */
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (r) {
            char why[160];

            r->status = (int)lws_http_client_http_response(wsi);
            snprintf(why, sizeof(why), "%.*s", in ? (int)len : 0,
                     in ? (const char *)in : "");
            req_report(r, r->status ? AW_OK : AW_ERR_NET,
                       why[0] ? why : "connection failed");
        }
        return 0;
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        if (r)
            req_report(r, r->status ? AW_OK : AW_ERR_NET,
                       "connection closed before the response ended");
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (!r)
            return 0;
        req_report(r, AW_ERR_NET, r->error[0] ? r->error : "connection lost");
        if (r->in_connect)
            r->destroyed = true;
        else
            req_free(r);
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols client_protocols[] = {
    {"aw-ws-client", client_callback, 0, 0, 0, NULL, 0},
    {"aw-http-client", http_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

enum aw_err aw_http_post(struct aw_ws_client *c, const char *url,
                         const struct aw_ws_header *hdrs, size_t nhdrs,
                         size_t max_body, aw_http_done_fn done, void *opaque,
                         char *errstr, size_t errstr_size)
{
    struct lws_client_connect_info ci;
    struct aw_http_req *r;
    const char *prot, *address, *path;
    struct lws *wsi;
    size_t plen;
    int port;

    if (nhdrs > MAX_HEADERS) {
        aw_errstr_set(errstr, errstr_size, "too many headers");
        return AW_ERR_INVAL;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        goto nomem;
    r->kind = KIND_HTTP;
    r->done = done;
    r->opaque = opaque;
    aw_buf_init(&r->body, max_body);
    r->url = strdup(url);
    if (!r->url)
        goto nomem;
    for (size_t i = 0; i < nhdrs; i++) {
        r->hdr_names[i] = strdup(hdrs[i].name);
        r->hdr_values[i] = strdup(hdrs[i].value);
        r->nhdrs++;
        if (!r->hdr_names[i] || !r->hdr_values[i])
            goto nomem;
    }
    if (lws_parse_uri(r->url, &prot, &address, &port, &path) ||
        (strcmp(prot, "http") && strcmp(prot, "https")) || !*address) {
        aw_errstr_set(errstr, errstr_size, "not an http:// or https:// URL");
        req_free(r);
        return AW_ERR_INVAL;
    }
    plen = strlen(path) + 2;
    r->path = malloc(plen);
    if (!r->path)
        goto nomem;
    snprintf(r->path, plen, "/%s", path);

    memset(&ci, 0, sizeof(ci));
    ci.context = aw_transport_lws(c->t);
    ci.vhost = c->vh;
    ci.address = address;
    ci.port = port;
    ci.path = r->path;
    ci.host = address;
    ci.origin = address;
    ci.method = "POST";
    ci.local_protocol_name = "aw-http-client";
    ci.userdata = r;
    ci.alpn = "http/1.1";
    if (!strcmp(prot, "https")) {
        ci.ssl_connection = LCCSCF_USE_SSL;
        if (!c->tls_verify)
            ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
                                 LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                 LCCSCF_ALLOW_EXPIRED;
    }
    r->in_connect = true;
    wsi = lws_client_connect_via_info(&ci);
    r->in_connect = false;
    if (!wsi || r->destroyed) {
        aw_errstr_set(errstr, errstr_size, "cannot connect to %s:%d: %s",
                      address, port,
                      r->error[0] ? r->error : "connection failed");
        if (!r->destroyed && wsi) {
            r->reported = true;
            lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            return AW_ERR_NET;
        }
        req_free(r);
        return AW_ERR_NET;
    }
    return AW_OK;

nomem:
    aw_errstr_set(errstr, errstr_size, "out of memory");
    req_free(r);
    return AW_ERR_NOMEM;
}

struct aw_ws_client *aw_ws_client_new(struct aw_transport *t,
                                      const struct aw_ws_client_opts *o,
                                      char *errstr, size_t errstr_size)
{
    struct lws_context_creation_info info;
    struct aw_ws_client *c;

    if (o->ca_file && access(o->ca_file, R_OK)) {
        aw_errstr_set(errstr, errstr_size, "cannot read CA file %s",
                      o->ca_file);
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    c->t = t;
    c->tls_verify = o->tls_verify;
    c->max_message_bytes =
        o->max_message_bytes ? o->max_message_bytes : DEFAULT_MAX_MSG;
    c->max_frame_bytes =
        o->max_frame_bytes ? o->max_frame_bytes : DEFAULT_FRAME;
    memset(&info, 0, sizeof(info));
    info.vhost_name = "aw-ws-client";
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = client_protocols;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    /* Without a bundle of its own, lws would look in a path that is not
     * Debian's: name the system bundle when it exists. */
    if (o->ca_file)
        info.client_ssl_ca_filepath = o->ca_file;
    else if (!access(SYSTEM_CA, R_OK))
        info.client_ssl_ca_filepath = SYSTEM_CA;
    c->vh = lws_create_vhost(aw_transport_lws(t), &info);
    if (!c->vh) {
        aw_errstr_set(errstr, errstr_size,
                      "cannot set up websocket client (TLS settings?)");
        free(c);
        return NULL;
    }
    return c;
}

void aw_ws_client_destroy(struct aw_ws_client *c)
{
    /* The vhost goes with the lws context (aw_transport_stop). */
    free(c);
}

static int set_header(struct aw_ws_conn *conn, const char *name,
                      const char *value)
{
    if (conn->nhdrs == MAX_HEADERS)
        return -1;
    conn->hdr_names[conn->nhdrs] = strdup(name);
    conn->hdr_values[conn->nhdrs] = strdup(value);
    if (!conn->hdr_names[conn->nhdrs] || !conn->hdr_values[conn->nhdrs]) {
        free(conn->hdr_names[conn->nhdrs]);
        free(conn->hdr_values[conn->nhdrs]);
        return -1;
    }
    conn->nhdrs++;
    return 0;
}

struct aw_ws_conn *aw_ws_connect(struct aw_ws_client *c, const char *url,
                                 const struct aw_ws_header *hdrs, size_t nhdrs,
                                 const struct aw_ws_conn_cbs *cbs, void *opaque,
                                 char *errstr, size_t errstr_size)
{
    struct lws_client_connect_info ci;
    struct aw_ws_conn *conn;
    const char *prot, *address, *path;
    struct lws *wsi;
    int port;
    size_t plen;

    conn = calloc(1, sizeof(*conn));
    if (!conn) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    conn->kind = KIND_WS;
    conn->c = c;
    conn->cbs = *cbs;
    conn->opaque = opaque;
    aw_buf_init(&conn->rx, c->max_message_bytes);
    conn->tx = malloc(LWS_PRE + c->max_frame_bytes);
    conn->url = strdup(url);
    if (!conn->tx || !conn->url)
        goto nomem;
    for (size_t i = 0; i < nhdrs; i++)
        if (set_header(conn, hdrs[i].name, hdrs[i].value))
            goto nomem;
    if (lws_parse_uri(conn->url, &prot, &address, &port, &path) ||
        (strcmp(prot, "ws") && strcmp(prot, "wss")) || !*address) {
        aw_errstr_set(errstr, errstr_size, "not a ws:// or wss:// URL: %s",
                      url);
        conn_free(conn);
        return NULL;
    }
    /* lws_parse_uri drops the path's leading slash. */
    plen = strlen(path) + 2;
    conn->path = malloc(plen);
    if (!conn->path)
        goto nomem;
    snprintf(conn->path, plen, "/%s", path);

    memset(&ci, 0, sizeof(ci));
    ci.context = aw_transport_lws(c->t);
    ci.vhost = c->vh;
    ci.address = address;
    ci.port = port;
    ci.path = conn->path;
    ci.host = address; /* the Host header, and the TLS SNI name */
    ci.origin = address;
    ci.local_protocol_name = client_protocols[0].name;
    ci.userdata = conn;
    ci.pwsi = &conn->wsi;
    if (!strcmp(prot, "wss")) {
        ci.ssl_connection = LCCSCF_USE_SSL;
        if (!c->tls_verify)
            ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
                                 LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                 LCCSCF_ALLOW_EXPIRED;
    }
    conn->in_connect = true;
    wsi = lws_client_connect_via_info(&ci);
    conn->in_connect = false;
    if (!wsi || conn->destroyed) {
        aw_errstr_set(errstr, errstr_size, "cannot connect to %s:%d: %s",
                      address, port,
                      conn->saved ? conn->error : "connection failed");
        if (!conn->destroyed && conn->wsi) {
            /* lws still holds it: let it die, freeing us at destroy,
             * without a report the caller does not expect. */
            conn->reported = true;
            lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK,
                            LWS_TO_KILL_ASYNC);
            return NULL;
        }
        conn_free(conn);
        return NULL;
    }
    conn->wsi = wsi;
    /* Failed inside the call but lws kept the wsi: the saved failure is
     * reported from the loop when it is destroyed. */
    if (conn->saved)
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    return conn;

nomem:
    aw_errstr_set(errstr, errstr_size, "out of memory");
    conn_free(conn);
    return NULL;
}

void aw_ws_conn_want_write(struct aw_ws_conn *conn)
{
    if (conn && conn->wsi && conn->open)
        lws_callback_on_writable(conn->wsi);
}

void aw_ws_conn_close(struct aw_ws_conn *conn, int code, const char *reason)
{
    if (!conn || conn->close_pending || conn->reported)
        return;
    conn->close_pending = true;
    conn->close_code = code;
    snprintf(conn->close_reason, sizeof(conn->close_reason), "%s",
             reason ? reason : "");
    if (!conn->wsi)
        return;
    if (conn->open)
        lws_callback_on_writable(conn->wsi);
    else
        lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}
