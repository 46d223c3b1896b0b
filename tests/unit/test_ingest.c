/*
 * Unit tests of src/ingest: files generated at test time (WAV written here,
 * MP3 by the ffmpeg CLI when present), a loopback HTTP server in a thread
 * of this process (127.0.0.1, port 0) that can answer with any status,
 * stay silent, stall, or stream with ICY metadata, and the pure helpers
 * (ICY title parser, URL redaction, backoff).
 *
 * Timing: no assertion depends on the machine being fast. Pacing is checked
 * by its lower bound (a paced run cannot finish early) against an unpaced
 * run of the same file; "within a second" bounds are generous.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "airwave/audio.h"
#include "airwave/clock.h"
#include "airwave/err.h"
#include "airwave/log.h"
#include "ingest/ingest.h"
#include "pipeline/ring.h"

static char tmpdir[256];

/* --- fixtures ----------------------------------------------------------- */

static void put_tag(uint8_t *p, const char *tag)
{
    for (size_t i = 0; tag[i]; i++)
        p[i] = (uint8_t)tag[i];
}

static void put_le(uint8_t *p, uint32_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A PCM WAV of a 440 Hz tone, in memory. @returns its size. With
 * \p streaming the sizes say "unknown", as a live encoder writes them. */
static size_t make_wav_ex(uint8_t **out, int rate, int channels, double seconds,
                          bool streaming)
{
    uint32_t frames = (uint32_t)(rate * seconds);
    uint32_t data = frames * (uint32_t)channels * 2;
    uint8_t *w = malloc(44 + (size_t)data);

    assert_non_null(w);
    put_tag(w, "RIFF");
    put_le(w + 4, 36 + data, 4);
    put_tag(w + 8, "WAVEfmt ");
    put_le(w + 16, 16, 4);
    put_le(w + 20, 1, 2);
    put_le(w + 22, (uint32_t)channels, 2);
    put_le(w + 24, (uint32_t)rate, 4);
    put_le(w + 28, (uint32_t)(rate * channels * 2), 4);
    put_le(w + 32, (uint32_t)(channels * 2), 2);
    put_le(w + 34, 16, 2);
    put_tag(w + 36, "data");
    put_le(w + 40, data, 4);
    if (streaming) {
        put_le(w + 4, 0xFFFFFFFFu, 4);
        put_le(w + 40, 0xFFFFFFFFu, 4);
    }
    for (uint32_t i = 0; i < frames; i++) {
        int16_t v =
            (int16_t)(10000 * sin(2 * 3.14159265358979 * 440 * i / rate));

        for (int c = 0; c < channels; c++)
            put_le(w + 44 + ((size_t)i * (size_t)channels + (size_t)c) * 2,
                   (uint16_t)v, 2);
    }
    *out = w;
    return 44 + (size_t)data;
}

static size_t make_wav(uint8_t **out, int rate, int channels, double seconds)
{
    return make_wav_ex(out, rate, channels, seconds, false);
}

/* What the loopback radio plays: 10 s of 16 kHz mono, of unknown length.
 * avformat_find_stream_info() reads about 5 s of a non-seekable WAV
 * (analyzeduration) before the first packet comes out, so the servers
 * below stall or hang up only after 7.5 s. */
#define RADIO_SECONDS 10.0
#define RADIO_SAMPLES 160000

static size_t make_radio(uint8_t **out)
{
    return make_wav_ex(out, 16000, 1, RADIO_SECONDS, true);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void tmp_path(char *buf, size_t size, const char *name)
{
    assert_true(snprintf(buf, size, "%s/%s", tmpdir, name) < (int)size);
}

static void make_wav_file(const char *path, int rate, int channels,
                          double seconds)
{
    uint8_t *w;
    size_t n = make_wav(&w, rate, channels, seconds);

    write_file(path, w, n);
    free(w);
}

/* Run a command without a shell. @returns its exit status, -1 if it could
 * not run. */
static int run(char *const argv[])
{
    pid_t pid = fork();
    int status;

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);

        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static uint8_t *read_all(const char *path, size_t *len);

static double now_s(void)
{
    return (double)aw_clock_mono_us() / 1e6;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* --- ring consumer helpers ------------------------------------------- */

struct marks {
    struct aw_ring_mark m[64];
    size_t n;
};

static void pop_marks(struct aw_ring *r, struct marks *mk)
{
    struct aw_ring_mark m;

    while (aw_ring_pop_mark(r, &m))
        if (mk->n < AW_ARRAY_SIZE(mk->m))
            mk->m[mk->n++] = m;
}

/* Discard everything readable. @returns the samples consumed. */
static uint64_t consume(struct aw_ring *r)
{
    uint64_t head = aw_ring_head(r), tail = aw_ring_tail(r);

    aw_ring_release(r, head);
    return head - tail;
}

static size_t count_marks(const struct marks *mk, enum aw_ring_mark_type t)
{
    size_t n = 0;

    for (size_t i = 0; i < mk->n; i++)
        n += mk->m[i].type == t;
    return n;
}

static struct aw_ingest *start_ingest(const struct aw_ingest_opts *opts,
                                      struct aw_ring *ring)
{
    char errstr[256] = "";
    struct aw_ingest *in = aw_ingest_new(opts, ring, errstr, sizeof(errstr));

    if (!in)
        fail_msg("aw_ingest_new: %s", errstr);
    assert_int_equal(aw_ingest_start(in), AW_OK);
    return in;
}

/* Wait for the thread to end by itself, with a generous bound. */
static void wait_done(struct aw_ingest *in, double max_s)
{
    double until = now_s() + max_s;

    while (!aw_ingest_done(in) && now_s() < until)
        sleep_ms(5);
    assert_true(aw_ingest_done(in));
    aw_ingest_join(in);
}

/* --- a loopback HTTP server ------------------------------------------- */

struct plan {
    int status;          /* 0: accept and say nothing */
    const uint8_t *body; /* for 200 */
    size_t len;
    bool content_length; /* send Content-Length (a file, not a stream) */
    int metaint;         /* ICY: metadata every metaint bytes, if asked */
    size_t stall_after;  /* stop sending after this many body bytes and
                            hold the connection; 0: never */
    int block_delay_ms;  /* between metaint blocks */
};

struct http_srv {
    int lfd;
    int port;
    pthread_t th;
    atomic_bool quit;
    atomic_int conns;
    struct plan plans[4];
    int nplans;
};

static int send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Wait until the client hangs up or the server quits. */
static void hold(struct http_srv *s, int fd)
{
    char buf[512];

    while (!atomic_load(&s->quit)) {
        struct pollfd p = {fd, POLLIN, 0};

        if (poll(&p, 1, 20) > 0 && recv(fd, buf, sizeof(buf), 0) <= 0)
            return;
    }
}

static const char *reason(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 429:
        return "Too Many Requests";
    case 503:
        return "Service Unavailable";
    default:
        return status >= 500 ? "Internal Server Error" : "Error";
    }
}

static void serve(struct http_srv *s, int fd, const struct plan *pl)
{
    char req[4096] = "", hdr[512];
    size_t got = 0, sent = 0;
    bool want_meta;
    int song = 0;

    if (!pl->status) {
        hold(s, fd);
        return;
    }
    /* Read the request head. */
    while (got < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n;

        if (poll(&p, 1, 2000) <= 0)
            return;
        n = recv(fd, req + got, sizeof(req) - 1 - got, 0);
        if (n <= 0)
            return;
        got += (size_t)n;
        req[got] = '\0';
    }
    want_meta = pl->metaint > 0 && strstr(req, "Icy-MetaData: 1") != NULL;
    if (pl->status != 200) {
        (void)snprintf(hdr, sizeof(hdr),
                       "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n"
                       "Connection: close\r\n\r\n",
                       pl->status, reason(pl->status));
        (void)send_all(fd, hdr, strlen(hdr));
        return;
    }
    {
        int n = snprintf(hdr, sizeof(hdr),
                         "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\n"
                         "Connection: close\r\n");

        if (pl->content_length)
            n += snprintf(hdr + n, sizeof(hdr) - (size_t)n,
                          "Content-Length: %zu\r\n", pl->len);
        if (want_meta)
            n += snprintf(hdr + n, sizeof(hdr) - (size_t)n,
                          "icy-name: Test FM\r\nicy-metaint: %d\r\n",
                          pl->metaint);
        (void)snprintf(hdr + n, sizeof(hdr) - (size_t)n, "\r\n");
    }
    if (send_all(fd, hdr, strlen(hdr)))
        return;
    while (sent < pl->len && !atomic_load(&s->quit)) {
        size_t block = want_meta ? (size_t)pl->metaint : 4096;

        if (block > pl->len - sent)
            block = pl->len - sent;
        if (pl->stall_after && sent + block > pl->stall_after)
            block = pl->stall_after - sent;
        if (send_all(fd, pl->body + sent, block))
            return;
        sent += block;
        if (pl->stall_after && sent >= pl->stall_after) {
            hold(s, fd);
            return;
        }
        if (want_meta && block == (size_t)pl->metaint) {
            char meta[1 + 16 * 4];
            int len = snprintf(meta + 1, sizeof(meta) - 1,
                               "StreamTitle='Song %d';", song++);
            int blocks = (len + 15) / 16;

            memset(meta + 1 + len, 0, (size_t)(blocks * 16 - len));
            meta[0] = (char)blocks;
            if (send_all(fd, meta, 1 + (size_t)blocks * 16))
                return;
        }
        if (pl->block_delay_ms)
            sleep_ms(pl->block_delay_ms);
    }
}

static void *srv_main(void *arg)
{
    struct http_srv *s = arg;

    while (!atomic_load(&s->quit)) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        int fd, i;

        if (poll(&p, 1, 20) <= 0)
            continue;
        fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        i = atomic_fetch_add(&s->conns, 1);
        serve(s, fd, &s->plans[i < s->nplans ? i : s->nplans - 1]);
        close(fd);
    }
    return NULL;
}

static void srv_start(struct http_srv *s)
{
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof(a);
    int one = 1;

    atomic_init(&s->quit, false);
    atomic_init(&s->conns, 0);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_stop(struct http_srv *s)
{
    atomic_store(&s->quit, true);
    pthread_join(s->th, NULL);
    close(s->lfd);
}

static void srv_url(const struct http_srv *s, const char *path, char *buf,
                    size_t size)
{
    assert_true(snprintf(buf, size, "http://127.0.0.1:%d%s", s->port, path) <
                (int)size);
}

/* --- pure helpers ----------------------------------------------------- */

static void test_ingest_icy_title_parser(void **state)
{
    static const struct {
        const char *meta;
        enum aw_err err;
        const char *title;
    } cases[] = {
        {"StreamTitle='Song 1';", AW_OK, "Song 1"},
        {"StreamTitle='It's 5 o'clock; news';StreamUrl='http://x/';", AW_OK,
         "It's 5 o'clock; news"},
        {"StreamTitle='A';B';StreamUrl='';", AW_OK, "A';B"},
        {"StreamTitle='Rock'n'Roll';", AW_OK, "Rock'n'Roll"},
        {"StreamUrl='http://x/';StreamTitle='Second';", AW_OK, "Second"},
        {"StreamTitle='';", AW_OK, ""},
        {"StreamTitle='no end", AW_OK, "no end"},
        {"StreamTitle='no semicolon'", AW_OK, "no semicolon"},
        {"StreamTitle=bare words;StreamUrl='';", AW_OK, "bare words"},
        {"streamtitle='case';", AW_OK, "case"},
        {"StreamTitle='  padded  ';", AW_OK, "padded"},
        {"StreamTitle='tab\there';", AW_OK, "tab here"},
        {"StreamTitle=\"double\";", AW_OK, "double"},
        {"StreamTitle='x';   ", AW_OK, "x"},
        {"StreamUrl='StreamTitle=fake';", AW_ERR_NOT_FOUND, ""},
        {"", AW_ERR_NOT_FOUND, ""},
        {"garbage", AW_ERR_NOT_FOUND, ""},
        /* Latin-1 from an old server becomes UTF-8. */
        {"StreamTitle='Caf\xe9';", AW_OK, "Caf\xc3\xa9"},
        /* Valid UTF-8 is kept. */
        {"StreamTitle='\xc3\x89t\xc3\xa9';", AW_OK, "\xc3\x89t\xc3\xa9"},
    };
    char title[AW_RING_MARK_TEXT], small[6];

    (void)state;
    for (size_t i = 0; i < AW_ARRAY_SIZE(cases); i++) {
        enum aw_err err = aw_ingest_icy_title(
            cases[i].meta, strlen(cases[i].meta), title, sizeof(title));

        if (err != cases[i].err || strcmp(title, cases[i].title) != 0)
            fail_msg("case %zu <%s>: got %s <%s>", i, cases[i].meta,
                     aw_err_name(err), title);
    }
    /* NUL padding ends the block, as in a real metadata packet. */
    assert_int_equal(aw_ingest_icy_title("StreamTitle='a';\0\0\0junk", 24,
                                         title, sizeof(title)),
                     AW_OK);
    assert_string_equal(title, "a");
    /* Truncation keeps whole UTF-8 characters. */
    assert_int_equal(
        aw_ingest_icy_title("StreamTitle='abc\xc3\xa9';", 19, small, 5), AW_OK);
    assert_string_equal(small, "abc");
    assert_int_equal(aw_ingest_icy_title("StreamTitle='a';", 16, title, 0),
                     AW_ERR_INVAL);
}

static void test_ingest_redact_url_drops_secrets(void **state)
{
    static const char *const cases[][2] = {
        {"http://user:pass@radio.example/live.mp3?token=abc#x",
         "http://radio.example/live.mp3"},
        {"rtsp://admin:p@ss@10.0.0.1:554/stream1",
         "rtsp://10.0.0.1:554/stream1"},
        {"https://cdn.example/hls/index.m3u8?sig=secret",
         "https://cdn.example/hls/index.m3u8"},
        {"udp://239.0.0.1:1234?fifo_size=100", "udp://239.0.0.1:1234"},
        {"/srv/audio/news.mp3", "/srv/audio/news.mp3"},
        {"file:/srv/a.wav", "file:/srv/a.wav"},
        {"http://host", "http://host"},
    };
    char out[256], tiny[8];

    (void)state;
    for (size_t i = 0; i < AW_ARRAY_SIZE(cases); i++)
        assert_string_equal(aw_ingest_redact_url(cases[i][0], out, sizeof(out)),
                            cases[i][1]);
    assert_string_equal(
        aw_ingest_redact_url("http://u:p@abcdefgh/", tiny, sizeof(tiny)),
        "http://");
    assert_string_equal(aw_ingest_redact_url(NULL, out, sizeof(out)), "");
}

/* --- files -------------------------------------------------------------- */

static void test_ingest_file_produces_all_samples_with_marks(void **state)
{
    struct aw_ingest_opts opts;
    struct aw_ingest_stats st;
    struct aw_ring ring;
    struct marks mk = {0};
    struct aw_ingest *in;
    char path[512], msg[256];
    int64_t t0 = aw_clock_wall_ms();
    enum aw_err err;
    uint64_t n;

    (void)state;
    tmp_path(path, sizeof(path), "tone.wav");
    make_wav_file(path, 44100, 2, 1.5);
    assert_int_equal(aw_ring_init(&ring, AW_AUDIO_RATE_HZ * 4, 64), AW_OK);
    aw_ingest_opts_init(&opts);
    opts.stream_id = "test";
    opts.url = path;
    opts.pace = 0;
    in = start_ingest(&opts, &ring);
    wait_done(in, 30);

    n = aw_ring_head(&ring);
    /* 1.5 s at 16 kHz; the resampler is flushed, so nothing is missing. */
    assert_in_range(n, 24000 - 1, 24000 + 1);
    pop_marks(&ring, &mk);
    assert_true(mk.n >= 2);
    assert_int_equal(mk.m[0].type, AW_RING_MARK_SESSION);
    assert_int_equal(mk.m[0].pos, 0);
    assert_string_equal(mk.m[0].text, path);
    assert_in_range(mk.m[0].wall_ms, t0 - 1000, aw_clock_wall_ms());
    assert_int_equal(mk.m[mk.n - 1].type, AW_RING_MARK_END);
    assert_int_equal(mk.m[mk.n - 1].err, AW_ERR_EOF);
    assert_int_equal(mk.m[mk.n - 1].pos, n);
    assert_int_equal(count_marks(&mk, AW_RING_MARK_GAP), 0);

    aw_ingest_stats(in, &st);
    assert_int_equal(st.state, AW_INGEST_ENDED);
    assert_false(st.live);
    assert_int_equal(st.samples, n);
    assert_int_equal(st.sessions, 1);
    assert_int_equal(st.dropped_samples, 0);
    assert_int_equal(st.decode_errors, 0);
    assert_true(st.packets > 0);
    assert_in_range(st.duration_ms, 1450, 1550);
    aw_ingest_error(in, &err, msg, sizeof(msg));
    assert_int_equal(err, AW_ERR_EOF);
    assert_string_equal(msg, "end of file");
    aw_ingest_destroy(in);
    aw_ring_fini(&ring);
}

static void test_ingest_mp3_file_matches_its_duration(void **state)
{
    char path[512];
    char *const argv[] = {"ffmpeg",
                          "-nostdin",
                          "-y",
                          "-f",
                          "lavfi",
                          "-i",
                          "sine=frequency=440:duration=2:sample_rate=44100",
                          "-ac",
                          "2",
                          "-c:a",
                          "libmp3lame",
                          "-b:a",
                          "64k",
                          path,
                          NULL};
    struct aw_ingest_probe_info info;
    struct aw_ingest_opts opts;
    struct aw_ring ring;
    struct marks mk = {0};
    struct aw_ingest *in;
    char errstr[256];
    uint64_t n;

    (void)state;
    tmp_path(path, sizeof(path), "tone.mp3");
    if (run(argv) != 0)
        skip(); /* no ffmpeg CLI with libmp3lame on this machine */
    aw_ingest_opts_init(&opts);
    opts.url = path;
    opts.pace = 0;
    assert_int_equal(aw_ingest_probe(&opts, &info, errstr, sizeof(errstr)),
                     AW_OK);
    assert_string_equal(info.format, "mp3");
    assert_int_equal(info.rate_hz, 44100);
    assert_int_equal(info.channels, 2);
    assert_false(info.live);

    assert_int_equal(aw_ring_init(&ring, AW_AUDIO_RATE_HZ * 4, 64), AW_OK);
    in = start_ingest(&opts, &ring);
    wait_done(in, 30);
    n = aw_ring_head(&ring);
    /* 2 s, within one MP3 frame (1152 samples at 44.1 kHz = 418 here):
     * the encoder delay and padding are trimmed by the LAME header. */
    assert_in_range(n, 32000 - 418, 32000 + 418);
    pop_marks(&ring, &mk);
    assert_int_equal(mk.m[0].type, AW_RING_MARK_SESSION);
    assert_int_equal(mk.m[mk.n - 1].type, AW_RING_MARK_END);
    assert_int_equal(mk.m[mk.n - 1].err, AW_ERR_EOF);
    aw_ingest_destroy(in);
    aw_ring_fini(&ring);
}

static void test_ingest_picks_audio_track_by_language_or_index(void **state)
{
    char path[512];
    /* A TV-like file: a video stream, then English and French audio. */
    char *const argv[] = {"ffmpeg",
                          "-nostdin",
                          "-y",
                          "-f",
                          "lavfi",
                          "-i",
                          "color=size=64x48:rate=5:duration=1",
                          "-f",
                          "lavfi",
                          "-i",
                          "sine=frequency=440:duration=1:sample_rate=48000",
                          "-f",
                          "lavfi",
                          "-i",
                          "sine=frequency=880:duration=1:sample_rate=32000",
                          "-map",
                          "0",
                          "-map",
                          "1",
                          "-map",
                          "2",
                          "-c:v",
                          "mpeg2video",
                          "-c:a",
                          "mp2",
                          "-metadata:s:a:0",
                          "language=eng",
                          "-metadata:s:a:1",
                          "language=fre",
                          "-f",
                          "mpegts",
                          path,
                          NULL};
    struct aw_ingest_probe_info info;
    struct aw_ingest_opts opts;
    char errstr[256];

    (void)state;
    tmp_path(path, sizeof(path), "tv.ts");
    if (run(argv) != 0)
        skip(); /* no ffmpeg CLI */
    aw_ingest_opts_init(&opts);
    opts.url = path;

    opts.audio_language = "FRE"; /* case-blind */
    assert_int_equal(aw_ingest_probe(&opts, &info, errstr, sizeof(errstr)),
                     AW_OK);
    assert_string_equal(info.language, "fre");
    assert_int_equal(info.rate_hz, 32000);
    assert_int_equal(info.nb_streams, 3);

    opts.audio_language = "ara";
    assert_int_equal(aw_ingest_probe(&opts, &info, errstr, sizeof(errstr)),
                     AW_ERR_NOT_FOUND);
    assert_non_null(strstr(errstr, "no audio track in language ara"));
    assert_non_null(strstr(errstr, "(found: eng, fre)"));

    opts.audio_language = NULL;
    opts.audio_track = 1;
    assert_int_equal(aw_ingest_probe(&opts, &info, errstr, sizeof(errstr)),
                     AW_OK);
    assert_string_equal(info.language, "eng");
    assert_int_equal(info.stream_index, 1);
    opts.audio_track = 0; /* the video */
    assert_int_equal(aw_ingest_probe(&opts, &info, errstr, sizeof(errstr)),
                     AW_ERR_NOT_FOUND);
    assert_non_null(strstr(errstr, "no audio stream #0"));
}

static void test_ingest_hls_vod_is_a_file(void **state)
{
    char dir[512], path[600];
    char *const argv[] = {"ffmpeg",
                          "-nostdin",
                          "-y",
                          "-f",
                          "lavfi",
                          "-i",
                          "sine=frequency=440:duration=3:sample_rate=44100",
                          "-c:a",
                          "aac",
                          "-f",
                          "hls",
                          "-hls_time",
                          "1",
                          "-hls_playlist_type",
                          "vod",
                          path,
                          NULL};
    struct aw_ingest_opts opts;
    struct aw_ingest_stats st;
    struct aw_ring ring;
    struct marks mk = {0};
    struct aw_ingest *in;

    (void)state;
    tmp_path(dir, sizeof(dir), "hls");
    assert_int_equal(mkdir(dir, 0700), 0);
    (void)snprintf(path, sizeof(path), "%s/index.m3u8", dir);
    if (run(argv) != 0)
        skip();
    assert_int_equal(aw_ring_init(&ring, AW_AUDIO_RATE_HZ * 8, 64), AW_OK);
    aw_ingest_opts_init(&opts);
    opts.url = path;
    opts.pace = 0;
    in = start_ingest(&opts, &ring);
    wait_done(in, 30);
    aw_ingest_stats(in, &st);
    /* A VOD playlist has a duration: read as a file, to the end. */
    assert_false(st.live);
    assert_in_range(st.duration_ms, 2900, 3200);
    /* AAC priming adds up to one frame per segment boundary at most. */
    assert_in_range(aw_ring_head(&ring), 48000 - 400, 48000 + 1200);
    pop_marks(&ring, &mk);
    assert_int_equal(mk.m[mk.n - 1].err, AW_ERR_EOF);
    aw_ingest_destroy(in);
    aw_ring_fini(&ring);
}

static void test_ingest_sample_recording_decodes_completely(void **state)
{
    const char *root = getenv("AW_SOURCE_DIR");
    struct aw_ingest_probe_info info;
    struct aw_ingest_opts opts;
    struct aw_ring ring;
    struct aw_ingest *in;
    char path[1024], errstr[256];
    uint64_t total = 0, want;
    double until;

    (void)state;
    if (!root)
        skip();
    (void)snprintf(path, sizeof(path), "%s/samples/long-news.mp3", root);
    if (access(path, R_OK) != 0)
        skip(); /* samples/ not generated on this machine */
    aw_ingest_opts_init(&opts);
    opts.url = path;
    opts.pace = 0;
    assert_int_equal(aw_ingest_probe(&opts, &info, errstr, sizeof(errstr)),
                     AW_OK);
    assert_true(info.duration_ms > 0);
    want = (uint64_t)info.duration_ms * AW_AUDIO_SAMPLES_PER_MS;

    /* A one-second ring and a consumer: the file waits, loses nothing. */
    assert_int_equal(aw_ring_init(&ring, AW_AUDIO_RATE_HZ, 64), AW_OK);
    in = start_ingest(&opts, &ring);
    until = now_s() + 60;
    while (!aw_ingest_done(in) && now_s() < until) {
        total += consume(&ring);
        sleep_ms(1);
    }
    aw_ingest_join(in);
    total += consume(&ring);
    /* Within one MPEG audio frame (1152 samples at up to 48 kHz), or 1 %
     * where libavformat estimates the duration from the bit rate. */
    {
        uint64_t tol = want / 100 > 400 ? want / 100 : 400;

        assert_in_range(total, want - tol, want + tol);
    }
    assert_int_equal(aw_ring_drops(&ring), 0);
    aw_ingest_destroy(in);
    aw_ring_fini(&ring);
}

/* Ingest a file unpaced into a big ring. @returns the samples produced. */
static uint64_t ingest_count(const char *path)
{
    struct aw_ingest_opts opts;
    struct aw_ring ring;
    struct aw_ingest *in;
    uint64_t n;

    assert_int_equal(aw_ring_init(&ring, AW_AUDIO_RATE_HZ * 8, 64), AW_OK);
    aw_ingest_opts_init(&opts);
    opts.url = path;
    opts.pace = 0;
    in = start_ingest(&opts, &ring);
    wait_done(in, 30);
    n = aw_ring_head(&ring);
    assert_int_equal(aw_ring_drops(&ring), 0);
    aw_ingest_destroy(in);
    aw_ring_fini(&ring);
    return n;
}

static void test_ingest_format_change_mid_stream_keeps_audio(void **state)
{
    char a[512], b[512], both[512];
    char *const enc_a[] = {"ffmpeg",
                           "-nostdin",
                           "-y",
                           "-f",
                           "lavfi",
                           "-i",
                           "sine=frequency=440:duration=1:sample_rate=44100",
                           "-ac",
                           "2",
                           "-c:a",
                           "libmp3lame",
                           "-b:a",
                           "64k",
                           "-write_xing",
                           "0",
                           "-id3v2_version",
                           "0",
                           a,
                           NULL};
    char *const enc_b[] = {"ffmpeg",
                           "-nostdin",
                           "-y",
                           "-f",
                           "lavfi",
                           "-i",
                           "sine=frequency=660:duration=1:sample_rate=22050",
                           "-ac",
                           "1",
                           "-c:a",
                           "libmp3lame",
                           "-b:a",
                           "32k",
                           "-write_xing",
                           "0",
                           "-id3v2_version",
                           "0",
                           b,
                           NULL};
    uint64_t na, nb, n;
    uint8_t *da, *db;
    size_t la = 0, lb = 0;
    FILE *f;

    (void)state;
    tmp_path(a, sizeof(a), "a44.mp3");
    tmp_path(b, sizeof(b), "b22.mp3");
    tmp_path(both, sizeof(both), "switch.mp3");
    if (run(enc_a) != 0 || run(enc_b) != 0)
        skip(); /* no ffmpeg CLI with libmp3lame */
    /* An MP3 stream whose encoder changes from 44.1 kHz stereo to
     * 22.05 kHz mono, as a station switching encoders does: the decoder's
     * frames change format and the resampler is rebuilt in between. */
    da = read_all(a, &la);
    db = read_all(b, &lb);
    assert_non_null(da);
    assert_non_null(db);
    f = fopen(both, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(da, 1, la, f), la);
    assert_int_equal(fwrite(db, 1, lb, f), lb);
    assert_int_equal(fclose(f), 0);
    free(da);
    free(db);

    /* Nothing is lost or invented at the seam: the whole decodes to what
     * the two parts decode to alone, give or take the resampler's rounding
     * at the switch. (FFmpeg 5.1's MP3 decoder stamps the first frame after
     * a rate change with the old rate; decode.c corrects it, without which
     * this is 209 samples off.) */
    na = ingest_count(a);
    nb = ingest_count(b);
    n = ingest_count(both);
    assert_true(na > 16000 && nb > 16000);
    assert_in_range(n, na + nb - 2, na + nb + 2);
}

static double timed_run(const char *path, double pace)
{
    struct aw_ingest_opts opts;
    struct aw_ring ring;
    struct aw_ingest *in;
    double t;

    aw_ingest_opts_init(&opts);
    opts.url = path;
    opts.pace = pace;
    assert_int_equal(aw_ring_init(&ring, AW_AUDIO_RATE_HZ * 4, 64), AW_OK);
    t = now_s();
    in = start_ingest(&opts, &ring);
    wait_done(in, 30);
    t = now_s() - t;
    assert_in_range(aw_ring_head(&ring), 31999, 32001);
    aw_ingest_destroy(in);
    aw_ring_fini(&ring);
    return t;
}

static void test_ingest_pacing_holds_file_to_twice_real_time(void **state)
{
    char path[512];
    double unpaced, paced;

    (void)state;
    tmp_path(path, sizeof(path), "two_seconds.wav");
    make_wav_file(path, 16000, 1, 2.0);
    unpaced = timed_run(path, 0);
    paced = timed_run(path, 2.0);
    /* Paced at 2x, 2 s of audio cannot be delivered in less than 1 s less
     * the last packet (a WAV packet is up to 0.128 s of audio here);
     * unpaced is far quicker. Only the lower bound of the paced run is
     * asserted: a slow machine cannot break it. */
    assert_true(paced >= 0.9);
    assert_true(unpaced < paced / 2);
}

static void test_ingest_missing_file_is_not_found(void **state)
{
    struct aw_ingest_probe_info info;
    struct aw_ingest_opts opts;
    struct aw_ingest_stats st;
    struct aw_ring ring;
    struct marks mk = {0};
    struct aw_ingest *in;
    char path[512], want[600], msg[256];
    enum aw_err err;

    (void)state;
    tmp_path(path, sizeof(path), "no-such-file.mp3");
    (void)snprintf(want, sizeof(want), "No such file: %s", path);
    aw_ingest_opts_init(&opts);
    opts.url = path;
    assert_int_equal(aw_ingest_probe(&opts, &info, msg, sizeof(msg)),
                     AW_ERR_NOT_FOUND);
    assert_string_equal(msg, want);

    assert_int_equal(aw_ring_init(&ring, 4096, 16), AW_OK);
    in = start_ingest(&opts, &ring);
    wait_done(in, 10);
    aw_ingest_error(in, &err, msg, sizeof(msg));
    assert_int_equal(err, AW_ERR_NOT_FOUND);
    assert_string_equal(msg, want);
    aw_ingest_stats(in, &st);
    assert_int_equal(st.state, AW_INGEST_FAILED);
    assert_int_equal(st.reconnects, 0); /* a file is not retried */
    /* No session, but the ring still learns why the source ended. */
    pop_marks(&ring, &mk);
    assert_int_equal(mk.n, 1);
    assert_int_equal(mk.m[0].type, AW_RING_MARK_END);
    assert_int_equal(mk.m[0].err, AW_ERR_NOT_FOUND);
    assert_string_equal(mk.m[0].text, want);
    aw_ingest_destroy(in);
    aw_ring_fini(&ring);
}

static void test_ingest_not_audio_is_unsupported(void **state)
{
    static const char text[] = "This is a text file, not audio.\n"
                               "Nothing here decodes to sound.\n";
    struct aw_ingest_probe_info info;
    struct aw_ingest_opts opts;
    char path[512], want[600], msg[256];
    uint8_t junk[4096];

    (void)state;
    aw_ingest_opts_init(&opts);
    opts.url = path;

    /* A picture: FFmpeg opens it (one video stream), but has no audio. */
    tmp_path(path, sizeof(path), "picture.pgm");
    put_tag(junk, "P5\n2 2\n255\n\x10\x20\x30\x40");
    write_file(path, junk, 15);
    assert_int_equal(aw_ingest_probe(&opts, &info, msg, sizeof(msg)),
                     AW_ERR_UNSUPPORTED);
    (void)snprintf(want, sizeof(want), "no audio stream in %s", path);
    assert_string_equal(msg, want);

    /* A text file: no demuxer recognises it. */
    tmp_path(path, sizeof(path), "notes.txt");
    write_file(path, text, sizeof(text) - 1);
    assert_int_equal(aw_ingest_probe(&opts, &info, msg, sizeof(msg)),
                     AW_ERR_UNSUPPORTED);
    (void)snprintf(want, sizeof(want),
                   "%s: invalid data found when processing input", path);
    assert_string_equal(msg, want);
}

#define UNKNOWN_OPT                                                            \
    "unknown ffmpeg option (not an input option of libavformat, a demuxer, "   \
    "a protocol or a decoder)"

static void test_ingest_unknown_ffmpeg_option_is_refused(void **state)
{
    const struct aw_kv bad[] = {{"probesize", "100000", 3},
                                {"no_such_option", "1", 4}};
    const struct aw_kv http_only[] = {{"reconnect", "1", 0},
                                      {"user_agent", "x", 0}};
    const struct aw_kv encoder_only[] = {{"b", "64k", 0}};
    struct aw_ingest_probe_info info;
    struct aw_ingest_opts opts;
    struct aw_ring ring;
    char path[512], errstr[256];

    (void)state;
    tmp_path(path, sizeof(path), "opt.wav");
    make_wav_file(path, 8000, 1, 0.2);
    assert_int_equal(aw_ring_init(&ring, 4096, 16), AW_OK);
    aw_ingest_opts_init(&opts);
    opts.url = path;

    opts.ffmpeg = bad;
    opts.nffmpeg = AW_ARRAY_SIZE(bad);
    assert_null(aw_ingest_new(&opts, &ring, errstr, sizeof(errstr)));
    assert_string_equal(errstr, "ffmpeg option no_such_option: " UNKNOWN_OPT);
    assert_int_equal(aw_ingest_probe(&opts, &info, errstr, sizeof(errstr)),
                     AW_ERR_INVAL);
    assert_string_equal(errstr, "ffmpeg option no_such_option: " UNKNOWN_OPT);
    assert_int_equal(aw_ingest_check_options(bad, 1, errstr, sizeof(errstr)),
                     AW_OK);

    /* Encoder options mean nothing on input. */
    opts.ffmpeg = encoder_only;
    opts.nffmpeg = AW_ARRAY_SIZE(encoder_only);
    assert_int_equal(aw_ingest_probe(&opts, &info, errstr, sizeof(errstr)),
                     AW_ERR_INVAL);
    assert_string_equal(errstr, "ffmpeg option b: " UNKNOWN_OPT);

    /* Known options that only apply to other sources (a global
     * ffmpeg.reconnect reaches file streams too) are not errors. */
    opts.ffmpeg = http_only;
    opts.nffmpeg = AW_ARRAY_SIZE(http_only);
    assert_int_equal(aw_ingest_probe(&opts, &info, errstr, sizeof(errstr)),
                     AW_OK);
    assert_int_equal(info.rate_hz, 8000);
    aw_ring_fini(&ring);
}

static void test_ingest_bad_options_are_refused(void **state)
{
    struct aw_ingest_opts opts;
    struct aw_ring ring;
    char errstr[256];

    (void)state;
    assert_int_equal(aw_ring_init(&ring, 4096, 16), AW_OK);
    aw_ingest_opts_init(&opts);
    assert_null(aw_ingest_new(&opts, &ring, errstr, sizeof(errstr)));
    assert_string_equal(errstr, "no source URL");
    opts.url = "x.wav";
    opts.pace = -1;
    assert_null(aw_ingest_new(&opts, &ring, errstr, sizeof(errstr)));
    opts.pace = 2;
    opts.stall_timeout_seconds = 0;
    assert_null(aw_ingest_new(&opts, &ring, errstr, sizeof(errstr)));
    opts.stall_timeout_seconds = 5;
    assert_null(aw_ingest_new(&opts, NULL, errstr, sizeof(errstr)));
    aw_ingest_destroy(NULL); /* NULL-safe */
    aw_ring_fini(&ring);
}

/* --- the ring policy ------------------------------------------------------ */

static void test_ingest_full_ring_file_waits_instead_of_dropping(void **state)
{
    struct aw_ingest_opts opts;
    struct aw_ingest_stats st;
    struct aw_ring ring;
    struct marks mk = {0};
    struct aw_ingest *in;
    char path[512];
    uint64_t total = 0;
    double until;

    (void)state;
    tmp_path(path, sizeof(path), "full.wav");
    make_wav_file(path, 16000, 1, 1.0);
    assert_int_equal(aw_ring_init(&ring, 4096, 16), AW_OK);
    aw_ingest_opts_init(&opts);
    opts.url = path;
    opts.pace = 0;
    in = start_ingest(&opts, &ring);

    /* Let the ingest fill the ring, then keep it waiting a while. */
    until = now_s() + 10;
    while (aw_ring_space(&ring) && now_s() < until)
        sleep_ms(5);
    assert_int_equal(aw_ring_space(&ring), 0);
    sleep_ms(100);
    aw_ingest_stats(in, &st);
    assert_int_equal(st.state, AW_INGEST_RUNNING);
    assert_false(aw_ingest_done(in));
    assert_int_equal(aw_ring_drops(&ring), 0);

    /* A slow consumer gets every sample. */
    until = now_s() + 30;
    while (!aw_ingest_done(in) && now_s() < until) {
        total += consume(&ring);
        sleep_ms(2);
    }
    aw_ingest_join(in);
    total += consume(&ring);
    assert_in_range(total, 15999, 16001);
    assert_int_equal(aw_ring_drops(&ring), 0);
    pop_marks(&ring, &mk);
    assert_int_equal(count_marks(&mk, AW_RING_MARK_GAP), 0);
    assert_int_equal(mk.m[mk.n - 1].err, AW_ERR_EOF);
    aw_ingest_destroy(in);
    aw_ring_fini(&ring);
}

static void test_ingest_full_ring_live_drops_and_marks_gap(void **state)
{
    struct aw_ingest_opts opts;
    struct aw_ingest_stats st;
    struct aw_ring ring;
    struct marks mk = {0};
    struct aw_ingest *in;
    char path[512];
    uint64_t lost;

    (void)state;
    tmp_path(path, sizeof(path), "live.wav");
    make_wav_file(path, 16000, 1, 1.0);
    assert_int_equal(aw_ring_init(&ring, 4096, 16), AW_OK);
    aw_ingest_opts_init(&opts);
    opts.url = path;
    opts.live = AW_LIVE_YES;
    opts.max_reconnects = 0; /* end at EOF instead of reopening */
    in = start_ingest(&opts, &ring);
    wait_done(in, 30); /* a live source never waits for the consumer */

    assert_int_equal(aw_ring_head(&ring), 4096);
    lost = aw_ring_drops(&ring);
    assert_in_range(lost, 16000 - 4096 - 1, 16000 - 4096 + 1);
    aw_ingest_stats(in, &st);
    assert_true(st.live);
    assert_int_equal(st.dropped_samples, lost);
    pop_marks(&ring, &mk);
    assert_int_equal(mk.n, 3);
    assert_int_equal(mk.m[0].type, AW_RING_MARK_SESSION);
    assert_int_equal(mk.m[1].type, AW_RING_MARK_GAP);
    assert_int_equal(mk.m[1].lost_samples, lost);
    assert_int_equal(mk.m[1].pos, 4096);
    assert_int_equal(mk.m[2].type, AW_RING_MARK_END);
    assert_int_equal(mk.m[2].err, AW_ERR_EOF);
    aw_ingest_destroy(in);
    aw_ring_fini(&ring);
}

/* --- network -------------------------------------------------------------- */

static void test_ingest_stop_interrupts_blocking_read(void **state)
{
    struct http_srv srv = {.nplans = 1, .plans = {{.status = 0}}};
    struct aw_ingest_opts opts;
    struct aw_ingest_stats st;
    struct aw_ring ring;
    struct aw_ingest *in;
    char url[128], msg[256];
    enum aw_err err;
    double t;

    (void)state;
    srv_start(&srv);
    srv_url(&srv, "/silent.mp3", url, sizeof(url));
    assert_int_equal(aw_ring_init(&ring, 4096, 16), AW_OK);
    aw_ingest_opts_init(&opts);
    opts.url = url;
    opts.open_timeout_seconds = 60;
    opts.stall_timeout_seconds = 60;
    in = start_ingest(&opts, &ring);
    /* Connected, and blocked waiting for a response that never comes. */
    t = now_s() + 5;
    while (atomic_load(&srv.conns) == 0 && now_s() < t)
        sleep_ms(5);
    sleep_ms(200);
    aw_ingest_stats(in, &st);
    assert_int_equal(st.state, AW_INGEST_OPENING);

    t = now_s();
    aw_ingest_stop(in);
    aw_ingest_join(in);
    assert_true(now_s() - t < 1.0);
    aw_ingest_error(in, &err, msg, sizeof(msg));
    assert_int_equal(err, AW_ERR_STOPPED);
    aw_ingest_stats(in, &st);
    assert_int_equal(st.state, AW_INGEST_ENDED);
    aw_ingest_destroy(in);
    srv_stop(&srv);
    aw_ring_fini(&ring);
}

static void test_ingest_open_timeout_names_the_url(void **state)
{
    struct http_srv srv = {.nplans = 1, .plans = {{.status = 0}}};
    struct aw_ingest_probe_info info;
    struct aw_ingest_opts opts;
    char url[128], want[256], msg[256];
    double t;

    (void)state;
    srv_start(&srv);
    srv_url(&srv, "/slow", url, sizeof(url));
    aw_ingest_opts_init(&opts);
    opts.url = url;
    opts.open_timeout_seconds = 0.3;
    t = now_s();
    assert_int_equal(aw_ingest_probe(&opts, &info, msg, sizeof(msg)),
                     AW_ERR_TIMEOUT);
    assert_true(now_s() - t < 5);
    (void)snprintf(want, sizeof(want), "timed out after 0.3 s opening %s", url);
    assert_string_equal(msg, want);
    srv_stop(&srv);
}

static void test_ingest_http_status_codes_map_to_errors(void **state)
{
    static const struct {
        int status;
        enum aw_err err;
        const char *text;
    } cases[] = {
        {404, AW_ERR_NOT_FOUND, "HTTP 404 Not Found: "},
        {401, AW_ERR_AUTH, "HTTP 401 Unauthorized: "},
        {403, AW_ERR_AUTH, "HTTP 403 Forbidden: "},
        {400, AW_ERR_REFUSED, "HTTP 400 Bad Request: "},
        {410, AW_ERR_REFUSED, "HTTP 410 error: "},
        {429, AW_ERR_BUSY, "HTTP 429 Too Many Requests: "},
        {500, AW_ERR_NET, "HTTP 500 server error: "},
        {503, AW_ERR_BUSY, "HTTP 503 server error: "},
    };

    (void)state;
    for (size_t i = 0; i < AW_ARRAY_SIZE(cases); i++) {
        struct http_srv srv = {.nplans = 1};
        struct aw_ingest_probe_info info;
        struct aw_ingest_opts opts;
        char url[128], want[256], msg[256];
        enum aw_err err;

        srv.plans[0].status = cases[i].status;
        srv_start(&srv);
        srv_url(&srv, "/stream.mp3?key=secret", url, sizeof(url));
        aw_ingest_opts_init(&opts);
        opts.url = url;
        err = aw_ingest_probe(&opts, &info, msg, sizeof(msg));
        srv_stop(&srv);
        (void)snprintf(want, sizeof(want), "%shttp://127.0.0.1:%d/stream.mp3",
                       cases[i].text, srv.port);
        if (err != cases[i].err || strcmp(msg, want) != 0)
            fail_msg("HTTP %d: got %s \"%s\", want %s \"%s\"", cases[i].status,
                     aw_err_name(err), msg, aw_err_name(cases[i].err), want);
    }
}

static void test_ingest_http_404_ends_live_stream_at_once(void **state)
{
    struct http_srv srv = {.nplans = 1, .plans = {{.status = 404}}};
    struct aw_ingest_opts opts;
    struct aw_ingest_stats st;
    struct aw_ring ring;
    struct marks mk = {0};
    struct aw_ingest *in;
    char url[128], msg[256];
    enum aw_err err;

    (void)state;
    srv_start(&srv);
    srv_url(&srv, "/gone.mp3", url, sizeof(url));
    assert_int_equal(aw_ring_init(&ring, 4096, 16), AW_OK);
    aw_ingest_opts_init(&opts);
    opts.url = url;
    in = start_ingest(&opts, &ring);
    /* A URL that never worked is a configuration error: no retries. */
    wait_done(in, 10);
    aw_ingest_error(in, &err, msg, sizeof(msg));
    assert_int_equal(err, AW_ERR_NOT_FOUND);
    assert_non_null(strstr(msg, "404"));
    aw_ingest_stats(in, &st);
    assert_int_equal(st.state, AW_INGEST_FAILED);
    assert_int_equal(st.reconnects, 0);
    pop_marks(&ring, &mk);
    assert_int_equal(mk.n, 1);
    assert_int_equal(mk.m[0].type, AW_RING_MARK_END);
    assert_int_equal(mk.m[0].err, AW_ERR_NOT_FOUND);
    aw_ingest_destroy(in);
    srv_stop(&srv);
    aw_ring_fini(&ring);
}

static void test_ingest_connection_refused_is_net(void **state)
{
    struct aw_ingest_probe_info info;
    struct aw_ingest_opts opts;
    struct http_srv srv = {.nplans = 1};
    char url[128], msg[256];

    (void)state;
    /* A port that was just free: nobody listens there now. */
    srv_start(&srv);
    srv_stop(&srv);
    srv_url(&srv, "/x.mp3", url, sizeof(url));
    aw_ingest_opts_init(&opts);
    opts.url = url;
    assert_int_equal(aw_ingest_probe(&opts, &info, msg, sizeof(msg)),
                     AW_ERR_NET);
    assert_non_null(strstr(msg, "connection refused: "));
}

static void test_ingest_icy_titles_become_marks(void **state)
{
    struct http_srv srv = {.nplans = 1};
    struct aw_ingest_probe_info info;
    char errstr[256];
    struct aw_ingest_opts opts;
    struct aw_ingest_stats st;
    struct aw_ring ring;
    struct marks mk = {0};
    struct aw_ingest *in;
    char url[128];
    uint8_t *wav;
    size_t len, titles;

    (void)state;
    len = make_radio(&wav);
    /* A radio that then goes quiet: the stall ends the test's session. */
    srv.plans[0] = (struct plan){.status = 200,
                                 .body = wav,
                                 .len = len,
                                 .metaint = 8192,
                                 .block_delay_ms = 20,
                                 .stall_after = len};
    srv_start(&srv);
    srv_url(&srv, "/radio", url, sizeof(url));
    assert_int_equal(aw_ring_init(&ring, AW_AUDIO_RATE_HZ * 32, 64), AW_OK);
    aw_ingest_opts_init(&opts);
    opts.url = url;
    opts.stall_timeout_seconds = 2; /* 0.5 s cut a busy machine short */
    opts.max_reconnects = 0;
    /* The station's name comes from the ICY headers. */
    assert_int_equal(aw_ingest_probe(&opts, &info, errstr, sizeof(errstr)),
                     AW_OK);
    assert_string_equal(info.name, "Test FM");
    assert_true(info.live);
    assert_non_null(strstr(info.title, "Song "));
    in = start_ingest(&opts, &ring);
    wait_done(in, 30);
    aw_ingest_stats(in, &st);
    assert_true(st.live); /* no length, not seekable: a radio stream */
    /* 8 KiB blocks: the last full one carries title 38. */
    assert_string_equal(st.title, "Song 38");
    pop_marks(&ring, &mk);
    assert_int_equal(mk.m[0].type, AW_RING_MARK_SESSION);
    titles = count_marks(&mk, AW_RING_MARK_TITLE);
    assert_true(titles >= 2);
    /* Titles come in order; libavformat reads ahead, so several changes
     * can fall between two packets and only the last is seen. */
    {
        int last = -1;

        for (size_t i = 1; i < mk.n; i++) {
            char *end;
            int song;

            if (mk.m[i].type != AW_RING_MARK_TITLE)
                continue;
            assert_memory_equal(mk.m[i].text, "Song ", 5);
            song = (int)strtol(mk.m[i].text + 5, &end, 10);
            assert_int_equal(*end, '\0');
            assert_true(song > last);
            last = song;
        }
        assert_int_equal(last, 38);
    }
    assert_int_equal(mk.m[mk.n - 1].type, AW_RING_MARK_END);
    assert_int_equal(mk.m[mk.n - 1].err, AW_ERR_TIMEOUT);
    /* The metadata never reaches the decoder: the audio is complete. */
    assert_in_range(aw_ring_head(&ring), RADIO_SAMPLES - 1, RADIO_SAMPLES + 1);
    aw_ingest_destroy(in);
    srv_stop(&srv);
    aw_ring_fini(&ring);
    free(wav);
}

static void test_ingest_stall_reopens_live_source(void **state)
{
    static const uint32_t quick[] = {50};
    const struct aw_backoff bo = {quick, 1, 0, 60000};
    struct http_srv srv = {.nplans = 1};
    struct aw_ingest_opts opts;
    struct aw_ingest_stats st;
    struct aw_ring ring;
    struct marks mk = {0};
    struct aw_ingest *in;
    char url[128], msg[256];
    uint8_t *wav;
    size_t len;
    enum aw_err err;

    (void)state;
    len = make_radio(&wav);
    /* Each connection: most of the audio, then silence with the socket
     * open. */
    srv.plans[0] = (struct plan){
        .status = 200, .body = wav, .len = len, .stall_after = len * 3 / 4};
    srv_start(&srv);
    srv_url(&srv, "/stalls", url, sizeof(url));
    assert_int_equal(aw_ring_init(&ring, AW_AUDIO_RATE_HZ * 32, 64), AW_OK);
    aw_ingest_opts_init(&opts);
    opts.url = url;
    opts.stall_timeout_seconds = 0.5;
    opts.max_reconnects = 1;
    opts.backoff = &bo;
    in = start_ingest(&opts, &ring);
    wait_done(in, 30);

    aw_ingest_stats(in, &st);
    assert_int_equal(st.sessions, 2);
    assert_int_equal(st.reconnects, 1);
    pop_marks(&ring, &mk);
    assert_true(mk.n >= 4);
    assert_int_equal(mk.m[0].type, AW_RING_MARK_SESSION);
    assert_int_equal(mk.m[1].type, AW_RING_MARK_END);
    assert_int_equal(mk.m[1].err, AW_ERR_TIMEOUT);
    (void)snprintf(msg, sizeof(msg), "no audio from %s for 0.5 s", url);
    assert_string_equal(mk.m[1].text, msg);
    assert_int_equal(mk.m[2].type, AW_RING_MARK_SESSION);
    assert_int_equal(mk.m[2].pos, mk.m[1].pos);
    assert_true(mk.m[2].pos > 0);
    assert_int_equal(mk.m[3].type, AW_RING_MARK_END);
    assert_int_equal(mk.m[3].err, AW_ERR_TIMEOUT);
    assert_int_equal(mk.n, 4);
    aw_ingest_error(in, &err, msg, sizeof(msg));
    assert_int_equal(err, AW_ERR_TIMEOUT);
    assert_int_equal(st.state, AW_INGEST_FAILED);
    aw_ingest_destroy(in);
    srv_stop(&srv);
    aw_ring_fini(&ring);
    free(wav);
}

static void
test_ingest_http_reconnect_in_ffmpeg_ends_session(void **state)
{
    struct http_srv srv = {.nplans = 2};
    struct aw_ingest_opts opts;
    struct aw_ingest_stats st;
    struct aw_ring ring;
    struct marks mk = {0};
    struct aw_ingest *in;
    char url[128], want[256];
    uint8_t *wav;
    size_t len;

    (void)state;
    len = make_radio(&wav);
    /* The server hangs up after the audio; libavformat's http (reconnect,
     * reconnect_streamed) reconnects by itself. Wherever that lands, the
     * live audio has jumped: the source is closed there, so the reopen
     * (none here: max_reconnects 0) makes the next capture session. */
    srv.plans[0] = (struct plan){.status = 200, .body = wav, .len = len};
    srv.plans[1] = (struct plan){.status = 200, .body = wav, .len = len};
    srv_start(&srv);
    srv_url(&srv, "/drops", url, sizeof(url));
    assert_int_equal(aw_ring_init(&ring, AW_AUDIO_RATE_HZ * 32, 64), AW_OK);
    aw_ingest_opts_init(&opts);
    opts.url = url;
    opts.stall_timeout_seconds = 0.5;
    opts.max_reconnects = 0;
    in = start_ingest(&opts, &ring);
    wait_done(in, 30);

    aw_ingest_stats(in, &st);
    assert_int_equal(st.http_reconnects, 1);
    assert_int_equal(st.reconnects, 0);
    assert_int_equal(st.sessions, 1);
    pop_marks(&ring, &mk);
    assert_int_equal(mk.n, 2);
    assert_int_equal(mk.m[0].type, AW_RING_MARK_SESSION);
    /* The hidden reconnect ends the session like any other loss. */
    assert_int_equal(mk.m[1].type, AW_RING_MARK_END);
    assert_int_equal(mk.m[1].err, AW_ERR_NET);
    (void)snprintf(want, sizeof(want), "connection to %s lost", url);
    assert_string_equal(mk.m[1].text, want);
    aw_ingest_destroy(in);
    srv_stop(&srv);
    aw_ring_fini(&ring);
    free(wav);
}

static void test_ingest_http_reconnect_loop_is_cut(void **state)
{
    struct http_srv srv = {.nplans = 1};
    struct aw_ingest_probe_info info;
    struct aw_ingest_opts opts;
    char url[128], want[256], msg[256];
    uint8_t *wav;
    size_t len;

    (void)state;
    /* A server that answers 200 with a few bytes and hangs up, forever:
     * libavformat reconnects at once each time (its delay resets after
     * every success), which would bypass our backoff. */
    len = make_radio(&wav);
    srv.plans[0] = (struct plan){.status = 200, .body = wav, .len = 64};
    srv_start(&srv);
    srv_url(&srv, "/flaps", url, sizeof(url));
    aw_ingest_opts_init(&opts);
    opts.url = url;
    assert_int_equal(aw_ingest_probe(&opts, &info, msg, sizeof(msg)),
                     AW_ERR_NET);
    (void)snprintf(
        want, sizeof(want),
        "connection to %s keeps dropping (3 reconnects in libavformat "
        "without audio)",
        url);
    assert_string_equal(msg, want);
    assert_true(atomic_load(&srv.conns) <= 5);
    srv_stop(&srv);
    free(wav);
    (void)len;
}

/* --- memory decoding (the fuzzer's path) ------------------------------ */

static void test_ingest_decode_memory_matches_file(void **state)
{
    uint8_t *wav;
    size_t len = make_wav(&wav, 22050, 2, 0.5);
    char errstr[256];
    uint64_t n = 0;

    (void)state;
    assert_int_equal(aw_ingest_decode_memory(wav, len, NULL, NULL, NULL, &n,
                                             errstr, sizeof(errstr)),
                     AW_OK);
    assert_in_range(n, 7999, 8001);
    /* Truncated input still decodes what there is. */
    assert_int_equal(aw_ingest_decode_memory(wav, len / 2, NULL, NULL, NULL, &n,
                                             errstr, sizeof(errstr)),
                     AW_OK);
    assert_true(n > 3000 && n < 4100);
    assert_int_equal(aw_ingest_decode_memory(wav, 10, NULL, NULL, NULL, &n,
                                             errstr, sizeof(errstr)),
                     AW_ERR_UNSUPPORTED);
    free(wav);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *d;
    long n;

    if (!f)
        return NULL;
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    d = malloc((size_t)n + 1);
    assert_non_null(d);
    assert_int_equal(fread(d, 1, (size_t)n, f), (size_t)n);
    assert_int_equal(fclose(f), 0);
    *len = (size_t)n;
    return d;
}

static void test_ingest_fuzz_seeds_decode(void **state)
{
    /* The media seeds of tests/fuzz/corpus/ingest must really decode, or
     * the fuzzer starts from nothing. Duration of each and tolerance, in
     * ms: codec delay and frame rounding; the MP3 has no Xing/LAME header,
     * so its encoder delay and padding stay in, as do ADTS priming samples. */
    static const struct {
        const char *name;
        int ms, tol_ms;
    } seeds[] = {
        {"wav_s16_8k", 100, 1},  {"wav_f32_stereo", 20, 1},
        {"mp3_22k", 300, 80},    {"adts_aac_16k", 300, 90},
        {"ogg_vorbis", 300, 30}, {"ogg_opus_stereo", 300, 30},
        {"flac_8k", 100, 1},     {"mpegts_mp2", 200, 30},
    };
    const char *root = getenv("AW_SOURCE_DIR");

    (void)state;
    if (!root)
        skip();
    for (size_t i = 0; i < AW_ARRAY_SIZE(seeds); i++) {
        char path[1024], errstr[256];
        uint8_t *d;
        size_t len = 0;
        uint64_t n = 0;
        enum aw_err err;

        (void)snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/ingest/%s",
                       root, seeds[i].name);
        d = read_all(path, &len);
        if (!d || !len) {
            fail_msg("missing seed %s", path);
            return;
        }
        assert_int_equal(d[0] & 3, 0); /* the decode selector */
        err = aw_ingest_decode_memory(d + 1, len - 1, NULL, NULL, NULL, &n,
                                      errstr, sizeof(errstr));
        free(d);
        if (err != AW_OK)
            fail_msg("%s: %s: %s", seeds[i].name, aw_err_name(err), errstr);
        if (llabs((long long)n - seeds[i].ms * 16) > seeds[i].tol_ms * 16)
            fail_msg("%s: %llu samples, want about %d", seeds[i].name,
                     (unsigned long long)n, seeds[i].ms * 16);
    }
}

static int setup_dir(void **state)
{
    (void)state;
    (void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/aw-test-ingest-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    /* Quiet unless something is wrong. */
    aw_log_threshold = AW_LOG_WARN;
    return 0;
}

static int teardown_dir(void **state)
{
    char *const argv[] = {"rm", "-rf", tmpdir, NULL};

    (void)state;
    return run(argv) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingest_icy_title_parser),
        cmocka_unit_test(test_ingest_redact_url_drops_secrets),
        cmocka_unit_test(test_ingest_file_produces_all_samples_with_marks),
        cmocka_unit_test(test_ingest_mp3_file_matches_its_duration),
        cmocka_unit_test(test_ingest_pacing_holds_file_to_twice_real_time),
        cmocka_unit_test(test_ingest_picks_audio_track_by_language_or_index),
        cmocka_unit_test(test_ingest_hls_vod_is_a_file),
        cmocka_unit_test(test_ingest_format_change_mid_stream_keeps_audio),
        cmocka_unit_test(test_ingest_sample_recording_decodes_completely),
        cmocka_unit_test(test_ingest_missing_file_is_not_found),
        cmocka_unit_test(test_ingest_not_audio_is_unsupported),
        cmocka_unit_test(test_ingest_unknown_ffmpeg_option_is_refused),
        cmocka_unit_test(test_ingest_bad_options_are_refused),
        cmocka_unit_test(test_ingest_full_ring_file_waits_instead_of_dropping),
        cmocka_unit_test(test_ingest_full_ring_live_drops_and_marks_gap),
        cmocka_unit_test(test_ingest_stop_interrupts_blocking_read),
        cmocka_unit_test(test_ingest_open_timeout_names_the_url),
        cmocka_unit_test(test_ingest_http_status_codes_map_to_errors),
        cmocka_unit_test(test_ingest_http_404_ends_live_stream_at_once),
        cmocka_unit_test(test_ingest_connection_refused_is_net),
        cmocka_unit_test(test_ingest_icy_titles_become_marks),
        cmocka_unit_test(test_ingest_stall_reopens_live_source),
        cmocka_unit_test(
            test_ingest_http_reconnect_in_ffmpeg_ends_session),
        cmocka_unit_test(test_ingest_http_reconnect_loop_is_cut),
        cmocka_unit_test(test_ingest_decode_memory_matches_file),
        cmocka_unit_test(test_ingest_fuzz_seeds_decode),
    };

    return cmocka_run_group_tests_name("ingest", tests, setup_dir,
                                       teardown_dir);
}
