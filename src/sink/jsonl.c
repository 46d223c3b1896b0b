/*
 * JSONL sink. Each line goes out in one writev(2) on a descriptor opened
 * with O_APPEND: no stdio buffer can hold half a line after an error (stdio
 * keeps unwritten bytes across clearerr() and would glue them to the next
 * line), and appends from several processes land whole. For stdout, stdio's
 * buffer is flushed first so that our line cannot overtake text that other
 * code printed before it.
 */
#include "sink/jsonl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "airwave/log.h"

struct aw_jsonl {
    int fd;
    bool is_stdout;
    bool failing;      /* the last write failed: already logged */
    bool partial_line; /* a failed write left part of a line in the file */
    pthread_mutex_t lock;
    _Atomic uint64_t lines;
    _Atomic uint64_t errors;
    char path[256]; /* for messages */
};

struct aw_jsonl *aw_jsonl_open(const char *path, char *errstr,
                               size_t errstr_size)
{
    struct aw_jsonl *j;

    if (!path || !*path) {
        aw_errstr_set(errstr, errstr_size, "no JSONL output path");
        return NULL;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    j->fd = -1;
    pthread_mutex_init(&j->lock, NULL);
    j->is_stdout = !strcmp(path, "-");
    aw_errstr_set(j->path, sizeof(j->path), "%s",
                  j->is_stdout ? "stdout" : path);
    if (j->is_stdout) {
        j->fd = STDOUT_FILENO;
    } else {
        j->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (j->fd < 0) {
            aw_errstr_set(errstr, errstr_size, "%s: %s", path, strerror(errno));
            goto fail;
        }
    }
    return j;

fail:
    aw_jsonl_destroy(j);
    return NULL;
}

/* Write all of iov, resuming after short writes and EINTR. @returns 0, or
 * -1 with errno set and *written the bytes that did reach the file. */
static int write_all(int fd, struct iovec *iov, int n, size_t *written)
{
    *written = 0;
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        *written += (size_t)w;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

enum aw_err aw_jsonl_write(struct aw_jsonl *j, const char *line, size_t len)
{
    struct iovec iov[3];
    size_t written = 0;
    int n = 0, rc, saved_errno;

    if (!j || (!line && len) || (len && memchr(line, '\n', len)))
        return AW_ERR_INVAL;

    pthread_mutex_lock(&j->lock);
    if (j->is_stdout && fflush(stdout) != 0)
        clearerr(stdout);
    /* After a torn write the file ends mid-line: start a fresh line so the
     * broken record costs one line, not two. */
    if (j->partial_line)
        iov[n++] = (struct iovec){.iov_base = "\n", .iov_len = 1};
    iov[n++] = (struct iovec){.iov_base = (void *)line, .iov_len = len};
    iov[n++] = (struct iovec){.iov_base = "\n", .iov_len = 1};
    rc = write_all(j->fd, iov, n, &written);
    saved_errno = errno;
    if (rc == 0) {
        j->partial_line = false;
        atomic_fetch_add(&j->lines, 1);
        if (j->failing) {
            j->failing = false;
            AW_WARN("sink", NULL, "%s: writing again after %llu failed lines",
                    j->path, (unsigned long long)atomic_load(&j->errors));
        }
    } else {
        if (written)
            j->partial_line = true;
        atomic_fetch_add(&j->errors, 1);
        /* A full disk fails every line: one line in the log, not one per
         * record. The counter has the number. */
        if (!j->failing) {
            j->failing = true;
            AW_ERROR("sink", NULL,
                     "%s: write failed: %s; later failures are counted, "
                     "not logged",
                     j->path, strerror(saved_errno));
        }
    }
    pthread_mutex_unlock(&j->lock);
    return rc == 0 ? AW_OK : AW_ERR_IO;
}

uint64_t aw_jsonl_lines(const struct aw_jsonl *j)
{
    return j ? atomic_load(&j->lines) : 0;
}

uint64_t aw_jsonl_errors(const struct aw_jsonl *j)
{
    return j ? atomic_load(&j->errors) : 0;
}

void aw_jsonl_destroy(struct aw_jsonl *j)
{
    if (!j)
        return;
    if (!j->is_stdout && j->fd >= 0 && close(j->fd) != 0)
        AW_WARN("sink", NULL, "%s: close failed: %s", j->path, strerror(errno));
    pthread_mutex_destroy(&j->lock);
    free(j);
}
