/*
 * Unit tests of src/transport (transport.c, ws_server.c) on loopback, with
 * a minimal websocket client written here on plain sockets: refusing
 * upgrades with an HTTP status, reading headers and query parameters,
 * reassembling fragmented messages, the size limit (1009), closing with a
 * code and reason, sending from another thread, per-connection timers and
 * aw_transport_call().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>

#include "transport/transport.h"
#include "transport/ws_server.h"

#define MAX_MSG 4096

struct events {
    pthread_mutex_t lock;
    char header[128], auth[128], query[128];
    int missing;
    int opened, closed, timers;
    uint16_t close_code;
    char close_reason[128];
    bool call_on_service_thread;
    int calls;
};

static struct {
    struct aw_transport *t;
    struct aw_ws_server *srv;
    struct events ev;
} g;

/* ---- the server's side ------------------------------------------------- */

static int on_upgrade(void *opaque, const struct aw_ws_server_request *req,
                      void **conn_user, const char **body)
{
    struct events *ev = opaque;
    char buf[128];

    *conn_user = ev;
    if (!strcmp(aw_ws_server_request_path(req), "/deny")) {
        *body = "Nope.";
        return 401;
    }
    pthread_mutex_lock(&ev->lock);
    if (!aw_ws_server_request_header(req, "X-Custom-Thing", buf, sizeof(buf)))
        (void)snprintf(ev->header, sizeof(ev->header), "%s", buf);
    if (!aw_ws_server_request_header(req, "authorization", buf, sizeof(buf)))
        (void)snprintf(ev->auth, sizeof(ev->auth), "%s", buf);
    if (!aw_ws_server_request_query(req, "FOO", buf, sizeof(buf)))
        (void)snprintf(ev->query, sizeof(ev->query), "%s", buf);
    ev->missing = aw_ws_server_request_query(req, "absent", buf, sizeof(buf));
    pthread_mutex_unlock(&ev->lock);
    return 0;
}

static void on_open(void *opaque, struct aw_ws_server_conn *conn,
                    void *conn_user)
{
    struct events *ev = opaque;

    (void)conn_user;
    pthread_mutex_lock(&ev->lock);
    ev->opened++;
    pthread_mutex_unlock(&ev->lock);
    aw_ws_server_conn_timer(conn, 2, 50);
}

struct echo {
    struct aw_ws_server_conn *conn;
    uint8_t data[MAX_MSG];
    size_t len;
    bool binary;
};

/* Answer from another thread, as speechd's decoders do. */
static void *echo_thread(void *arg)
{
    struct echo *e = arg;

    aw_ws_server_conn_send(e->conn, e->data, e->len, e->binary);
    aw_ws_server_conn_unref(e->conn);
    free(e);
    return NULL;
}

static void on_message(void *opaque, struct aw_ws_server_conn *conn,
                       void *conn_user, const uint8_t *data, size_t len,
                       bool binary)
{
    struct echo *e;
    pthread_t th;

    (void)opaque;
    (void)conn_user;
    if (len == 8 && !memcmp(data, "close-me", 8)) {
        aw_ws_server_conn_close(conn, 4001, "bye");
        return;
    }
    e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_true(len <= sizeof(e->data));
    aw_ws_server_conn_ref(conn);
    e->conn = conn;
    memcpy(e->data, data, len);
    e->len = len;
    e->binary = binary;
    assert_int_equal(pthread_create(&th, NULL, echo_thread, e), 0);
    pthread_detach(th);
}

static void on_timer(void *opaque, struct aw_ws_server_conn *conn,
                     void *conn_user, unsigned id)
{
    struct events *ev = opaque;

    (void)conn_user;
    assert_int_equal(id, 2);
    pthread_mutex_lock(&ev->lock);
    ev->timers++;
    pthread_mutex_unlock(&ev->lock);
    aw_ws_server_conn_send(conn, "tick", 4, false);
}

static void on_close(void *opaque, struct aw_ws_server_conn *conn,
                     void *conn_user, uint16_t code, const char *reason)
{
    struct events *ev = opaque;

    (void)conn;
    (void)conn_user;
    pthread_mutex_lock(&ev->lock);
    ev->closed++;
    ev->close_code = code;
    (void)snprintf(ev->close_reason, sizeof(ev->close_reason), "%s", reason);
    pthread_mutex_unlock(&ev->lock);
}

