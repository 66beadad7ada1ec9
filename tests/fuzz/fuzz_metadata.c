/*
 * libFuzzer harness: the credentials JSON the instance metadata service
 * and the container credentials endpoint answer (metadata_parse_creds() in
 * daemon/metadata.c). Whatever answers on those addresses reaches it.
 *
 * Contracts checked, beyond "no crash, no leak, no UB":
 * - success means an access key id, a secret key, a session token and an
 *   expiration are present;
 * - failure leaves *ret untouched, with its code and a NUL-terminated
 *   reason in the err_detail;
 * - sts_creds_clear() leaves the struct zeroed.
 */
#include "err.h"
#include "metadata.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sts_creds zero;
	struct sts_creds creds;
	struct err_detail e;
	int r;

	memset(&creds, 0, sizeof(creds));
	memset(&e, 'x', sizeof(e));
	r = metadata_parse_creds((const char *)data, size, "the endpoint", &creds, &e);
	if (r < 0) {
		if (memcmp(&creds, &zero, sizeof(creds)) != 0 || e.code != r ||
		    strnlen(e.msg, sizeof(e.msg)) == sizeof(e.msg))
			abort();
		return 0;
	}
	if (!creds.access_key_id || !creds.secret_access_key || !creds.session_token ||
	    !creds.expiration)
		abort();
	sts_creds_clear(&creds);
	if (memcmp(&creds, &zero, sizeof(creds)) != 0)
		abort();
	return 0;
}
