/*
 * Unit tests of the sample ring (src/pipeline/ring.c): a capacity that is
 * not a power of two, positions that wrap many times, and the bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_capacity_is_exact),
        cmocka_unit_test(test_ring_wraps_an_odd_capacity),
        cmocka_unit_test(test_ring_full_refuses_and_counts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
