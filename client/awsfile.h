/*
 * Editing ~/.aws/config and ~/.aws/credentials in place, for `keyrole
 * wrap --write` (append a section) and `keyrole add --move` (drop key
 * lines). keyroled plans the edit (it holds the one parser of these
 * files); the client writes, because keyroled's unit may not write to the
 * home (ProtectHome=read-only).
 *
 * Invariants:
 * - The file is replaced atomically: a temporary file in the same
 *   directory (mode of the old file, 0600 for a new one), written,
 *   fsync()ed, renamed over the real file (a symlink is followed, not
 *   replaced), and the directory fsync()ed. On any failure the file is
 *   unchanged and the temporary file is gone. No backup is kept.
 * - Every other byte of the file stays as it was.
 * - A dropped line must still be "KEY = ..." for the KEY the plan names
 *   (else the file changed since keyroled read it: nothing is written).
 * - The buffers that held the file are wiped (it may hold keys).
 */
#ifndef KR_AWSFILE_H
#define KR_AWSFILE_H

#include <stddef.h>

struct awsfile_drop {
	int line;        /* 1-based */
	const char *key; /* what the line must set */
};

/*
 * Rewrite path without the lines of drop (n of them), with append (or
 * NULL) added at the end after a blank line. A missing file is created
 * when there is something to append. Returns KR_OK or a negative KR_ERR_*;
 * why (n bytes) says what failed for a person.
 */
struct buf;
/* Read fd to its end into b (within b's cap); the chunks are wiped. */
int awsfile_read_fd(int fd, struct buf *b);

int awsfile_edit(const char *path, const struct awsfile_drop *drop, size_t n, const char *append,
                 char *why, size_t why_n);

#endif
