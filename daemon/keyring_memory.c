/*
 * The "memory" keyring backend: nothing persists. Stores succeed and keep
 * nothing, lookups find nothing, so the daemon's own memory cache is the
 * only layer. It is also what the front answers with after a failover, on
 * the loop thread, so every function here must return at once.
 */
#include "keyring.h"

#include "err.h"

#include <stdlib.h>

/* A non-NULL state so the front can tell "opened" from "not opened". */
static char memory_state;

static int memory_open(void **ret_state, struct err_detail *e)
{
	*ret_state = &memory_state;
	return KR_OK;
}

static void memory_close(void *state)
{
}

static int memory_store(void *state, const struct keyring_item *item)
{
	return KR_OK;
}

static int memory_lookup(void *state, const char *key, struct keyring_item **ret)
{
	return KR_ERR_NOCREDS;
}

static int memory_remove(void *state, const char *key)
{
	return KR_OK;
}

static int memory_remove_profile(void *state, const char *profile, const char *kind, int *ret_count)
{
	*ret_count = 0;
	return KR_OK;
}

static int memory_list(void *state, const char *kind, struct keyring_item ***ret_items,
                       size_t *ret_n)
{
	*ret_items = NULL;
	*ret_n = 0;
	return KR_OK;
}

const struct keyring_ops keyring_memory_ops = {
    .name = "memory",
    .persistent = 0,
    .open = memory_open,
    .close = memory_close,
    .store = memory_store,
    .lookup = memory_lookup,
    .remove = memory_remove,
    .remove_profile = memory_remove_profile,
    .list = memory_list,
};
