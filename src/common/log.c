/*
 * Logging: format one line on the stack, scrub registered secrets, write it
 * with one call. See include/airwave/log.h.
 */
#include "airwave/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "airwave/clock.h"
#include "airwave/err.h"

#define LINE_MAX_BYTES 4096
#define MSG_MAX_BYTES  2048
#define MAX_SECRETS    16
#define REDACTED       "[REDACTED]"

int aw_log_threshold = AW_LOG_INFO;

static enum aw_log_format log_format = AW_LOG_FORMAT_LOGFMT;
static const char *src_key = "stream";

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[MAX_SECRETS];
static size_t nsecrets;
static void (*sink_fn)(void *opaque, const char *line, size_t len);
static void *sink_opaque;

static const char *const level_names[] = {
    [AW_LOG_ERROR] = "error",   [AW_LOG_WARN] = "warn",
    [AW_LOG_NOTICE] = "notice", [AW_LOG_INFO] = "info",
    [AW_LOG_DEBUG] = "debug",
};

void aw_log_set_format(enum aw_log_format format)
{
    log_format = format;
}

void aw_log_set_src_key(const char *key)
{
    src_key = key;
}

int aw_log_level_parse(const char *name)
{
    for (size_t i = 0; i < AW_ARRAY_SIZE(level_names); i++)
        if (level_names[i] && name && !strcmp(level_names[i], name))
            return (int)i;
    return -1;
}

bool aw_log_add_secret(const char *secret)
{
    bool ok = true;
    char *copy;

    if (!secret || strlen(secret) < 4)
        return true;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nsecrets; i++)
        if (!strcmp(secrets[i], secret))
            goto out;
    copy = strdup(secret);
    if (!copy || nsecrets == MAX_SECRETS) {
        free(copy);
        ok = false;
        goto out;
    }
    secrets[nsecrets++] = copy;
out:
    pthread_mutex_unlock(&lock);
    return ok;
}

void aw_log_remove_secret(const char *secret)
{
    if (!secret)
        return;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nsecrets; i++) {
        if (strcmp(secrets[i], secret))
            continue;
        free(secrets[i]);
        secrets[i] = secrets[--nsecrets];
        secrets[nsecrets] = NULL;
        break;
    }
    pthread_mutex_unlock(&lock);
}

void aw_log_clear_secrets(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nsecrets; i++) {
        free(secrets[i]);
        secrets[i] = NULL;
    }
    nsecrets = 0;
    pthread_mutex_unlock(&lock);
}

/* Caller holds the lock. */
static size_t redact_locked(char *buf, size_t size)
{
    size_t hits = 0;

    for (size_t i = 0; i < nsecrets; i++) {
        size_t slen = strlen(secrets[i]), rlen = sizeof(REDACTED) - 1;
        char *p = buf;

        while ((p = strstr(p, secrets[i])) != NULL) {
            size_t tail = strlen(p + slen) + 1;

            /* Secrets are at least 4 bytes and REDACTED is 10: grow the
             * line only while it fits, else blank the secret in place. */
            if (rlen <= slen || (size_t)(p - buf) + rlen + tail <= size) {
                memmove(p + rlen, p + slen, tail);
                memcpy(p, REDACTED, rlen);
                p += rlen;
            } else {
                memset(p, '*', slen);
                p += slen;
            }
            hits++;
        }
    }
    return hits;
}

size_t aw_log_redact(char *buf, size_t size)
{
    size_t hits;

    if (!buf || !size)
        return 0;
    pthread_mutex_lock(&lock);
    hits = redact_locked(buf, size);
    pthread_mutex_unlock(&lock);
    return hits;
}

void aw_log_set_sink(void (*fn)(void *opaque, const char *line, size_t len),
                     void *opaque)
{
    pthread_mutex_lock(&lock);
    sink_fn = fn;
    sink_opaque = opaque;
    pthread_mutex_unlock(&lock);
}

