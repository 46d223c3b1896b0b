#include "common/backoff.h"

void aw_backoff_init(struct aw_backoff_state *st, uint32_t seed)
{
    st->attempt = 0;
    st->connected_ms = 0;
    st->seed = seed ? seed : 0x9e3779b9u;
}

/* xorshift32: jitter needs spread, not secrecy. */
static uint32_t next_rand(struct aw_backoff_state *st)
{
    uint32_t x = st->seed;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    st->seed = x;
    return x;
}

uint32_t aw_backoff_next_ms(const struct aw_backoff *bo,
                            struct aw_backoff_state *st, uint64_t now_ms)
{
    size_t idx;
    uint32_t delay, jitter;

    /* A connection that stayed up long enough proves the peer healthy:
     * its loss starts the table over instead of escalating. */
    if (st->connected_ms && bo->healthy_ms &&
        now_ms - st->connected_ms >= bo->healthy_ms)
        st->attempt = 0;
    st->connected_ms = 0;

    idx = st->attempt < bo->table_count ? st->attempt : bo->table_count - 1;
    delay = bo->table_count ? bo->table_ms[idx] : 0;
    if (st->attempt < 1000)
        st->attempt++;
    if (bo->jitter_percent && delay) {
        jitter = (uint32_t)((uint64_t)delay * bo->jitter_percent / 100);
        if (jitter)
            delay -= next_rand(st) % (jitter + 1);
    }
    return delay;
}

void aw_backoff_connected(struct aw_backoff_state *st, uint64_t now_ms)
{
    st->connected_ms = now_ms ? now_ms : 1;
}

void aw_backoff_reset(struct aw_backoff_state *st)
{
    st->attempt = 0;
}
