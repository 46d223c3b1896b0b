/*
 * airwave - the libwebsockets context and its service thread. See
 * transport.h for the threading rules.
 *
 * Wake-ups: lws_cancel_service() makes lws deliver
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED to every protocol of every vhost. The
 * transport keeps a vhost of its own ("aw-transport", not listening) whose
 * one protocol turns that callback into: run the queued calls, then every
 * registered wake handler. Modules therefore need no WAIT_CANCELLED code.
 *
 * The lws_context pointer is guarded by a mutex only for the benefit of
 * aw_transport_wake()/aw_transport_call() from other threads, which must not
 * reach lws_cancel_service() on a context being destroyed.
 */
#include "transport/transport.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "airwave/log.h"
#include "transport/transport_int.h"

#define MOD            "transport"
#define MAX_WAKE       8
#define DEFAULT_CALLS  256
#define DEFAULT_HEADER 16384

struct call {
    void (*fn)(void *opaque);
    void *opaque;
};

struct aw_transport {
    char *name;
    struct lws_context *ctx;
    struct lws_vhost *core_vh;

    pthread_mutex_t lock; /* ctx (for wake), calls, running */
    pthread_t thread;
    bool started;
    bool running;
    _Atomic bool stop;

    struct call *calls;
    size_t calls_cap, calls_head, calls_len;
    _Atomic uint64_t calls_dropped;

    struct {
        void (*fn)(void *opaque);
        void *opaque;
    } wake[MAX_WAKE];
    size_t nwake;
};

struct aw_transport_timer {
    lws_sorted_usec_list_t sul; /* first: the lws callback gets its address */
    struct aw_transport *t;
    void (*fn)(void *opaque);
    void *opaque;
};

/* ---- lws log bridge ----------------------------------------------------- */

static void lws_log_emit(int level, const char *line)
{
    char buf[1024];
    size_t n;
    enum aw_log_level lvl = AW_LOG_DEBUG;

    if (level & LLL_ERR)
        lvl = AW_LOG_ERROR;
    else if (level & LLL_WARN)
        lvl = AW_LOG_WARN;
    if ((int)lvl > aw_log_threshold)
        return;
    n = strlen(line);
    if (n >= sizeof(buf))
        n = sizeof(buf) - 1;
    memcpy(buf, line, n);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    aw_log(lvl, "lws", NULL, "lws", "%s", buf);
}

static void log_bridge_init(void)
{
    int levels = LLL_ERR | LLL_WARN;

    /* lws notices are chatty (one per vhost, per listen socket...): they
     * are debug lines here. */
    if (aw_log_threshold >= AW_LOG_DEBUG)
        levels |= LLL_NOTICE | LLL_INFO;
    lws_set_log_level(levels, lws_log_emit);
}

/* ---- the core protocol: wake-ups ---------------------------------------- */

static void run_calls(struct aw_transport *t)
{
    for (;;) {
        struct call c;

        pthread_mutex_lock(&t->lock);
        if (!t->calls_len) {
            pthread_mutex_unlock(&t->lock);
            return;
        }
        c = t->calls[t->calls_head];
        t->calls_head = (t->calls_head + 1) % t->calls_cap;
        t->calls_len--;
        pthread_mutex_unlock(&t->lock);
        c.fn(c.opaque);
    }
}

static int core_callback(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len)
{
    struct aw_transport *t;

    (void)user;
    (void)in;
    (void)len;
    if (reason != LWS_CALLBACK_EVENT_WAIT_CANCELLED)
        return 0;
    t = lws_get_vhost_user(lws_get_vhost(wsi));
    if (!t)
        return 0;
    run_calls(t);
    for (size_t i = 0; i < t->nwake; i++)
        t->wake[i].fn(t->wake[i].opaque);
    return 0;
}

