/*
 * Reconnect backoff as data (STYLE.md §8, in the shape of lws_retry_bo_t).
 * Local to ingest for now; the table and the evaluator are pure, so a
 * common src/common/backoff.c can take them over unchanged.
 *
 * @locality any thread (pure)
 */
#include "ingest/ingest.h"

static const uint32_t default_table_ms[] = {500, 1000, 2000, 5000, 10000};

const struct aw_ingest_backoff aw_ingest_default_backoff = {
    .table_ms = default_table_ms,
    .table_count = AW_ARRAY_SIZE(default_table_ms),
    /* Streams that fail together (one upstream outage) must not all retry
     * in the same millisecond. */
    .jitter_percent = 20,
    .reset_after_ms = 60000,
};

uint32_t aw_ingest_backoff_delay_ms(const struct aw_ingest_backoff *bo,
                                    unsigned attempt, uint32_t rnd)
{
    uint64_t base, span, jitter;

    if (!bo || !bo->table_ms || !bo->table_count)
        return 0;
    base =
        bo->table_ms[attempt < bo->table_count ? attempt : bo->table_count - 1];
    if (!bo->jitter_percent || !base)
        return (uint32_t)base;
    /* Uniform in [base - j, base + j], j = base * jitter_percent / 100. */
    jitter = base * (bo->jitter_percent > 100 ? 100 : bo->jitter_percent) / 100;
    span = 2 * jitter + 1;
    return (uint32_t)(base - jitter + (uint64_t)rnd % span);
}
