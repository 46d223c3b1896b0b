/*
 * FFmpeg's av_log -> aw_log, once per process.
 *
 * FFmpeg calls the callback from whatever thread logs, with a line often
 * split into fragments ("Header missing" arrives in one call, option dumps
 * in several), so each thread joins its fragments in a thread-local buffer
 * and emits whole lines. The same buffer remembers, per thread, what the
 * error translation in open.c needs but FFmpeg only says in its log: the
 * last warning or error line (the one-line reason behind a bare "I/O
 * error"), the HTTP status of the last failed request ("HTTP error 429 Too
 * Many Requests") and the reconnects its http protocol did by itself ("Will
 * reconnect at ..."), which hide a discontinuity from us otherwise. Matching
 * log text is brittle across FFmpeg versions; if the text changes we lose
 * detail, not correctness.
 *
 * @locality any thread (thread-local state; aw_log is thread-safe)
 */
#include "ingest/ingest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>
#include <libavutil/log.h>

#include "airwave/log.h"
#include "ingest/ingest_int.h"

#define LINE_BYTES 1024

struct tls_log {
    const char *stream_id; /* borrowed from the ingest bound to the thread */
    char line[LINE_BYTES]; /* fragments of the current line */
    size_t len;
    int level;
    char item[32];              /* "mp3", "http", ... of the current line */
    char last_line[LINE_BYTES]; /* for "repeated N times" */
    unsigned repeats;
    char last_error[LINE_BYTES];
    int http_code;
    unsigned http_reconnects;
};

static _Thread_local struct tls_log tls;

/* FFmpeg lines more verbose than this are not passed on. */
static atomic_int pass_level = AV_LOG_WARNING;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* FFmpeg's errors and warnings are about one packet or one guess
 * ("Estimating duration from bitrate", "Header missing"): ingest reports
 * what actually fails the stream itself, so they are one step quieter
 * here. */
static enum aw_log_level map_level(int av_level)
{
    if (av_level <= AV_LOG_ERROR)
        return AW_LOG_WARN;
    if (av_level <= AV_LOG_WARNING)
        return AW_LOG_NOTICE;
    if (av_level <= AV_LOG_INFO)
        return AW_LOG_INFO;
    return AW_LOG_DEBUG;
}

static void emit(int level, const char *item, const char *msg)
{
    enum aw_log_level lvl = map_level(level);

    if ((int)lvl <= aw_log_threshold)
        aw_log(lvl, "ffmpeg", tls.stream_id, "av_log", "%s: %s", item, msg);
}

static void finish_line(void)
{
    struct tls_log *t = &tls;
    size_t n = t->len;

    t->line[n] = '\0';
    t->len = 0;
    while (n && (t->line[n - 1] == '\n' || t->line[n - 1] == '\r' ||
                 t->line[n - 1] == ' '))
        t->line[--n] = '\0';
    if (!n)
        return;

    if (t->level <= AV_LOG_WARNING)
        aw_errstr_set(t->last_error, sizeof(t->last_error), "%s: %s", t->item,
                      t->line);
    if (!strncmp(t->line, "HTTP error ", 11))
        t->http_code = (int)strtol(t->line + 11, NULL, 10);
    if (!strncmp(t->line, "Will reconnect at ", 18))
        t->http_reconnects++;

    if (t->level > atomic_load_explicit(&pass_level, memory_order_relaxed))
        return;
    /* A flaky stream repeats the same decoder complaint per packet: say it
     * once, then how often it came. */
    if (!strcmp(t->line, t->last_line)) {
        t->repeats++;
        return;
    }
    if (t->repeats) {
        char msg[64];

        aw_errstr_set(msg, sizeof(msg), "last message repeated %u times",
                      t->repeats);
        emit(t->level, t->item, msg);
        t->repeats = 0;
    }
    memcpy(t->last_line, t->line, n + 1);
    emit(t->level, t->item, t->line);
}

/* FFmpeg hands us its own printf format: say so, so the compiler checks
 * the vsnprintf() below as a format pass-through. */
static void av_log_cb(void *avcl, int level, const char *fmt, va_list vl)
    __attribute__((format(printf, 3, 0)));

static void av_log_cb(void *avcl, int level, const char *fmt, va_list vl)
{
    struct tls_log *t = &tls;
    int pass = atomic_load_explicit(&pass_level, memory_order_relaxed);
    char frag[LINE_BYTES];
    int n;

    level &= 0xff; /* the high bits carry colour hints */
    if (level > pass && level > AV_LOG_WARNING)
        return;
    n = vsnprintf(frag, sizeof(frag), fmt, vl);
    if (n <= 0)
        return;
    if (!t->len) {
        const AVClass *avc = avcl ? *(const AVClass *const *)avcl : NULL;
        const char *item = "ffmpeg";

        if (avc)
            item = avc->item_name ? avc->item_name(avcl) : avc->class_name;
        aw_errstr_set(t->item, sizeof(t->item), "%s", item ? item : "?");
        t->level = level;
    }
    for (const char *p = frag; *p; p++) {
        if (t->len < sizeof(t->line) - 1)
            t->line[t->len++] = *p;
        if (*p == '\n')
            finish_line();
    }
}

static void init_once(void)
{
    av_log_set_callback(av_log_cb);
    /* FFmpeg filters before calling us: let warnings through always, the
     * error translation needs them even when they are not printed. */
    av_log_set_level(AV_LOG_WARNING);
    avformat_network_init();
}

void aw_ingest_global_init(void)
{
    pthread_once(&once, init_once);
}

void aw_ingest_set_ffmpeg_log_level(enum aw_log_level level)
{
    int av;

    aw_ingest_global_init();
    if (level <= AW_LOG_ERROR)
        av = AV_LOG_ERROR;
    else if (level <= AW_LOG_WARN)
        av = AV_LOG_WARNING;
    else if (level <= AW_LOG_INFO)
        av = AV_LOG_INFO;
    else
        av = AV_LOG_DEBUG;
    atomic_store_explicit(&pass_level, av, memory_order_relaxed);
    av_log_set_level(av > AV_LOG_WARNING ? av : AV_LOG_WARNING);
}

void aw_ingest_avlog_bind(const char *stream_id)
{
    tls.stream_id = stream_id;
}

void aw_ingest_avlog_reset(void)
{
    tls.last_error[0] = '\0';
    tls.http_code = 0;
}

const char *aw_ingest_avlog_last_error(void)
{
    return tls.last_error;
}

int aw_ingest_avlog_http_code(void)
{
    return tls.http_code;
}

unsigned aw_ingest_avlog_pending_http_reconnects(void)
{
    return tls.http_reconnects;
}

unsigned aw_ingest_avlog_take_http_reconnects(void)
{
    unsigned n = tls.http_reconnects;

    tls.http_reconnects = 0;
    return n;
}
