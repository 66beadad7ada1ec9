/* Editing the ~/.aws files in place; see awsfile.h for the rules. */
#include "awsfile.h"

#include "buf.h"
#include "caps.h"
#include "err.h"
#include "mem.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int awsfile_read_fd(int fd, struct buf *b)
{
	char chunk[4096];
	int r = KR_OK;

	for (;;) {
		ssize_t got = read(fd, chunk, sizeof(chunk));

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			r = got < 0 ? KR_ERR_IO : KR_OK;
			break;
		}
		r = buf_append(b, chunk, (size_t)got);
		if (r < 0)
			break;
	}
	mem_wipe(chunk, sizeof(chunk));
	return r;
}

/* Does line (len bytes) set key ("  key = ...")? */
static int line_sets(const char *line, size_t len, const char *key)
{
	size_t i = 0, kl = strlen(key);

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (len - i < kl || strncmp(line + i, key, kl) != 0)
		return 0;
	i += kl;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i < len && line[i] == '=';
}

static const struct awsfile_drop *dropped(const struct awsfile_drop *drop, size_t n, int line)
{
	for (size_t k = 0; k < n; k++)
		if (drop[k].line == line)
			return &drop[k];
	return NULL;
}

/* The new contents: in without the dropped lines, then append. */
static int edit(const struct buf *in, const struct awsfile_drop *drop, size_t n, const char *append,
                struct buf *out, int *ret_bad_line)
{
	size_t pos = 0, found = 0;
	int line = 1, r = KR_OK;

	while (pos < in->len && r == KR_OK) {
		const char *s = in->data + pos, *nl = memchr(s, '\n', in->len - pos);
		size_t len = nl ? (size_t)(nl - s) + 1 : in->len - pos;
		const struct awsfile_drop *d = dropped(drop, n, line);

		if (d && !line_sets(s, len, d->key)) {
			*ret_bad_line = line;
			return KR_ERR_CONFIG;
		}
		if (d)
			found++;
		else
			r = buf_append(out, s, len);
		pos += len;
		line++;
	}
	if (r == KR_OK && found != n) {
		*ret_bad_line = line;
		return KR_ERR_CONFIG;
	}
	if (r == KR_OK && append) {
		if (out->len && out->data[out->len - 1] != '\n')
			r = buf_putc(out, '\n');
		if (r == KR_OK && out->len)
			r = buf_putc(out, '\n');
		if (r == KR_OK)
			r = buf_puts(out, append);
	}
	return r;
}

/* Write data to a temporary file next to real, then rename it over real. */
static int replace(const char *real, mode_t mode, const struct buf *data, char *why, size_t why_n)
{
	char tmp[KR_PATH_MAX + 32], dir[KR_PATH_MAX];
	const char *slash = strrchr(real, '/');
	int fd, dfd, r = KR_OK;

	if (!slash || (size_t)(slash - real) >= sizeof(dir)) {
		snprintf(why, why_n, "%s: not an absolute path", real);
		return KR_ERR_INVAL;
	}
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - real) ? (int)(slash - real) : 1, real);
	snprintf(tmp, sizeof(tmp), "%s/.%s.keyrole-XXXXXX", dir, slash + 1);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, why_n, "cannot create a temporary file in %s: %s", dir,
		         strerror(errno));
		return KR_ERR_IO;
	}
	if (fchmod(fd, mode & 07777) < 0 ||
	    proto_write_all(fd, data->data ? data->data : "", data->len, 0) < 0 || fsync(fd) < 0) {
		snprintf(why, why_n, "cannot write %s: %s", tmp, strerror(errno));
		r = KR_ERR_IO;
	}
	if (close(fd) < 0 && r == KR_OK) {
		snprintf(why, why_n, "cannot write %s: %s", tmp, strerror(errno));
		r = KR_ERR_IO;
	}
	if (r == KR_OK && rename(tmp, real) < 0) {
		snprintf(why, why_n, "cannot replace %s: %s", real, strerror(errno));
		r = KR_ERR_IO;
	}
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd); /* the rename itself */
		close(dfd);
	}
	return KR_OK;
}

int awsfile_edit(const char *path, const struct awsfile_drop *drop, size_t n, const char *append,
                 char *why, size_t why_n)
{
	char real[PATH_MAX];
	struct buf in, out;
	struct stat st;
	mode_t mode = 0600;
	int fd, r = KR_OK, bad = 0;

	buf_init_secret(&in, KR_CONFIG_FILE_MAX);
	buf_init_secret(&out, KR_CONFIG_FILE_MAX + KR_PATH_MAX * 4);
	snprintf(why, why_n, "%s", "");
	/* A symlinked file (dotfiles) is edited where it really is. */
	if (!realpath(path, real)) {
		if (errno != ENOENT || n > 0 || !append) {
			snprintf(why, why_n, "%s: %s", path, strerror(errno));
			r = KR_ERR_IO;
			goto out;
		}
		snprintf(real, sizeof(real), "%s", path);
	} else {
		fd = open(real, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			snprintf(why, why_n, "%s: %s", real,
			         fd < 0 ? strerror(errno) : "not a regular file");
			if (fd >= 0)
				close(fd);
			r = KR_ERR_IO;
			goto out;
		}
		mode = st.st_mode;
		r = awsfile_read_fd(fd, &in);
		close(fd);
		if (r < 0) {
			snprintf(why, why_n, "cannot read %s: %s", real, err_str(r));
			goto out;
		}
	}
	r = edit(&in, drop, n, append, &out, &bad);
	if (r == KR_ERR_CONFIG) {
		snprintf(why, why_n,
		         "%s:%d is not what keyroled read there (the file changed?): nothing was "
		         "changed",
		         real, bad);
		goto out;
	}
	if (r < 0) {
		snprintf(why, why_n, "%s: %s", real, err_str(r));
		goto out;
	}
	r = replace(real, mode, &out, why, why_n);
out:
	buf_free(&in);
	buf_free(&out);
	return r;
}
