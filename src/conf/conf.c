/*
 * Configuration loader: YAML -> struct aw_conf, driven by the property
 * table in conf_table.c.
 *
 * The YAML is read as libyaml events, not as a document tree: every event
 * carries the line a message needs; an alias arrives as an event and is
 * refused before anything expands it (a few hundred bytes of nested aliases
 * can name billions of nodes); and nested mappings flatten to dotted keys on
 * the way, so `speech: {format: x}` and `speech.format: x` reach the same
 * row. An error does not end the walk: each one is appended to the caller's
 * buffer and the walk goes on, so `airwave check-config` lists every problem
 * at once. Only a YAML syntax error ends it, since libyaml cannot resume.
 *
 * Main thread only: the environment is read with getenv() and environ.
 */
#include "conf/conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "common/buf.h"
#include "conf/conf_int.h"

/* POSIX declares it but glibc's headers only with _GNU_SOURCE. */
extern char **environ;

#define KEY_MAX 256 /* longest dotted key, terminator included */

#define AZURE_ENDPOINT_FMT                                                     \
    "wss://%s.stt.speech.microsoft.com/speech/recognition/conversation/"       \
    "cognitiveservices/v1"

/* ---- error list ------------------------------------------------------- */

/* The caller's buffer, filled line by line. Counting goes on after the
 * buffer is full, so truncation never turns a bad file into a good one. */
struct errsink {
    char *buf;
    size_t size;
    size_t len;
    unsigned count;
    bool nomem;
};

static void errsink_init(struct errsink *es, char *buf, size_t size)
{
    es->buf = buf;
    es->size = size;
    es->len = 0;
    es->count = 0;
    es->nomem = false;
    if (buf && size)
        buf[0] = '\0';
}

static void errsink_clear(struct errsink *es)
{
    es->count = 0;
    es->len = 0;
    if (es->buf && es->size)
        es->buf[0] = '\0';
}

static void errsink_add(struct errsink *es, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void errsink_add(struct errsink *es, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    es->count++;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || !es->buf || es->len + 1 >= es->size)
        return;
    aw_errstr_set(es->buf + es->len, es->size - es->len, "%s\n", line);
    es->len += strlen(es->buf + es->len);
}

/* ---- pass-through lists ----------------------------------------------- */

static struct aw_kv *kv_find(struct aw_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i].key, key) == 0)
            return &kv[i];
    }
    return NULL;
}

/* A later layer (environment, command line) replaces an earlier value in
 * place, so each option appears once, where the file first had it. */
static enum aw_err kv_set(struct aw_kv **kv, size_t *n, const char *key,
                          const char *value, int line)
{
    struct aw_kv *e = kv_find(*kv, *n, key), *grown;
    char *v = strdup(value), *k = NULL;

    if (!v)
        return AW_ERR_NOMEM;
    if (e) {
        free(e->value);
        e->value = v;
        e->line = line;
        return AW_OK;
    }
    if (*n >= AW_CONF_MAX_PASSTHROUGH) {
        free(v);
        return AW_ERR_TOO_LARGE;
    }
    k = strdup(key);
    grown = k ? realloc(*kv, (*n + 1) * sizeof(**kv)) : NULL;
    if (!grown) {
        free(k);
        free(v);
        return AW_ERR_NOMEM;
    }
    *kv = grown;
    grown[*n] = (struct aw_kv){.key = k, .value = v, .line = line};
    (*n)++;
    return AW_OK;
}

static void kv_remove(struct aw_kv *kv, size_t *n, const char *key)
{
    struct aw_kv *e = kv_find(kv, *n, key);

    if (!e)
        return;
    free(e->key);
    free(e->value);
    memmove(e, e + 1, (size_t)(kv + *n - (e + 1)) * sizeof(*e));
    (*n)--;
}

static void kv_free(struct aw_kv **kv, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        free((*kv)[i].key);
        free((*kv)[i].value);
    }
    free(*kv);
    *kv = NULL;
    *n = 0;
}

/* ---- the table -------------------------------------------------------- */

static bool prop_is_namespace(const struct aw_conf_prop *prop)
{
    size_t n = strlen(prop->key);

    return n >= 2 && strcmp(prop->key + n - 2, ".*") == 0;
}

static uint64_t prop_bit(const struct aw_conf_prop *prop)
{
    return (uint64_t)1 << (prop - aw_conf_props);
}

/* Exact rows first, so our own keys under a pass-through namespace
 * (kafka.topic) are never handed to the library. */
static const struct aw_conf_prop *prop_find(enum aw_conf_scope scope,
                                            const char *key)
{
    const struct aw_conf_prop *ns = NULL;

    for (size_t i = 0; i < aw_conf_props_count; i++) {
        const struct aw_conf_prop *prop = &aw_conf_props[i];
        size_t n = strlen(prop->key);

        if (prop->scope != scope)
            continue;
        if (!prop_is_namespace(prop)) {
            if (strcmp(prop->key, key) == 0)
                return prop;
        } else if (strncmp(prop->key, key, n - 1) == 0 && key[n - 1]) {
            ns = prop;
        }
    }
    return ns;
}

/* Is \p path a mapping that holds keys ("speech", "kafka.sasl")? */
static bool is_section(enum aw_conf_scope scope, const char *path)
{
    size_t n = strlen(path);

    for (size_t i = 0; i < aw_conf_props_count; i++) {
        const struct aw_conf_prop *prop = &aw_conf_props[i];

        if (prop->scope == scope && strncmp(prop->key, path, n) == 0 &&
            prop->key[n] == '.')
            return true;
    }
    return false;
}

static const struct aw_conf_enum *enum_find(const struct aw_conf_enum *values,
                                            const char *name)
{
    for (; values->name; values++) {
        if (strcmp(values->name, name) == 0)
            return values;
    }
    return NULL;
}

/* "expected ..." for a value of the wrong shape; \p got names what was
 * there instead ("a mapping"), or is NULL. */
static void set_expected(const struct aw_conf_prop *prop, const char *got,
                         char *err, size_t err_size)
{
    char list[256] = "";
    size_t len = 0;
    const char *what;

    if (prop->type == AW_CONF_T_REFUSED) {
        aw_errstr_set(err, err_size, "%s", prop->doc);
        return;
    }
    if (prop->values) {
        for (const struct aw_conf_enum *v = prop->values; v->name; v++) {
            if (v->alias)
                continue;
            aw_errstr_set(list + len, sizeof(list) - len, "%s%s",
                          len ? ", " : "", v->name);
            len += strlen(list + len);
        }
    }
    switch (prop->type) {
    case AW_CONF_T_BOOL:
        what = "a boolean (true or false)";
        break;
    case AW_CONF_T_INT:
        what = "an integer";
        break;
    case AW_CONF_T_DBL:
        what = "a number";
        break;
    case AW_CONF_T_PASS:
        what = prop_is_namespace(prop) ? "a value or a mapping" : "a value";
        break;
    default:
        what = prop->values ? "one of: " : "a string";
        break;
    }
    aw_errstr_set(err, err_size, "expected %s%s%s%s", what,
                  prop->values ? list : "", got ? ", got " : "",
                  got ? got : "");
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};

    for (size_t i = 0; i < AW_ARRAY_SIZE(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return true;
        }
    }
    return false;
}