/* A body far larger than a socket buffer, as /metrics is with hundreds of
 * streams: "0123456789" repeated, BIG_BODY bytes and a terminator. */
#define BIG_BODY (3 * 1024 * 1024)
static char big_body[BIG_BODY + 1];

static int on_http(void *opaque, const struct aw_ws_server_request *req,
                   const char **content_type, const char **body)
{
    (void)opaque;
    *content_type = "text/plain";
    if (strcmp(aw_ws_server_request_path(req), "/big") != 0) {
        *body = "Not found.";
        return 404;
    }
    if (!big_body[0])
        for (size_t i = 0; i < BIG_BODY; i++)
            big_body[i] = (char)('0' + i % 10);
    *body = big_body;
    return 200;
}

static const struct aw_ws_server_ops ops = {
    .on_upgrade = on_upgrade,
    .on_http = on_http,
    .on_open = on_open,
    .on_message = on_message,
    .on_timer = on_timer,
    .on_close = on_close,
};

static int group_setup(void **state)
{
    struct aw_transport_opts topts = {.name = "test"};
    struct aw_ws_server_opts wopts = {.name = "test",
                                      .host = "127.0.0.1",
                                      .port = 0,
                                      .max_message_bytes = MAX_MSG};
    char err[256];

    (void)state;
    pthread_mutex_init(&g.ev.lock, NULL);
    g.t = aw_transport_new(&topts, err, sizeof(err));
    if (!g.t)
        return -1;
    g.srv = aw_ws_server_new(g.t, &wopts, &ops, &g.ev, err, sizeof(err));
    if (!g.srv || aw_ws_server_port(g.srv) <= 0)
        return -1;
    return aw_transport_start(g.t) ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    aw_transport_stop(g.t);
    aw_ws_server_destroy(g.srv);
    aw_transport_destroy(g.t);
    pthread_mutex_destroy(&g.ev.lock);
    return 0;
}

/* ---- a tiny client ------------------------------------------------------ */

static int dial(void)
{
    struct sockaddr_in a = {0};
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)aw_ws_server_port(g.srv));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    assert_int_equal(send(fd, p, n, 0), (ssize_t)n);
}

static void recv_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;

    while (n) {
        ssize_t r = recv(fd, b, n, 0);

        assert_true(r > 0);
        b += r;
        n -= (size_t)r;
    }
}

/* Read an HTTP response head (and what follows in the same read). */
static void read_response(int fd, char *buf, size_t cap)
{
    size_t n = 0;

    while (n + 1 < cap) {
        ssize_t r = recv(fd, buf + n, 1, 0);

        assert_true(r == 1);
        n++;
        buf[n] = '\0';
        if (n >= 4 && !strcmp(buf + n - 4, "\r\n\r\n"))
            return;
    }
    fail();
}

static int upgrade(const char *target, const char *extra, char *resp,
                   size_t cap)
{
    char req[1024];
    int fd = dial();

    (void)snprintf(
        req, sizeof(req),
        "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s\r\n",
        target, extra ? extra : "");
    send_all(fd, req, strlen(req));
    read_response(fd, resp, cap);
    return fd;
}

