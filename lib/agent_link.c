#include "agent_link.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int link_frame_append(struct buf *out, uint8_t type, uint32_t id, const char *meta, size_t meta_len,
		      const void *body, size_t body_len)
{
	if (!wire_type_in(WIRE_PROTO_LINK, type))
		return -EINVAL;
	uint8_t hdr[WIRE_HEADER_SIZE];
	int r = wire_header_encode(type, id, meta_len, body_len, hdr);
	if (r < 0)
		return r;
	/* With the room made first, the appends cannot fail. */
	if (buf_reserve(out, sizeof(hdr) + meta_len + body_len) < 0)
		return -ENOMEM;
	buf_append(out, hdr, sizeof(hdr));
	buf_append(out, meta, meta_len);
	buf_append(out, body, body_len);
	return 0;
}

int link_frame_append_json(struct buf *out, uint8_t type, uint32_t id, const json_t *meta,
			   const void *body, size_t body_len)
{
	char *s = json_dumps(meta, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	int r = link_frame_append(out, type, id, s, strlen(s), body, body_len);
	free(s);
	return r;
}

json_t *link_meta_parse(const struct wire_frame *f)
{
	if (f->hdr.meta_len == 0)
		return json_object();
	json_t *o = json_loadb(f->meta, f->hdr.meta_len, JSON_REJECT_DUPLICATES, NULL);
	if (o && !json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *link_hello_meta(unsigned window)
{
	return json_pack("{s:i, s:I}", "version", LINK_VERSION, "window", (json_int_t)window);
}

int link_hello_parse(const json_t *meta, unsigned *ret_window)
{
	json_t *v = json_object_get(meta, "version");
	json_t *w = json_object_get(meta, "window");
	if (!json_is_integer(v) || json_integer_value(v) != LINK_VERSION || !json_is_integer(w))
		return -EPROTO;
	json_int_t n = json_integer_value(w);
	if (n < 1 || n > LINK_WINDOW_MAX)
		return -EPROTO;
	*ret_window = (unsigned)n;
	return 0;
}

/* Sets key to a new string unless s is NULL; false when out of memory. */
static bool set_str(json_t *o, const char *key, const char *s)
{
	return !s || json_object_set_new(o, key, json_string(s)) == 0;
}

static bool set_uint(json_t *o, const char *key, unsigned v)
{
	return !v || json_object_set_new(o, key, json_integer((json_int_t)v)) == 0;
}

json_t *link_invoke_meta(const struct link_invoke *p)
{
	json_t *o = json_object();
	bool ok = o && set_str(o, "vm", p->vm) && set_str(o, "artifact", p->artifact) &&
		  set_str(o, "mode", p->mode) && set_uint(o, "timeout_ms", p->timeout_ms) &&
		  set_uint(o, "memory_mib", p->memory_mib) &&
		  set_str(o, "invocation", p->invocation) &&
		  (!p->e2e || json_object_set_new(o, "e2e", json_true()) == 0) &&
		  set_str(o, "runtime", p->runtime) &&
		  (!p->runtime || set_str(o, "handler", p->handler ? p->handler : ""));
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

const char *link_param(const json_t *meta, const char *key, char *scratch, size_t size)
{
	json_t *v = json_object_get(meta, key);
	if (!v)
		return NULL;
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_boolean(v))
		return json_is_true(v) ? "1" : "0";
	if (json_is_integer(v) && size) {
		snprintf(scratch, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return scratch;
	}
	return "";
}

int link_result_split(const json_t *meta, size_t body_len, size_t *ret_result_len)
{
	json_t *n = json_object_get(meta, "result_len");
	if (!json_is_integer(n) || json_integer_value(n) < 0 ||
	    (uint64_t)json_integer_value(n) > body_len)
		return -EPROTO;
	*ret_result_len = (size_t)json_integer_value(n);
	return 0;
}

json_t *link_error_meta(unsigned status, const json_t *reply)
{
	json_t *err = json_object_get(reply, "error");
	return json_pack("{s:I, s:o}", "status", (json_int_t)status, "error",
			 err ? json_incref(err) : json_object());
}

int link_error_status(const json_t *meta)
{
	json_t *s = json_object_get(meta, "status");
	if (!json_is_integer(s) || json_integer_value(s) < 400 || json_integer_value(s) > 599 ||
	    !json_is_object(json_object_get(meta, "error")))
		return -EPROTO;
	return (int)json_integer_value(s);
}

int link_upgrade_request(char *out, size_t size, const char *host, const char *token)
{
	bool auth = token && *token;
	int n = snprintf(out, size,
			 "GET " LINK_PATH " HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\n"
			 "Upgrade: " LINK_UPGRADE "\r\n%s%s%s\r\n",
			 host, auth ? "Authorization: Bearer " : "", auth ? token : "",
			 auth ? "\r\n" : "");
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return n;
}

#define HEAD_MAX (16 * 1024)

int link_upgrade_response(const char *p, size_t n, int *ret_status, size_t *ret_content_length)
{
	const char *end = n ? memmem(p, n, "\r\n\r\n", 4) : NULL;
	if (!end)
		return n > HEAD_MAX ? -EPROTO : 0;
	size_t head = (size_t)(end - p) + 4;
	if (head > HEAD_MAX || head < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
		return -EPROTO;
	int status = 0;
	for (int i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EPROTO;
		status = status * 10 + (p[i] - '0');
	}
	size_t length = 0;
	static const char key[] = "\r\ncontent-length:";
	for (const char *q = p; q + sizeof(key) - 1 < end; q++) {
		if (strncasecmp(q, key, sizeof(key) - 1) != 0)
			continue;
		q += sizeof(key) - 1;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q < '0' || *q > '9')
			return -EPROTO;
		for (; *q >= '0' && *q <= '9'; q++) {
			if (length > HEAD_MAX * 1024)
				return -EPROTO;
			length = length * 10 + (size_t)(*q - '0');
		}
		break;
	}
	*ret_status = status;
	*ret_content_length = length;
	return (int)head;
}
