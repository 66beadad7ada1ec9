/*
 * Choosing the keyring backend: by name, or "auto", the first of
 * secret-service, keyctl and memory whose open() succeeds (memory's cannot
 * fail). Opening one backend, with its worker and deadlines, is keyring.c's
 * keyring_open_ops().
 */
#include "keyring.h"

#include "err.h"

#include <stdio.h>
#include <string.h>

int keyring_open_first(const struct keyring_ops *const *candidates, size_t n, struct loop *l,
                       unsigned timeout_ms, struct keyring **ret, char *errbuf, size_t errlen)
{
	char one[256];
	size_t used = 0;
	int r = KR_ERR_INVAL;

	if (errbuf && errlen)
		errbuf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		r = keyring_open_ops(candidates[i], l, timeout_ms, ret, one, sizeof(one));
		if (r == KR_OK)
			break;
		/* Collect why each candidate failed: "a: why; b: why". */
		if (errbuf && used < errlen) {
			int w =
			    snprintf(errbuf + used, errlen - used, "%s%s", used ? "; " : "", one);
			if (w > 0)
				used += (size_t)w < errlen - used ? (size_t)w : errlen - used - 1;
		}
	}
	return r;
}

int keyring_open(const char *which, struct loop *l, struct keyring **ret, char *errbuf,
                 size_t errlen)
{
	static const struct keyring_ops *const auto_order[] = {
	    &keyring_secret_ops,
	    &keyring_kernel_ops,
	    &keyring_memory_ops,
	};

	if (!which || strcmp(which, "auto") == 0)
		return keyring_open_first(auto_order, 3, l, 0, ret, errbuf, errlen);
	for (size_t i = 0; i < 3; i++)
		if (strcmp(which, auto_order[i]->name) == 0)
			return keyring_open_ops(auto_order[i], l, 0, ret, errbuf, errlen);
	if (errbuf && errlen)
		snprintf(errbuf, errlen,
		         "unknown keyring backend (use auto, secret-service, keyctl or memory)");
	return KR_ERR_INVAL;
}