static bool parse_int(const char *s, long long *out)
{
    char *end;

    if (!*s || (*s != '-' && *s != '+' && (*s < '0' || *s > '9')))
        return false;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return !*end && !errno;
}

static bool parse_double(const char *s, double *out)
{
    char *end;

    /* strtod() also takes hex, "inf" and "nan": none is a sane duration. */
    if (!*s || strspn(s, "+-.0123456789eE") != strlen(s))
        return false;
    errno = 0;
    *out = strtod(s, &end);
    return !*end && !errno && end != s;
}

/**
 * Store \p value (NULL: unset) in the field of \p prop inside \p base, a
 * struct aw_conf or aw_stream_conf. \p key is the full key; a pass-through
 * list stores the name after the namespace. The field is left unchanged on
 * failure. Every layer (defaults, file, environment, command line) goes
 * through here, so all get the same checks.
 */
static enum aw_err prop_set(const struct aw_conf_prop *prop, void *base,
                            const char *key, const char *value, int line,
                            char *err, size_t err_size)
{
    char *field = (char *)base + prop->offset;
    enum aw_err ret;
    long long i = 0;
    double d = 0;
    bool b = false;
    const struct aw_conf_enum *e;

    if (prop->type == AW_CONF_T_REFUSED) {
        aw_errstr_set(err, err_size, "%s", prop->doc);
        return AW_ERR_INVAL;
    }
    if (prop->type == AW_CONF_T_PASS) {
        const char *name = strchr(key, '.') + 1;
        struct aw_kv **list = (struct aw_kv **)(void *)field;
        size_t *count = (size_t *)(void *)((char *)base + prop->count_offset);

        if (!value) {
            kv_remove(*list, count, name);
            return AW_OK;
        }
        ret = prop->check ? prop->check(name, value, err, err_size) : AW_OK;
        if (ret != AW_OK)
            return ret;
        ret = kv_set(list, count, name, value, line);
        if (ret == AW_ERR_TOO_LARGE)
            aw_errstr_set(err, err_size, "more than %d %.*s options",
                          AW_CONF_MAX_PASSTHROUGH, (int)(name - key - 1), key);
        else if (ret != AW_OK)
            aw_errstr_set(err, err_size, "out of memory");
        return ret;
    }
    if (!value) {
        if (prop->type != AW_CONF_T_STR || prop->def || prop->required) {
            set_expected(prop, NULL, err, err_size);
            return AW_ERR_INVAL;
        }
        free(*(char **)(void *)field);
        *(char **)(void *)field = NULL;
        return AW_OK;
    }

    switch (prop->type) {
    case AW_CONF_T_STR:
        if (prop->values && !enum_find(prop->values, value)) {
            set_expected(prop, NULL, err, err_size);
            return AW_ERR_INVAL;
        }
        break;
    case AW_CONF_T_BOOL:
        if (!parse_bool(value, &b)) {
            set_expected(prop, NULL, err, err_size);
            return AW_ERR_INVAL;
        }
        break;
    case AW_CONF_T_INT:
        if (!parse_int(value, &i)) {
            set_expected(prop, NULL, err, err_size);
            return AW_ERR_INVAL;
        }
        if ((double)i < prop->min || (double)i > prop->max) {
            aw_errstr_set(err, err_size, "%lld is out of range %g .. %g", i,
                          prop->min, prop->max);
            return AW_ERR_INVAL;
        }
        break;
    case AW_CONF_T_DBL:
        if (!parse_double(value, &d)) {
            set_expected(prop, NULL, err, err_size);
            return AW_ERR_INVAL;
        }
        if (!(d >= prop->min && d <= prop->max)) {
            aw_errstr_set(err, err_size, "%g is out of range %g .. %g", d,
                          prop->min, prop->max);
            return AW_ERR_INVAL;
        }
        break;
    case AW_CONF_T_ENUM:
        e = enum_find(prop->values, value);
        if (!e) {
            set_expected(prop, NULL, err, err_size);
            return AW_ERR_INVAL;
        }
        *(int *)(void *)field = e->value;
        return AW_OK;
    default:
        aw_errstr_set(err, err_size, "bad table row");
        return AW_ERR_INVAL;
    }

    if (prop->check) {
        ret = prop->check(key, value, err, err_size);
        if (ret != AW_OK)
            return ret;
    }
    switch (prop->type) {
    case AW_CONF_T_STR: {
        char *dup = strdup(value);

        if (!dup) {
            aw_errstr_set(err, err_size, "out of memory");
            return AW_ERR_NOMEM;
        }
        free(*(char **)(void *)field);
        *(char **)(void *)field = dup;
        break;
    }
    case AW_CONF_T_BOOL:
        *(bool *)(void *)field = b;
        break;
    case AW_CONF_T_INT:
        *(int *)(void *)field = (int)i;
        break;
    default:
        *(double *)(void *)field = d;
        break;
    }
    return AW_OK;
}

static enum aw_err props_defaults(enum aw_conf_scope scope, void *base)
{
    char err[256];

    for (size_t i = 0; i < aw_conf_props_count; i++) {
        const struct aw_conf_prop *prop = &aw_conf_props[i];
        char *field = (char *)base + prop->offset;
        enum aw_err ret;

        if (prop->scope != scope || prop->type == AW_CONF_T_PASS ||
            prop->type == AW_CONF_T_REFUSED)
            continue;
        if (prop->def) {
            /* A default that fails its own row's checks is a table bug;
             * unit.conf loads the defaults, so it cannot ship. */
            ret =
                prop_set(prop, base, prop->key, prop->def, 0, err, sizeof(err));
            if (ret != AW_OK)
                return ret;
        } else if (prop->type == AW_CONF_T_INT) {
            *(int *)(void *)field = (int)prop->unset;
        } else if (prop->type == AW_CONF_T_DBL) {
            *(double *)(void *)field = prop->unset;
        }
    }
    return AW_OK;
}

