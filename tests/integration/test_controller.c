/* End to end through the whole platform: the real ditto-controller, a real
 * ditto-agent registered with it, and real tenant VMs under QEMU, spoken to
 * over real HTTP on loopback. Each test waits on events with generous
 * deadlines (a VM boot under TCG takes seconds), never on fixed sleeps. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "agent_client.h"
#include "util.h"

#define DEADLINE_NS (240LL * 1000000000LL)

struct platform {
	char dir[64];
	char build[256];
	pid_t controller;
	pid_t agent;
	int port;
	char url[128];
	char admin[128];
};

static struct platform P;

/* ---- processes ---------------------------------------------------------------------------- */

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static pid_t spawn(const char *log, char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void stop(pid_t *pid, int sig)
{
	if (*pid <= 0)
		return;
	kill(*pid, sig);
	long long deadline = now_ns() + 20000000000LL;
	int st;
	while (waitpid(*pid, &st, WNOHANG) == 0) {
		if (now_ns() > deadline) {
			kill(*pid, SIGKILL);
			waitpid(*pid, &st, 0);
			break;
		}
		pause_ms(10);
	}
	*pid = 0;
}

/* Starts the controller on P.port (0 the first time: any free port, which
 * later restarts reuse so the agent finds it again). */
static int controller_start(void)
{
	char bin[300], ready[128], log[128], port[16];
	snprintf(bin, sizeof(bin), "%s/ditto-controller", P.build);
	snprintf(ready, sizeof(ready), "%s/url", P.dir);
	snprintf(log, sizeof(log), "%s/controller.log", P.dir);
	snprintf(port, sizeof(port), "%d", P.port);
	unlink(ready);
	char data[128];
	snprintf(data, sizeof(data), "%s/controller", P.dir);
	char *argv[] = { bin,	   "--port",	      port,   "--data", data, "--ready-file", ready,
			 "--host-timeout-ms", "2000", "--log-level", "debug", NULL };
	P.controller = spawn(log, argv);
	long long deadline = now_ns() + 30000000000LL;
	while (file_read_text(ready, P.url, sizeof(P.url)) <= 0) {
		int st;
		if (waitpid(P.controller, &st, WNOHANG) == P.controller || now_ns() > deadline)
			return -1;
		pause_ms(10);
	}
	const char *colon = strrchr(P.url, ':');
	P.port = atoi(colon + 1);
	char key[160];
	snprintf(key, sizeof(key), "%s/controller/admin.key", P.dir);
	return file_read_text(key, P.admin, sizeof(P.admin)) > 0 ? 0 : -1;
}

static int agent_start(void)
{
	char bin[300], log[128], data[128], image[300], key[160];
	snprintf(bin, sizeof(bin), "%s/ditto-agent", P.build);
	snprintf(log, sizeof(log), "%s/agent.log", P.dir);
	snprintf(data, sizeof(data), "%s/agent", P.dir);
	snprintf(image, sizeof(image), "%s/guest", P.build);
	snprintf(key, sizeof(key), "%s/controller/admin.key", P.dir);
	char *argv[] = { bin,	       "--port",      "0",     "--data",	   data,	  "--image", image,
			 "--controller", P.url,	      "--controller-key-file", key, "--host-id", "h1",
			 "--heartbeat-ms", "200", NULL };
	P.agent = spawn(log, argv);
	return P.agent > 0 ? 0 : -1;
}

/* ---- HTTP --------------------------------------------------------------------------------- */

struct reply {
	long status;
	struct buf body;
	json_t *json;
	char id[64];     /* X-Ditto-Invocation-Id */
	char cold[16];   /* X-Ditto-Cold-Start */
	char timing[256];
};

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
	struct reply *r = user;
	return buf_append(&r->body, p, size * n) < 0 ? 0 : size * n;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t out_size)
{
	size_t k = strlen(name);
	if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return;
	const char *v = line + k + 1;
	while (*v == ' ')
		v++;
	size_t len = (size_t)(line + n - v);
	while (len && (v[len - 1] == '\r' || v[len - 1] == '\n'))
		len--;
	snprintf(out, out_size, "%.*s", (int)len, v);
}

