/*
 * Configuration: one YAML file -> struct aw_conf.
 *
 * One property table (conf_table.c) drives parsing, defaults, validation,
 * environment overrides (AIRWAVE_<KEY>, e.g. AIRWAVE_SPEECH_FORMAT) and the
 * generated reference docs/CONFIGURATION.md. `kafka.*` keys that are not
 * ours pass through to librdkafka and `ffmpeg.*` keys to libavformat, so
 * their whole feature sets are available without re-modelling; each is
 * checked at load time by asking the library (conf_passthru.c) and stored,
 * not applied: the sink and ingest apply them. Secrets never
 * come from the file: the speech key comes from AZURE_SPEECH_KEY or
 * speech.key_file.
 *
 * Precedence: built-in defaults < file < environment < command line.
 * Every problem is reported as "FILE:LINE: KEY: what is wrong".
 */
#ifndef AW_CONF_CONF_H
#define AW_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "airwave/err.h"

/** A pass-through option; line is where it was set (0: environment or
 *  command line). */
struct aw_kv {
    char *key;
    char *value;
    int line;
};

enum aw_speech_format {
    AW_SPEECH_FORMAT_SIMPLE,
    AW_SPEECH_FORMAT_DETAILED,
};

enum aw_live_mode {
    AW_LIVE_AUTO, /* live unless the source has a duration and can seek */
    AW_LIVE_YES,
    AW_LIVE_NO,
};

struct aw_stream_conf {
    char *id;             /* [A-Za-z0-9._-]{1,64}: Kafka key, metric label */
    char *url;            /* file path, file:, http(s):, rtmp:, rtsp:, udp:,
                             portaudio:DEVICE */
    char *language;       /* NULL: speech.language */
    int audio_track;      /* stream index to use; -1: best audio stream */
    char *audio_language; /* TV: pick the audio track with this language */
    enum aw_live_mode live;
    double pace;          /* < 0: speech.pace */
    struct aw_kv *ffmpeg; /* per-stream ffmpeg.* options, over the global */
    size_t nffmpeg;
    int line; /* where the entry starts in the file */
};

/* Limits on untrusted input: a configuration larger than these is refused,
 * not truncated. */
#define AW_CONF_MAX_FILE_BYTES  (1024 * 1024)
#define AW_CONF_MAX_DEPTH       32    /* nested mappings */
#define AW_CONF_MAX_STREAMS     10000 /* entries under streams: */
#define AW_CONF_MAX_KEYS        4096  /* keys per scope (top level, a stream) */
#define AW_CONF_MAX_PASSTHROUGH 256   /* kafka.* or ffmpeg.* entries per list */

struct aw_conf {
    char *path; /* the file loaded, for messages */

    /* speech */
    char *speech_provider; /* "azure" */
    char *speech_endpoint; /* ws:// or wss:// URL of the recognition path;
                              derived from speech_region unless set */
    char *speech_region;   /* Azure region, e.g. "westeurope"; NULL: none */
    char *speech_language; /* BCP-47, default "en-US" */
    enum aw_speech_format speech_format;
    bool speech_word_timings;
    char *speech_key_file;        /* NULL: AZURE_SPEECH_KEY, or no key */
    char *speech_token_endpoint;  /* issueToken URL: bearer tokens if set */
    char *speech_ca_file;         /* extra CA bundle for wss:// */
    bool speech_tls_verify;       /* default true */
    double speech_rotate_seconds; /* rotate connections after this (540) */
    double speech_rotate_grace_seconds; /* wait this long for a pause (45) */
    int speech_chunk_ms;                /* audio per message (100) */
    double speech_pace; /* files: multiple of real time (2); 0: unpaced */
    double speech_connect_timeout_seconds;
    double speech_final_timeout_seconds; /* wait for last phrases (15) */

    /* kafka */
    bool kafka_enabled;       /* true when kafka.bootstrap.servers is set */
    char *kafka_topic;        /* "transcripts" */
    char *kafka_events_topic; /* "stream-events" */
    int kafka_flush_timeout_ms;
    struct aw_kv *kafka; /* librdkafka properties, prefix stripped */
    size_t nkafka;

    /* ffmpeg: libavformat options for every stream */
    struct aw_kv *ffmpeg;
    size_t nffmpeg;

    /* ingest */
    double ingest_buffer_seconds; /* per-stream audio ring (30) */
    double ingest_stall_seconds;  /* no audio for this long: reopen (20) */

    /* output */
    char *output_jsonl; /* NULL: none; "-": stdout; else a file path */

    /* http endpoints (/metrics /healthz /readyz) */
    char *http_listen; /* NULL: off; "HOST:PORT" */

    /* log */
    char *log_level;  /* "info" */
    char *log_format; /* "logfmt" | "json" */

    struct aw_stream_conf *streams;
    size_t nstreams;

    /* Private to src/conf: bit i is set when row i of the property table was
     * set explicitly (file, environment, command line), as librdkafka marks
     * modified properties. Lets speech.region fill in speech.endpoint only
     * when no one set the endpoint. */
    uint64_t modified;
};

/**
 * @brief Fill \p conf with the built-in defaults (no streams).
 *
 * \p conf is overwritten, not freed: call aw_conf_free() first if it holds
 * an earlier configuration.
 * @returns AW_OK or AW_ERR_NOMEM (\p conf is then left empty).
 */
enum aw_err aw_conf_defaults(struct aw_conf *conf);

