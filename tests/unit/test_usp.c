/*
 * Unit tests of the Azure websocket framing (src/stt/usp.c): round trips of
 * what the connector sends, the exact bytes the Azure SDK is observed to
 * send, and refusals of malformed or oversized input with the service's
 * reason texts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "stt/usp.h"

#define RID "ECAB29B380744FAFB2EBA671B185E464"

static enum aw_err parse_text(const char *s, struct aw_usp_msg *msg,
                              const char **reason)
{
    return aw_usp_parse((const uint8_t *)s, strlen(s), false, NULL, msg,
                        reason);
}

static void test_usp_text_round_trip(void **state)
{
    uint8_t buf[1024];
    struct aw_usp_msg msg;
    const char *body = "{\"context\":{}}", *v;
    size_t len, vlen;

    (void)state;
    assert_int_equal(aw_usp_build_text(buf, sizeof(buf), &len, "speech.config",
                                       RID, "application/json", body,
                                       strlen(body)),
                     AW_OK);
    assert_int_equal(aw_usp_parse(buf, len, false, NULL, &msg, NULL), AW_OK);
    assert_true(aw_usp_path_is(&msg, "speech.config"));
    assert_int_equal(msg.request_id_len, 32);
    assert_memory_equal(msg.request_id, RID, 32);
    v = aw_usp_header(&msg, "content-type", &vlen);
    assert_non_null(v);
    assert_int_equal(vlen, strlen("application/json"));
    assert_non_null(aw_usp_header(&msg, "X-Timestamp", &vlen));
    assert_int_equal(vlen, 24);
    assert_int_equal(msg.body_len, strlen(body));
    assert_memory_equal(msg.body, body, msg.body_len);
    assert_int_equal(aw_usp_require(&msg, true, NULL), AW_OK);
}

/* The speech.config frame as SDK 1.52 sends it (protocol doc §2.1). */
static void test_usp_parses_sdk_text_frame(void **state)
{
    const char *frame = "Path: speech.config\r\n"
                        "X-RequestId: " RID "\r\n"
                        "X-Timestamp: 2026-11-26T11:35:46.681Z\r\n"
                        "Content-Type: application/json\r\n"
                        "\r\n"
                        "{\"context\":{\"system\":{\"name\":\"SpeechSDK\"}}}";
    struct aw_usp_msg msg;

    (void)state;
    assert_int_equal(parse_text(frame, &msg, NULL), AW_OK);
    assert_int_equal(msg.nheaders, 4);
    assert_true(aw_usp_path_is(&msg, "SPEECH.CONFIG"));
    assert_int_equal(msg.body[0], '{');
}

/* A body may itself contain CRLFCRLF; only the first one separates. */
static void test_usp_body_keeps_later_separators(void **state)
{
    const char *frame = "Path: x\r\n\r\nab\r\n\r\ncd";
    struct aw_usp_msg msg;

    (void)state;
    assert_int_equal(parse_text(frame, &msg, NULL), AW_OK);
    assert_int_equal(msg.body_len, 8);
    assert_memory_equal(msg.body, "ab\r\n\r\ncd", 8);
}

static void test_usp_audio_round_trip(void **state)
{
    uint8_t pcm[3200], buf[4096];
    struct aw_usp_msg msg;
    size_t len;

    (void)state;
    for (size_t i = 0; i < sizeof(pcm); i++)
        pcm[i] = (uint8_t)(i * 7);
    assert_int_equal(
        aw_usp_build_audio(buf, sizeof(buf), &len, RID, NULL, pcm, sizeof(pcm)),
        AW_OK);
    /* Path + X-RequestId + X-Timestamp: 99 header bytes, as observed. */
    assert_int_equal(buf[0] << 8 | buf[1], 99);
    assert_int_equal(len, 2 + 99 + sizeof(pcm));
    assert_int_equal(len, aw_usp_audio_frame_size(RID, NULL, sizeof(pcm)));
    assert_int_equal(aw_usp_parse(buf, len, true, NULL, &msg, NULL), AW_OK);
    assert_true(msg.binary);
    assert_true(aw_usp_path_is(&msg, "audio"));
    assert_int_equal(msg.body_len, sizeof(pcm));
    assert_memory_equal(msg.body, pcm, sizeof(pcm));
}

