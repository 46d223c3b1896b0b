/*
 * airwave-speechd - bearer tokens. See tokens.h.
 */
#include "speechd/tokens.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "airwave/clock.h"
#include "speechd/proto.h"

struct token {
    char value[AW_SPEECHD_TOKEN_LEN];
    uint64_t expires_ms;
};

struct aw_speechd_tokens {
    pthread_mutex_t lock;
    uint64_t lifetime_ms;
    struct token *ring; /* the oldest is overwritten first */
    size_t capacity;
    size_t next;
};

struct aw_speechd_tokens *aw_speechd_tokens_new(unsigned lifetime_s,
                                                size_t capacity)
{
    struct aw_speechd_tokens *t = calloc(1, sizeof(*t));

    if (!t || !capacity)
        goto fail;
    t->ring = calloc(capacity, sizeof(*t->ring));
    if (!t->ring)
        goto fail;
    t->capacity = capacity;
    t->lifetime_ms = (uint64_t)lifetime_s * 1000;
    pthread_mutex_init(&t->lock, NULL);
    return t;

fail:
    if (t)
        free(t->ring);
    free(t);
    return NULL;
}

void aw_speechd_tokens_destroy(struct aw_speechd_tokens *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t->ring);
    free(t);
}

enum aw_err aw_speechd_tokens_issue(struct aw_speechd_tokens *t,
                                    char out[AW_SPEECHD_TOKEN_LEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[32];

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return AW_ERR_IO;
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[AW_SPEECHD_TOKEN_LEN - 1] = '\0';
    pthread_mutex_lock(&t->lock);
    memcpy(t->ring[t->next].value, out, AW_SPEECHD_TOKEN_LEN);
    t->ring[t->next].expires_ms = aw_clock_mono_ms() + t->lifetime_ms;
    t->next = (t->next + 1) % t->capacity;
    pthread_mutex_unlock(&t->lock);
    return AW_OK;
}

bool aw_speechd_tokens_valid(struct aw_speechd_tokens *t, const char *token)
{
    uint64_t now = aw_clock_mono_ms();
    bool ok = false;

    if (!token || strlen(token) != AW_SPEECHD_TOKEN_LEN - 1)
        return false;
    pthread_mutex_lock(&t->lock);
    /* Look at every entry, so the time taken says nothing about which. */
    for (size_t i = 0; i < t->capacity; i++)
        if (t->ring[i].expires_ms > now &&
            aw_speechd_key_equal(t->ring[i].value, token))
            ok = true;
    pthread_mutex_unlock(&t->lock);
    return ok;
}