/**
 * @brief Load \p path over the defaults, then apply the environment.
 *
 * Every problem found is reported, not only the first: each one as a line
 * "PATH:LINE: KEY: message" appended to \p errs (NUL-terminated, truncated
 * to \p errs_size). Environment problems read "environment AIRWAVE_X:
 * message"; YAML syntax errors "PATH:LINE:COLUMN: YAML syntax error: ...".
 * \p conf is overwritten as by aw_conf_defaults(); on failure it is left
 * empty (as after aw_conf_free()), so freeing it again is harmless.
 * @returns AW_OK; AW_ERR_NOT_FOUND / AW_ERR_IO if the file cannot be read;
 *          AW_ERR_TOO_LARGE if it exceeds AW_CONF_MAX_FILE_BYTES;
 *          AW_ERR_INVAL if it has errors (all listed in errs);
 *          AW_ERR_NOMEM.
 * @locality main thread (reads the environment)
 */
enum aw_err aw_conf_load(struct aw_conf *conf, const char *path, char *errs,
                         size_t errs_size);

/**
 * @brief Parse from memory (tests, fuzzing); \p name is used in messages.
 *
 * Like aw_conf_load() but does not read the environment, so the result
 * depends on the bytes alone.
 * @returns AW_OK, AW_ERR_INVAL, AW_ERR_TOO_LARGE or AW_ERR_NOMEM.
 */
enum aw_err aw_conf_load_string(struct aw_conf *conf, const char *name,
                                const char *yaml, size_t len, char *errs,
                                size_t errs_size);

/**
 * @brief Apply AIRWAVE_<KEY> environment variables over \p conf.
 *
 * aw_conf_load() calls this; call it directly for a configuration built
 * with aw_conf_defaults() (no file). <KEY> is the dotted key upper-cased,
 * '.' -> '_' (AIRWAVE_SPEECH_FORMAT). For librdkafka pass-through keys,
 * whose names are dotted, every '_' after AIRWAVE_KAFKA_ becomes '.'
 * (AIRWAVE_KAFKA_SASL_MECHANISMS -> kafka.sasl.mechanisms); after
 * AIRWAVE_FFMPEG_ the rest is lower-cased and kept (AIRWAVE_FFMPEG_RW_TIMEOUT
 * -> ffmpeg.rw_timeout). An empty value unsets an optional key. Variables
 * outside the configuration's sections (e.g. AIRWAVE_CONFIG) are ignored.
 * Bad values are not applied; each is reported in \p errs as
 * "environment AIRWAVE_X: message".
 * @returns AW_OK, AW_ERR_INVAL or AW_ERR_NOMEM.
 * @locality main thread (reads the environment)
 */
enum aw_err aw_conf_apply_env(struct aw_conf *conf, char *errs,
                              size_t errs_size);

/**
 * @brief Set one key as from the command line ("speech.format", "detailed").
 *
 * Same keys and validation as the file (stream entries excepted); a NULL
 * \p value unsets an optional key.
 * @returns AW_OK or AW_ERR_INVAL / AW_ERR_NOMEM with the reason in errstr
 *          ("KEY: message").
 */
enum aw_err aw_conf_set(struct aw_conf *conf, const char *key,
                        const char *value, char *errstr, size_t errstr_size);

/**
 * @brief Add a stream with defaults for everything but its id and url, as
 *        `airwave transcribe FILE` does; both are validated as in a file.
 * @returns AW_OK, AW_ERR_INVAL (bad or taken id, bad url),
 *          AW_ERR_TOO_LARGE, AW_ERR_NOMEM.
 */
enum aw_err aw_conf_add_stream(struct aw_conf *conf, const char *id,
                               const char *url, char *errstr,
                               size_t errstr_size);

/**
 * @brief Deep-copy one stream's settings (a stream that outlives the
 *        configuration it came from, across a reload).
 * @returns AW_OK or AW_ERR_NOMEM (then \p dst is left empty).
 */
enum aw_err aw_conf_stream_copy(struct aw_stream_conf *dst,
                                const struct aw_stream_conf *src);

/** Free what aw_conf_stream_copy() made. NULL-safe. */
void aw_conf_stream_free(struct aw_stream_conf *s);

/** @returns true if every setting of the two streams is the same. */
bool aw_conf_stream_equal(const struct aw_stream_conf *a,
                          const struct aw_stream_conf *b);

/**
 * @returns the first top-level key whose value differs between \p a and
 *          \p b (only keys starting with \p prefix, unless it is NULL), or
 *          NULL if they agree.
 */
const char *aw_conf_global_diff(const struct aw_conf *a,
                                const struct aw_conf *b, const char *prefix);

/** Free everything \p conf owns; it can be loaded again afterwards. */
void aw_conf_free(struct aw_conf *conf);

/** @returns the stream with this id, or NULL. */
const struct aw_stream_conf *aw_conf_stream(const struct aw_conf *conf,
                                            const char *id);

/**
 * @brief Write the Markdown reference of every key: the whole of
 *        docs/CONFIGURATION.md (unit.conf fails when that file differs).
 * @returns AW_OK or AW_ERR_IO.
 */
enum aw_err aw_conf_write_reference(FILE *out);

/**
 * @brief Write the annotated example configuration: the whole of
 *        configs/airwave.example.yaml (unit.conf fails when it differs).
 * @returns AW_OK or AW_ERR_IO.
 */
enum aw_err aw_conf_write_example(FILE *out);

#endif
