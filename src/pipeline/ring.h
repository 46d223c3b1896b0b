/*
 * Single-producer/single-consumer ring of 16 kHz mono samples, with a side
 * queue of marks (capture session starts, gaps, titles, end of source) that
 * travel in order with the audio.
 *
 * The producer is an ingest thread or PortAudio's stream callback: it must
 * never block, so aw_ring_write() takes what fits and reports the rest,
 * which the producer counts and announces with a GAP mark. The consumer is
 * the transport thread. Positions are absolute sample counts since the ring
 * was created (64 bits never wrap), so the consumer can keep audio it has
 * already sent (the replay region) simply by not releasing it: it reads at
 * any position between tail and head and moves the tail itself.
 *
 * Each index is written by one side only (head and the mark write index by
 * the producer; tail and the mark read index by the consumer), so
 * acquire/release atomics suffice. No locks, no allocation after
 * aw_ring_init(): safe for a real-time callback. The consumer gives the
 * pages of released audio back to the kernel, so a ring's resident memory
 * is the audio it holds, not its capacity; the producer's first write to
 * such a page is a minor fault.
 */
#ifndef AW_PIPELINE_RING_H
#define AW_PIPELINE_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"

enum aw_ring_mark_type {
    AW_RING_MARK_SESSION,   /* a capture session starts at pos */
    AW_RING_MARK_GAP,       /* lost_samples were lost just before pos */
    AW_RING_MARK_TITLE,     /* the stream title is text from pos on */
    AW_RING_MARK_WALLCLOCK, /* the sample at pos was captured at wall_ms */
    AW_RING_MARK_END,       /* the source ended at pos; err and text say why */
};

#define AW_RING_MARK_TEXT 256

struct aw_ring_mark {
    enum aw_ring_mark_type type;
    uint64_t pos;          /* set by aw_ring_mark() */
    uint64_t lost_samples; /* GAP */
    int64_t wall_ms;       /* SESSION: wall clock of its sample 0; WALLCLOCK */
    enum aw_err err;       /* END: AW_ERR_EOF for a clean end */
    bool final;            /* END: no capture session will follow */
    bool live;             /* SESSION: a live source, which never waits
                              for the consumer (it drops instead) */
    char text[AW_RING_MARK_TEXT]; /* TITLE; SESSION: source; END: reason */
};

struct aw_ring {
    int16_t *buf;           /* its own pages */
    size_t cap;             /* samples */
    size_t page;            /* bytes */
    _Atomic uint64_t head;  /* next write position; producer only */
    _Atomic uint64_t tail;  /* oldest retained position; consumer only */
    _Atomic uint64_t drops; /* samples the producer could not write */

    struct aw_ring_mark *marks;
    size_t mark_mask;
    _Atomic uint64_t mark_w; /* producer only */
    _Atomic uint64_t mark_r; /* consumer only */
    _Atomic uint64_t mark_drops;
};

/**
 * @brief Allocate a ring of \p capacity_samples samples and at least
 *        \p mark_capacity marks (rounded up to a power of two).
 * @returns AW_OK, AW_ERR_NOMEM or AW_ERR_INVAL.
 */
enum aw_err aw_ring_init(struct aw_ring *r, size_t capacity_samples,
                         size_t mark_capacity);
void aw_ring_fini(struct aw_ring *r);

size_t aw_ring_capacity(const struct aw_ring *r);

/**
 * @brief Producer: append up to \p n samples; never blocks.
 * @locality producer thread (ingest or PortAudio callback)
 * @returns the number written; the caller decides what the rest means (a
 *          live source announces it with a GAP mark, a file waits).
 */
size_t aw_ring_write(struct aw_ring *r, const int16_t *src, size_t n);

/** @locality producer. @returns free space in samples. */
size_t aw_ring_space(const struct aw_ring *r);

/** Producer: count \p n samples lost before they reached the ring. */
void aw_ring_count_drops(struct aw_ring *r, uint64_t n);

/**
 * @brief Producer: queue \p m to apply at the current head position.
 * @returns false (and counts it) when the mark queue is full.
 */
bool aw_ring_mark(struct aw_ring *r, const struct aw_ring_mark *m);

/** Consumer: the position after the newest sample (acquire). */
uint64_t aw_ring_head(const struct aw_ring *r);

/** Consumer: the oldest position still readable. */
uint64_t aw_ring_tail(const struct aw_ring *r);

/**
 * @brief Consumer: copy up to \p n samples starting at absolute position
 *        \p pos, which must lie in [tail, head].
 * @returns the number copied (0 if pos is out of range).
 */
size_t aw_ring_peek(const struct aw_ring *r, uint64_t pos, int16_t *dst,
                    size_t n);

/**
 * @brief Consumer: borrow up to \p n contiguous samples at \p pos without
 *        copying. Fewer are returned where the ring wraps.
 * @returns the number available at *out (valid until released).
 */
size_t aw_ring_borrow(const struct aw_ring *r, uint64_t pos,
                      const int16_t **out, size_t n);

/** Consumer: free everything before \p pos (clamped to [tail, head]),
 *  giving the freed whole pages back to the kernel. */
void aw_ring_release(struct aw_ring *r, uint64_t pos);

/** Consumer: take the oldest queued mark. @returns false if none. */
bool aw_ring_pop_mark(struct aw_ring *r, struct aw_ring_mark *m);

uint64_t aw_ring_drops(const struct aw_ring *r);
uint64_t aw_ring_mark_drops(const struct aw_ring *r);

#endif
