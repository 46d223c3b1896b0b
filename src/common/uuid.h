/*
 * UUIDs: random (v4) for connection and request ids, name-based (v5, SHA-1)
 * for transcript ids that a consumer can recompute and deduplicate on.
 */
#ifndef AW_COMMON_UUID_H
#define AW_COMMON_UUID_H

#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"

struct aw_uuid {
    uint8_t b[16];
};

/* Text sizes, terminator included. */
#define AW_UUID_STR_LEN    37 /* 8-4-4-4-12, lower case */
#define AW_UUID_NODASH_LEN 33 /* 32 hex digits, upper case (Azure ids) */

/** @returns AW_OK, or AW_ERR_IO if the system has no entropy to give. */
enum aw_err aw_uuid_v4(struct aw_uuid *u);

/** UUIDv5 of \p name (\p len bytes) in the namespace \p ns (RFC 4122 §4.3). */
void aw_uuid_v5(struct aw_uuid *u, const struct aw_uuid *ns, const void *name,
                size_t len);

void aw_uuid_format(const struct aw_uuid *u, char out[AW_UUID_STR_LEN]);
void aw_uuid_format_nodash(const struct aw_uuid *u,
                           char out[AW_UUID_NODASH_LEN]);

/**
 * @brief Parse either form (dashed or 32 hex digits, any case).
 * @returns AW_OK or AW_ERR_INVAL.
 */
enum aw_err aw_uuid_parse(const char *s, size_t len, struct aw_uuid *u);

/** @returns true if \p s (\p len bytes) is 32 hex digits, no dashes. */
int aw_uuid_is_nodash(const char *s, size_t len);

/** The namespace of airwave transcript ids. */
extern const struct aw_uuid aw_uuid_ns_airwave;

#endif
