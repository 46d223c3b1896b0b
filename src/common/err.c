/*
 * Error table: one row per code, indexed by -code, so the name, the text and
 * the retry policy cannot drift apart.
 */
#include "airwave/err.h"

#include <stdarg.h>
#include <stdio.h>

#define ERR_DESC(code, desc, retriable) [-(code)] = {#code, desc, retriable}

static const struct err_desc {
    const char *name;
    const char *desc;
    bool retriable;
} err_descs[AW_ERR_COUNT_] = {
    ERR_DESC(AW_OK, "success", false),
    ERR_DESC(AW_ERR_NOMEM, "out of memory", false),
    ERR_DESC(AW_ERR_INVAL, "invalid argument", false),
    ERR_DESC(AW_ERR_AGAIN, "try again", true),
    ERR_DESC(AW_ERR_EOF, "end of stream", false),
    ERR_DESC(AW_ERR_IO, "I/O error", true),
    ERR_DESC(AW_ERR_NET, "network error", true),
    ERR_DESC(AW_ERR_PROTO, "protocol error", false),
    ERR_DESC(AW_ERR_TOO_LARGE, "too large", false),
    ERR_DESC(AW_ERR_AUTH, "authentication refused", false),
    ERR_DESC(AW_ERR_REFUSED, "request refused", false),
    ERR_DESC(AW_ERR_NOT_FOUND, "not found", false),
    ERR_DESC(AW_ERR_UNSUPPORTED, "unsupported", false),
    ERR_DESC(AW_ERR_TIMEOUT, "timed out", true),
    ERR_DESC(AW_ERR_STOPPED, "stopped", false),
    ERR_DESC(AW_ERR_BUSY, "service busy", true),
};

static const struct err_desc *lookup(enum aw_err err)
{
    int idx = -(int)err;

    if (idx < 0 || idx >= (int)AW_ARRAY_SIZE(err_descs) || !err_descs[idx].name)
        return NULL;
    return &err_descs[idx];
}

const char *aw_err_name(enum aw_err err)
{
    const struct err_desc *d = lookup(err);

    return d ? d->name : "AW_ERR_UNKNOWN";
}

const char *aw_err_str(enum aw_err err)
{
    const struct err_desc *d = lookup(err);

    return d ? d->desc : "unknown error";
}

bool aw_err_is_retriable(enum aw_err err)
{
    const struct err_desc *d = lookup(err);

    return d ? d->retriable : false;
}

void aw_errstr_set(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!errstr || !errstr_size)
        return;
    va_start(ap, fmt);
    n = vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
    if (n < 0)
        errstr[0] = '\0';
}