static size_t on_header(char *p, size_t size, size_t n, void *user)
{
	struct reply *r = user;
	header_value(p, size * n, "X-Ditto-Invocation-Id", r->id, sizeof(r->id));
	header_value(p, size * n, "X-Ditto-Cold-Start", r->cold, sizeof(r->cold));
	header_value(p, size * n, "X-Ditto-Timing", r->timing, sizeof(r->timing));
	return size * n;
}

static void reply_free(struct reply *r)
{
	buf_free(&r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/* Calls the controller as key (NULL: no key). Returns the HTTP status, or
 * -1 when no answer came. */
static long call(const char *key, const char *method, const char *path, const void *body, size_t len,
		 struct reply *r)
{
	memset(r, 0, sizeof(*r));
	CURL *h = curl_easy_init();
	char url[512], auth[200];
	snprintf(url, sizeof(url), "%s%s", P.url, path);
	struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
	if (key) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
		hdrs = curl_slist_append(hdrs, auth);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	CURLcode rc = curl_easy_perform(h);
	r->status = -1;
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	if (r->body.len)
		r->json = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
	return r->status;
}

static long call_s(const char *key, const char *method, const char *path, const char *body, struct reply *r)
{
	return call(key, method, path, body, body ? strlen(body) : 0, r);
}

static const char *code_of(const struct reply *r)
{
	return json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static long long num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* Creates a tenant with scaling settings and returns its key. */
static void tenant(const char *name, const char *scaling, char key[128])
{
	struct reply r;
	char body[128], path[128];
	snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
	assert_int_equal(call_s(P.admin, "POST", "/v1/tenants", body, &r), 201);
	snprintf(key, 128, "%s", str(r.json, "key"));
	reply_free(&r);
	if (scaling) {
		snprintf(path, sizeof(path), "/v1/tenants/%s/scaling", name);
		assert_int_equal(call_s(P.admin, "PUT", path, scaling, &r), 200);
		reply_free(&r);
	}
}

/* Deploys a file from BUILD/functions as name with the query's limits;
 * returns the version. */
static long long deploy(const char *key, const char *name, const char *file, const char *query)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/functions/%s", P.build, file);
	void *data;
	size_t len;
	assert_int_equal(read_file(path, &data, &len), 0);
	snprintf(path, sizeof(path), "/v1/functions/%s%s%s", name, query ? "?" : "", query ? query : "");
	struct reply r;
	assert_int_equal(call(key, "PUT", path, data, len, &r), 201);
	free(data);
	long long v = num(r.json, "version");
	reply_free(&r);
	return v;
}

static void deploy_script(const char *key, const char *name, const char *script, const char *query)
{
	char path[256];
	snprintf(path, sizeof(path), "/v1/functions/%s%s%s", name, query ? "?" : "", query ? query : "");
	struct reply r;
	assert_int_equal(call_s(key, "PUT", path, script, &r), 201);
	reply_free(&r);
}

static long invoke(const char *key, const char *name, const char *input, struct reply *r)
{
	char path[256];
	snprintf(path, sizeof(path), "/v1/functions/%s/invoke", name);
	return call_s(key, "POST", path, input, r);
}

/* Polls an invocation record until it is finished; returns it. */
static json_t *await_record(const char *key, const char *id)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/invocations/%s", id);
	long long deadline = now_ns() + DEADLINE_NS;
	for (;;) {
		struct reply r;
		assert_int_equal(call_s(key, "GET", path, NULL, &r), 200);
		const char *s = str(r.json, "status");
		if (s && strcmp(s, "queued") && strcmp(s, "running")) {
			json_t *o = json_incref(r.json);
			reply_free(&r);
			return o;
		}
		reply_free(&r);
		assert_true(now_ns() < deadline);
		pause_ms(50);
	}
}

/* The host h1 as GET /v1/hosts shows it. */
static json_t *host_h1(void)
{
	struct reply r;
	assert_int_equal(call_s(P.admin, "GET", "/v1/hosts", NULL, &r), 200);
	json_t *hosts = json_object_get(r.json, "hosts");
	json_t *found = NULL;
	for (size_t i = 0; i < json_array_size(hosts); i++)
		if (!strcmp(str(json_array_get(hosts, i), "id"), "h1"))
			found = json_incref(json_array_get(hosts, i));
	reply_free(&r);
	return found;
}

static void await_host(const char *state)
{
	long long deadline = now_ns() + DEADLINE_NS;
	for (;;) {
		json_t *h = host_h1();
		bool ok = h && !strcmp(str(h, "state"), state);
		json_decref(h);
		if (ok)
			return;
		assert_true(now_ns() < deadline);
		pause_ms(50);
	}
}

/* The tenant's VM's active worker vCPUs as the controller reports them. */
static long long workers_of(const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/tenants/%s", name);
	struct reply r;
	assert_int_equal(call_s(P.admin, "GET", path, NULL, &r), 200);
	long long w = num(json_object_get(r.json, "vm"), "workers");
	reply_free(&r);
	return w;
}

/* Waits until the controller says tenant name's VM runs on host. */
static void await_vm_on(const char *key, const char *name, const char *host)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/tenants/%s", name);
	long long deadline = now_ns() + DEADLINE_NS;
	for (;;) {
		struct reply r;
		assert_int_equal(call_s(key, "GET", path, NULL, &r), 200);
		const char *h = str(json_object_get(r.json, "vm"), "host");
		bool there = h && !strcmp(h, host);
		reply_free(&r);
		if (there)
			return;
		assert_true(now_ns() < deadline);
		pause_ms(50);
	}
}

