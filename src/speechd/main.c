/*
 * airwave-speechd - command line: an Azure-compatible speech service that
 * decodes with PocketSphinx. Runs in the foreground, logs to stderr, stops
 * cleanly on SIGTERM or SIGINT. Usage and protocol: docs/speechd.md.
 *
 * Threads: main parses the command line, blocks SIGINT/SIGTERM in every
 * thread (before any is created), starts the service and then waits for a
 * signal with sigwait(); the service's own threads are described in
 * speechd/server.h.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airwave/err.h"
#include "airwave/log.h"
#include "speechd/engine.h"
#include "speechd/server.h"

#ifndef AW_VERSION
#define AW_VERSION "0.0.0"
#endif

#define MOD       "speechd"
#define MAX_LANGS 32
#define MAX_KEY   1024
#define GRACE_MS  3000

struct cli {
    struct aw_speechd_conf conf;
    const char *port_file;
    const char *key_file;
    char host[256];
    char *langs_buf;
    const char *langs[MAX_LANGS + 1];
    char key[MAX_KEY];
    bool help, version;
};

struct opt {
    const char *name;
    const char *arg; /* NULL: a flag */
    const char *help;
    int (*set)(struct cli *c, const char *v);
};

/* ---- output ------------------------------------------------------------- */

static void out(FILE *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Help and command-line errors: nothing to do if the terminal is gone. */
static void out(FILE *f, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vfprintf(f, fmt, ap);
    va_end(ap);
}

/* ---- option setters ----------------------------------------------------- */

static int parse_uint(const char *v, unsigned long min, unsigned long max,
                      unsigned long *out)
{
    char *end;
    unsigned long n;

    if (!v || !*v || *v == '-')
        return -1;
    errno = 0;
    n = strtoul(v, &end, 10);
    if (errno || *end || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

static int set_listen(struct cli *c, const char *v)
{
    const char *colon = strrchr(v, ':');
    unsigned long port;
    size_t hlen;

    if (!colon || parse_uint(colon + 1, 0, 65535, &port))
        return -1;
    hlen = (size_t)(colon - v);
    if (hlen >= 2 && v[0] == '[' && v[hlen - 1] == ']') { /* [::1]:5000 */
        v++;
        hlen -= 2;
    }
    if (hlen >= sizeof(c->host))
        return -1;
    memcpy(c->host, v, hlen);
    c->host[hlen] = '\0';
    /* lws binds addresses or interface names, not host names. */
    if (!strcmp(c->host, "localhost"))
        memcpy(c->host, "127.0.0.1", sizeof("127.0.0.1"));
    c->conf.host = hlen && strcmp(c->host, "*") != 0 ? c->host : NULL;
    c->conf.port = (int)port;
    return 0;
}

static int set_port_file(struct cli *c, const char *v)
{
    c->port_file = v;
    return 0;
}

static int set_engine(struct cli *c, const char *v)
{
    c->conf.engine = aw_speechd_engine_find(v);
    return c->conf.engine ? 0 : -1;
}

static int set_model_dir(struct cli *c, const char *v)
{
    c->conf.engine_conf.model_dir = v;
    return 0;
}

static int set_languages(struct cli *c, const char *v)
{
    size_t n = 0;
    char *p, *save = NULL;

    free(c->langs_buf);
    c->langs_buf = strdup(v);
    if (!c->langs_buf)
        return -1;
    for (p = strtok_r(c->langs_buf, ", ", &save); p && n < MAX_LANGS;
         p = strtok_r(NULL, ", ", &save))
        c->langs[n++] = p;
    c->langs[n] = NULL;
    c->conf.languages = c->langs;
    return n ? 0 : -1;
}

static int set_key_file(struct cli *c, const char *v)
{
    c->key_file = v;
    return 0;
}

static int set_tls_cert(struct cli *c, const char *v)
{
    c->conf.tls_cert = v;
    return 0;
}

static int set_tls_key(struct cli *c, const char *v)
{
    c->conf.tls_key = v;
    return 0;
}

#define UINT_SETTER(fn, field, min, max)                                       \
    static int fn(struct cli *c, const char *v)                                \
    {                                                                          \
        unsigned long n;                                                       \
                                                                               \
        if (parse_uint(v, min, max, &n))                                       \
            return -1;                                                         \
        c->conf.field = n;                                                     \
        return 0;                                                              \
    }

UINT_SETTER(set_max_conn, max_connection_s, 0, 86400 * 365)
UINT_SETTER(set_idle, idle_timeout_s, 0, 86400 * 365)
UINT_SETTER(set_max_sessions, max_sessions, 1, 100000)
UINT_SETTER(set_max_message, max_message_bytes, 1024, 64 * 1024 * 1024)
UINT_SETTER(set_workers, workers, 1, 1024)
UINT_SETTER(set_silence, initial_silence_ms, 0, 3600000)
UINT_SETTER(set_queue, queue_ms, 500, 600000)
UINT_SETTER(set_hyp, engine_conf.hyp_interval_ms, 0, 60000)
UINT_SETTER(set_idle_decoders, engine_conf.max_idle_streams, 0, 1024)
UINT_SETTER(set_max_speed, max_speed_pct, 0, 100000)
UINT_SETTER(set_token_seconds, token_lifetime_s, 1, 86400)

static int set_log_level(struct cli *c, const char *v)
{
    int level = aw_log_level_parse(v);

    (void)c;
    if (level < 0)
        return -1;
    aw_log_threshold = level;
    return 0;
}

static int set_log_format(struct cli *c, const char *v)
{
    (void)c;
    if (!strcmp(v, "logfmt"))
        aw_log_set_format(AW_LOG_FORMAT_LOGFMT);
    else if (!strcmp(v, "json"))
        aw_log_set_format(AW_LOG_FORMAT_JSON);
    else
        return -1;
    return 0;
}

static int set_help(struct cli *c, const char *v)
{
    (void)v;
    c->help = true;
    return 0;
}

static int set_version(struct cli *c, const char *v)
{
    (void)v;
    c->version = true;
    return 0;
}

/* One row per option: the parser and --help both read this table. */
static const struct opt opts[] = {
    {"--listen", "HOST:PORT",
     "address and port to listen on; port 0 picks a free port\n"
     "(default 127.0.0.1:5000); HOST is an address or an interface name,\n"
     "* = all interfaces, [::1]:PORT for IPv6",
     set_listen},
    {"--port-file", "PATH",
     "once listening, write the bound port and a newline to PATH\n"
     "(written to a temporary name, then renamed)",
     set_port_file},
    {"--engine", "NAME",
     "pocketsphinx (default): decode with PocketSphinx;\n"
     "null: speaks the full protocol but recognises nothing: for "
     "benchmarking clients",
     set_engine},
    {"--model-dir", "DIR",
     "PocketSphinx model: en-us/, en-us.lm.bin, cmudict-en-us.dict\n"
     "(default " AW_PS_MODEL_DIR ")",
     set_model_dir},
    {"--languages", "LIST",
     "comma-separated locales accepted (default en-US); others are closed\n"
     "with 1007 \"Unsupported locale: <tag>.\"",
     set_languages},
    {"--key-file", "PATH",
     "subscription key clients must send (first line of PATH); else the\n"
     "environment variable AIRWAVE_SPEECHD_KEY; neither: anyone is accepted",
     set_key_file},
    {"--tls-cert", "PATH",
     "PEM certificate: serve wss:// only (with --tls-key)", set_tls_cert},
    {"--tls-key", "PATH", "PEM private key of --tls-cert", set_tls_key},
    {"--max-connection-seconds", "N",
     "close a connection with 1000 after N seconds, even mid-turn "
     "(default 600;\n0 = never), as the service does: clients must rotate",
     set_max_conn},
    {"--idle-timeout-seconds", "N",
     "close with 1000 after N seconds without a message either way\n"
     "(default 180; 0 = never)",
     set_idle},
    {"--max-sessions", "N",
     "concurrent sessions; more are refused with HTTP 503 (default 64)",
     set_max_sessions},
    {"--max-message-bytes", "N",
     "largest websocket message; bigger closes with 1009 (default 73728)",
     set_max_message},
    {"--workers", "N", "decoding threads (default: the number of CPUs)",
     set_workers},
    {"--initial-silence-ms", "N",
     "InitialSilenceTimeout after N ms of audio without speech "
     "(default 5000;\n0 = never); clients override it per connection",
     set_silence},
    {"--max-queued-audio-ms", "N",
     "audio queued per session before the server stops reading from\n"
     "that client (backpressure; default 10000)",
     set_queue},
    {"--max-idle-decoders", "N",
     "decoders each worker keeps for new sessions after theirs end\n"
     "(default 8; each holds about 50 MB)",
     set_idle_decoders},
    {"--hypothesis-interval-ms", "N",
     "speech.hypothesis at most every N ms of audio (default 300; 0 = none)",
     set_hyp},
    {"--token-seconds", "N",
     "lifetime of the bearer tokens POST /sts/v1.0/issueToken hands out\n"
     "for the key (default 600, as Azure's)",
     set_token_seconds},
    {"--max-speed", "PERCENT",
     "decode each session no faster than PERCENT of real time, e.g. 50:\n"
     "a service that falls behind, for testing clients (default 0 = as\n"
     "fast as the CPU allows)",
     set_max_speed},
    {"--log-level", "LEVEL", "error, warn, info (default) or debug",
     set_log_level},
    {"--log-format", "FORMAT", "logfmt (default) or json", set_log_format},
    {"--help", NULL, "show this help and exit", set_help},
    {"--version", NULL, "show the version and exit", set_version},
};

static void usage(FILE *f)
{
    out(f, "usage: airwave-speechd [options]\n\n"
           "An Azure Speech compatible speech-to-text service (websocket "
           "protocol,\npaths /speech/recognition/{conversation,interactive,"
           "dictation}/cognitiveservices/v1)\ndecoding with PocketSphinx. "
           "Runs in the foreground; SIGTERM or SIGINT stops it.\n\n"
           "options:\n");
    for (size_t i = 0; i < AW_ARRAY_SIZE(opts); i++) {
        const char *h = opts[i].help;

        out(f, "  %s%s%s\n", opts[i].name, opts[i].arg ? " " : "",
            opts[i].arg ? opts[i].arg : "");
        while (*h) {
            size_t n = strcspn(h, "\n");

            out(f, "      %.*s\n", (int)n, h);
            h += n;
            if (*h)
                h++;
        }
    }
    out(f, "\nDocumentation: docs/speechd.md\n");
}

static int parse_args(struct cli *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL, *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        const struct opt *o = NULL;

        for (size_t k = 0; k < AW_ARRAY_SIZE(opts); k++)
            if (strlen(opts[k].name) == nlen && !strncmp(opts[k].name, a, nlen))
                o = &opts[k];
        if (!o) {
            out(stderr, "airwave-speechd: unknown option %s (see --help)\n", a);
            return -1;
        }
        if (o->arg) {
            if (eq)
                v = eq + 1;
            else if (i + 1 < argc)
                v = argv[++i];
            else {
                out(stderr, "airwave-speechd: %s needs %s\n", o->name, o->arg);
                return -1;
            }
        } else if (eq) {
            out(stderr, "airwave-speechd: %s takes no value\n", o->name);
            return -1;
        }
        if (o->set(c, v)) {
            out(stderr, "airwave-speechd: bad value for %s: %s\n", o->name,
                v ? v : "");
            return -1;
        }
    }
    return 0;
}

/* ---- key, port file ----------------------------------------------------- */

static int load_key(struct cli *c)
{
    const char *env = getenv("AIRWAVE_SPEECHD_KEY");
    size_t n;

    if (c->key_file) {
        FILE *f = fopen(c->key_file, "r");

        if (!f) {
            out(stderr, "airwave-speechd: %s: %s\n", c->key_file,
                strerror(errno));
            return -1;
        }
        if (!fgets(c->key, sizeof(c->key), f))
            c->key[0] = '\0';
        (void)fclose(f);
    } else if (env) {
        aw_errstr_set(c->key, sizeof(c->key), "%s", env);
    } else {
        return 0;
    }
    n = strcspn(c->key, "\r\n");
    c->key[n] = '\0';
    if (!n) {
        out(stderr, "airwave-speechd: the key is empty\n");
        return -1;
    }
    aw_log_add_secret(c->key);
    c->conf.key = c->key;
    return 0;
}

static int write_port_file(const char *path, int port)
{
    char tmp[PATH_MAX];
    FILE *f;

    aw_errstr_set(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "w");
    if (!f)
        return -1;
    if (fprintf(f, "%d\n", port) < 0) {
        (void)fclose(f);
        (void)unlink(tmp);
        return -1;
    }
    if (fclose(f) || rename(tmp, path)) {
        (void)unlink(tmp);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct cli c;
    struct aw_speechd *sd = NULL;
    char errstr[512];
    sigset_t sigs;
    long ncpu;
    int sig = 0, rc = 1;

    memset(&c, 0, sizeof(c));
    aw_speechd_conf_defaults(&c.conf);
    ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    c.conf.workers = ncpu > 0 ? (unsigned)ncpu : 1;
    aw_errstr_set(c.host, sizeof(c.host), "%s", c.conf.host);
    c.conf.host = c.host;
    aw_log_set_src_key("session");

    if (parse_args(&c, argc, argv))
        goto out;
    if (c.help) {
        usage(stdout);
        rc = 0;
        goto out;
    }
    if (c.version) {
        out(stdout, "airwave-speechd %s\n", AW_VERSION);
        rc = 0;
        goto out;
    }
    if (!c.conf.tls_cert != !c.conf.tls_key) {
        out(stderr, "airwave-speechd: --tls-cert and --tls-key go "
                    "together\n");
        goto out;
    }
    if (load_key(&c))
        goto out;

    /* Every thread inherits this mask: only sigwait() below sees them. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    (void)signal(SIGPIPE, SIG_IGN);

    sd = aw_speechd_new(&c.conf, errstr, sizeof(errstr));
    if (!sd) {
        AW_ERROR(MOD, NULL, "%s", errstr);
        goto out;
    }
    if (aw_speechd_start(sd)) {
        AW_ERROR(MOD, NULL, "cannot start the service thread");
        goto out;
    }
    if (c.port_file && write_port_file(c.port_file, aw_speechd_port(sd))) {
        AW_ERROR(MOD, NULL, "%s: cannot write the port file: %s", c.port_file,
                 strerror(errno));
        goto out;
    }
    AW_INFO(MOD, NULL,
            "listening on %s://%s:%d engine=%s workers=%u max_sessions=%u "
            "auth=%s",
            c.conf.tls_cert ? "wss" : "ws", c.conf.host ? c.conf.host : "*",
            aw_speechd_port(sd), c.conf.engine->name, c.conf.workers,
            c.conf.max_sessions, c.conf.key ? "key" : "none");

    while (sigwait(&sigs, &sig) == EINTR)
        ;
    AW_INFO(MOD, NULL, "stopping on signal %d: %zu session(s) open", sig,
            aw_speechd_sessions(sd));
    aw_speechd_shutdown(sd, GRACE_MS);
    rc = 0;

out:
    aw_speechd_destroy(sd);
    if (sig)
        AW_INFO(MOD, NULL, "stopped");
    free(c.langs_buf);
    aw_log_clear_secrets();
    return rc;
}
