/*
 * Unit tests of src/common: the error table, capped buffers, UUIDs,
 * timestamps and the log line format with secret redaction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "airwave/clock.h"
#include "airwave/err.h"
#include "airwave/log.h"
#include "common/backoff.h"
#include "common/buf.h"
#include "common/uuid.h"

static void test_err_table_is_complete(void **state)
{
    (void)state;
    for (int e = 0; e > -AW_ERR_COUNT_; e--) {
        assert_string_not_equal(aw_err_name((enum aw_err)e), "AW_ERR_UNKNOWN");
        assert_string_not_equal(aw_err_str((enum aw_err)e), "unknown error");
    }
    assert_string_equal(aw_err_name(AW_ERR_NET), "AW_ERR_NET");
    assert_true(aw_err_is_retriable(AW_ERR_NET));
    assert_false(aw_err_is_retriable(AW_ERR_AUTH));
    assert_false(aw_err_is_retriable(AW_ERR_REFUSED));
    assert_string_equal(aw_err_name((enum aw_err) - 99), "AW_ERR_UNKNOWN");
    assert_string_equal(aw_err_name((enum aw_err)5), "AW_ERR_UNKNOWN");
}

static void test_buf_stops_at_cap(void **state)
{
    struct aw_buf b;

    (void)state;
    aw_buf_init(&b, 10);
    assert_int_equal(aw_buf_puts(&b, "hello"), AW_OK);
    assert_int_equal(aw_buf_printf(&b, "%d", 12345), AW_OK);
    assert_string_equal(b.data, "hello12345");
    assert_int_equal(aw_buf_puts(&b, "x"), AW_ERR_TOO_LARGE);
    assert_string_equal(b.data, "hello12345"); /* unchanged on refusal */
    aw_buf_consume(&b, 5);
    assert_string_equal(b.data, "12345");
    assert_int_equal(aw_buf_printf(&b, "%s", "abcdefg"), AW_ERR_TOO_LARGE);
    aw_buf_fini(&b);
}

static void test_backoff_follows_table_with_jitter(void **state)
{
    static const uint32_t table[] = {500, 1000, 2000, 5000, 10000};
    static const uint32_t base[] = {500, 1000, 2000, 5000, 10000, 10000};
    const struct aw_backoff bo = {table, AW_ARRAY_SIZE(table), 20, 60000};
    struct aw_backoff_state st;

    (void)state;
    for (unsigned a = 0; a < AW_ARRAY_SIZE(base); a++) {
        uint32_t lo = base[a] - base[a] / 5, hi = base[a] + base[a] / 5;
        uint32_t seen_lo = UINT32_MAX, seen_hi = 0;

        for (uint32_t r = 0; r < 5000; r++) {
            uint32_t d = aw_backoff_delay_ms(&bo, a, r * 2654435761u);

            assert_in_range(d, lo, hi);
            seen_lo = d < seen_lo ? d : seen_lo;
            seen_hi = d > seen_hi ? d : seen_hi;
        }
        /* The jitter really spreads the delays. */
        assert_true(seen_hi - seen_lo > base[a] / 5);
    }
    assert_int_equal(aw_backoff_delay_ms(NULL, 0, 0), 0);

    /* Failures escalate; a connection healthy for a minute starts over. */
    aw_backoff_init(&st, 1);
    assert_in_range(aw_backoff_next_ms(&bo, &st, 0), 400, 600);
    assert_in_range(aw_backoff_next_ms(&bo, &st, 0), 800, 1200);
    aw_backoff_connected(&st, 1000);
    assert_in_range(aw_backoff_next_ms(&bo, &st, 2000), 1600, 2400);
    aw_backoff_connected(&st, 3000);
    assert_in_range(aw_backoff_next_ms(&bo, &st, 63000), 400, 600);
}

static void test_uuid_v5_is_deterministic(void **state)
{
    /* RFC 4122 appendix B's DNS namespace and the well-known v5 result for
     * "python.org" (also Python's uuid.uuid5(NAMESPACE_DNS, ...)). */
    static const struct aw_uuid dns = {{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad,
                                        0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0,
                                        0x4f, 0xd4, 0x30, 0xc8}};
    struct aw_uuid u, back;
    char s[AW_UUID_STR_LEN], nd[AW_UUID_NODASH_LEN];

    (void)state;
    aw_uuid_v5(&u, &dns, "python.org", 10);
    aw_uuid_format(&u, s);
    assert_string_equal(s, "886313e1-3b8a-5372-9b90-0c9aee199e5d");
    aw_uuid_format_nodash(&u, nd);
    assert_string_equal(nd, "886313E13B8A53729B900C9AEE199E5D");
    assert_int_equal(aw_uuid_parse(nd, 32, &back), AW_OK);
    assert_memory_equal(back.b, u.b, 16);
    assert_int_equal(aw_uuid_parse(s, 36, &back), AW_OK);
    assert_memory_equal(back.b, u.b, 16);
    assert_int_equal(
        aw_uuid_parse("886313e1-3b8a-5372-9b90+0c9aee199e5d", 36, &back),
        AW_ERR_INVAL);
    assert_true(aw_uuid_is_nodash(nd, 32));
    assert_false(aw_uuid_is_nodash(s, 36));
}

