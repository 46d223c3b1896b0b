/*
 * airwave - the audio every stream is converted to, and its timeline.
 *
 * Everything after ingest is 16 kHz mono signed 16-bit PCM. Each sample has
 * an index on the timeline of its capture session; a capture session starts
 * whenever a source (re)connects, and sample 0 of it has a wall-clock time.
 * Provider offsets (Azure: 100 ns ticks from the start of a turn) map back
 * onto that timeline through the sample a turn started at.
 */
#ifndef AIRWAVE_AUDIO_H
#define AIRWAVE_AUDIO_H

#include <stdint.h>

#define AW_AUDIO_RATE_HZ        16000
#define AW_AUDIO_SAMPLES_PER_MS 16
#define AW_AUDIO_BYTES_PER_SAMPLE 2
/* 100 ns ticks per sample at 16 kHz. */
#define AW_TICKS_PER_SAMPLE 625

static inline int64_t aw_samples_to_ms(uint64_t samples)
{
    return (int64_t)(samples / AW_AUDIO_SAMPLES_PER_MS);
}

static inline uint64_t aw_ms_to_samples(int64_t ms)
{
    return ms > 0 ? (uint64_t)ms * AW_AUDIO_SAMPLES_PER_MS : 0;
}

/** Ticks to samples, rounding to the nearest sample. */
static inline uint64_t aw_ticks_to_samples(int64_t ticks)
{
    return ticks > 0 ? ((uint64_t)ticks + AW_TICKS_PER_SAMPLE / 2) /
                           AW_TICKS_PER_SAMPLE
                     : 0;
}

static inline int64_t aw_samples_to_ticks(uint64_t samples)
{
    return (int64_t)(samples * AW_TICKS_PER_SAMPLE);
}

#endif
