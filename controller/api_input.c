/* What no route accepts, refused before routing: NUL bytes where a C
 * string would end a name, key or value early, query keys without a
 * value or given twice, and two different Content-Length headers. MHD
 * decodes the target and keeps each header and query value with its
 * length, which is how a NUL inside one shows. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "controller_int.h"

/* More query parameters than any route takes (a deploy has 7). */
#define QUERY_MAX 16

/* What an iteration over headers or query parameters found wrong. */
struct scan {
	char why[256];
	/* headers: the first Content-Length; query: the keys seen */
	const char *length;
	size_t n;
	struct {
		const char *p;
		size_t len;
	} keys[QUERY_MAX];
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   size_t key_size, const char *value, size_t value_size)
{
	struct scan *s = cls;
	if (value && strlen(value) != value_size) {
		snprintf(s->why, sizeof(s->why), "header %.64s holds a NUL byte", key);
		return MHD_NO;
	}
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0 || !value)
		return MHD_YES;
	if (s->length && strcmp(s->length, value) != 0) {
		snprintf(s->why, sizeof(s->why),
			 "two different Content-Length headers (%.24s and %.24s)", s->length,
			 value);
		return MHD_NO;
	}
	s->length = value;
	return MHD_YES;
}

static enum MHD_Result scan_query(void *cls, enum MHD_ValueKind kind, const char *key,
				  size_t key_size, const char *value, size_t value_size)
{
	struct scan *s = cls;
	if (strlen(key) != key_size) {
		snprintf(s->why, sizeof(s->why), "query parameter %.64s holds a NUL byte", key);
		return MHD_NO;
	}
	if (!value) {
		snprintf(s->why, sizeof(s->why), "query parameter %.64s needs a value (%.64s=...)",
			 key, key);
		return MHD_NO;
	}
	if (strlen(value) != value_size) {
		snprintf(s->why, sizeof(s->why),
			 "the value of query parameter %.64s holds a NUL byte", key);
		return MHD_NO;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (s->keys[i].len == key_size && memcmp(s->keys[i].p, key, key_size) == 0) {
			snprintf(s->why, sizeof(s->why), "query parameter %.64s is given twice",
				 key);
			return MHD_NO;
		}
	}
	if (s->n == QUERY_MAX) {
		snprintf(s->why, sizeof(s->why), "more than %d query parameters", QUERY_MAX);
		return MHD_NO;
	}
	s->keys[s->n].p = key;
	s->keys[s->n].len = key_size;
	s->n++;
	return MHD_YES;
}

bool api_input_ok(struct request *r)
{
	struct scan s = { .why = "" };
	if (r->path_nul)
		snprintf(s.why, sizeof(s.why), "the path holds a NUL byte (%%00)");
	if (!s.why[0])
		MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, scan_header, &s);
	if (!s.why[0]) {
		s.n = 0;
		MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND, scan_query, &s);
	}
	if (!s.why[0])
		return true;
	reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", s.why);
	return false;
}
