/*
 * libFuzzer harness: the INI dialect of ~/.aws/config and credentials
 * (ini_parse() in daemon/ini.c, on memory), and the shlex splitter used on
 * credential_process command lines (common/shellquote.c), on the same bytes.
 *
 * Contracts checked, beyond "no crash, no leak, no UB":
 * - a failed parse says why ("FILE:LINE: what", NUL-terminated) and gives
 *   only KR_ERR_CONFIG or KR_ERR_TOOBIG (NOMEM aside);
 * - a parsed file has non-NULL names, keys and values, and every section
 *   and key can be found again by its name (sections are unique, keys are
 *   unique within a section, as the strict parser promises);
 * - splitting what shellquote_append() quoted gives back exactly that one
 *   word (what `keyrole env` prints must eval to the value it quoted);
 * - keyrole check's SDK warnings (daemon/sdkdiff.c) of a parsed file, read
 *   as a config and as a credentials file, have a line of the file and a
 *   non-empty message and fix.
 */
#include "buf.h"
#include "caps.h"
#include "err.h"
#include "ini.h"
#include "sdkdiff.h"
#include "shellquote.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KR_FUZZ_SHLEX_IN 4096 /* bytes of input given to the shlex splitter */

static void check_ini(const struct ini *ini)
{
	for (size_t i = 0; i < ini->n_secs; i++) {
		const struct ini_section *s = &ini->secs[i];
		if (!s->name || ini_section(ini, s->name) != s)
			abort();
		for (size_t k = 0; k < s->n_kvs; k++) {
			const struct ini_kv *kv = &s->kvs[k];
			if (!kv->key || !kv->value || ini_get(s, kv->key) != kv)
				abort();
			for (size_t j = 0; j < kv->n_sub; j++)
				if (!kv->sub[j].key || !kv->sub[j].value ||
				    !ini_sub(kv, kv->sub[j].key))
					abort();
		}
	}
}

static int check_warning(void *ctx, int line, const char *msg, const char *fix)
{
	(void)ctx;
	if (line < 1 || !msg || !msg[0] || !fix || !fix[0])
		abort();
	return 0;
}

static void check_shlex(const uint8_t *data, size_t size)
{
	char s[KR_FUZZ_SHLEX_IN + 1];
	char **argv = NULL;
	size_t argc = 0, n = size < KR_FUZZ_SHLEX_IN ? size : KR_FUZZ_SHLEX_IN;
	struct buf q;

	memcpy(s, data, n);
	s[n] = '\0';
	if (shellquote_split(s, 64, &argv, &argc) == KR_OK) {
		if (!argv || argc > 64 || argv[argc] != NULL)
			abort();
		for (size_t i = 0; i < argc; i++)
			if (!argv[i])
				abort();
		shellquote_argv_free(argv);
	}
	/* Round trip: quote the bytes (up to a NUL) as one word, split it again. */
	buf_init(&q, KR_SHELL_LINE_MAX);
	if (shellquote_append(&q, s) == KR_OK &&
	    shellquote_split(q.data, 4, &argv, &argc) == KR_OK) {
		if (argc != 1 || strcmp(argv[0], s) != 0)
			abort();
		shellquote_argv_free(argv);
	}
	buf_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ini *ini = NULL;
	struct err_detail e;
	int r;

	memset(&e, 'x', sizeof(e));
	r = ini_parse((const char *)data, size, "fuzz", &ini, &e);
	if (r < 0) {
		if (ini || (r != KR_ERR_CONFIG && r != KR_ERR_TOOBIG && r != KR_ERR_NOMEM) ||
		    e.code != r || strnlen(e.msg, sizeof(e.msg)) == sizeof(e.msg) ||
		    e.msg[0] == '\0' || strnlen(e.file, sizeof(e.file)) == sizeof(e.file))
			abort();
	} else {
		check_ini(ini);
		if (sdkdiff_lint(ini, 1, NULL, check_warning, NULL) != 0 ||
		    sdkdiff_lint(ini, 0, NULL, check_warning, NULL) != 0)
			abort();
		ini_free(ini);
	}
	check_shlex(data, size);
	return 0;
}
