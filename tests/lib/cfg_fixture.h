/*
 * The fixture of the unit tests that resolve profiles from real files
 * (tests/unit/test_profile.c, test_sso_conf.c): a private directory with a
 * config and a credentials file, and the caller's environment pointing at
 * them (HOME is the directory). Teardown removes both files and the
 * directory, and drops every cache of parsed files and resolved chains.
 */
#ifndef KR_TEST_CFG_FIXTURE_H
#define KR_TEST_CFG_FIXTURE_H

#include "ini.h"
#include "pmap.h"
#include "request.h"
#include "resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
	char dir[64];
	char config[128];
	char creds[128];
	struct caller_env env;
};

/* Write text to path (the test fails if it cannot). */
static inline void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static inline int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/kr_profile_XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->config, sizeof(fx->config), "%s/config", fx->dir);
	snprintf(fx->creds, sizeof(fx->creds), "%s/credentials", fx->dir);
	fx->env.home = fx->dir;
	fx->env.config_file = fx->config;
	fx->env.credentials_file = fx->creds;
	*state = fx;
	return 0;
}

static inline int teardown(void **state)
{
	struct fx *fx = *state;

	unlink(fx->config);
	unlink(fx->creds);
	rmdir(fx->dir);
	resolve_memo_clear();
	pmap_cache_clear();
	ini_cache_clear();
	free(fx);
	return 0;
}

#endif
