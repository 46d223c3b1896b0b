/*
 * airwave - the connector's command line.
 *
 *   airwave run --config FILE [--stream ID]
 *   airwave transcribe [options] FILE|URL
 *   airwave check-config FILE
 *   airwave devices
 *
 * The main thread parses arguments, loads the configuration, blocks the
 * signals every other thread inherits, starts the pipeline and then only
 * waits: for a signal, for the pipeline to finish, or for the next progress
 * update. Exit codes follow sysexits(3).
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "airwave/clock.h"
#include "airwave/err.h"
#include "airwave/log.h"
#include "capture/capture.h"
#include "conf/conf.h"
#include "pipeline/pipeline.h"

#ifndef AW_VERSION
#define AW_VERSION "0"
#endif

#define PROG            "airwave"
#define TICK_MS         200
#define WATCH_SETTLE_MS 1000 /* a changed file must rest this long */
#define KEY_MAX_BYTES   1024

static const char usage_text[] =
    "usage: airwave run --config FILE [--stream ID]\n"
    "       airwave transcribe [options] FILE|URL\n"
    "       airwave check-config FILE\n"
    "       airwave devices\n"
    "       airwave --help | --version\n"
    "\n"
    "Turn radio and TV audio into text: decode a source with FFmpeg, stream\n"
    "it to a speech service (Azure Speech, or the bundled airwave-speechd)\n"
    "and publish every recognised phrase to Kafka or as JSON lines.\n"
    "\n"
    "run            run the streams of a configuration file until they end\n"
    "               or SIGINT/SIGTERM (which ends the audio, waits for the\n"
    "               last phrases and flushes Kafka before exiting 0)\n"
    "  -c, --config FILE       YAML configuration (docs/CONFIGURATION.md)\n"
    "  -s, --stream ID         run only this stream (one pod per stream)\n"
    "\n"
    "transcribe     transcribe one file or URL and print the text\n"
    "  -e, --endpoint URL      speech service (default: the local\n"
    "                          airwave-speechd, ws://127.0.0.1:5000/...)\n"
    "  -l, --language TAG      BCP-47 language (default en-US)\n"
    "  -j, --jsonl             print transcript records (JSON lines)\n"
    "  -f, --format F          simple or detailed (default detailed)\n"
    "  -p, --pace X            send at X times real time; 0 = as fast as\n"
    "                          possible (default 0 for a local service,\n"
    "                          else 2)\n"
    "  -c, --config FILE       take other settings from this file\n"
    "  -q, --quiet             no progress line\n"
    "\n"
    "check-config   report every problem of a configuration file, with its\n"
    "               line and key\n"
    "\n"
    "devices        list the sound-card inputs a stream can capture from\n"
    "               (url: portaudio:INDEX, portaudio:NAME or portaudio:)\n"
    "\n"
    "Common options:\n"
    "  --log-level L           error, warn, notice, info or debug\n"
    "  --log-format F          logfmt or json\n"
    "  -h, --help, -V, --version\n"
    "\n"
    "The speech key comes from AZURE_SPEECH_KEY or speech.key_file, never\n"
    "from the command line or the configuration file.\n"
    "Exit status: 0 done; 64 usage; 65 not audio; 66 no such input;\n"
    "69 speech service unavailable or refusing; 74 I/O; 77 key refused;\n"
    "78 configuration error.\n";

/* Output to the terminal comes from two threads (phrases from the service
 * thread, the progress line from this one): one lock keeps lines whole. */
static pthread_mutex_t term_lock = PTHREAD_MUTEX_INITIALIZER;
static bool progress_shown;

static int exit_code(enum aw_err err)
{
    switch (err) {
    case AW_OK:
    case AW_ERR_EOF:
    case AW_ERR_STOPPED:
        return EX_OK;
    case AW_ERR_NOT_FOUND:
        return EX_NOINPUT;
    case AW_ERR_UNSUPPORTED:
        return EX_DATAERR;
    case AW_ERR_AUTH:
        return EX_NOPERM;
    case AW_ERR_INVAL:
        return EX_CONFIG;
    case AW_ERR_IO:
        return EX_IOERR;
    case AW_ERR_NET:
    case AW_ERR_TIMEOUT:
    case AW_ERR_BUSY:
    case AW_ERR_REFUSED:
    case AW_ERR_PROTO:
        return EX_UNAVAILABLE;
    default:
        return EX_SOFTWARE;
    }
}

