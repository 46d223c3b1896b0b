/*
 * ICY (SHOUTcast/Icecast) metadata: StreamTitle extraction.
 *
 * The block comes from the network and is written by station software of
 * every age, so nothing in it is trusted: quotes inside the title are not
 * escaped ("StreamTitle='It's 5 o'clock';"), semicolons appear in titles,
 * the closing quote or ';' may be missing, and old servers send Latin-1.
 * The result is always valid UTF-8 without control characters, because it
 * ends up in JSON (Kafka) and log lines. Fuzzed by tests/fuzz/fuzz_ingest.c.
 *
 * @locality any thread (pure functions)
 */
#include "ingest/ingest.h"

#include <string.h>

#include "ingest/ingest_int.h"

static bool is_key_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool ieq_prefix(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);

    if (n < k)
        return false;
    for (size_t i = 0; i < k; i++) {
        unsigned char a = (unsigned char)s[i], b = (unsigned char)prefix[i];

        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (unsigned char)(b - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

/* True if s[0..n) is empty, padding, or starts the next "Key=": i.e. a
 * quote-semicolon just before it really closed the value. */
static bool ends_value(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n &&
           (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    if (i == n)
        return true;
    while (i < n && is_key_char((unsigned char)s[i]))
        i++;
    return i < n && s[i] == '=' && i > 0 &&
           is_key_char((unsigned char)s[i - 1]);
}

/* Length of the valid UTF-8 sequence at s (strict: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 if there is none. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t k = utf8_seq(s + i, n - i);

        if (!k)
            return false;
        i += k;
    }
    return true;
}

size_t aw_ingest_text_sanitize(const char *in, size_t n, char *out, size_t size)
{
    const unsigned char *s = (const unsigned char *)in;
    bool latin1 = !valid_utf8(s, n);
    size_t o = 0, start, end;

    if (!size)
        return 0;
    for (size_t i = 0; i < n;) {
        unsigned char enc[4];
        size_t k, elen;

        if (latin1 || s[i] < 0x80) {
            k = 1;
            if (s[i] < 0x20 || s[i] == 0x7F || (s[i] >= 0x80 && s[i] < 0xA0)) {
                enc[0] = ' ';
                elen = 1;
            } else if (s[i] < 0x80) {
                enc[0] = s[i];
                elen = 1;
            } else {
                enc[0] = (unsigned char)(0xC0 | (s[i] >> 6));
                enc[1] = (unsigned char)(0x80 | (s[i] & 0x3F));
                elen = 2;
            }
        } else {
            k = utf8_seq(s + i, n - i);
            memcpy(enc, s + i, k);
            elen = k;
        }
        /* Whole characters only: a truncated title stays valid UTF-8. */
        if (o + elen > size - 1)
            break;
        memcpy(out + o, enc, elen);
        o += elen;
        i += k;
    }
    out[o] = '\0';

    /* Trim the spaces padding and control characters left. */
    start = 0;
    while (start < o && out[start] == ' ')
        start++;
    end = o;
    while (end > start && out[end - 1] == ' ')
        end--;
    memmove(out, out + start, end - start);
    out[end - start] = '\0';
    return end - start;
}

enum aw_err aw_ingest_icy_title(const char *meta, size_t len, char *title,
                                size_t size)
{
    static const char key[] = "StreamTitle=";
    const char *v = NULL, *vend;
    size_t n, i, vlen;
    char quote;

    if (!size)
        return AW_ERR_INVAL;
    title[0] = '\0';
    if (!meta)
        return AW_ERR_NOT_FOUND;
    n = strnlen(meta, len);

    /* The key starts the block or follows a ';' (possibly with spaces), so
     * a title containing "StreamTitle=" is not mistaken for the key. */
    for (i = 0; i < n; i++) {
        size_t j = i;

        if (i > 0) {
            if (meta[i - 1] != ';')
                continue;
            while (j < n && meta[j] == ' ')
                j++;
        } else {
            while (j < n && meta[j] == ' ')
                j++;
        }
        if (ieq_prefix(meta + j, n - j, key)) {
            v = meta + j + sizeof(key) - 1;
            break;
        }
    }
    if (!v)
        return AW_ERR_NOT_FOUND;
    vend = meta + n;

    quote = '\0';
    if (v < vend && (*v == '\'' || *v == '"'))
        quote = *v;
    if (!quote) {
        /* Unquoted: up to the next ';'. */
        const char *semi = memchr(v, ';', (size_t)(vend - v));

        vlen = (size_t)((semi ? semi : vend) - v);
        aw_ingest_text_sanitize(v, vlen, title, size);
        return AW_OK;
    }
    v++;
    /* The value ends at the first quote + ';' that is followed by the end
     * of the block or by another Key=; failing that at the last quote
     * (a missing ';'), failing that at the end of the block. */
    vlen = (size_t)(vend - v);
    {
        const char *last_quote = NULL;
        bool found = false;

        for (const char *p = v; p < vend; p++) {
            if (*p != quote)
                continue;
            last_quote = p;
            if (p + 1 < vend && p[1] == ';' &&
                ends_value(p + 2, (size_t)(vend - (p + 2)))) {
                vlen = (size_t)(p - v);
                found = true;
                break;
            }
        }
        if (!found && last_quote &&
            ends_value(last_quote + 1, (size_t)(vend - (last_quote + 1))))
            vlen = (size_t)(last_quote - v);
    }
    aw_ingest_text_sanitize(v, vlen, title, size);
    return AW_OK;
}
