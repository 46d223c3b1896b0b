/*
 * airwave-speechd - the decoding threads.
 *
 * A fixed pool of worker threads; each owns its engine worker state (for
 * PocketSphinx: its own copy of the LM and a pool of decoders, engine.h) and
 * a FIFO of runnable tasks. A task (a session with queued audio) is pinned
 * to one worker for its whole life, because its decoder belongs to that
 * worker's LM; sessions are spread over the workers, fewest first. A task
 * runs a bounded slice at a time and goes to the back of the queue if it
 * has more to do, so one busy session cannot starve the others of its
 * worker. The websocket thread never decodes.
 */
#ifndef AW_SPEECHD_WORKERS_H
#define AW_SPEECHD_WORKERS_H

#include <stdbool.h>
#include <stddef.h>

#include "airwave/err.h"
#include "speechd/engine.h"

struct aw_speechd_pool;

/** Something to run on a worker; embedded in its owner. */
struct aw_speechd_task {
    struct aw_speechd_task *next; /* the pool's queue */
    /**
     * Run one slice on worker thread with engine state \p engine_worker.
     * @returns true to be queued again (more to do), false when done; the
     *          pool does not touch the task after false.
     */
    bool (*run)(struct aw_speechd_task *task, void *engine_worker);
};

/**
 * @brief Start \p nworkers threads; each initialises its engine state
 *        (model loading happens here, off the websocket thread). Returns
 *        when all are ready.
 * @returns NULL with \p errstr set if a thread or its engine state failed.
 */
struct aw_speechd_pool *
aw_speechd_pool_new(const struct aw_speechd_engine_ops *ops, void *engine,
                    unsigned nworkers, char *errstr, size_t errstr_size);

/** Pick the worker with the fewest sessions and count one more on it.
 *  @locality any thread */
unsigned aw_speechd_pool_assign(struct aw_speechd_pool *pool);

/** A session pinned by aw_speechd_pool_assign() has ended. */
void aw_speechd_pool_release(struct aw_speechd_pool *pool, unsigned worker);

/** Queue \p task on \p worker. The caller makes sure a task is queued at
 *  most once at a time. @locality any thread */
void aw_speechd_pool_submit(struct aw_speechd_pool *pool, unsigned worker,
                            struct aw_speechd_task *task);

/** Let the workers finish every queued task, then join them and free the
 *  engine states. NULL-safe. */
void aw_speechd_pool_destroy(struct aw_speechd_pool *pool);

#endif
