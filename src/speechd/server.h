/*
 * airwave-speechd - the Azure-compatible speech service: websocket server,
 * sessions, limits and decoding threads put together.
 *
 *   websocket thread (transport + ws_server): handshakes, messages, the
 *     protocol rules (proto.c), timers for the connection limits, sending;
 *   worker threads (workers.c): decoding with the engine (engine.h) and
 *     building the results (turn.c), which they queue on the connection
 *     directly (ws_server's cross-thread send);
 *   main thread: aw_speechd_new/start/shutdown/destroy.
 *
 * A session's audio waits in a bounded queue between the two: past
 * queue_ms of audio the websocket stops reading from that client
 * (backpressure), so audio is never dropped. docs/speechd.md has the
 * behaviour, the limits and the memory figures.
 */
#ifndef AW_SPEECHD_SERVER_H
#define AW_SPEECHD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"
#include "speechd/engine.h"

struct aw_speechd;

struct aw_speechd_conf {
    const char *host;     /* listen address; NULL = all */
    int port;             /* 0 = any free port */
    const char *tls_cert; /* both set: wss:// only */
    const char *tls_key;
    const char *key; /* subscription key; NULL = anyone is accepted */
    const char *const *languages; /* accepted locales, NULL-terminated */
    const struct aw_speechd_engine_ops *engine;
    struct aw_speechd_engine_conf engine_conf;
    unsigned workers;            /* decoding threads (>= 1) */
    unsigned max_sessions;       /* concurrent; beyond: HTTP 503 */
    unsigned max_connection_s;   /* then close 1000; 0 = no limit */
    unsigned idle_timeout_s;     /* no message either way; 0 = no limit */
    size_t max_message_bytes;    /* whole websocket message; beyond: 1009 */
    uint32_t initial_silence_ms; /* default InitialSilenceTimeout */
    unsigned queue_ms; /* audio queued per session before backpressure */
    unsigned token_lifetime_s; /* bearer tokens issued here; 0 = 600 */
    unsigned max_speed_pct; /* decode no faster than this % of real time
                               per session; 0 = as fast as possible. A
                               slow service, for testing clients. */
};

/** Fill \p conf with the defaults (docs/speechd.md). */
void aw_speechd_conf_defaults(struct aw_speechd_conf *conf);

/**
 * @brief Load the engine, start the decoding threads, bind the socket.
 *        Nothing is served until aw_speechd_start().
 * @locality main thread
 * @returns NULL with \p errstr set.
 */
struct aw_speechd *aw_speechd_new(const struct aw_speechd_conf *conf,
                                  char *errstr, size_t errstr_size);

/** The bound port. */
int aw_speechd_port(const struct aw_speechd *sd);

/** Start serving (the websocket thread). */
enum aw_err aw_speechd_start(struct aw_speechd *sd);

/**
 * @brief Stop: refuse new sessions, close open ones with 1001 "Going away",
 *        wait up to \p grace_ms for them to go, then stop the websocket
 *        thread and let the workers finish.
 * @locality main thread
 */
void aw_speechd_shutdown(struct aw_speechd *sd, unsigned grace_ms);

/** Free everything (shuts down first if needed). NULL-safe. */
void aw_speechd_destroy(struct aw_speechd *sd);

/** Sessions open now. */
size_t aw_speechd_sessions(const struct aw_speechd *sd);

#endif
