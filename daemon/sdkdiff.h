/*
 * Where botocore and the other AWS SDKs read a line of ~/.aws/config or
 * ~/.aws/credentials differently. The Go, JavaScript, Java and Rust SDKs
 * follow one profile-file specification (its cases:
 * tests/data/sdk-profile-parser/); botocore is configparser. keyrole reads
 * as botocore does (ini.c); `keyrole check` warns at each line the others
 * read otherwise, saying what each side reads and the unambiguous form.
 */
#ifndef KR_SDKDIFF_H
#define KR_SDKDIFF_H

#include "ini.h"

/* Called once per line that differs; msg and fix are only valid during the call. */
typedef int (*sdkdiff_fn)(void *ctx, int line, const char *msg, const char *fix);

/*
 * Walk a parsed file (config: is_config = 1) and call fn for every
 * difference; only (NULL: all) limits it to the lines of that section
 * (and, in the config file, the [default] / [profile default] pair). A
 * negative return of fn stops the walk and is returned.
 */
int sdkdiff_lint(const struct ini *ini, int is_config, const struct ini_section *only,
                 sdkdiff_fn fn, void *ctx);

#endif