static void props_free(enum aw_conf_scope scope, void *base)
{
    for (size_t i = 0; i < aw_conf_props_count; i++) {
        const struct aw_conf_prop *prop = &aw_conf_props[i];
        char *field = (char *)base + prop->offset;

        if (prop->scope != scope)
            continue;
        if (prop->type == AW_CONF_T_STR) {
            free(*(char **)(void *)field);
            *(char **)(void *)field = NULL;
        } else if (prop->type == AW_CONF_T_PASS) {
            /* Two rows may share a list (kafka.bootstrap.servers and
             * kafka.*): kv_free() leaves it empty for the second. */
            kv_free((struct aw_kv **)(void *)field,
                    (size_t *)(void *)((char *)base + prop->count_offset));
        }
    }
}

/* Values that depend on other keys, recomputed after every layer so the
 * order in which keys arrive does not matter. */
static enum aw_err finalize(struct aw_conf *conf, char *err, size_t err_size)
{
    const struct aw_conf_prop *ep =
        prop_find(AW_CONF_SCOPE_GLOBAL, "speech.endpoint");
    enum aw_err ret;

    if (!(conf->modified & prop_bit(ep))) {
        char url[256];
        const char *v = ep->def;

        if (conf->speech_region) {
            aw_errstr_set(url, sizeof(url), AZURE_ENDPOINT_FMT,
                          conf->speech_region);
            v = url;
        }
        ret = prop_set(ep, conf, ep->key, v, 0, err, err_size);
        if (ret != AW_OK)
            return ret;
    }
    conf->kafka_enabled =
        kv_find(conf->kafka, conf->nkafka, "bootstrap.servers") != NULL;
    return AW_OK;
}

/* ---- "did you mean" --------------------------------------------------- */

/* Optimal string alignment distance: Levenshtein plus transpositions, the
 * commonest typo ("fromat"). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t rows[3][KEY_MAX];
    size_t *pp = rows[0], *p = rows[1], *c = rows[2];

    if (la >= KEY_MAX || lb >= KEY_MAX)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        p[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t *t;

        c[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = p[j - 1] + cost;

            if (p[j] + 1 < v)
                v = p[j] + 1;
            if (c[j - 1] + 1 < v)
                v = c[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            c[j] = v;
        }
        t = pp;
        pp = p;
        p = c;
        c = t;
    }
    return p[lb];
}

/* The closest known key or section to \p key, in \p out; false if none is
 * close enough to be the likely intent. */
static bool suggest(enum aw_conf_scope scope, const char *key, char *out,
                    size_t out_size)
{
    size_t best = SIZE_MAX, limit = strlen(key) >= 10 ? 3 : 2;

    for (size_t i = 0; i <= aw_conf_props_count; i++) {
        const char *cand;
        char section[KEY_MAX];
        size_t d;

        if (i == aw_conf_props_count) {
            if (scope != AW_CONF_SCOPE_GLOBAL)
                break;
            cand = "streams";
        } else if (aw_conf_props[i].scope != scope) {
            continue;
        } else {
            const char *k = aw_conf_props[i].key;
            const char *dot = strchr(k, '.');

            /* Try the section too, so "speach" finds "speech". */
            if (dot && (size_t)(dot - k) < sizeof(section)) {
                memcpy(section, k, (size_t)(dot - k));
                section[dot - k] = '\0';
                d = edit_distance(key, section);
                if (d && d < best) {
                    best = d;
                    aw_errstr_set(out, out_size, "%s", section);
                }
            }
            if (prop_is_namespace(&aw_conf_props[i]))
                continue;
            cand = k;
        }
        d = edit_distance(key, cand);
        if (d < best) {
            best = d;
            aw_errstr_set(out, out_size, "%s", cand);
        }
    }
    return best <= limit;
}

/* ---- YAML ------------------------------------------------------------- */

struct seen_key {
    char *key;
    int line;
};

/* Keys already given in one scope, to refuse repeats with both lines. The
 * scope's key cap keeps the linear search cheap. */
struct seen {
    struct seen_key *v;
    size_t n, cap;
};

static int seen_find(const struct seen *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i].key, key) == 0)
            return s->v[i].line;
    }
    return 0;
}

static enum aw_err seen_add(struct seen *s, const char *key, int line)
{
    if (s->n >= AW_CONF_MAX_KEYS)
        return AW_ERR_TOO_LARGE;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct seen_key *v = realloc(s->v, cap * sizeof(*v));

        if (!v)
            return AW_ERR_NOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n].key = strdup(key);
    if (!s->v[s->n].key)
        return AW_ERR_NOMEM;
    s->v[s->n++].line = line;
    return AW_OK;
}

static void seen_free(struct seen *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].key);
    free(s->v);
    *s = (struct seen){0};
}

struct loader {
    struct aw_conf *conf;
    yaml_parser_t parser;
    const char *name;
    const char *input;
    size_t input_len;
    struct errsink *es;
    bool stop; /* no more events: a syntax error, no memory, or a limit */
    struct seen leaves; /* dotted keys set at the top level */
    size_t streams_cap; /* entries allocated in conf->streams */
    bool streams_capped;
};

/* Where keys go: the top level or one entry of streams. */
struct scope_ctx {
    enum aw_conf_scope scope;
    void *base;          /* the struct aw_conf or aw_stream_conf */
    size_t index;        /* streams[index] */
    struct seen *leaves; /* dotted keys set in this scope */
};

static void report(struct loader *ld, int line, const struct scope_ctx *sc,
                   const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* One line "NAME:LINE: KEY: message"; stream keys read streams[i].KEY. */
static void report(struct loader *ld, int line, const struct scope_ctx *sc,
                   const char *key, const char *fmt, ...)
{
    char msg[768], where[KEY_MAX + 32];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    if (sc && sc->scope == AW_CONF_SCOPE_STREAM)
        aw_errstr_set(where, sizeof(where), "streams[%zu]%s%s", sc->index,
                      *key ? "." : "", key);
    else
        aw_errstr_set(where, sizeof(where), "%s", key);
    if (*where)
        errsink_add(ld->es, "%s:%d: %s: %s", ld->name, line, where, msg);
    else
        errsink_add(ld->es, "%s:%d: %s", ld->name, line, msg);
}

static int mark_line(const yaml_mark_t *mark)
{
    return mark->line >= INT32_MAX ? INT32_MAX : (int)mark->line + 1;
}

static void report_syntax(struct loader *ld)
{
    const yaml_parser_t *p = &ld->parser;
    const char *problem = p->problem ? p->problem : "unknown problem";

    /* Values read before a syntax error may be fragments of the broken
     * construct ("pace: 1" swallowing the badly indented line after it):
     * the syntax error is the one problem worth reporting. */
    errsink_clear(ld->es);
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        ld->es->nomem = true;
        errsink_add(ld->es, "%s: out of memory", ld->name);
        break;
    case YAML_READER_ERROR: {
        /* libyaml gives reader errors a byte offset, not a mark. */
        size_t end = p->problem_offset < ld->input_len ? p->problem_offset
                                                       : ld->input_len;
        int line = 1;

        for (size_t i = 0; i < end; i++)
            line += ld->input[i] == '\n';
        errsink_add(ld->es, "%s:%d: invalid input: %s (byte %zu)", ld->name,
                    line, problem, p->problem_offset);
        break;
    }
    default:
        if (p->context)
            errsink_add(ld->es,
                        "%s:%d:%zu: YAML syntax error: %s (%s started on line "
                        "%d)",
                        ld->name, mark_line(&p->problem_mark),
                        p->problem_mark.column + 1, problem, p->context,
                        mark_line(&p->context_mark));
        else
            errsink_add(ld->es, "%s:%d:%zu: YAML syntax error: %s", ld->name,
                        mark_line(&p->problem_mark), p->problem_mark.column + 1,
                        problem);
        break;
    }
}

