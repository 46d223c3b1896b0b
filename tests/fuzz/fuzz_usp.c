/*
 * Fuzz target for the Azure websocket framing that airwave-speechd exposes
 * to any client: text and binary messages, header checks, and the RIFF
 * header of a turn's first audio message.
 */
#include <stdint.h>
#include <stddef.h>

#include "stt/usp.h"

/* NOLINTNEXTLINE(readability-identifier-naming): name fixed by libFuzzer */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* NOLINTNEXTLINE(readability-identifier-naming) */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct aw_usp_msg msg;
    struct aw_usp_wav_format fmt;
    const char *reason = NULL;

    if (size < 1)
        return 0;
    /* The first byte picks text or binary framing: one target, both paths. */
    if (aw_usp_parse(data + 1, size - 1, data[0] & 1, NULL, &msg, &reason) ==
        AW_OK) {
        size_t len;

        (void)aw_usp_require(&msg, true, &reason);
        (void)aw_usp_header(&msg, "content-type", &len);
        if (msg.binary && msg.body_len)
            (void)aw_usp_riff_parse(msg.body, msg.body_len, &fmt, &reason);
    }
    (void)aw_usp_riff_parse(data + 1, size - 1, &fmt, &reason);
    return 0;
}