static void fail_line(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* The one line a user sees when airwave gives up: it names the cause. */
static void fail_line(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        msg[0] = '\0';
    va_end(ap);
    aw_log_redact(msg, sizeof(msg));
    pthread_mutex_lock(&term_lock);
    if (progress_shown)
        fputs("\r\033[K", stderr);
    fprintf(stderr, PROG ": %s\n", msg);
    pthread_mutex_unlock(&term_lock);
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, PROG ": %s%s%s\nTry 'airwave --help'.\n", what,
            arg ? ": " : "", arg ? arg : "");
    return EX_USAGE;
}

/* Read the key from a file: its first line, without the newline. */
static enum aw_err read_key_file(const char *path, char *key, size_t size,
                                 char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f) {
        aw_errstr_set(errstr, errstr_size, "cannot read key file %s: %s", path,
                      strerror(errno));
        return errno == ENOENT ? AW_ERR_NOT_FOUND : AW_ERR_IO;
    }
    if (!fgets(key, (int)size, f))
        key[0] = '\0';
    fclose(f);
    n = strcspn(key, "\r\n");
    key[n] = '\0';
    if (!n) {
        aw_errstr_set(errstr, errstr_size, "key file %s is empty", path);
        return AW_ERR_INVAL;
    }
    return AW_OK;
}

/* The speech key: speech.key_file, else AZURE_SPEECH_KEY, else none. */
static enum aw_err load_key(const struct aw_conf *conf, char *key, size_t size,
                            char *errstr, size_t errstr_size)
{
    const char *env = getenv("AZURE_SPEECH_KEY");
    enum aw_err err = AW_OK;

    key[0] = '\0';
    if (conf->speech_key_file)
        err = read_key_file(conf->speech_key_file, key, size, errstr,
                            errstr_size);
    else if (env && *env)
        snprintf(key, size, "%s", env);
    if (!err && key[0])
        aw_log_add_secret(key);
    return err;
}

static void apply_log_conf(const struct aw_conf *conf)
{
    int level = aw_log_level_parse(conf->log_level);

    if (level >= 0)
        aw_log_threshold = level;
    if (conf->log_format && !strcmp(conf->log_format, "json"))
        aw_log_set_format(AW_LOG_FORMAT_JSON);
}

/* Signals are taken synchronously by the main thread only: block them
 * before any other thread starts, so every thread inherits the mask. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void show_progress(const struct aw_pipeline *p)
{
    struct aw_pipeline_progress pr;
    char line[160];

    if (aw_pipeline_nstreams(p) != 1)
        return;
    aw_pipeline_progress(p, 0, &pr);
    if (pr.total_seconds > 0)
        snprintf(line, sizeof(line), "%7.1f / %.1f s  %3.0f%%  %llu phrases",
                 pr.decoded_seconds, pr.total_seconds,
                 100.0 * pr.decoded_seconds / pr.total_seconds,
                 (unsigned long long)pr.phrases);
    else
        snprintf(line, sizeof(line), "%7.1f s  %llu phrases",
                 pr.decoded_seconds, (unsigned long long)pr.phrases);
    pthread_mutex_lock(&term_lock);
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    progress_shown = true;
    pthread_mutex_unlock(&term_lock);
}

/* Where the configuration file is and what it looked like when loaded. */
struct watch {
    const char *path; /* NULL: nothing to reload (transcribe) */
    struct stat st;
    bool ok;
    bool settling;       /* changed, not yet reloaded */
    uint64_t changed_ms; /* when it last changed */
};

/* Has the file changed since the last call? */
static bool watch_stat_changed(struct watch *w)
{
    struct stat st;

    /* stat() follows symlinks: a Kubernetes ConfigMap update swaps the
     * ..data link, which shows as a new inode here. */
    if (!w->path || stat(w->path, &st))
        return false;
    if (w->ok && st.st_ino == w->st.st_ino && st.st_dev == w->st.st_dev &&
        st.st_size == w->st.st_size &&
        st.st_mtim.tv_sec == w->st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == w->st.st_mtim.tv_nsec)
        return false;
    w->st = st;
    w->ok = true;
    return true;
}

/*
 * Is a changed file ready to load? Only once it has stayed the same for
 * WATCH_SETTLE_MS: an editor or `cat >` truncates the file and writes it
 * after, and a reload in between would stop every stream the half-written
 * file does not name yet.
 */
static bool watch_due(struct watch *w)
{
    uint64_t now = aw_clock_mono_ms();

    if (watch_stat_changed(w)) {
        w->settling = true;
        w->changed_ms = now;
        return false;
    }
    if (!w->settling || now - w->changed_ms < WATCH_SETTLE_MS)
        return false;
    w->settling = false;
    return true;
}