static bool next_event(struct loader *ld, yaml_event_t *ev)
{
    if (ld->stop)
        return false;
    if (!yaml_parser_parse(&ld->parser, ev)) {
        report_syntax(ld);
        ld->stop = true;
        return false;
    }
    return true;
}

/* Consume the node \p ev starts (deleting it), nested ones included.
 * \p depth is the nesting of the node's parent. */
static void skip_node(struct loader *ld, yaml_event_t *ev, int depth)
{
    int open = 0;

    for (;;) {
        if (ev->type == YAML_MAPPING_START_EVENT ||
            ev->type == YAML_SEQUENCE_START_EVENT) {
            if (depth + ++open > AW_CONF_MAX_DEPTH) {
                /* Stop here rather than let libyaml's stacks grow with
                 * the rest of a pathological file. */
                report(ld, mark_line(&ev->start_mark), NULL, "",
                       "nested deeper than %d levels", AW_CONF_MAX_DEPTH);
                ld->stop = true;
                yaml_event_delete(ev);
                return;
            }
        } else if (ev->type == YAML_MAPPING_END_EVENT ||
                   ev->type == YAML_SEQUENCE_END_EVENT) {
            open--;
        }
        yaml_event_delete(ev);
        if (open <= 0 || !next_event(ld, ev))
            return;
    }
}