/* ---- fixture -------------------------------------------------------------------------------- */

static int setup(void **state)
{
	snprintf(P.build, sizeof(P.build), "%s", getenv("DITTO_BUILD") ? getenv("DITTO_BUILD") : "build");
	snprintf(P.dir, sizeof(P.dir), "/tmp/ditto-e2e-XXXXXX");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!mkdtemp(P.dir) || controller_start() < 0 || agent_start() < 0) {
		fprintf(stderr, "cannot start the platform in %s\n", P.dir);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	stop(&P.agent, SIGTERM);
	stop(&P.controller, SIGTERM);
	if (!getenv("DITTO_KEEP")) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", P.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", P.dir);
	}
	return 0;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_host_registers(void **state)
{
	await_host("up");
	json_t *h = host_h1();
	assert_true(num(h, "cores") >= 1);
	assert_string_equal(str(h, "state"), "up");
	json_decref(h);
}

/* Deploy, invoke synchronously (cold, then warm), read the record; a new
 * version is invoked by default and the old one stays reachable. */
static void test_deploy_invoke_versions(void **state)
{
	char key[128];
	tenant("acme", "{\"min\":0,\"max\":2}", key);
	assert_int_equal(deploy(key, "echo", "echo", "mode=persistent"), 1);
	struct reply r;
	assert_int_equal(invoke(key, "echo", "{\"hello\":1}", &r), 200);
	assert_int_equal(r.body.len, strlen("{\"hello\":1}"));
	assert_memory_equal(r.body.data, "{\"hello\":1}", r.body.len);
	assert_string_equal(r.cold, "true");
	assert_int_equal(strlen(r.id), 32);
	assert_non_null(strstr(r.timing, "function_us="));
	char id[64];
	snprintf(id, sizeof(id), "%s", r.id);
	reply_free(&r);
	assert_int_equal(invoke(key, "echo", "{\"hello\":2}", &r), 200);
	assert_string_equal(r.cold, "false");
	reply_free(&r);

	json_t *rec = await_record(key, id);
	assert_string_equal(str(rec, "status"), "ok");
	assert_string_equal(str(rec, "host"), "h1");
	assert_string_equal(str(rec, "vm"), "acme");
	assert_true(num(rec, "cpu") >= 1);
	assert_string_equal(str(rec, "result"), "{\"hello\":1}");
	assert_true(num(json_object_get(rec, "timing"), "total_us") > 0);
	json_decref(rec);

	/* Version 2 is a script that answers differently. */
	deploy_script(key, "echo", "#!/bin/sh\necho '{\"v\":2}'\n", NULL);
	assert_int_equal(invoke(key, "echo", "{}", &r), 200);
	assert_non_null(strstr((const char *)r.body.data, "\"v\":2"));
	reply_free(&r);
	assert_int_equal(call_s(key, "POST", "/v1/functions/echo/invoke?version=1", "{\"old\":1}", &r), 200);
	assert_memory_equal(r.body.data, "{\"old\":1}", r.body.len);
	reply_free(&r);
	assert_int_equal(call_s(key, "POST", "/v1/functions/echo/invoke?version=9", "{}", &r), 404);
	reply_free(&r);

	/* The list shows them newest first, filtered by function. */
	assert_int_equal(call_s(key, "GET", "/v1/invocations?function=echo&limit=2", NULL, &r), 200);
	json_t *list = json_object_get(r.json, "invocations");
	assert_int_equal(json_array_size(list), 2);
	assert_true(strlen(str(r.json, "next_cursor")) > 0);
	reply_free(&r);
}

