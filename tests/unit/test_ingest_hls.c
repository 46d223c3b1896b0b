/*
 * Unit tests of src/ingest/hls.c: the wall clock of an HLS capture session
 * from EXT-X-PROGRAM-DATE-TIME.
 *
 * - The playlist logic on literal playlists (FFmpeg's own output format,
 *   extrapolation, discontinuities, master playlists, URL matching).
 * - Live HLS made by the ffmpeg CLI (-hls_flags program_date_time), its
 *   dates moved to 2021 so the decode clock can never pass for them,
 *   served by a keep-alive HTTP server in a thread of this process
 *   (127.0.0.1, port 0): the ingest puts a WALLCLOCK mark with the start
 *   segment's date right after SESSION, for live_start_index's default
 *   (-3), another live_start_index, and through a master playlist.
 * - End to end through the speech session (src/stt/session.c, the real
 *   Azure provider against a scripted in-process service): every
 *   transcript's start is the start segment's date plus its offset.
 *
 * Tests that need the ffmpeg CLI skip when it is missing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include "ingest/ingest_int.h"
#include "pipeline/ring.h"
#include "stt/session.h"
#include "stt/usp.h"

static char tmpdir[256];

/* 2021-05-06T07:08:09.500Z: far from any decode time. */
#define BASE_WALL_MS 1620284889500LL

/* --- helpers ------------------------------------------------------------- */

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

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    return (double)aw_clock_mono_us() / 1e6;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static struct aw_hls_start start_of(const char *playlist, const char *base,
                                    const char *const *opened, size_t n,
                                    long lsi, enum aw_err want)
{
    struct aw_hls_start st;
    char *text = strdup(playlist);

    assert_non_null(text);
    assert_int_equal(aw_ingest_hls_start_wall(text, base, opened, n, lsi, &st),
                     want);
    free(text);
    return st;
}

/* --- the playlist logic ---------------------------------------------------- */

/* As ffmpeg -f hls -hls_flags program_date_time writes it (EXTINF before
 * the date, a numeric offset without a colon), then cut live (no
 * EXT-X-ENDLIST). */
static const char ffmpeg_live[] =
    "#EXTM3U\n"
    "#EXT-X-VERSION:3\n"
    "#EXT-X-TARGETDURATION:2\n"
    "#EXT-X-MEDIA-SEQUENCE:40\n"
    "#EXTINF:2.048000,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-11-26T14:52:20.028+0000\n"
    "index40.ts\n"
    "#EXTINF:1.984000,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-11-26T14:52:22.076+0000\n"
    "index41.ts\n"
    "#EXTINF:1.984000,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-11-26T16:52:24.060+0200\n"
    "index42.ts\n"
    "#EXTINF:1.984000,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-11-26T14:52:26.044Z\r\n"
    "index43.ts\r\n"
    "#EXTINF:2.048000,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-11-26T14:52:28.028+0000\n"
    "index44.ts\n";

static int64_t iso(const char *s)
{
    int64_t ms;

    assert_int_equal(aw_time_parse_iso8601(s, &ms), 0);
    return ms;
}

static void test_hls_live_rule_is_third_from_the_end(void **state)
{
    struct aw_hls_start st;

    (void)state;
    /* Nothing the demuxer opened matches: FFmpeg's rule, -3 from the end. */
    st = start_of(ffmpeg_live, "http://h/live/index.m3u8", NULL, 0, -3, AW_OK);
    assert_int_equal(st.segment, 2);
    assert_int_equal(st.segments, 5);
    assert_false(st.matched);
    assert_true(st.live);
    assert_string_equal(st.uri, "index42.ts");
    /* +0200 is two hours ahead of UTC. */
    assert_int_equal(st.wall_ms, iso("2026-11-26T14:52:24.060Z"));

    st = start_of(ffmpeg_live, "http://h/live/index.m3u8", NULL, 0, 1, AW_OK);
    assert_int_equal(st.segment, 1);
    st = start_of(ffmpeg_live, "http://h/live/index.m3u8", NULL, 0, 99, AW_OK);
    assert_int_equal(st.segment, 4); /* clamped to the last */
    st = start_of(ffmpeg_live, "http://h/live/index.m3u8", NULL, 0, -99, AW_OK);
    assert_int_equal(st.segment, 0);
    /* CR LF line ends are fine. */
    st = start_of(ffmpeg_live, "http://h/live/index.m3u8", NULL, 0, -2, AW_OK);
    assert_string_equal(st.uri, "index43.ts");
    assert_int_equal(st.wall_ms, iso("2026-11-26T14:52:26.044Z"));
}

