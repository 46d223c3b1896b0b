/*
 * airwave - a generic websocket server on the transport's lws context.
 *
 * What it does for the protocol layer above it (airwave-speechd):
 *   - an upgrade filter with the request's path, query parameters and
 *     headers, which can refuse with an HTTP status and a short text body
 *     (400/401/403/404/503 ...); plain HTTP requests get 404 unless an
 *     on_http handler answers them;
 *   - whole messages: fragments are reassembled up to max_message_bytes;
 *     a bigger message closes the connection with 1009;
 *   - a bounded outbound queue per connection, written one lws_write() per
 *     WRITEABLE callback; close with a code and reason after what is queued;
 *   - sending, closing and pausing reception from any thread (the request
 *     is queued and the service thread woken), so decoder threads can
 *     answer directly;
 *   - per-connection timers on the service thread.
 *
 * Threads: callbacks (ops) run on the transport's service thread. Functions
 * say their @locality. A connection object stays valid while someone holds
 * a reference (aw_ws_server_conn_ref); after it has closed, sends fail with
 * AW_ERR_STOPPED.
 *
 * Lifetime: create before aw_transport_start(); destroy after
 * aw_transport_stop() and after every connection reference was dropped.
 */
#ifndef AW_TRANSPORT_WS_SERVER_H
#define AW_TRANSPORT_WS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"
#include "transport/transport.h"

struct aw_ws_server;
struct aw_ws_server_conn;
struct aw_ws_server_request;

#define AW_WS_SERVER_CONN_TIMERS 4 /* per-connection timer ids 0..3 */

struct aw_ws_server_opts {
    const char *name;     /* vhost name and log source */
    const char *host;     /* address to bind; NULL or "" = all */
    int port;             /* 0 = any free port */
    const char *tls_cert; /* PEM; both set = wss:// only */
    const char *tls_key;
    size_t max_message_bytes; /* reassembled message; 0 = 65536 + 8192 */
    size_t max_queue_bytes;   /* outbound queue per connection; 0 = 1 MiB */
};

struct aw_ws_server_ops {
    /**
     * An upgrade request. Look at it with aw_ws_server_request_*().
     * @param[out] conn_user  the caller's per-connection state, handed to
     *                        every later callback
     * @param[out] body       on refusal: a short text/plain body
     * @returns 0 to accept, or the HTTP status that refuses the upgrade.
     */
    int (*on_upgrade)(void *opaque, const struct aw_ws_server_request *req,
                      void **conn_user, const char **body);
    /** The websocket is open. */
    void (*on_open)(void *opaque, struct aw_ws_server_conn *conn,
                    void *conn_user);
    /** One whole message; \p data is borrowed for the call. */
    void (*on_message)(void *opaque, struct aw_ws_server_conn *conn,
                       void *conn_user, const uint8_t *data, size_t len,
                       bool binary);
    /** A timer set with aw_ws_server_conn_timer() went off. */
    void (*on_timer)(void *opaque, struct aw_ws_server_conn *conn,
                     void *conn_user, unsigned id);
    /**
     * The connection is closed (by either side, or lost: 1006). The last
     * callback for an opened connection; \p conn stays valid only while
     * references to it are held.
     */
    void (*on_close)(void *opaque, struct aw_ws_server_conn *conn,
                     void *conn_user, uint16_t code, const char *reason);
    /** Optional: accepted by on_upgrade but never opened; release
     *  \p conn_user. */
    void (*on_abort)(void *opaque, void *conn_user);
    /**
     * Optional: a plain HTTP GET or POST without a body (no upgrade); look
     * at it with aw_ws_server_request_*(). Set the body and its type (both
     * borrowed until the call returns). A POST with a body gets 413.
     * @returns the HTTP status; without a handler every request gets 404.
     */
    int (*on_http)(void *opaque, const struct aw_ws_server_request *req,
                   const char **content_type, const char **body);
};

/**
 * @brief Listen (before aw_transport_start()).
 * @returns NULL with \p errstr set (e.g. address in use).
 */
