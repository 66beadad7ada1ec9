/*
 * Knowing that a file is unchanged without a stat() of it: inotify on the
 * file's directory (the only user of inotify). Every directory watched has
 * a generation that moves on with any event in it (a file written,
 * replaced, removed, its mode changed; the directory itself moved or
 * removed). A caller that read a file at generation g knows the file is as
 * it read it while the generation is still g.
 *
 * A file that cannot be watched gets generation 0, and its caller stats it
 * every time: a path through a symbolic link (to the file, or to any of
 * its directories: the link's target could change without an event here),
 * a directory that does not exist, a machine without inotify, or one out
 * of watches. Not seen either: a rename of one of the directory's own
 * parents (then the path names another directory than the one watched).
 *
 * Strictness: fwatch_sync() reads every pending event. An edit that
 * finished before a client connected was queued before the client's
 * request arrived, so a sync at the start of that request sees it.
 *
 * Not thread-safe: daemon/ini.c calls it under its own lock.
 */
#ifndef KR_FWATCH_H
#define KR_FWATCH_H

#include <stdint.h>

/* Read the pending events (one non-blocking read when there are none). */
void fwatch_sync(void);

/*
 * Start watching the directory of path (absolute) if it is not watched
 * yet, and return its generation: 0 when path cannot be watched. Call it
 * before reading the file, so that a change while reading moves it on.
 */
uint64_t fwatch_start(const char *path);

/* The generation of path's directory now (after fwatch_sync()); 0 if not watched. */
uint64_t fwatch_gen(const char *path);

/* Stop every watch (tests, exit). */
void fwatch_reset(void);

#endif