/* Append \p s quoted for logfmt (always quoted) or JSON. */
static size_t put_quoted(char *out, size_t pos, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    if (pos < cap)
        out[pos++] = '"';
    for (; *s && pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            out[pos++] = '\\';
            out[pos++] = (char)c;
        } else if (c == '\n') {
            out[pos++] = '\\';
            out[pos++] = 'n';
        } else if (c == '\t') {
            out[pos++] = '\\';
            out[pos++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(out + pos, "\\u00", 4);
            out[pos + 4] = hex[c >> 4];
            out[pos + 5] = hex[c & 15];
            pos += 6;
        } else {
            out[pos++] = (char)c;
        }
    }
    if (pos < cap)
        out[pos++] = '"';
    return pos;
}

static size_t put_raw(char *out, size_t pos, size_t cap, const char *s)
{
    size_t n = strlen(s);

    if (n > cap - pos)
        n = cap - pos;
    memcpy(out + pos, s, n);
    return pos + n;
}

/* A logfmt value needs quotes if it is empty or has spaces, quotes or '='. */
static bool needs_quotes(const char *s)
{
    if (!*s)
        return true;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '"' || *s == '=' || *s == '\\' ||
            (unsigned char)*s == 0x7f)
            return true;
    return false;
}

static size_t put_field(char *out, size_t pos, size_t cap, const char *key,
                        const char *val, bool first)
{
    if (log_format == AW_LOG_FORMAT_JSON) {
        pos = put_raw(out, pos, cap, first ? "{" : ",");
        pos = put_quoted(out, pos, cap, key);
        pos = put_raw(out, pos, cap, ":");
        return put_quoted(out, pos, cap, val);
    }
    if (!first)
        pos = put_raw(out, pos, cap, " ");
    pos = put_raw(out, pos, cap, key);
    pos = put_raw(out, pos, cap, "=");
    if (needs_quotes(val))
        return put_quoted(out, pos, cap, val);
    return put_raw(out, pos, cap, val);
}

void aw_logv(enum aw_log_level level, const char *mod, const char *src,
             const char *func, const char *fmt, va_list ap)
{
    char msg[MSG_MAX_BYTES], line[LINE_MAX_BYTES], ts[32];
    const char *lname = "info";
    size_t pos = 0, cap = sizeof(line) - 2;

    if ((int)level >= 0 && (size_t)level < AW_ARRAY_SIZE(level_names) &&
        level_names[level])
        lname = level_names[level];
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        msg[0] = '\0';
    aw_time_format_iso8601(aw_clock_wall_ms(), ts, sizeof(ts));

    pos = put_field(line, pos, cap, "ts", ts, true);
    pos = put_field(line, pos, cap, "level", lname, false);
    pos = put_field(line, pos, cap, "mod", mod ? mod : "-", false);
    if (src)
        pos = put_field(line, pos, cap, src_key, src, false);
    if (func && aw_log_threshold >= AW_LOG_DEBUG)
        pos = put_field(line, pos, cap, "fn", func, false);
    pos = put_field(line, pos, cap, "msg", msg, false);
    if (log_format == AW_LOG_FORMAT_JSON)
        pos = put_raw(line, pos, cap, "}");
    line[pos] = '\0';

    pthread_mutex_lock(&lock);
    redact_locked(line, sizeof(line) - 1);
    pos = strlen(line);
    if (sink_fn) {
        sink_fn(sink_opaque, line, pos);
    } else {
        line[pos++] = '\n';
        /* One write per line: lines from different threads never mix. */
        if (write(STDERR_FILENO, line, pos) < 0) {
            /* nowhere left to report it */
        }
    }
    pthread_mutex_unlock(&lock);
}

void aw_log(enum aw_log_level level, const char *mod, const char *src,
            const char *func, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    aw_logv(level, mod, src, func, fmt, ap);
    va_end(ap);
}
