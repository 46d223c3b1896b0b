/*
 * airwave - logging: one line per event, to stderr.
 *
 *   ts=2026-11-26T12:00:01.230Z level=warn mod=stt stream=radio-okapi msg="..."
 *
 * logfmt by default, one JSON object per line with aw_log_set_format(). The
 * "stream" key names what the line is about (a stream id in the connector, a
 * session tag in speechd), so one grep follows one stream through every
 * module. Secrets registered with aw_log_add_secret() are replaced by
 * "[REDACTED]" in every line, whatever the module that formatted them: a
 * last line of defence, not a licence to log secrets.
 *
 * Thread-safe: each line is formatted on the caller's stack and written with
 * one write(2).
 */
#ifndef AIRWAVE_LOG_H
#define AIRWAVE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* syslog(3) severities, so thresholds compare the usual way round. */
enum aw_log_level {
    AW_LOG_ERROR = 3,
    AW_LOG_WARN = 4,
    AW_LOG_NOTICE = 5,
    AW_LOG_INFO = 6,
    AW_LOG_DEBUG = 7,
};

enum aw_log_format {
    AW_LOG_FORMAT_LOGFMT = 0,
    AW_LOG_FORMAT_JSON = 1,
};

/** Lines above this level are not formatted at all. Default AW_LOG_INFO. */
extern int aw_log_threshold;

/**
 * @brief Log one event.
 * @param mod  module, e.g. "stt"; never NULL
 * @param src  stream id or session tag, or NULL when the line is about the
 *             process as a whole
 */
void aw_log(enum aw_log_level level, const char *mod, const char *src,
            const char *func, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

void aw_logv(enum aw_log_level level, const char *mod, const char *src,
             const char *func, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

#define AW_LOG(level, mod, src, ...)                                           \
    do {                                                                       \
        if ((int)(level) <= aw_log_threshold)                                  \
            aw_log((level), (mod), (src), __func__, __VA_ARGS__);              \
    } while (0)

#define AW_ERROR(mod, src, ...) AW_LOG(AW_LOG_ERROR, mod, src, __VA_ARGS__)
#define AW_WARN(mod, src, ...)  AW_LOG(AW_LOG_WARN, mod, src, __VA_ARGS__)
#define AW_INFO(mod, src, ...)  AW_LOG(AW_LOG_INFO, mod, src, __VA_ARGS__)
#define AW_DEBUG(mod, src, ...) AW_LOG(AW_LOG_DEBUG, mod, src, __VA_ARGS__)

void aw_log_set_format(enum aw_log_format format);

/** Name of the key that carries \p src ("stream" unless changed). */
void aw_log_set_src_key(const char *key);

/** @returns the level for "error", "warn", "notice", "info" or "debug", or
 *  -1 for anything else. */
int aw_log_level_parse(const char *name);

/**
 * @brief Register a secret that must never appear in a log line.
 *
 * The string is copied. Secrets shorter than 4 bytes are ignored (they would
 * redact ordinary words). At most 16 are kept; returns false past that.
 * @locality any thread
 */
bool aw_log_add_secret(const char *secret);

/** Forget one registered secret (a bearer token that was replaced). */
void aw_log_remove_secret(const char *secret);

/** Forget every registered secret (used on configuration reload). */
void aw_log_clear_secrets(void);

/**
 * @brief Replace every registered secret in \p buf, in place.
 *
 * For other text that leaves the process (error messages, events).
 * @returns the number of replacements.
 */
size_t aw_log_redact(char *buf, size_t size);

/**
 * @brief Send formatted lines somewhere other than stderr (tests).
 * @param fn  receives each complete line, without the newline; NULL restores
 *            stderr. Called with an internal lock held.
 */
void aw_log_set_sink(void (*fn)(void *opaque, const char *line, size_t len),
                     void *opaque);

#endif
