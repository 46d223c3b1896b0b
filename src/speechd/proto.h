/*
 * airwave-speechd - the Azure protocol rules of one connection, without
 * sockets or threads.
 *
 * Two parts:
 *   - the handshake: which path, query and header values an upgrade needs,
 *     and which HTTP status refuses it (azure-speech-protocol.md §1, §6);
 *   - the connection: each client message in turn (§2, §3), the request-id
 *     rules of turns (new id = new turn, reuse refused with 1002), the RIFF
 *     header of a turn's first audio, and what to tell the decoder.
 *
 * The server (server.c) feeds it messages on the websocket thread and
 * carries out its decisions; the unit tests feed it directly. The refusal
 * table is in docs/speechd.md.
 *
 * @locality the websocket service thread (one connection at a time)
 */
#ifndef AW_SPEECHD_PROTO_H
#define AW_SPEECHD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"
#include "common/uuid.h"
#include "speechd/turn.h"
#include "stt/usp.h"

#define AW_SPEECHD_LANG_MAX   36  /* BCP-47 tag + NUL */
#define AW_SPEECHD_REASON_MAX 124 /* close-frame reason bytes (RFC 6455) */
#define AW_SPEECHD_USED_IDS   64  /* ended turns remembered per connection */

/* Websocket close codes the service uses (§6). */
#define AW_SPEECHD_CLOSE_NORMAL     1000
#define AW_SPEECHD_CLOSE_GOING_AWAY 1001
#define AW_SPEECHD_CLOSE_PROTOCOL   1002
#define AW_SPEECHD_CLOSE_PAYLOAD    1007
#define AW_SPEECHD_CLOSE_TOO_BIG    1009
#define AW_SPEECHD_CLOSE_SERVER     1011

/** What the server accepts; borrowed, must outlive the connections. */
struct aw_speechd_policy {
    const char *key; /* subscription key, or NULL: anyone is accepted */
    /* With a key: is this bearer token one we issued and still valid? */
    bool (*token_ok)(void *opaque, const char *token);
    void *token_opaque;
    const char *const *languages; /* accepted locales, NULL-terminated */
    uint32_t initial_silence_ms;  /* default InitialSilenceTimeout */
    struct aw_usp_limits limits;  /* applied to every client message */
};

/** Everything the handshake established. */
struct aw_speechd_params {
    enum aw_speechd_mode mode;
    char language[AW_SPEECHD_LANG_MAX];
    bool language_ok; /* false: open, then close 1007 (as the service) */
    const char *auth; /* "key", "bearer" or "none": for the log */
    char connection_id[AW_UUID_NODASH_LEN];
    struct aw_speechd_turn_conf turn; /* defaults of every turn */
};

/**
 * Looks up a handshake value: a header (name case-insensitive) when
 * \p header is true, else a query parameter (name case-insensitive, value
 * URL-decoded). Writes a NUL-terminated value.
 * @returns AW_OK, AW_ERR_NOT_FOUND, or AW_ERR_TOO_LARGE (value longer than
 *          \p cap - 1).
 */
typedef enum aw_err (*aw_speechd_lookup_fn)(void *opaque, bool header,
                                            const char *name, char *buf,
                                            size_t cap);

/**
 * @brief Decide an upgrade request.
 *
 * With a key configured, a client shows either the key
 * (Ocp-Apim-Subscription-Key) or a token from the token endpoint
 * (Authorization: Bearer TOKEN), each in a header or the query string.
 * @param path    the request path, without the query
 * @param[out] body  on refusal, a short text for the response body
 * @returns 0 to accept (\p out filled in), or the HTTP status that refuses:
 *          404 (path), 401 (no or wrong key), 403 (invalid or expired
 *          token), 400 (connection id, language, format).
 *          Capacity (503) is the server's business.
 */
int aw_speechd_handshake(const struct aw_speechd_policy *pol, const char *path,
                         aw_speechd_lookup_fn lookup, void *opaque,
                         struct aw_speechd_params *out, const char **body);

/** @returns true if \p a and \p b are equal, in time independent of where
 *  they differ. */
bool aw_speechd_key_equal(const char *a, const char *b);

/** @returns true if \p lang is in the policy's list (case-insensitive). */
bool aw_speechd_language_ok(const struct aw_speechd_policy *pol,
                            const char *lang);

/** What a connection asks of its decoder; called in message order. */
struct aw_speechd_proto_ops {
    /** Send a message of the current turn now (turn.start). */
    void (*send)(void *opaque, const char *path, const char *request_id,
                 const char *body);
    /** A turn starts; an unfinished earlier one is abandoned first. */
    void (*turn_begin)(void *opaque, const char *request_id,
                       const struct aw_speechd_turn_conf *conf);
    /** PCM of the current turn; borrowed for the call. */
    void (*audio)(void *opaque, const int16_t *pcm, size_t n);
    /** The client ended the current turn's audio. */
    void (*turn_end)(void *opaque);
    /** The current turn is abandoned (a new request id arrived before its
     *  end of audio). */
    void (*turn_abort)(void *opaque);
};

/** The protocol state of one connection. */
struct aw_speechd_proto {
    const struct aw_speechd_policy *pol;
    struct aw_speechd_params params;
    const struct aw_speechd_proto_ops *ops;
    void *opaque;
    const char *tag; /* log source (session tag); may be NULL */

    bool config_seen;
    /* The current turn: from its first audio message to the next turn. */
    char turn_id[AW_UUID_NODASH_LEN];
    bool turn_open;  /* a turn exists */
    bool turn_ended; /* its end of audio has arrived */
    struct aw_speechd_turn_conf turn_conf;
    /* speech.context received for a turn that has not started yet. */
    char ctx_id[AW_UUID_NODASH_LEN];
    bool ctx_valid;
    struct aw_speechd_turn_conf ctx_conf;
    /* Ids of ended turns, oldest overwritten first. */
    char used[AW_SPEECHD_USED_IDS][AW_UUID_NODASH_LEN];
    size_t nused, used_next;
    /* An odd trailing byte of PCM, waiting for its pair. */
    uint8_t carry;
    bool have_carry;

    char reason[AW_SPEECHD_REASON_MAX + 1];

    /* Figures for the session log line. */
    uint64_t messages;
    uint64_t audio_bytes;
    unsigned turns;
};

void aw_speechd_proto_init(struct aw_speechd_proto *p,
                           const struct aw_speechd_policy *pol,
                           const struct aw_speechd_params *params,
                           const struct aw_speechd_proto_ops *ops,
                           void *opaque);

/**
 * @brief Handle one complete websocket message from the client.
 * @param[out] reason  when closing: the close-frame reason (static or in
 *                     \p p->reason)
 * @returns 0 to carry on, or the websocket close code to close with: 1002
 *          (request-id rules, missing headers), 1007 (framing, audio format,
 *          locale, speech.context), 1009 (a size limit).
 */
int aw_speechd_proto_message(struct aw_speechd_proto *p, const uint8_t *data,
                             size_t len, bool binary, const char **reason);

#endif