static void test_async(void **state)
{
	char key[128];
	tenant("asyncco", "{\"max\":1}", key);
	deploy(key, "echo", "echo", NULL);
	struct reply r;
	assert_int_equal(call_s(key, "POST", "/v1/functions/echo/invoke?async=true", "{\"a\":1}", &r), 202);
	assert_string_equal(str(r.json, "status"), "queued");
	char id[64];
	snprintf(id, sizeof(id), "%s", str(r.json, "id"));
	assert_string_equal(r.id, id);
	reply_free(&r);
	json_t *rec = await_record(key, id);
	assert_string_equal(str(rec, "status"), "ok");
	assert_true(json_is_true(json_object_get(rec, "async")));
	assert_string_equal(str(rec, "result"), "{\"a\":1}");
	json_decref(rec);
}

/* A tenant sees and invokes only its own functions and records. */
static void test_isolation(void **state)
{
	char a[128], b[128];
	tenant("iso-a", NULL, a);
	tenant("iso-b", NULL, b);
	deploy_script(a, "secret", "#!/bin/sh\necho '{\"s\":1}'\n", NULL);
	struct reply r;
	assert_int_equal(invoke(a, "secret", "{}", &r), 200);
	char id[64];
	snprintf(id, sizeof(id), "%s", r.id);
	reply_free(&r);
	assert_int_equal(invoke(b, "secret", "{}", &r), 404);
	reply_free(&r);
	assert_int_equal(call_s(b, "GET", "/v1/functions/secret", NULL, &r), 404);
	reply_free(&r);
	char path[128];
	snprintf(path, sizeof(path), "/v1/invocations/%s", id);
	assert_int_equal(call_s(b, "GET", path, NULL, &r), 404);
	reply_free(&r);
	assert_int_equal(call_s(b, "GET", "/v1/tenants/iso-a", NULL, &r), 403);
	reply_free(&r);
	assert_int_equal(call_s(b, "GET", "/v1/invocations", NULL, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "invocations")), 0);
	reply_free(&r);
}

struct bg_call {
	const char *key, *name, *input;
	long status;
	char code[64];
};

static void *bg_invoke(void *arg)
{
	struct bg_call *c = arg;
	struct reply r;
	c->status = invoke(c->key, c->name, c->input, &r);
	if (code_of(&r))
		snprintf(c->code, sizeof(c->code), "%s", code_of(&r));
	reply_free(&r);
	return NULL;
}

