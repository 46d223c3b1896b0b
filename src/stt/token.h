/*
 * Bearer tokens for the speech service: fetched from a token endpoint
 * (Azure: POST https://REGION.api.cognitive.microsoft.com/sts/v1.0/
 * issueToken with the subscription key), valid 10 minutes, used instead of
 * the key on every connection, so the key itself never travels on the
 * websocket. A token is reused for at most 9 minutes, and a reconnect asks
 * for a fresh one (a stale token fails exactly there; azure-speech-protocol
 * §1.3). One token source serves every stream of a process.
 *
 * The source is a state machine without sockets, like the session: the
 * owner performs the fetch it asks for and reports the outcome.
 * @locality transport thread, all of it.
 */
#ifndef AW_STT_TOKEN_H
#define AW_STT_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"

#define AW_STT_TOKEN_MAX_BYTES 8192

struct aw_stt_token;

struct aw_stt_token_io {
    /** Start fetching (POST url with the key); report with
     *  aw_stt_token_on_result(), never from inside this call.
     *  @returns AW_OK if the request started. */
    enum aw_err (*fetch)(void *opaque, const char *url, const char *key);
};

struct aw_stt_token_opts {
    const char *url;          /* the token endpoint */
    const char *key;          /* the subscription key it wants */
    uint64_t reuse_ms;        /* 0: 9 minutes */
    uint64_t fresh_ms;        /* a reconnect takes a token at most this old;
                                 0: 30 s (one fetch serves a burst of them) */
    uint64_t (*now_ms)(void); /* NULL: the monotonic clock */
};

struct aw_stt_token *aw_stt_token_new(const struct aw_stt_token_opts *o,
                                      const struct aw_stt_token_io *io,
                                      void *opaque, char *errstr,
                                      size_t errstr_size);
void aw_stt_token_destroy(struct aw_stt_token *t);

/**
 * @brief The token to connect with.
 * @param reconnect  this connection replaces one that was open
 * @returns AW_OK with *token; AW_ERR_AGAIN while a fetch is under way (ask
 *          again shortly); AW_ERR_AUTH when the endpoint refused the key
 *          (for good, with errstr); AW_ERR_NET / AW_ERR_TIMEOUT while the
 *          endpoint cannot be reached (with errstr; retried with backoff).
 */
enum aw_err aw_stt_token_get(struct aw_stt_token *t, bool reconnect,
                             const char **token, char *errstr,
                             size_t errstr_size);

/** The outcome of the fetch asked for: the HTTP status and body, or a
 *  transport error. */
void aw_stt_token_on_result(struct aw_stt_token *t, int http_status,
                            const char *body, size_t len, enum aw_err err,
                            const char *detail);

/** Tokens fetched so far (metrics, tests). */
uint64_t aw_stt_token_fetches(const struct aw_stt_token *t);

#endif
