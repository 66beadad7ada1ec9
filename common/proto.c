#include "proto.h"

#include "err.h"
#include "caps.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *const proto_env_keys[] = {
    "HOME",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_CA_BUNDLE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    /* Proxies for the STS call (libcurl's names); not part of any cache key. */
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    NULL,
};

int proto_frame_len(const unsigned char hdr[4], size_t max, size_t *ret_len)
{
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 |
	             (uint32_t)hdr[3];

	if (n == 0)
		return KR_ERR_PROTO;
	if (n > max)
		return KR_ERR_TOOBIG;
	*ret_len = n;
	return KR_OK;
}

int proto_encode(const cJSON *msg, struct buf *out)
{
	unsigned char hdr[4];
	char *body;
	size_t n;
	int r;

	body = cJSON_PrintUnformatted(msg);
	if (!body)
		return KR_ERR_NOMEM;
	n = strlen(body);
	if (n > UINT32_MAX) {
		r = KR_ERR_TOOBIG;
		goto out;
	}
	hdr[0] = (unsigned char)(n >> 24);
	hdr[1] = (unsigned char)(n >> 16);
	hdr[2] = (unsigned char)(n >> 8);
	hdr[3] = (unsigned char)n;
	r = buf_append(out, hdr, 4);
	if (r == 0)
		r = buf_append(out, body, n);
out:
	cJSON_free(body); /* wiped by mem_install_json_hooks() */
	return r;
}

int proto_decode(const char *body, size_t len, cJSON **ret_msg)
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

cJSON *proto_new(void)
{
	cJSON *m = cJSON_CreateObject();

	if (m && !cJSON_AddNumberToObject(m, "v", KR_PROTO_VERSION)) {
		cJSON_Delete(m);
		return NULL;
	}
	return m;
}

cJSON *proto_new_error(int err, const char *message)
{
	cJSON *m = proto_new();

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

int64_t proto_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	struct pollfd p = {.fd = fd, .events = events};
	int timeout = -1, r;

	if (deadline_ms > 0) {
		int64_t left = deadline_ms - proto_now_ms();
		if (left <= 0)
			return KR_ERR_TIMEOUT;
		timeout = left > 1000000 ? 1000000 : (int)left;
	}
	do
		r = poll(&p, 1, timeout);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return KR_ERR_IO;
	if (r == 0)
		return KR_ERR_TIMEOUT;
	return KR_OK;
}

int proto_write_all(int fd, const void *p, size_t n, int64_t deadline_ms)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(fd, POLLOUT, deadline_ms);
			if (r < 0)
				return r;
			continue;
		}
		if (w <= 0)
			return KR_ERR_IO;
		c += w;
		n -= (size_t)w;
	}
	return KR_OK;
}

static int read_exact(int fd, void *p, size_t n, int64_t deadline_ms)
{
	char *c = p;

	while (n > 0) {
		ssize_t got;
		int r = wait_fd(fd, POLLIN, deadline_ms);
		if (r < 0)
			return r;
		got = read(fd, c, n);
		if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (got < 0)
			return KR_ERR_IO;
		if (got == 0)
			return KR_ERR_IO; /* peer closed mid-frame */
		c += got;
		n -= (size_t)got;
	}
	return KR_OK;
}

int proto_read_frame(int fd, size_t max, int64_t deadline_ms, struct buf *out)
{
	unsigned char hdr[4];
	size_t n;
	int r;

	r = read_exact(fd, hdr, 4, deadline_ms);
	if (r < 0)
		return r;
	r = proto_frame_len(hdr, max, &n);
	if (r < 0)
		return r;
	r = buf_reserve(out, n);
	if (r < 0)
		return r;
	r = read_exact(fd, out->data + out->len, n, deadline_ms);
	if (r < 0)
		return r;
	out->len += n;
	out->data[out->len] = '\0';
	return KR_OK;
}

const char *proto_get_str(const cJSON *msg, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(msg, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}
