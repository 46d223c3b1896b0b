/*
 * Source URLs: redaction for everything that leaves the process (marks,
 * logs, transcripts) and classification (file or network, which protocol).
 *
 * Redaction is deliberately blunt: it drops the whole userinfo, query and
 * fragment rather than guessing which parameters are secrets; HLS and CDN
 * tokens live in queries. Secrets registered with aw_log_add_secret() are
 * scrubbed as well, for tokens hidden in a path.
 *
 * @locality any thread (pure functions)
 */
#include "ingest/ingest.h"

#include <string.h>

#include "airwave/log.h"
#include "ingest/ingest_int.h"

static bool is_scheme_char(char c, bool first)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
        return true;
    return !first &&
           ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
}

size_t aw_ingest_url_scheme(const char *url, char *out, size_t size)
{
    size_t n = 0;

    if (size)
        out[0] = '\0';
    if (!url)
        return 0;
    while (url[n] && is_scheme_char(url[n], n == 0))
        n++;
    /* One letter before ':' would be a DOS drive, and is a path to FFmpeg
     * too unless such a protocol exists: treat it as a path. */
    if (n < 2 || url[n] != ':')
        return 0;
    if (size) {
        size_t k = n < size - 1 ? n : size - 1;

        for (size_t i = 0; i < k; i++) {
            char c = url[i];

            if (c >= 'A' && c <= 'Z')
                c = (char)(c + ('a' - 'A'));
            out[i] = c;
        }
        out[k] = '\0';
    }
    return n;
}

/* Protocols whose data arrive over a network. The first group is live by
 * nature (no end, no seeking) whatever the demuxer reports. */
static const char *const stream_schemes[] = {
    "rtmp",  "rtmps", "rtmpe", "rtmpt", "rtmpte",  "rtmpts", "rtsp",
    "rtsps", "rtp",   "srtp",  "udp",   "srt",     "tcp",    "mms",
    "mmsh",  "mmst",  "rist",  "unix",  "icecast",
};
static const char *const net_schemes[] = {
    "http", "https", "hls", "ftp", "sftp", "tls", "crypto", "gopher",
};

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, list[i]))
            return true;
    return false;
}

bool aw_ingest_url_is_stream(const char *url)
{
    char scheme[16];

    if (!aw_ingest_url_scheme(url, scheme, sizeof(scheme)))
        return false;
    return in_list(scheme, stream_schemes, AW_ARRAY_SIZE(stream_schemes));
}

bool aw_ingest_url_is_network(const char *url)
{
    char scheme[16];

    if (!aw_ingest_url_scheme(url, scheme, sizeof(scheme)))
        return false;
    /* "hls+http:" and the like name the transport after the '+'. */
    return in_list(scheme, stream_schemes, AW_ARRAY_SIZE(stream_schemes)) ||
           in_list(scheme, net_schemes, AW_ARRAY_SIZE(net_schemes)) ||
           strstr(scheme, "+http") != NULL;
}

bool aw_ingest_url_is_http(const char *url)
{
    char scheme[16];

    if (!aw_ingest_url_scheme(url, scheme, sizeof(scheme)))
        return false;
    return !strcmp(scheme, "http") || !strcmp(scheme, "https");
}

char *aw_ingest_redact_url(const char *url, char *out, size_t size)
{
    size_t scheme_len, o = 0, i;
    const char *auth, *p;

    if (!size)
        return out;
    out[0] = '\0';
    if (!url)
        return out;
    scheme_len = aw_ingest_url_scheme(url, NULL, 0);

    if (!scheme_len) {
        /* A plain path: nothing to hide but registered secrets. */
        aw_errstr_set(out, size, "%s", url);
        aw_log_redact(out, size);
        return out;
    }

    /* scheme ":" ["//" authority] path: copy the scheme and, when there is
     * an authority, drop its userinfo (everything up to the last '@' before
     * the path starts). */
    auth = url + scheme_len + 1;
    p = auth;
    if (auth[0] == '/' && auth[1] == '/') {
        const char *host = auth + 2, *end = host, *at = NULL;

        while (*end && *end != '/' && *end != '?' && *end != '#') {
            if (*end == '@')
                at = end;
            end++;
        }
        if (at)
            host = at + 1;
        for (i = 0; url + i < auth + 2 && o + 1 < size; i++)
            out[o++] = url[i];
        for (const char *q = host; q < end && o + 1 < size; q++)
            out[o++] = *q;
        p = end;
    } else {
        for (i = 0; url + i < auth && o + 1 < size; i++)
            out[o++] = url[i];
    }
    /* The path, up to the query or fragment. */
    for (; *p && *p != '?' && *p != '#' && o + 1 < size; p++)
        out[o++] = *p;
    out[o] = '\0';
    aw_log_redact(out, size);
    return out;
}
