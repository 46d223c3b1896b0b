/*
 * SPSC sample ring with marks. See ring.h for the threading contract.
 */
/* madvise(MADV_DONTNEED) and MAP_ANONYMOUS are Linux/BSD, not POSIX
 * (POSIX_MADV_DONTNEED is a no-op in glibc). */
#define _DEFAULT_SOURCE

#include "pipeline/ring.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A release of fewer whole pages than this keeps them: not worth a system
 * call (16 KiB, half a second of audio). */
#define GIVE_BACK_MIN_BYTES (16 * 1024)

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;

    while (p < n && p < (SIZE_MAX >> 1))
        p <<= 1;
    return p;
}

enum aw_err aw_ring_init(struct aw_ring *r, size_t capacity_samples,
                         size_t mark_capacity)
{
    /* The samples exactly as asked (they are most of a stream's memory);
     * the small mark array a power of two. */
    size_t cap = capacity_samples ? capacity_samples : 1;
    size_t mcap = pow2_at_least(mark_capacity ? mark_capacity : 1);
    long page = sysconf(_SC_PAGESIZE);
    void *buf;

    memset(r, 0, sizeof(*r));
    if (capacity_samples > ((size_t)1 << 30))
        return AW_ERR_INVAL;
    /* Pages of its own, so that released audio can be given back. */
    buf = mmap(NULL, cap * sizeof(*r->buf), PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    r->buf = buf == MAP_FAILED ? NULL : buf;
    r->cap = cap; /* before aw_ring_fini(), which unmaps cap samples */
    r->page = page > 0 ? (size_t)page : 4096;
    r->marks = calloc(mcap, sizeof(*r->marks));
    if (!r->buf || !r->marks) {
        aw_ring_fini(r);
        return AW_ERR_NOMEM;
    }
    r->mark_mask = mcap - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->drops, 0);
    atomic_init(&r->mark_w, 0);
    atomic_init(&r->mark_r, 0);
    atomic_init(&r->mark_drops, 0);
    return AW_OK;
}

void aw_ring_fini(struct aw_ring *r)
{
    if (r->buf)
        munmap(r->buf, r->cap * sizeof(*r->buf));
    free(r->marks);
    r->buf = NULL;
    r->marks = NULL;
}

size_t aw_ring_capacity(const struct aw_ring *r)
{
    return r->cap;
}

size_t aw_ring_space(const struct aw_ring *r)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

    return aw_ring_capacity(r) - (size_t)(head - tail);
}

size_t aw_ring_write(struct aw_ring *r, const int16_t *src, size_t n)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t space = aw_ring_space(r), first, idx;

    if (n > space) {
        atomic_fetch_add_explicit(&r->drops, n - space, memory_order_relaxed);
        n = space;
    }
    idx = (size_t)(head % r->cap);
    first = n < aw_ring_capacity(r) - idx ? n : aw_ring_capacity(r) - idx;
    memcpy(r->buf + idx, src, first * sizeof(*src));
    memcpy(r->buf, src + first, (n - first) * sizeof(*src));
    /* Release: the samples are visible before the new head is. */
    atomic_store_explicit(&r->head, head + n, memory_order_release);
    return n;
}

void aw_ring_count_drops(struct aw_ring *r, uint64_t n)
{
    atomic_fetch_add_explicit(&r->drops, n, memory_order_relaxed);
}

bool aw_ring_mark(struct aw_ring *r, const struct aw_ring_mark *m)
{
    uint64_t w = atomic_load_explicit(&r->mark_w, memory_order_relaxed);
    uint64_t rd = atomic_load_explicit(&r->mark_r, memory_order_acquire);
    struct aw_ring_mark *slot;

    if (w - rd > r->mark_mask) {
        atomic_fetch_add_explicit(&r->mark_drops, 1, memory_order_relaxed);
        return false;
    }
    slot = &r->marks[w & r->mark_mask];
    *slot = *m;
    slot->pos = atomic_load_explicit(&r->head, memory_order_relaxed);
    slot->text[sizeof(slot->text) - 1] = '\0';
    atomic_store_explicit(&r->mark_w, w + 1, memory_order_release);
    return true;
}

