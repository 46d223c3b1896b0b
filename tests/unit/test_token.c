/*
 * Unit tests of the bearer token source (src/stt/token.c) on a fake clock:
 * when a token is fetched, reused and refreshed, and what a refusal does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "airwave/log.h"
#include "stt/token.h"

#define MIN_MS (60 * 1000)

static uint64_t clock_now;
static int fetches;
static char last_key[64];

static uint64_t fake_now(void)
{
    return clock_now;
}

static enum aw_err fake_fetch(void *opaque, const char *url, const char *key)
{
    (void)opaque;
    assert_string_equal(url, "https://127.0.0.1/sts/v1.0/issueToken");
    snprintf(last_key, sizeof(last_key), "%s", key);
    fetches++;
    return AW_OK;
}

static const struct aw_stt_token_io io = {.fetch = fake_fetch};

static struct aw_stt_token *make(void)
{
    struct aw_stt_token_opts o = {
        .url = "https://127.0.0.1/sts/v1.0/issueToken",
        .key = "the-subscription-key",
        .now_ms = fake_now,
    };

    clock_now = 1000;
    fetches = 0;
    return aw_stt_token_new(&o, &io, NULL, NULL, 0);
}

static enum aw_err get(struct aw_stt_token *t, bool reconnect, const char **tok)
{
    char err[256];

    *tok = NULL;
    return aw_stt_token_get(t, reconnect, tok, err, sizeof(err));
}

static void answer(struct aw_stt_token *t, int status, const char *body)
{
    aw_stt_token_on_result(t, status, body, strlen(body), AW_OK, "");
}

static void test_token_fetched_once_and_reused_for_nine_minutes(void **state)
{
    struct aw_stt_token *t = make();
    const char *tok;

    (void)state;
    assert_int_equal(get(t, false, &tok), AW_ERR_AGAIN);
    assert_int_equal(get(t, false, &tok), AW_ERR_AGAIN); /* one fetch */
    assert_int_equal(fetches, 1);
    assert_string_equal(last_key, "the-subscription-key");
    answer(t, 200, "tok-1\n");
    assert_int_equal(get(t, false, &tok), AW_OK);
    assert_string_equal(tok, "tok-1");

    clock_now += 8 * MIN_MS;
    assert_int_equal(get(t, false, &tok), AW_OK);
    assert_int_equal(fetches, 1);
    clock_now += MIN_MS + 1;
    assert_int_equal(get(t, false, &tok), AW_ERR_AGAIN);
    assert_int_equal(fetches, 2);
    answer(t, 200, "tok-2");
    assert_int_equal(get(t, false, &tok), AW_OK);
    assert_string_equal(tok, "tok-2");
    assert_int_equal(aw_stt_token_fetches(t), 2);
    aw_stt_token_destroy(t);
}

static void test_token_refreshed_before_a_reconnect(void **state)
{
    struct aw_stt_token *t = make();
    const char *tok;

    (void)state;
    assert_int_equal(get(t, false, &tok), AW_ERR_AGAIN);
    answer(t, 200, "tok-1");
    /* A burst of reconnects right after a fetch shares it... */
    clock_now += 10 * 1000;
    assert_int_equal(get(t, true, &tok), AW_OK);
    assert_string_equal(tok, "tok-1");
    /* ...a later reconnect gets a fresh token, though tok-1 has 8 minutes
     * left: a stale token fails exactly at a reconnect. */
    clock_now += MIN_MS;
    assert_int_equal(get(t, true, &tok), AW_ERR_AGAIN);
    answer(t, 200, "tok-2");
    assert_int_equal(get(t, true, &tok), AW_OK);
    assert_string_equal(tok, "tok-2");
    aw_stt_token_destroy(t);
}

static void test_token_refusal_is_final_and_errors_back_off(void **state)
{
    struct aw_stt_token *t = make();
    const char *tok;
    char err[256];

    (void)state;
    assert_int_equal(get(t, false, &tok), AW_ERR_AGAIN);
    answer(t, 503, "busy");
    /* Not asked again at once: backoff, with the reason. */
    assert_int_equal(aw_stt_token_get(t, false, &tok, err, sizeof(err)),
                     AW_ERR_NET);
    assert_non_null(strstr(err, "HTTP 503"));
    assert_int_equal(fetches, 1);
    clock_now += 2000;
    assert_int_equal(get(t, false, &tok), AW_ERR_AGAIN);
    assert_int_equal(fetches, 2);
    answer(t, 401, "Access denied");
    assert_int_equal(aw_stt_token_get(t, false, &tok, err, sizeof(err)),
                     AW_ERR_AUTH);
    assert_non_null(strstr(err, "refused the key (HTTP 401)"));
    assert_null(strstr(err, "the-subscription-key"));
    clock_now += 60 * MIN_MS;
    assert_int_equal(get(t, false, &tok), AW_ERR_AUTH);
    assert_int_equal(fetches, 2); /* retrying cannot fix a refused key */
    aw_stt_token_destroy(t);
}

struct captured {
    char line[1024];
};

static void capture(void *opaque, const char *line, size_t len)
{
    struct captured *c = opaque;

    snprintf(c->line, sizeof(c->line), "%.*s", (int)len, line);
}

static void test_token_never_reaches_a_log_line(void **state)
{
    struct aw_stt_token *t = make();
    struct captured c;
    const char *tok;

    (void)state;
    aw_log_set_sink(capture, &c);
    assert_int_equal(get(t, false, &tok), AW_ERR_AGAIN);
    answer(t, 200, "eyJ0eXAiOiJKV1QifQ.secret-part");
    AW_ERROR("test", NULL, "connecting with %s and %s",
             "eyJ0eXAiOiJKV1QifQ.secret-part", "the-subscription-key");
    assert_null(strstr(c.line, "secret-part"));
    assert_null(strstr(c.line, "the-subscription-key"));
    aw_log_set_sink(NULL, NULL);
    aw_stt_token_destroy(t);
    aw_log_clear_secrets();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_fetched_once_and_reused_for_nine_minutes),
        cmocka_unit_test(test_token_refreshed_before_a_reconnect),
        cmocka_unit_test(test_token_refusal_is_final_and_errors_back_off),
        cmocka_unit_test(test_token_never_reaches_a_log_line),
    };

    return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