static void test_hls_opened_segment_wins_over_the_rule(void **state)
{
    /* What the demuxer opened, in order: the variant playlist, a key, and
     * then its first segment (here: an AES one, hence crypto+). */
    const char *const opened[] = {
        "http://h/live/index.m3u8",
        "http://h/keys/k1",
        "crypto+http://h/live/index41.ts",
        "http://h/live/index42.ts",
    };
    const char *const loose[] = {"http://h/live/sub/../index43.ts"};
    const char *const other[] = {"http://elsewhere/x/index99.ts"};
    struct aw_hls_start st;

    (void)state;
    st = start_of(ffmpeg_live, "http://h/live/index.m3u8?token=abc", opened, 4,
                  -3, AW_OK);
    assert_true(st.matched);
    assert_int_equal(st.segment, 1);
    assert_int_equal(st.wall_ms, iso("2026-11-26T14:52:22.076Z"));
    /* FFmpeg normalises dot segments; we compare the tail then. */
    st = start_of(ffmpeg_live, "http://h/live/index.m3u8", loose, 1, -3, AW_OK);
    assert_true(st.matched);
    assert_int_equal(st.segment, 3);
    st = start_of(ffmpeg_live, "http://h/live/index.m3u8", other, 1, -3, AW_OK);
    assert_false(st.matched);
    assert_int_equal(st.segment, 2);
}

static void test_hls_dates_are_extrapolated_within_a_range(void **state)
{
    static const char one_date[] = "#EXTM3U\n"
                                   "#EXT-X-TARGETDURATION:4\n"
                                   "#EXTINF:4.0,\n"
                                   "a.ts\n"
                                   "#EXT-X-PROGRAM-DATE-TIME:2021-05-06T07:"
                                   "08:09.500Z\n"
                                   "#EXTINF:3.5,\n"
                                   "b.ts\n"
                                   "#EXTINF:4.25,\n"
                                   "c.ts\n"
                                   "#EXTINF:4.0,\n"
                                   "d.ts\n"
                                   "#EXT-X-DISCONTINUITY\n"
                                   "#EXTINF:4.0,\n"
                                   "e.ts\n";
    static const char no_dates[] = "#EXTM3U\n#EXTINF:4.0,\na.ts\n"
                                   "#EXTINF:4.0,\nb.ts\n";
    const char *const open_a[] = {"/srv/a.ts"};
    const char *const open_d[] = {"/srv/d.ts"};
    const char *const open_e[] = {"/srv/e.ts"};
    struct aw_hls_start st;

    (void)state;
    /* Backward from b by a's duration; forward from b by b's and c's. */
    st = start_of(one_date, "/srv/index.m3u8", open_a, 1, -3, AW_OK);
    assert_int_equal(st.wall_ms, BASE_WALL_MS - 4000);
    st = start_of(one_date, "/srv/index.m3u8", open_d, 1, -3, AW_OK);
    assert_int_equal(st.wall_ms, BASE_WALL_MS + 3500 + 4250);
    /* Never across a discontinuity. */
    st = start_of(one_date, "/srv/index.m3u8", open_e, 1, -3, AW_ERR_NOT_FOUND);
    assert_int_equal(st.segment, 4);
    assert_false(st.dated);
    st = start_of(no_dates, "/srv/index.m3u8", NULL, 0, -3, AW_ERR_NOT_FOUND);
    assert_int_equal(st.segment, 0);
}