static bool is_null(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;

    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static const char *node_kind(const yaml_event_t *ev)
{
    return ev->type == YAML_MAPPING_START_EVENT ? "a mapping" : "a sequence";
}

static void parse_mapping(struct loader *ld, const struct scope_ctx *sc,
                          const char *prefix, int depth);

static void report_unknown(struct loader *ld, int line,
                           const struct scope_ctx *sc, const char *key)
{
    char hint[KEY_MAX];

    if (suggest(sc->scope, key, hint, sizeof(hint)))
        report(ld, line, sc, key, "unknown key (did you mean %s?)", hint);
    else
        report(ld, line, sc, key, "unknown key");
}

/* A scalar value for a table row. */
static void set_scalar(struct loader *ld, const struct scope_ctx *sc,
                       const struct aw_conf_prop *prop, const char *key,
                       int key_line, const yaml_event_t *ev)
{
    const char *value = (const char *)ev->data.scalar.value;
    int line = mark_line(&ev->start_mark), first;
    char err[512];
    enum aw_err ret;

    /* Across forms: speech.format and speech: {format} are one key. */
    first = seen_find(sc->leaves, key);
    if (first) {
        report(ld, key_line, sc, key, "duplicate key (first on line %d)",
               first);
        return;
    }
    ret = seen_add(sc->leaves, key, key_line);
    if (ret != AW_OK) {
        report(ld, key_line, sc, key, "%s",
               ret == AW_ERR_NOMEM ? "out of memory" : "too many keys");
        ld->es->nomem |= ret == AW_ERR_NOMEM;
        ld->stop = true;
        return;
    }
    if (strlen(value) != ev->data.scalar.length) {
        report(ld, line, sc, key, "value contains a NUL byte");
        return;
    }
    ret = prop_set(prop, sc->base, key, is_null(ev) ? NULL : value, line, err,
                   sizeof(err));
    if (ret != AW_OK) {
        report(ld, line, sc, key, "%s", err);
        ld->es->nomem |= ret == AW_ERR_NOMEM;
        return;
    }
    if (sc->scope == AW_CONF_SCOPE_GLOBAL)
        ld->conf->modified |= prop_bit(prop);
}

static void check_required(struct loader *ld, const struct scope_ctx *sc,
                           int line)
{
    for (size_t i = 0; i < aw_conf_props_count; i++) {
        const struct aw_conf_prop *prop = &aw_conf_props[i];

        if (prop->scope == sc->scope && prop->required &&
            !*(char **)(void *)((char *)sc->base + prop->offset))
            report(ld, line, sc, "", "missing required key %s", prop->key);
    }
}

/* The value of top-level "streams": a sequence of mappings. */
static void parse_streams(struct loader *ld, yaml_event_t *ev, int depth)
{
    struct aw_conf *conf = ld->conf;

    if (ev->type == YAML_SCALAR_EVENT && is_null(ev)) {
        yaml_event_delete(ev);
        return;
    }
    if (ev->type != YAML_SEQUENCE_START_EVENT) {
        report(ld, mark_line(&ev->start_mark), NULL, "streams",
               "expected a list of streams");
        skip_node(ld, ev, depth);
        return;
    }
    yaml_event_delete(ev);
    for (size_t idx = 0; next_event(ld, ev); idx++) {
        struct seen leaves = {0};
        struct scope_ctx sc = {AW_CONF_SCOPE_STREAM, NULL, idx, &leaves};
        struct aw_stream_conf *s;
        int line = mark_line(&ev->start_mark);

        if (ev->type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(ev);
            return;
        }
        if (ev->type != YAML_MAPPING_START_EVENT) {
            report(ld, line, &sc, "", "expected a mapping with id and url");
            skip_node(ld, ev, depth + 1);
            continue;
        }
        if (conf->nstreams >= AW_CONF_MAX_STREAMS) {
            if (!ld->streams_capped)
                report(ld, line, NULL, "streams", "more than %d streams",
                       AW_CONF_MAX_STREAMS);
            ld->streams_capped = true;
            skip_node(ld, ev, depth + 1);
            continue;
        }
        yaml_event_delete(ev);
        if (conf->nstreams == ld->streams_cap) {
            size_t cap = ld->streams_cap ? ld->streams_cap * 2 : 8;
            struct aw_stream_conf *grown =
                realloc(conf->streams, cap * sizeof(*grown));

            if (!grown) {
                ld->es->nomem = true;
                ld->stop = true;
                return;
            }
            conf->streams = grown;
            ld->streams_cap = cap;
        }
        s = &conf->streams[conf->nstreams++];
        *s = (struct aw_stream_conf){.line = line};
        sc.base = s;
        if (props_defaults(AW_CONF_SCOPE_STREAM, s) != AW_OK) {
            ld->es->nomem = true;
            ld->stop = true;
            return;
        }
        parse_mapping(ld, &sc, "", depth + 2);
        seen_free(&leaves);
        if (!ld->stop)
            check_required(ld, &sc, line);
    }
}

/* The value \p ev of key \p path (given on \p key_line); consumes the
 * value's events. \p depth is the nesting of the mapping holding the key. */
static void parse_value(struct loader *ld, const struct scope_ctx *sc,
                        const char *path, int key_line, yaml_event_t *ev,
                        int depth)
{
    const struct aw_conf_prop *prop;
    char err[512];

    if (ev->type == YAML_ALIAS_EVENT) {
        report(ld, mark_line(&ev->start_mark), sc, path,
               "YAML aliases are not supported");
        yaml_event_delete(ev);
        return;
    }
    if (sc->scope == AW_CONF_SCOPE_GLOBAL && strcmp(path, "streams") == 0) {
        parse_streams(ld, ev, depth);
        return;
    }
    prop = prop_find(sc->scope, path);
    if (ev->type == YAML_MAPPING_START_EVENT ||
        ev->type == YAML_SEQUENCE_START_EVENT) {
        bool nested =
            ev->type == YAML_MAPPING_START_EVENT &&
            (prop ? prop_is_namespace(prop) : is_section(sc->scope, path));

        if (!nested) {
            if (prop) {
                set_expected(prop, node_kind(ev), err, sizeof(err));
                report(ld, mark_line(&ev->start_mark), sc, path, "%s", err);
            } else {
                report_unknown(ld, key_line, sc, path);
            }
            skip_node(ld, ev, depth);
            return;
        }
        if (depth + 1 > AW_CONF_MAX_DEPTH) {
            skip_node(ld, ev, depth);
            return;
        }
        yaml_event_delete(ev);
        parse_mapping(ld, sc, path, depth + 1);
        return;
    }
    if (!prop) {
        /* A section whose keys are all commented out reads as null. */
        if (!(is_section(sc->scope, path) && is_null(ev)))
            report_unknown(ld, key_line, sc, path);
    } else {
        set_scalar(ld, sc, prop, path, key_line, ev);
    }
    yaml_event_delete(ev);
}

/* Keys of a mapping whose start event was consumed; \p prefix is its
 * dotted path ("" at the top of a scope). */
static void parse_mapping(struct loader *ld, const struct scope_ctx *sc,
                          const char *prefix, int depth)
{
    struct seen keys = {0}; /* YAML forbids a key twice in one mapping */
    yaml_event_t kev, vev;

    while (next_event(ld, &kev)) {
        char path[KEY_MAX];
        int line = mark_line(&kev.start_mark), first;
        const char *key, *bad = NULL;
        enum aw_err ret;

        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            break;
        }
        if (kev.type != YAML_SCALAR_EVENT) {
            report(ld, line, sc, prefix, "keys must be plain strings");
            skip_node(ld, &kev, depth);
            if (next_event(ld, &vev))
                skip_node(ld, &vev, depth);
            continue;
        }
        key = (const char *)kev.data.scalar.value;
        if (strlen(key) != kev.data.scalar.length)
            bad = "key contains a NUL byte";
        else if (!*key)
            bad = "empty key";
        else if (strlen(prefix) + 1 + strlen(key) >= sizeof(path))
            bad = "key too long";
        else
            aw_errstr_set(path, sizeof(path), "%s%s%s", prefix,
                          *prefix ? "." : "", key);
        yaml_event_delete(&kev);
        if (!next_event(ld, &vev))
            break;
        if (bad) {
            report(ld, line, sc, prefix, "%s", bad);
            skip_node(ld, &vev, depth);
            continue;
        }
        first = seen_find(&keys, path);
        if (first) {
            report(ld, line, sc, path, "duplicate key (first on line %d)",
                   first);
            skip_node(ld, &vev, depth);
            continue;
        }
        ret = seen_add(&keys, path, line);
        if (ret != AW_OK) {
            report(ld, line, sc, path, "%s",
                   ret == AW_ERR_NOMEM ? "out of memory" : "too many keys");
            ld->es->nomem |= ret == AW_ERR_NOMEM;
            ld->stop = true;
            yaml_event_delete(&vev);
            break;
        }
        parse_value(ld, sc, path, line, &vev, depth);
    }
    seen_free(&keys);
}

struct id_ref {
    const char *id;
    int line;
    size_t index; /* in conf->streams */
};

static int cmp_id_ref(const void *a, const void *b)
{
    const struct id_ref *ra = a, *rb = b;
    int c = strcmp(ra->id, rb->id);

    return c != 0 ? c : (ra->line > rb->line) - (ra->line < rb->line);
}

/* Sorted, so ten thousand streams cost n log n, not n squared. */
static void check_stream_ids(struct loader *ld)
{
    struct aw_conf *conf = ld->conf;
    struct id_ref *v;
    size_t n = 0;

    if (conf->nstreams < 2)
        return;
    v = malloc(conf->nstreams * sizeof(struct id_ref));
    if (!v) {
        ld->es->nomem = true;
        return;
    }
    for (size_t i = 0; i < conf->nstreams; i++) {
        if (conf->streams[i].id)
            v[n++] =
                (struct id_ref){conf->streams[i].id, conf->streams[i].line, i};
    }
    qsort(v, n, sizeof(struct id_ref), cmp_id_ref);
    for (size_t i = 1, first = 0; i < n; i++) {
        struct scope_ctx sc = {AW_CONF_SCOPE_STREAM, NULL, v[i].index, NULL};

        if (strcmp(v[i].id, v[first].id) != 0) {
            first = i;
            continue;
        }
        report(ld, v[i].line, &sc, "id",
               "duplicate stream id \"%s\" (first on line %d)", v[i].id,
               v[first].line);
    }
    free(v);
}