/* Every error status, from real requests. */
static void test_errors(void **state)
{
	char key[128];
	tenant("errs", "{\"max\":2}", key);
	struct reply r;
	assert_int_equal(call_s(NULL, "GET", "/v1/functions", NULL, &r), 401);
	assert_string_equal(code_of(&r), "unauthorized");
	reply_free(&r);
	assert_int_equal(call_s("dk_0000000000000000000000000000000000000000", "GET", "/v1/functions", NULL, &r), 401);
	reply_free(&r);
	assert_int_equal(call_s(P.admin, "POST", "/v1/functions/x/invoke", "{}", &r), 403);
	reply_free(&r);
	assert_int_equal(invoke(key, "nothing", "{}", &r), 404);
	assert_string_equal(code_of(&r), "not_found");
	reply_free(&r);
	assert_int_equal(call_s(key, "GET", "/v1/functions/x/invoke", NULL, &r), 405);
	reply_free(&r);
	assert_int_equal(call_s(key, "POST", "/v1/functions/x/invoke?async=maybe", "{}", &r), 400);
	reply_free(&r);
	assert_int_equal(call_s(key, "GET", "/v1/invocations?status=lost", NULL, &r), 400);
	reply_free(&r);
	assert_int_equal(call_s(key, "GET", "/v1/invocations/zz", NULL, &r), 404);
	reply_free(&r);

	deploy_script(key, "fails", "#!/bin/sh\necho oops >&2\nexit 3\n", NULL);
	deploy(key, "busy", "busy", "timeout=1000&max_concurrency=1");
	/* 413: inputs over 6 MiB (sync) and 256 KiB (async). */
	size_t big = (6u << 20) + 1;
	char *blob = malloc(big);
	memset(blob, 'x', big);
	assert_int_equal(call(key, "POST", "/v1/functions/fails/invoke", blob, big, &r), 413);
	assert_string_equal(code_of(&r), "too_large");
	reply_free(&r);
	assert_int_equal(call(key, "POST", "/v1/functions/fails/invoke?async=true", blob, (256u << 10) + 1, &r), 413);
	reply_free(&r);
	free(blob);

	/* 502 function_error, with the log in the record. */
	assert_int_equal(invoke(key, "fails", "{}", &r), 502);
	assert_string_equal(code_of(&r), "function_error");
	char path[128];
	snprintf(path, sizeof(path), "/v1/invocations/%s", r.id);
	assert_string_equal(str(json_object_get(r.json, "error"), "invocation"), r.id);
	reply_free(&r);
	assert_int_equal(call_s(key, "GET", path, NULL, &r), 200);
	assert_string_equal(str(r.json, "status"), "error");
	assert_string_equal(str(r.json, "log"), "oops\n");
	reply_free(&r);

	/* 504: busy for 5 s against a 1 s timeout. */
	assert_int_equal(invoke(key, "busy", "{\"ms\":5000}", &r), 504);
	assert_string_equal(code_of(&r), "function_timeout");
	reply_free(&r);

	/* The function's memory limit holds: 64 MiB does not fit in 32. */
	deploy(key, "hungry", "busy", "memory=32");
	assert_int_equal(invoke(key, "hungry", "{\"mb\":8}", &r), 200);
	reply_free(&r);
	assert_int_equal(invoke(key, "hungry", "{\"mb\":64}", &r), 502);
	assert_string_equal(code_of(&r), "function_error");
	reply_free(&r);
	assert_int_equal(call_s(key, "PUT", "/v1/functions/x?memory=4096", "#!/bin/sh\n", &r), 400);
	assert_string_equal(code_of(&r), "bad_parameter");
	reply_free(&r);
	assert_int_equal(call_s(key, "PUT", "/v1/functions/x?timeout=300001", "#!/bin/sh\n", &r), 400);
	reply_free(&r);

	/* 429: busy allows one at a time; a second call while one runs is
	 * refused. */
	struct bg_call c = { key, "busy", "{\"ms\":900}", 0, "" };
	pthread_t t;
	pthread_create(&t, NULL, bg_invoke, &c);
	long long deadline = now_ns() + DEADLINE_NS;
	for (;;) {
		assert_int_equal(call_s(key, "GET", "/v1/invocations?function=busy&status=running", NULL, &r), 200);
		size_t n = json_array_size(json_object_get(r.json, "invocations"));
		reply_free(&r);
		if (n == 1)
			break;
		assert_true(now_ns() < deadline);
		pause_ms(5);
	}
	assert_int_equal(invoke(key, "busy", "{\"ms\":1}", &r), 429);
	assert_string_equal(code_of(&r), "too_many_requests");
	reply_free(&r);
	pthread_join(t, NULL);
	assert_int_equal(c.status, 200);

	/* 503: the only host drained, a tenant without a VM has nowhere to go. */
	char other[128];
	tenant("homeless", NULL, other);
	deploy_script(other, "hi", "#!/bin/sh\necho '{}'\n", NULL);
	assert_int_equal(call_s(P.admin, "POST", "/v1/hosts/h1/drain", NULL, &r), 200);
	assert_string_equal(str(r.json, "state"), "draining");
	reply_free(&r);
	assert_int_equal(invoke(other, "hi", "{}", &r), 503);
	assert_string_equal(code_of(&r), "no_capacity");
	reply_free(&r);
	assert_int_equal(call_s(P.admin, "DELETE", "/v1/hosts/h1/drain", NULL, &r), 200);
	reply_free(&r);
	assert_int_equal(invoke(other, "hi", "{}", &r), 200);
	reply_free(&r);
}

