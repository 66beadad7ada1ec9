#include "sockpath.h"

#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int sockpath_default(char *out, size_t n)
{
	const char *s = getenv("KEYROLE_SOCKET");
	const char *rt = getenv("XDG_RUNTIME_DIR");
	struct sockaddr_un su;
	int w;

	if (n > sizeof(su.sun_path))
		n = sizeof(su.sun_path);
	if (s && *s)
		w = snprintf(out, n, "%s", s);
	else if (rt && *rt == '/')
		w = snprintf(out, n, "%s/keyrole/agent.sock", rt);
	else
		w = snprintf(out, n, "/tmp/keyrole-%u/agent.sock", (unsigned)getuid());
	if (w < 0 || (size_t)w >= n)
		return KR_ERR_TOOBIG;
	return KR_OK;
}

int sockpath_prepare_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	char *slash;

	if (strlen(path) >= sizeof(dir))
		return KR_ERR_TOOBIG;
	memcpy(dir, path, strlen(path) + 1);
	slash = strrchr(dir, '/');
	if (!slash)
		return KR_OK; /* relative name in the current directory: caller's choice */
	if (slash == dir)
		return KR_ERR_PERM; /* never a socket directly under / */
	*slash = '\0';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return KR_ERR_IO;
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
	slash = strrchr(dir, '/');
	if (strncmp(slash + 1, "keyrole", 7) == 0) {
		if ((st.st_mode & 077) != 0 && chmod(dir, 0700) < 0)
			return KR_ERR_PERM;
	} else if ((st.st_mode & 022) != 0)
		return KR_ERR_PERM;
	return KR_OK;
}
