/*
 * Unit tests of the Prometheus text exposition (src/metrics): what a
 * scraper parses must be exactly what the format says.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "metrics/metrics.h"

static void test_metrics_family_and_samples(void **state)
{
    const char *labels[] = {"stream", "radio \"1\"\\x\n", NULL};
    struct aw_buf b;

    (void)state;
    aw_buf_init(&b, 4096);
    assert_int_equal(aw_metrics_family(&b, "airwave_x_total", AW_METRIC_COUNTER,
                                       "Things\ncounted \\ here"),
                     AW_OK);
    assert_int_equal(aw_metrics_sample(&b, "airwave_x_total", labels, 3),
                     AW_OK);
    assert_int_equal(aw_metrics_sample(&b, "airwave_x_total", NULL, 6.012),
                     AW_OK);
    assert_string_equal(
        b.data, "# HELP airwave_x_total Things\\ncounted \\\\ here\n"
                "# TYPE airwave_x_total counter\n"
                "airwave_x_total{stream=\"radio \\\"1\\\"\\\\x\\n\"} 3\n"
                "airwave_x_total 6.012\n");
    aw_buf_fini(&b);
}

static void test_metrics_histogram_is_cumulative(void **state)
{
    static const double bounds[] = {0.5, 1, 5};
    const char *labels[] = {"stream", "a", NULL};
    struct aw_histogram h;
    struct aw_buf b;

    (void)state;
    assert_int_equal(aw_histogram_init(&h, bounds, 3), AW_OK);
    aw_histogram_observe(&h, 0.25);
    aw_histogram_observe(&h, 0.5); /* on a bound: counted in that bucket */
    aw_histogram_observe(&h, 2);
    aw_histogram_observe(&h, 100);
    aw_histogram_observe(&h, -1); /* clock skew: counted as 0 */
    assert_int_equal(aw_histogram_count(&h), 5);
    aw_buf_init(&b, 4096);
    assert_int_equal(aw_metrics_histogram(&b, "lat_seconds", labels, &h),
                     AW_OK);
    assert_string_equal(b.data,
                        "lat_seconds_bucket{stream=\"a\",le=\"0.5\"} 3\n"
                        "lat_seconds_bucket{stream=\"a\",le=\"1\"} 3\n"
                        "lat_seconds_bucket{stream=\"a\",le=\"5\"} 4\n"
                        "lat_seconds_bucket{stream=\"a\",le=\"+Inf\"} 5\n"
                        "lat_seconds_sum{stream=\"a\"} 102.75\n"
                        "lat_seconds_count{stream=\"a\"} 5\n");
    aw_buf_fini(&b);
}

static void test_metrics_too_many_buckets_refused(void **state)
{
    static const double bounds[AW_HISTOGRAM_MAX_BUCKETS + 1] = {0};
    struct aw_histogram h;

    (void)state;
    assert_int_equal(
        aw_histogram_init(&h, bounds, AW_HISTOGRAM_MAX_BUCKETS + 1),
        AW_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_family_and_samples),
        cmocka_unit_test(test_metrics_histogram_is_cumulative),
        cmocka_unit_test(test_metrics_too_many_buckets_refused),
    };

    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
