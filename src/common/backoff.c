#include "common/backoff.h"

uint32_t aw_backoff_delay_ms(const struct aw_backoff *bo, unsigned attempt,
                             uint32_t rnd)
{
    uint64_t base, jitter;

    if (!bo || !bo->table_ms || !bo->table_count)
        return 0;
    base =
        bo->table_ms[attempt < bo->table_count ? attempt : bo->table_count - 1];
    if (!bo->jitter_percent || !base)
        return (uint32_t)base;
    /* Uniform in [base - j, base + j], j = base * jitter_percent / 100. */
    jitter = base * (bo->jitter_percent > 100 ? 100 : bo->jitter_percent) / 100;
    return (uint32_t)(base - jitter + (uint64_t)rnd % (2 * jitter + 1));
}

uint32_t aw_backoff_rand(uint32_t *state)
{
    uint32_t x = *state ? *state : 0x9e3779b9u;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

void aw_backoff_init(struct aw_backoff_state *st, uint32_t seed)
{
    st->attempt = 0;
    st->connected_ms = 0;
    st->seed = seed ? seed : 0x9e3779b9u;
}

uint32_t aw_backoff_next_ms(const struct aw_backoff *bo,
                            struct aw_backoff_state *st, uint64_t now_ms)
{
    uint32_t delay;

    /* A connection that stayed up long enough proves the peer healthy:
     * its loss starts the table over instead of escalating. */
    if (st->connected_ms && bo->healthy_ms &&
        now_ms - st->connected_ms >= bo->healthy_ms)
        st->attempt = 0;
    st->connected_ms = 0;
    delay = aw_backoff_delay_ms(bo, st->attempt, aw_backoff_rand(&st->seed));
    if (st->attempt < 1000)
        st->attempt++;
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