static void test_hls_vod_starts_at_the_first_segment(void **state)
{
    static const char vod[] =
        "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        "#EXT-X-PROGRAM-DATE-TIME:2021-05-06T07:08:09.500Z\n"
        "#EXTINF:4.0,\nseg-0.aac\n#EXTINF:4.0,\nseg-1.aac\n"
        "#EXTINF:4.0,\nseg-2.aac\n#EXTINF:4.0,\nseg-3.aac\n#EXT-X-ENDLIST\n";
    struct aw_hls_start st;

    (void)state;
    st = start_of(vod, "https://cdn/x/vod.m3u8", NULL, 0, -3, AW_OK);
    assert_false(st.live);
    assert_int_equal(st.segment, 0);
    assert_int_equal(st.wall_ms, BASE_WALL_MS);
}

static void test_hls_byte_ranges_fall_back_to_the_rule(void **state)
{
    /* One file, several ranges: the URL names no single segment. */
    static const char ranges[] =
        "#EXTM3U\n"
        "#EXT-X-PROGRAM-DATE-TIME:2021-05-06T07:08:09.500Z\n"
        "#EXTINF:2.0,\n#EXT-X-BYTERANGE:1000@0\nall.ts\n"
        "#EXTINF:2.0,\n#EXT-X-BYTERANGE:1000\nall.ts\n"
        "#EXTINF:2.0,\n#EXT-X-BYTERANGE:1000\nall.ts\n"
        "#EXTINF:2.0,\n#EXT-X-BYTERANGE:1000\nall.ts\n";
    const char *const opened[] = {"http://h/all.ts"};
    struct aw_hls_start st;

    (void)state;
    st = start_of(ranges, "http://h/index.m3u8", opened, 1, -3, AW_OK);
    assert_false(st.matched);
    assert_int_equal(st.segment, 1);
    assert_int_equal(st.wall_ms, BASE_WALL_MS + 2000);
}

static void test_hls_master_playlists_resolve_variants(void **state)
{
    static const char master[] =
        "#EXTM3U\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS=\"mp4a.40.2\"\n"
        "low/index.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=128000\n"
        "/abs/high.m3u8?x=1\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=256000\n"
        "https://other.example/v3.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=512000\n"
        "//cdn.example/v4.m3u8\n";
    const char *base = "https://radio.example/live/master.m3u8?sig=1";
    char url[512], *text;
    struct aw_hls_start st;
    static const struct {
        size_t index;
        const char *want;
    } cases[] = {
        {0, "https://radio.example/live/low/index.m3u8"},
        {1, "https://radio.example/abs/high.m3u8?x=1"},
        {2, "https://other.example/v3.m3u8"},
        {3, "https://cdn.example/v4.m3u8"},
        {9, "https://radio.example/live/low/index.m3u8"},
    };

    (void)state;
    for (size_t i = 0; i < AW_ARRAY_SIZE(cases); i++) {
        text = strdup(master);
        assert_non_null(text);
        assert_int_equal(
            aw_ingest_hls_variant(text, cases[i].index, base, url, sizeof(url)),
            AW_OK);
        assert_string_equal(url, cases[i].want);
        free(text);
    }
    /* A local master playlist resolves against its directory. */
    text = strdup(master);
    assert_int_equal(
        aw_ingest_hls_variant(text, 0, "/srv/hls/master.m3u8", url, sizeof(url)),
        AW_OK);
    assert_string_equal(url, "/srv/hls/low/index.m3u8");
    free(text);
    /* A master playlist has no start segment; a media one no variant. */
    st = start_of(master, base, NULL, 0, -3, AW_ERR_INVAL);
    assert_int_equal(st.segment, -1);
    text = strdup(ffmpeg_live);
    assert_int_equal(aw_ingest_hls_variant(text, 0, base, url, sizeof(url)),
                     AW_ERR_INVAL);
    free(text);
    /* Not a playlist at all. */
    st = start_of("ID3\x03junk", base, NULL, 0, -3, AW_ERR_UNSUPPORTED);
    st = start_of("#EXTM3U\n", base, NULL, 0, -3, AW_ERR_NOT_FOUND);
    (void)st;
}

/* --- a keep-alive HTTP file server ----------------------------------------- */

#define MAX_CONNS 64

struct file_srv {
    int lfd;
    int port;
    pthread_t th;
    atomic_bool quit;
    char root[512];
    pthread_t conns[MAX_CONNS];
    int nconns;
    atomic_int requests;
};