static void test_uuid_v4_sets_version_bits(void **state)
{
    struct aw_uuid a, b;

    (void)state;
    assert_int_equal(aw_uuid_v4(&a), AW_OK);
    assert_int_equal(aw_uuid_v4(&b), AW_OK);
    assert_int_equal(a.b[6] >> 4, 4);
    assert_int_equal(a.b[8] >> 6, 2);
    assert_memory_not_equal(a.b, b.b, 16);
}

static void test_time_iso8601_round_trip(void **state)
{
    char buf[32];
    int64_t ms;

    (void)state;
    aw_time_format_iso8601(1795694401230, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-26T12:00:01.230Z");
    assert_int_equal(aw_time_parse_iso8601(buf, &ms), 0);
    assert_int_equal(ms, 1795694401230);
    assert_int_equal(aw_time_parse_iso8601("2026-11-26T13:00:01.23+01:00", &ms),
                     0);
    assert_int_equal(ms, 1795694401230);
    assert_int_equal(aw_time_parse_iso8601("2026-11-26T12:00:01Z", &ms), 0);
    assert_int_equal(ms, 1795694401000);
    assert_int_equal(aw_time_parse_iso8601("2026-11-26 12:00", &ms), -1);
    assert_int_equal(aw_time_parse_iso8601("2026-13-26T12:00:01Z", &ms), -1);
    assert_int_equal(aw_time_parse_iso8601("2026-11-26T12:00:01.Z", &ms), -1);
    aw_time_format_iso8601(0, buf, sizeof(buf));
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
}

struct captured {
    char line[4096];
    int count;
};

static void capture(void *opaque, const char *line, size_t len)
{
    struct captured *c = opaque;

    snprintf(c->line, sizeof(c->line), "%.*s", (int)len, line);
    c->count++;
}

static void test_log_redacts_secrets_and_quotes(void **state)
{
    struct captured c = {{0}, 0};
    char text[64] = "key=Sup3rSecretKey in an error";

    (void)state;
    aw_log_set_sink(capture, &c);
    assert_true(aw_log_add_secret("Sup3rSecretKey"));
    AW_WARN("test", "radio-1", "connect with %s failed: \"%s\"",
            "Sup3rSecretKey", "a\nb");
    assert_int_equal(c.count, 1);
    assert_null(strstr(c.line, "Sup3rSecretKey"));
    assert_non_null(strstr(c.line, "[REDACTED]"));
    assert_non_null(strstr(c.line, " level=warn mod=test stream=radio-1 "));
    assert_non_null(strstr(c.line, "msg=\"connect with [REDACTED] failed: "
                                   "\\\"a\\nb\\\"\""));

    aw_log_set_format(AW_LOG_FORMAT_JSON);
    AW_INFO("test", NULL, "plain");
    assert_non_null(strstr(c.line, "\"level\":\"info\""));
    assert_non_null(strstr(c.line, "\"msg\":\"plain\"}"));
    assert_int_equal(c.line[0], '{');
    aw_log_set_format(AW_LOG_FORMAT_LOGFMT);

    AW_DEBUG("test", NULL, "not formatted below the threshold");
    assert_int_equal(c.count, 2);

    assert_int_equal(aw_log_redact(text, sizeof(text)), 1);
    assert_string_equal(text, "key=[REDACTED] in an error");

    /* A replaced secret (an old bearer token) can be let go. */
    aw_log_remove_secret("Sup3rSecretKey");
    AW_WARN("test", NULL, "Sup3rSecretKey");
    assert_non_null(strstr(c.line, "Sup3rSecretKey"));
    aw_log_clear_secrets();
    aw_log_set_sink(NULL, NULL);
    assert_int_equal(aw_log_level_parse("debug"), AW_LOG_DEBUG);
    assert_int_equal(aw_log_level_parse("loud"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_table_is_complete),
        cmocka_unit_test(test_buf_stops_at_cap),
        cmocka_unit_test(test_backoff_follows_table_with_jitter),
        cmocka_unit_test(test_uuid_v5_is_deterministic),
        cmocka_unit_test(test_uuid_v4_sets_version_bits),
        cmocka_unit_test(test_time_iso8601_round_trip),
        cmocka_unit_test(test_log_redacts_secrets_and_quotes),
    };

    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
