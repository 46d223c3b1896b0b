/*
 * Growable byte buffer with a hard cap, in the manner of curl's dynbuf: every
 * append either fits under the cap or fails with AW_ERR_TOO_LARGE and leaves
 * the contents as they were. Always NUL-terminated, so text can be read in
 * place.
 */
#ifndef AW_COMMON_BUF_H
#define AW_COMMON_BUF_H

#include <stddef.h>

#include "airwave/err.h"

struct aw_buf {
    char *data;     /* NULL until the first append */
    size_t len;     /* bytes used, terminator excluded */
    size_t cap;     /* bytes allocated */
    size_t max_len; /* hard cap on len */
};

/** Caller-embedded; no allocation until the first append. */
void aw_buf_init(struct aw_buf *b, size_t max_len);

/** Free the storage; \p b can be used again after aw_buf_init(). */
void aw_buf_fini(struct aw_buf *b);

/** Keep the storage, drop the contents. */
void aw_buf_reset(struct aw_buf *b);

/** @returns AW_OK, AW_ERR_TOO_LARGE or AW_ERR_NOMEM. */
enum aw_err aw_buf_append(struct aw_buf *b, const void *data, size_t len);
enum aw_err aw_buf_puts(struct aw_buf *b, const char *s);
enum aw_err aw_buf_printf(struct aw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Remove the first \p n bytes. */
void aw_buf_consume(struct aw_buf *b, size_t n);

/**
 * @brief Take the storage: the caller frees the returned pointer (which may
 *        be NULL for an empty buffer); \p b is left empty.
 */
char *aw_buf_steal(struct aw_buf *b, size_t *len);

#endif
