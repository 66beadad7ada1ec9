/*
 * A helper for tests of what a child inherits: it looks for descriptors
 * above 2 in its own /proc/self/fd (not counting the directory handle it
 * reads that with). None: it prints its answer on stdout and exits 0.
 * Some: it names each on stderr ("inherited fd 5 -> socket:[123]") and
 * exits 3, so a credential_process or mfa_process run fails loudly.
 *
 *   fd_report --creds        answer: a credential_process JSON object
 *   fd_report --text TEXT    answer: TEXT and a newline
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int extra = 0;

	if (!d) {
		perror("fd_report: /proc/self/fd");
		return 2;
	}
	while ((e = readdir(d))) {
		char link[64], target[PATH_MAX];
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		ssize_t n;

		if (*end || end == e->d_name || fd <= 2 || fd == dirfd(d))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%ld", fd);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		fprintf(stderr, "fd_report: inherited fd %ld -> %s\n", fd, target);
		extra++;
	}
	closedir(d);
	if (extra)
		return 3;
	if (argc == 2 && strcmp(argv[1], "--creds") == 0)
		printf("{\"Version\": 1, \"AccessKeyId\": \"AKIAFDREPORT0000\", "
		       "\"SecretAccessKey\": \"fd-report-not-a-secret\"}\n");
	else if (argc == 3 && strcmp(argv[1], "--text") == 0)
		printf("%s\n", argv[2]);
	else {
		fprintf(stderr, "usage: fd_report --creds | --text TEXT\n");
		return 2;
	}
	return 0;
}
