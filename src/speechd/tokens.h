/*
 * airwave-speechd - bearer tokens, as the Azure token service issues them:
 * POST /sts/v1.0/issueToken with the subscription key returns a token that
 * opens websocket sessions (Authorization: Bearer TOKEN) until it expires,
 * 10 minutes later by default. Tokens are random, kept in a bounded table
 * (the oldest is forgotten first) and compared in constant time.
 *
 * @locality any thread: one mutex guards the table.
 */
#ifndef AW_SPEECHD_TOKENS_H
#define AW_SPEECHD_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"

#define AW_SPEECHD_TOKEN_LEN 65 /* 64 hex digits + NUL */

struct aw_speechd_tokens;

/** @param lifetime_s  how long an issued token is valid
 *  @param capacity    tokens remembered at most */
struct aw_speechd_tokens *aw_speechd_tokens_new(unsigned lifetime_s,
                                                size_t capacity);
void aw_speechd_tokens_destroy(struct aw_speechd_tokens *t);

/** @returns AW_OK, or AW_ERR_IO without entropy. */
enum aw_err aw_speechd_tokens_issue(struct aw_speechd_tokens *t,
                                    char out[AW_SPEECHD_TOKEN_LEN]);

/** @returns true if \p token was issued here and has not expired. */
bool aw_speechd_tokens_valid(struct aw_speechd_tokens *t, const char *token);

#endif
