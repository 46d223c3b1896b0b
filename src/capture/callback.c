/*
 * PortAudio's stream callback and the float FIFO behind it.
 *
 * Everything here may run on PortAudio's callback thread, at real-time
 * priority (see PaStreamCallback in portaudio.h): no allocation, no lock,
 * no log, no call that can block. It copies, counts with atomics, and
 * queues marks with aw_ring_mark(), which is lock-free and wait-free (one
 * struct copy and two atomics, ring.c). The one library call is
 * clock_gettime(CLOCK_REALTIME) for the wall clock of a session's first
 * sample, once per session: a vDSO read that neither blocks nor locks.
 *
 * Losses are announced where the audio resumes, as ingest does for live
 * sources: a GAP mark (or a FIFO loss record) is queued only once there is
 * room for the next sample, so its position is the first sample after the
 * hole. When the mark queue itself is full the loss stays pending and
 * grows (the audio meanwhile is dropped too, or it would arrive as if
 * nothing had been lost); it is queued with a later buffer.
 */
#include "capture/capture_int.h"

#include <stdlib.h>
#include <string.h>

#include "airwave/clock.h"

/* An overflow estimate of more than this is not believed. */
#define MAX_OVERFLOW_S 60.0

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;

    while (p < n && p < (SIZE_MAX >> 1))
        p <<= 1;
    return p;
}

/* --- FIFO ---------------------------------------------------------------- */

enum aw_err aw_capture_fifo_init(struct aw_capture_fifo *f, size_t frames,
                                 unsigned channels)
{
    size_t cap;

    memset(f, 0, sizeof(*f));
    if (!frames || !channels || channels > AW_CAPTURE_MAX_OPEN_CHANNELS ||
        frames > ((size_t)1 << 26))
        return AW_ERR_INVAL;
    cap = pow2_at_least(frames);
    f->buf = calloc(cap * channels, sizeof(*f->buf));
    if (!f->buf)
        return AW_ERR_NOMEM;
    f->mask = cap - 1;
    f->channels = channels;
    atomic_init(&f->head, 0);
    atomic_init(&f->tail, 0);
    atomic_init(&f->gap_w, 0);
    atomic_init(&f->gap_r, 0);
    return AW_OK;
}

void aw_capture_fifo_fini(struct aw_capture_fifo *f)
{
    free(f->buf);
    f->buf = NULL;
}

static size_t fifo_space(const struct aw_capture_fifo *f)
{
    uint64_t head = atomic_load_explicit(&f->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&f->tail, memory_order_acquire);

    return f->mask + 1 - (size_t)(head - tail);
}

size_t aw_capture_fifo_write(struct aw_capture_fifo *f, const float *src,
                             size_t frames)
{
    uint64_t head = atomic_load_explicit(&f->head, memory_order_relaxed);
    size_t space = fifo_space(f), cap = f->mask + 1, idx, first;
    unsigned ch = f->channels;

    if (frames > space)
        frames = space;
    idx = (size_t)head & f->mask;
    first = frames < cap - idx ? frames : cap - idx;
    memcpy(f->buf + idx * ch, src, first * ch * sizeof(*src));
    memcpy(f->buf, src + first * ch, (frames - first) * ch * sizeof(*src));
    /* Release: the frames are visible before the new head is. */
    atomic_store_explicit(&f->head, head + frames, memory_order_release);
    return frames;
}

bool aw_capture_fifo_gap(struct aw_capture_fifo *f, uint64_t frames)
{
    uint64_t w = atomic_load_explicit(&f->gap_w, memory_order_relaxed);
    uint64_t r = atomic_load_explicit(&f->gap_r, memory_order_acquire);
    struct aw_capture_gap *g;

    if (w - r >= AW_CAPTURE_FIFO_GAPS)
        return false;
    g = &f->gaps[w & (AW_CAPTURE_FIFO_GAPS - 1)];
    g->pos = atomic_load_explicit(&f->head, memory_order_relaxed);
    g->frames = frames;
    atomic_store_explicit(&f->gap_w, w + 1, memory_order_release);
    return true;
}

