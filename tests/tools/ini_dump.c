/*
 * ini_dump FILE: keyrole's reading of one config or credentials file
 * (daemon/ini.c) as JSON, in the shape of botocore.configloader's
 * raw_config_parse(): {SECTION: {KEY: VALUE or {NESTED: VALUE}}}, or
 * {"error": MESSAGE} when the file is refused. For tests that compare the
 * two parsers (test_sdk_profile_parser.py); not installed.
 * Exit status: 0, or 2 on a usage or memory error.
 */
#include "err.h"
#include "ini.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_kv(cJSON *sec, const struct ini_kv *kv)
{
	cJSON *v;

	if (!kv->sub && kv->value[0] != '\n')
		return cJSON_AddStringToObject(sec, kv->key, kv->value) ? 0 : -1;
	v = cJSON_AddObjectToObject(sec, kv->key);
	for (size_t i = 0; v && i < kv->n_sub; i++)
		if (!cJSON_AddStringToObject(v, kv->sub[i].key, kv->sub[i].value))
			return -1;
	return v ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct err_detail e;
	struct ini *ini = NULL;
	cJSON *out = cJSON_CreateObject();
	char *text;
	int r, rc = 0;

	if (argc != 2 || !out) {
		fprintf(stderr, "usage: ini_dump FILE\n");
		return 2;
	}
	memset(&e, 0, sizeof(e));
	r = ini_load(argv[1], &ini, &e);
	if (r < 0) {
		rc = cJSON_AddStringToObject(out, "error", e.msg[0] ? e.msg : err_str(r)) ? 0 : 2;
	} else {
		for (size_t i = 0; i < ini->n_secs && rc == 0; i++) {
			cJSON *sec = cJSON_AddObjectToObject(out, ini->secs[i].name);

			for (size_t k = 0; sec && k < ini->secs[i].n_kvs && rc == 0; k++)
				rc = add_kv(sec, &ini->secs[i].kvs[k]) < 0 ? 2 : 0;
			if (!sec)
				rc = 2;
		}
	}
	text = rc == 0 ? cJSON_PrintUnformatted(out) : NULL;
	if (text)
		puts(text);
	else
		rc = 2;
	free(text);
	cJSON_Delete(out);
	ini_free(ini);
	return rc;
}