struct conn_arg {
    struct file_srv *s;
    int fd;
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

/* One connection: requests until the client hangs up (FFmpeg's hls keeps
 * its playlist and segment connections open). */
static void *conn_main(void *arg)
{
    struct conn_arg *ca = arg;
    struct file_srv *s = ca->s;
    int fd = ca->fd;
    char req[4096];
    size_t got = 0;

    free(ca);
    while (!atomic_load(&s->quit)) {
        char *end = NULL, path[1600], target[1024], hdr[256], *body;
        struct pollfd p = {fd, POLLIN, 0};
        size_t blen = 0, used;
        ssize_t n;

        req[got] = '\0';
        end = strstr(req, "\r\n\r\n");
        if (!end) {
            if (got >= sizeof(req) - 1)
                break;
            if (poll(&p, 1, 50) <= 0)
                continue;
            n = recv(fd, req + got, sizeof(req) - 1 - got, 0);
            if (n <= 0)
                break;
            got += (size_t)n;
            continue;
        }
        used = (size_t)(end + 4 - req);
        atomic_fetch_add(&s->requests, 1);
        if (sscanf(req, "GET %1000s", target) != 1 || strstr(target, "..")) {
            (void)snprintf(path, sizeof(path), "/nonexistent");
        } else {
            char *q = strchr(target, '?');

            if (q)
                *q = '\0';
            (void)snprintf(path, sizeof(path), "%s%s", s->root, target);
        }
        body = read_file(path, &blen);
        if (body) {
            (void)snprintf(hdr, sizeof(hdr),
                           "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                           "Content-Type: %s\r\n\r\n",
                           blen,
                           strstr(path, ".m3u8")
                               ? "application/vnd.apple.mpegurl"
                               : "video/mp2t");
            if (send_all(fd, hdr, strlen(hdr)) || send_all(fd, body, blen)) {
                free(body);
                break;
            }
            free(body);
        } else {
            (void)snprintf(hdr, sizeof(hdr),
                           "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                           "\r\n");
            if (send_all(fd, hdr, strlen(hdr)))
                break;
        }
        memmove(req, req + used, got - used);
        got -= used;
    }
    close(fd);
    return NULL;
}

static void *srv_main(void *arg)
{
    struct file_srv *s = arg;

    while (!atomic_load(&s->quit)) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        struct conn_arg *ca;
        int fd;

        if (poll(&p, 1, 20) <= 0)
            continue;
        fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (s->nconns == MAX_CONNS) {
            close(fd);
            continue;
        }
        ca = malloc(sizeof(*ca));
        assert_non_null(ca);
        ca->s = s;
        ca->fd = fd;
        assert_int_equal(
            pthread_create(&s->conns[s->nconns++], NULL, conn_main, ca), 0);
    }
    for (int i = 0; i < s->nconns; i++)
        pthread_join(s->conns[i], NULL);
    return NULL;
}

static void srv_start(struct file_srv *s, const char *root)
{
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof(a);
    int one = 1;

    memset(s, 0, sizeof(*s));
    (void)snprintf(s->root, sizeof(s->root), "%s", root);
    atomic_init(&s->quit, false);
    atomic_init(&s->requests, 0);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_stop(struct file_srv *s)
{
    atomic_store(&s->quit, true);
    pthread_join(s->th, NULL);
    close(s->lfd);
}

/* --- generated live HLS ------------------------------------------------------ */

#define MAX_SEGS 16

struct live_hls {
    char dir[512];
    int nsegs;
    double dur_s[MAX_SEGS];
    int64_t wall_ms[MAX_SEGS]; /* the dates we wrote */
};

static void format_plus2(int64_t ms, char *out, size_t size)
{
    /* FFmpeg's style (%z without a colon), two hours east of UTC. */
    time_t t = (time_t)(ms / 1000) + 7200;
    struct tm tm;
    char s[32];

    gmtime_r(&t, &tm);
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    (void)snprintf(out, size, "%s.%03d+0200", s, (int)(ms % 1000));
}

/*
 * ffmpeg writes \p seconds of a tone as 2-s AAC segments in MPEG-TS with
 * program_date_time; the playlist is then rewritten as a live one (no
 * EXT-X-ENDLIST), dated from BASE_WALL_MS (with dates on every segment, or
 * only on the first when \p first_only; none when \p undated).
 * @returns false when ffmpeg is not there.
 */
static bool make_live_hls(struct live_hls *h, const char *name, int seconds,
                          bool first_only, bool undated)
{
    char src[640], out[640], lavfi[128], *text, *save = NULL, *line, date[64];
    char *const argv[] = {"ffmpeg",
                          "-nostdin",
                          "-y",
                          "-f",
                          "lavfi",
                          "-i",
                          lavfi,
                          "-c:a",
                          "aac",
                          "-b:a",
                          "64k",
                          "-f",
                          "hls",
                          "-hls_time",
                          "2",
                          "-hls_list_size",
                          "0",
                          "-hls_flags",
                          "program_date_time",
                          src,
                          NULL};
    FILE *f;
    int64_t wall = BASE_WALL_MS;

    memset(h, 0, sizeof(*h));
    (void)snprintf(h->dir, sizeof(h->dir), "%s/%s", tmpdir, name);
    assert_int_equal(mkdir(h->dir, 0700), 0);
    (void)snprintf(lavfi, sizeof(lavfi),
                   "sine=frequency=440:duration=%d:sample_rate=44100", seconds);
    (void)snprintf(src, sizeof(src), "%s/ffmpeg.m3u8", h->dir);
    if (run(argv) != 0)
        return false;
    text = read_file(src, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "#EXT-X-PROGRAM-DATE-TIME:"));
    (void)snprintf(out, sizeof(out), "%s/index.m3u8", h->dir);
    f = fopen(out, "w");
    assert_non_null(f);
    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "#EXT-X-ENDLIST", 14) ||
            !strncmp(line, "#EXT-X-PROGRAM-DATE-TIME:", 25))
            continue;
        if (!strncmp(line, "#EXTINF:", 8)) {
            assert_true(h->nsegs < MAX_SEGS);
            h->dur_s[h->nsegs] = strtod(line + 8, NULL);
            h->wall_ms[h->nsegs] = wall;
            fprintf(f, "%s\n", line);
            if (!undated && (!first_only || h->nsegs == 0)) {
                format_plus2(wall, date, sizeof(date));
                fprintf(f, "#EXT-X-PROGRAM-DATE-TIME:%s\n", date);
            }
            wall += (int64_t)(h->dur_s[h->nsegs] * 1000 + 0.5);
            h->nsegs++;
            continue;
        }
        fprintf(f, "%s\n", line);
    }
    assert_int_equal(fclose(f), 0);
    free(text);
    assert_true(h->nsegs >= 4);
    return true;
}

