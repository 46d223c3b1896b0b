/*
 * Retry policy as data, in the shape of libwebsockets' lws_retry_bo_t: a
 * table of delays, jitter so streams restarted together do not retry
 * together, and a reset once a connection has been healthy for a while.
 * Used for source reopens (ingest) and speech reconnects (stt/session.c).
 */
#ifndef AW_COMMON_BACKOFF_H
#define AW_COMMON_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

struct aw_backoff {
    const uint32_t *table_ms; /* the last entry repeats */
    size_t table_count;
    unsigned jitter_percent; /* delays spread uniformly +/- this much */
    uint32_t healthy_ms;     /* connected this long: start over */
};

/**
 * @brief The delay before attempt \p attempt (0-based): table_ms[min(attempt,
 *        count - 1)] spread by +/- jitter_percent using \p rnd.
 * @returns milliseconds; 0 for an empty table. Pure.
 */
uint32_t aw_backoff_delay_ms(const struct aw_backoff *bo, unsigned attempt,
                             uint32_t rnd);

/** xorshift32 step: spread for jitter, not secrecy. Never returns 0 for a
 *  non-zero state. */
uint32_t aw_backoff_rand(uint32_t *state);

/** Attempts in a row and when the current connection came up. */
struct aw_backoff_state {
    unsigned attempt;      /* failures in a row */
    uint64_t connected_ms; /* when the current connection came up, or 0 */
    uint32_t seed;
};

void aw_backoff_init(struct aw_backoff_state *st, uint32_t seed);

/** A connection attempt failed or a connection dropped: @returns the delay
 *  before the next attempt, and counts the attempt. */
uint32_t aw_backoff_next_ms(const struct aw_backoff *bo,
                            struct aw_backoff_state *st, uint64_t now_ms);

/** The connection is up at \p now_ms. */
void aw_backoff_connected(struct aw_backoff_state *st, uint64_t now_ms);

/** Forget past failures (e.g. after the peer proved healthy). */
void aw_backoff_reset(struct aw_backoff_state *st);

#endif
