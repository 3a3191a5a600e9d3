/* What the platform suite's tests share: calls, tenants and functions, and
 * waits on what the platform does on its own. */
#include "controller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/wait.h"
#include "util.h"

long call(const char *key, const char *method, const char *path, const void *body, size_t len,
	  struct http_reply *r)
{
	return http_call(P.controller.url, key, method, path, body, len, r);
}

long call_s(const char *key, const char *method, const char *path, const char *body,
	    struct http_reply *r)
{
	return call(key, method, path, body, body ? strlen(body) : 0, r);
}

void expect_call(const char *key, const char *method, const char *path, const char *body, long want)
{
	struct http_reply r;
	assert_int_equal(call_s(key, method, path, body, &r), want);
	http_reply_free(&r);
}

const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

long long num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

void tenant(const char *name, const char *scaling, char key[128])
{
	struct http_reply r;
	char body[128], path[128];
	snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
	assert_int_equal(call_s(P.admin, "POST", "/v1/tenants", body, &r), 201);
	snprintf(key, 128, "%s", str(r.json, "key"));
	http_reply_free(&r);
	if (scaling) {
		snprintf(path, sizeof(path), "/v1/tenants/%s/scaling", name);
		expect_call(P.admin, "PUT", path, scaling, 200);
	}
}

long long deploy(const char *key, const char *name, const char *file, const char *query)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/functions/%s", test_build_dir(), file);
	void *data;
	size_t len;
	assert_int_equal(file_read_all(path, &data, &len), 0);
	snprintf(path, sizeof(path), "/v1/functions/%s%s%s", name, query ? "?" : "",
		 query ? query : "");
	struct http_reply r;
	assert_int_equal(call(key, "PUT", path, data, len, &r), 201);
	free(data);
	long long v = num(r.json, "version");
	http_reply_free(&r);
	return v;
}

void deploy_script(const char *key, const char *name, const char *script, const char *query)
{
	char path[256];
	snprintf(path, sizeof(path), "/v1/functions/%s%s%s", name, query ? "?" : "",
		 query ? query : "");
	expect_call(key, "PUT", path, script, 201);
}

long invoke(const char *key, const char *name, const char *input, struct http_reply *r)
{
	char path[256];
	snprintf(path, sizeof(path), "/v1/functions/%s/invoke", name);
	return call_s(key, "POST", path, input, r);
}

void invoke_ok(const char *key, const char *name, char record[128])
{
	struct http_reply r;
	assert_int_equal(invoke(key, name, "{}", &r), 200);
	snprintf(record, 128, "/v1/invocations/%s", r.id);
	http_reply_free(&r);
}

/* A record to wait for, and the record once it is there. */
struct record_wait {
	const char *key;
	char path[128];
	json_t *rec;
};

static bool record_finished(void *data)
{
	struct record_wait *w = data;
	struct http_reply r;
	assert_int_equal(call_s(w->key, "GET", w->path, NULL, &r), 200);
	const char *s = str(r.json, "status");
	bool done = s && strcmp(s, "queued") && strcmp(s, "running");
	if (done)
		w->rec = json_incref(r.json);
	http_reply_free(&r);
	return done;
}

json_t *await_record(const char *key, const char *id)
{
	struct record_wait w = { .key = key };
	snprintf(w.path, sizeof(w.path), "/v1/invocations/%s", id);
	wait_until(record_finished, &w, DEADLINE_MS, "an invocation to finish");
	return w.rec;
}

json_t *host_h1(void)
{
	struct http_reply r;
	assert_int_equal(call_s(P.admin, "GET", "/v1/hosts", NULL, &r), 200);
	json_t *hosts = json_object_get(r.json, "hosts");
	json_t *found = NULL;
	for (size_t i = 0; i < json_array_size(hosts); i++)
		if (!strcmp(str(json_array_get(hosts, i), "id"), "h1"))
			found = json_incref(json_array_get(hosts, i));
	http_reply_free(&r);
	return found;
}

static bool host_in_state(void *state)
{
	json_t *h = host_h1();
	bool ok = h && !strcmp(str(h, "state"), state);
	json_decref(h);
	return ok;
}

void await_host(const char *state)
{
	wait_until(host_in_state, (void *)state, DEADLINE_MS, "host h1's state");
}

/* The tenant's VM as the controller shows it to key; *ret_r holds it. */
static json_t *vm_of(const char *key, const char *name, struct http_reply *ret_r)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/tenants/%s", name);
	assert_int_equal(call_s(key, "GET", path, NULL, ret_r), 200);
	return json_object_get(ret_r->json, "vm");
}

long long workers_of(const char *name)
{
	struct http_reply r;
	long long w = num(vm_of(P.admin, name, &r), "workers");
	http_reply_free(&r);
	return w;
}

struct vm_wait {
	const char *key, *name, *host;
};

static bool vm_on(void *data)
{
	struct vm_wait *w = data;
	struct http_reply r;
	const char *h = str(vm_of(w->key, w->name, &r), "host");
	bool there = h && !strcmp(h, w->host);
	http_reply_free(&r);
	return there;
}

void await_vm_on(const char *key, const char *name, const char *host)
{
	struct vm_wait w = { key, name, host };
	wait_until(vm_on, &w, DEADLINE_MS, "the tenant's VM to move");
}

struct list_wait {
	const char *key;
	char path[160];
	size_t n;
};

static bool listed(void *data)
{
	struct list_wait *w = data;
	struct http_reply r;
	assert_int_equal(call_s(w->key, "GET", w->path, NULL, &r), 200);
	size_t k = json_array_size(json_object_get(r.json, "invocations"));
	http_reply_free(&r);
	return k >= w->n;
}

void await_listed(const char *key, const char *query, size_t n)
{
	struct list_wait w = { .key = key, .n = n };
	snprintf(w.path, sizeof(w.path), "/v1/invocations?%s", query);
	wait_until(listed, &w, DEADLINE_MS, "invocations in the list");
}

void *bg_invoke(void *arg)
{
	struct bg_call *c = arg;
	struct http_reply r;
	c->status = invoke(c->key, c->name, c->input, &r);
	if (http_error_code(&r))
		snprintf(c->code, sizeof(c->code), "%s", http_error_code(&r));
	http_reply_free(&r);
	return NULL;
}

void long_calls_start(const char *name, const char *input, struct long_calls *lc)
{
	tenant(name, "{\"max\":2}", lc->key);
	deploy(lc->key, "busy", "busy", "max_concurrency=4");
	struct http_reply r;
	assert_int_equal(invoke(lc->key, "busy", "{\"ms\":1}", &r), 200);
	http_reply_free(&r);
	assert_int_equal(call_s(lc->key, "POST", "/v1/functions/busy/invoke?async=true", input, &r),
			 202);
	snprintf(lc->async_id, sizeof(lc->async_id), "%s", str(r.json, "id"));
	http_reply_free(&r);
	lc->sync = (struct bg_call){ lc->key, "busy", input, 0, "" };
	pthread_create(&lc->thread, NULL, bg_invoke, &lc->sync);
	await_listed(lc->key, "status=running", 2);
}
