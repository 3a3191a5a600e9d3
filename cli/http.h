/* A small blocking HTTP client over libcurl for the controller's API: one
 * request at a time, the answer's body and headers kept in memory, uploads
 * streamed from an open file. It never prints; the caller decides what a
 * failure means. */
#ifndef DITTO_CLI_HTTP_H
#define DITTO_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util.h"

struct http_client {
	void *curl;
	char base[512];  /* "http://host:port", no trailing slash */
	char auth[512];  /* "Authorization: Bearer KEY", or "" to send none */
	char error[256]; /* why the last request got no HTTP answer */
};

struct http_request {
	const char *method;
	const char *path; /* absolute, with its query, already escaped */
	const void *body; /* an in-memory body, or NULL */
	size_t body_len;
	FILE *upload; /* or a file streamed as the body (body is NULL) */
	long long upload_len;
	const char *content_type; /* NULL: application/json */
	const char *header;       /* one more "Name: value" header line, or NULL */
	long timeout_ms;          /* the whole exchange; 0 for no limit */
};

struct http_response {
	long status;
	struct buf body;
	struct buf headers; /* the final answer's "Name: value\r\n" lines */
};

/* Prepares a client for base_url ("http://host:port", a trailing slash is
 * dropped) sending key as a bearer token (NULL or "" sends none). Returns 0,
 * -EINVAL when the URL does not fit or the key holds a control character
 * (it would split the header), or -ENOMEM. */
int http_client_init(struct http_client *c, const char *base_url, const char *key);

/* Releases the client; a zeroed or freed client is fine. */
void http_client_free(struct http_client *c);

/* Performs one request. Returns 0 once any HTTP answer came (whatever its
 * status), with it in *ret, which the caller frees with http_response_free;
 * or a negative errno when none came, as http_client_errno maps libcurl's
 * result (-ECANCELED means the upload could not be read: only its read
 * callback aborts a transfer; -ENOMEM that the answer did not fit in
 * memory), or -ENAMETOOLONG when the URL does not fit, with the reason in
 * c->error and *ret empty. */
int http_perform(struct http_client *c, const struct http_request *rq, struct http_response *ret);

/* Frees the answer's buffers; the struct becomes empty. */
void http_response_free(struct http_response *r);

/* Copies the value of header name (case-insensitive) into out, without
 * surrounding blanks. Returns true when the answer had it and it fit. */
bool http_response_header(const struct http_response *r, const char *name, char *out, size_t size);

/* Percent-encodes s for use as one path segment or query value: everything
 * but RFC 3986's unreserved characters is escaped. Returns 0 or
 * -ENAMETOOLONG when out (size bytes, NUL included) is too small. */
int http_escape(const char *s, char *out, size_t size);

#endif
