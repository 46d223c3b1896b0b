/*
 * Azure speech websocket framing. See usp.h; every input byte here may come
 * from an untrusted peer (speechd parses what any client sends), so every
 * length is checked before it is used and nothing is allocated.
 */
#include "stt/usp.h"

#include <string.h>
#include <strings.h>

#include "airwave/clock.h"

const struct aw_usp_limits aw_usp_default_limits = {
    .max_headers = AW_USP_MAX_HEADERS,
    .max_header_bytes = AW_USP_MAX_HEADER_BYTES,
    .max_text_body_bytes = 65536,
    .max_audio_body_bytes = AW_USP_MAX_AUDIO_BYTES,
};

static enum aw_err fail(const char **reason, const char *why, enum aw_err err)
{
    if (reason)
        *reason = why;
    return err;
}

/* RFC 7230 token characters: what a header name may contain. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Header values: printable US-ASCII and horizontal tab. */
static bool is_vchar(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c < 0x7f);
}

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
static bool utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

/*
 * Split a header section into lines "Name: value". \p sect holds exactly the
 * header bytes; each line ends in CRLF, except that the last line of a binary
 * header section may lack it.
 */
static enum aw_err parse_headers(const char *sect, size_t len,
                                 const struct aw_usp_limits *lim,
                                 struct aw_usp_msg *msg, const char **reason)
{
    size_t pos = 0;

    while (pos < len) {
        const char *line = sect + pos, *colon, *v, *end;
        size_t llen, rest = len - pos;
        struct aw_usp_header *h;
        const char *cr = memchr(line, '\r', rest);

        if (cr) {
            if ((size_t)(cr - line) + 1 >= rest || cr[1] != '\n')
                return fail(reason, "Invalid header line ending", AW_ERR_PROTO);
            llen = (size_t)(cr - line);
            pos += llen + 2;
        } else {
            llen = rest;
            pos = len;
        }
        if (!llen)
            return fail(reason, "Empty header line", AW_ERR_PROTO);
        if (msg->nheaders >= lim->max_headers ||
            msg->nheaders >= AW_USP_MAX_HEADERS)
            return fail(reason, "Too many headers", AW_ERR_TOO_LARGE);

        colon = memchr(line, ':', llen);
        if (!colon || colon == line)
            return fail(reason, "Header line contains no name", AW_ERR_PROTO);
        for (const char *p = line; p < colon; p++)
            if (!is_tchar((unsigned char)*p))
                return fail(reason, "Invalid character in header name",
                            AW_ERR_PROTO);
        for (const char *p = colon + 1; p < line + llen; p++)
            if (!is_vchar((unsigned char)*p))
                return fail(reason, "Header value is not US-ASCII",
                            AW_ERR_PROTO);

        v = colon + 1;
        end = line + llen;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
            end--;

        h = &msg->headers[msg->nheaders++];
        h->name = line;
        h->name_len = (size_t)(colon - line);
        h->value = v;
        h->value_len = (size_t)(end - v);
        if (h->name_len == 4 && !strncasecmp(h->name, "Path", 4)) {
            msg->path = h->value;
            msg->path_len = h->value_len;
        } else if (h->name_len == 11 &&
                   !strncasecmp(h->name, "X-RequestId", 11)) {
            msg->request_id = h->value;
            msg->request_id_len = h->value_len;
        }
    }
    return AW_OK;
}

static const uint8_t *find_crlfcrlf(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++)
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
            p[i + 3] == '\n')
            return p + i;
    return NULL;
}

enum aw_err aw_usp_parse(const uint8_t *data, size_t len, bool binary,
                         const struct aw_usp_limits *lim,
                         struct aw_usp_msg *msg, const char **reason)
{
    size_t hlen;
    const uint8_t *hdrs;
    enum aw_err err;

    if (!lim)
        lim = &aw_usp_default_limits;
    memset(msg, 0, sizeof(*msg));
    msg->binary = binary;

