/*
 * HLS: anchor a capture session to the broadcast's clock with
 * EXT-X-PROGRAM-DATE-TIME.
 *
 * FFmpeg 5.1's hls demuxer parses the tag but keeps it to itself, so a
 * capture session of an HLS source would be timed by when we decoded its
 * first sample: for a live playlist that is the live edge minus three
 * segments, plus the packager's and the CDN's delay, later than when the
 * audio went out. When the source turns out to be HLS:
 *
 *  1. While the source opens, an io_open wrapper notes the URLs the
 *     demuxer opens (variant playlists, keys, segments). The first segment
 *     of our playlist among them is the one playback starts from, whatever
 *     chose it (live_start_index, EXT-X-START, a VOD playlist's first).
 *  2. We fetch the media playlist ourselves through avio, with the
 *     source's options and interrupt callback. A master playlist is
 *     followed to the variant whose program holds the audio stream we
 *     picked (the first variant otherwise).
 *  3. That segment's EXT-X-PROGRAM-DATE-TIME, or one extrapolated from a
 *     neighbour's by the EXTINF durations within the same discontinuity
 *     range, is the wall clock of the session's first sample.
 *
 * If no URL the demuxer opened is a segment of the playlist (byte ranges,
 * a playlist that moved on in between), the start segment is FFmpeg's own
 * rule: live_start_index from the end (default -3) of a live playlist,
 * the first of a VOD one. ingest.c puts the result in a WALLCLOCK mark
 * right after the SESSION mark of the first capture session of the open.
 * Nothing here is fatal: without a date the session keeps the decode
 * time.
 *
 * @locality the thread that opens the source
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavutil/dict.h>
#include <libavutil/opt.h>

#include "airwave/clock.h"
#include "airwave/log.h"
#include "ingest/ingest_int.h"

#define MOD "ingest"

#define HLS_MAX_OPENED    16        /* URLs remembered while opening */
#define HLS_MAX_TEXT      (1 << 20) /* largest playlist we read */
#define HLS_MAX_URL       4096
#define HLS_FETCH_TIMEOUT 10.0      /* seconds, within the open deadline */
#define HLS_DEFAULT_LSI   (-3)      /* FFmpeg's live_start_index */

typedef int (*io_open_fn)(struct AVFormatContext *s, AVIOContext **pb,
                          const char *url, int flags, AVDictionary **options);

struct aw_hls_watch {
    io_open_fn io_open; /* FFmpeg's, which we call */
    bool recording;
    char *opened[HLS_MAX_OPENED];
    size_t nopened;
};

/* --- watching the demuxer's opens ---------------------------------------- */

static int watch_io_open(struct AVFormatContext *s, AVIOContext **pb,
                         const char *url, int flags, AVDictionary **options)
{
    struct aw_hls_watch *w = s->opaque;

    if (w->recording && url && w->nopened < HLS_MAX_OPENED) {
        char *copy = strdup(url);

        if (copy) /* without it the fallback rule decides */
            w->opened[w->nopened++] = copy;
    }
    return w->io_open(s, pb, url, flags, options);
}

void aw_ingest_hls_watch(struct aw_source *src, AVFormatContext *fmt)
{
    struct aw_hls_watch *w;

    if (!fmt->io_open)
        return;
    w = calloc(1, sizeof(*w));
    if (!w)
        return; /* no anchor, nothing worse */
    w->io_open = fmt->io_open;
    w->recording = true;
    fmt->opaque = w;
    fmt->io_open = watch_io_open;
    src->hls = w;
}

static void forget_opened(struct aw_hls_watch *w)
{
    for (size_t i = 0; i < w->nopened; i++)
        free(w->opened[i]);
    w->nopened = 0;
    w->recording = false;
}

void aw_ingest_hls_release(struct aw_source *src)
{
    /* After avformat_close_input(): the wrapper is not called again. */
    if (!src->hls)
        return;
    forget_opened(src->hls);
    free(src->hls);
    src->hls = NULL;
}

/* --- playlists ------------------------------------------------------------ */