static void apply_log_conf(const struct aw_conf *conf);

/* Load the file again and hand it to the pipeline; a file with errors is
 * refused as a whole and the running configuration stays. */
static void reload(struct aw_pipeline *p, const char *path, const char *why)
{
    struct aw_conf conf;
    char errs[8192], errstr[512];

    AW_INFO("main", NULL, "%s: reloading %s", why, path);
    if (aw_conf_load(&conf, path, errs, sizeof(errs))) {
        for (char *line = strtok(errs, "\n"); line; line = strtok(NULL, "\n"))
            AW_ERROR("main", NULL, "reload refused: %s", line);
        aw_conf_free(&conf);
        return;
    }
    apply_log_conf(&conf);
    if (aw_pipeline_reload(p, &conf, errstr, sizeof(errstr))) {
        AW_ERROR("main", NULL, "reload refused: %s", errstr);
        aw_conf_free(&conf);
    }
}

/*
 * Run a pipeline to its end: until every stream is done, or a signal asks
 * for a graceful stop (a second one cuts the wait short). SIGHUP, or a
 * change of the file, reloads the configuration.
 */
static int run_pipeline(struct aw_pipeline *p, const sigset_t *sigs,
                        bool progress, uint64_t stop_grace_ms,
                        const char *conf_path)
{
    struct timespec tick = {0, TICK_MS * 1000000L};
    struct watch w = {.path = conf_path};
    uint64_t stop_deadline = 0;
    char msg[512];
    enum aw_err err;
    size_t left;
    int code;

    watch_stat_changed(&w);
    err = aw_pipeline_start(p);
    if (err) {
        fail_line("cannot start: %s", aw_err_str(err));
        aw_pipeline_destroy(p);
        return EX_OSERR;
    }
    while (!aw_pipeline_done(p)) {
        int sig = sigtimedwait(sigs, NULL, &tick);

        if (sig == SIGINT || sig == SIGTERM) {
            if (stop_deadline) {
                AW_WARN("main", NULL, "second signal: not waiting any more");
                break;
            }
            aw_pipeline_stop(p);
            stop_deadline = aw_clock_mono_ms() + stop_grace_ms;
        } else if (!stop_deadline && conf_path &&
                   (sig == SIGHUP || watch_due(&w))) {
            /* What is loaded now is what the next change compares with. */
            watch_stat_changed(&w);
            w.settling = false;
            reload(p, conf_path, sig == SIGHUP ? "SIGHUP" : "file changed");
        }
        aw_pipeline_maintain(p);
        if (stop_deadline && aw_clock_mono_ms() >= stop_deadline) {
            AW_WARN("main", NULL, "streams did not finish in time");
            break;
        }
        if (progress)
            show_progress(p);
    }
    if (progress && progress_shown) {
        pthread_mutex_lock(&term_lock);
        fputs("\r\033[K", stderr);
        progress_shown = false;
        pthread_mutex_unlock(&term_lock);
    }
    err = aw_pipeline_error(p, msg, sizeof(msg));
    left = aw_pipeline_destroy(p);
    if (err) {
        fail_line("%s", msg);
        return exit_code(err);
    }
    code = EX_OK;
    if (left) {
        fail_line("%zu transcripts could not be delivered to Kafka", left);
        code = EX_UNAVAILABLE;
    }
    return code;
}

/*
 * The end shared by run and transcribe: the key, the pipeline, the wait.
 * Takes \p conf over.
 */
static int run_conf(struct aw_conf *conf, struct aw_pipeline_opts *po,
                    const sigset_t *sigs, bool progress, const char *conf_path)
{
    char key[KEY_MAX_BYTES], errstr[1024];
    struct aw_pipeline *p;
    uint64_t grace_ms;

    if (load_key(conf, key, sizeof(key), errstr, sizeof(errstr))) {
        fail_line("%s", errstr);
        aw_conf_free(conf);
        return EX_CONFIG;
    }
    /* After a stop request: the last phrases, then the Kafka flush. */
    grace_ms =
        (uint64_t)(conf->speech_final_timeout_seconds * 1000) +
        (conf->kafka_enabled ? (uint64_t)conf->kafka_flush_timeout_ms : 0) +
        5000;
    po->key = key[0] ? key : NULL;
    p = aw_pipeline_new(po, conf, errstr, sizeof(errstr));
    if (!p) {
        fail_line("%s", errstr);
        return EX_CONFIG;
    }
    return run_pipeline(p, sigs, progress, grace_ms, conf_path);
}

/* --- run ----------------------------------------------------------------- */