size_t aw_capture_fifo_read(struct aw_capture_fifo *f, float *dst, size_t max,
                            uint64_t *gap_frames)
{
    uint64_t tail = atomic_load_explicit(&f->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&f->head, memory_order_acquire);
    uint64_t gr = atomic_load_explicit(&f->gap_r, memory_order_relaxed);
    uint64_t gw = atomic_load_explicit(&f->gap_w, memory_order_acquire);
    size_t cap = f->mask + 1, idx, first, n;
    uint64_t avail = head - tail;
    unsigned ch = f->channels;

    *gap_frames = 0;
    if (gr != gw) {
        const struct aw_capture_gap *g =
            &f->gaps[gr & (AW_CAPTURE_FIFO_GAPS - 1)];

        if (g->pos <= tail) {
            *gap_frames = g->frames;
            atomic_store_explicit(&f->gap_r, gr + 1, memory_order_release);
            return 0;
        }
        /* Read up to the hole; the loss is reported by the next call. */
        if (g->pos - tail < avail)
            avail = g->pos - tail;
    }
    n = avail < max ? (size_t)avail : max;
    idx = (size_t)tail & f->mask;
    first = n < cap - idx ? n : cap - idx;
    memcpy(dst, f->buf + idx * ch, first * ch * sizeof(*dst));
    memcpy(dst + first * ch, f->buf, (n - first) * ch * sizeof(*dst));
    /* Release: our reads happen before the producer may overwrite. */
    atomic_store_explicit(&f->tail, tail + n, memory_order_release);
    return n;
}

/* --- callback state ------------------------------------------------------ */

void aw_capture_cb_init(struct aw_capture_cb *cb)
{
    memset(cb, 0, sizeof(*cb));
    atomic_init(&cb->session_marked, false);
    atomic_init(&cb->first_wall_ms, 0);
    atomic_init(&cb->calls, 0);
    atomic_init(&cb->frames, 0);
    atomic_init(&cb->written, 0);
    atomic_init(&cb->dropped, 0);
    atomic_init(&cb->overflows, 0);
    atomic_init(&cb->gap_marks, 0);
}

void aw_capture_cb_arm(struct aw_capture_cb *cb, struct aw_ring *ring,
                       struct aw_capture_fifo *fifo, unsigned channels,
                       double rate_hz, const struct aw_ring_mark *session)
{
    cb->ring = ring;
    cb->fifo = fifo;
    cb->channels = channels ? channels : 1;
    cb->rate_hz = rate_hz > 0 ? rate_hz : 16000;
    memset(&cb->session, 0, sizeof(cb->session));
    if (session)
        cb->session = *session;
    cb->session.type = AW_RING_MARK_SESSION;
    cb->session.live = true;
    cb->session_due = !fifo;
    cb->first_seen = false;
    cb->pending_gap = 0;
    cb->next_adc_s = 0;
    atomic_store_explicit(&cb->session_marked, false, memory_order_relaxed);
    atomic_store_explicit(&cb->first_wall_ms, 0, memory_order_relaxed);
}

/* --- the callback -------------------------------------------------------- */

/* PortAudio's overflow flag says that input was discarded, not how much:
 * the jump in ADC time since the previous buffer does, when the host's
 * timestamps are sane. Otherwise assume one buffer, the least it can be. */
static uint64_t overflow_frames(const struct aw_capture_cb *cb,
                                const PaStreamCallbackTimeInfo *ti,
                                unsigned long frames)
{
    double adc = ti ? ti->inputBufferAdcTime : 0;

    if (cb->next_adc_s > 0 && adc > cb->next_adc_s) {
        double lost = (adc - cb->next_adc_s) * cb->rate_hz;

        if (lost >= 1 && lost < MAX_OVERFLOW_S * cb->rate_hz)
            return (uint64_t)(lost + 0.5);
    }
    return frames ? frames : 1;
}

/* The wall clock of this buffer's first sample: now, less the buffer's
 * length. The host's own timestamps (currentTime - inputBufferAdcTime) are
 * not used: PulseAudio's ALSA plugin reports up to 0.7 s of start-up
 * latency that is not there, which dated whole sessions that much early. */
static void date_first_sample(struct aw_capture_cb *cb, unsigned long frames)
{
    int64_t age_ms = (int64_t)((double)frames * 1000 / cb->rate_hz + 0.5);

    atomic_store_explicit(&cb->first_wall_ms, aw_clock_wall_ms() - age_ms,
                          memory_order_relaxed);
}

