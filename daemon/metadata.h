/*
 * What the credential sources of a machine share (source_imds.c,
 * source_container.c, source_webid.c): the credentials JSON that the
 * instance metadata service and the container credentials endpoint answer,
 * and a small token file read whole, with a cap.
 *
 * Invariants:
 * - Both read untrusted input: sizes are checked before anything is
 *   copied, and what they copy of a secret lives in secret memory.
 * - Neither logs nor puts a value read into a message.
 */
#ifndef KR_METADATA_H
#define KR_METADATA_H

#include "err.h"
#include "sts.h"

#include <stddef.h>

/*
 * Parse {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} (each a
 * non-empty string, Expiration RFC 3339; other members ignored), what
 * botocore's InstanceMetadataFetcher and ContainerProvider require. what
 * names the endpoint in e ("the instance metadata service"). KR_ERR_PARSE
 * (e filled, never with a value from the answer) or KR_ERR_NOMEM; *ret is
 * set only on success.
 */
int metadata_parse_creds(const char *json, size_t len, const char *what, struct sts_creds *ret,
                         struct err_detail *e);

/*
 * Read the file at path whole (a web identity or container authorization
 * token), at most max bytes, into secret memory (free with mem_free_str()).
 * KR_ERR_NOCREDS when it cannot be read (e says why, with the path),
 * KR_ERR_TOOBIG past max, KR_ERR_PARSE for a NUL byte; what names the file
 * for a person ("web identity token file").
 */
int metadata_read_file(const char *path, size_t max, const char *what, char **ret,
                       struct err_detail *e);

#endif