/* The WAV-header message: 172 bytes on the wire = 2 + 126 + 44. */
static void test_usp_riff_message_matches_sdk(void **state)
{
    static const uint8_t expect[AW_USP_RIFF_BYTES] = {
        'R', 'I', 'F',  'F',  0,   0,   0,   0,    'W', 'A', 'V',
        'E', 'f', 'm',  't',  ' ', 16,  0,   0,    0,   1,   0,
        1,   0,   0x80, 0x3e, 0,   0,   0,   0x7d, 0,   0,   2,
        0,   16,  0,    'd',  'a', 't', 'a', 0,    0,   0,   0};
    uint8_t riff[AW_USP_RIFF_BYTES], buf[512];
    struct aw_usp_wav_format fmt;
    size_t len;

    (void)state;
    aw_usp_riff_build(riff, 16000, 16, 1);
    assert_memory_equal(riff, expect, sizeof(expect));
    assert_int_equal(aw_usp_build_audio(buf, sizeof(buf), &len, RID,
                                        "audio/x-wav", riff, sizeof(riff)),
                     AW_OK);
    assert_int_equal(len, 172);
    assert_int_equal(aw_usp_riff_parse(riff, sizeof(riff), &fmt, NULL), AW_OK);
    assert_int_equal(fmt.format_tag, 1);
    assert_int_equal(fmt.channels, 1);
    assert_int_equal(fmt.sample_rate_hz, 16000);
    assert_int_equal(fmt.bits_per_sample, 16);
    assert_int_equal(fmt.data_offset, 44);
}

/* End of audio: a zero-length body, 99 header bytes, nothing else. */
static void test_usp_end_of_audio_is_empty_body(void **state)
{
    uint8_t buf[256];
    struct aw_usp_msg msg;
    size_t len;

    (void)state;
    assert_int_equal(
        aw_usp_build_audio(buf, sizeof(buf), &len, RID, NULL, NULL, 0), AW_OK);
    assert_int_equal(len, 101);
    assert_int_equal(aw_usp_parse(buf, len, true, NULL, &msg, NULL), AW_OK);
    assert_int_equal(msg.body_len, 0);
}

static void test_usp_riff_walks_extra_chunks(void **state)
{
    /* A header with a LIST chunk before data, as sox writes. */
    uint8_t wav[64] = {0};
    struct aw_usp_wav_format fmt;

    (void)state;
    aw_usp_riff_build(wav, 16000, 16, 1);
    memmove(wav + 48, wav + 36, 8); /* data header moves back 12 bytes */
    memcpy(wav + 36, "LIST", 4);
    wav[40] = 4;
    wav[41] = wav[42] = wav[43] = 0;
    memcpy(wav + 44, "INFO", 4);
    assert_int_equal(aw_usp_riff_parse(wav, 56, &fmt, NULL), AW_OK);
    assert_int_equal(fmt.data_offset, 56);
}

static void test_usp_riff_refuses_bad_headers(void **state)
{
    uint8_t riff[AW_USP_RIFF_BYTES];
    struct aw_usp_wav_format fmt;
    const char *reason = NULL;

    (void)state;
    aw_usp_riff_build(riff, 16000, 16, 1);
    assert_int_equal(aw_usp_riff_parse(riff, 11, &fmt, &reason), AW_ERR_PROTO);
    assert_non_null(reason);

    riff[0] = 'X';
    assert_int_equal(aw_usp_riff_parse(riff, sizeof(riff), &fmt, &reason),
                     AW_ERR_PROTO);

    aw_usp_riff_build(riff, 16000, 16, 1);
    riff[28] = 1; /* byte rate no longer rate * block */
    assert_int_equal(aw_usp_riff_parse(riff, sizeof(riff), &fmt, &reason),
                     AW_ERR_PROTO);
    assert_string_equal(reason, "Invalid audio header: inconsistent format");

    aw_usp_riff_build(riff, 16000, 16, 1);
    assert_int_equal(aw_usp_riff_parse(riff, 40, &fmt, &reason),
                     AW_ERR_PROTO); /* data chunk cut off */

    aw_usp_riff_build(riff, 16000, 16, 1);
    riff[16] = 0xff; /* fmt chunk claims more than there is */
    riff[17] = 0xff;
    riff[18] = 0xff;
    riff[19] = 0xff;
    assert_int_equal(aw_usp_riff_parse(riff, sizeof(riff), &fmt, &reason),
                     AW_ERR_PROTO);
}