/* @returns false when the mark queue is full: the loss stays pending. */
static bool flush_gap(struct aw_capture_cb *cb)
{
    struct aw_ring_mark m;

    memset(&m, 0, sizeof(m));
    m.type = AW_RING_MARK_GAP;
    m.lost_samples = cb->pending_gap;
    if (!aw_ring_mark(cb->ring, &m))
        return false;
    cb->pending_gap = 0;
    atomic_fetch_add_explicit(&cb->gap_marks, 1, memory_order_relaxed);
    return true;
}

static void lose(struct aw_capture_cb *cb, uint64_t n)
{
    cb->pending_gap += n;
    atomic_fetch_add_explicit(&cb->dropped, n, memory_order_relaxed);
}

/* Direct path: 16 kHz mono int16 straight into the stream's ring. */
static void put_ring(struct aw_capture_cb *cb, const int16_t *pcm, size_t n)
{
    size_t space, w;

    if (!n)
        return;
    if (cb->session_due) {
        cb->session.wall_ms =
            atomic_load_explicit(&cb->first_wall_ms, memory_order_relaxed);
        if (!aw_ring_mark(cb->ring, &cb->session)) {
            /* Audio before its SESSION would belong to no session: drop
             * it until the consumer makes room for the mark. */
            atomic_fetch_add_explicit(&cb->dropped, n, memory_order_relaxed);
            return;
        }
        cb->session_due = false;
        /* Nothing was lost within a session that had not begun. */
        cb->pending_gap = 0;
        atomic_store_explicit(&cb->session_marked, true, memory_order_release);
    }
    /* One look at the free space decides both the GAP and the write: the
     * consumer may free more in between, and audio written after a second
     * look would land before its GAP. */
    space = aw_ring_space(cb->ring);
    /* Audio written while its GAP cannot be queued (the mark queue is
     * full) would arrive as if nothing had been lost: drop it too. */
    if (cb->pending_gap && space && !flush_gap(cb))
        space = 0;
    w = aw_ring_write(cb->ring, pcm, n < space ? n : space);
    if (w < n) {
        aw_ring_count_drops(cb->ring, n - w);
        lose(cb, n - w);
    }
    atomic_fetch_add_explicit(&cb->written, w, memory_order_relaxed);
}

/* Resampling path: device frames into the FIFO for the capture thread. */
static void put_fifo(struct aw_capture_cb *cb, const float *pcm, size_t n)
{
    size_t space, w;

    if (!n)
        return;
    /* One look at the space, as in put_ring(). */
    space = fifo_space(cb->fifo);
    if (cb->pending_gap && space) {
        if (aw_capture_fifo_gap(cb->fifo, cb->pending_gap)) {
            cb->pending_gap = 0;
            atomic_fetch_add_explicit(&cb->gap_marks, 1, memory_order_relaxed);
        } else {
            space = 0; /* the loss queue is full: as in put_ring() */
        }
    }
    w = aw_capture_fifo_write(cb->fifo, pcm, n < space ? n : space);
    if (w < n)
        lose(cb, n - w);
    atomic_fetch_add_explicit(&cb->written, w, memory_order_relaxed);
}

int aw_capture_callback(const void *input, void *output, unsigned long frames,
                        const PaStreamCallbackTimeInfo *time_info,
                        PaStreamCallbackFlags flags, void *opaque)
{
    struct aw_capture_cb *cb = opaque;
    size_t n = frames;

    (void)output;
    atomic_fetch_add_explicit(&cb->calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&cb->frames, frames, memory_order_relaxed);
    if (!cb->first_seen) {
        cb->first_seen = true;
        date_first_sample(cb, frames);
    }
    /* paInputOverflow: counted, not an error (STYLE.md §4). */
    if (flags & paInputOverflow) {
        atomic_fetch_add_explicit(&cb->overflows, 1, memory_order_relaxed);
        lose(cb, overflow_frames(cb, time_info, frames));
    }
    if (time_info && time_info->inputBufferAdcTime > 0)
        cb->next_adc_s =
            time_info->inputBufferAdcTime + (double)frames / cb->rate_hz;
    else
        cb->next_adc_s = 0;
    /* No input buffer on an input stream is a hole, not silence. */
    if (!input) {
        lose(cb, n);
        return paContinue;
    }
    if (cb->fifo)
        put_fifo(cb, input, n);
    else
        put_ring(cb, input, n);
    return paContinue;
}