struct marks {
    struct aw_ring_mark m[32];
    size_t n;
};

/* Ingest \p url live until a WALLCLOCK mark (or \p max_s), then stop. */
static void ingest_marks(const char *url, const struct aw_kv *kv, size_t nkv,
                         struct marks *mk, double max_s)
{
    struct aw_ingest_opts opts;
    struct aw_ring ring;
    struct aw_ingest *in;
    char errstr[256] = "";
    double until = now_s() + max_s;
    bool seen = false;

    assert_int_equal(aw_ring_init(&ring, AW_AUDIO_RATE_HZ * 30, 32), AW_OK);
    aw_ingest_opts_init(&opts);
    opts.stream_id = "hls-test";
    opts.url = url;
    opts.ffmpeg = kv;
    opts.nffmpeg = nkv;
    opts.stall_timeout_seconds = 10;
    in = aw_ingest_new(&opts, &ring, errstr, sizeof(errstr));
    if (!in)
        fail_msg("aw_ingest_new: %s", errstr);
    assert_int_equal(aw_ingest_start(in), AW_OK);
    memset(mk, 0, sizeof(*mk));
    while (now_s() < until && !seen && !aw_ingest_done(in)) {
        struct aw_ring_mark m;

        while (aw_ring_pop_mark(&ring, &m)) {
            if (mk->n < AW_ARRAY_SIZE(mk->m))
                mk->m[mk->n++] = m;
            seen |= m.type == AW_RING_MARK_WALLCLOCK;
        }
        aw_ring_release(&ring, aw_ring_head(&ring));
        sleep_ms(10);
    }
    aw_ingest_destroy(in);
    aw_ring_fini(&ring);
}