/* A burst grows the tenant's worker vCPUs; idleness shrinks them. */
static void test_burst_grows_then_shrinks(void **state)
{
	char key[128];
	tenant("bursty", "{\"min\":0,\"max\":2,\"policy\":\"elastic:500\"}", key);
	deploy(key, "busy", "busy", "max_concurrency=8");
	struct reply r;
	assert_int_equal(invoke(key, "busy", "{\"ms\":1}", &r), 200);
	reply_free(&r);
	struct bg_call c[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		c[i] = (struct bg_call){ key, "busy", "{\"ms\":1500}", 0, "" };
		pthread_create(&t[i], NULL, bg_invoke, &c[i]);
	}
	long long deadline = now_ns() + DEADLINE_NS, peak = 0;
	while (peak < 2 && now_ns() < deadline) {
		long long w = workers_of("bursty");
		peak = w > peak ? w : peak;
		pause_ms(20);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(c[i].status, 200);
	}
	assert_int_equal(peak, 2);
	while (workers_of("bursty") > 0)
		assert_true(now_ns() < deadline);
}

/* Scaling changes reach a running VM: new limits at once, a new mechanism
 * by a restart of the VM. */
static void test_scaling_live(void **state)
{
	char key[128];
	tenant("tunable", "{\"min\":0,\"max\":2}", key);
	deploy_script(key, "hi", "#!/bin/sh\necho '{}'\n", NULL);
	struct reply r;
	assert_int_equal(invoke(key, "hi", "{}", &r), 200);
	reply_free(&r);
	assert_int_equal(call_s(P.admin, "PUT", "/v1/tenants/tunable/scaling", "{\"min\":1}", &r), 200);
	reply_free(&r);
	long long deadline = now_ns() + DEADLINE_NS;
	while (workers_of("tunable") != 1) {
		assert_true(now_ns() < deadline);
		pause_ms(50);
	}
	assert_int_equal(call_s(P.admin, "PUT", "/v1/tenants/tunable/scaling", "{\"min\":0,\"mechanism\":\"hotplug\"}",
			       &r),
			 200);
	reply_free(&r);
	for (;;) {
		assert_int_equal(call_s(P.admin, "GET", "/v1/tenants/tunable", NULL, &r), 200);
		const char *m = str(json_object_get(r.json, "vm"), "mechanism");
		bool hot = m && !strcmp(m, "hotplug");
		reply_free(&r);
		if (hot)
			break;
		assert_true(now_ns() < deadline);
		pause_ms(50);
	}
	assert_int_equal(invoke(key, "hi", "{}", &r), 200);
	reply_free(&r);
	assert_int_equal(call_s(P.admin, "PUT", "/v1/tenants/tunable/scaling", "{\"policy\":\"manual\"}", &r), 400);
	reply_free(&r);
	assert_int_equal(call_s(P.admin, "PUT", "/v1/tenants/tunable/scaling", "{\"size\":3}", &r), 400);
	reply_free(&r);
}

/* Metrics count what happened. */
static void test_metrics(void **state)
{
	struct reply r;
	char key[128];
	tenant("metered", NULL, key);
	assert_int_equal(call_s(key, "GET", "/metrics", NULL, &r), 403);
	reply_free(&r);
	deploy_script(key, "hi", "#!/bin/sh\necho '{}'\n", NULL);
	assert_int_equal(invoke(key, "hi", "{}", &r), 200);
	reply_free(&r);
	assert_int_equal(call_s(P.admin, "GET", "/metrics", NULL, &r), 200);
	buf_append(&r.body, "", 1);
	const char *text = (const char *)r.body.data;
	assert_non_null(strstr(text, "ditto_invocations_total{tenant=\"metered\",status=\"ok\"} 1\n"));
	assert_non_null(strstr(text, "ditto_invocation_duration_seconds_count "));
	assert_non_null(strstr(text, "ditto_worker_vcpus{tenant=\"metered\"}"));
	assert_non_null(strstr(text, "ditto_hosts{state=\"up\"} 1\n"));
	assert_null(strstr(text, "ditto_vm_boots_total 0\n"));
	reply_free(&r);
}

