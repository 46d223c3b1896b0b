/*
 * Bearer tokens. See token.h.
 */
#include "stt/token.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "airwave/clock.h"
#include "airwave/log.h"
#include "common/backoff.h"

#define MOD "token"

static const uint32_t retry_ms[] = {1000, 2000, 5000, 10000, 30000};
static const struct aw_backoff retry_backoff = {
    .table_ms = retry_ms,
    .table_count = AW_ARRAY_SIZE(retry_ms),
    .jitter_percent = 20,
};

struct aw_stt_token {
    struct aw_stt_token_opts o;
    struct aw_stt_token_io io;
    void *opaque;
    char *url;
    char *key;
    char *token;         /* NULL until the first fetch succeeds */
    uint64_t fetched_ms; /* when it was asked for */
    uint64_t asked_ms;   /* when the fetch under way was asked for */
    bool fetching;
    bool refused;         /* the endpoint refused the key: for good */
    uint64_t retry_at_ms; /* after a failed fetch */
    struct aw_backoff_state bo;
    char error[256];
    uint64_t fetches;
};

static uint64_t now_ms(const struct aw_stt_token *t)
{
    return t->o.now_ms ? t->o.now_ms() : aw_clock_mono_ms();
}

struct aw_stt_token *aw_stt_token_new(const struct aw_stt_token_opts *o,
                                      const struct aw_stt_token_io *io,
                                      void *opaque, char *errstr,
                                      size_t errstr_size)
{
    struct aw_stt_token *t;

    if (!o->url || !o->key || !*o->key) {
        aw_errstr_set(errstr, errstr_size,
                      "a token endpoint needs the speech key "
                      "(AZURE_SPEECH_KEY or speech.key_file)");
        return NULL;
    }
    t = calloc(1, sizeof(*t));
    if (!t) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    t->o = *o;
    t->io = *io;
    t->opaque = opaque;
    if (!t->o.reuse_ms)
        t->o.reuse_ms = 9 * 60 * 1000;
    if (!t->o.fresh_ms)
        t->o.fresh_ms = 30 * 1000;
    t->url = strdup(o->url);
    t->key = strdup(o->key);
    if (!t->url || !t->key) {
        aw_stt_token_destroy(t);
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    aw_log_add_secret(t->key);
    aw_backoff_init(&t->bo, (uint32_t)(uintptr_t)t);
    t->o.url = t->o.key = NULL;
    return t;
}

void aw_stt_token_destroy(struct aw_stt_token *t)
{
    if (!t)
        return;
    if (t->token)
        aw_log_remove_secret(t->token);
    free(t->url);
    free(t->key);
    free(t->token);
    free(t);
}

enum aw_err aw_stt_token_get(struct aw_stt_token *t, bool reconnect,
                             const char **token, char *errstr,
                             size_t errstr_size)
{
    uint64_t now = now_ms(t), age = now - t->fetched_ms;
    enum aw_err err;

    if (t->refused) {
        aw_errstr_set(errstr, errstr_size, "%s", t->error);
        return AW_ERR_AUTH;
    }
    if (t->token && age < t->o.reuse_ms &&
        !(reconnect && age > t->o.fresh_ms)) {
        *token = t->token;
        return AW_OK;
    }
    if (t->fetching)
        return AW_ERR_AGAIN;
    if (now < t->retry_at_ms) {
        aw_errstr_set(errstr, errstr_size, "%s", t->error);
        return AW_ERR_NET;
    }
    t->fetching = true;
    t->asked_ms = now;
    err = t->io.fetch(t->opaque, t->url, t->key);
    if (err) {
        t->fetching = false;
        t->retry_at_ms = now + aw_backoff_next_ms(&retry_backoff, &t->bo, now);
        aw_errstr_set(t->error, sizeof(t->error),
                      "cannot reach the token endpoint %s", t->url);
        aw_errstr_set(errstr, errstr_size, "%s", t->error);
        return AW_ERR_NET;
    }
    return AW_ERR_AGAIN;
}

void aw_stt_token_on_result(struct aw_stt_token *t, int http_status,
                            const char *body, size_t len, enum aw_err err,
                            const char *detail)
{
    uint64_t now = now_ms(t);
    char *tok;

    t->fetching = false;
    if (http_status == 200 && !err) {
        /* The body is the token, perhaps with a newline. */
        while (len && isspace((unsigned char)body[len - 1]))
            len--;
        while (len && isspace((unsigned char)*body)) {
            body++;
            len--;
        }
        if (len && len < AW_STT_TOKEN_MAX_BYTES) {
            tok = strndup(body, len);
            if (tok) {
                /* A token opens sessions like the key: never logged. */
                aw_log_add_secret(tok);
                if (t->token)
                    aw_log_remove_secret(t->token);
                free(t->token);
                t->token = tok;
                t->fetched_ms = t->asked_ms;
                t->fetches++;
                aw_backoff_reset(&t->bo);
                AW_DEBUG(MOD, NULL, "token fetched from %s", t->url);
                return;
            }
        }
        aw_errstr_set(t->error, sizeof(t->error),
                      "token endpoint %s sent no usable token", t->url);
    } else if (http_status == 401 || http_status == 403) {
        t->refused = true;
        aw_errstr_set(t->error, sizeof(t->error),
                      "token endpoint %s refused the key (HTTP %d)", t->url,
                      http_status);
        AW_ERROR(MOD, NULL, "%s", t->error);
        return;
    } else if (http_status) {
        aw_errstr_set(t->error, sizeof(t->error),
                      "token endpoint %s answered HTTP %d", t->url,
                      http_status);
    } else {
        aw_errstr_set(t->error, sizeof(t->error), "token endpoint %s: %s",
                      t->url, detail && *detail ? detail : aw_err_str(err));
    }
    aw_log_redact(t->error, sizeof(t->error));
    t->retry_at_ms = now + aw_backoff_next_ms(&retry_backoff, &t->bo, now);
    AW_WARN(MOD, NULL, "%s", t->error);
}

uint64_t aw_stt_token_fetches(const struct aw_stt_token *t)
{
    return t ? t->fetches : 0;
}
