#include "httpd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "encoding.h"

/* The longest error message kept, in bytes of UTF-8 (a longer one is cut at
 * a character boundary). */
#define ERROR_MESSAGE_MAX 600

/* ---- routes ------------------------------------------------------------------------- */

bool httpd_path_match(const char *pattern, const char *path, struct httpd_args *args)
{
	struct httpd_args a = { 0 };
	while (*pattern) {
		if (pattern[0] == '{' && pattern[1] == '}') {
			size_t len = strcspn(path, "/");
			if (len == 0 || a.n == HTTPD_MAX_ARGS)
				return false;
			a.v[a.n].p = path;
			a.v[a.n].len = len;
			a.n++;
			path += len;
			pattern += 2;
		} else if (*pattern++ != *path++) {
			return false;
		}
	}
	if (*path)
		return false;
	if (args)
		*args = a;
	return true;
}

int httpd_route_find(const void *rows, size_t n, size_t row_size, const char *method,
		     const char *path, struct httpd_args *ret_args)
{
	bool path_known = false;
	for (size_t i = 0; i < n; i++) {
		const struct httpd_route *row = (const struct httpd_route *)((const char *)rows +
									     i * row_size);
		struct httpd_args args;
		if (!httpd_path_match(row->pattern, path, &args))
			continue;
		bool hit = method && *method && row->method && strcmp(row->method, method) == 0;
		if (ret_args && (hit || !path_known))
			*ret_args = args;
		path_known = true;
		if (hit)
			return (int)i;
	}
	return path_known ? -EPERM : -ENOENT;
}

int httpd_arg_copy(const struct httpd_args *args, int i, char *out, size_t size)
{
	if (size == 0)
		return -ENAMETOOLONG;
	out[0] = '\0';
	if (i < 0 || i >= args->n)
		return -EINVAL;
	size_t len = args->v[i].len;
	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(out, args->v[i].p, len);
	out[len] = '\0';
	return 0;
}

/* ---- authentication ---------------------------------------------------------------- */

const char *httpd_bearer(const char *header, size_t max)
{
	if (!header || strncasecmp(header, "Bearer ", 7) != 0)
		return NULL;
	const char *token = header + 7;
	token += strspn(token, " ");
	size_t len = strlen(token);
	return len == 0 || len > max ? NULL : token;
}

bool httpd_token_equal(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	size_t len = n > m ? n : m;
	unsigned char diff = n != m;
	for (size_t i = 0; i < len; i++)
		diff |= (unsigned char)(i < n ? a[i] : 0) ^ (unsigned char)(i < m ? b[i] : 0);
	return diff == 0;
}

/* ---- bodies ------------------------------------------------------------------------------ */

enum httpd_length httpd_content_length(const char *header, uint64_t limit, uint64_t *ret_len)
{
	uint64_t len = 0;
	enum httpd_length verdict = HTTPD_LENGTH_OK;
	if (header) {
		int r = parse_u64(header, 0, UINT64_MAX, &len);
		if (r == -ERANGE) {
			/* All digits, too many of them: far over any limit. */
			len = UINT64_MAX;
		} else if (r < 0) {
			len = 0;
			verdict = HTTPD_LENGTH_BAD;
		}
	}
	if (verdict == HTTPD_LENGTH_OK && len > limit)
		verdict = len - limit <= HTTPD_DRAIN_MAX ? HTTPD_LENGTH_DRAIN
							 : HTTPD_LENGTH_TOO_LARGE;
	if (ret_len)
		*ret_len = len;
	return verdict;
}

bool httpd_expects_continue(const char *header)
{
	return header && strcasecmp(header, "100-continue") == 0;
}

int httpd_body_take(struct httpd_body *b, const void *p, size_t n, bool keep)
{
	if (b->too_big)
		return -EFBIG;
	if (n > b->limit - b->received) {
		b->too_big = true;
		b->received = n > UINT64_MAX - b->received ? UINT64_MAX : b->received + n;
		return -EFBIG;
	}
	if (keep) {
		int r = buf_append(&b->data, p, n);
		if (r < 0)
			return r;
	}
	b->received += n;
	return 0;
}

void httpd_body_free(struct httpd_body *b)
{
	buf_free(&b->data);
	b->received = 0;
	b->too_big = false;
}

/* ---- media types -------------------------------------------------------------------------- */

enum httpd_media httpd_media_type(const char *header)
{
	static const struct {
		const char *name;
		enum httpd_media media;
	} known[] = {
		{ "application/json", HTTPD_MEDIA_JSON },
		{ "application/octet-stream", HTTPD_MEDIA_OCTET },
	};
	if (!header)
		return HTTPD_MEDIA_NONE;
	const char *p = header + strspn(header, " \t");
	size_t len = strcspn(p, " \t;");
	const char *rest = p + len;
	rest += strspn(rest, " \t");
	if (*rest && *rest != ';')
		return HTTPD_MEDIA_OTHER;
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (strlen(known[i].name) == len && strncasecmp(p, known[i].name, len) == 0)
			return known[i].media;
	return HTTPD_MEDIA_OTHER;
}

/* ---- replies ------------------------------------------------------------------------------ */

static json_t *error_json(const char *code, const char *raw, size_t len)
{
	char msg[ERROR_MESSAGE_MAX];
	utf8_sanitize(raw, len, msg, sizeof(msg));
	return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
}

json_t *httpd_error_vjson(const char *code, const char *fmt, va_list ap)
{
	struct buf raw = { 0 };
	int r = buf_vprintf(&raw, fmt, ap);
	json_t *o = r < 0 ? NULL : error_json(code, (const char *)raw.data, raw.len);
	buf_free(&raw);
	return o;
}

json_t *httpd_error_json(const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *o = httpd_error_vjson(code, fmt, ap);
	va_end(ap);
	return o;
}

char *httpd_error_text(const char *code, const char *message, size_t *ret_len)
{
	static const char fallback[] =
		"{\"error\":{\"code\":\"internal\",\"message\":\"cannot build the reply\"}}";
	json_t *o = error_json(code, message, strlen(message));
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text)
		text = strdup(fallback);
	if (text && ret_len)
		*ret_len = strlen(text);
	return text;
}
