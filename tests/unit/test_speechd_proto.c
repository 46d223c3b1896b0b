/*
 * Unit tests of src/speechd/proto.c, without sockets: the handshake
 * decisions (404/401/400 and what an accepted upgrade establishes) and the
 * message rules of one connection (request ids, turns, RIFF headers, close
 * codes and the service's reason texts), azure-speech-protocol.md §1-§3, §6.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "speechd/proto.h"
#include "stt/usp.h"

#define CID  "FB962AF8F8C24B0AB355ED8882A63D80"
#define RID1 "ECAB29B380744FAFB2EBA671B185E464"
#define RID2 "0123456789ABCDEF0123456789ABCDEF"
#define PATH "/speech/recognition/conversation/cognitiveservices/v1"

static const char *const langs[] = {"en-US", "en-GB", NULL};

/* ---- handshake ---------------------------------------------------------- */

struct kv {
    bool header;
    const char *name, *value;
};

struct request {
    struct kv kv[8];
    size_t n;
};

static enum aw_err lookup(void *opaque, bool header, const char *name,
                          char *buf, size_t cap)
{
    const struct request *r = opaque;

    for (size_t i = 0; i < r->n; i++) {
        size_t n = strlen(r->kv[i].value);

        if (r->kv[i].header != header || strcasecmp(r->kv[i].name, name) != 0)
            continue;
        if (n >= cap)
            return AW_ERR_TOO_LARGE;
        memcpy(buf, r->kv[i].value, n + 1);
        return AW_OK;
    }
    return AW_ERR_NOT_FOUND;
}

static void add(struct request *r, bool header, const char *name,
                const char *value)
{
    r->kv[r->n++] = (struct kv){header, name, value};
}

/* The token service of these tests knows one token. */
static bool token_ok(void *opaque, const char *token)
{
    return !strcmp(token, (const char *)opaque);
}

static struct aw_speechd_policy policy(const char *key)
{
    struct aw_speechd_policy pol = {
        .key = key,
        .token_ok = token_ok,
        .token_opaque = (void *)"t0ken",
        .languages = langs,
        .initial_silence_ms = 5000,
        .limits = aw_usp_default_limits,
    };

    return pol;
}

static int shake(const struct aw_speechd_policy *pol, const char *path,
                 struct request *r, struct aw_speechd_params *out,
                 const char **body)
{
    *body = NULL;
    return aw_speechd_handshake(pol, path, lookup, r, out, body);
}

static void test_speechd_handshake_sdk_query_and_headers(void **state)
{
    struct aw_speechd_policy pol = policy("k3y-value");
    struct aw_speechd_params p;
    struct request r = {0};
    const char *body;

    (void)state;
    add(&r, false, "language", "en-US");
    add(&r, false, "format", "detailed");
    add(&r, true, "ocp-apim-subscription-key", "k3y-value");
    add(&r, true, "x-connectionid", "fb962af8-f8c2-4b0a-b355-ed8882a63d80");
    add(&r, false, "wordLevelTimestamps", "true");
    add(&r, false, "initialSilenceTimeoutMs", "2500");
    assert_int_equal(shake(&pol, PATH, &r, &p, &body), 0);
    assert_int_equal(p.mode, AW_SPEECHD_CONVERSATION);
    assert_string_equal(p.language, "en-US");
    assert_true(p.language_ok);
    assert_string_equal(p.connection_id, CID); /* normalised: no dashes */
    assert_true(p.turn.detailed);
    assert_true(p.turn.word_timings);
    assert_int_equal(p.turn.initial_silence_ms, 2500);
    assert_int_equal(p.turn.mode, AW_SPEECHD_CONVERSATION);
}

/* Browsers (and Node >= 22) send everything in the query string. */
static void test_speechd_handshake_query_only(void **state)
{
    struct aw_speechd_policy pol = policy("k3y-value");
    struct aw_speechd_params p;
    struct request r = {0};
    const char *body;

    (void)state;
    add(&r, false, "language", "en-gb");
    add(&r, false, "Ocp-Apim-Subscription-Key", "k3y-value");
    add(&r, false, "connectionId", CID);
    assert_int_equal(shake(&pol,
                           "/speech/recognition/interactive/"
                           "cognitiveservices/v1",
                           &r, &p, &body),
                     0);
    assert_int_equal(p.mode, AW_SPEECHD_INTERACTIVE);
    assert_true(p.language_ok); /* case-insensitive */
    assert_false(p.turn.detailed);
    assert_int_equal(p.turn.initial_silence_ms, 5000);
}