/* One masked frame (clients must mask). */
static void send_frame(int fd, uint8_t first, const void *p, size_t n)
{
    static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    uint8_t *f = malloc(n + 14);
    size_t h = 0;

    assert_non_null(f);
    f[h++] = first;
    if (n < 126) {
        f[h++] = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        f[h++] = 0x80 | 126;
        f[h++] = (uint8_t)(n >> 8);
        f[h++] = (uint8_t)n;
    } else {
        f[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            f[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    memcpy(f + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < n; i++)
        f[h + i] = ((const uint8_t *)p)[i] ^ mask[i % 4];
    send_all(fd, f, h + n);
    free(f);
}

/* Read one unfragmented frame from the server. @returns the opcode. */
static int recv_frame(int fd, uint8_t *buf, size_t cap, size_t *len)
{
    uint8_t h[2], ext[8];
    size_t n;

    recv_all(fd, h, 2);
    assert_int_equal(h[1] & 0x80, 0); /* servers do not mask */
    n = h[1] & 0x7f;
    if (n == 126) {
        recv_all(fd, ext, 2);
        n = (size_t)ext[0] << 8 | ext[1];
    } else if (n == 127) {
        recv_all(fd, ext, 8);
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | ext[i];
    }
    assert_true(n <= cap);
    recv_all(fd, buf, n);
    *len = n;
    return h[0] & 0x0f;
}

static void wait_for(const int *counter, int value)
{
    for (int i = 0; i < 500; i++) {
        int v;

        pthread_mutex_lock(&g.ev.lock);
        v = *counter;
        pthread_mutex_unlock(&g.ev.lock);
        struct timespec nap = {0, 10 * 1000 * 1000};

        if (v >= value)
            return;
        nanosleep(&nap, NULL);
    }
    fail_msg("timed out waiting for an event");
}

static int open_ws(void)
{
    char resp[1024];
    int fd = upgrade("/echo", NULL, resp, sizeof(resp));

    assert_non_null(strstr(resp, " 101 "));
    return fd;
}

/* ---- tests -------------------------------------------------------------- */

static void test_transport_plain_http_is_404(void **state)
{
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    char resp[1024];
    int fd = dial();

    (void)state;
    send_all(fd, req, sizeof(req) - 1);
    read_response(fd, resp, sizeof(resp));
    assert_non_null(strstr(resp, " 404 "));
    close(fd);
}

static void test_transport_large_http_body_arrives_whole(void **state)
{
    static const char req[] = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
    static char body[BIG_BODY];
    char resp[1024];
    size_t got = 0;
    int fd = dial();

    (void)state;
    send_all(fd, req, sizeof(req) - 1);
    read_response(fd, resp, sizeof(resp));
    assert_non_null(strstr(resp, " 200 "));
    /* A slow reader: the server's socket fills, and the rest of the body
     * must wait in the server, not be cut off. */
    while (got < BIG_BODY) {
        struct timespec nap = {0, 2 * 1000 * 1000};
        size_t want = BIG_BODY - got < 65536 ? BIG_BODY - got : 65536;
        ssize_t r = recv(fd, body + got, want, 0);

        assert_true(r > 0);
        got += (size_t)r;
        nanosleep(&nap, NULL);
    }
    for (size_t i = 0; i < BIG_BODY; i++)
        if (body[i] != (char)('0' + i % 10))
            fail_msg("byte %zu differs", i);
    close(fd);
}

static void test_transport_upgrade_refused_with_status(void **state)
{
    char resp[1024], body[6] = {0};
    int fd;

    (void)state;
    fd = upgrade("/deny", NULL, resp, sizeof(resp));
    assert_non_null(strstr(resp, " 401 "));
    assert_non_null(strstr(resp, "content-length: 5"));
    recv_all(fd, body, 5);
    assert_string_equal(body, "Nope.");
    close(fd);
}

static void test_transport_upgrade_sees_headers_and_query(void **state)
{
    char resp[1024];
    int fd;

    (void)state;
    fd = upgrade("/echo?x=1&Foo=bar%20baz",
                 "X-Custom-Thing: Value 1\r\nAuthorization: Bearer tok\r\n",
                 resp, sizeof(resp));
    assert_non_null(strstr(resp, " 101 "));
    pthread_mutex_lock(&g.ev.lock);
    assert_string_equal(g.ev.header, "Value 1");
    assert_string_equal(g.ev.auth, "Bearer tok");
    assert_string_equal(g.ev.query, "bar baz");
    assert_int_equal(g.ev.missing, AW_ERR_NOT_FOUND);
    pthread_mutex_unlock(&g.ev.lock);
    close(fd);
}

static void test_transport_fragments_reassembled_and_echoed(void **state)
{
    uint8_t buf[MAX_MSG];
    size_t len;
    int fd = open_ws(), op;

    (void)state;
    /* The timer armed at open sends "tick" first. */
    op = recv_frame(fd, buf, sizeof(buf), &len);
    assert_int_equal(op, 1);
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "tick", 4);
    send_frame(fd, 0x01, "hello ", 6); /* text, not final */
    send_frame(fd, 0x80, "world", 5);  /* continuation, final */
    op = recv_frame(fd, buf, sizeof(buf), &len);
    assert_int_equal(op, 1);
    assert_int_equal(len, 11);
    assert_memory_equal(buf, "hello world", 11);
    memset(buf, 0xa5, 3000);
    send_frame(fd, 0x82, buf, 3000); /* binary, final */
    op = recv_frame(fd, buf, sizeof(buf), &len);
    assert_int_equal(op, 2);
    assert_int_equal(len, 3000);
    assert_int_equal(buf[2999], 0xa5);
    close(fd);
}

static void test_transport_oversized_message_closes_1009(void **state)
{
    uint8_t *big = calloc(1, MAX_MSG + 100), buf[256];
    size_t len;
    int fd = open_ws(), op;

    (void)state;
    assert_non_null(big);
    recv_frame(fd, buf, sizeof(buf), &len); /* tick */
    send_frame(fd, 0x82, big, MAX_MSG + 100);
    op = recv_frame(fd, buf, sizeof(buf), &len);
    assert_int_equal(op, 8);
    assert_true(len >= 2);
    assert_int_equal(buf[0] << 8 | buf[1], 1009);
    free(big);
    close(fd);
}

static void test_transport_close_with_code_and_reason(void **state)
{
    uint8_t buf[256];
    size_t len;
    int fd = open_ws(), op;

    (void)state;
    recv_frame(fd, buf, sizeof(buf), &len); /* tick */
    send_frame(fd, 0x81, "close-me", 8);
    op = recv_frame(fd, buf, sizeof(buf), &len);
    assert_int_equal(op, 8);
    assert_int_equal(len, 5);
    assert_int_equal(buf[0] << 8 | buf[1], 4001);
    assert_memory_equal(buf + 2, "bye", 3);
    close(fd);
}

static void test_transport_peer_close_reported(void **state)
{
    uint8_t buf[256] = {0x03, 0xe8, 'd', 'o', 'n', 'e'};
    size_t len;
    int fd = open_ws(), closed;

    (void)state;
    pthread_mutex_lock(&g.ev.lock);
    closed = g.ev.closed;
    pthread_mutex_unlock(&g.ev.lock);
    recv_frame(fd, buf + 16, sizeof(buf) - 16, &len); /* tick */
    send_frame(fd, 0x88, buf, 6);
    assert_int_equal(recv_frame(fd, buf + 16, sizeof(buf) - 16, &len), 8);
    wait_for(&g.ev.closed, closed + 1);
    pthread_mutex_lock(&g.ev.lock);
    assert_int_equal(g.ev.close_code, 1000);
    assert_string_equal(g.ev.close_reason, "done");
    pthread_mutex_unlock(&g.ev.lock);
    close(fd);
}

static void counted_call(void *opaque)
{
    struct events *ev = opaque;

    pthread_mutex_lock(&ev->lock);
    ev->calls++;
    ev->call_on_service_thread = aw_transport_on_service_thread(g.t);
    pthread_mutex_unlock(&ev->lock);
}

static void test_transport_call_runs_on_service_thread(void **state)
{
    (void)state;
    assert_false(aw_transport_on_service_thread(g.t));
    assert_int_equal(aw_transport_call(g.t, counted_call, &g.ev), AW_OK);
    wait_for(&g.ev.calls, 1);
    pthread_mutex_lock(&g.ev.lock);
    assert_true(g.ev.call_on_service_thread);
    pthread_mutex_unlock(&g.ev.lock);
    assert_int_equal(aw_transport_calls_dropped(g.t), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transport_plain_http_is_404),
        cmocka_unit_test(test_transport_large_http_body_arrives_whole),
        cmocka_unit_test(test_transport_upgrade_refused_with_status),
        cmocka_unit_test(test_transport_upgrade_sees_headers_and_query),
        cmocka_unit_test(test_transport_fragments_reassembled_and_echoed),
        cmocka_unit_test(test_transport_oversized_message_closes_1009),
        cmocka_unit_test(test_transport_close_with_code_and_reason),
        cmocka_unit_test(test_transport_peer_close_reported),
        cmocka_unit_test(test_transport_call_runs_on_service_thread),
    };

    return cmocka_run_group_tests_name("transport_ws_server", tests,
                                       group_setup, group_teardown);
}