struct hls_seg {
    const char *uri;
    double dur_s;
    int64_t wall_ms;
    bool dated;   /* its own EXT-X-PROGRAM-DATE-TIME */
    bool known;   /* wall_ms valid: dated or extrapolated */
    bool disc;    /* EXT-X-DISCONTINUITY before it */
};

struct hls_list {
    struct hls_seg *segs;
    size_t nsegs;
    const char **variants; /* master playlist: EXT-X-STREAM-INF URIs */
    size_t nvariants;
    bool endlist;
};

/* Cut the next line out of *p (NUL-terminated in place, CR and trailing
 * blanks removed). @returns NULL at the end. */
static char *next_line(char **p)
{
    char *s = *p, *e;

    if (!s || !*s)
        return NULL;
    e = strchr(s, '\n');
    if (e) {
        *e = '\0';
        *p = e + 1;
    } else {
        *p = s + strlen(s);
    }
    for (size_t n = strlen(s); n && (s[n - 1] == '\r' || s[n - 1] == ' ' ||
                                     s[n - 1] == '\t');
         n--)
        s[n - 1] = '\0';
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static bool tag(const char *line, const char *name, const char **value)
{
    size_t n = strlen(name);

    if (strncmp(line, name, n) != 0)
        return false;
    if (value)
        *value = line + n;
    return true;
}

static size_t count_lines(const char *text)
{
    size_t n = 1;

    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

static void list_free(struct hls_list *l)
{
    free(l->segs);
    free(l->variants);
    memset(l, 0, sizeof(*l));
}

/* Fill the segments' wall clocks: forward from each dated segment by the
 * durations, and backward to the undated ones before it, never across a
 * discontinuity (RFC 8216 §4.3.2.6 lets clients extrapolate within one). */
static void extrapolate(struct hls_list *l)
{
    bool have = false;
    int64_t next = 0;

    for (size_t i = 0; i < l->nsegs; i++) {
        struct hls_seg *g = &l->segs[i];

        if (g->dated) {
            have = true;
            next = g->wall_ms;
        } else if (g->disc) {
            have = false;
        }
        if (have) {
            g->wall_ms = next;
            g->known = true;
            next += (int64_t)(g->dur_s * 1000.0 + 0.5);
        }
    }
    for (size_t i = l->nsegs; i-- > 1;) {
        struct hls_seg *g = &l->segs[i - 1], *n = &l->segs[i];

        if (!g->known && n->known && !n->disc) {
            g->wall_ms = n->wall_ms - (int64_t)(g->dur_s * 1000.0 + 0.5);
            g->known = true;
        }
    }
}

/* Parse \p text (modified in place; the list points into it). */
static enum aw_err parse(char *text, struct hls_list *l)
{
    size_t cap = count_lines(text);
    double dur = -1;
    bool variant_next = false, dated = false, disc = false;
    int64_t wall = 0;
    char *p = text, *line;

    memset(l, 0, sizeof(*l));
    line = next_line(&p);
    if (!line || strcmp(line, "#EXTM3U") != 0)
        return AW_ERR_UNSUPPORTED;
    l->segs = calloc(cap, sizeof(*l->segs));
    l->variants = calloc(cap, sizeof(*l->variants));
    if (!l->segs || !l->variants) {
        list_free(l);
        return AW_ERR_NOMEM;
    }
    while ((line = next_line(&p))) {
        const char *v;

        if (!*line)
            continue;
        if (tag(line, "#EXTINF:", &v)) {
            dur = strtod(v, NULL);
            if (!(dur >= 0 && dur < 86400))
                dur = 0;
        } else if (tag(line, "#EXT-X-STREAM-INF:", NULL)) {
            variant_next = true;
        } else if (tag(line, "#EXT-X-PROGRAM-DATE-TIME:", &v)) {
            dated = aw_time_parse_iso8601(v, &wall) == 0;
        } else if (tag(line, "#EXT-X-DISCONTINUITY", &v) && !*v) {
            disc = true;
        } else if (tag(line, "#EXT-X-ENDLIST", NULL)) {
            l->endlist = true;
        } else if (line[0] == '#') {
            continue; /* other tags and comments */
        } else if (variant_next) {
            l->variants[l->nvariants++] = line;
            variant_next = false;
        } else if (dur >= 0) {
            struct hls_seg *g = &l->segs[l->nsegs++];

            g->uri = line;
            g->dur_s = dur;
            g->dated = dated;
            g->wall_ms = wall;
            g->disc = disc;
            dur = -1;
            dated = disc = false;
        }
    }
    extrapolate(l);
    return AW_OK;
}

/* \p uri relative to \p base, as a client resolves it (RFC 3986, without
 * dot-segment removal: matching below tolerates that). */
static void resolve(const char *base, const char *uri, char *out, size_t size)
{
    size_t scheme = aw_ingest_url_scheme(base, NULL, 0), keep;
    const char *end;

    if (aw_ingest_url_scheme(uri, NULL, 0) || !base) {
        aw_errstr_set(out, size, "%s", uri);
        return;
    }
    if (uri[0] == '/' && uri[1] == '/') {
        aw_errstr_set(out, size, "%.*s:%s", (int)scheme, base, uri);
        return;
    }
    if (uri[0] == '/') {
        /* scheme://authority + uri; a plain path base: uri itself */
        if (!scheme || strncmp(base + scheme, "://", 3) != 0) {
            aw_errstr_set(out, size, "%s", uri);
            return;
        }
        end = strchr(base + scheme + 3, '/');
        keep = end ? (size_t)(end - base) : strlen(base);
        aw_errstr_set(out, size, "%.*s%s", (int)keep, base, uri);
        return;
    }
    end = base + strcspn(base, "?#");
    while (end > base && end[-1] != '/')
        end--;
    aw_errstr_set(out, size, "%.*s%s", (int)(end - base), base, uri);
}

static const char *strip_crypto(const char *url)
{
    if (!strncmp(url, "crypto+", 7) || !strncmp(url, "crypto:", 7))
        return url + 7;
    return url;
}

/* Does the URL the demuxer opened name segment \p g? Exact: the resolved
 * URI. Loose (when FFmpeg normalised "./" or "../"): the opened URL ends
 * with "/" + the URI without its leading dot segments. */
static bool opened_is(const char *opened, const char *base,
                      const struct hls_seg *g, bool loose)
{
    char abs[HLS_MAX_URL];
    const char *u = g->uri;
    size_t lo, lu;

    opened = strip_crypto(opened);
    if (!loose) {
        resolve(base, g->uri, abs, sizeof(abs));
        return !strcmp(opened, abs);
    }
    while (!strncmp(u, "./", 2) || !strncmp(u, "../", 3))
        u += u[1] == '/' ? 2 : 3;
    lo = strlen(opened);
    lu = strlen(u);
    return lu && lo > lu && opened[lo - lu - 1] == '/' &&
           !strcmp(opened + lo - lu, u);
}

/* The first opened URL that names exactly one segment, exact matches
 * first. @returns the segment index, or -1. */
static long match_opened(const struct hls_list *l, const char *base,
                         const char *const *opened, size_t nopened)
{
    for (int loose = 0; loose < 2; loose++) {
        for (size_t k = 0; k < nopened; k++) {
            long found = -1;
            size_t hits = 0;

            for (size_t i = 0; i < l->nsegs; i++)
                if (opened_is(opened[k], base, &l->segs[i], loose)) {
                    if (!hits++)
                        found = (long)i;
                }
            if (hits == 1)
                return found;
        }
    }
    return -1;
}

/* FFmpeg 5.1 hls.c select_cur_seq_no() for a fresh start. */
static size_t rule_start(const struct hls_list *l, long live_start_index)
{
    long n = (long)l->nsegs, i;

    if (l->endlist || !n)
        return 0;
    if (live_start_index < 0)
        i = n + live_start_index < 0 ? 0 : n + live_start_index;
    else
        i = live_start_index < n - 1 ? live_start_index : n - 1;
    return (size_t)i;
}

enum aw_err aw_ingest_hls_start_wall(char *text, const char *base,
                                     const char *const *opened,
                                     size_t nopened, long live_start_index,
                                     struct aw_hls_start *out)
{
    struct hls_list l;
    enum aw_err err;
    long i;

    memset(out, 0, sizeof(*out));
    out->segment = -1;
    err = parse(text, &l);
    if (err != AW_OK)
        return err;
    if (l.nvariants && !l.nsegs) {
        list_free(&l);
        return AW_ERR_INVAL; /* a master playlist: pick a variant first */
    }
    if (!l.nsegs) {
        list_free(&l);
        return AW_ERR_NOT_FOUND;
    }
    i = match_opened(&l, base, opened, nopened);
    out->matched = i >= 0;
    if (i < 0)
        i = (long)rule_start(&l, live_start_index);
    out->segment = i;
    out->segments = l.nsegs;
    out->live = !l.endlist;
    aw_errstr_set(out->uri, sizeof(out->uri), "%s", l.segs[i].uri);
    if (l.segs[i].known) {
        out->wall_ms = l.segs[i].wall_ms;
        out->dated = true;
    }
    list_free(&l);
    return out->dated ? AW_OK : AW_ERR_NOT_FOUND;
}

enum aw_err aw_ingest_hls_variant(char *text, size_t index, const char *base,
                                  char *out, size_t size)
{
    struct hls_list l;
    enum aw_err err = parse(text, &l);

    if (err != AW_OK)
        return err;
    if (!l.nvariants || l.nsegs) {
        list_free(&l);
        return AW_ERR_INVAL; /* a media playlist already */
    }
    if (index >= l.nvariants)
        index = 0;
    resolve(base, l.variants[index], out, size);
    list_free(&l);
    return AW_OK;
}

/* --- fetching -------------------------------------------------------------- */

/* Read \p url with the source's options and interrupt callback. *text is
 * malloc'd and NUL-terminated; \p final gets the URL after redirects. */
static enum aw_err fetch(const char *url, const struct aw_ingest_opts *opts,
                         AVFormatContext *fmt, char **text, char *final,
                         size_t final_size, char *errstr, size_t errstr_size)
{
    AVDictionary *d = NULL;
    AVIOContext *pb = NULL;
    uint8_t *loc = NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    enum aw_err err;
    int ret;

    *text = NULL;
    err = aw_ingest_build_dict(&d, opts, errstr, errstr_size);
    if (err != AW_OK)
        return err;
    /* A playlist has no in-band titles to ask for. */
    (void)av_dict_set(&d, "icy", "0", 0);
    ret = avio_open2(&pb, url, AVIO_FLAG_READ, &fmt->interrupt_callback, &d);
    av_dict_free(&d);
    if (ret < 0) {
        aw_errstr_set(errstr, errstr_size, "%s", av_err2str(ret));
        return AW_ERR_NET;
    }
    aw_errstr_set(final, final_size, "%s", url);
    if (av_opt_get(pb, "location", AV_OPT_SEARCH_CHILDREN, &loc) >= 0 && loc &&
        loc[0])
        aw_errstr_set(final, final_size, "%s", (const char *)loc);
    av_free(loc);
    for (;;) {
        int n;

        if (cap - len < 4096) {
            size_t ncap = cap ? cap * 2 : 16384;
            char *nb;

            if (ncap > HLS_MAX_TEXT + 1)
                ncap = HLS_MAX_TEXT + 1;
            if (ncap - len < 2) {
                aw_errstr_set(errstr, errstr_size, "playlist over %d bytes",
                              HLS_MAX_TEXT);
                err = AW_ERR_TOO_LARGE;
                break;
            }
            nb = realloc(buf, ncap);
            if (!nb) {
                err = AW_ERR_NOMEM;
                aw_errstr_set(errstr, errstr_size, "out of memory");
                break;
            }
            buf = nb;
            cap = ncap;
        }
        n = avio_read(pb, (unsigned char *)buf + len, (int)(cap - len - 1));
        if (n == AVERROR_EOF || n == 0)
            break;
        if (n < 0) {
            aw_errstr_set(errstr, errstr_size, "%s", av_err2str(n));
            err = AW_ERR_NET;
            break;
        }
        len += (size_t)n;
    }
    avio_closep(&pb);
    if (err != AW_OK) {
        free(buf);
        return err;
    }
    if (!buf) {
        buf = malloc(1);
        if (!buf)
            return AW_ERR_NOMEM;
    }
    buf[len] = '\0';
    *text = buf;
    return AW_OK;
}

/* The variant (program id) holding the audio stream we picked; 0 if none. */
static size_t picked_variant(const struct aw_source *src)
{
    const AVFormatContext *fmt = src->fmt;

    for (unsigned p = 0; p < fmt->nb_programs; p++) {
        const AVProgram *prog = fmt->programs[p];

        for (unsigned k = 0; k < prog->nb_stream_indexes; k++)
            if ((int)prog->stream_index[k] == src->stream)
                return prog->id > 0 ? (size_t)prog->id : 0;
    }
    return 0;
}

static long live_start_index(AVFormatContext *fmt)
{
    int64_t v;

    if (av_opt_get_int(fmt, "live_start_index", AV_OPT_SEARCH_CHILDREN, &v) <
        0)
        return HLS_DEFAULT_LSI;
    return (long)v;
}

void aw_ingest_hls_anchor(struct aw_source *src,
                          const struct aw_ingest_opts *opts,
                          struct aw_source_ctl *ctl)
{
    struct aw_hls_watch *w = src->hls;
    struct aw_hls_start start;
    char errstr[256] = "", final[HLS_MAX_URL], url[HLS_MAX_URL];
    char when[32], *text = NULL;
    uint64_t deadline = ctl->deadline_us;
    uint64_t mine = aw_clock_mono_us() + (uint64_t)(HLS_FETCH_TIMEOUT * 1e6);
    enum aw_err err;

    src->hls_dated = false;
    if (!w)
        return;
    w->recording = false;
    if (strcmp(src->fmt->iformat->name, "hls") != 0) {
        forget_opened(w);
        return;
    }
    /* Our fetches get their own deadline inside the open one, so a slow
     * playlist server costs the anchor, not the source. */
    if (!deadline || mine < deadline)
        ctl->deadline_us = mine;

    err = fetch(opts->url, opts, src->fmt, &text, final, sizeof(final), errstr,
                sizeof(errstr));
    if (err == AW_OK) {
        char *copy = strdup(text);

        /* A master playlist: follow it to the variant we listen to. */
        if (!copy) {
            err = AW_ERR_NOMEM;
        } else if (aw_ingest_hls_variant(copy, picked_variant(src), final,
                                         url, sizeof(url)) == AW_OK) {
            free(text);
            text = NULL;
            err = fetch(url, opts, src->fmt, &text, final, sizeof(final),
                        errstr, sizeof(errstr));
        }
        free(copy);
    }
    if (err == AW_OK)
        err = aw_ingest_hls_start_wall(
            text, final, (const char *const *)w->opened, w->nopened,
            live_start_index(src->fmt), &start);
    free(text);

    /* A cut fetch costs the anchor only: the source itself is open, and
     * its reads get deadlines of their own. */
    ctl->timed_out = false;
    ctl->deadline_us = deadline;
    forget_opened(w);

    if (err == AW_OK) {
        char seg[AW_RING_MARK_TEXT];

        src->hls_dated = true;
        src->hls_wall_ms = start.wall_ms;
        /* Segment URIs may carry signed query strings. */
        aw_ingest_redact_url(start.uri, seg, sizeof(seg));
        AW_INFO(MOD, src->stream_id,
                "%s: HLS starts at segment %ld of %zu (%s, %s), "
                "EXT-X-PROGRAM-DATE-TIME %s",
                src->url, start.segment + 1, start.segments, seg,
                start.matched ? "opened by the demuxer"
                              : "live_start_index rule",
                aw_time_format_iso8601(start.wall_ms, when, sizeof(when)));
    } else if (err == AW_ERR_NOT_FOUND) {
        AW_INFO(MOD, src->stream_id,
                "%s: HLS playlist without EXT-X-PROGRAM-DATE-TIME: "
                "timed by the decode clock",
                src->url);
    } else {
        AW_WARN(MOD, src->stream_id,
                "%s: HLS playlist not read for its dates (%s%s%s): timed by "
                "the decode clock",
                src->url, aw_err_name(err), errstr[0] ? ": " : "", errstr);
    }
}
