/*
 * The INI dialect of ~/.aws/config and ~/.aws/credentials, parsed the way
 * botocore does it (Python's configparser.RawConfigParser with its defaults,
 * then botocore's configloader.raw_config_parse with parse_subsections):
 *
 *  - Lines end at "\n", "\r\n" or a lone "\r" (Python universal newlines).
 *    The file must be valid UTF-8 (Python fails with UnicodeDecodeError);
 *    a NUL byte is refused too (a difference: Python accepts it).
 *  - A line whose stripped text starts with '#' or ';' is a comment, also
 *    when indented. There are NO inline comments: "region = x # y" has the
 *    value "x # y", exactly as botocore reads it.
 *  - "[NAME]" (the stripped line starting with '[', NAME running to the
 *    last ']') opens a section; names are case-sensitive and kept verbatim.
 *    A section that appears twice in one file is an error (strict mode).
 *    "[DEFAULT]" is configparser's defaults section: its keys are inherited
 *    by every section of the same file and it is not a section itself.
 *  - "key = value" or "key: value", split at the first '=' or ':'; keys are
 *    lower-cased (optionxform), values stripped. A key twice in one section
 *    is an error.
 *  - A line indented deeper than the key line that precedes it continues
 *    that key's value (joined with "\n"); blank lines inside are kept,
 *    trailing ones dropped. A value that starts with a newline ("s3 =" then
 *    indented lines) is a nested block of "k = v" lines: every such line must
 *    contain '=' (else the whole file is invalid, as in botocore); nested
 *    keys are not lower-cased and a repeated one overrides the earlier.
 *  - Whitespace is Python's str.isspace() set, Unicode spaces included.
 *
 * Invariants: every input is bounded (KR_CONFIG_FILE_MAX bytes per file,
 * KR_CONFIG_LINE_MAX bytes per line); any byte sequence gives either a
 * parsed file or KR_ERR_CONFIG / KR_ERR_TOOBIG with file, line and what in
 * the error detail, never a crash. Credentials files hold secrets, so every string of
 * a struct ini, and the raw file contents, are wiped before they are freed.
 */
#ifndef KR_INI_H
#define KR_INI_H

#include "err.h"

#include <stddef.h>

struct ini_kv {
	char *key;          /* lower-cased; for nested pairs verbatim */
	char *value;        /* the joined value; "" allowed */
	int line;           /* line of the key */
	struct ini_kv *sub; /* nested pairs when value starts with '\n', else NULL */
	size_t n_sub;
	int colon; /* split at ':' ("key: value"), which only botocore takes */
};

struct ini_section {
	char *name; /* verbatim, between the brackets */
	int line;
	struct ini_kv *kvs; /* in file order; inherited [DEFAULT] keys last */
	size_t n_kvs;
};

struct ini {
	char *filename;           /* as given (for messages) */
	int found;                /* 0 when the file does not exist (then it is empty) */
	struct ini_section *secs; /* in file order */
	size_t n_secs;
	/* private */
	int refs;
};

/*
 * Parse len bytes of data (need not be NUL-terminated). filename is used
 * in messages only. On failure e (may be NULL) gets file, line, what and a
 * fix, and the code is KR_ERR_CONFIG (bad syntax, bad UTF-8) or
 * KR_ERR_TOOBIG (over a cap).
 * The caller owns *ret and frees it with ini_free().
 */
int ini_parse(const char *data, size_t len, const char *filename, struct ini **ret,
              struct err_detail *e);

/*
 * Load and parse the file at path (absolute). A missing file gives an
 * empty struct ini with found = 0, not an error. Parsed files are cached by
 * path: while the file's directory had no event (daemon/fwatch.c: inotify)
 * a call costs one empty read of the watch, else when st_ino, st_size,
 * st_mtim and st_ctim are unchanged one stat(), and returns the same
 * shared object; an edited file is read again. The returned object is shared and read-only: release
 * it with ini_free(). Safe to call from several threads.
 */
int ini_load(const char *path, struct ini **ret, struct err_detail *e);

/* ini_load() of two files, with one read of the file watch's events for both. */
int ini_load_pair(const char *a, const char *b, struct ini **ret_a, struct ini **ret_b,
                  struct err_detail *e);

/* Release a struct ini (wiped when the last reference goes). NULL is a no-op. */
void ini_free(struct ini *ini);

/* Drop every cached file (wiping them once no caller holds a reference). */
void ini_cache_clear(void);

/* The section called name, or NULL. */
const struct ini_section *ini_section(const struct ini *ini, const char *name);

/* The key in a section (key lower-case), or NULL. s may be NULL. */
const struct ini_kv *ini_get(const struct ini_section *s, const char *key);

/* A nested key (verbatim), or NULL. kv may be NULL. */
const struct ini_kv *ini_sub(const struct ini_kv *kv, const char *key);

#endif
