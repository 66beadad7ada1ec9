/*
 * Credentials JSON of the instance metadata service and the container
 * credentials endpoint, and token files; see metadata.h.
 */
#include "metadata.h"

#include "caps.h"
#include "json.h"
#include "mem.h"
#include "rfc3339.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A non-empty string member of at most max bytes, or NULL. */
static const char *member(const struct json *o, const char *key, size_t max)
{
	const char *s = json_get_str(o, key);

	return s && *s && strnlen(s, max + 1) <= max ? s : NULL;
}

int metadata_parse_creds(const char *json, size_t len, const char *what, struct sts_creds *ret,
                         struct err_detail *e)
{
	const char *fix = "the endpoint must answer {\"AccessKeyId\", \"SecretAccessKey\", "
	                  "\"Token\", \"Expiration\"}";
	struct sts_creds c = {0};
	struct json *o = NULL;
	const char *akid, *secret, *token, *exp;
	int r = KR_ERR_PARSE;

	if (len > KR_METADATA_RESP_MAX || json_parse(json, len, &o) < 0 ||
	    json_type(o) != JSON_OBJECT) {
		err_set(e, r, NULL, 0, fix, "%s answered something that is not a JSON object",
		        what);
		goto out;
	}
	akid = member(o, "AccessKeyId", KR_SIGV4_KEY_MAX);
	secret = member(o, "SecretAccessKey", KR_SIGV4_KEY_MAX);
	token = member(o, "Token", KR_SIGV4_TOKEN_MAX);
	exp = member(o, "Expiration", 64);
	if (!akid || !secret || !token || !exp) {
		err_set(e, r, NULL, 0, fix,
		        "%s answered without AccessKeyId, SecretAccessKey, Token or Expiration",
		        what);
		goto out;
	}
	if (rfc3339_parse(exp, &c.expiration) < 0) {
		err_set(e, r, NULL, 0, fix,
		        "%s answered an Expiration that is not an RFC 3339 time", what);
		goto out;
	}
	c.access_key_id = mem_strdup_max(akid, KR_SIGV4_KEY_MAX);
	c.secret_access_key = mem_secret_strdup(secret, KR_SIGV4_KEY_MAX);
	c.session_token = mem_secret_strdup(token, KR_SIGV4_TOKEN_MAX);
	if (!c.access_key_id || !c.secret_access_key || !c.session_token) {
		r = KR_ERR_NOMEM;
		err_set_code(e, r);
		goto out;
	}
	*ret = c;
	memset(&c, 0, sizeof(c));
	r = KR_OK;
out:
	sts_creds_clear(&c);
	json_free(o);
	return r;
}

int metadata_read_file(const char *path, size_t max, const char *what, char **ret,
                       struct err_detail *e)
{
	char *data = NULL;
	size_t len = 0;
	int fd, r = KR_OK;
	struct stat st;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int err = fd < 0 ? errno : EINVAL;

		err_set(e, KR_ERR_NOCREDS, path, 0,
		        "check the path, and that whatever writes the file has written it",
		        "cannot read the %s: %s", what,
		        fd >= 0 && !S_ISREG(st.st_mode) ? "not a regular file" : strerror(err));
		r = KR_ERR_NOCREDS;
		goto out;
	}
	data = mem_secret_alloc(max + 2);
	if (!data) {
		r = KR_ERR_NOMEM;
		err_set_code(e, r);
		goto out;
	}
	/* Read one byte past the cap: a longer file is refused, not cut. */
	while (len <= max) {
		ssize_t n = read(fd, data + len, max + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, KR_ERR_NOCREDS, path, 0, NULL, "cannot read the %s: %s", what,
			        strerror(errno));
			r = KR_ERR_NOCREDS;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		err_set(e, KR_ERR_TOOBIG, path, 0, NULL, "the %s is larger than %zu bytes", what,
		        max);
		r = KR_ERR_TOOBIG;
		goto out;
	}
	data[len] = '\0';
	if (memchr(data, '\0', len)) {
		err_set(e, KR_ERR_PARSE, path, 0, NULL, "the %s holds a NUL byte", what);
		r = KR_ERR_PARSE;
		goto out;
	}
	/* A copy of its own length, so that mem_free_str() wipes it all. */
	*ret = mem_secret_strdup(data, len);
	if (!*ret) {
		r = KR_ERR_NOMEM;
		err_set_code(e, r);
	}
out:
	if (fd >= 0)
		close(fd);
	if (data)
		mem_free_secret(data, max + 2);
	return r;
}