    if (binary) {
        if (len < 2)
            return fail(reason, "Binary message too short for header size",
                        AW_ERR_PROTO);
        hlen = (size_t)data[0] << 8 | data[1];
        if (hlen > len - 2)
            return fail(reason, "Invalid binary header size", AW_ERR_PROTO);
        if (hlen > lim->max_header_bytes)
            return fail(reason, "Binary header too large", AW_ERR_TOO_LARGE);
        hdrs = data + 2;
        msg->body = data + 2 + hlen;
        msg->body_len = len - 2 - hlen;
        if (msg->body_len > lim->max_audio_body_bytes)
            return fail(reason, "Audio message body too large",
                        AW_ERR_TOO_LARGE);
    } else {
        const uint8_t *sep;

        if (!len)
            return fail(reason, "Text message contains no data", AW_ERR_PROTO);
        if (!utf8_valid(data, len))
            return fail(reason, "Text message is not valid UTF-8",
                        AW_ERR_PROTO);
        sep = find_crlfcrlf(data, len < lim->max_header_bytes + 4
                                      ? len
                                      : lim->max_header_bytes + 4);
        if (!sep)
            return fail(reason,
                        len > lim->max_header_bytes + 4
                            ? "Text message headers too large"
                            : "Text message contains no header separator",
                        len > lim->max_header_bytes + 4 ? AW_ERR_TOO_LARGE
                                                        : AW_ERR_PROTO);
        hdrs = data;
        /* The separator's first CRLF ends the last header line. */
        hlen = (size_t)(sep - data) + 2;
        msg->body = sep + 4;
        msg->body_len = len - (size_t)(msg->body - data);
        if (msg->body_len > lim->max_text_body_bytes)
            return fail(reason, "Text message body too large",
                        AW_ERR_TOO_LARGE);
    }
    err = parse_headers((const char *)hdrs, hlen, lim, msg, reason);
    if (err)
        return err;
    if (!msg->nheaders)
        return fail(reason, "Message contains no headers", AW_ERR_PROTO);
    return AW_OK;
}

enum aw_err aw_usp_require(const struct aw_usp_msg *msg, bool need_request_id,
                           const char **reason)
{
    if (!msg->path || !msg->path_len)
        return fail(reason, "Missing/Empty header. Path.", AW_ERR_PROTO);
    if (!msg->request_id || !msg->request_id_len) {
        if (need_request_id)
            return fail(reason, "Missing/Empty header. X-RequestId.",
                        AW_ERR_PROTO);
        return AW_OK;
    }
    if (msg->request_id_len != 32)
        goto bad_id;
    for (size_t i = 0; i < 32; i++) {
        char c = msg->request_id[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
              (c >= 'A' && c <= 'F')))
            goto bad_id;
    }
    return AW_OK;

bad_id:
    return fail(reason,
                "Invalid request. X-RequestId header value was not "
                "specified in no-dash UUID format.",
                AW_ERR_PROTO);
}

const char *aw_usp_header(const struct aw_usp_msg *msg, const char *name,
                          size_t *len)
{
    size_t nlen = strlen(name);

    for (size_t i = 0; i < msg->nheaders; i++) {
        const struct aw_usp_header *h = &msg->headers[i];

        if (h->name_len == nlen && !strncasecmp(h->name, name, nlen)) {
            if (len)
                *len = h->value_len;
            return h->value;
        }
    }
    return NULL;
}

bool aw_usp_path_is(const struct aw_usp_msg *msg, const char *path)
{
    size_t n = strlen(path);

    return msg->path && msg->path_len == n && !strncasecmp(msg->path, path, n);
}

void aw_usp_timestamp(char out[AW_USP_TIMESTAMP_LEN])
{
    aw_time_format_iso8601(aw_clock_wall_ms(), out, AW_USP_TIMESTAMP_LEN);
}

/* A value that would inject a header line is a caller bug or an attack. */
static bool header_value_ok(const char *v)
{
    for (; *v; v++)
        if (!is_vchar((unsigned char)*v))
            return false;
    return true;
}

struct writer {
    uint8_t *buf;
    size_t cap;
    size_t len;
    bool overflow;
};

