/* Invocations over the link: the real ditto-controller started with
 * --agent-link stream, a real ditto-agent and real tenant VMs, every call
 * to the agent on the one persistent stream. Synchronous, asynchronous and
 * many concurrent calls; a function's timeout; a call cancelled when its
 * host is lost (the agent frozen); the agent killed and restarted (the
 * stream opened again, with the agent's new token); the link refused
 * without the agent's token. One binary, the platform started once. */
#include <arpa/inet.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "agent_link.h"
#include "support/files.h"
#include "support/http.h"
#include "support/procs.h"
#include "support/wait.h"
#include "util.h"

#define DEADLINE_MS 240000L
#define THREADS 12
#define CALLS 6

static struct platform P;
static char key[128]; /* tenant "lk", with echo and busy deployed */

static long call(const char *method, const char *path, const void *body, size_t len,
		 struct http_reply *r)
{
	return http_call(P.controller.url, key, method, path, body, len, r);
}

static const char *field(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* Puts BUILD/functions/file as name with the query's limits. */
static void put_function(const char *name, const char *file, const char *query)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/functions/%s", test_build_dir(), file);
	void *data;
	size_t len;
	assert_int_equal(file_read_all(path, &data, &len), 0);
	snprintf(path, sizeof(path), "/v1/functions/%s?%s", name, query);
	struct http_reply r;
	assert_int_equal(call("PUT", path, data, len, &r), 201);
	free(data);
	http_reply_free(&r);
}

static int setup(void **state)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	memset(&P, 0, sizeof(P));
	snprintf(P.dir, sizeof(P.dir), "/tmp/ditto-link-XXXXXX");
	if (!mkdtemp(P.dir))
		return -1;
	static const char *const extra[] = { "--host-timeout-ms", "2000", "--agent-link", "stream",
					     NULL };
	char data[128];
	snprintf(data, sizeof(data), "%s/controller", P.dir);
	if (proc_start_controller(&P.controller, data, 0, extra, P.admin) < 0 ||
	    platform_agent_start(&P, &P.agent, "h1", NULL) < 0) {
		fprintf(stderr, "cannot start the platform; see %s\n", P.dir);
		return -1;
	}
	struct http_reply r;
	if (http_call(P.controller.url, P.admin, "POST", "/v1/tenants", "{\"name\":\"lk\"}", 13,
		      &r) != 201)
		return -1;
	snprintf(key, sizeof(key), "%s", field(r.json, "key"));
	http_reply_free(&r);
	put_function("echo", "echo", "max_concurrency=64");
	put_function("busy", "busy", "timeout=3000&max_concurrency=4");
	return 0;
}

static int teardown(void **state)
{
	platform_stop(&P);
	return 0;
}

/* Invokes name with input; returns the status, the reply in r. */
static long invoke(const char *name, const char *input, struct http_reply *r)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/functions/%s/invoke", name);
	return call("POST", path, input, strlen(input), r);
}

/* Echo's reply to a unique input is that input. */
static void echo_ok(const char *tag, int n)
{
	char in[96];
	snprintf(in, sizeof(in), "{\"tag\":\"%s-%d\",\"bytes\":\"\\u00e9\\u0000\"}", tag, n);
	struct http_reply r;
	assert_int_equal(invoke("echo", in, &r), 200);
	assert_int_equal(r.body.len, strlen(in));
	assert_memory_equal(r.body.data, in, strlen(in));
	http_reply_free(&r);
}

/* How many times the daemon's log says line. */
static int log_count(const struct daemon_proc *d, const char *line)
{
	void *text;
	size_t len;
	assert_int_equal(file_read_all(d->log, &text, &len), 0);
	int n = 0;
	for (const char *p = text;
	     (p = memmem(p, len - (size_t)(p - (char *)text), line, strlen(line))); p++)
		n++;
	free(text);
	return n;
}

/* A synchronous and an asynchronous call go over the stream: the agent
 * saw one stream opened, and both results are the caller's own. */
static void test_sync_and_async(void **state)
{
	echo_ok("sync", 0);
	assert_int_equal(log_count(&P.agent, "link_opened"), 1);
	assert_int_equal(log_count(&P.controller, "link_opened"), 1);
	struct http_reply r;
	static const char in[] = "{\"async\":\"mine\"}";
	assert_int_equal(call("POST", "/v1/functions/echo/invoke?async=true", in, strlen(in), &r),
			 202);
	char path[128];
	snprintf(path, sizeof(path), "/v1/invocations/%s", field(r.json, "id"));
	http_reply_free(&r);
	for (long long t0 = clock_ms();; pause_ms(50)) {
		assert_int_equal(call("GET", path, NULL, 0, &r), 200);
		const char *st = field(r.json, "status");
		if (strcmp(st, "queued") && strcmp(st, "running"))
			break;
		assert_true(clock_ms() - t0 < DEADLINE_MS);
		http_reply_free(&r);
	}
	assert_string_equal(field(r.json, "status"), "ok");
	assert_non_null(strstr((const char *)r.body.data, "mine"));
	http_reply_free(&r);
	assert_int_equal(log_count(&P.agent, "link_opened"), 1);
}