static void test_usp_refuses_malformed_text(void **state)
{
    static const struct {
        const char *frame;
        const char *reason;
    } cases[] = {
        {"", "Text message contains no data"},
        {"Path: speech.config\r\n{}",
         "Text message contains no header separator"},
        {"Path speech.config\r\n\r\n{}", "Header line contains no name"},
        {": x\r\n\r\n", "Header line contains no name"},
        {"Pa th: x\r\n\r\n", "Invalid character in header name"},
        {"Path: x\ny\r\n\r\n", "Header value is not US-ASCII"},
        {"Path: x\r\n\r\n\r\n", NULL}, /* body "\r\n" is fine */
        {"Path: x\rX\r\n\r\n", "Invalid header line ending"},
        {"\r\n\r\n{}", "Empty header line"},
    };
    struct aw_usp_msg msg;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *reason = NULL;
        enum aw_err err = parse_text(cases[i].frame, &msg, &reason);

        if (!cases[i].reason) {
            assert_int_equal(err, AW_OK);
            continue;
        }
        assert_int_equal(err, AW_ERR_PROTO);
        assert_string_equal(reason, cases[i].reason);
    }
}

static void test_usp_refuses_invalid_utf8(void **state)
{
    static const char *const bad[] = {
        "Path: x\r\n\r\n\xc3",             /* truncated sequence */
        "Path: x\r\n\r\n\xc0\xaf",         /* overlong '/' */
        "Path: x\r\n\r\n\xed\xa0\x80",     /* surrogate */
        "Path: x\r\n\r\n\xf4\x90\x80\x80", /* above U+10FFFF */
        "Path: x\r\n\r\n\xff",
    };
    struct aw_usp_msg msg;
    const char *reason;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_text(bad[i], &msg, &reason), AW_ERR_PROTO);
        assert_string_equal(reason, "Text message is not valid UTF-8");
    }
    assert_int_equal(parse_text("Path: x\r\n\r\n\xc3\xa9\xe2\x82\xac"
                                "\xf0\x9f\x93\xbb",
                                &msg, &reason),
                     AW_OK);
}

static void test_usp_refuses_bad_binary_prefix(void **state)
{
    uint8_t frame[64] = {0};
    struct aw_usp_msg msg;
    const char *reason;

    (void)state;
    assert_int_equal(aw_usp_parse(frame, 1, true, NULL, &msg, &reason),
                     AW_ERR_PROTO);
    frame[0] = 0x7f; /* claims 32 KiB of headers in a 64-byte frame */
    assert_int_equal(
        aw_usp_parse(frame, sizeof(frame), true, NULL, &msg, &reason),
        AW_ERR_PROTO);
    assert_string_equal(reason, "Invalid binary header size");
    frame[0] = 0;
    frame[1] = 0; /* no headers at all */
    assert_int_equal(aw_usp_parse(frame, 2, true, NULL, &msg, &reason),
                     AW_ERR_PROTO);
}

