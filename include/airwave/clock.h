/*
 * airwave - time. Monotonic clocks for deadlines and rates, the wall clock
 * only for timestamps that leave the process. Units are in the names.
 */
#ifndef AIRWAVE_CLOCK_H
#define AIRWAVE_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t aw_clock_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline uint64_t aw_clock_mono_ms(void)
{
    return aw_clock_mono_us() / 1000u;
}

/** Milliseconds since the Unix epoch, UTC. */
static inline int64_t aw_clock_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/** CPU time of the whole process, in microseconds (benchmarks, logs). */
uint64_t aw_clock_cpu_us(void);

/**
 * @brief Format \p wall_ms as "2026-11-26T12:00:01.230Z".
 * @param size  at least 25 bytes
 * @returns \p buf
 */
char *aw_time_format_iso8601(int64_t wall_ms, char *buf, size_t size);

/**
 * @brief Parse an ISO 8601 UTC timestamp with optional fraction and 'Z' or
 *        numeric offset (HLS EXT-X-PROGRAM-DATE-TIME, Azure X-Timestamp).
 * @returns 0 and sets *wall_ms, or -1 if \p s is not such a timestamp.
 */
int aw_time_parse_iso8601(const char *s, int64_t *wall_ms);

#endif
