/* What the API tests share: the real ditto-controller binary on a free
 * loopback port with a temporary data folder for each test, and calls to it
 * over real HTTP. */
#ifndef DITTO_TESTS_API_FIXTURE_H
#define DITTO_TESTS_API_FIXTURE_H

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api_client.h"
#include "support/files.h"
#include "support/procs.h"
#include "util.h"

#define MAX_ARTIFACT "4096"

struct fixture {
	char dir[64];
	struct daemon_proc proc; /* pid and url of the controller */
	struct api_client c;
	char admin[128];
};

/* The canned agents these tests call answer the HTTP invoke route, not
 * the link's stream (whose own tests are test_agent_stream.c and the link's
 * end-to-end suite): the controller calls them over HTTP. */
#define AGENT_LINK_HTTP "--agent-link", "http"

/* Starts BUILD/ditto-controller on dir and waits until it listens. */
static inline int start_controller(struct fixture *f)
{
	const char *const extra[] = { "--max-artifact", MAX_ARTIFACT, AGENT_LINK_HTTP, NULL };
	int r = proc_start_controller(&f->proc, f->dir, 0, extra, f->admin);
	if (r < 0) {
		fprintf(stderr, "cannot start the controller (%s); see %s\n", strerror(-r),
			f->proc.log);
		return r;
	}
	api_client_free(&f->c);
	return api_client_init(&f->c, f->proc.url) < 0 ? -ENOMEM : 0;
}

static inline int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (scratch_dir(f->dir, sizeof(f->dir), "api") < 0 || start_controller(f) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;
	daemon_proc_stop(&f->proc, SIGTERM, 10000);
	api_client_free(&f->c);
	if (remove_tree(f->dir) < 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	return 0;
}

/* Calls the API as token (NULL: no Authorization header) and returns the
 * status; the reply lands in *ret when ret is not NULL. */
static inline int call(struct fixture *f, const char *token, const char *method, const char *path,
		       const char *body, size_t len, json_t **ret)
{
	assert_int_equal(api_client_set_bearer(&f->c, token), 0);
	json_t *o = NULL;
	int st = api_client_call(&f->c, method, path, body, body && !len ? strlen(body) : len,
				 30000, &o);
	if (ret)
		*ret = o;
	else
		json_decref(o);
	return st;
}

/* Calls as token and checks the status and the function's "version" in the
 * reply, which it returns (the caller drops it). */
static inline json_t *call_version(struct fixture *f, const char *token, const char *method,
				   const char *path, const char *body, int status,
				   json_int_t version)
{
	json_t *o;
	assert_int_equal(call(f, token, method, path, body, 0, &o), status);
	assert_int_equal(json_integer_value(json_object_get(o, "version")), version);
	return o;
}

static inline const char *error_code(json_t *o)
{
	return json_string_value(json_object_get(json_object_get(o, "error"), "code"));
}

static inline const char *error_message(json_t *o)
{
	return json_string_value(json_object_get(json_object_get(o, "error"), "message"));
}

/* Invokes the function fn asynchronously as key (202) and returns the
 * invocation's id in id. */
static inline void submit_async(struct fixture *f, const char *key, const char *fn, char id[64])
{
	char path[128];
	json_t *o;
	snprintf(path, sizeof(path), "/v1/functions/%s/invoke?async=true", fn);
	assert_int_equal(call(f, key, "POST", path, "{}", 2, &o), 202);
	snprintf(id, 64, "%s", json_string_value(json_object_get(o, "id")));
	json_decref(o);
}

/* Creates tenant name and returns its key in key. */
static inline void make_tenant(struct fixture *f, const char *name, char key[128])
{
	char body[128];
	snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
	json_t *o;
	assert_int_equal(call(f, f->admin, "POST", "/v1/tenants", body, 0, &o), 201);
	assert_string_equal(json_string_value(json_object_get(o, "name")), name);
	snprintf(key, 128, "%s", json_string_value(json_object_get(o, "key")));
	assert_int_equal(strncmp(key, "dk_", 3), 0);
	json_decref(o);
}

/* Each test gets a fixture of its own. */
#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

#endif
