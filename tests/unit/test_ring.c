/*
 * Unit tests of the sample ring (src/pipeline/ring.c): a capacity that is
 * not a power of two, positions that wrap many times, and the bounds.
 */
#define _DEFAULT_SOURCE /* mincore(2) */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline/ring.h"

/* Sample k of the stream has value k (mod 2^15). */
static void fill(int16_t *v, uint64_t from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (int16_t)((from + i) & 0x7fff);
}

static void test_ring_capacity_is_exact(void **state)
{
    struct aw_ring r;

    (void)state;
    assert_int_equal(aw_ring_init(&r, 480000, 64), AW_OK);
    assert_int_equal(aw_ring_capacity(&r), 480000);
    assert_int_equal(aw_ring_space(&r), 480000);
    aw_ring_fini(&r);
    assert_int_equal(aw_ring_init(&r, ((size_t)1 << 30) + 1, 64),
                     AW_ERR_INVAL);
}

static void test_ring_wraps_an_odd_capacity(void **state)
{
    int16_t in[7], out[11];
    struct aw_ring r;
    uint64_t written = 0, read = 0;

    (void)state;
    assert_int_equal(aw_ring_init(&r, 10, 4), AW_OK);
    /* Writes of 7 and reads of up to 11 never line up with the capacity
     * of 10, so every offset of the wrap is crossed. */
    for (int round = 0; round < 200; round++) {
        size_t w, n;

        fill(in, written, sizeof(in) / sizeof(in[0]));
        w = aw_ring_write(&r, in, sizeof(in) / sizeof(in[0]));
        written += w;
        assert_true(aw_ring_head(&r) - aw_ring_tail(&r) <= 10);
        n = aw_ring_peek(&r, read, out, sizeof(out) / sizeof(out[0]));
        for (size_t i = 0; i < n; i++)
            assert_int_equal(out[i], (int16_t)((read + i) & 0x7fff));
        /* What borrow() hands out is contiguous and the same audio. */
        {
            const int16_t *p = NULL;
            size_t b = aw_ring_borrow(&r, read, &p, n);

            assert_true(b <= n);
            for (size_t i = 0; i < b; i++)
                assert_int_equal(p[i], (int16_t)((read + i) & 0x7fff));
        }
        read += n;
        aw_ring_release(&r, read);
    }
    assert_int_equal(read, written);
    assert_true(written > 1000);
    aw_ring_fini(&r);
}

static void test_ring_full_refuses_and_counts(void **state)
{
    int16_t in[25];
    struct aw_ring r;

    (void)state;
    assert_int_equal(aw_ring_init(&r, 10, 4), AW_OK);
    fill(in, 0, 25);
    assert_int_equal(aw_ring_write(&r, in, 25), 10);
    assert_int_equal(aw_ring_space(&r), 0);
    assert_int_equal(aw_ring_drops(&r), 15);
    aw_ring_release(&r, 3);
    assert_int_equal(aw_ring_space(&r), 3);
    assert_int_equal(aw_ring_write(&r, in + 10, 3), 3);
    {
        int16_t out[10];

        assert_int_equal(aw_ring_peek(&r, 3, out, 10), 10);
        for (int i = 0; i < 10; i++)
            assert_int_equal(out[i], 3 + i);
        /* Released audio is gone. */
        assert_int_equal(aw_ring_peek(&r, 2, out, 1), 0);
    }
    aw_ring_fini(&r);
}

/* Resident pages of the ring's samples, by mincore(2). */
static size_t resident_pages(const struct aw_ring *r)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = aw_ring_capacity(r) * sizeof(int16_t);
    size_t npages = (len + page - 1) / page, n = 0;
    unsigned char *vec = malloc(npages);

    assert_non_null(vec);
    assert_int_equal(mincore(r->buf, len, vec), 0);
    for (size_t i = 0; i < npages; i++)
        n += vec[i] & 1;
    free(vec);
    return n;
}

static void test_ring_gives_released_pages_back(void **state)
{
    size_t page_samples = (size_t)sysconf(_SC_PAGESIZE) / sizeof(int16_t);
    const size_t cap = 160000 + 333; /* 10 s, not a whole number of pages */
    static int16_t in[16000], out[16000];
    struct aw_ring r;
    uint64_t written = 0, read = 0;

    (void)state;
    assert_int_equal(aw_ring_init(&r, cap, 4), AW_OK);
    assert_int_equal(resident_pages(&r), 0);
    /* Three laps, one second at a time; the consumer keeps 1-2 s and
     * releases in 1-s steps, checking every sample it reads. */
    while (written < 3 * cap) {
        size_t n;

        fill(in, written, 16000);
        assert_int_equal(aw_ring_write(&r, in, 16000), 16000);
        written += 16000;
        while (written - read > 32000) {
            n = aw_ring_peek(&r, read, out, 16000);
            assert_int_equal(n, 16000);
            for (size_t i = 0; i < n; i++)
                assert_int_equal(out[i], (int16_t)((read + i) & 0x7fff));
            read += n;
            aw_ring_release(&r, read);
            /* What is held is resident, little more: the 2 s not yet
             * released, plus a page at each end of every span given
             * back since that page was last written. */
            assert_true(resident_pages(&r) <=
                        (written - read) / page_samples + 2 + 12);
        }
    }
    /* The audio still held was not touched by giving pages back. */
    {
        size_t n = aw_ring_peek(&r, read, out, 16000);

        assert_int_equal(n, 16000);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(out[i], (int16_t)((read + i) & 0x7fff));
    }
    aw_ring_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_capacity_is_exact),
        cmocka_unit_test(test_ring_wraps_an_odd_capacity),
        cmocka_unit_test(test_ring_full_refuses_and_counts),
        cmocka_unit_test(test_ring_gives_released_pages_back),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
