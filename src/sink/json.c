/*
 * Transcript and stream-event JSON. See json.h for why this is hand-written;
 * the schemas are docs/schema/transcript.v1.json and stream-event.v1.json,
 * and tests/unit/test_sink_json.c checks the output against both.
 */
#include "sink/json.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "airwave/clock.h"

#define NIL_UUID "00000000-0000-0000-0000-000000000000"

static const char *const event_type_names[] = {
    [AW_EVENT_START] = "start",
    [AW_EVENT_END] = "end",
    [AW_EVENT_DISCONTINUITY] = "discontinuity",
    [AW_EVENT_TITLE] = "title",
    [AW_EVENT_ROTATION] = "rotation",
    [AW_EVENT_ERROR] = "error",
};

const char *aw_event_type_name(enum aw_event_type type)
{
    if ((int)type < 0 || (size_t)type >= AW_ARRAY_SIZE(event_type_names))
        return NULL;
    return event_type_names[type];
}

/*
 * Length of the well-formed UTF-8 sequence at s, or 0 if there is none; then
 * *bad is the length of the maximal subpart to replace with one U+FFFD (at
 * least 1). The ranges are Unicode's table 3-7, which excludes overlong forms,
 * surrogates and anything above U+10FFFF.
 */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return len;
}

/* The two-character escapes JSON has; other controls become \u00XX. */
static const char *const short_escapes[128] = {
    ['"'] = "\\\"", ['\\'] = "\\\\", ['\n'] = "\\n", ['\r'] = "\\r",
    ['\t'] = "\\t", ['\b'] = "\\b",  ['\f'] = "\\f",
};

enum aw_err aw_json_put_string(struct aw_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t saved = b->len, i = 0, run = 0;
    enum aw_err err;

    err = aw_buf_append(b, "\"", 1);
    /* Copy runs of bytes that need no change in one append each: text is
     * mostly plain, and this keeps the common case one memcpy. */
    while (!err && i < len) {
        char uesc[6] = {'\\', 'u', '0', '0', '0', '0'};
        const char *rep;
        size_t rep_len, seq, bad = 0;
        unsigned char c = p[i];

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7F) {
            i++;
            run++;
            continue;
        }
        seq = c < 0x80 ? 1 : utf8_seq(p + i, len - i, &bad);
        if (seq > 1 && !(seq == 3 && c == 0xE2 && p[i + 1] == 0x80 &&
                         (p[i + 2] == 0xA8 || p[i + 2] == 0xA9))) {
            i += seq;
            run += seq;
            continue;
        }
        if (run)
            err = aw_buf_append(b, p + i - run, run);
        run = 0;
        if (err)
            break;
        if (!seq) {
            rep = "\xEF\xBF\xBD"; /* U+FFFD REPLACEMENT CHARACTER */
            rep_len = 3;
            i += bad;
        } else if (seq == 3) {
            rep = p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
            rep_len = 6;
            i += 3;
        } else {
            rep = short_escapes[c];
            rep_len = 2;
            if (!rep) {
                uesc[4] = hex[c >> 4];
                uesc[5] = hex[c & 15];
                rep = uesc;
                rep_len = sizeof(uesc);
            }
            i++;
        }
        err = aw_buf_append(b, rep, rep_len);
    }
    if (!err && run)
        err = aw_buf_append(b, p + i - run, run);
    if (!err)
        err = aw_buf_append(b, "\"", 1);
    if (err) {
        b->len = saved;
        if (b->data)
            b->data[saved] = '\0';
    }
    return err;
}

