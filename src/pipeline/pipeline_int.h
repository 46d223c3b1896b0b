/*
 * Private to src/pipeline: the pipeline's and each stream's state, shared
 * by pipeline.c (lifecycle, reload, the sessions' wiring) and endpoints.c
 * (/metrics, /healthz, /readyz).
 *
 * Ownership of the stream list: only the service thread adds streams to
 * it and removes them, under p->lock; it reads the list without the lock.
 * Other threads read it under the lock. Streams are created and destroyed
 * on the caller's thread, outside the list: new ones wait in p->adding
 * until the service thread takes them in; a stream asked to retire
 * finishes its session, leaves the list and waits in p->graveyard until
 * aw_pipeline_maintain() frees it.
 */
#ifndef AW_PIPELINE_PIPELINE_INT_H
#define AW_PIPELINE_PIPELINE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "common/buf.h"
#include "metrics/metrics.h"
#include "pipeline/pipeline.h"
#include "pipeline/ring.h"
#include "pipeline/source.h"
#include "sink/sink.h"
#include "stt/session.h"
#include "stt/token.h"
#include "transport/transport.h"
#include "transport/ws_client.h"
#include "transport/ws_server.h"

struct stream {
    struct aw_pipeline *p;
    struct aw_stream_conf sc;       /* its own copy: survives reloads */
    char source[AW_RING_MARK_TEXT]; /* the URL, credentials removed */
    struct aw_ring ring;
    bool ring_ok;
    const struct aw_source_ops *src_ops;
    void *src;
    struct aw_stt_session *session; /* service thread */
    struct aw_ws_conn *conn;        /* service thread */
    _Atomic bool retire;            /* asked to finish for good (reload) */
    bool retiring;                  /* service thread: finishing for good */
    _Atomic bool done;              /* the session has nothing left to do */
    _Atomic bool dirty;             /* its source has news (notify) */
    _Atomic uint64_t phrases;
    struct aw_histogram latency;
    enum aw_err err; /* written on the service thread before done */
    char errmsg[256];
    struct stream *next; /* in p->adding or p->graveyard */
};

struct aw_pipeline {
    struct aw_pipeline_opts o;
    struct aw_conf conf; /* owned */
    char *key;           /* speech key, or NULL */
    char *token;
    struct aw_stt_token *tokens; /* bearer tokens, when configured */
    struct aw_transport *t;
    struct aw_ws_client *wsc;
    struct aw_transport_timer *tick;
    struct aw_sink *sink;
    struct aw_ws_server *http; /* /metrics /healthz /readyz, or NULL */
    struct aw_buf http_body;   /* service thread */
    uint64_t last_tick_ms;     /* service thread: the last pass */
    _Atomic bool news;         /* some stream is dirty: a wake is due */

    pthread_mutex_t lock;
    struct stream **streams; /* service thread adds and removes */
    size_t nstreams;
    size_t cap;
    struct stream *adding;    /* built, waiting to join the list */
    struct stream *graveyard; /* finished, waiting to be freed */
    _Atomic bool stopping;
    bool started;
};

/* endpoints.c */
enum aw_err aw_pipeline_http_init(struct aw_pipeline *p, char *errstr,
                                  size_t errstr_size);

#endif
