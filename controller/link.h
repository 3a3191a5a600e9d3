/* Calls from the controller to host agents over HTTP (libcurl), from any
 * thread. Easy handles are pooled so that their kept-alive connections to
 * the agents are reused across requests. */
#ifndef DITTO_LINK_H
#define DITTO_LINK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

struct link_pool;

/* Returns 0 with a pool for link_pool_free, or -ENOMEM. */
int link_pool_new(struct link_pool **ret);
void link_pool_free(struct link_pool *p);

/* A pooled easy handle, reset but with its kept-alive connections, for a
 * caller that drives libcurl itself (NULL: out of memory); link_handle_put
 * gives it back. */
CURL *link_handle_get(struct link_pool *p);
void link_handle_put(struct link_pool *p, CURL *h);

struct link_call {
	const char *address; /* "http://host:port" */
	const char *token;   /* sent as "Authorization: Bearer"; NULL or "" for none */
	const char *method;
	const char *path; /* with its query */
	const void *body; /* NULL: no body, unless body_file */
	size_t body_len;
	const char *body_file; /* stream this file as the body instead */
	long timeout_ms;       /* 0: no limit */
	/* The call aborts with -ECANCELED as soon as *gen differs from
	 * gen_expected (the host was lost); gen NULL: never. */
	const _Atomic uint64_t *gen;
	uint64_t gen_expected;
};

/* Performs the call. Returns the HTTP status with the reply parsed as JSON
 * in *ret_json (NULL when it is not JSON; the caller decrefs), or -errno when
 * no HTTP answer came: libcurl's result as http_client_errno maps it
 * (-ECONNREFUSED, -EHOSTUNREACH, -ETIMEDOUT, -ECANCELED, -ECONNRESET,
 * -ENOMEM, -EINVAL, -EIO), or -ENOENT (the body file is missing). ret_rtt_us, when not NULL, gets the time the
 * call took. */
int link_do(struct link_pool *p, const struct link_call *c, json_t **ret_json, int64_t *ret_rtt_us);

#endif
