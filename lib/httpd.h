/* The parts of an HTTP server that do not depend on how it is threaded:
 * route tables, bearer tokens, the Content-Length policy, a body kept up to
 * a limit and JSON error bodies that always build. Pure: no sockets, no
 * libmicrohttpd, so the controller (a thread per connection) and the agent
 * (libmicrohttpd on a libuv loop) share them and tests call them alone. */
#ifndef DITTO_HTTPD_H
#define DITTO_HTTPD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

/* ---- routes ------------------------------------------------------------------------- */

#define HTTPD_MAX_ARGS 4

/* The head of a route table row. A server's row embeds this first and adds
 * what it needs (auth, body limit, handler), one row per method and
 * pattern. A pattern is a path whose "{}" segments each match one
 * non-empty segment, e.g. "/v1/functions/{}/invoke". */
struct httpd_route {
	const char *method;
	const char *pattern;
};

/* The "{}" segments of a matched path, in order: pointers into the path
 * (not NUL-terminated) and their lengths. */
struct httpd_args {
	int n;
	struct {
		const char *p;
		size_t len;
	} v[HTTPD_MAX_ARGS];
};

/* True when path matches pattern; fills args (which may be NULL). */
bool httpd_path_match(const char *pattern, const char *path, struct httpd_args *args);

/* Finds the row for method and path in a table of n rows of row_size bytes,
 * each starting with a struct httpd_route. Returns the row's index with args
 * filled, -ENOENT when no pattern matches the path (404), or -EPERM when
 * one does but not under this method (405; an empty or NULL method is never
 * allowed), with args filled from the first row whose pattern matches. */
int httpd_route_find(const void *rows, size_t n, size_t row_size, const char *method,
		     const char *path, struct httpd_args *ret_args);

/* Copies args->v[i] into out as a NUL-terminated string. Returns 0,
 * -ENAMETOOLONG when it does not fit, or -EINVAL when there is no arg i
 * (out then holds "" when size > 0). */
int httpd_arg_copy(const struct httpd_args *args, int i, char *out, size_t size);

/* ---- authentication ---------------------------------------------------------------- */

/* The token of an Authorization header value "Bearer TOKEN". The scheme is
 * matched case-insensitively (RFC 7235) and may be followed by one or more
 * spaces. Returns a pointer into header, or NULL when header is NULL, names
 * another scheme, has an empty token, or one longer than max bytes. */
const char *httpd_bearer(const char *header, size_t max);

/* True when a and b are the same string, compared in a time that depends
 * on their lengths only, not on where they first differ. */
bool httpd_token_equal(const char *a, const char *b);

/* ---- bodies ------------------------------------------------------------------------------ */

/* How much past its limit a declared body is still read (and dropped) before
 * the 413 goes out: closing on a client that is still sending makes the
 * kernel reset the connection, and the client may never read the answer. */
#define HTTPD_DRAIN_MAX (16u << 20)

enum httpd_length {
	HTTPD_LENGTH_OK,        /* none declared, or within the limit */
	HTTPD_LENGTH_DRAIN,     /* over the limit, by at most HTTPD_DRAIN_MAX: read, drop, 413 */
	HTTPD_LENGTH_TOO_LARGE, /* far over the limit: 413 at once, before any of it is read */
	HTTPD_LENGTH_BAD,       /* not a decimal number: 400 */
};

/* Applies the one Content-Length policy both servers follow to a request's
 * header value (NULL when absent). The value must be all digits (no sign,
 * no spaces); one too large for 64 bits is far over any limit. *ret_len
 * (may be NULL) gets the declared length (UINT64_MAX when it does not fit),
 * 0 when none or bad. */
enum httpd_length httpd_content_length(const char *header, uint64_t limit, uint64_t *ret_len);

/* True when an Expect header value (NULL when absent) asks for
 * "100-continue" (matched case-insensitively, RFC 9110). A server that
 * already knows the body is too large answers the 413 instead of
 * "100 Continue", so the client never sends it. */
bool httpd_expects_continue(const char *header);

/* A request body kept in memory up to a limit. Zeroed plus a limit is an
 * empty body. */
struct httpd_body {
	struct buf data; /* what was kept */
	uint64_t limit;
	uint64_t received; /* bytes counted, kept or not */
	bool too_big;
};

/* Counts n more bytes against the limit and, when keep, appends them to
 * data (a body streamed elsewhere passes keep = false and only counts).
 * Returns 0; -EFBIG once the body passes its limit (too_big is set and every
 * later call returns -EFBIG and keeps nothing); -ENOMEM. */
int httpd_body_take(struct httpd_body *b, const void *p, size_t n, bool keep);

/* Frees what the body kept; it becomes empty, limit unchanged. */
void httpd_body_free(struct httpd_body *b);

/* ---- media types -------------------------------------------------------------------------- */

enum httpd_media {
	HTTPD_MEDIA_NONE,  /* no Content-Type header */
	HTTPD_MEDIA_JSON,  /* application/json */
	HTTPD_MEDIA_OCTET, /* application/octet-stream */
	HTTPD_MEDIA_OTHER, /* anything else, or a malformed value */
};

/* Classifies a Content-Type header value (NULL when absent). The type and
 * subtype are matched case-insensitively (RFC 9110), with optional spaces
 * or tabs around them, and may be followed by parameters after a ';'
 * ("application/json; charset=utf-8"), which are not interpreted. */
enum httpd_media httpd_media_type(const char *header);

/* ---- replies ------------------------------------------------------------------------------ */

/* The error body every Ditto server sends:
 *   {"error": {"code": CODE, "message": MESSAGE}}
 * MESSAGE is formatted from fmt and may carry text from the request (a path,
 * a method, a query key): any byte that is not part of valid UTF-8 becomes
 * U+FFFD and a cut never splits a character, so the body always builds.
 * Returns a new object the caller owns (it may add members to "error"), or
 * NULL on ENOMEM. */
json_t *httpd_error_json(const char *code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same with the arguments as a va_list, for a caller's own printf-like
 * reply function. */
json_t *httpd_error_vjson(const char *code, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* The same for a message that is already text (any bytes, as above), as
 * compact JSON with its length: for a reply that must go out even when
 * jansson cannot allocate (then a static "internal" error is copied).
 * Returns a malloc'd string or NULL on ENOMEM. */
char *httpd_error_text(const char *code, const char *message, size_t *ret_len);

#endif
