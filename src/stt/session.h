/*
 * One stream's speech session: the audio of a ring, sent over successive
 * connections to a speech service, turned into transcripts on the stream's
 * timeline with nothing lost and nothing published twice.
 *
 * The session is a state machine without sockets. The transport reports
 * connection events (on_open, on_message, on_close) and asks for the next
 * frame when the socket is writable; the session asks the transport to
 * connect, close or wake it through struct aw_stt_session_io. All of it runs
 * on the transport thread (@locality transport), so nothing here locks.
 *
 * How nothing is lost or duplicated (ARCHITECTURE.md, "The timeline"):
 * - The ring keeps the audio after the end of the last final phrase (the
 *   replay region); after any reconnect a new turn starts there and the
 *   audio is sent again.
 * - A turn covers a contiguous run of one capture session's samples, so a
 *   provider offset maps back through the ring position the turn started at.
 * - A phrase ending at or before the end of the last published phrase is a
 *   replay duplicate and is dropped (and counted).
 * - Connections are rotated before the provider's limit, at a pause when
 *   one comes within the grace period, else at the deadline.
 */
#ifndef AW_STT_SESSION_H
#define AW_STT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"
#include "airwave/transcript.h"
#include "common/backoff.h"
#include "pipeline/ring.h"
#include "stt/stt.h"

struct aw_stt_session;

/** Calls from the session to its owner. All on the transport thread. */
struct aw_stt_session_io {
    /**
     * Open a connection with this handshake. Report the outcome later with
     * aw_stt_session_on_open() or aw_stt_session_on_close(); never from
     * inside this call.
     * @returns AW_OK if the attempt started; an error means it failed at
     *          once (the session treats it as a failed attempt).
     */
    enum aw_err (*connect)(void *opaque, const struct aw_stt_handshake *hs);
    /** Close the current connection; on_close() follows. */
    void (*close)(void *opaque, int code, const char *reason);
    /** Call aw_stt_session_next_frame() when the socket is writable. */
    void (*want_write)(void *opaque);
    void (*transcript)(void *opaque, const struct aw_transcript *t);
    void (*event)(void *opaque, const struct aw_stream_event *e);
    /**
     * Credentials for the next connection (bearer tokens expire and are
     * refreshed before a reconnect); may be NULL, then the opts' key and
     * token are used.
     * @param reconnect  the connection replaces one that was open
     * @returns AW_OK; AW_ERR_AGAIN to be asked again shortly (a token is
     *          being fetched); a retriable error (backoff); any other
     *          error stops the session.
     */
    enum aw_err (*credentials)(void *opaque, bool reconnect,
                               const char **key, const char **token,
                               char *errstr, size_t errstr_size);
};

struct aw_stt_session_opts {
    const char *stream_id;
    const char *language;
    const char *provider;        /* "azure" */
    struct aw_stt_params params; /* endpoint, format, key, token */
    unsigned chunk_ms;           /* audio per message */
    uint64_t rotate_after_ms;    /* 0: never rotate */
    uint64_t rotate_grace_ms;
    uint64_t connect_timeout_ms;
    uint64_t turn_start_timeout_ms; /* no turn.start: connection invalid */
    uint64_t final_timeout_ms;      /* wait for a turn's last phrases */
    /* Give up after this many failed attempts without one success (0:
     * never give up). One-shot transcription fails fast; a service
     * retries for ever. */
    unsigned max_failed_connects;
    const struct aw_backoff *backoff; /* NULL: built-in table */
    uint64_t (*now_ms)(void);         /* NULL: monotonic clock */
};

enum aw_stt_conn_state {
    AW_STT_CONN_DOWN,
    AW_STT_CONN_CONNECTING,
    AW_STT_CONN_OPEN,
    AW_STT_CONN_CLOSING,
};

/** Figures for metrics and logs; all counters are totals since creation. */
struct aw_stt_stats {
    enum aw_stt_conn_state conn_state;
    uint64_t connects; /* connections opened */
    uint64_t connect_failures;
    uint64_t rotations;  /* connections replaced proactively */
    uint64_t reconnects; /* connections replaced after a failure */
    uint64_t turns;
    uint64_t phrases;      /* published */
    uint64_t duplicates;   /* replayed phrases not published again */
    uint64_t no_match;     /* non-Success phrases */
    uint64_t sent_samples; /* audio sent, replays included */
    uint64_t replayed_samples;
    uint64_t dropped_samples; /* lost because the service fell behind */
    uint64_t trimmed_samples; /* replay region given up to make room */
    uint64_t backlog_samples; /* received but not yet sent */
};

/**
 * @brief Create a session reading \p ring (the consumer side).
 * @returns NULL with errstr set on a bad option.
 */
struct aw_stt_session *aw_stt_session_new(const struct aw_stt_session_opts *o,
                                          const struct aw_stt_session_io *io,
                                          void *opaque, struct aw_ring *ring,
                                          char *errstr, size_t errstr_size);
void aw_stt_session_destroy(struct aw_stt_session *s);

/** Drain the ring's marks, run timers, connect or rotate as needed. Call
 *  it on every wake-up and at least every few tens of milliseconds. */
void aw_stt_session_poll(struct aw_stt_session *s);

void aw_stt_session_on_open(struct aw_stt_session *s);

/** A complete message arrived. */
void aw_stt_session_on_message(struct aw_stt_session *s, const uint8_t *data,
                               size_t len, bool binary);

/**
 * @brief The connection ended or could not be made.
 * @param close_code   websocket close code, 0 if none was received
 * @param http_status  HTTP status of a refused upgrade, 0 if none
 * @param err          AW_OK for a close frame, else why it failed
 * @param detail       text for logs and events (close reason, error)
 */
void aw_stt_session_on_close(struct aw_stt_session *s, int close_code,
                             int http_status, enum aw_err err,
                             const char *detail);

/**
 * @brief Build the next frame to send into \p buf.
 * @param[out] binary  whether it is a binary frame
 * @returns AW_OK with *len > 0; AW_ERR_AGAIN when there is nothing to send
 *          now (want_write() will be called when there is).
 */
enum aw_err aw_stt_session_next_frame(struct aw_stt_session *s, uint8_t *buf,
                                      size_t cap, size_t *len, bool *binary);

/** Largest frame next_frame() may produce. */
size_t aw_stt_session_max_frame(const struct aw_stt_session *s);

/** Stop taking new audio: send what is buffered, end the audio, wait for
 *  the last phrases (bounded by final_timeout_ms), then be done. */
void aw_stt_session_finish(struct aw_stt_session *s);

/**
 * @returns true once the session has nothing left to do: the source ended
 *          and every turn ended, or a fatal error stopped it (then *err and
 *          *detail say why; *err is AW_OK for a clean end).
 */
bool aw_stt_session_done(const struct aw_stt_session *s, enum aw_err *err,
                         const char **detail);

/** Ready = connected and streaming (or idle with nothing to send). */
bool aw_stt_session_ready(const struct aw_stt_session *s);

void aw_stt_session_stats(const struct aw_stt_session *s,
                          struct aw_stt_stats *st);

/** Milliseconds until poll() has timer work, for the event loop. */
uint64_t aw_stt_session_next_timer_ms(const struct aw_stt_session *s);

#endif