static void parse_document(struct loader *ld)
{
    struct scope_ctx sc = {AW_CONF_SCOPE_GLOBAL, ld->conf, 0, &ld->leaves};
    yaml_event_t ev;

    if (!next_event(ld, &ev)) /* stream start */
        return;
    yaml_event_delete(&ev);
    if (!next_event(ld, &ev))
        return;
    if (ev.type == YAML_STREAM_END_EVENT) { /* empty, or only comments */
        yaml_event_delete(&ev);
        return;
    }
    yaml_event_delete(&ev); /* document start */
    if (!next_event(ld, &ev))
        return;
    if (ev.type == YAML_MAPPING_START_EVENT) {
        yaml_event_delete(&ev);
        parse_mapping(ld, &sc, "", 1);
    } else if (ev.type == YAML_SCALAR_EVENT && is_null(&ev)) {
        yaml_event_delete(&ev);
    } else {
        report(ld, mark_line(&ev.start_mark), NULL, "",
               "the top level must be a mapping of keys");
        skip_node(ld, &ev, 0);
    }
    if (!next_event(ld, &ev)) /* document end */
        return;
    yaml_event_delete(&ev);
    if (!next_event(ld, &ev))
        return;
    if (ev.type == YAML_DOCUMENT_START_EVENT)
        report(ld, mark_line(&ev.start_mark), NULL, "",
               "only one YAML document is allowed");
    yaml_event_delete(&ev);
}

/* ---- environment ------------------------------------------------------ */

/* Not toupper()/tolower(): environment names are ASCII whatever the
 * locale says. */
static char ascii_upper(char c)
{
    if (c >= 'a' && c <= 'z')
        return (char)(c - 'a' + 'A');
    return c;
}

static char ascii_lower(char c)
{
    if (c >= 'A' && c <= 'Z')
        return (char)(c - 'A' + 'a');
    return c;
}

/* "speech.format" -> "AIRWAVE_SPEECH_FORMAT" */
static void env_name(const char *key, char *buf, size_t size)
{
    size_t n = 0;

    aw_errstr_set(buf, size, "AIRWAVE_");
    n = strlen(buf);
    for (; *key && n + 1 < size; key++, n++) {
        if (*key == '.')
            buf[n] = '_';
        else
            buf[n] = ascii_upper(*key);
    }
    buf[n] = '\0';
}

static bool is_row_env(const char *name)
{
    char buf[KEY_MAX + 16];

    for (size_t i = 0; i < aw_conf_props_count; i++) {
        const struct aw_conf_prop *prop = &aw_conf_props[i];

        if (prop->scope != AW_CONF_SCOPE_GLOBAL || prop_is_namespace(prop))
            continue;
        env_name(prop->key, buf, sizeof(buf));
        if (strcmp(buf, name) == 0)
            return true;
    }
    return false;
}

/* Map a variable no row claims to a key: under KAFKA_ every '_' is a '.'
 * (librdkafka names are dotted); under FFMPEG_ the rest is kept (FFmpeg
 * names use '_'); under another section, the key it would have been, for
 * the "unknown key" message. Returns false for names outside our sections,
 * which belong to someone else (AIRWAVE_CONFIG). */
static bool env_key(const char *name, char *key, size_t size)
{
    const char *rest = name + strlen("AIRWAVE_"), *us = strchr(rest, '_');
    size_t slen = us ? (size_t)(us - rest) : strlen(rest), n;
    bool dots;
    char section[32];

    if (!us || slen >= sizeof(section))
        return false;
    for (size_t i = 0; i < slen; i++) {
        char c = rest[i];

        section[i] = ascii_lower(c);
    }
    section[slen] = '\0';
    if (!is_section(AW_CONF_SCOPE_GLOBAL, section) &&
        strcmp(section, "streams") != 0)
        return false;
    dots = strcmp(section, "kafka") == 0;
    aw_errstr_set(key, size, "%s.", section);
    n = strlen(key);
    for (const char *p = us + 1; *p && n + 1 < size; p++, n++) {
        char c = *p;

        if (c == '_' && dots)
            c = '.';
        key[n] = ascii_lower(c);
    }
    key[n] = '\0';
    return true;
}

static void apply_env(struct aw_conf *conf, struct errsink *es)
{
    char name[KEY_MAX + 16], key[KEY_MAX], err[512];
    enum aw_err ret;

    /* Rows first, in table order: the outcome must not depend on the order
     * of environ. */
    for (size_t i = 0; i < aw_conf_props_count; i++) {
        const struct aw_conf_prop *prop = &aw_conf_props[i];
        const char *value;

        if (prop->scope != AW_CONF_SCOPE_GLOBAL || prop_is_namespace(prop))
            continue;
        env_name(prop->key, name, sizeof(name));
        value = getenv(name);
        if (!value)
            continue;
        ret = prop_set(prop, conf, prop->key, *value ? value : NULL, 0, err,
                       sizeof(err));
        if (ret != AW_OK) {
            es->nomem |= ret == AW_ERR_NOMEM;
            errsink_add(es, "environment %s: %s", name, err);
            continue;
        }
        conf->modified |= prop_bit(prop);
    }

    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        const struct aw_conf_prop *prop;
        char hint[KEY_MAX];

        if (strncmp(*e, "AIRWAVE_", 8) != 0 || !eq ||
            (size_t)(eq - *e) >= sizeof(name))
            continue;
        memcpy(name, *e, (size_t)(eq - *e));
        name[eq - *e] = '\0';
        if (is_row_env(name) || !env_key(name, key, sizeof(key)))
            continue;
        prop = prop_find(AW_CONF_SCOPE_GLOBAL, key);
        if (strncmp(key, "streams.", 8) == 0) {
            errsink_add(es,
                        "environment %s: streams are only read from the "
                        "configuration file",
                        name);
        } else if (!prop) {
            if (suggest(AW_CONF_SCOPE_GLOBAL, key, hint, sizeof(hint))) {
                char hint_env[KEY_MAX + 16];

                env_name(hint, hint_env, sizeof(hint_env));
                errsink_add(es,
                            "environment %s: unknown key %s (did you mean "
                            "%s?)",
                            name, key, hint_env);
            } else {
                errsink_add(es, "environment %s: unknown key %s", name, key);
            }
        } else {
            ret = prop_set(prop, conf, key, eq[1] ? eq + 1 : NULL, 0, err,
                           sizeof(err));
            if (ret != AW_OK) {
                es->nomem |= ret == AW_ERR_NOMEM;
                errsink_add(es, "environment %s: %s", name, err);
            }
        }
    }
}

/* ---- public API ------------------------------------------------------- */

enum aw_err aw_conf_defaults(struct aw_conf *conf)
{
    char err[256];
    enum aw_err ret;

