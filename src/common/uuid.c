/*
 * UUIDs. v5 hashes with OpenSSL's SHA-1, as RFC 4122 §4.3 requires.
 */
#include "common/uuid.h"

#include <ctype.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

/* Fixed once: changing it would change every transcript id ever issued. */
const struct aw_uuid aw_uuid_ns_airwave = {{0x8b, 0x1f, 0x3e, 0x52, 0x6c, 0x0d,
                                            0x4a, 0x9e, 0xa1, 0x7c, 0x25, 0xd4,
                                            0x90, 0x3b, 0x61, 0xe8}};

enum aw_err aw_uuid_v4(struct aw_uuid *u)
{
    if (RAND_bytes(u->b, sizeof(u->b)) != 1)
        return AW_ERR_IO;
    u->b[6] = (uint8_t)((u->b[6] & 0x0f) | 0x40);
    u->b[8] = (uint8_t)((u->b[8] & 0x3f) | 0x80);
    return AW_OK;
}

void aw_uuid_v5(struct aw_uuid *u, const struct aw_uuid *ns, const void *name,
                size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    memset(md, 0, sizeof(md));
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, ns->b, sizeof(ns->b)) == 1 &&
        EVP_DigestUpdate(ctx, name, len) == 1)
        EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    memcpy(u->b, md, sizeof(u->b));
    u->b[6] = (uint8_t)((u->b[6] & 0x0f) | 0x50);
    u->b[8] = (uint8_t)((u->b[8] & 0x3f) | 0x80);
}

static void hex(const uint8_t *b, size_t n, char *out, const char *digits)
{
    for (size_t i = 0; i < n; i++) {
        *out++ = digits[b[i] >> 4];
        *out++ = digits[b[i] & 15];
    }
}

void aw_uuid_format(const struct aw_uuid *u, char out[AW_UUID_STR_LEN])
{
    static const char lower[] = "0123456789abcdef";

    hex(u->b, 4, out, lower);
    out[8] = '-';
    hex(u->b + 4, 2, out + 9, lower);
    out[13] = '-';
    hex(u->b + 6, 2, out + 14, lower);
    out[18] = '-';
    hex(u->b + 8, 2, out + 19, lower);
    out[23] = '-';
    hex(u->b + 10, 6, out + 24, lower);
    out[36] = '\0';
}

void aw_uuid_format_nodash(const struct aw_uuid *u,
                           char out[AW_UUID_NODASH_LEN])
{
    hex(u->b, 16, out, "0123456789ABCDEF");
    out[32] = '\0';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int aw_uuid_is_nodash(const char *s, size_t len)
{
    if (len != 32)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (hexval((unsigned char)s[i]) < 0)
            return 0;
    return 1;
}

enum aw_err aw_uuid_parse(const char *s, size_t len, struct aw_uuid *u)
{
    size_t j = 0;

    if (len != 32 && len != 36)
        return AW_ERR_INVAL;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;

        if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-')
                return AW_ERR_INVAL;
            continue;
        }
        if (i + 1 >= len || j >= 16)
            return AW_ERR_INVAL;
        hi = hexval((unsigned char)s[i]);
        lo = hexval((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0)
            return AW_ERR_INVAL;
        u->b[j++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return j == 16 ? AW_OK : AW_ERR_INVAL;
}
