/*
 * Unit tests of airwave-speechd's bearer tokens (src/speechd/tokens.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "speechd/tokens.h"

static void test_speechd_tokens_issue_and_check(void **state)
{
    struct aw_speechd_tokens *t = aw_speechd_tokens_new(600, 4);
    char a[AW_SPEECHD_TOKEN_LEN], b[AW_SPEECHD_TOKEN_LEN];

    (void)state;
    assert_non_null(t);
    assert_int_equal(aw_speechd_tokens_issue(t, a), AW_OK);
    assert_int_equal(aw_speechd_tokens_issue(t, b), AW_OK);
    assert_int_equal(strlen(a), 64);
    assert_string_not_equal(a, b);
    assert_true(aw_speechd_tokens_valid(t, a));
    assert_true(aw_speechd_tokens_valid(t, b));
    a[10] = a[10] == '0' ? '1' : '0';
    assert_false(aw_speechd_tokens_valid(t, a));
    assert_false(aw_speechd_tokens_valid(t, ""));
    assert_false(aw_speechd_tokens_valid(t, NULL));
    aw_speechd_tokens_destroy(t);
}

static void test_speechd_tokens_expire_and_are_bounded(void **state)
{
    struct aw_speechd_tokens *t = aw_speechd_tokens_new(1, 2);
    char a[AW_SPEECHD_TOKEN_LEN], b[AW_SPEECHD_TOKEN_LEN];
    char c[AW_SPEECHD_TOKEN_LEN];
    struct timespec ts = {1, 100000000};

    (void)state;
    assert_int_equal(aw_speechd_tokens_issue(t, a), AW_OK);
    assert_int_equal(aw_speechd_tokens_issue(t, b), AW_OK);
    assert_int_equal(aw_speechd_tokens_issue(t, c), AW_OK);
    /* The table holds two: the oldest was forgotten. */
    assert_false(aw_speechd_tokens_valid(t, a));
    assert_true(aw_speechd_tokens_valid(t, c));
    nanosleep(&ts, NULL);
    assert_false(aw_speechd_tokens_valid(t, c)); /* expired */
    aw_speechd_tokens_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_speechd_tokens_issue_and_check),
        cmocka_unit_test(test_speechd_tokens_expire_and_are_bounded),
    };

    return cmocka_run_group_tests_name("speechd_tokens", tests, NULL, NULL);
}