static const struct option run_longopts[] = {
    {"config", required_argument, NULL, 'c'},
    {"stream", required_argument, NULL, 's'},
    {"log-level", required_argument, NULL, 'L'},
    {"log-format", required_argument, NULL, 'F'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int set_log_option(struct aw_conf *conf, const char *key,
                          const char *value)
{
    char errstr[256];

    if (aw_conf_set(conf, key, value, errstr, sizeof(errstr))) {
        fprintf(stderr, PROG ": %s\n", errstr);
        return EX_USAGE;
    }
    return 0;
}

static int load_conf(struct aw_conf *conf, const char *path)
{
    char errs[8192];
    enum aw_err err;

    err = aw_conf_load(conf, path, errs, sizeof(errs));
    if (err) {
        fputs(errs, stderr);
        if (errs[0] && errs[strlen(errs) - 1] != '\n')
            fputc('\n', stderr);
        return err == AW_ERR_NOT_FOUND ? EX_NOINPUT : EX_CONFIG;
    }
    return 0;
}

static int cmd_run(int argc, char **argv, const sigset_t *sigs)
{
    const char *path = NULL, *stream = NULL, *level = NULL, *format = NULL;
    struct aw_pipeline_opts po;
    struct aw_conf conf;
    int c, code;

    while ((c = getopt_long(argc, argv, "c:s:h", run_longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 's':
            stream = optarg;
            break;
        case 'L':
            level = optarg;
            break;
        case 'F':
            format = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return EX_OK;
        default:
            return usage_error("bad option for run", NULL);
        }
    }
    if (!path)
        return usage_error("run needs --config FILE", NULL);
    if (optind < argc)
        return usage_error("unexpected argument", argv[optind]);

    code = load_conf(&conf, path);
    if (!code && level)
        code = set_log_option(&conf, "log.level", level);
    if (!code && format)
        code = set_log_option(&conf, "log.format", format);
    if (code) {
        aw_conf_free(&conf);
        return code;
    }
    apply_log_conf(&conf);
    memset(&po, 0, sizeof(po));
    po.only_stream = stream;
    po.mode = AW_PIPELINE_SERVICE;
    po.jsonl_events = true;
    return run_conf(&conf, &po, sigs, false, path);
}

/* --- transcribe ---------------------------------------------------------- */

static void print_phrase(void *opaque, const struct aw_transcript *t)
{
    (void)opaque;
    pthread_mutex_lock(&term_lock);
    if (progress_shown)
        fputs("\r\033[K", stderr);
    fprintf(stdout, "%s\n", t->text);
    fflush(stdout);
    pthread_mutex_unlock(&term_lock);
}

/* A stream id from the input's name: what users will see in records. */
static void stream_id_for(const char *input, char *id, size_t size)
{
    char tmp[512], *base, *dot;
    size_t n = 0;

    snprintf(tmp, sizeof(tmp), "%s", input);
    base = strrchr(tmp, '/');
    base = base && base[1] ? base + 1 : tmp;
    dot = strrchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    for (const char *s = base; *s && n + 1 < size && n < 64; s++) {
        char ch = *s;

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
            ch = '_';
        id[n++] = ch;
    }
    id[n] = '\0';
    if (!n)
        snprintf(id, size, "transcribe");
}

static bool is_loopback_url(const char *url)
{
    const char *h = strstr(url, "://");

    if (!h)
        return false;
    h += 3;
    return !strncmp(h, "127.", 4) || !strncmp(h, "localhost", 9) ||
           !strncmp(h, "[::1]", 5);
}

static const struct option tr_longopts[] = {
    {"endpoint", required_argument, NULL, 'e'},
    {"language", required_argument, NULL, 'l'},
    {"jsonl", no_argument, NULL, 'j'},
    {"format", required_argument, NULL, 'f'},
    {"pace", required_argument, NULL, 'p'},
    {"config", required_argument, NULL, 'c'},
    {"quiet", no_argument, NULL, 'q'},
    {"log-level", required_argument, NULL, 'L'},
    {"log-format", required_argument, NULL, 'F'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int cmd_transcribe(int argc, char **argv, const sigset_t *sigs)
{
    const char *endpoint = NULL, *language = NULL, *format = NULL;
    const char *pace = NULL, *path = NULL, *level = NULL, *logfmt = NULL;
    bool jsonl = false, quiet = false;
    struct aw_pipeline_opts po;
    struct aw_conf conf;
    char errstr[1024] = "", id[72];
    int c, code = 0;

    while ((c = getopt_long(argc, argv, "e:l:jf:p:c:qh", tr_longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'e':
            endpoint = optarg;
            break;
        case 'l':
            language = optarg;
            break;
        case 'j':
            jsonl = true;
            break;
        case 'f':
            format = optarg;
            break;
        case 'p':
            pace = optarg;
            break;
        case 'c':
            path = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'L':
            level = optarg;
            break;
        case 'F':
            logfmt = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return EX_OK;
        default:
            return usage_error("bad option for transcribe", NULL);
        }
    }
    if (optind + 1 != argc)
        return usage_error("transcribe needs exactly one FILE or URL", NULL);

    /* Quiet by default: the one line that matters on failure is printed by
     * fail_line(); --log-level shows the rest. */
    aw_log_threshold = AW_LOG_ERROR - 1;
    if (path) {
        code = load_conf(&conf, path);
    } else if (aw_conf_defaults(&conf) ||
               aw_conf_apply_env(&conf, errstr, sizeof(errstr))) {
        fputs(errstr, stderr);
        if (errstr[0] && errstr[strlen(errstr) - 1] != '\n')
            fputc('\n', stderr);
        code = EX_CONFIG;
    }
    {
        const struct {
            const char *key, *value;
        } sets[] = {
            {"speech.endpoint", endpoint}, {"speech.language", language},
            {"speech.format", format},     {"speech.pace", pace},
            {"log.format", logfmt},
        };


        for (size_t i = 0; !code && i < AW_ARRAY_SIZE(sets); i++) {
            if (!sets[i].value)
                continue;
            if (aw_conf_set(&conf, sets[i].key, sets[i].value, errstr,
                            sizeof(errstr))) {
                fprintf(stderr, PROG ": %s\n", errstr);
                code = EX_USAGE;
            }
        }
    }
    if (!code && level)
        code = set_log_option(&conf, "log.level", level);
    if (code) {
        aw_conf_free(&conf);
        return code;
    }
    if (level) {
        apply_log_conf(&conf);
    } else if (logfmt) {
        apply_log_conf(&conf);
        aw_log_threshold = AW_LOG_ERROR - 1;
    }
    if (!pace && is_loopback_url(conf.speech_endpoint))
        conf.speech_pace = 0; /* a local service keeps up: no need to wait */
    /* transcribe prints; Kafka only if the configuration asks for it. */
    free(conf.output_jsonl);
    conf.output_jsonl = jsonl ? strdup("-") : NULL;
    stream_id_for(argv[optind], id, sizeof(id));
    if (aw_conf_add_stream(&conf, id, argv[optind], errstr, sizeof(errstr))) {
        fail_line("%s", errstr);
        aw_conf_free(&conf);
        return EX_USAGE;
    }
    memset(&po, 0, sizeof(po));
    po.mode = AW_PIPELINE_ONESHOT;
    po.on_transcript = jsonl ? NULL : print_phrase;
    return run_conf(&conf, &po, sigs, !quiet && isatty(STDERR_FILENO), NULL);
}

/* --- check-config -------------------------------------------------------- */

static int cmd_check_config(int argc, char **argv)
{
    struct aw_conf conf;
    int code;

    if (argc != 2)
        return usage_error("check-config needs exactly one FILE", NULL);
    code = load_conf(&conf, argv[1]);
    if (!code)
        printf("%s: ok, %zu stream%s\n", argv[1], conf.nstreams,
               conf.nstreams == 1 ? "" : "s");
    aw_conf_free(&conf);
    return code;
}

/* --- devices ------------------------------------------------------------ */

static int cmd_devices(int argc, char **argv)
{
    char errstr[512];

    (void)argv;
    if (argc != 1)
        return usage_error("devices takes no argument", NULL);
    if (aw_capture_list_devices(stdout, errstr, sizeof(errstr))) {
        fail_line("%s", errstr);
        return EX_UNAVAILABLE;
    }
    return EX_OK;
}

int main(int argc, char **argv)
{
    sigset_t sigs;
    const char *cmd;

    if (argc < 2)
        return usage_error("a command is needed", NULL);
    cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage_text, stdout);
        return EX_OK;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf("airwave %s\n", AW_VERSION);
        return EX_OK;
    }
    block_signals(&sigs);
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1, &sigs);
    if (!strcmp(cmd, "transcribe"))
        return cmd_transcribe(argc - 1, argv + 1, &sigs);
    if (!strcmp(cmd, "check-config"))
        return cmd_check_config(argc - 1, argv + 1);
    if (!strcmp(cmd, "devices"))
        return cmd_devices(argc - 1, argv + 1);
    return usage_error("unknown command", cmd);
}