    *conf = (struct aw_conf){0};
    ret = props_defaults(AW_CONF_SCOPE_GLOBAL, conf);
    if (ret == AW_OK)
        ret = finalize(conf, err, sizeof(err));
    if (ret != AW_OK)
        aw_conf_free(conf);
    return ret;
}

static enum aw_err load(struct aw_conf *conf, const char *name,
                        const char *yaml, size_t len, bool use_env, char *errs,
                        size_t errs_size)
{
    struct errsink es;
    struct loader ld = {0};
    char err[512];
    enum aw_err ret;

    errsink_init(&es, errs, errs_size);
    ret = aw_conf_defaults(conf);
    if (ret != AW_OK) {
        errsink_add(&es, "%s: %s", name, aw_err_str(ret));
        return ret;
    }
    if (len > AW_CONF_MAX_FILE_BYTES) {
        errsink_add(&es, "%s: larger than %d bytes", name,
                    AW_CONF_MAX_FILE_BYTES);
        ret = AW_ERR_TOO_LARGE;
        goto fail;
    }
    conf->path = strdup(name);
    if (!conf->path || !yaml_parser_initialize(&ld.parser)) {
        errsink_add(&es, "%s: out of memory", name);
        ret = AW_ERR_NOMEM;
        goto fail;
    }
    ld.conf = conf;
    ld.name = name;
    ld.input = yaml ? yaml : "";
    ld.input_len = yaml ? len : 0;
    ld.es = &es;
    yaml_parser_set_input_string(&ld.parser, (const unsigned char *)ld.input,
                                 ld.input_len);
    parse_document(&ld);
    if (!ld.stop)
        check_stream_ids(&ld);
    yaml_parser_delete(&ld.parser);
    seen_free(&ld.leaves);

    if (use_env && !es.nomem)
        apply_env(conf, &es);
    if (!es.nomem) {
        ret = finalize(conf, err, sizeof(err));
        if (ret != AW_OK) {
            es.nomem |= ret == AW_ERR_NOMEM;
            errsink_add(&es, "%s: %s", name, err);
        }
    }
    if (es.nomem) {
        ret = AW_ERR_NOMEM;
        goto fail;
    }
    if (es.count) {
        ret = AW_ERR_INVAL;
        goto fail;
    }
    return AW_OK;

fail:
    aw_conf_free(conf);
    return ret;
}

enum aw_err aw_conf_load_string(struct aw_conf *conf, const char *name,
                                const char *yaml, size_t len, char *errs,
                                size_t errs_size)
{
    return load(conf, name, yaml, len, false, errs, errs_size);
}

enum aw_err aw_conf_load(struct aw_conf *conf, const char *path, char *errs,
                         size_t errs_size)
{
    struct aw_buf b;
    char chunk[16384];
    FILE *f;
    enum aw_err ret = AW_OK;
    size_t n;

    *conf = (struct aw_conf){0};
    if (errs && errs_size)
        errs[0] = '\0';
    f = fopen(path, "rb");
    if (!f) {
        aw_errstr_set(errs, errs_size, "%s: %s\n", path, strerror(errno));
        return errno == ENOENT ? AW_ERR_NOT_FOUND : AW_ERR_IO;
    }
    /* Read under the cap instead of trusting st_size, which a pipe or
     * /proc file does not have. */
    aw_buf_init(&b, AW_CONF_MAX_FILE_BYTES);
    while (ret == AW_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ret = aw_buf_append(&b, chunk, n);
    if (ret == AW_OK && ferror(f)) {
        aw_errstr_set(errs, errs_size, "%s: %s\n", path, strerror(errno));
        ret = AW_ERR_IO;
    } else if (ret == AW_ERR_TOO_LARGE) {
        aw_errstr_set(errs, errs_size, "%s: larger than %d bytes\n", path,
                      AW_CONF_MAX_FILE_BYTES);
    } else if (ret != AW_OK) {
        aw_errstr_set(errs, errs_size, "%s: out of memory\n", path);
    }
    (void)fclose(f); /* read-only: nothing to lose */
    if (ret == AW_OK)
        ret = load(conf, path, b.data, b.len, true, errs, errs_size);
    aw_buf_fini(&b);
    return ret;
}

enum aw_err aw_conf_apply_env(struct aw_conf *conf, char *errs,
                              size_t errs_size)
{
    struct errsink es;
    char err[512];
    enum aw_err ret;

    errsink_init(&es, errs, errs_size);
    apply_env(conf, &es);
    ret = finalize(conf, err, sizeof(err));
    if (ret != AW_OK)
        errsink_add(&es, "%s", err);
    if (es.nomem || ret == AW_ERR_NOMEM)
        return AW_ERR_NOMEM;
    return es.count ? AW_ERR_INVAL : AW_OK;
}

enum aw_err aw_conf_set(struct aw_conf *conf, const char *key,
                        const char *value, char *errstr, size_t errstr_size)
{
    const struct aw_conf_prop *prop = prop_find(AW_CONF_SCOPE_GLOBAL, key);
    char err[512], hint[KEY_MAX];
    enum aw_err ret;

    if (strcmp(key, "streams") == 0 || strncmp(key, "streams.", 8) == 0 ||
        strncmp(key, "streams[", 8) == 0) {
        aw_errstr_set(errstr, errstr_size,
                      "%s: streams are only read from the configuration file",
                      key);
        return AW_ERR_INVAL;
    }
    if (!prop) {
        if (suggest(AW_CONF_SCOPE_GLOBAL, key, hint, sizeof(hint)))
            aw_errstr_set(errstr, errstr_size,
                          "%s: unknown key (did you mean %s?)", key, hint);
        else
            aw_errstr_set(errstr, errstr_size, "%s: unknown key", key);
        return AW_ERR_INVAL;
    }
    ret = prop_set(prop, conf, key, value, 0, err, sizeof(err));
    if (ret == AW_OK) {
        conf->modified |= prop_bit(prop);
        ret = finalize(conf, err, sizeof(err));
    }
    if (ret != AW_OK)
        aw_errstr_set(errstr, errstr_size, "%s: %s", key, err);
    return ret;
}

enum aw_err aw_conf_add_stream(struct aw_conf *conf, const char *id,
                               const char *url, char *errstr,
                               size_t errstr_size)
{
    const struct {
        const char *key, *value;
    } kv[] = {{"id", id}, {"url", url}};
    struct aw_stream_conf *grown, *s;
    char err[512];
    enum aw_err ret;

    if (aw_conf_stream(conf, id)) {
        aw_errstr_set(errstr, errstr_size, "stream id %s is taken", id);
        return AW_ERR_INVAL;
    }
    if (conf->nstreams >= AW_CONF_MAX_STREAMS) {
        aw_errstr_set(errstr, errstr_size, "more than %d streams",
                      AW_CONF_MAX_STREAMS);
        return AW_ERR_TOO_LARGE;
    }
    grown = realloc(conf->streams, (conf->nstreams + 1) * sizeof(*grown));
    if (!grown) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return AW_ERR_NOMEM;
    }
    conf->streams = grown;
    s = &conf->streams[conf->nstreams];
    *s = (struct aw_stream_conf){0};
    ret = props_defaults(AW_CONF_SCOPE_STREAM, s);
    for (size_t i = 0; ret == AW_OK && i < AW_ARRAY_SIZE(kv); i++) {
        const struct aw_conf_prop *prop =
            prop_find(AW_CONF_SCOPE_STREAM, kv[i].key);

        ret = prop_set(prop, s, kv[i].key, kv[i].value, 0, err, sizeof(err));
        if (ret != AW_OK)
            aw_errstr_set(errstr, errstr_size, "%s: %s", kv[i].value, err);
    }
    if (ret != AW_OK) {
        props_free(AW_CONF_SCOPE_STREAM, s);
        return ret;
    }
    conf->nstreams++;
    return AW_OK;
}