static void *caller(void *arg)
{
	for (int i = 0; i < CALLS; i++)
		echo_ok("many", (int)(intptr_t)arg * 100 + i);
	return NULL;
}

/* Many callers at once share the stream; each gets its own answer. */
static void test_concurrent(void **state)
{
	pthread_t t[THREADS];
	for (intptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, caller, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(log_count(&P.agent, "link_opened"), 1);
}

/* A function past its timeout ends 504 function_timeout, and the stream
 * goes on. */
static void test_function_timeout(void **state)
{
	struct http_reply r;
	assert_int_equal(invoke("busy", "{\"ms\":20000}", &r), 504);
	assert_string_equal(http_error_code(&r), "function_timeout");
	http_reply_free(&r);
	echo_ok("after-timeout", 0);
}

/* The link is the agent's API: without its token, or with another, 401. */
static void test_wrong_token(void **state)
{
	const char *tokens[] = { NULL, "not-the-token" };
	for (size_t i = 0; i < 2; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)daemon_proc_port(&P.agent)) };
		inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
		assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		char req[512], head[4096];
		int n = link_upgrade_request(req, sizeof(req), "127.0.0.1", tokens[i]);
		assert_int_equal(write(fd, req, (size_t)n), n);
		size_t got = 0, clen;
		int status, h;
		while ((h = link_upgrade_response(head, got, &status, &clen)) == 0 &&
		       got < sizeof(head))
			assert_int_equal(read(fd, head + got++, 1), 1);
		assert_true(h > 0);
		assert_int_equal(status, 401);
		close(fd);
	}
}

struct bg {
	long status;
	char code[64];
};

static void *bg_busy(void *arg)
{
	struct bg *b = arg;
	struct http_reply r;
	b->status = invoke("busy", "{\"ms\":2500}", &r);
	snprintf(b->code, sizeof(b->code), "%s", http_error_code(&r) ? http_error_code(&r) : "");
	http_reply_free(&r);
	return NULL;
}

/* Waits until the tenant has a running invocation. */
static bool running(void *data)
{
	struct http_reply r;
	assert_int_equal(call("GET", "/v1/invocations?status=running", NULL, 0, &r), 200);
	bool any = json_array_size(json_object_get(r.json, "invocations")) > 0;
	http_reply_free(&r);
	return any;
}

static bool host_state(void *data)
{
	struct http_reply r;
	assert_int_equal(http_call(P.controller.url, P.admin, "GET", "/v1/hosts", NULL, 0, &r),
			 200);
	json_t *h = json_array_get(json_object_get(r.json, "hosts"), 0);
	bool is = h && !strcmp(field(h, "state"), data);
	http_reply_free(&r);
	return is;
}

/* A call in flight when its host is lost (the agent frozen, so it can
 * neither answer nor close the stream) is cancelled at once as
 * host_lost; once the agent runs again the platform serves calls. */
static void test_cancelled_by_host_loss(void **state)
{
	struct bg b = { 0 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, bg_busy, &b), 0);
	wait_until(running, NULL, DEADLINE_MS, "the call to run");
	assert_int_equal(kill(P.agent.pid, SIGSTOP), 0);
	/* Without the cancellation the call would wait for the frozen agent
	 * past the host's loss, until its own deadline. */
	pthread_join(t, NULL);
	assert_int_equal(kill(P.agent.pid, SIGCONT), 0);
	assert_int_equal(b.status, 502);
	assert_string_equal(b.code, "host_lost");
	wait_until(host_state, "up", DEADLINE_MS, "host h1 up again");
	echo_ok("after-freeze", 0);
}

/* The agent killed mid-call: the call fails host_lost at once; the agent
 * restarted (with a new token) gets a new stream and serves calls. */
static void test_agent_restart(void **state)
{
	int opened = log_count(&P.controller, "link_opened");
	int agent_opened = log_count(&P.agent, "link_opened"); /* its log is appended to */
	struct bg b = { 0 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, bg_busy, &b), 0);
	wait_until(running, NULL, DEADLINE_MS, "the call to run");
	daemon_proc_stop(&P.agent, SIGKILL, 20000);
	pthread_join(t, NULL);
	assert_int_equal(b.status, 502);
	assert_string_equal(b.code, "host_lost");
	wait_until(host_state, "down", DEADLINE_MS, "host h1 down");
	assert_int_equal(platform_agent_start(&P, &P.agent, "h1", NULL), 0);
	wait_until(host_state, "up", DEADLINE_MS, "host h1 up");
	echo_ok("after-restart", 0);
	assert_int_equal(log_count(&P.controller, "link_opened"), opened + 1);
	assert_int_equal(log_count(&P.agent, "link_opened"), agent_opened + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_and_async),         cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_function_timeout),       cmocka_unit_test(test_wrong_token),
		cmocka_unit_test(test_cancelled_by_host_loss), cmocka_unit_test(test_agent_restart),
	};
	const char *only = getenv("DITTO_TEST_ONLY");
	if (only && *only)
		cmocka_set_test_filter(only);
	return cmocka_run_group_tests(tests, setup, teardown);
}
