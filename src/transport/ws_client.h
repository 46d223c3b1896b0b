/*
 * airwave - websocket client connections on the transport's service thread
 * (the connector's speech sessions).
 *
 * One struct aw_ws_client per transport holds the client vhost (TLS
 * settings: peer verification on by default, an optional CA bundle, SNI
 * from the URL's host). Each struct aw_ws_conn is one connection attempt:
 * the owner is told exactly once how it ended (on_close), after which the
 * connection is freed and the owner must forget its pointer.
 *
 * Messages are reassembled from fragments up to a hard limit (larger ones
 * close the connection with 1009). Frames are sent one per writable
 * callback, as libwebsockets requires: the owner supplies the next frame
 * from on_writable and asks for another chance with aw_ws_conn_want_write().
 *
 * @locality service thread, except aw_ws_client_new() before start and
 *           aw_ws_client_destroy() after stop.
 */
#ifndef AW_TRANSPORT_WS_CLIENT_H
#define AW_TRANSPORT_WS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"
#include "transport/transport.h"

struct aw_ws_client;
struct aw_ws_conn;

struct aw_ws_client_opts {
    const char *ca_file;      /* PEM bundle; NULL: the system's */
    bool tls_verify;          /* verify the server certificate */
    size_t max_message_bytes; /* received; 0: 1 MiB */
    size_t max_frame_bytes;   /* sent; 0: 16 KiB */
};

struct aw_ws_header {
    const char *name;
    const char *value;
};

struct aw_ws_conn_cbs {
    void (*on_open)(void *opaque);
    void (*on_message)(void *opaque, const uint8_t *data, size_t len,
                       bool binary);
    /** Fill buf with the next frame: AW_OK and *len > 0, or AW_ERR_AGAIN
     *  when there is nothing to send now. */
    enum aw_err (*on_writable)(void *opaque, uint8_t *buf, size_t cap,
                               size_t *len, bool *binary);
    /**
     * The connection ended, or was never made. Called once.
     * @param close_code   the peer's close code, 1006 if the socket died
     *                     without one, 0 if the websocket never opened
     * @param http_status  the status of a refused upgrade, else 0
     * @param err          AW_OK for an orderly close, else the failure
     * @param detail       the close reason or the error text
     */
    void (*on_close)(void *opaque, int close_code, int http_status,
                     enum aw_err err, const char *detail);
};

struct aw_ws_client *aw_ws_client_new(struct aw_transport *t,
                                      const struct aw_ws_client_opts *o,
                                      char *errstr, size_t errstr_size);
void aw_ws_client_destroy(struct aw_ws_client *c);

/**
 * @brief Start connecting to a ws:// or wss:// URL.
 * @param hdrs  extra handshake headers (copied)
 * @returns the connection, or NULL with errstr set if the attempt failed at
 *          once (on_close is then not called).
 */
struct aw_ws_conn *aw_ws_connect(struct aw_ws_client *c, const char *url,
                                 const struct aw_ws_header *hdrs, size_t nhdrs,
                                 const struct aw_ws_conn_cbs *cbs, void *opaque,
                                 char *errstr, size_t errstr_size);

/**
 * @brief Called once with the outcome of an HTTP request.
 * @param status  the HTTP status, 0 if no response came
 * @param body    the response body (NUL-terminated, borrowed for the call)
 * @param err     AW_OK when a response came, else the failure
 */
typedef void (*aw_http_done_fn)(void *opaque, int status, const char *body,
                                size_t len, enum aw_err err,
                                const char *detail);

/**
 * @brief An HTTP(S) POST with an empty body (a token endpoint), on the same
 *        TLS settings as the websocket connections.
 * @param max_body  longer responses fail with AW_ERR_TOO_LARGE
 * @returns AW_OK if the request started (\p done follows, on the service
 *          thread), or an error with errstr set (\p done is not called).
 * @locality service thread
 */
enum aw_err aw_http_post(struct aw_ws_client *c, const char *url,
                         const struct aw_ws_header *hdrs, size_t nhdrs,
                         size_t max_body, aw_http_done_fn done, void *opaque,
                         char *errstr, size_t errstr_size);

/** Ask for an on_writable callback. */
void aw_ws_conn_want_write(struct aw_ws_conn *conn);

/** Close with \p code and \p reason (or abandon a connection still being
 *  made); on_close follows. */
void aw_ws_conn_close(struct aw_ws_conn *conn, int code, const char *reason);

#endif