static void test_speechd_handshake_refusals(void **state)
{
    struct aw_speechd_policy keyed = policy("k3y-value"), open = policy(NULL);
    struct aw_speechd_params p;
    struct request r = {0};
    const char *body;

    (void)state;
    add(&r, false, "language", "en-US");
    add(&r, true, "X-ConnectionId", CID);
    assert_int_equal(
        shake(&open, "/speech/recognition/other/v1", &r, &p, &body), 404);
    assert_non_null(body);
    assert_int_equal(shake(&keyed, PATH, &r, &p, &body), 401);
    assert_int_equal(shake(&open, PATH, &r, &p, &body), 0);

    add(&r, true, "Ocp-Apim-Subscription-Key", "k3y-valuE");
    assert_int_equal(shake(&keyed, PATH, &r, &p, &body), 401);

    /* A bearer token instead of the key: header or query (as browsers). */
    r.n = 0;
    add(&r, false, "language", "en-US");
    add(&r, true, "X-ConnectionId", CID);
    add(&r, true, "Authorization", "Bearer t0ken");
    assert_int_equal(shake(&keyed, PATH, &r, &p, &body), 0);
    assert_string_equal(p.auth, "bearer");
    r.n = 2;
    add(&r, false, "Authorization", "Bearer t0kex");
    assert_int_equal(shake(&keyed, PATH, &r, &p, &body), 403);
    r.n = 2;
    add(&r, false, "Authorization", "Basic t0ken");
    assert_int_equal(shake(&keyed, PATH, &r, &p, &body), 403);

    r.n = 0;
    add(&r, false, "language", "en-US");
    assert_int_equal(shake(&open, PATH, &r, &p, &body), 400); /* no id */
    add(&r, true, "X-ConnectionId", "not-a-uuid");
    assert_int_equal(shake(&open, PATH, &r, &p, &body), 400);

    r.n = 0;
    add(&r, true, "X-ConnectionId", CID);
    assert_int_equal(shake(&open, PATH, &r, &p, &body), 400); /* language */
    add(&r, false, "language", "en US!");
    assert_int_equal(shake(&open, PATH, &r, &p, &body), 400);

    r.n = 0;
    add(&r, true, "X-ConnectionId", CID);
    add(&r, false, "language", "en-US");
    add(&r, false, "format", "verbose");
    assert_int_equal(shake(&open, PATH, &r, &p, &body), 400);

    r.n = 0;
    add(&r, true, "X-ConnectionId", CID);
    add(&r, false, "language", "en-US");
    add(&r, false, "initialSilenceTimeoutMs", "-1");
    assert_int_equal(shake(&open, PATH, &r, &p, &body), 400);
}

/* An unsupported locale is accepted at the upgrade and refused with 1007
 * on the open socket, as the service does. */
static void test_speechd_handshake_unsupported_locale(void **state)
{
    struct aw_speechd_policy pol = policy(NULL);
    struct aw_speechd_params p;
    struct request r = {0};
    const char *body;

    (void)state;
    add(&r, true, "X-ConnectionId", CID);
    add(&r, false, "language", "ja_JP");
    assert_int_equal(shake(&pol, PATH, &r, &p, &body), 0);
    assert_false(p.language_ok);
    assert_string_equal(p.language, "ja_JP");
}

static void test_speechd_key_equal(void **state)
{
    (void)state;
    assert_true(aw_speechd_key_equal("abcd", "abcd"));
    assert_false(aw_speechd_key_equal("abcd", "abce"));
    assert_false(aw_speechd_key_equal("abc", "abcd"));
    assert_false(aw_speechd_key_equal("abcde", "abcd"));
    assert_false(aw_speechd_key_equal("", "abcd"));
}

/* ---- connection --------------------------------------------------------- */

struct rec {
    char log[64][96];
    size_t n;
    size_t samples;
    int16_t first, last;
    struct aw_speechd_turn_conf conf;
};

static void note(struct rec *r, const char *s)
{
    assert_true(r->n < 64);
    (void)snprintf(r->log[r->n++], sizeof(r->log[0]), "%s", s);
}

static void r_send(void *opaque, const char *path, const char *id,
                   const char *body)
{
    char s[96];

    assert_non_null(strstr(body, "\"serviceTag\":\""));
    (void)snprintf(s, sizeof(s), "send %s %.8s", path, id);
    note(opaque, s);
}

static void r_begin(void *opaque, const char *id,
                    const struct aw_speechd_turn_conf *conf)
{
    struct rec *r = opaque;
    char s[96];

    r->conf = *conf;
    (void)snprintf(s, sizeof(s), "begin %.8s", id);
    note(r, s);
}