static void put(struct writer *w, const void *p, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    if (n)
        memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put_str(struct writer *w, const char *s)
{
    put(w, s, strlen(s));
}

static void put_header(struct writer *w, const char *name, const char *value)
{
    put_str(w, name);
    put_str(w, ": ");
    put_str(w, value);
    put_str(w, "\r\n");
}

/* Headers common to every message; returns false on a bad value. */
static bool put_headers(struct writer *w, const char *path,
                        const char *request_id, const char *content_type)
{
    char ts[AW_USP_TIMESTAMP_LEN];

    if (!header_value_ok(path) ||
        (request_id && !header_value_ok(request_id)) ||
        (content_type && !header_value_ok(content_type)))
        return false;
    aw_usp_timestamp(ts);
    put_header(w, "Path", path);
    if (request_id)
        put_header(w, "X-RequestId", request_id);
    put_header(w, "X-Timestamp", ts);
    if (content_type)
        put_header(w, "Content-Type", content_type);
    return true;
}

enum aw_err aw_usp_build_text(uint8_t *buf, size_t cap, size_t *len,
                              const char *path, const char *request_id,
                              const char *content_type, const char *body,
                              size_t body_len)
{
    struct writer w = {buf, cap, 0, false};

    if (!put_headers(&w, path, request_id, content_type))
        return AW_ERR_INVAL;
    put_str(&w, "\r\n");
    put(&w, body, body_len);
    if (w.overflow)
        return AW_ERR_TOO_LARGE;
    *len = w.len;
    return AW_OK;
}

enum aw_err aw_usp_build_audio(uint8_t *buf, size_t cap, size_t *len,
                               const char *request_id, const char *content_type,
                               const uint8_t *audio, size_t n)
{
    struct writer w = {buf, cap, 0, false};
    size_t hlen;

    if (n > AW_USP_MAX_AUDIO_BYTES)
        return AW_ERR_TOO_LARGE;
    put(&w, "\0\0", 2); /* length prefix, filled in below */
    if (!put_headers(&w, "audio", request_id, content_type))
        return AW_ERR_INVAL;
    hlen = w.len - 2;
    put(&w, audio, n);
    if (w.overflow)
        return AW_ERR_TOO_LARGE;
    /* The SDK reads the prefix as a signed 16-bit value. */
    if (hlen > 0x7fff)
        return AW_ERR_TOO_LARGE;
    buf[0] = (uint8_t)(hlen >> 8);
    buf[1] = (uint8_t)(hlen & 0xff);
    *len = w.len;
    return AW_OK;
}

size_t aw_usp_audio_frame_size(const char *request_id, const char *content_type,
                               size_t n)
{
    size_t s = 2 + strlen("Path: audio\r\n") + strlen("X-Timestamp: \r\n") +
               AW_USP_TIMESTAMP_LEN - 1 + n;

    if (request_id)
        s += strlen("X-RequestId: \r\n") + strlen(request_id);
    if (content_type)
        s += strlen("Content-Type: \r\n") + strlen(content_type);
    return s;
}

static void le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

void aw_usp_riff_build(uint8_t out[AW_USP_RIFF_BYTES], uint32_t rate_hz,
                       uint16_t bits_per_sample, uint16_t channels)
{
    uint16_t block = (uint16_t)(channels * (bits_per_sample / 8));

    memcpy(out, "RIFF", 4);
    le32(out + 4, 0); /* unknown length, as the Azure SDK sends */
    memcpy(out + 8, "WAVEfmt ", 8);
    le32(out + 16, 16);
    le16(out + 20, 1); /* PCM */
    le16(out + 22, channels);
    le32(out + 24, rate_hz);
    le32(out + 28, rate_hz * block);
    le16(out + 32, block);
    le16(out + 34, bits_per_sample);
    memcpy(out + 36, "data", 4);
    le32(out + 40, 0);
}

enum aw_err aw_usp_riff_parse(const uint8_t *data, size_t len,
                              struct aw_usp_wav_format *fmt,
                              const char **reason)
{
    size_t pos = 12;
    bool have_fmt = false;

    memset(fmt, 0, sizeof(*fmt));
    if (len < 12 || memcmp(data, "RIFF", 4) || memcmp(data + 8, "WAVE", 4))
        return fail(reason, "Invalid audio header: no RIFF/WAVE tag",
                    AW_ERR_PROTO);
    /* Walk the chunks; a stream's data chunk size may be 0 or anything. */
    while (len - pos >= 8) {
        const uint8_t *ck = data + pos;
        uint32_t cksize = rd32(ck + 4);

        if (!memcmp(ck, "data", 4)) {
            if (!have_fmt)
                return fail(reason, "Invalid audio header: data before fmt",
                            AW_ERR_PROTO);
            fmt->data_offset = pos + 8;
            return AW_OK;
        }
        if (cksize > len - pos - 8)
            break;
        if (!memcmp(ck, "fmt ", 4)) {
            if (cksize < 16)
                return fail(reason, "Invalid audio header: short fmt chunk",
                            AW_ERR_PROTO);
            fmt->format_tag = rd16(ck + 8);
            fmt->channels = rd16(ck + 10);
            fmt->sample_rate_hz = rd32(ck + 12);
            fmt->byte_rate = rd32(ck + 16);
            fmt->block_align = rd16(ck + 20);
            fmt->bits_per_sample = rd16(ck + 22);
            if (!fmt->channels || !fmt->sample_rate_hz ||
                !fmt->bits_per_sample || fmt->bits_per_sample % 8 ||
                fmt->block_align !=
                    fmt->channels * (fmt->bits_per_sample / 8) ||
                fmt->byte_rate != fmt->sample_rate_hz * fmt->block_align)
                return fail(reason, "Invalid audio header: inconsistent format",
                            AW_ERR_PROTO);
            have_fmt = true;
        }
        /* Chunks are padded to an even size; the pad may be missing at
         * the very end of the buffer. */
        pos += 8 + (size_t)cksize;
        if ((cksize & 1) && pos < len)
            pos++;
    }
    return fail(reason, "Invalid audio header: no data chunk", AW_ERR_PROTO);
}
