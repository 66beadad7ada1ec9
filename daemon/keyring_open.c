/*
 * Choosing the keyring backend: by name, or "auto", the first of
 * secret-service, keyctl and memory whose open() succeeds (memory's cannot
 * fail). Opening one backend, with its worker and deadlines, is keyring.c's
 * keyring_open_ops().
 */
#include "keyring.h"

#include "err.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int keyring_open_first(const struct keyring_ops *const *candidates, size_t n, struct loop *l,
                       unsigned timeout_ms, struct keyring **ret, struct err_detail *e)
{
	struct err_detail one;
	bool any = false; /* e holds a failure */
	int r = KR_ERR_INVAL;

	for (size_t i = 0; i < n; i++) {
		r = keyring_open_ops(candidates[i], l, timeout_ms, ret, &one);
		if (r == KR_OK)
			break;
		if (!e)
			continue;
		/* Collect why each candidate failed: "a: why; b: why", the first fix given. */
		if (!any) {
			*e = one;
		} else {
			size_t used = strlen(e->msg);
			snprintf(e->msg + used, sizeof(e->msg) - used, "; %s", one.msg);
			if (!e->fix[0])
				snprintf(e->fix, sizeof(e->fix), "%s", one.fix);
		}
		if (r < 0)
			e->code = r;
		any = true;
	}
	if (n == 0 && e)
		err_set(e, r, NULL, 0, NULL, "no keyring backend to try");
	return r;
}

int keyring_open(const char *which, struct loop *l, struct keyring **ret, struct err_detail *e)
{
	static const struct keyring_ops *const auto_order[] = {
	    &keyring_secret_ops,
	    &keyring_kernel_ops,
	    &keyring_memory_ops,
	};

	if (!which || strcmp(which, "auto") == 0)
		return keyring_open_first(auto_order, 3, l, 0, ret, e);
	for (size_t i = 0; i < 3; i++)
		if (strcmp(which, auto_order[i]->name) == 0)
			return keyring_open_ops(auto_order[i], l, 0, ret, e);
	if (e)
		err_set(e, KR_ERR_INVAL, NULL, 0, "use auto, secret-service, keyctl or memory",
		        "unknown keyring backend \"%.64s\"", which);
	return KR_ERR_INVAL;
}
