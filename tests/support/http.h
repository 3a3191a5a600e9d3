/* One HTTP call as a test makes it: the whole reply, its JSON and the
 * X-Ditto-* headers the controller sets, through a fresh libcurl handle so
 * calls on several threads need no set-up. */
#ifndef DITTO_TESTS_HTTP_H
#define DITTO_TESTS_HTTP_H

#include <stddef.h>

#include <jansson.h>

#include "util.h"

struct http_reply {
	long status;      /* the HTTP status, or -1 when no answer came */
	struct buf body;  /* the raw body */
	json_t *json;     /* the body parsed, or NULL */
	char id[64];      /* X-Ditto-Invocation-Id */
	char cold[16];    /* X-Ditto-Cold-Start */
	char timing[256]; /* X-Ditto-Timing */
	char forwarded_to[64]; /* X-Ditto-Forwarded-To: the controller that served it */
	char retry_after[16];
	char content_type[64];
};

/* METHOD base+path as bearer key (NULL: none) with an optional body, given
 * five minutes. Fills r (which the caller frees) and returns r->status. */
long http_call(const char *base, const char *key, const char *method, const char *path,
	       const void *body, size_t len, struct http_reply *r);

/* http_call with one more request header line ("Name: value"; NULL: none). */
long http_call_header(const char *base, const char *key, const char *header, const char *method,
		      const char *path, const void *body, size_t len, struct http_reply *r);

void http_reply_free(struct http_reply *r);

/* The reply's error code ({"error":{"code":...}}), or NULL. */
const char *http_error_code(const struct http_reply *r);

#endif
