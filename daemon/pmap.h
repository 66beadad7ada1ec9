/*
 * The profile map: ~/.aws/config and ~/.aws/credentials merged the way
 * botocore 1.43 merges them, and the values of one profile with the file
 * and line each came from.
 *
 *  - Config sections "[profile NAME]" (NAME is the second shlex word of the
 *    header; any header starting with "profile" counts) and "[default]";
 *    "[services NAME]" and "[sso-session NAME]" sections (config file only;
 *    NAME as for profiles, the last of several wins); credentials file
 *    sections are profiles by their raw name. A profile in both files is merged key by key and the
 *    credentials file wins. If several config headers name one profile, the
 *    last one wins whole.
 *  - Paths: AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE of the caller
 *    (a leading "~", "$HOME" or "${HOME}" expanded with the caller's HOME),
 *    else HOME/.aws/config and HOME/.aws/credentials. A relative path is an
 *    error: the daemon does not know the caller's working directory.
 *
 * A map is built once per pair of unchanged files and shared read-only
 * (files are checked on every load, so an edit is seen by the next
 * request). Values are borrowed from the map: copy what outlives it.
 */
#ifndef KR_PMAP_H
#define KR_PMAP_H

#include "err.h"
#include "ini.h"
#include "request.h"

#include <stddef.h>

struct pmap;
struct pmap_profile;

/* Which file a value may come from. */
enum pmap_file {
	PMAP_ANY = 0,     /* merged: the credentials file's key wins */
	PMAP_CONFIG,      /* ~/.aws/config only */
	PMAP_CREDENTIALS, /* ~/.aws/credentials only */
};

/* One value with where it came from. */
struct pmap_val {
	const char *v;
	const char *file;
	int line;
	const struct ini_kv *kv;
};

/*
 * The map of the caller's files (a reference: release with pmap_release()).
 * On failure e says which file is unusable and why (KR_ERR_CONFIG), or
 * KR_ERR_NOMEM.
 */
int pmap_load(const struct caller_env *env, const struct pmap **ret, struct err_detail *e);
void pmap_release(const struct pmap *m);
/* Another reference to m (released with pmap_release()). */
const struct pmap *pmap_ref(const struct pmap *m);

/* Drop the cached maps (tests, fuzzers, exit). */
void pmap_cache_clear(void);

/* A profile by name, or NULL. */
const struct pmap_profile *pmap_find(const struct pmap *m, const char *name);
/* Every profile in file order (config file, then credentials-only ones). */
size_t pmap_count(const struct pmap *m);
const struct pmap_profile *pmap_at(const struct pmap *m, size_t i);
const char *pmap_name(const struct pmap_profile *p);

/* Is key set for profile p in file f? Fills out (may be NULL) when it is. */
int pmap_get(const struct pmap *m, const struct pmap_profile *p, enum pmap_file f, const char *key,
             struct pmap_val *out);

/*
 * A copy of a single-line value of at most KR_VALUE_MAX bytes; an indented
 * block, a continued line or a longer value is a config error naming key.
 */
int pmap_take(const struct pmap_val *v, const char *key, char **ret, struct err_detail *e);

/* pmap_get() + pmap_take(); *ret NULL when the key is not set. */
int pmap_take_opt(const struct pmap *m, const struct pmap_profile *p, const char *key, char **ret,
                  struct err_detail *e);

/* Where the profile is defined (its config section, else its credentials one). */
void pmap_where(const struct pmap *m, const struct pmap_profile *p, const char **ret_file,
                int *ret_line);

/* The profile's section in one file (NULL when it has none there), and that file's name. */
const struct ini_section *pmap_section(const struct pmap *m, const struct pmap_profile *p,
                                       enum pmap_file f);
const char *pmap_filename(const struct pmap *m, enum pmap_file f);
/* The parsed file itself (PMAP_CONFIG or PMAP_CREDENTIALS); NULL for PMAP_ANY. */
const struct ini *pmap_ini(const struct pmap *m, enum pmap_file f);

/* The [services NAME] section, or NULL. */
const struct ini_section *pmap_services(const struct pmap *m, const char *name);

/* The [sso-session NAME] section (its keys: ini_get()), or NULL; name may be NULL. */
const struct ini_section *pmap_sso_session(const struct pmap *m, const char *name);

#endif
