/*
 * libFuzzer harness: profile resolution from fuzzed ~/.aws files. The input
 * is the config file, optionally followed by a NUL byte and the credentials
 * file (NUL is never valid inside either, so it is a safe separator). Both
 * are written to a private temp dir and read back through the daemon's own
 * path (pmap_load, check_profiles, resolve_chain and the sources), as a
 * "check" and a "get" request would.
 *
 * Contracts checked, beyond "no crash, no leak, no UB":
 * - check_profiles() fails only with NOMEM and otherwise reports every
 *   profile with a name, and its report encodes into a reply;
 * - resolve_chain() fails only with the codes resolve.h documents, with a
 *   NUL-terminated, non-empty reason;
 * - a resolved chain has a source (not a role; IAM Identity Center's is the
 *   one source of role sessions), at most KR_CHAIN_MAX roles, each with a
 *   role ARN, and a cache key for every step, each longer than the one
 *   below it (a step's key covers every step below it).
 */
#include "buf.h"
#include "caps.h"
#include "err.h"
#include "ini.h"
#include "check.h"
#include "msg.h"
#include "pmap.h"
#include "resolve.h"
#include "source.h"

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

static void resolve_one(const struct caller_env *env, const char *name)
{
	struct resolve_opts o = {.mfa_duration = 43200};
	struct chain *c = NULL;
	struct err_detail e;
	size_t roles = 0;
	char *sn;
	int r;

	memset(&e, 'x', sizeof(e));
	e.code = 0;
	e.msg[0] = '\0';
	r = resolve_chain(env, name, &o, &c, &e);
	if (r < 0) {
		if (c || !resolve_err_ok(r) || strnlen(e.msg, sizeof(e.msg)) == sizeof(e.msg) ||
		    e.msg[0] == '\0' || strnlen(e.file, sizeof(e.file)) == sizeof(e.file))
			abort();
	} else {
		/*
		 * The first step is a source: a role session only from IAM Identity
		 * Center, web identity, instance metadata or a container endpoint.
		 */
		if (!c || !c->name || c->n == 0 ||
		    ((c->steps[0].ops->flags & SOURCE_ROLE_SESSION) &&
		     c->steps[0].ops != &source_sso && c->steps[0].ops != &source_webid &&
		     c->steps[0].ops != &source_imds && c->steps[0].ops != &source_container))
			abort();
		for (size_t i = 0; i < c->n; i++) {
			const struct step *s = &c->steps[i];

			if (!s->key || !s->key[0] ||
			    (i > 0 && strlen(s->key) <= strlen(c->steps[i - 1].key)))
				abort();
			if (s->ops == &source_assume_role && (roles++, !s->role_arn))
				abort();
		}
		if (roles > KR_CHAIN_MAX)
			abort();
		chain_unref(c);
	}
	sn = source_assume_default_session_name(name);
	if (sn && strlen(sn) > 64)
		abort();
	free(sn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t clen = nul ? (size_t)(nul - data) : size;
	struct check_reports *reports = NULL;
	struct reply reply = {.op = OP_CHECK, .ok = 1};
	struct caller_env env;
	struct buf frame;
	int r;

	if (size > KR_CONFIG_FILE_MAX)
		return 0;
	write_file(config, data, clen);
	if (nul)
		write_file(creds, nul + 1, size - clen - 1);
	else
		unlink(creds);
	/* Same size and a coarse mtime could look unchanged to the cache. */
	pmap_cache_clear();
	ini_cache_clear();

	memset(&env, 0, sizeof(env));
	env.home = dir;
	env.config_file = config;
	env.credentials_file = creds;
	env.access_key_id = "AKIAFUZZFUZZFUZZFUZZ";
	env.secret_access_key = "fuzz-secret";

	r = check_profiles(&env, NULL, NULL, &reports);
	if (r < 0) {
		if (r != KR_ERR_NOMEM)
			abort();
		return 0;
	}
	buf_init(&frame, KR_RESP_MAX);
	reply.u.check = reports;
	if (msg_encode_reply(&reply, &frame) < 0 && frame.len == 0 && reports->n < 1000)
		abort();
	buf_free(&frame);
	for (size_t i = 0; i < reports->n; i++) {
		if (!reports->r[i].name)
			abort();
		if (i < KR_FUZZ_RESOLVE_MAX)
			resolve_one(&env, reports->r[i].name);
	}
	/* And a name that is not there (or is, by luck): the "get" path's first step. */
	resolve_one(&env, "default");
	check_reports_free(reports);
	return 0;
}