uint64_t aw_ring_head(const struct aw_ring *r)
{
    return atomic_load_explicit(&r->head, memory_order_acquire);
}

uint64_t aw_ring_tail(const struct aw_ring *r)
{
    return atomic_load_explicit(&r->tail, memory_order_relaxed);
}

size_t aw_ring_borrow(const struct aw_ring *r, uint64_t pos,
                      const int16_t **out, size_t n)
{
    uint64_t head = aw_ring_head(r), tail = aw_ring_tail(r);
    size_t idx, contig;

    if (pos < tail || pos >= head)
        return 0;
    if (n > head - pos)
        n = (size_t)(head - pos);
    idx = (size_t)(pos % r->cap);
    contig = aw_ring_capacity(r) - idx;
    *out = r->buf + idx;
    return n < contig ? n : contig;
}

size_t aw_ring_peek(const struct aw_ring *r, uint64_t pos, int16_t *dst,
                    size_t n)
{
    size_t done = 0;

    while (done < n) {
        const int16_t *p;
        size_t got = aw_ring_borrow(r, pos + done, &p, n - done);

        if (!got)
            break;
        memcpy(dst + done, p, got * sizeof(*p));
        done += got;
    }
    return done;
}

/* Hand the whole pages of samples [from, to) back to the kernel; the
 * pages at either end may still hold other samples and stay. */
static void give_back_span(const struct aw_ring *r, size_t from, size_t to)
{
    uintptr_t a = (uintptr_t)(r->buf + from), b = (uintptr_t)(r->buf + to);

    a = (a + r->page - 1) & ~(uintptr_t)(r->page - 1);
    b &= ~(uintptr_t)(r->page - 1);
    if (b > a && b - a >= GIVE_BACK_MIN_BYTES)
        (void)madvise((void *)a, b - a, MADV_DONTNEED);
}

/*
 * The audio in [from, to) has just been released and the producer cannot
 * write there until the new tail is published: give its pages back, so a
 * stream's resident memory follows the audio it holds (usually a few
 * seconds since the last final phrase) rather than the ring's capacity.
 * The producer's next write to a page takes a fresh zeroed one.
 */
static void give_back(const struct aw_ring *r, uint64_t from, uint64_t to)
{
    size_t i = (size_t)(from % r->cap), n = (size_t)(to - from);
    size_t first = n < r->cap - i ? n : r->cap - i;

    give_back_span(r, i, i + first);
    if (n > first)
        give_back_span(r, 0, n - first);
}

void aw_ring_release(struct aw_ring *r, uint64_t pos)
{
    uint64_t head = aw_ring_head(r), tail = aw_ring_tail(r);

    if (pos <= tail)
        return;
    if (pos > head)
        pos = head;
    give_back(r, tail, pos);
    /* Release: our reads of the freed region, and giving its pages back,
     * happen before the producer may overwrite it. */
    atomic_store_explicit(&r->tail, pos, memory_order_release);
}

bool aw_ring_pop_mark(struct aw_ring *r, struct aw_ring_mark *m)
{
    uint64_t rd = atomic_load_explicit(&r->mark_r, memory_order_relaxed);
    uint64_t w = atomic_load_explicit(&r->mark_w, memory_order_acquire);

    if (rd == w)
        return false;
    *m = r->marks[rd & r->mark_mask];
    atomic_store_explicit(&r->mark_r, rd + 1, memory_order_release);
    return true;
}

uint64_t aw_ring_drops(const struct aw_ring *r)
{
    return atomic_load_explicit(&r->drops, memory_order_relaxed);
}

uint64_t aw_ring_mark_drops(const struct aw_ring *r)
{
    return atomic_load_explicit(&r->mark_drops, memory_order_relaxed);
}
