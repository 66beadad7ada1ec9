/*
 * profile_check [PROFILE]: print exactly the JSON "profiles" array that the
 * daemon's "check" op returns for PROFILE (all profiles without one), for
 * the configuration seen through this process's environment: the same
 * variables the client sends (doc/protocol.txt). A relative AWS_CONFIG_FILE
 * or AWS_SHARED_CREDENTIALS_FILE is made absolute against the current
 * directory, as the client does before it sends them.
 * Exit status: 0 when every reported profile is ok, 1 otherwise, 2 on error.
 */
#include "check.h"
#include "err.h"
#include "msg.h"
#include "pmap.h"
#include "proto.h"

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
	struct caller_env env;
	struct check_reports *reports = NULL;
	struct reply reply = {.op = OP_CHECK, .ok = 1};
	cJSON *msg = NULL, *p;
	struct buf frame;
	char *cf = absolute(getenv("AWS_CONFIG_FILE"));
	char *kf = absolute(getenv("AWS_SHARED_CREDENTIALS_FILE"));
	char *out;
	int r, rc = 0;

	if (argc > 2) {
		fprintf(stderr, "usage: profile_check [PROFILE]\n");
		return 2;
	}
	msg_install_json_hooks();
	buf_init(&frame, KR_RESP_MAX);
	memset(&env, 0, sizeof(env));
	for (size_t i = 0; i < caller_env_n_fields; i++)
		*(const char **)((char *)&env + caller_env_fields[i].offset) =
		    getenv(caller_env_fields[i].name);
	env.config_file = cf;
	env.credentials_file = kf;
	memset(&env.proxy, 0, sizeof(env.proxy));
	r = check_profiles(&env, argc == 2 ? argv[1] : NULL, NULL, &reports);
	if (r == KR_OK) {
		reply.u.check = reports;
		r = msg_encode_reply(&reply, &frame);
	}
	if (r == KR_OK &&
	    !(msg = cJSON_ParseWithLength(frame.data + KR_FRAME_HDR, frame.len - KR_FRAME_HDR)))
		r = KR_ERR_PARSE;
	if (r < 0) {
		fprintf(stderr, "profile_check: %s\n", err_str(r));
		rc = 2;
		goto out;
	}
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(msg, "profiles"))
	{
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "ok")))
			rc = 1;
	}
	out = cJSON_Print(cJSON_GetObjectItemCaseSensitive(msg, "profiles"));
	if (!out) {
		rc = 2;
		goto out;
	}
	printf("%s\n", out);
	cJSON_free(out);
out:
	cJSON_Delete(msg);
	check_reports_free(reports);
	buf_free(&frame);
	pmap_cache_clear();
	free(cf);
	free(kf);
	return rc;
}
