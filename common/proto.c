#include "proto.h"

#include "caps.h"
#include "err.h"

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
    /* IAM Identity Center: the portal's and the OIDC service's endpoints. */
    "AWS_ENDPOINT_URL_SSO",
    "AWS_ENDPOINT_URL_SSO_OIDC",
    /* FIPS and dual-stack endpoints (STS, IAM Identity Center). */
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    /* keyrole console: the federation endpoint, instead of the partition's. */
    "KEYROLE_FEDERATION_URL",
    /* Web identity (AssumeRoleWithWebIdentity): read for the requested profile. */
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    /* credential_source = Ec2InstanceMetadata: the instance metadata service. */
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    "AWS_EC2_METADATA_V1_DISABLED",
    "AWS_IMDS_USE_IPV6",
    "AWS_METADATA_SERVICE_TIMEOUT",
    "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
    /* credential_source = EcsContainer: the container credentials endpoint (the token is secret).
     */
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
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

int proto_frame_append(struct buf *out, const void *body, size_t n)
{
	unsigned char hdr[KR_FRAME_HDR];
	size_t start = out->len;
	int r;

	if (n == 0)
		return KR_ERR_PROTO;
	if (n > UINT32_MAX)
		return KR_ERR_TOOBIG;
	hdr[0] = (unsigned char)(n >> 24);
	hdr[1] = (unsigned char)(n >> 16);
	hdr[2] = (unsigned char)(n >> 8);
	hdr[3] = (unsigned char)n;
	r = buf_append(out, hdr, sizeof(hdr));
	if (r == KR_OK)
		r = buf_append(out, body, n);
	if (r < 0)
		buf_truncate(out, start);
	return r;
}

int proto_frame_begin(struct buf *out, size_t *ret_start)
{
	static const unsigned char zero[KR_FRAME_HDR];

	*ret_start = out->len;
	return buf_append(out, zero, sizeof(zero));
}

int proto_frame_end(struct buf *out, size_t start)
{
	size_t n = out->len - start - KR_FRAME_HDR;
	unsigned char *hdr = (unsigned char *)out->data + start;

	if (n == 0)
		return KR_ERR_PROTO;
	if (n > UINT32_MAX)
		return KR_ERR_TOOBIG;
	hdr[0] = (unsigned char)(n >> 24);
	hdr[1] = (unsigned char)(n >> 16);
	hdr[2] = (unsigned char)(n >> 8);
	hdr[3] = (unsigned char)n;
	return KR_OK;
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
