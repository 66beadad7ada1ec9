/*
 * libFuzzer harness: the JSON another tool's credential_process prints
 * (proc_parse_creds() in daemon/proc.c). Anything a configured command can
 * print reaches this parser.
 *
 * Contracts checked, beyond "no crash, no leak, no UB":
 * - success means an access key id and a secret key are present;
 * - failure leaves *ret untouched and its code and a NUL-terminated
 *   reason in the err_detail;
 * - sts_creds_clear() leaves the struct zeroed.
 */
#include "err.h"
#include "msg.h"
#include "proc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	msg_install_json_hooks();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sts_creds zero;
	struct sts_creds creds;
	struct err_detail e;
	int r;

	memset(&creds, 0, sizeof(creds));
	memset(&e, 'x', sizeof(e));
	r = proc_parse_creds((const char *)data, size, &creds, &e);
	if (r < 0) {
		if (memcmp(&creds, &zero, sizeof(creds)) != 0 || e.code != r ||
		    strnlen(e.msg, sizeof(e.msg)) == sizeof(e.msg))
			abort();
		return 0;
	}
	if (!creds.access_key_id || !creds.secret_access_key)
		abort();
	sts_creds_clear(&creds);
	if (memcmp(&creds, &zero, sizeof(creds)) != 0)
		abort();
	return 0;
}