static void assert_anchor(const struct marks *mk, int64_t want)
{
    if (mk->n < 2)
        fail_msg("only %zu marks", mk->n);
    assert_int_equal(mk->m[0].type, AW_RING_MARK_SESSION);
    assert_true(mk->m[0].live);
    /* Right after SESSION, at the session's first sample. */
    assert_int_equal(mk->m[1].type, AW_RING_MARK_WALLCLOCK);
    assert_int_equal(mk->m[1].pos, mk->m[0].pos);
    if (mk->m[1].wall_ms != want)
        fail_msg("WALLCLOCK %lld, want %lld (off by %lld ms)",
                 (long long)mk->m[1].wall_ms, (long long)want,
                 (long long)(mk->m[1].wall_ms - want));
    /* SESSION itself keeps the decode time, years later. */
    assert_true(mk->m[0].wall_ms - want > 86400000LL);
}

static void test_hls_live_source_marks_its_start_segment_date(void **state)
{
    struct file_srv srv;
    struct live_hls h;
    struct marks mk;
    char url[256];

    (void)state;
    if (!make_live_hls(&h, "live", 12, false, false))
        skip();
    srv_start(&srv, tmpdir);
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/live/index.m3u8",
                   srv.port);
    ingest_marks(url, NULL, 0, &mk, 20);
    /* live_start_index -3: the third segment from the end. */
    assert_anchor(&mk, h.wall_ms[h.nsegs - 3]);
    srv_stop(&srv);
}

static void test_hls_live_start_index_and_extrapolated_date(void **state)
{
    const struct aw_kv kv[] = {{"live_start_index", "1", 0}};
    struct file_srv srv;
    struct live_hls h;
    struct marks mk;
    char url[256];

    (void)state;
    /* Only the first segment dated: the second's is extrapolated. */
    if (!make_live_hls(&h, "first-dated", 12, true, false))
        skip();
    srv_start(&srv, tmpdir);
    (void)snprintf(url, sizeof(url),
                   "http://127.0.0.1:%d/first-dated/index.m3u8", srv.port);
    ingest_marks(url, kv, 1, &mk, 20);
    assert_anchor(&mk, h.wall_ms[1]);
    srv_stop(&srv);
}

static void test_hls_master_playlist_is_followed(void **state)
{
    struct file_srv srv;
    struct live_hls h;
    struct marks mk;
    char url[256], path[600];

    (void)state;
    if (!make_live_hls(&h, "variant", 12, false, false))
        skip();
    (void)snprintf(path, sizeof(path), "%s/master.m3u8", tmpdir);
    write_text(path, "#EXTM3U\n"
                     "#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS=\"mp4a.40.2\"\n"
                     "variant/index.m3u8\n");
    srv_start(&srv, tmpdir);
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/master.m3u8?k=v",
                   srv.port);
    ingest_marks(url, NULL, 0, &mk, 20);
    assert_anchor(&mk, h.wall_ms[h.nsegs - 3]);
    srv_stop(&srv);
}

static void test_hls_without_dates_keeps_the_decode_clock(void **state)
{
    struct file_srv srv;
    struct live_hls h;
    struct marks mk;
    char url[256];

    (void)state;
    if (!make_live_hls(&h, "undated", 10, false, true))
        skip();
    srv_start(&srv, tmpdir);
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/undated/index.m3u8",
                   srv.port);
    /* No WALLCLOCK ever comes: give it the time a dated one needs. */
    ingest_marks(url, NULL, 0, &mk, 4);
    assert_true(mk.n >= 1);
    assert_int_equal(mk.m[0].type, AW_RING_MARK_SESSION);
    for (size_t i = 0; i < mk.n; i++)
        assert_int_not_equal(mk.m[i].type, AW_RING_MARK_WALLCLOCK);
    assert_true(llabs(mk.m[0].wall_ms - aw_clock_wall_ms()) < 60000);
    srv_stop(&srv);
}

/* --- end to end through the speech session ---------------------------------- */

/* A scripted speech service: one phrase for every whole second of audio a
 * turn has received, [k s + 200 ms, k s + 700 ms) of the turn. */