/* ---- copies and comparisons (configuration reload) ------------------- */

static size_t value_size(enum aw_conf_type type)
{
    switch (type) {
    case AW_CONF_T_BOOL:
        return sizeof(bool);
    case AW_CONF_T_INT:
    case AW_CONF_T_ENUM:
        return sizeof(int);
    case AW_CONF_T_DBL:
        return sizeof(double);
    default:
        return 0;
    }
}

/* Two rows may share one pass-through list (kafka.bootstrap.servers and
 * kafka.*): the first row of a list stands for it. */
static bool first_row_of_list(const struct aw_conf_prop *prop)
{
    for (const struct aw_conf_prop *q = aw_conf_props; q < prop; q++)
        if (q->scope == prop->scope && q->type == AW_CONF_T_PASS &&
            q->offset == prop->offset)
            return false;
    return true;
}

static bool kv_equal(const struct aw_kv *a, size_t na, const struct aw_kv *b,
                     size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i].key, b[i].key) || strcmp(a[i].value, b[i].value))
            return false;
    return true;
}

static bool str_equal(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* The key of the first row of \p scope whose values differ, or NULL. */
static const char *props_diff(enum aw_conf_scope scope, const void *a,
                              const void *b, const char *prefix)
{
    for (size_t i = 0; i < aw_conf_props_count; i++) {
        const struct aw_conf_prop *prop = &aw_conf_props[i];
        const char *fa = (const char *)a + prop->offset;
        const char *fb = (const char *)b + prop->offset;
        bool same = true;

        if (prop->scope != scope ||
            (prefix && strncmp(prop->key, prefix, strlen(prefix))))
            continue;
        if (prop->type == AW_CONF_T_STR) {
            same = str_equal(*(char *const *)(const void *)fa,
                             *(char *const *)(const void *)fb);
        } else if (prop->type == AW_CONF_T_PASS) {
            same =
                kv_equal(*(struct aw_kv *const *)(const void *)fa,
                         *(const size_t *)(const void *)((const char *)a +
                                                         prop->count_offset),
                         *(struct aw_kv *const *)(const void *)fb,
                         *(const size_t *)(const void *)((const char *)b +
                                                         prop->count_offset));
        } else if (value_size(prop->type)) {
            same = !memcmp(fa, fb, value_size(prop->type));
        }
        if (!same)
            return prop->key;
    }
    return NULL;
}

static enum aw_err props_copy(enum aw_conf_scope scope, void *dst,
                              const void *src)
{
    for (size_t i = 0; i < aw_conf_props_count; i++) {
        const struct aw_conf_prop *prop = &aw_conf_props[i];
        const char *fs = (const char *)src + prop->offset;
        char *fd = (char *)dst + prop->offset;

        if (prop->scope != scope)
            continue;
        if (prop->type == AW_CONF_T_STR) {
            const char *v = *(char *const *)(const void *)fs;

            *(char **)(void *)fd = v ? strdup(v) : NULL;
            if (v && !*(char **)(void *)fd)
                return AW_ERR_NOMEM;
        } else if (prop->type == AW_CONF_T_PASS && first_row_of_list(prop)) {
            const struct aw_kv *kv = *(struct aw_kv *const *)(const void *)fs;
            size_t n = *(const size_t *)(const void *)((const char *)src +
                                                       prop->count_offset);
            struct aw_kv **out = (struct aw_kv **)(void *)fd;
            size_t *nout = (size_t *)(void *)((char *)dst + prop->count_offset);

            *out = NULL;
            *nout = 0;
            for (size_t k = 0; k < n; k++)
                if (kv_set(out, nout, kv[k].key, kv[k].value, kv[k].line))
                    return AW_ERR_NOMEM;
        } else if (value_size(prop->type)) {
            memcpy(fd, fs, value_size(prop->type));
        }
    }
    return AW_OK;
}

enum aw_err aw_conf_stream_copy(struct aw_stream_conf *dst,
                                const struct aw_stream_conf *src)
{
    enum aw_err err;

    *dst = (struct aw_stream_conf){.line = src->line};
    err = props_copy(AW_CONF_SCOPE_STREAM, dst, src);
    if (err)
        aw_conf_stream_free(dst);
    return err;
}

void aw_conf_stream_free(struct aw_stream_conf *s)
{
    if (s)
        props_free(AW_CONF_SCOPE_STREAM, s);
}

bool aw_conf_stream_equal(const struct aw_stream_conf *a,
                          const struct aw_stream_conf *b)
{
    return !props_diff(AW_CONF_SCOPE_STREAM, a, b, NULL);
}

const char *aw_conf_global_diff(const struct aw_conf *a,
                                const struct aw_conf *b, const char *prefix)
{
    return props_diff(AW_CONF_SCOPE_GLOBAL, a, b, prefix);
}

void aw_conf_free(struct aw_conf *conf)
{
    if (!conf)
        return;
    for (size_t i = 0; i < conf->nstreams; i++)
        props_free(AW_CONF_SCOPE_STREAM, &conf->streams[i]);
    free(conf->streams);
    props_free(AW_CONF_SCOPE_GLOBAL, conf);
    free(conf->path);
    *conf = (struct aw_conf){0};
}

const struct aw_stream_conf *aw_conf_stream(const struct aw_conf *conf,
                                            const char *id)
{
    for (size_t i = 0; i < conf->nstreams; i++) {
        if (conf->streams[i].id && strcmp(conf->streams[i].id, id) == 0)
            return &conf->streams[i];
    }
    return NULL;
}
