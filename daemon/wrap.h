/*
 * `keyrole wrap`: the tool profile for a chain profile, as text. A tool
 * profile is what the AWS tools use (credential_process = keyrole get
 * CHAIN, the region carried over); see resolve.h. keyroled only plans:
 * the client appends the text to the config file (keyroled may not write
 * to the home: its unit has ProtectHome=read-only).
 */
#ifndef KR_WRAP_H
#define KR_WRAP_H

#include "err.h"
#include "request.h"

#include <stddef.h>

struct source_table;

struct wrap_section {
	char *name;   /* the tool profile */
	char *target; /* the chain profile it runs keyrole get for */
	char *text;   /* "[profile NAME]\ncredential_process = ...\nregion = ...\n" */
};

struct wrap_skip {
	char *profile, *reason;
};

struct wrap_plan {
	char *file; /* the config file the sections belong in */
	struct wrap_section *s;
	size_t n;
	struct wrap_skip *skipped; /* --all: chains left alone, and why */
	size_t n_skipped;
};

/*
 * The tool profile of profile (named as, or the default name: profile
 * without a "-chain" suffix, else profile + "-keyrole"), or with profile
 * NULL those of every chain profile (a role or an IAM Identity Center
 * source) that no tool profile points at yet. keyrole is the client's
 * absolute path (else "keyrole" is written). Errors (e: file, line, fix):
 * KR_ERR_NOPROFILE (with a did-you-mean), KR_ERR_CONFIG (the profile does
 * not resolve, is a tool profile already, or the name is taken),
 * KR_ERR_INVAL, KR_ERR_NOMEM.
 */
int wrap_make(const struct caller_env *env, const char *profile, const char *as,
              const char *keyrole, const struct source_table *sources, struct wrap_plan **ret,
              struct err_detail *e);

void wrap_plan_free(struct wrap_plan *w);

#endif