/* Waits until tenant key has n running invocations. */
static void await_running(const char *key, size_t n)
{
	long long deadline = now_ns() + DEADLINE_NS;
	for (;;) {
		struct reply r;
		assert_int_equal(call_s(key, "GET", "/v1/invocations?status=running", NULL, &r), 200);
		size_t k = json_array_size(json_object_get(r.json, "invocations"));
		reply_free(&r);
		if (k >= n)
			return;
		assert_true(now_ns() < deadline);
		pause_ms(20);
	}
}

/* Two long calls of busy in flight for a new tenant: one asynchronous, one
 * synchronous on a thread of its own. */
struct long_calls {
	char key[128];
	char async_id[64];
	struct bg_call sync;
	pthread_t thread;
};

/* Starts both calls, of ms milliseconds each, and waits until both run. */
static void long_calls_start(const char *name, const char *input, struct long_calls *lc)
{
	tenant(name, "{\"max\":2}", lc->key);
	deploy(lc->key, "busy", "busy", "max_concurrency=4");
	struct reply r;
	assert_int_equal(invoke(lc->key, "busy", "{\"ms\":1}", &r), 200);
	reply_free(&r);
	assert_int_equal(call_s(lc->key, "POST", "/v1/functions/busy/invoke?async=true", input, &r), 202);
	snprintf(lc->async_id, sizeof(lc->async_id), "%s", str(r.json, "id"));
	reply_free(&r);
	lc->sync = (struct bg_call){ lc->key, "busy", input, 0, "" };
	pthread_create(&lc->thread, NULL, bg_invoke, &lc->sync);
	await_running(lc->key, 2);
}

/* The controller killed mid-invocation: on restart the synchronous one is
 * failed with the reason, the asynchronous one runs again. */
static void test_controller_crash(void **state)
{
	struct long_calls lc;
	long_calls_start("crashy", "{\"ms\":2000}", &lc);
	const char *key = lc.key;
	struct reply r;
	char sync_id[64] = "";
	assert_int_equal(call_s(key, "GET", "/v1/invocations?status=running", NULL, &r), 200);
	json_t *list = json_object_get(r.json, "invocations");
	for (size_t i = 0; i < json_array_size(list); i++)
		if (!json_is_true(json_object_get(json_array_get(list, i), "async")))
			snprintf(sync_id, sizeof(sync_id), "%s", str(json_array_get(list, i), "id"));
	reply_free(&r);
	assert_int_equal(strlen(sync_id), 32);
	stop(&P.controller, SIGKILL);
	pthread_join(lc.thread, NULL);
	assert_int_equal(lc.sync.status, -1); /* the connection dropped */
	assert_int_equal(controller_start(), 0);
	json_t *rec = await_record(key, sync_id);
	assert_string_equal(str(rec, "status"), "error");
	assert_non_null(strstr(str(rec, "error"), "restarted"));
	json_decref(rec);
	rec = await_record(key, lc.async_id);
	assert_string_equal(str(rec, "status"), "ok");
	assert_int_equal(num(rec, "retries"), 1);
	json_decref(rec);
}

/* A drained host's VMs move to another host, and a lost host's VMs are
 * placed again where there is room. */
