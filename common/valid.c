#include "valid.h"

#include "caps.h"

#include <string.h>

/* 1 if s has min..max bytes, each printable ASCII and not blank. */
static int printable(const char *s, size_t min, size_t max)
{
	size_t n = s ? strnlen(s, max + 1) : 0;

	if (n < min || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	return 1;
}

int valid_profile_name_n(const char *s, size_t len)
{
	if (!s || len == 0 || len > KR_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0; /* NUL included */
	return 1;
}

int valid_profile_name(const char *s)
{
	return s && valid_profile_name_n(s, strnlen(s, KR_NAME_MAX + 1));
}

int valid_access_key_id(const char *s)
{
	size_t n = s ? strnlen(s, KR_KEY_ID_MAX + 1) : 0;

	if (n < KR_KEY_ID_MIN || n > KR_KEY_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

int valid_secret_key(const char *s)
{
	return printable(s, 1, KR_SECRET_KEY_MAX);
}

int valid_mfa_code(const char *s)
{
	size_t n = 0;

	while (n <= KR_MFA_CODE_LEN && s[n] >= '0' && s[n] <= '9')
		n++;
	return n == KR_MFA_CODE_LEN && s[n] == '\0';
}

int valid_region(const char *r)
{
	size_t n, digits = 0;

	if (!r)
		return 0;
	n = strlen(r);
	if (n < 1 || n > 63)
		return 0;
	while (digits < n && r[digits] >= '0' && r[digits] <= '9')
		digits++;
	if (digits == n)
		return 0; /* botocore: (?![0-9]+$), "12345" is no region */
	for (size_t i = 0; i < n; i++) {
		char c = r[i];
		int alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && !(c == '-' && i > 0 && i < n - 1))
			return 0;
	}
	return 1;
}

int valid_mfa_prompt(const char *s)
{
	static const char *const words[] = {"auto", "terminal", "askpass", "zenity", "kdialog"};
	size_t n;

	if (!s)
		return 0;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(s, words[i]) == 0)
			return 1;
	n = strnlen(s, KR_PATH_MAX);
	if (s[0] != '/' || n >= KR_PATH_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}
