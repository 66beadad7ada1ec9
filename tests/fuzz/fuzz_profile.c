/*
 * libFuzzer harness: profile resolution from fuzzed ~/.aws files. The input
 * is the config file, optionally followed by a NUL byte and the credentials
 * file (NUL is never valid inside either, so it is a safe separator). Both
 * are written to a private temp dir and read back through the daemon's own
 * path (ini_load, profile_check, profile_resolve, profile_hop_key), as a
 * "check" and a "get" request would.
 *
 * Contracts checked, beyond "no crash, no leak, no UB":
 * - profile_check() fails only with NOMEM/INVAL and otherwise reports
 *   every profile with a name;
 * - profile_resolve() fails only with the codes profile.h documents, with
 *   a NUL-terminated, non-empty reason;
 * - a resolved chain has a source, at most KR_CHAIN_MAX hops, each with a
 *   role ARN, and a cache key for every hop.
 */
#include "buf.h"
#include "caps.h"
#include "err.h"
#include "ini.h"
#include "msg.h"
#include "profile.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KR_FUZZ_RESOLVE_MAX 32 /* profiles resolved per input (time bound) */

static char dir[64], config[96], creds[96];

static void cleanup(void)
{
	unlink(config);
	unlink(creds);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	msg_install_json_hooks();
	snprintf(dir, sizeof(dir), "%s/kr-fuzz-profile-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(dir))
		abort();
	snprintf(config, sizeof(config), "%s/config", dir);
	snprintf(creds, sizeof(creds), "%s/credentials", dir);
	atexit(cleanup);
	return 0;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		abort();
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			abort();
		p += w;
		n -= (size_t)w;
	}
	close(fd);
}

static int resolve_err_ok(int r)
{
	return r == KR_ERR_NOPROFILE || r == KR_ERR_CONFIG || r == KR_ERR_UNSUPPORTED ||
	       r == KR_ERR_NOCREDS || r == KR_ERR_TOOBIG || r == KR_ERR_NOMEM || r == KR_ERR_INVAL;
}

static void resolve_one(const struct profile_env *env, const char *name)
{
	struct profile_chain *c = NULL;
	char errbuf[512];
	char *sn;
	int r;

	memset(errbuf, 'x', sizeof(errbuf));
	r = profile_resolve(env, name, &c, errbuf, sizeof(errbuf));
	if (r < 0) {
		if (c || !resolve_err_ok(r) || strnlen(errbuf, sizeof(errbuf)) == sizeof(errbuf) ||
		    errbuf[0] == '\0')
			abort();
	} else {
		if (!c || !c->name || c->n_hops > KR_CHAIN_MAX)
			abort();
		for (size_t i = 0; i < c->n_hops; i++) {
			struct buf key;
			if (!c->hops[i].role_arn)
				abort();
			buf_init(&key, 1 << 20);
			if (profile_hop_key(c, i, &key) < 0 || key.len == 0)
				abort();
			buf_free(&key);
		}
		profile_chain_free(c);
	}
	sn = profile_default_session_name(name);
	if (sn && strlen(sn) > 64)
		abort();
	free(sn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t clen = nul ? (size_t)(nul - data) : size;
	struct profile_env env;
	cJSON *profiles = NULL, *p;
	int r, n = 0;

	if (size > KR_CONFIG_FILE_MAX)
		return 0;
	write_file(config, data, clen);
	if (nul)
		write_file(creds, nul + 1, size - clen - 1);
	else
		unlink(creds);
	/* Same size and a coarse mtime could look unchanged to the cache. */
	profile_cache_clear();
	ini_cache_clear();

	memset(&env, 0, sizeof(env));
	env.home = dir;
	env.config_file = config;
	env.credentials_file = creds;
	env.access_key_id = "AKIAFUZZFUZZFUZZFUZZ";
	env.secret_access_key = "fuzz-secret";

	r = profile_check(&env, NULL, &profiles);
	if (r < 0) {
		if (r != KR_ERR_NOMEM && r != KR_ERR_INVAL)
			abort();
		goto out;
	}
	cJSON_ArrayForEach(p, profiles)
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
		if (!cJSON_IsString(name))
			abort();
		if (n++ < KR_FUZZ_RESOLVE_MAX)
			resolve_one(&env, name->valuestring);
	}
	/* And a name that is not there (or is, by luck): the "get" path's first step. */
	resolve_one(&env, "default");
out:
	cJSON_Delete(profiles);
	return 0;
}
