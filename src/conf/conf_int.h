/*
 * Private to src/conf: the property table and the checks behind it.
 *
 * One row per key, in the manner of librdkafka's rd_kafka_properties[] and
 * nginx's command table: the dotted key, its type, where it lives
 * (offsetof), its default, its range, a one-line doc and an optional check.
 * conf.c parses, validates, applies defaults and environment overrides,
 * frees, and writes the reference and example files from this table alone,
 * so adding a key is adding a row.
 */
#ifndef AW_CONF_CONF_INT_H
#define AW_CONF_CONF_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "airwave/err.h"

enum aw_conf_type {
    AW_CONF_T_STR,     /* char *; NULL when unset */
    AW_CONF_T_BOOL,    /* bool */
    AW_CONF_T_INT,     /* int, within min..max */
    AW_CONF_T_DBL,     /* double, within min..max */
    AW_CONF_T_ENUM,    /* an int-sized enum, named by .values */
    AW_CONF_T_PASS,    /* struct aw_kv list handed to another library */
    AW_CONF_T_REFUSED, /* never accepted; .doc says what to do instead */
};

enum aw_conf_scope {
    AW_CONF_SCOPE_GLOBAL, /* fields of struct aw_conf */
    AW_CONF_SCOPE_STREAM, /* fields of struct aw_stream_conf */
};

struct aw_conf_enum {
    const char *name;
    int value;
    bool alias; /* accepted, but not listed in the docs */
};

/**
 * Checks a value after its type was parsed. \p name is the key, or for a
 * pass-through row the name with the namespace stripped ("rw_timeout").
 * Writes the reason to \p err on failure.
 */
typedef enum aw_err(aw_conf_check_fn)(const char *name, const char *value,
                                      char *err, size_t err_size);

struct aw_conf_prop {
    /* The dotted YAML path. A pass-through namespace ends in ".*" and
     * matches any key below it that no exact row claims. */
    const char *key;
    size_t offset;       /* of the field in struct aw_conf/aw_stream_conf */
    size_t count_offset; /* AW_CONF_T_PASS: of the size_t entry count */
    /* The default, parsed and checked like any value. NULL: unset (NULL
     * strings; numbers take .unset, which may lie outside the range to
     * mean "inherit"). */
    const char *def;
    double unset;
    double min, max;                   /* AW_CONF_T_INT, AW_CONF_T_DBL */
    const struct aw_conf_enum *values; /* AW_CONF_T_ENUM, or a STR's
                                          allowed values; {NULL} ends */
    aw_conf_check_fn *check;
    const char *doc;       /* one line: why the key exists */
    const char *doc_def;   /* docs: the default when .def is NULL */
    const char *doc_range; /* docs: the range when .check narrows it */
    /* Example file: a value to show when .def is NULL; for a ".*" row the
     * whole "name: value" line. */
    const char *example;
    enum aw_conf_scope scope;
    enum aw_conf_type type;
    bool required; /* streams: must be given */
};

extern const struct aw_conf_prop aw_conf_props[];
extern const size_t aw_conf_props_count;


#endif