struct fake_service {
    bool connected, config_seen, want_write;
    int connects;
    char rid[33];
    int frames;
    uint64_t samples;
    int answered;
    struct {
        int64_t offset_ms, start_wall_ms, end_wall_ms, duration_ms;
    } out[64];
    int nout;
    int64_t start_event_wall_ms;
};

static struct fake_service svc;

static enum aw_err svc_connect(void *opaque, const struct aw_stt_handshake *hs)
{
    (void)opaque;
    (void)hs;
    svc.connects++;
    return AW_OK;
}

static void svc_close(void *opaque, int code, const char *reason)
{
    (void)opaque;
    (void)code;
    (void)reason;
    svc.connected = false;
}

static void svc_want_write(void *opaque)
{
    (void)opaque;
    svc.want_write = true;
}

static void svc_transcript(void *opaque, const struct aw_transcript *t)
{
    (void)opaque;
    if (svc.nout < (int)AW_ARRAY_SIZE(svc.out)) {
        svc.out[svc.nout].offset_ms = t->offset_ms;
        svc.out[svc.nout].duration_ms = t->duration_ms;
        svc.out[svc.nout].start_wall_ms = t->start_wall_ms;
        svc.out[svc.nout].end_wall_ms = t->end_wall_ms;
        svc.nout++;
    }
}

static void svc_event(void *opaque, const struct aw_stream_event *e)
{
    (void)opaque;
    if (e->type == AW_EVENT_START)
        svc.start_event_wall_ms = e->wall_ms;
}

static const struct aw_stt_session_io svc_io = {
    .connect = svc_connect,
    .close = svc_close,
    .want_write = svc_want_write,
    .transcript = svc_transcript,
    .event = svc_event,
};

static void svc_reply(struct aw_stt_session *s, const char *path,
                      const char *body)
{
    uint8_t buf[2048];
    size_t len;

    assert_int_equal(aw_usp_build_text(buf, sizeof(buf), &len, path, svc.rid,
                                       "application/json; charset=utf-8", body,
                                       strlen(body)),
                     AW_OK);
    aw_stt_session_on_message(s, buf, len, false);
}

static void svc_receive(struct aw_stt_session *s, const uint8_t *buf,
                        size_t len, bool binary)
{
    struct aw_usp_msg m;

    assert_int_equal(aw_usp_parse(buf, len, binary, NULL, &m, NULL), AW_OK);
    if (aw_usp_path_is(&m, "speech.config") || aw_usp_path_is(&m, "telemetry"))
        return;
    if (aw_usp_path_is(&m, "speech.context")) {
        memcpy(svc.rid, m.request_id, 32);
        svc.rid[32] = '\0';
        svc.frames = 1;
        svc.samples = 0;
        svc.answered = 0;
        return;
    }
    if (!aw_usp_path_is(&m, "audio"))
        return;
    if (svc.frames++ == 1) {
        svc_reply(s, "turn.start", "{\"context\":{\"serviceTag\":\"x\"}}");
        return;
    }
    svc.samples += m.body_len / 2;
    while ((int64_t)svc.samples * 1000 / AW_AUDIO_RATE_HZ >=
           (int64_t)(svc.answered + 1) * 1000) {
        char body[256];
        int64_t start_ms = (int64_t)svc.answered * 1000 + 200;

        (void)snprintf(body, sizeof(body),
                       "{\"RecognitionStatus\":\"Success\",\"DisplayText\":"
                       "\"Tone %d.\",\"Offset\":%lld,\"Duration\":%lld}",
                       svc.answered, (long long)start_ms * 10000,
                       (long long)500 * 10000);
        svc_reply(s, "speech.phrase", body);
        svc.answered++;
    }
}

