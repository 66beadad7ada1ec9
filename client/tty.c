#include "tty.h"

#include "err.h"
#include "mem.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* The state a signal handler needs to give the terminal its echo back. */
static volatile sig_atomic_t restore_fd = -1;
static struct termios restore_tio;

static const int caught[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

static void on_signal(int sig)
{
	if (restore_fd >= 0)
		tcsetattr(restore_fd, TCSAFLUSH, &restore_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

int tty_open(int *ret_fd)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return KR_ERR_IO;
	*ret_fd = fd;
	return KR_OK;
}

int tty_open_write(int *ret_fd)
{
	int fd = open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return KR_ERR_IO;
	*ret_fd = fd;
	return KR_OK;
}

static int write_str(int fd, const char *s)
{
	return proto_write_all(fd, s, strlen(s), 0);
}

int tty_read_line(int fd, const char *prompt, int echo, int64_t deadline_ms, size_t n,
                  char *ret_line)
{
	struct sigaction sa = {.sa_handler = on_signal}, old[sizeof(caught) / sizeof(caught[0])];
	struct termios tio;
	char line[1024];
	size_t len = 0;
	int quiet = 0, r = KR_OK;

	if (n == 0 || n > sizeof(line))
		return KR_ERR_INVAL;
	if (!echo && tcgetattr(fd, &tio) == 0) {
		restore_tio = tio;
		tio.c_lflag &= ~(tcflag_t)ECHO;
		tio.c_lflag |= ECHONL;
		sigemptyset(&sa.sa_mask);
		for (size_t i = 0; i < sizeof(caught) / sizeof(caught[0]); i++)
			sigaction(caught[i], &sa, &old[i]);
		restore_fd = fd;
		if (tcsetattr(fd, TCSAFLUSH, &tio) == 0)
			quiet = 1;
	}
	r = write_str(fd, prompt);
	while (r == KR_OK) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline_ms - proto_now_ms();
		ssize_t got;
		char c;

		if (left <= 0) {
			r = KR_ERR_TIMEOUT;
			break;
		}
		if (poll(&p, 1, left > 1000000 ? 1000000 : (int)left) < 0) {
			if (errno != EINTR)
				r = KR_ERR_IO;
			continue;
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		got = read(fd, &c, 1);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0) {
			r = KR_ERR_IO;
			break;
		}
		if (c == '\n')
			break;
		if (len + 1 >= n) {
			r = KR_ERR_TOOBIG;
			break;
		}
		line[len++] = c;
	}
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (restore_fd >= 0) {
		tcsetattr(fd, TCSAFLUSH, &restore_tio);
		restore_fd = -1;
		for (size_t i = 0; i < sizeof(caught) / sizeof(caught[0]); i++)
			sigaction(caught[i], &old[i], NULL);
		mem_wipe(&restore_tio, sizeof(restore_tio));
	}
	if (quiet && r != KR_OK)
		(void)write_str(fd, "\n");
	if (r == KR_OK) {
		memcpy(ret_line, line, len);
		ret_line[len] = '\0';
	}
	mem_wipe(line, sizeof(line));
	return r;
}