static void test_usp_enforces_limits(void **state)
{
    static uint8_t big[2 + 20 + AW_USP_MAX_AUDIO_BYTES + 1];
    struct aw_usp_limits lim = aw_usp_default_limits;
    char text[4096];
    struct aw_usp_msg msg;
    const char *reason;
    size_t pos = 0;

    (void)state;
    /* An audio body one byte over 8 KiB. */
    memcpy(big + 2, "Path: audio\r\n", 13);
    big[1] = 13;
    assert_int_equal(aw_usp_parse(big, 2 + 13 + AW_USP_MAX_AUDIO_BYTES + 1,
                                  true, NULL, &msg, &reason),
                     AW_ERR_TOO_LARGE);
    assert_int_equal(aw_usp_parse(big, 2 + 13 + AW_USP_MAX_AUDIO_BYTES, true,
                                  NULL, &msg, &reason),
                     AW_OK);

    /* More header lines than allowed. */
    for (int i = 0; i < 40; i++)
        pos +=
            (size_t)snprintf(text + pos, sizeof(text) - pos, "H%d: v\r\n", i);
    snprintf(text + pos, sizeof(text) - pos, "\r\n");
    assert_int_equal(parse_text(text, &msg, &reason), AW_ERR_TOO_LARGE);
    assert_string_equal(reason, "Too many headers");

    /* A text body over a caller's limit. */
    lim.max_text_body_bytes = 4;
    assert_int_equal(aw_usp_parse((const uint8_t *)"Path: x\r\n\r\n12345", 17,
                                  false, &lim, &msg, &reason),
                     AW_ERR_TOO_LARGE);

    /* A text header section past the limit with no separator in reach. */
    lim = aw_usp_default_limits;
    lim.max_header_bytes = 16;
    assert_int_equal(aw_usp_parse((const uint8_t *)"Path: speech.config"
                                                   "\r\nA: b\r\n\r\n",
                                  30, false, &lim, &msg, &reason),
                     AW_ERR_TOO_LARGE);
}

static void test_usp_require_checks_path_and_request_id(void **state)
{
    struct aw_usp_msg msg;
    const char *reason;

    (void)state;
    assert_int_equal(parse_text("X-RequestId: " RID "\r\n\r\n", &msg, NULL),
                     AW_OK);
    assert_int_equal(aw_usp_require(&msg, true, &reason), AW_ERR_PROTO);
    assert_string_equal(reason, "Missing/Empty header. Path.");

    assert_int_equal(parse_text("Path: audio\r\nX-RequestId: "
                                "ecab29b3-8074-4faf-b2eb-a671b185e464\r\n\r\n",
                                &msg, NULL),
                     AW_OK);
    assert_int_equal(aw_usp_require(&msg, true, &reason), AW_ERR_PROTO);
    assert_string_equal(reason, "Invalid request. X-RequestId header value "
                                "was not specified in no-dash UUID format.");

    assert_int_equal(parse_text("Path: speech.config\r\n\r\n{}", &msg, NULL),
                     AW_OK);
    assert_int_equal(aw_usp_require(&msg, false, &reason), AW_OK);
    assert_int_equal(aw_usp_require(&msg, true, &reason), AW_ERR_PROTO);
}

static void test_usp_builders_refuse_header_injection(void **state)
{
    uint8_t buf[256];
    size_t len;

    (void)state;
    assert_int_equal(aw_usp_build_text(buf, sizeof(buf), &len, "x",
                                       "a\r\nPath: evil", NULL, "", 0),
                     AW_ERR_INVAL);
    assert_int_equal(
        aw_usp_build_text(buf, 10, &len, "speech.config", RID, NULL, "", 0),
        AW_ERR_TOO_LARGE);
    assert_int_equal(aw_usp_build_audio(buf, sizeof(buf), &len, RID, NULL, buf,
                                        AW_USP_MAX_AUDIO_BYTES + 1),
                     AW_ERR_TOO_LARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usp_text_round_trip),
        cmocka_unit_test(test_usp_parses_sdk_text_frame),
        cmocka_unit_test(test_usp_body_keeps_later_separators),
        cmocka_unit_test(test_usp_audio_round_trip),
        cmocka_unit_test(test_usp_riff_message_matches_sdk),
        cmocka_unit_test(test_usp_end_of_audio_is_empty_body),
        cmocka_unit_test(test_usp_riff_walks_extra_chunks),
        cmocka_unit_test(test_usp_riff_refuses_bad_headers),
        cmocka_unit_test(test_usp_refuses_malformed_text),
        cmocka_unit_test(test_usp_refuses_invalid_utf8),
        cmocka_unit_test(test_usp_refuses_bad_binary_prefix),
        cmocka_unit_test(test_usp_enforces_limits),
        cmocka_unit_test(test_usp_require_checks_path_and_request_id),
        cmocka_unit_test(test_usp_builders_refuse_header_injection),
    };

    return cmocka_run_group_tests_name("usp", tests, NULL, NULL);
}