static void r_audio(void *opaque, const int16_t *pcm, size_t n)
{
    struct rec *r = opaque;

    if (!r->samples)
        r->first = pcm[0];
    r->last = pcm[n - 1];
    r->samples += n;
}

static void r_end(void *opaque)
{
    note(opaque, "end");
}

static void r_abort(void *opaque)
{
    note(opaque, "abort");
}

static const struct aw_speechd_proto_ops rec_ops = {r_send, r_begin, r_audio,
                                                    r_end, r_abort};

struct conn {
    struct aw_speechd_policy pol;
    struct aw_speechd_params params;
    struct aw_speechd_proto p;
    struct rec rec;
    uint8_t buf[80000];
};

static int setup(void **state)
{
    struct conn *c = calloc(1, sizeof(*c));

    if (!c)
        return -1;
    c->pol = policy(NULL);
    c->params.mode = AW_SPEECHD_CONVERSATION;
    strcpy(c->params.language, "en-US");
    c->params.language_ok = true;
    strcpy(c->params.connection_id, CID);
    c->params.turn.mode = AW_SPEECHD_CONVERSATION;
    c->params.turn.initial_silence_ms = 5000;
    aw_speechd_proto_init(&c->p, &c->pol, &c->params, &rec_ops, &c->rec);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static int text(struct conn *c, const char *path, const char *id,
                const char *body, const char **reason)
{
    size_t len;

    assert_int_equal(aw_usp_build_text(c->buf, sizeof(c->buf), &len, path, id,
                                       "application/json", body, strlen(body)),
                     AW_OK);
    *reason = NULL;
    return aw_speechd_proto_message(&c->p, c->buf, len, false, reason);
}

static int audio(struct conn *c, const char *id, const uint8_t *a, size_t n,
                 const char **reason)
{
    size_t len;

    assert_int_equal(
        aw_usp_build_audio(c->buf, sizeof(c->buf), &len, id, NULL, a, n),
        AW_OK);
    *reason = NULL;
    return aw_speechd_proto_message(&c->p, c->buf, len, true, reason);
}

static int raw(struct conn *c, const char *s, bool binary, const char **reason)
{
    *reason = NULL;
    return aw_speechd_proto_message(&c->p, (const uint8_t *)s, strlen(s),
                                    binary, reason);
}

static const uint8_t *riff(uint32_t rate, uint16_t bits, uint16_t channels)
{
    static uint8_t h[AW_USP_RIFF_BYTES];

    aw_usp_riff_build(h, rate, bits, channels);
    return h;
}

static int header(struct conn *c, const char *id, const char **reason)
{
    return audio(c, id, riff(16000, 16, 1), AW_USP_RIFF_BYTES, reason);
}

static void test_speechd_proto_sdk_turn(void **state)
{
    struct conn *c = *state;
    uint8_t pcm[3200];
    const char *why;

    for (size_t i = 0; i < sizeof(pcm); i += 2) {
        pcm[i] = (uint8_t)(i / 2 & 0xff);
        pcm[i + 1] = (uint8_t)(i / 2 >> 8);
    }
    assert_int_equal(text(c, "speech.config", RID1, "{\"context\":{}}", &why),
                     0);
    assert_true(c->p.config_seen);
    assert_int_equal(
        text(c, "speech.context", RID1,
             "{\"phraseDetection\":{\"mode\":\"Conversation\",\"language\":"
             "\"en-US\",\"enrichment\":{}},\"phraseOutput\":{}}",
             &why),
        0);
    assert_int_equal(header(c, RID1, &why), 0);
    assert_int_equal(c->rec.samples, 0); /* the SDK's header comes alone */
    for (int i = 0; i < 3; i++)
        assert_int_equal(audio(c, RID1, pcm, sizeof(pcm), &why), 0);
    assert_int_equal(audio(c, RID1, NULL, 0, &why), 0);
    assert_int_equal(audio(c, RID1, NULL, 0, &why), 0); /* repeats are ok */
    assert_int_equal(text(c, "telemetry", RID1, "{\"Metrics\":[]}", &why), 0);
    assert_int_equal(c->rec.samples, 3 * 1600);
    assert_int_equal(c->rec.first, 0);
    assert_int_equal(c->rec.last, 1599);
    assert_int_equal(c->rec.n, 3);
    assert_string_equal(c->rec.log[0], "send turn.start ECAB29B3");
    assert_string_equal(c->rec.log[1], "begin ECAB29B3");
    assert_string_equal(c->rec.log[2], "end");
    assert_int_equal(c->p.turns, 1);
}

/* The Java client prepends its 44-byte header to a full 8 KiB PCM chunk:
 * 8236 bytes of body, past the builder's limit, so framed by hand here. */
static void test_speechd_proto_header_with_pcm(void **state)
{
    static const char hdr[] =
        "Path: audio\r\nX-RequestId: " RID1 "\r\nContent-Type: audio/wav\r\n";
    struct conn *c = *state;
    size_t hlen = sizeof(hdr) - 1, body = AW_USP_RIFF_BYTES + 8192;
    uint8_t *msg = c->buf;
    const char *why;

    memset(msg, 0, 2 + hlen + body);
    msg[0] = (uint8_t)(hlen >> 8);
    msg[1] = (uint8_t)hlen;
    memcpy(msg + 2, hdr, hlen);
    memcpy(msg + 2 + hlen, riff(16000, 16, 1), AW_USP_RIFF_BYTES);
    msg[2 + hlen + AW_USP_RIFF_BYTES] = 0x34;
    msg[2 + hlen + AW_USP_RIFF_BYTES + 1] = 0x12;
    c->pol.limits.max_audio_body_bytes = body; /* as the server sets it */
    assert_int_equal(
        aw_speechd_proto_message(&c->p, msg, 2 + hlen + body, true, &why), 0);
    assert_int_equal(c->rec.samples, 4096);
    assert_int_equal(c->rec.first, 0x1234);
}

/* PCM split at an odd byte is put back together. */
static void test_speechd_proto_odd_bytes(void **state)
{
    struct conn *c = *state;
    uint8_t a[3] = {0x01, 0x02, 0x03}, b[3] = {0x04, 0x05, 0x06};
    const char *why;

    assert_int_equal(header(c, RID1, &why), 0);
    assert_int_equal(audio(c, RID1, a, 3, &why), 0);
    assert_int_equal(c->rec.samples, 1);
    assert_int_equal(audio(c, RID1, b, 3, &why), 0);
    assert_int_equal(c->rec.samples, 3);
    assert_int_equal(c->rec.last, 0x0605);
}

static void test_speechd_proto_request_id_rules(void **state)
{
    struct conn *c = *state;
    const char *why;

    assert_int_equal(text(c, "speech.config",
                          "123e4567-e89b-12d3-a456-426655440000", "{}", &why),
                     1002);
    assert_string_equal(why, "Invalid request. X-RequestId header value was "
                             "not specified in no-dash UUID format.");
    assert_int_equal(raw(c, "X-RequestId: " RID1 "\r\n\r\n{}", false, &why),
                     1002);
    assert_string_equal(why, "Missing/Empty header. Path.");
    /* speech.config may come without a request id (Bing spec) */
    assert_int_equal(raw(c, "Path: speech.config\r\n\r\n{}", false, &why), 0);
    assert_int_equal(text(c, "speech.context", NULL, "{}", &why), 1002);
}

static void test_speechd_proto_reuse_refused(void **state)
{
    struct conn *c = *state;
    uint8_t pcm[320] = {0};
    const char *why;

    assert_int_equal(header(c, RID1, &why), 0);
    assert_int_equal(audio(c, RID1, pcm, sizeof(pcm), &why), 0);
    assert_int_equal(audio(c, RID1, NULL, 0, &why), 0);
    assert_int_equal(audio(c, RID1, pcm, sizeof(pcm), &why), 1002);
    assert_string_equal(
        why, "Invalid request. Reuse of request identifiers is not allowed.");
}

static void test_speechd_proto_context_reuse_refused(void **state)
{
    struct conn *c = *state;
    const char *why;

    assert_int_equal(header(c, RID1, &why), 0);
    assert_int_equal(audio(c, RID1, NULL, 0, &why), 0);
    assert_int_equal(text(c, "speech.context", RID1, "{}", &why), 1002);
    assert_string_equal(
        why, "Invalid request. Reuse of request identifiers is not allowed.");
}

/* A new request id while a turn runs abandons it (and burns its id). */
static void test_speechd_proto_new_id_abandons_turn(void **state)
{
    struct conn *c = *state;
    uint8_t pcm[320] = {0};
    const char *why;

    assert_int_equal(header(c, RID1, &why), 0);
    assert_int_equal(audio(c, RID1, pcm, sizeof(pcm), &why), 0);
    assert_int_equal(header(c, RID2, &why), 0);
    assert_string_equal(c->rec.log[2], "abort");
    assert_string_equal(c->rec.log[3], "send turn.start 01234567");
    assert_string_equal(c->rec.log[4], "begin 01234567");
    assert_int_equal(audio(c, RID1, pcm, sizeof(pcm), &why), 1002);
}

static void test_speechd_proto_bad_audio_header(void **state)
{
    struct conn *c = *state;
    const uint8_t junk[64] = "definitely not a RIFF header, just bytes....";
    const char *why;

    assert_int_equal(audio(c, RID1, junk, sizeof(junk), &why), 1007);
    assert_non_null(why);
    assert_int_equal(c->rec.n, 0);
}

static void test_speechd_proto_audio_format_refused(void **state)
{
    static const struct {
        uint32_t rate;
        uint16_t bits, channels;
        const char *says;
    } bad[] = {
        {8000, 16, 1, "8000 Hz"},
        {16000, 16, 2, "2 channel"},
        {16000, 8, 1, "8 bits"},
    };
    struct conn *c = *state;
    const char *why;

    for (size_t i = 0; i < AW_ARRAY_SIZE(bad); i++) {
        /* a fresh connection each time: the first refusal ends one */
        aw_speechd_proto_init(&c->p, &c->pol, &c->params, &rec_ops, &c->rec);
        assert_int_equal(audio(c, RID1,
                               riff(bad[i].rate, bad[i].bits, bad[i].channels),
                               AW_USP_RIFF_BYTES, &why),
                         1007);
        assert_non_null(strstr(why, bad[i].says));
    }
}

static void test_speechd_proto_framing_errors(void **state)
{
    struct conn *c = *state;
    const char *why;

    assert_int_equal(raw(c, "Path: speech.config", false, &why), 1007);
    assert_string_equal(why, "Text message contains no header separator");
    assert_int_equal(raw(c, "\x7f", true, &why), 1007);
}

static void test_speechd_proto_size_limit(void **state)
{
    struct conn *c = *state;
    static char big[70000];
    const char *why;

    memset(big, 'x', sizeof(big) - 1);
    assert_int_equal(text(c, "speech.context", RID1, big, &why), 1009);
}

static void test_speechd_proto_context_sets_turn(void **state)
{
    struct conn *c = *state;
    const char *why;

    assert_int_equal(
        text(c, "speech.context", RID1,
             "{\"phraseDetection\":{\"mode\":\"Interactive\",\"language\":"
             "\"en-GB\",\"initialSilenceTimeout\":1500},\"phraseOutput\":{"
             "\"detailed\":{\"options\":[\"WordTimings\"]},\"format\":"
             "\"Detailed\"}}",
             &why),
        0);
    assert_int_equal(header(c, RID1, &why), 0);
    assert_int_equal(c->rec.conf.mode, AW_SPEECHD_INTERACTIVE);
    assert_true(c->rec.conf.detailed);
    assert_true(c->rec.conf.word_timings);
    assert_int_equal(c->rec.conf.initial_silence_ms, 1500);
    /* The next turn without a context falls back to the handshake's. */
    assert_int_equal(audio(c, RID1, NULL, 0, &why), 0);
    assert_int_equal(header(c, RID2, &why), 0);
    assert_int_equal(c->rec.conf.mode, AW_SPEECHD_CONVERSATION);
    assert_false(c->rec.conf.detailed);
}

static void test_speechd_proto_context_locale(void **state)
{
    struct conn *c = *state;
    const char *why;

    assert_int_equal(text(c, "speech.context", RID1,
                          "{\"phraseDetection\":{\"language\":\"ja_JP\"}}",
                          &why),
                     1007);
    assert_string_equal(why, "Unsupported locale: ja_JP.");
}

static void test_speechd_proto_context_not_json(void **state)
{
    struct conn *c = *state;
    const char *why;

    assert_int_equal(text(c, "speech.context", RID1, "{nope", &why), 1007);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_speechd_handshake_sdk_query_and_headers),
        cmocka_unit_test(test_speechd_handshake_query_only),
        cmocka_unit_test(test_speechd_handshake_refusals),
        cmocka_unit_test(test_speechd_handshake_unsupported_locale),
        cmocka_unit_test(test_speechd_key_equal),
        T(test_speechd_proto_sdk_turn),
        T(test_speechd_proto_header_with_pcm),
        T(test_speechd_proto_odd_bytes),
        T(test_speechd_proto_request_id_rules),
        T(test_speechd_proto_reuse_refused),
        T(test_speechd_proto_context_reuse_refused),
        T(test_speechd_proto_new_id_abandons_turn),
        T(test_speechd_proto_bad_audio_header),
        T(test_speechd_proto_audio_format_refused),
        T(test_speechd_proto_framing_errors),
        T(test_speechd_proto_size_limit),
        T(test_speechd_proto_context_sets_turn),
        T(test_speechd_proto_context_locale),
        T(test_speechd_proto_context_not_json),
    };
#undef T

    return cmocka_run_group_tests_name("speechd_proto", tests, NULL, NULL);
}
