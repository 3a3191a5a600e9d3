/* A small blocking client for the HTTP APIs of Ditto's daemons (libcurl +
 * jansson): the agent's uplink calls the controller with it, and ditto-bench
 * and the end-to-end tests call the agent and the controller. */
#ifndef DITTO_API_CLIENT_H
#define DITTO_API_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "sha256.h"

struct api_client {
	void *curl;
	char base[256];
	char bearer[128];          /* "" or the token sent as "Authorization: Bearer" */
	const atomic_bool *cancel; /* NULL, or calls give up once it is true */
};

/* base_url like "http://127.0.0.1:7070". Returns 0 or -ENOMEM. */
int api_client_init(struct api_client *c, const char *base_url);
void api_client_free(struct api_client *c);

/* Sends "Authorization: Bearer TOKEN" with every later call; NULL or "" stops
 * sending it. Returns 0, or -EINVAL for a token that does not fit or holds a
 * control character (which would split the header). */
int api_client_set_bearer(struct api_client *c, const char *token);

/* Makes calls give up with -ECANCELED soon after *flag becomes true (within
 * about a second, also while waiting for an answer), so that another thread
 * can stop a client blocked on a slow peer; NULL stops watching. *flag must
 * outlive the calls. */
void api_client_set_cancel(struct api_client *c, const atomic_bool *flag);

/* Performs METHOD base+path with an optional body. Returns the HTTP status,
 * with the parsed JSON reply in *ret (NULL when the reply is not JSON; the
 * caller decrefs), or -errno when no HTTP answer came (-ECONNREFUSED,
 * -ETIMEDOUT, -ECANCELED...). timeout_ms 0 means no limit. */
int api_client_call(struct api_client *c, const char *method, const char *path, const void *body,
		    size_t len, long timeout_ms, json_t **ret);

/* PUTs an artifact under its SHA-256; writes the digest into out. Returns
 * the HTTP status or -errno. */
int api_client_put_artifact(struct api_client *c, const void *data, size_t len,
			    char digest[SHA256_HEX_SIZE]);

#endif
