#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void aw_buf_init(struct aw_buf *b, size_t max_len)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max_len = max_len;
}

void aw_buf_fini(struct aw_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void aw_buf_reset(struct aw_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static enum aw_err reserve(struct aw_buf *b, size_t extra)
{
    size_t need, ncap;
    char *p;

    if (extra > b->max_len - b->len)
        return AW_ERR_TOO_LARGE;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return AW_OK;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap *= 2;
    if (ncap > b->max_len + 1)
        ncap = b->max_len + 1;
    p = realloc(b->data, ncap);
    if (!p)
        return AW_ERR_NOMEM;
    b->data = p;
    b->cap = ncap;
    return AW_OK;
}

enum aw_err aw_buf_append(struct aw_buf *b, const void *data, size_t len)
{
    enum aw_err err = reserve(b, len);

    if (err)
        return err;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return AW_OK;
}

enum aw_err aw_buf_puts(struct aw_buf *b, const char *s)
{
    return aw_buf_append(b, s, strlen(s));
}

enum aw_err aw_buf_printf(struct aw_buf *b, const char *fmt, ...)
{
    va_list ap;
    enum aw_err err;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return AW_ERR_INVAL;
    err = reserve(b, (size_t)n);
    if (err)
        return err;
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return AW_ERR_INVAL;
    b->len += (size_t)n;
    return AW_OK;
}

void aw_buf_consume(struct aw_buf *b, size_t n)
{
    if (n >= b->len) {
        aw_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n + 1);
    b->len -= n;
}

char *aw_buf_steal(struct aw_buf *b, size_t *len)
{
    char *p = b->data;

    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