struct aw_ws_server *aw_ws_server_new(struct aw_transport *t,
                                      const struct aw_ws_server_opts *opts,
                                      const struct aw_ws_server_ops *ops,
                                      void *opaque, char *errstr,
                                      size_t errstr_size);

/** The port actually bound (useful with port 0). */
int aw_ws_server_port(const struct aw_ws_server *srv);

/** Connections accepted and not yet gone. @locality any thread */
size_t aw_ws_server_count(const struct aw_ws_server *srv);

/**
 * @brief Close every open connection with \p code and \p reason (after what
 *        is queued). @locality service thread
 */
void aw_ws_server_close_all(struct aw_ws_server *srv, uint16_t code,
                            const char *reason);

/** NULL-safe. @locality after aw_transport_stop() */
void aw_ws_server_destroy(struct aw_ws_server *srv);

/* ---- the request (valid during on_upgrade or on_http only) ------------- */

/** The path, without the query string. */
const char *aw_ws_server_request_path(const struct aw_ws_server_request *req);

/** "GET" or "POST". */
const char *aw_ws_server_request_method(const struct aw_ws_server_request *req);

/** The peer's address, e.g. "127.0.0.1". */
const char *aw_ws_server_request_peer(const struct aw_ws_server_request *req);

/**
 * @brief A request header, by name (case-insensitive).
 * @returns AW_OK, AW_ERR_NOT_FOUND, AW_ERR_TOO_LARGE (longer than cap - 1).
 */
enum aw_err aw_ws_server_request_header(const struct aw_ws_server_request *req,
                                        const char *name, char *buf,
                                        size_t cap);

/**
 * @brief A query parameter, by name (case-insensitive), URL-decoded.
 * @returns AW_OK, AW_ERR_NOT_FOUND, AW_ERR_TOO_LARGE.
 */
enum aw_err aw_ws_server_request_query(const struct aw_ws_server_request *req,
                                       const char *name, char *buf, size_t cap);

/* ---- connections ------------------------------------------------------ */

/** @locality any thread */
void aw_ws_server_conn_ref(struct aw_ws_server_conn *conn);
/** @locality any thread; frees the object with the last reference. */
void aw_ws_server_conn_unref(struct aw_ws_server_conn *conn);

/**
 * @brief Queue one message (copied).
 * @locality any thread
 * @returns AW_OK; AW_ERR_STOPPED (closed or closing); AW_ERR_TOO_LARGE (the
 *          queue is full: the message is dropped and counted; the caller
 *          decides whether to close); AW_ERR_NOMEM.
 */
enum aw_err aw_ws_server_conn_send(struct aw_ws_server_conn *conn,
                                   const void *data, size_t len, bool binary);

/**
 * @brief Close with \p code and \p reason (at most 123 bytes) once the
 *        queued messages are written. Later sends fail. First call wins.
 * @locality any thread
 */
void aw_ws_server_conn_close(struct aw_ws_server_conn *conn, uint16_t code,
                             const char *reason);

/**
 * @brief Stop (true) or resume (false) reading from the client: the
 *        backpressure lever (lws_rx_flow_control).
 * @locality any thread
 */
void aw_ws_server_conn_pause_rx(struct aw_ws_server_conn *conn, bool pause);

/**
 * @brief Arm timer \p id (< AW_WS_SERVER_CONN_TIMERS) to call on_timer in
 *        \p delay_ms; 0 cancels it.
 * @locality service thread
 */
void aw_ws_server_conn_timer(struct aw_ws_server_conn *conn, unsigned id,
                             uint64_t delay_ms);

/** The peer's address. */
const char *aw_ws_server_conn_peer(const struct aw_ws_server_conn *conn);

/** Monotonic ms of the last message received or written. @locality any */
uint64_t
aw_ws_server_conn_last_activity_ms(const struct aw_ws_server_conn *conn);

/** Messages dropped because the outbound queue was full. */
uint64_t aw_ws_server_conn_dropped(const struct aw_ws_server_conn *conn);

#endif
