/*
 * airwave-speechd - the decoding threads. See workers.h.
 */
#include "speechd/workers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airwave/log.h"

#define MOD "workers"

struct worker {
    struct aw_speechd_pool *pool;
    unsigned index;
    pthread_t thread;
    bool started;
    void *engine_worker;
    _Atomic unsigned sessions;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct aw_speechd_task *head, *tail;
    bool stop;
};

struct aw_speechd_pool {
    const struct aw_speechd_engine_ops *ops;
    void *engine;
    struct worker *w;
    unsigned n;

    /* Startup handshake: how many workers are ready or failed. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned ready;
    bool failed;
    char errstr[256];
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct aw_speechd_pool *pool = w->pool;
    char errstr[256] = "";
    enum aw_err err;

    err = pool->ops->worker_init(pool->engine, &w->engine_worker, errstr,
                                 sizeof(errstr));
    pthread_mutex_lock(&pool->lock);
    if (err) {
        pool->failed = true;
        aw_errstr_set(pool->errstr, sizeof(pool->errstr), "worker %u: %s",
                      w->index, errstr);
    }
    pool->ready++;
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
    if (err)
        return NULL;

    for (;;) {
        struct aw_speechd_task *task;

        pthread_mutex_lock(&w->lock);
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->cond, &w->lock);
        task = w->head;
        if (!task) { /* stopping and nothing left */
            pthread_mutex_unlock(&w->lock);
            break;
        }
        w->head = task->next;
        if (!w->head)
            w->tail = NULL;
        task->next = NULL;
        pthread_mutex_unlock(&w->lock);

        if (task->run(task, w->engine_worker))
            aw_speechd_pool_submit(pool, w->index, task);
    }
    pool->ops->worker_fini(w->engine_worker);
    w->engine_worker = NULL;
    return NULL;
}

struct aw_speechd_pool *
aw_speechd_pool_new(const struct aw_speechd_engine_ops *ops, void *engine,
                    unsigned nworkers, char *errstr, size_t errstr_size)
{
    struct aw_speechd_pool *pool;
    unsigned started = 0;

    if (!nworkers) {
        aw_errstr_set(errstr, errstr_size, "no worker threads");
        return NULL;
    }
    pool = calloc(1, sizeof(*pool));
    if (!pool)
        goto nomem;
    pool->ops = ops;
    pool->engine = engine;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pool->w = calloc(nworkers, sizeof(*pool->w));
    if (!pool->w)
        goto nomem;
    pool->n = nworkers;
    for (unsigned i = 0; i < nworkers; i++) {
        struct worker *w = &pool->w[i];

        w->pool = pool;
        w->index = i;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
    }
    for (unsigned i = 0; i < nworkers; i++) {
        if (pthread_create(&pool->w[i].thread, NULL, worker_main,
                           &pool->w[i])) {
            aw_errstr_set(errstr, errstr_size, "cannot start worker threads");
            goto fail;
        }
        pool->w[i].started = true;
        started++;
    }
    pthread_mutex_lock(&pool->lock);
    while (pool->ready < started)
        pthread_cond_wait(&pool->cond, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
    if (pool->failed) {
        aw_errstr_set(errstr, errstr_size, "%s", pool->errstr);
        goto fail;
    }
    return pool;

nomem:
    aw_errstr_set(errstr, errstr_size, "out of memory");
fail:
    aw_speechd_pool_destroy(pool);
    return NULL;
}

unsigned aw_speechd_pool_assign(struct aw_speechd_pool *pool)
{
    unsigned best = 0, best_n = atomic_load(&pool->w[0].sessions);

    for (unsigned i = 1; i < pool->n; i++) {
        unsigned n = atomic_load(&pool->w[i].sessions);

        if (n < best_n) {
            best = i;
            best_n = n;
        }
    }
    atomic_fetch_add(&pool->w[best].sessions, 1);
    return best;
}

void aw_speechd_pool_release(struct aw_speechd_pool *pool, unsigned worker)
{
    if (worker < pool->n)
        atomic_fetch_sub(&pool->w[worker].sessions, 1);
}

void aw_speechd_pool_submit(struct aw_speechd_pool *pool, unsigned worker,
                            struct aw_speechd_task *task)
{
    struct worker *w = &pool->w[worker < pool->n ? worker : 0];

    task->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = task;
    else
        w->head = task;
    w->tail = task;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void aw_speechd_pool_destroy(struct aw_speechd_pool *pool)
{
    if (!pool)
        return;
    for (unsigned i = 0; pool->w && i < pool->n; i++) {
        struct worker *w = &pool->w[i];

        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
    }
    for (unsigned i = 0; pool->w && i < pool->n; i++) {
        struct worker *w = &pool->w[i];

        if (w->started)
            pthread_join(w->thread, NULL);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
    }
    free(pool->w);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->cond);
    free(pool);
}
