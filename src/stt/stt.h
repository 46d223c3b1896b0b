/*
 * Speech-to-text providers: an ops table of pure functions that turn audio
 * and turn boundaries into frames, and received frames into results.
 *
 * The transport owns the socket and the session (session.h) owns the
 * timeline; a provider only knows its protocol, so each hook can be unit
 * tested with recorded messages and its parser fuzzed. Azure is the one
 * provider today (azure.c); airwave-speechd speaks the same protocol.
 */
#ifndef AW_STT_STT_H
#define AW_STT_STT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"

#define AW_STT_ID_LEN      33 /* 32 hex digits + NUL */
#define AW_STT_MAX_HEADERS 4

/** What a connection is opened with. Strings are borrowed. */
struct aw_stt_params {
    const char *endpoint; /* ws:// or wss:// URL */
    const char *language; /* BCP-47 */
    bool detailed;        /* detailed output format */
    bool word_timings;
    const char *key;   /* subscription key, or NULL */
    const char *token; /* bearer token (preferred over key), or NULL */
};

struct aw_stt_header {
    const char *name;
    const char *value; /* may point into the handshake's storage */
};

/** A handshake request: the URL to open and the headers to send. */
struct aw_stt_handshake {
    char url[2048];
    struct aw_stt_header headers[AW_STT_MAX_HEADERS];
    size_t nheaders;
    char storage[2560]; /* header values live here */
};

enum aw_stt_msg_type {
    AW_STT_MSG_OTHER, /* ignored (e.g. speech.fragment unknown) */
    AW_STT_MSG_TURN_START,
    AW_STT_MSG_SPEECH_START,
    AW_STT_MSG_HYPOTHESIS,
    AW_STT_MSG_PHRASE,
    AW_STT_MSG_SPEECH_END,
    AW_STT_MSG_TURN_END,
};

enum aw_stt_status {
    AW_STT_SUCCESS,
    AW_STT_NO_MATCH,
    AW_STT_INITIAL_SILENCE,
    AW_STT_BABBLE,
    AW_STT_END_OF_DICTATION,
    AW_STT_ERROR,             /* service error: reconnect */
    AW_STT_TOO_MANY_REQUESTS, /* reconnect with backoff */
    AW_STT_BAD_REQUEST,       /* configuration error: stop */
    AW_STT_FORBIDDEN,         /* configuration error: stop */
    AW_STT_UNKNOWN,
};

struct aw_stt_word {
    char *word;
    int64_t offset_ticks; /* relative to the turn's audio */
    int64_t duration_ticks;
};

/** One parsed service message. Strings are owned; aw_stt_msg_clear(). */
struct aw_stt_msg {
    enum aw_stt_msg_type type;
    char request_id[AW_STT_ID_LEN]; /* "" if the message carried none */
    enum aw_stt_status status;      /* PHRASE */
    int64_t offset_ticks;           /* relative to the turn's audio */
    int64_t duration_ticks;
    char *text;        /* PHRASE: display text; HYPOTHESIS: text */
    char *lexical;     /* PHRASE, detailed: lexical form, else NULL */
    double confidence; /* < 0 when absent */
    struct aw_stt_word *words;
    size_t nwords;
};

void aw_stt_msg_clear(struct aw_stt_msg *m);

/** Frames a session needs; each writes one complete message into buf. */
struct aw_stt_ops {
    const char *name; /* as used in configuration: "azure" */

    /** Build the URL and headers for a new connection. */
    enum aw_err (*handshake)(const struct aw_stt_params *p,
                             const char *connection_id,
                             struct aw_stt_handshake *hs, char *errstr,
                             size_t errstr_size);

    /** First message on every connection (Azure: speech.config). */
    enum aw_err (*open_frame)(const struct aw_stt_params *p, uint8_t *buf,
                              size_t cap, size_t *len);

    /** Messages that start a turn, in order; \p index counts from 0 and
     *  *len = 0 means there are no more (Azure: speech.context, then the
     *  WAV header). *binary says which kind of websocket frame it is. */
    enum aw_err (*turn_frame)(const struct aw_stt_params *p,
                              const char *request_id, unsigned index,
                              uint8_t *buf, size_t cap, size_t *len,
                              bool *binary);

    /** \p n bytes of PCM; n = 0 ends the turn's audio. */
    enum aw_err (*audio_frame)(const char *request_id, const uint8_t *pcm,
                               size_t n, uint8_t *buf, size_t cap, size_t *len);

    /** After a turn ended (Azure: telemetry). *len = 0 if none. */
    enum aw_err (*after_turn_frame)(const char *request_id,
                                    const char *connection_id,
                                    int64_t connected_wall_ms, uint8_t *buf,
                                    size_t cap, size_t *len);

    /**
     * Parse one received message.
     * @returns AW_OK; AW_ERR_PROTO if it is not a valid message (the
     *          session closes the connection and reconnects).
     */
    enum aw_err (*parse)(const uint8_t *data, size_t len, bool binary,
                         struct aw_stt_msg *msg, char *errstr,
                         size_t errstr_size);

    /** Bytes of framing around \p n audio bytes, for sizing buffers. */
    size_t (*audio_overhead)(void);
};

extern const struct aw_stt_ops aw_stt_azure_ops;

/** @returns the provider called \p name, or NULL. */
const struct aw_stt_ops *aw_stt_find(const char *name);

/** "Success", "NoMatch", ... as the service spells them. */
const char *aw_stt_status_name(enum aw_stt_status status);

#endif