bool aw_json_stream_id_ok(const char *id)
{
    size_t n = 0;

    if (!id)
        return false;
    for (; id[n]; n++) {
        char c = id[n];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n >= 1 && n <= 64;
}

/* 8-4-4-4-12 hex digits, either case (written out in lower case). */
static bool uuid_ok(const char *u)
{
    for (size_t i = 0; i < 36; i++) {
        char c = u[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                     (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return u[36] == '\0';
}

/*
 * The encoder state: one buffer and the first error, so that each member is
 * one line below and the error is checked once at the end.
 */
struct enc {
    struct aw_buf *b;
    enum aw_err err;
    bool first;
};

static void raw(struct enc *e, const char *s, size_t n)
{
    if (!e->err)
        e->err = aw_buf_append(e->b, s, n);
}

static void key(struct enc *e, const char *k)
{
    raw(e, e->first ? "\"" : ",\"", e->first ? 1 : 2);
    e->first = false;
    raw(e, k, strlen(k));
    raw(e, "\":", 2);
}

static void member_str(struct enc *e, const char *k, const char *v)
{
    key(e, k);
    if (!e->err)
        e->err = aw_json_put_string(e->b, v, strlen(v));
}

static void member_uuid(struct enc *e, const char *k, const char *v)
{
    char low[37];

    for (size_t i = 0; i < 36; i++)
        low[i] = (char)(v[i] >= 'A' && v[i] <= 'F' ? v[i] - 'A' + 'a' : v[i]);
    key(e, k);
    raw(e, "\"", 1);
    raw(e, low, 36);
    raw(e, "\"", 1);
}

static void member_int(struct enc *e, const char *k, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", (long long)v);

    key(e, k);
    if (n > 0)
        raw(e, num, (size_t)n);
}

/*
 * A non-negative number with at most \p decimals fraction digits, trailing
 * zeros removed. Integer arithmetic only: printf's %f follows LC_NUMERIC, and
 * a decimal comma is not JSON.
 */
static void member_fixed(struct enc *e, const char *k, double v, int decimals)
{
    int64_t scale = 1, scaled, ip, fp;
    char num[48];
    int n;

    for (int i = 0; i < decimals; i++)
        scale *= 10;
    if (!isfinite(v) || v < 0)
        v = 0;
    if (v > 9.0e12) /* keep v * scale inside int64_t */
        v = 9.0e12;
    scaled = llround(v * (double)scale);
    ip = scaled / scale;
    fp = scaled % scale;
    if (fp == 0) {
        n = snprintf(num, sizeof(num), "%lld", (long long)ip);
    } else {
        int width = decimals;

        while (fp % 10 == 0) {
            fp /= 10;
            width--;
        }
        n = snprintf(num, sizeof(num), "%lld.%0*lld", (long long)ip, width,
                     (long long)fp);
    }
    key(e, k);
    if (n > 0)
        raw(e, num, (size_t)n);
}

static void member_time(struct enc *e, const char *k, int64_t wall_ms)
{
    char ts[32];

    aw_time_format_iso8601(wall_ms, ts, sizeof(ts));
    member_str(e, k, ts);
}

static enum aw_err finish(struct enc *e, size_t saved)
{
    raw(e, "}", 1);
    if (e->err) {
        e->b->len = saved;
        if (e->b->data)
            e->b->data[saved] = '\0';
    }
    return e->err;
}

enum aw_err aw_json_transcript(struct aw_buf *b, const struct aw_transcript *t)
{
    struct enc e = {b, AW_OK, true};
    size_t saved = b->len;

    if (!t || !aw_json_stream_id_ok(t->stream_id) || !t->source ||
        !t->language || !t->text || !t->provider || !uuid_ok(t->id) ||
        !uuid_ok(t->capture_session) || t->offset_ms < 0 ||
        t->duration_ms < 0 || (t->nwords && !t->words))
        return AW_ERR_INVAL;
    for (size_t i = 0; i < t->nwords; i++)
        if (!t->words[i].word || t->words[i].offset_ms < 0 ||
            t->words[i].duration_ms < 0)
            return AW_ERR_INVAL;

    raw(&e, "{", 1);
    member_str(&e, "schema", AW_TRANSCRIPT_SCHEMA);
    member_uuid(&e, "id", t->id);
    member_str(&e, "stream_id", t->stream_id);
    member_str(&e, "source", t->source);
    member_str(&e, "language", t->language);
    member_str(&e, "text", t->text);
    if (t->lexical)
        member_str(&e, "lexical", t->lexical);
    if (t->confidence >= 0 && isfinite(t->confidence))
        member_fixed(&e, "confidence", t->confidence > 1 ? 1 : t->confidence,
                     6);
    member_time(&e, "start", t->start_wall_ms);
    member_time(&e, "end", t->end_wall_ms);
    member_int(&e, "offset_ms", t->offset_ms);
    member_int(&e, "duration_ms", t->duration_ms);
    member_uuid(&e, "capture_session", t->capture_session);
    if (t->stream_title)
        member_str(&e, "stream_title", t->stream_title);
    member_str(&e, "provider", t->provider);
    if (t->nwords) {
        key(&e, "words");
        raw(&e, "[", 1);
        for (size_t i = 0; i < t->nwords; i++) {
            raw(&e, i ? ",{" : "{", i ? 2 : 1);
            e.first = true;
            member_str(&e, "word", t->words[i].word);
            member_int(&e, "offset_ms", t->words[i].offset_ms);
            member_int(&e, "duration_ms", t->words[i].duration_ms);
            raw(&e, "}", 1);
        }
        raw(&e, "]", 1);
    }
    return finish(&e, saved);
}

enum aw_err aw_json_event(struct aw_buf *b, const struct aw_stream_event *ev)
{
    struct enc e = {b, AW_OK, true};
    size_t saved = b->len;
    const char *type;

    if (!ev)
        return AW_ERR_INVAL;
    type = aw_event_type_name(ev->type);
    if (!type || !aw_json_stream_id_ok(ev->stream_id) || !uuid_ok(ev->id) ||
        (ev->capture_session[0] && !uuid_ok(ev->capture_session)) ||
        ev->offset_ms < 0)
        return AW_ERR_INVAL;

    raw(&e, "{", 1);
    member_str(&e, "schema", AW_EVENT_SCHEMA);
    member_uuid(&e, "id", ev->id);
    member_str(&e, "stream_id", ev->stream_id);
    member_str(&e, "type", type);
    member_time(&e, "time", ev->wall_ms);
    member_uuid(&e, "capture_session",
                ev->capture_session[0] ? ev->capture_session : NIL_UUID);
    member_int(&e, "offset_ms", ev->offset_ms);
    if (ev->source)
        member_str(&e, "source", ev->source);
    if (ev->type == AW_EVENT_DISCONTINUITY)
        member_fixed(&e, "lost_seconds", ev->lost_seconds, 3);
    if (ev->type == AW_EVENT_ROTATION)
        member_fixed(&e, "replay_seconds", ev->replay_seconds, 3);
    if (ev->type == AW_EVENT_TITLE)
        member_str(&e, "title", ev->title ? ev->title : "");
    if (ev->reason)
        member_str(&e, "reason", ev->reason);
    return finish(&e, saved);
}
