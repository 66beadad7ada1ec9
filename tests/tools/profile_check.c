/*
 * profile_check [PROFILE]: print exactly the JSON "profiles" array that the
 * daemon's "check" op returns for PROFILE (all profiles without one), for
 * the configuration seen through this process's environment: the same
 * variables the client sends (doc/protocol.txt). A relative AWS_CONFIG_FILE
 * or AWS_SHARED_CREDENTIALS_FILE is made absolute against the current
 * directory, as the client does before it sends them.
 * Exit status: 0 when every reported profile is ok, 1 otherwise, 2 on error.
 */
#include "err.h"
#include "msg.h"
#include "profile.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *absolute(const char *p)
{
	char cwd[4096];
	size_t n;
	char *r;

	if (!p || !p[0] || p[0] == '/' || p[0] == '~' || p[0] == '$' || !getcwd(cwd, sizeof(cwd)))
		return p ? strdup(p) : NULL;
	n = strlen(cwd) + strlen(p) + 2;
	r = malloc(n);
	if (r)
		snprintf(r, n, "%s/%s", cwd, p);
	return r;
}

int main(int argc, char **argv)
{
	struct profile_env env;
	cJSON *profiles = NULL, *p;
	char *cf = absolute(getenv("AWS_CONFIG_FILE"));
	char *kf = absolute(getenv("AWS_SHARED_CREDENTIALS_FILE"));
	char *out;
	int r, rc = 0;

	if (argc > 2) {
		fprintf(stderr, "usage: profile_check [PROFILE]\n");
		return 2;
	}
	msg_install_json_hooks();
	memset(&env, 0, sizeof(env));
	env.home = getenv("HOME");
	env.config_file = cf;
	env.credentials_file = kf;
	env.region = getenv("AWS_REGION");
	env.default_region = getenv("AWS_DEFAULT_REGION");
	env.endpoint_url = getenv("AWS_ENDPOINT_URL");
	env.endpoint_url_sts = getenv("AWS_ENDPOINT_URL_STS");
	env.sts_regional_endpoints = getenv("AWS_STS_REGIONAL_ENDPOINTS");
	env.ca_bundle = getenv("AWS_CA_BUNDLE");
	env.ignore_configured_endpoint_urls = getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	env.access_key_id = getenv("AWS_ACCESS_KEY_ID");
	env.secret_access_key = getenv("AWS_SECRET_ACCESS_KEY");
	env.session_token = getenv("AWS_SESSION_TOKEN");
	r = profile_check(&env, argc == 2 ? argv[1] : NULL, &profiles);
	if (r < 0) {
		fprintf(stderr, "profile_check: %s\n", err_str(r));
		rc = 2;
		goto out;
	}
	cJSON_ArrayForEach(p, profiles)
	{
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "ok")))
			rc = 1;
	}
	out = cJSON_Print(profiles);
	if (!out) {
		rc = 2;
		goto out;
	}
	printf("%s\n", out);
	cJSON_free(out);
out:
	cJSON_Delete(profiles);
	free(cf);
	free(kf);
	return rc;
}
