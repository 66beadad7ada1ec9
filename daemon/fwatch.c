/*
 * Directory generations from inotify; see fwatch.h.
 *
 * Invariants:
 * - A generation only moves forward, and never returns to a value a
 *   caller saw while something changed: a watch that goes away (its
 *   directory removed or moved) bumps the generation and is set up again
 *   on the next fwatch_start(), on whatever the path names then.
 * - A queue overflow bumps every generation: nothing is ever missed.
 * - Bounded: at most KR_FWATCH_DIRS_MAX directories; past that, files are
 *   not watched (their callers stat them).
 */
#include "fwatch.h"

#include "caps.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define MASK                                                                                       \
	(IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE |        \
	 IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

struct dir {
	char *path; /* absolute, no symbolic link in it */
	int wd;     /* -1: not watched (any more) */
	uint64_t gen;
};

static int fd = -2; /* -2: not tried yet, -1: no inotify here */
static struct dir dirs[KR_FWATCH_DIRS_MAX];
static size_t n_dirs;
static uint64_t next_gen = 1; /* generations are unique across directories */

static int dir_len(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash != path ? (int)(slash - path) : -1;
}

static struct dir *find(const char *path, int len)
{
	for (size_t i = 0; i < n_dirs; i++)
		if (strlen(dirs[i].path) == (size_t)len &&
		    memcmp(dirs[i].path, path, (size_t)len) == 0)
			return &dirs[i];
	return NULL;
}

static void bump(struct dir *d)
{
	d->gen = next_gen++;
}

void fwatch_sync(void)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	if (fd < 0)
		return;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* EAGAIN: nothing (more) pending */
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				for (size_t i = 0; i < n_dirs; i++)
					bump(&dirs[i]);
				continue;
			}
			for (size_t i = 0; i < n_dirs; i++) {
				if (dirs[i].wd != ev->wd)
					continue;
				bump(&dirs[i]);
				/* The path may name another directory now: watch it afresh. */
				if (ev->mask & (IN_MOVE_SELF | IN_DELETE_SELF | IN_IGNORED)) {
					if (!(ev->mask & IN_IGNORED))
						inotify_rm_watch(fd, dirs[i].wd);
					dirs[i].wd = -1;
				}
			}
		}
	}
}

/* Is the directory path[0..len) free of symbolic links (and of "." and "..")? */
static int plain_dir(const char *path, int len)
{
	char dir[PATH_MAX], real[PATH_MAX];

	if (len <= 0 || len >= PATH_MAX)
		return 0;
	memcpy(dir, path, (size_t)len);
	dir[len] = '\0';
	return realpath(dir, real) && strcmp(real, dir) == 0;
}

uint64_t fwatch_start(const char *path)
{
	int len = path && path[0] == '/' ? dir_len(path) : -1;
	struct stat st;
	struct dir *d;

	if (len < 0)
		return 0;
	if (fd == -2)
		fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return 0;
	fwatch_sync();
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		return 0;
	d = find(path, len);
	if (d && d->wd >= 0)
		return d->gen;
	if (!plain_dir(path, len))
		return 0;
	if (!d) {
		if (n_dirs >= KR_FWATCH_DIRS_MAX ||
		    !(dirs[n_dirs].path = strndup(path, (size_t)len)))
			return 0;
		d = &dirs[n_dirs++];
		bump(d);
	}
	d->wd = inotify_add_watch(fd, d->path, MASK);
	if (d->wd < 0)
		return 0;
	bump(d); /* what was read before this watch existed is not vouched for */
	return d->gen;
}

uint64_t fwatch_gen(const char *path)
{
	int len = path && path[0] == '/' ? dir_len(path) : -1;
	struct dir *d = len < 0 ? NULL : find(path, len);

	return d && d->wd >= 0 ? d->gen : 0;
}

void fwatch_reset(void)
{
	for (size_t i = 0; i < n_dirs; i++)
		free(dirs[i].path);
	n_dirs = 0;
	if (fd >= 0)
		close(fd);
	fd = -2;
}
