#include "encoding.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The bytes allowed after lead byte c: how many follow, and the range of the
 * first of them (the rest are 80..BF). The ranges leave out overlong forms,
 * surrogates and everything past U+10FFFF. Returns 0 for a byte that cannot
 * lead a sequence. */
static size_t utf8_lead(uint8_t c, uint8_t *lo, uint8_t *hi)
{
	*lo = 0x80, *hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		return 1;
	if (c >= 0xe0 && c <= 0xef) {
		if (c == 0xe0)
			*lo = 0xa0;
		else if (c == 0xed)
			*hi = 0x9f;
		return 2;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (c == 0xf0)
			*lo = 0x90;
		else if (c == 0xf4)
			*hi = 0x8f;
		return 3;
	}
	return 0;
}

/* The length of the character at p[0..n) (n > 0) when it is well-formed and
 * not NUL; otherwise 0, with *ret_bad set to the length of its longest
 * well-formed start (at least 1), the part one U+FFFD replaces. */
static size_t utf8_char(const uint8_t *p, size_t n, size_t *ret_bad)
{
	*ret_bad = 1;
	if (p[0] != 0 && p[0] < 0x80)
		return 1;
	uint8_t lo, hi;
	size_t follow = p[0] ? utf8_lead(p[0], &lo, &hi) : 0;
	if (follow == 0)
		return 0;
	size_t k = 1;
	for (; k <= follow && k < n; k++) {
		if (p[k] < lo || p[k] > hi)
			break;
		lo = 0x80, hi = 0xbf;
	}
	if (k == follow + 1)
		return k;
	*ret_bad = k;
	return 0;
}

bool utf8_is_valid(const uint8_t *p, size_t n)
{
	size_t bad;
	for (size_t i = 0, len; i < n; i += len)
		if ((len = utf8_char(p + i, n - i, &bad)) == 0)
			return false;
	return true;
}

size_t utf8_sanitize(const char *in, size_t n, char *out, size_t size)
{
	static const char replacement[] = "\xef\xbf\xbd";
	const uint8_t *p = (const uint8_t *)in;
	size_t o = 0;
	if (size == 0)
		return 0;
	for (size_t i = 0; i < n;) {
		size_t bad, len = utf8_char(p + i, n - i, &bad);
		const char *src = len ? in + i : replacement;
		size_t src_len = len ? len : sizeof(replacement) - 1;
		if (src_len > size - 1 - o)
			break;
		memcpy(out + o, src, src_len);
		o += src_len;
		i += len ? len : bad;
	}
	out[o] = '\0';
	return o;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const uint8_t *p, size_t n)
{
	char *out = malloc((n + 2) / 3 * 4 + 1);
	if (!out)
		return NULL;
	char *o = out;
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char c)
{
	const char *q = c ? strchr(b64, c) : NULL;
	return q ? (int)(q - b64) : -1;
}

int base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len)
{
	while (len > 0 && s[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -EINVAL;
	uint8_t *out = malloc(len * 3 / 4 + 1);
	if (!out)
		return -ENOMEM;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value(s[i]);
		if (v < 0) {
			free(out);
			return -EINVAL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	*ret = out;
	*ret_len = o;
	return 0;
}

void payload_to_json(json_t *o, const char *key, const char *enc_key, const uint8_t *p, size_t n)
{
	if (!p || n == 0) {
		json_object_set_new(o, key, json_string(""));
		json_object_set_new(o, enc_key, json_string("utf-8"));
	} else if (utf8_is_valid(p, n)) {
		json_object_set_new(o, key, json_stringn((const char *)p, n));
		json_object_set_new(o, enc_key, json_string("utf-8"));
	} else {
		char *text = base64_encode(p, n);
		json_object_set_new(o, key, json_string(text ? text : ""));
		json_object_set_new(o, enc_key, json_string("base64"));
		free(text);
	}
}

int payload_from_json(json_t *o, const char *key, const char *enc_key, uint8_t **ret,
		      size_t *ret_len)
{
	json_t *s = json_object_get(o, key);
	const char *enc = json_string_value(json_object_get(o, enc_key));
	*ret = NULL;
	*ret_len = 0;
	if (!json_is_string(s))
		return 0;
	size_t n = json_string_length(s);
	if (enc && !strcmp(enc, "base64"))
		return base64_decode(json_string_value(s), n, ret, ret_len);
	*ret = malloc(n + 1);
	if (!*ret)
		return -ENOMEM;
	memcpy(*ret, json_string_value(s), n);
	*ret_len = n;
	return 0;
}

void bytes_to_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_to_bytes(const char *s, uint8_t *out, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