static void test_hls_transcripts_start_at_the_broadcast_time(void **state)
{
    struct aw_stt_session_opts o;
    struct aw_ingest_opts opts;
    struct aw_stt_session *s;
    struct aw_ingest *in;
    struct aw_ring ring;
    struct file_srv srv;
    struct live_hls h;
    char url[256], errstr[256] = "";
    uint8_t buf[16384];
    double until;
    int64_t want;

    (void)state;
    if (!make_live_hls(&h, "e2e", 14, false, false))
        skip();
    srv_start(&srv, tmpdir);
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/e2e/index.m3u8",
                   srv.port);
    want = h.wall_ms[h.nsegs - 3];

    memset(&svc, 0, sizeof(svc));
    memset(&o, 0, sizeof(o));
    o.stream_id = "hls-test";
    o.language = "en-US";
    o.provider = "azure";
    o.params.endpoint =
        "ws://127.0.0.1:1/speech/recognition/conversation/cognitiveservices/v1";
    o.params.key = "test-key-1234";
    o.chunk_ms = 100;
    o.connect_timeout_ms = 5000;
    o.turn_start_timeout_ms = 5000;
    o.final_timeout_ms = 5000;
    assert_int_equal(aw_ring_init(&ring, AW_AUDIO_RATE_HZ * 30, 32), AW_OK);
    s = aw_stt_session_new(&o, &svc_io, NULL, &ring, errstr, sizeof(errstr));
    assert_non_null(s);

    aw_ingest_opts_init(&opts);
    opts.stream_id = "hls-test";
    opts.url = url;
    opts.stall_timeout_seconds = 10;
    in = aw_ingest_new(&opts, &ring, errstr, sizeof(errstr));
    assert_non_null(in);
    assert_int_equal(aw_ingest_start(in), AW_OK);

    /* The three segments from the start one are ~6 s: 4 phrases at least. */
    until = now_s() + 30;
    while (now_s() < until && svc.nout < 4) {
        struct aw_stt_stats st;

        aw_stt_session_poll(s);
        aw_stt_session_stats(s, &st);
        if (st.conn_state == AW_STT_CONN_CONNECTING && !svc.connected) {
            svc.connected = true;
            svc.rid[0] = '\0';
            aw_stt_session_on_open(s);
        }
        for (int w = 0; w < 64 && svc.connected; w++) {
            size_t len;
            bool binary;

            if (aw_stt_session_next_frame(s, buf, sizeof(buf), &len, &binary) !=
                AW_OK)
                break;
            svc_receive(s, buf, len, binary);
        }
        sleep_ms(10);
    }
    aw_ingest_stop(in);
    aw_ingest_destroy(in);
    aw_stt_session_destroy(s);
    aw_ring_fini(&ring);
    srv_stop(&srv);

    if (svc.nout < 4)
        fail_msg("%d transcripts", svc.nout);
    for (int i = 0; i < svc.nout; i++) {
        /* Published where the service put it on the capture session's
         * timeline, and dated from the start segment's
         * EXT-X-PROGRAM-DATE-TIME. */
        assert_int_equal(svc.out[i].offset_ms, (int64_t)i * 1000 + 200);
        if (svc.out[i].start_wall_ms != want + svc.out[i].offset_ms)
            fail_msg("transcript %d: start %lld, want %lld + %lld", i,
                     (long long)svc.out[i].start_wall_ms, (long long)want,
                     (long long)svc.out[i].offset_ms);
        assert_int_equal(svc.out[i].end_wall_ms - svc.out[i].start_wall_ms,
                         svc.out[i].duration_ms);
    }
}

static int setup_dir(void **state)
{
    (void)state;
    (void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/aw-test-hls-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
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
        cmocka_unit_test(test_hls_live_rule_is_third_from_the_end),
        cmocka_unit_test(test_hls_opened_segment_wins_over_the_rule),
        cmocka_unit_test(test_hls_dates_are_extrapolated_within_a_range),
        cmocka_unit_test(test_hls_vod_starts_at_the_first_segment),
        cmocka_unit_test(test_hls_byte_ranges_fall_back_to_the_rule),
        cmocka_unit_test(test_hls_master_playlists_resolve_variants),
        cmocka_unit_test(test_hls_live_source_marks_its_start_segment_date),
        cmocka_unit_test(test_hls_live_start_index_and_extrapolated_date),
        cmocka_unit_test(test_hls_master_playlist_is_followed),
        cmocka_unit_test(test_hls_without_dates_keeps_the_decode_clock),
        cmocka_unit_test(test_hls_transcripts_start_at_the_broadcast_time),
    };

    return cmocka_run_group_tests_name("ingest_hls", tests, setup_dir,
                                       teardown_dir);
}
