/*
 * airwave - what modules inside src/transport/ need of the transport core:
 * the lws context and vhost creation. Private to src/transport/ (the only
 * place <libwebsockets.h> may be included).
 */
#ifndef AW_TRANSPORT_TRANSPORT_INT_H
#define AW_TRANSPORT_TRANSPORT_INT_H

#include <libwebsockets.h>

#include "transport/transport.h"

/** The lws context; NULL once stopped. @locality service thread */
struct lws_context *aw_transport_lws(struct aw_transport *t);

/** Where and how a vhost listens. */
struct aw_transport_vhost_opts {
    const char *name;     /* vhost name, unique per transport */
    const char *host;     /* IP address or interface to bind; NULL = all;
                             ignored when port is CONTEXT_PORT_NO_LISTEN */
    int port;             /* 0 = any free port; CONTEXT_PORT_NO_LISTEN for a
                             client-only vhost */
    const char *tls_cert; /* PEM server certificate: wss/https only */
    const char *tls_key;
    const char *tls_ca; /* CA bundle for client certificates/clients */
    const struct lws_protocols *protocols; /* NULL-callback terminated */
    uint64_t options; /* extra LWS_SERVER_OPTION_* for the vhost */
    void *user;       /* lws_get_vhost_user() */
};

/**
 * @brief Create a vhost on the context.
 * @locality before aw_transport_start() or on the service thread
 * @returns the vhost, or NULL with \p errstr set (e.g. the port is taken).
 */
struct lws_vhost *
aw_transport_vhost_new(struct aw_transport *t,
                       const struct aw_transport_vhost_opts *o, char *errstr,
                       size_t errstr_size);

/* Kernel buffer for each direction of a websocket carrying audio: about
 * 2 s of 16 kHz PCM once Linux has doubled it. Loopback otherwise lets
 * megabytes (minutes of audio) queue out of sight, so a speech service
 * that falls behind would hide its backlog from the sender's lag gauge
 * and from the receiver's flow control. */
#define AW_TRANSPORT_AUDIO_SOCKBUF (32 * 1024)

/**
 * @brief Bound the connection's kernel buffer: \p optname SO_SNDBUF or
 *        SO_RCVBUF, to \p bytes. Failure only logs: the connection works.
 * @locality service thread
 */
void aw_transport_bound_sockbuf(struct lws *wsi, int optname, int bytes);

#endif
