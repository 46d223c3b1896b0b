/*
 * Fuzz target for everything ingest parses from outside:
 *
 *   first byte & 3 = 0, 1: the rest is a media file, fed through a custom
 *     AVIOContext into avformat_open_input + stream selection + decoder +
 *     resampler (aw_ingest_decode_memory(), in the shape of FFmpeg's
 *     tools/target_dem_fuzzer.c), bounded in probe size and packets;
 *   2: the rest is an ICY metadata block for aw_ingest_icy_title(), whose
 *     result must be valid UTF-8 without control characters;
 *   3: the rest is a URL for aw_ingest_redact_url(), whose result must
 *     keep no query for an http URL.
 *
 * FFmpeg stays behind src/ingest (STYLE.md §2): this file sees only
 * ingest.h. Seeds: tests/fuzz/corpus/ingest/ (a selector byte, then the
 * bytes), replayed by ctest in every build.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "airwave/log.h"
#include "ingest/ingest.h"

/* NOLINTNEXTLINE(readability-identifier-naming): name fixed by libFuzzer */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_utf8_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        size_t len;

        if (*p < 0x20 || *p == 0x7F)
            abort(); /* control characters never reach JSON or logs */
        if (*p < 0x80)
            len = 1;
        else if (*p >= 0xC2 && *p <= 0xDF)
            len = 2;
        else if (*p >= 0xE0 && *p <= 0xEF)
            len = 3;
        else if (*p >= 0xF0 && *p <= 0xF4)
            len = 4;
        else
            abort();
        for (size_t i = 1; i < len; i++)
            if ((p[i] & 0xC0) != 0x80)
                abort();
        p += len;
    }
}

static void sink(void *opaque, const int16_t *pcm, size_t n)
{
    int64_t *sum = opaque;

    /* Touch every sample, so ASan sees a short buffer. */
    for (size_t i = 0; i < n; i++)
        *sum += pcm[i];
}

/* NOLINTNEXTLINE(readability-identifier-naming) */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    char buf[AW_RING_MARK_TEXT];

    if (!quiet) {
        /* FFmpeg complains about every malformed input: keep the fuzzer's
         * output readable. */
        aw_log_threshold = 0;
        aw_ingest_set_ffmpeg_log_level(AW_LOG_ERROR);
        quiet = 1;
    }
    if (size < 1)
        return 0;

    switch (data[0] & 3) {
    case 0:
    case 1: {
        const struct aw_ingest_mem_limits lim = {
            .probe_bytes = 32768,
            .max_packets = 2000,
            .max_samples = 16000 * 60,
        };
        char errstr[256];
        int64_t sum = 0;
        uint64_t n = 0;

        (void)aw_ingest_decode_memory(data + 1, size - 1, &lim, sink, &sum, &n,
                                      errstr, sizeof(errstr));
        break;
    }
    case 2: {
        char small[7];

        if (aw_ingest_icy_title((const char *)data + 1, size - 1, buf,
                                sizeof(buf)) == AW_OK)
            check_utf8_text(buf);
        if (aw_ingest_icy_title((const char *)data + 1, size - 1, small,
                                sizeof(small)) == AW_OK)
            check_utf8_text(small);
        break;
    }
    default: {
        char *url = malloc(size);

        if (!url)
            return 0;
        memcpy(url, data + 1, size - 1);
        url[size - 1] = '\0';
        aw_ingest_redact_url(url, buf, sizeof(buf));
        /* A URL (not a plain path) keeps neither query nor fragment. */
        if (!strncmp(url, "http://", 7) &&
            (strchr(buf, '?') || strchr(buf, '#')))
            abort();
        free(url);
        break;
    }
    }
    return 0;
}
