#ifndef CLIBMONGOC_SHIM_H
#define CLIBMONGOC_SHIM_H

/*
 * Debian builds libbson with BSON_EXTRA_ALIGN=1: bson_t is 128-byte aligned, so Swift imports every
 * `bson_t *` as OpaquePointer and a Swift `bson_t()` value is under-aligned. Never pass the address of a
 * Swift-allocated bson_t; use bson_new / bson_new_from_data / bson_destroy, or the helpers below.
 */
#include <mongoc/mongoc.h>

/* The length in bytes of a libbson-owned document (bson_t's first field is not importable as a struct). */
static inline uint32_t bcs_bson_len(const bson_t *doc) { return doc->len; }

#endif
