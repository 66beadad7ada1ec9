/*
 * The one cache-key encoder. A key names everything that changes what a
 * step of a chain yields: the step's source and its settings, and the key
 * of every step below it, so two different chains never share a key. `get`
 * and `forget` use the same keys (each step's key is made once, when the
 * chain is resolved).
 *
 * Format (versioned and length-prefixed, so that no two inputs give the
 * same text):  "kr3;"  then per step  "|NAME;"  then its fields, each
 * "TAG" LEN ":" VALUE ";"  or  "TAG-;"  for a value that is not set.
 * Keys never hold a secret: a secret is named by a truncated,
 * domain-separated SHA-256 (ckey_secret()).
 */
#ifndef KR_CACHEKEY_H
#define KR_CACHEKEY_H

#include "buf.h"

#include <stdint.h>

#define CKEY_VERSION "kr3;"

/* Start a key. */
int ckey_begin(struct buf *b);
/* Start a step's part: "|NAME;". */
int ckey_step(struct buf *b, const char *source_name);
/* One field; v NULL = not set. */
int ckey_str(struct buf *b, const char *tag, const char *v);
int ckey_int(struct buf *b, const char *tag, long v);
/* A field naming secret (and token, may be NULL) by a digest, never by value. */
int ckey_secret(struct buf *b, const char *tag, const char *secret, const char *token);

/* The hash the cache finds a key by (FNV-1a: keys come from our own resolver). */
uint64_t ckey_hash(const char *key);

/* The name of a key's item in the keyring: the hex SHA-256 of the key. */
int ckey_digest(const char *key, char out[65]);

#endif