static void test_drain_and_replace(void **state)
{
	char bin[300], log[128], data[128], image[300], keyfile[160];
	snprintf(bin, sizeof(bin), "%s/ditto-agent", P.build);
	snprintf(log, sizeof(log), "%s/agent2.log", P.dir);
	snprintf(data, sizeof(data), "%s/agent2", P.dir);
	snprintf(image, sizeof(image), "%s/guest", P.build);
	snprintf(keyfile, sizeof(keyfile), "%s/controller/admin.key", P.dir);
	char *argv[] = { bin,	       "--port",      "0",     "--data",	   data,	    "--image", image,
			 "--controller", P.url,	      "--controller-key-file", keyfile, "--host-id", "h2",
			 "--heartbeat-ms", "200",     "--cores", "1", NULL };
	pid_t h2 = spawn(log, argv);
	char key[128];
	tenant("mover", "{\"max\":1}", key);
	deploy_script(key, "hi", "#!/bin/sh\necho '{\"m\":1}'\n", NULL);
	struct reply r;
	long long deadline = now_ns() + DEADLINE_NS;
	/* Wait for h2, so the drain below has somewhere to go. */
	for (;;) {
		assert_int_equal(call_s(P.admin, "GET", "/v1/hosts", NULL, &r), 200);
		bool up = strstr((const char *)r.body.data, "\"id\":\"h2\"") &&
			  json_array_size(json_object_get(r.json, "hosts")) == 2;
		json_t *hosts = json_object_get(r.json, "hosts");
		for (size_t i = 0; up && i < json_array_size(hosts); i++)
			up = !strcmp(str(json_array_get(hosts, i), "state"), "up");
		reply_free(&r);
		if (up)
			break;
		assert_true(now_ns() < deadline);
		pause_ms(50);
	}
	assert_int_equal(invoke(key, "hi", "{}", &r), 200);
	reply_free(&r);
	assert_int_equal(call_s(key, "GET", "/v1/tenants/mover", NULL, &r), 200);
	char first[64];
	snprintf(first, sizeof(first), "%s", str(json_object_get(r.json, "vm"), "host"));
	reply_free(&r);
	const char *other = strcmp(first, "h1") ? "h1" : "h2";
	char path[128];
	snprintf(path, sizeof(path), "/v1/hosts/%s/drain", first);
	assert_int_equal(call_s(P.admin, "POST", path, NULL, &r), 200);
	reply_free(&r);
	await_vm_on(key, "mover", other);
	assert_int_equal(invoke(key, "hi", "{}", &r), 200);
	assert_non_null(strstr((const char *)r.body.data, "\"m\":1"));
	reply_free(&r);
	assert_int_equal(call_s(P.admin, "DELETE", path, NULL, &r), 200);
	reply_free(&r);
	/* h2 goes away: whatever ran there is placed on h1 again. */
	stop(&h2, SIGTERM);
	await_vm_on(key, "mover", "h1");
	assert_int_equal(invoke(key, "hi", "{}", &r), 200);
	reply_free(&r);
}

/* A controller restart keeps tenants, keys, functions and records, and the
 * agent registers again on its own. */
static void test_controller_restart(void **state)
{
	char key[128];
	tenant("durable", NULL, key);
	deploy_script(key, "hi", "#!/bin/sh\necho '{\"d\":1}'\n", NULL);
	struct reply r;
	assert_int_equal(invoke(key, "hi", "{}", &r), 200);
	char id[64];
	snprintf(id, sizeof(id), "%s", r.id);
	reply_free(&r);
	stop(&P.controller, SIGTERM);
	assert_int_equal(controller_start(), 0);
	char path[128];
	snprintf(path, sizeof(path), "/v1/invocations/%s", id);
	assert_int_equal(call_s(key, "GET", path, NULL, &r), 200);
	assert_string_equal(str(r.json, "status"), "ok");
	reply_free(&r);
	await_host("up");
	assert_int_equal(invoke(key, "hi", "{}", &r), 200);
	assert_non_null(strstr((const char *)r.body.data, "\"d\":1"));
	reply_free(&r);
}

/* An agent killed mid-invocation: the synchronous caller gets a clear
 * error at once, the asynchronous invocation runs again when the agent is
 * back, and so does everything else. */
static void test_agent_killed(void **state)
{
	struct long_calls lc;
	long_calls_start("fragile", "{\"ms\":4000}", &lc);
	const char *key = lc.key, *async_id = lc.async_id;
	struct reply r;
	stop(&P.agent, SIGKILL);
	pthread_join(lc.thread, NULL);
	assert_int_equal(lc.sync.status, 502);
	assert_string_equal(lc.sync.code, "host_lost");
	await_host("down");
	assert_int_equal(agent_start(), 0);
	await_host("up");
	json_t *rec = await_record(key, async_id);
	assert_string_equal(str(rec, "status"), "ok");
	assert_int_equal(num(rec, "retries"), 1);
	json_decref(rec);
	assert_int_equal(invoke(key, "busy", "{\"ms\":1}", &r), 200);
	reply_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_registers),
		cmocka_unit_test(test_drain_and_replace),
		cmocka_unit_test(test_deploy_invoke_versions),
		cmocka_unit_test(test_async),
		cmocka_unit_test(test_isolation),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_burst_grows_then_shrinks),
		cmocka_unit_test(test_scaling_live),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_controller_restart),
		cmocka_unit_test(test_controller_crash),
		cmocka_unit_test(test_agent_killed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