static const struct lws_protocols core_protocols[] = {
    {"aw-transport", core_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- lifecycle ---------------------------------------------------------- */

struct aw_transport *aw_transport_new(const struct aw_transport_opts *opts,
                                      char *errstr, size_t errstr_size)
{
    struct lws_context_creation_info info;
    struct aw_transport_vhost_opts core = {0};
    struct aw_transport *t;

    log_bridge_init();
    t = calloc(1, sizeof(*t));
    if (!t) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    t->name = strdup(opts->name ? opts->name : "airwave");
    t->calls_cap = opts->max_calls ? opts->max_calls : DEFAULT_CALLS;
    t->calls = calloc(t->calls_cap, sizeof(*t->calls));
    if (!t->name || !t->calls) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        goto fail;
    }

    memset(&info, 0, sizeof(info));
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    if (opts->tls)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.max_http_header_data2 = opts->max_http_header_bytes
                                     ? opts->max_http_header_bytes
                                     : DEFAULT_HEADER;
    info.server_string = "airwave";
    info.user = t;
    t->ctx = lws_create_context(&info);
    if (!t->ctx) {
        aw_errstr_set(errstr, errstr_size,
                      "libwebsockets: cannot create the context");
        goto fail;
    }
    core.name = "aw-transport";
    core.port = CONTEXT_PORT_NO_LISTEN;
    core.protocols = core_protocols;
    core.user = t;
    t->core_vh = aw_transport_vhost_new(t, &core, errstr, errstr_size);
    if (!t->core_vh)
        goto fail;
    return t;

fail:
    aw_transport_destroy(t);
    return NULL;
}

struct lws_context *aw_transport_lws(struct aw_transport *t)
{
    return t->ctx;
}

struct lws_vhost *
aw_transport_vhost_new(struct aw_transport *t,
                       const struct aw_transport_vhost_opts *o, char *errstr,
                       size_t errstr_size)
{
    struct lws_context_creation_info info;
    struct lws_vhost *vh;

    if (!t->ctx) {
        aw_errstr_set(errstr, errstr_size, "transport stopped");
        return NULL;
    }
    memset(&info, 0, sizeof(info));
    info.vhost_name = o->name;
    info.port = o->port;
    info.iface = o->port == CONTEXT_PORT_NO_LISTEN ? NULL : o->host;
    info.protocols = o->protocols;
    info.user = o->user;
    info.options = o->options;
    if (o->port != CONTEXT_PORT_NO_LISTEN)
        info.options |= LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
    /* An IPv4 address cannot be bound on an IPv6 socket. */
    if (o->host && strchr(o->host, '.') && !strchr(o->host, ':'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    /* lws 4.1 decides per vhost whether it speaks TLS, from this option in
     * the vhost's own creation info (not only the context's). */
    if (o->tls_cert || o->tls_ca)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = o->tls_cert;
    info.ssl_private_key_filepath = o->tls_key;
    info.ssl_ca_filepath = o->tls_ca;
    vh = lws_create_vhost(t->ctx, &info);
    if (!vh) {
        aw_errstr_set(errstr, errstr_size,
                      "cannot create vhost %s on %s:%d (address in use, "
                      "unknown interface or bad TLS files?)",
                      o->name ? o->name : "", o->host ? o->host : "*", o->port);
        return NULL;
    }
    return vh;
}

enum aw_err aw_transport_on_wake(struct aw_transport *t,
                                 void (*fn)(void *opaque), void *opaque)
{
    if (t->started)
        return AW_ERR_INVAL;
    if (t->nwake == MAX_WAKE)
        return AW_ERR_TOO_LARGE;
    t->wake[t->nwake].fn = fn;
    t->wake[t->nwake].opaque = opaque;
    t->nwake++;
    return AW_OK;
}

static void *service_main(void *arg)
{
    struct aw_transport *t = arg;

    AW_DEBUG(MOD, t->name, "service thread running");
    while (!atomic_load(&t->stop))
        if (lws_service(t->ctx, 0) < 0)
            break;
    AW_DEBUG(MOD, t->name, "service thread done");
    return NULL;
}

enum aw_err aw_transport_start(struct aw_transport *t)
{
    if (t->started || !t->ctx)
        return AW_ERR_INVAL;
    t->started = true;
    pthread_mutex_lock(&t->lock);
    t->running = true;
    pthread_mutex_unlock(&t->lock);
    if (pthread_create(&t->thread, NULL, service_main, t)) {
        pthread_mutex_lock(&t->lock);
        t->running = false;
        pthread_mutex_unlock(&t->lock);
        t->started = false;
        return AW_ERR_NOMEM;
    }
    return AW_OK;
}

void aw_transport_stop(struct aw_transport *t)
{
    struct lws_context *ctx;

    if (!t)
        return;
    if (t->started) {
        atomic_store(&t->stop, true);
        pthread_mutex_lock(&t->lock);
        t->running = false;
        if (t->ctx)
            lws_cancel_service(t->ctx);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);
        t->started = false;
    }
    pthread_mutex_lock(&t->lock);
    ctx = t->ctx;
    t->ctx = NULL;
    t->calls_len = 0; /* queued calls will not run */
    pthread_mutex_unlock(&t->lock);
    /* Closes every connection: their callbacks run here, now. */
    if (ctx)
        lws_context_destroy(ctx);
    t->core_vh = NULL;
}

void aw_transport_destroy(struct aw_transport *t)
{
    if (!t)
        return;
    aw_transport_stop(t);
    pthread_mutex_destroy(&t->lock);
    free(t->calls);
    free(t->name);
    free(t);
}

void aw_transport_wake(struct aw_transport *t)
{
    pthread_mutex_lock(&t->lock);
    if (t->ctx && t->running)
        lws_cancel_service(t->ctx);
    pthread_mutex_unlock(&t->lock);
}

enum aw_err aw_transport_call(struct aw_transport *t, void (*fn)(void *opaque),
                              void *opaque)
{
    enum aw_err err = AW_OK;

    pthread_mutex_lock(&t->lock);
    if (!t->ctx || !t->running) {
        err = AW_ERR_STOPPED;
    } else if (t->calls_len == t->calls_cap) {
        atomic_fetch_add(&t->calls_dropped, 1);
        err = AW_ERR_TOO_LARGE;
    } else {
        size_t i = (t->calls_head + t->calls_len) % t->calls_cap;

        t->calls[i].fn = fn;
        t->calls[i].opaque = opaque;
        t->calls_len++;
        lws_cancel_service(t->ctx);
    }
    pthread_mutex_unlock(&t->lock);
    return err;
}

bool aw_transport_on_service_thread(const struct aw_transport *t)
{
    return !t->started || pthread_equal(pthread_self(), t->thread);
}

uint64_t aw_transport_calls_dropped(const struct aw_transport *t)
{
    return atomic_load(&((struct aw_transport *)t)->calls_dropped);
}

/* ---- timers ------------------------------------------------------------- */

static void timer_fired(lws_sorted_usec_list_t *sul)
{
    struct aw_transport_timer *tm = (struct aw_transport_timer *)sul;

    tm->fn(tm->opaque);
}

struct aw_transport_timer *aw_transport_timer_new(struct aw_transport *t,
                                                  void (*fn)(void *opaque),
                                                  void *opaque)
{
    struct aw_transport_timer *tm = calloc(1, sizeof(*tm));

    if (!tm)
        return NULL;
    tm->t = t;
    tm->fn = fn;
    tm->opaque = opaque;
    return tm;
}

void aw_transport_timer_schedule(struct aw_transport_timer *tm,
                                 uint64_t delay_ms)
{
    if (!tm->t->ctx)
        return;
    lws_sul_schedule(tm->t->ctx, 0, &tm->sul, timer_fired,
                     (lws_usec_t)delay_ms * LWS_US_PER_MS);
}

void aw_transport_timer_cancel(struct aw_transport_timer *tm)
{
    /* Once the context is gone so are the lists the timer was on. */
    if (tm && tm->t->ctx)
        lws_sul_cancel(&tm->sul);
}

void aw_transport_timer_destroy(struct aw_transport_timer *tm)
{
    if (!tm)
        return;
    aw_transport_timer_cancel(tm);
    free(tm);
}

void aw_transport_bound_sockbuf(struct lws *wsi, int optname, int bytes)
{
    lws_sockfd_type fd = lws_get_socket_fd(wsi);

    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, optname, &bytes, sizeof(bytes)) != 0)
        AW_DEBUG(MOD, NULL, "cannot bound the socket buffer: %s",
                 strerror(errno));
}
