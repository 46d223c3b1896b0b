/*
 * airwave - the libwebsockets context and its service thread.
 *
 * One struct aw_transport owns one lws_context and the one thread that runs
 * its event loop. Every other piece of networking is contributed on top of
 * it and runs on that thread:
 *   - servers: ws_server.c (websocket endpoints with an upgrade filter; used
 *     by airwave-speechd), and the HTTP endpoints /metrics /healthz /readyz;
 *   - clients: ws_client.c (the connector's speech sessions).
 * Those modules reach the lws context through transport_int.h; only
 * src/transport/ includes <libwebsockets.h>, so nothing else sees an lws
 * type.
 *
 * Threads. lws is single-threaded: everything touching a wsi, a vhost or a
 * timer happens on the service thread (or before aw_transport_start() / after
 * aw_transport_stop(), when no thread runs). Other threads get in only
 * through:
 *   - aw_transport_wake(): lws_cancel_service(), which makes the loop run
 *     every registered wake handler (LWS_CALLBACK_EVENT_WAIT_CANCELLED);
 *     modules pair it with their own queues (ws_server's outbound queues);
 *   - aw_transport_call(): run a function on the service thread (a bounded
 *     queue plus a wake).
 * Timers (lws_sul) are created anywhere and scheduled on the service thread.
 *
 * Logging: lws's own log lines go to aw_log (module "lws"): errors and
 * warnings as such, notices and info at debug level.
 *
 * Lifecycle: aw_transport_new() → modules add vhosts/protocols →
 * aw_transport_start() → ... → aw_transport_stop() (the loop ends, the
 * lws_context is destroyed, every connection is closed and its callbacks
 * run on the caller's thread) → modules are destroyed →
 * aw_transport_destroy().
 */
#ifndef AW_TRANSPORT_TRANSPORT_H
#define AW_TRANSPORT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"

struct aw_transport;
struct aw_transport_timer;

struct aw_transport_opts {
    const char *name;   /* used in log lines, e.g. "speechd" */
    bool tls;           /* initialise OpenSSL: wss servers or clients */
    unsigned max_calls; /* aw_transport_call() queue; 0 = 256 */
    unsigned max_http_header_bytes; /* per request; 0 = 16384 */
};

/**
 * @brief Create the lws context (nothing listens yet, no thread runs).
 * @locality main thread
 * @returns NULL with \p errstr set on failure.
 */
struct aw_transport *aw_transport_new(const struct aw_transport_opts *opts,
                                      char *errstr, size_t errstr_size);

/**
 * @brief Register a function the service thread calls on every wake-up
 *        (after aw_transport_wake() from any thread). Before start only.
 * @returns AW_OK, AW_ERR_TOO_LARGE (more than 8 handlers), AW_ERR_INVAL
 *          (already started).
 */
enum aw_err aw_transport_on_wake(struct aw_transport *t,
                                 void (*fn)(void *opaque), void *opaque);

/**
 * @brief Start the service thread.
 * @returns AW_OK, AW_ERR_INVAL (already started), AW_ERR_NOMEM (thread).
 */
enum aw_err aw_transport_start(struct aw_transport *t);

/**
 * @brief Stop the service thread and destroy the lws context: listening
 *        sockets close, every connection is closed and its close callbacks
 *        run on the caller's thread. Idempotent.
 * @locality any thread but the service thread
 */
void aw_transport_stop(struct aw_transport *t);

/** Free everything; stops first if needed. NULL-safe. */
void aw_transport_destroy(struct aw_transport *t);

/**
 * @brief Wake the service thread, which then runs the wake handlers.
 * @locality any thread; a no-op once stopped
 */
void aw_transport_wake(struct aw_transport *t);

/**
 * @brief Run \p fn(opaque) on the service thread, soon.
 * @locality any thread
 * @returns AW_OK, AW_ERR_STOPPED (not running: \p fn will not run),
 *          AW_ERR_TOO_LARGE (queue full; counted in calls_dropped).
 */
enum aw_err aw_transport_call(struct aw_transport *t, void (*fn)(void *opaque),
                              void *opaque);

/** @returns true on the service thread (or when no thread runs and the
 *  caller owns the transport). */
bool aw_transport_on_service_thread(const struct aw_transport *t);

/** Calls refused because the queue was full. */
uint64_t aw_transport_calls_dropped(const struct aw_transport *t);

/**
 * @brief A timer on the service thread's loop (lws_sul).
 * @locality new/destroy anywhere the transport is not running concurrently
 *           with the timer's use; schedule/cancel on the service thread.
 */
struct aw_transport_timer *aw_transport_timer_new(struct aw_transport *t,
                                                  void (*fn)(void *opaque),
                                                  void *opaque);

/** (Re)arm: \p fn runs once, \p delay_ms from now. */
void aw_transport_timer_schedule(struct aw_transport_timer *tm,
                                 uint64_t delay_ms);

void aw_transport_timer_cancel(struct aw_transport_timer *tm);

/** Cancel and free. NULL-safe. */
void aw_transport_timer_destroy(struct aw_transport_timer *tm);

#endif
