/*
 * keyrole: the client. Runs for every AWS credential lookup, so it does
 * nothing but prepare the process and hand over to cmd_main().
 */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	/*
	 * fds 0-2 must be open: otherwise a socket or pipe we open could land
	 * on one and be written to as stdout, or be clobbered by a child.
	 */
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			return CMD_EXIT_ERROR;
	}
	/* Credentials pass through this process: no core file, no same-uid ptrace. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* A closed stdout must be an error we report (EPIPE), not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	return cmd_main(argc, argv);
}
