/*
 * airwave - error codes shared by every module.
 *
 * One enum, translated once at each library boundary (FFmpeg, libwebsockets,
 * librdkafka, PocketSphinx), with a table in src/common/err.c that keeps the
 * name, the text and the retry policy of each code side by side.
 */
#ifndef AIRWAVE_ERR_H
#define AIRWAVE_ERR_H

#include <stdbool.h>
#include <stddef.h>

enum aw_err {
    AW_OK = 0,
    AW_ERR_NOMEM = -1,        /* allocation failed */
    AW_ERR_INVAL = -2,        /* bad argument or configuration value */
    AW_ERR_AGAIN = -3,        /* nothing consumed: call again later */
    AW_ERR_EOF = -4,          /* source ended cleanly */
    AW_ERR_IO = -5,           /* local I/O or device error */
    AW_ERR_NET = -6,          /* network or transport error (retriable) */
    AW_ERR_PROTO = -7,        /* peer violated the protocol */
    AW_ERR_TOO_LARGE = -8,    /* a bounded buffer would overflow */
    AW_ERR_AUTH = -9,         /* credentials refused (401/403) */
    AW_ERR_REFUSED = -10,     /* peer refused the request for good (1007) */
    AW_ERR_NOT_FOUND = -11,   /* no such file, URL or device */
    AW_ERR_UNSUPPORTED = -12, /* valid input we cannot handle */
    AW_ERR_TIMEOUT = -13,     /* a deadline passed (retriable) */
    AW_ERR_STOPPED = -14,     /* interrupted by shutdown */
    AW_ERR_BUSY = -15,        /* peer overloaded: 429/503 (retriable) */
};

#define AW_ERR_COUNT_ 16

/** @returns the code's identifier, e.g. "AW_ERR_NET", for logs and labels. */
const char *aw_err_name(enum aw_err err);

/** @returns a short human-readable text, e.g. "network error". */
const char *aw_err_str(enum aw_err err);

/** @returns true if the operation may succeed when retried later. */
bool aw_err_is_retriable(enum aw_err err);

/**
 * @brief Write a formatted message into an error buffer.
 *
 * Truncates silently; a NULL or zero-sized buffer is allowed. The one place
 * error strings are formatted, so no caller ignores snprintf's return.
 */
void aw_errstr_set(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define AW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
