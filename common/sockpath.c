#include "sockpath.h"

#include "caps.h"
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* base + "/" + rest into out (n bytes), without doubling a trailing slash of base. */
static int join(const char *base, const char *rest, char *out, size_t n)
{
	size_t bl = strlen(base);
	int w;

	while (bl > 1 && base[bl - 1] == '/')
		bl--;
	if (bl == 1 && base[0] == '/')
		bl = 0; /* "/" + "/x" is "/x" */
	w = snprintf(out, n, "%.*s/%s", (int)bl, base, rest);
	if (w < 0 || (size_t)w >= n)
		return KR_ERR_TOOBIG;
	return KR_OK;
}

int sockpath_absolute(const char *path, char *out, size_t n)
{
	char cwd[KR_PATH_MAX], p[SUN_PATH_MAX];
	int r;

	if (!path || !*path)
		return KR_ERR_INVAL;
	if (n > sizeof(p))
		n = sizeof(p);
	if (path[0] == '/') {
		if (strlen(path) >= n)
			return KR_ERR_TOOBIG;
		memcpy(out, path, strlen(path) + 1);
		return KR_OK;
	}
	while (path[0] == '.' && path[1] == '/')
		for (path += 2; *path == '/'; path++)
			;
	if (!getcwd(cwd, sizeof(cwd)))
		return errno == ERANGE ? KR_ERR_TOOBIG : KR_ERR_IO;
	r = join(cwd, path, p, n);
	if (r == KR_OK)
		memcpy(out, p, strlen(p) + 1);
	return r;
}

/* logind's runtime directory for us: a directory of ours that nobody else may write to. */
static int runtime_dir_is_ours(const char *dir)
{
	struct stat st;

	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid() &&
	       (st.st_mode & 022) == 0;
}

int sockpath_default_at(const char *run_user, char *out, size_t n)
{
	const char *s = getenv("KEYROLE_SOCKET");
	const char *rt = getenv("XDG_RUNTIME_DIR");
	const char *cache = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	char p[SUN_PATH_MAX], dir[KR_PATH_MAX];
	int r, w;

	if (s && *s)
		return sockpath_absolute(s, out, n);
	if (n > sizeof(p))
		n = sizeof(p);
	w = snprintf(dir, sizeof(dir), "%s/%u", run_user, (unsigned)getuid());
	if (rt && *rt == '/')
		r = join(rt, "keyrole/agent.sock", p, n);
	else if (w > 0 && (size_t)w < sizeof(dir) && runtime_dir_is_ours(dir))
		r = join(dir, "keyrole/agent.sock", p, n);
	else if (cache && *cache == '/')
		r = join(cache, "keyrole/agent.sock", p, n);
	else if (home && *home == '/')
		r = join(home, ".cache/keyrole/agent.sock", p, n);
	else
		r = KR_ERR_INVAL;
	if (r == KR_OK)
		memcpy(out, p, strlen(p) + 1);
	return r;
}

int sockpath_default(char *out, size_t n)
{
	return sockpath_default_at("/run/user", out, n);
}

const char *sockpath_why(int err)
{
	switch (err) {
	case KR_ERR_TOOBIG:
		return "the socket path is too long for a Unix socket (107 bytes at most): set "
		       "KEYROLE_SOCKET to a shorter one";
	case KR_ERR_INVAL:
		return "there is no place for the socket: set XDG_RUNTIME_DIR, HOME or "
		       "KEYROLE_SOCKET";
	case KR_ERR_IO:
		return "KEYROLE_SOCKET is a relative path and the current directory cannot be read";
	default:
		return err_str(err);
	}
}

/* mkdir -p of dir's ancestors (mode 0700); existing ones are left as they are. */
static int make_parents(char *dir)
{
	for (char *p = strchr(dir + 1, '/'); p; p = strchr(p + 1, '/')) {
		int r;

		*p = '\0';
		r = mkdir(dir, 0700);
		*p = '/';
		if (r < 0 && errno != EEXIST)
			return KR_ERR_IO;
	}
	return KR_OK;
}

int sockpath_prepare_dir(const char *path)
{
	char dir[SUN_PATH_MAX];
	struct stat st;
	char *slash;

	if (path[0] != '/')
		return KR_ERR_INVAL; /* sockpath_absolute() first: never the cwd of the moment */
	if (strlen(path) >= sizeof(dir))
		return KR_ERR_TOOBIG;
	memcpy(dir, path, strlen(path) + 1);
	slash = strrchr(dir, '/');
	if (slash == dir)
		return KR_ERR_PERM; /* never a socket directly under / */
	*slash = '\0';
	if (mkdir(dir, 0700) < 0 && errno == ENOENT) {
		/* ~/.cache may not exist yet: make it (0700) on the way. */
		if (make_parents(dir) < 0)
			return KR_ERR_IO;
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return KR_ERR_IO;
	}
	if (lstat(dir, &st) < 0)
		return KR_ERR_IO;
	if (!S_ISDIR(st.st_mode))
		return KR_ERR_PERM;
	/*
	 * Whoever owns the directory, or may write to it, can remove or replace
	 * the socket and squat the autostart lock, even in a sticky one such as
	 * /tmp (another user could make /tmp/keyrole-UID before us).
	 */
	if (st.st_uid != getuid())
		return KR_ERR_PERM;
	/* Our own keyrole directory is always 0700; a user's chosen one must not be writable. */
	slash = strrchr(dir, '/'); /* dir is absolute: never NULL */
	if (strncmp(slash + 1, "keyrole", 7) == 0) {
		if ((st.st_mode & 077) != 0 && chmod(dir, 0700) < 0)
			return KR_ERR_PERM;
	} else if ((st.st_mode & 022) != 0)
		return KR_ERR_PERM;
	return KR_OK;
}
