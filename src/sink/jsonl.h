/*
 * JSONL sink: one record per line to stdout or a file (docs/sinks.md).
 *
 * Each line is written and flushed to the kernel before aw_jsonl_write()
 * returns, so a crash of the process loses nothing already written (a crash
 * of the machine can: there is no fsync per line). Files are opened in
 * append mode, so a restart continues the same file and several writers
 * never overwrite each other. A failed write is logged once when it starts
 * failing and once when it recovers; every failed line is counted.
 *
 * Thread-safe: lines from different threads never interleave.
 */
#ifndef AW_SINK_JSONL_H
#define AW_SINK_JSONL_H

#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"

struct aw_jsonl;

/**
 * @brief Open \p path for appending, or stdout for "-".
 * @returns the sink, or NULL with the reason in \p errstr.
 * @remark stdout is not closed by aw_jsonl_destroy().
 */
struct aw_jsonl *aw_jsonl_open(const char *path, char *errstr,
                               size_t errstr_size);

/**
 * @brief Write \p line (\p len bytes, no newline) and a newline, and flush.
 *
 * \p line must not contain a newline (the JSON encoders never write one).
 * @returns AW_OK; AW_ERR_INVAL for a NULL sink or a line containing a
 *          newline; AW_ERR_IO if the write or the flush failed (counted in
 *          aw_jsonl_errors(), logged on the first failure of a run).
 * @locality any thread
 * @locks the sink's mutex
 */
enum aw_err aw_jsonl_write(struct aw_jsonl *j, const char *line, size_t len);

/** @returns lines written successfully. @locality any thread */
uint64_t aw_jsonl_lines(const struct aw_jsonl *j);

/** @returns lines that could not be written. @locality any thread */
uint64_t aw_jsonl_errors(const struct aw_jsonl *j);

/** Flush and close (unless stdout) and free. NULL-safe. */
void aw_jsonl_destroy(struct aw_jsonl *j);

#endif
