#include "encoding.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool utf8_is_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		uint32_t cp, min;
		if ((c & 0xe0) == 0xc0) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
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

int payload_from_json(json_t *o, const char *key, const char *enc_key, uint8_t **ret, size_t *ret_len)
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
