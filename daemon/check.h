/*
 * `keyrole check`: how each profile resolves (its chain of steps) and every
 * problem found on the way, with file, line and fix, as plain C data that
 * daemon/msg.c puts on the wire. Nothing here calls AWS.
 */
#ifndef KR_CHECK_H
#define KR_CHECK_H

#include "request.h"

#include <stddef.h>

struct chain;

/* One step as check shows it (strings borrowed from the chain the report keeps). */
struct step_report {
	const char *kind; /* "source" or "role"; NULL: a step check does not list */
	const char *type; /* a source's type: "static", "keyring", "environment", "process"... */
	const char *profile, *file;
	int line;
	char access_key_id[16]; /* masked: "****" and the last 4 characters; "" for none */
	const char *command;    /* a credential_process */
	const char *role_arn, *session_name, *external_id, *mfa_serial, *region, *endpoint;
	/* an IAM Identity Center source (region and endpoint: sso_region and the portal's) */
	const char *sso_session, *start_url, *account_id, *role_name;
	int duration, duration_capped;
	/* web identity: the token file; instance metadata, container: the endpoint's URL */
	const char *token_file, *url;
};

struct check_problem {
	int error; /* 1: an error (the profile cannot work), 0: a warning */
	char *file;
	int line;
	char *msg, *fix;
};

struct check_report {
	char *name;
	char *target;        /* a tool profile's: the profile its keyrole get names, or NULL */
	int ok;              /* no error problem */
	struct chain *chain; /* kept for the steps' strings; may be partial or NULL */
	struct step_report *steps;
	size_t n_steps;
	struct check_problem *problems;
	size_t n_problems;
};

struct check_reports {
	struct check_report *r;
	size_t n;
};

struct source_table;

/*
 * Reports for name, or for every profile of both files when name is NULL
 * (config file order, then credentials-only profiles). A file that cannot
 * be parsed gives one report (named after the request, or "*") with the
 * error; a missing profile a report with an error, not a failure. Fails
 * only with KR_ERR_NOMEM. sources: the source table (NULL: the built-in one).
 */
int check_profiles(const struct caller_env *env, const char *name,
                   const struct source_table *sources, struct check_reports **ret);

/* What keyroled knows beyond the files: the profiles with keys in the keyring. */
struct check_in {
	const char *const *stored;
	size_t n_stored;
};

/* The same, with in (NULL: nothing known): keys in a file that shadow stored ones are a warning. */
int check_profiles_in(const struct caller_env *env, const char *name,
                      const struct source_table *sources, const struct check_in *in,
                      struct check_reports **ret);

void check_reports_free(struct check_reports *c);

struct pmap;
/* The profile of m whose name is nearest to name (a typo of it: a did-you-mean), or NULL. */
const char *check_nearest_profile(const struct pmap *m, const char *name);

#endif
