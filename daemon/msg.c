#include "msg.h"

#include "caps.h"
#include "err.h"
#include "proto.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

int msg_encode(const cJSON *msg, struct buf *out)
{
	char *body;
	int r;

	body = cJSON_PrintUnformatted(msg);
	if (!body)
		return KR_ERR_NOMEM;
	r = proto_frame_append(out, body, strlen(body));
	cJSON_free(body); /* wiped by msg_install_json_hooks() */
	return r;
}

int msg_decode(const char *body, size_t len, cJSON **ret_msg)
{
	const cJSON *v;
	cJSON *msg;

	msg = cJSON_ParseWithLength(body, len);
	if (!msg)
		return KR_ERR_PROTO;
	if (!cJSON_IsObject(msg)) {
		cJSON_Delete(msg);
		return KR_ERR_PROTO;
	}
	v = cJSON_GetObjectItemCaseSensitive(msg, "v");
	if (!cJSON_IsNumber(v) || v->valuedouble != KR_PROTO_VERSION) {
		cJSON_Delete(msg);
		return KR_ERR_VERSION;
	}
	*ret_msg = msg;
	return KR_OK;
}

cJSON *msg_new(void)
{
	cJSON *m = cJSON_CreateObject();

	if (m && !cJSON_AddNumberToObject(m, "v", KR_PROTO_VERSION)) {
		cJSON_Delete(m);
		return NULL;
	}
	return m;
}

cJSON *msg_new_error(int err, const char *message)
{
	cJSON *m = msg_new();

	if (!m)
		return NULL;
	if (!cJSON_AddFalseToObject(m, "ok") ||
	    !cJSON_AddStringToObject(m, "error", err_name(err)) ||
	    !cJSON_AddStringToObject(m, "message", message ? message : err_str(err))) {
		cJSON_Delete(m);
		return NULL;
	}
	return m;
}

const char *msg_get_str(const cJSON *msg, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(msg, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static void wiping_free(void *p)
{
	if (!p)
		return;
	/* cJSON does not pass sizes; the allocator knows the usable size. */
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

void msg_install_json_hooks(void)
{
	cJSON_Hooks hooks = {.malloc_fn = malloc, .free_fn = wiping_free};

	cJSON_InitHooks(&hooks);
}
