/* End-to-end tests of the host agent: a real ditto-agent process, real QEMU
 * VMs booting the real guest image, real QMP, HTTP on loopback. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "agent_client.h"

#define BOOT_MS 180000
#define STEP_MS 120000

struct ctx {
	struct agent_proc proc;
	struct agent_client c;
	char build[256];
	char echo[65], busy[65], sha[65], hello[65], sleeper[65], check[65], nap[65];
};

static struct ctx g;

static int call(const char *method, json_t **ret, const char *body, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int call(const char *method, json_t **ret, const char *body, const char *fmt, ...)
{
	char path[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (ret)
		*ret = NULL;
	return agent_client_call(&g.c, method, path, body, body ? strlen(body) : 0, STEP_MS, ret);
}

static void upload_file(const char *name, char digest[65])
{
	char path[512];
	snprintf(path, sizeof(path), "%s/functions/%s", g.build, name);
	void *buf;
	size_t len;
	assert_int_equal(read_file(path, &buf, &len), 0);
	assert_int_equal(agent_client_put_artifact(&g.c, buf, len, digest), 201);
	free(buf);
}

static void upload_text(const char *text, char digest[65])
{
	assert_int_equal(agent_client_put_artifact(&g.c, text, strlen(text), digest), 201);
}

static int setup(void **state)
{
	const char *b = getenv("DITTO_BUILD");
	snprintf(g.build, sizeof(g.build), "%s", b ? b : "build");
	char dir[] = "/tmp/ditto-it.XXXXXX";
	if (!mkdtemp(dir))
		return -1;
	/* Pings often and gives up soon, so the unresponsive-guest test is quick. */
	const char *extra[] = { "--ping-interval-ms", "300", "--ping-timeout-ms", "3000",
				"--max-inflight", "8", NULL };
	if (agent_proc_start(&g.proc, g.build, dir, extra, 30000) < 0) {
		fprintf(stderr, "cannot start agent; see %s/agent.log\n", dir);
		return -1;
	}
	agent_client_init(&g.c, g.proc.url);
	upload_file("echo", g.echo);
	upload_file("busy", g.busy);
	upload_file("sha256", g.sha);
	upload_file("hello.sh", g.hello);
	/* A function that leaves a child behind and never ends: the timeout
	 * must kill the whole process group. */
	upload_text("#!/bin/sh\nsleep 1000 &\nexec sleep 1001\n", g.sleeper);
	upload_text("#!/bin/sh\nsleep 1\necho '{}'\n", g.nap);
	upload_text("#!/bin/sh\nif pgrep sleep >/dev/null; then echo '{\"left\":true}'; "
		    "else echo '{\"left\":false}'; fi\n",
		    g.check);
	return 0;
}

static int teardown(void **state)
{
	agent_client_free(&g.c);
	int st = agent_proc_stop(&g.proc, 60000);
	if (st != 0)
		fprintf(stderr, "agent did not stop cleanly: %d\n", st);
	return st == 0 ? 0 : -1;
}

static void start_vm(const char *tenant, const char *mech, int max_workers)
{
	char spec[200];
	snprintf(spec, sizeof(spec), "{\"mechanism\":\"%s\",\"max_workers\":%d,\"memory_mib\":256}",
		 mech, max_workers);
	json_t *vm;
	int st = call("PUT", &vm, spec, "/v1/vms/%s", tenant);
	if (st != 201) {
		char *t = vm ? json_dumps(vm, 0) : NULL;
		fprintf(stderr, "VM start: %d %s\n", st, t ? t : "");
		free(t);
	}
	assert_int_equal(st, 201);
	assert_string_equal(json_string_value(json_object_get(vm, "state")), "ready");
	assert_true(json_integer_value(json_object_get(vm, "boot_ms")) > 0);
	json_decref(vm);
}

static void stop_vm(const char *tenant)
{
	assert_int_equal(call("DELETE", NULL, NULL, "/v1/vms/%s", tenant), 200);
	/* Wait for the stop to finish: the tenant's name becomes free again. */
	long long deadline = now_ns() + 60000LL * 1000000;
	while (call("GET", NULL, NULL, "/v1/vms/%s", tenant) == 200) {
		assert_true(now_ns() < deadline);
		usleep(20000);
	}
}

/* Resizes and returns the report; checks the active count. */
static json_t *resize(const char *tenant, int n)
{
	char body[32];
	snprintf(body, sizeof(body), "{\"count\":%d}", n);
	json_t *r;
	int st = call("PUT", &r, body, "/v1/vms/%s/workers", tenant);
	if (st != 200) {
		char *t = r ? json_dumps(r, 0) : NULL;
		fprintf(stderr, "resize to %d: %d %s\n", n, st, t ? t : "");
		free(t);
	}
	assert_int_equal(st, 200);
	assert_int_equal(json_integer_value(json_object_get(r, "workers")), n);
	return r;
}

/* Invokes and returns the reply (status 200 checked). */
static json_t *invoke(const char *tenant, const char *digest, const char *mode, int cpu,
		      int timeout_ms, const char *input)
{
	json_t *r;
	char q[64] = "";
	if (cpu > 0)
		snprintf(q, sizeof(q), "&cpu=%d", cpu);
	int st = call("POST", &r, input, "/v1/vms/%s/invoke?artifact=%s&mode=%s&timeout_ms=%d%s",
		      tenant, digest, mode, timeout_ms, q);
	if (st != 200) {
		char *t = r ? json_dumps(r, 0) : NULL;
		fprintf(stderr, "invoke: %d %s\n", st, t ? t : "");
		free(t);
	}
	assert_int_equal(st, 200);
	return r;
}

static void expect_ran_on(json_t *r, int cpu)
{
	assert_string_equal(json_string_value(json_object_get(r, "status")), "ok");
	assert_int_equal(json_integer_value(json_object_get(r, "cpu")), cpu);
	assert_int_equal(json_integer_value(json_object_get(r, "ran_on")), cpu);
}

/* Grows 0 -> 1 -> 2, runs a function on each new vCPU, shrinks to 0, and
 * grows once more (a re-plug after an unplug). */
static void cycle(const char *tenant, const char *mech)
{
	start_vm(tenant, mech, 2);
	for (int round = 0; round < 2; round++) {
		for (int n = 1; n <= 2; n++) {
			json_t *rep = resize(tenant, n);
			json_t *step = json_array_get(json_object_get(rep, "steps"), 0);
			int cpu = (int)json_integer_value(json_object_get(step, "cpu"));
			assert_int_equal(cpu, n);
			assert_string_equal(json_string_value(json_object_get(step, "action")), "grow");
			assert_true(json_integer_value(json_object_get(step, "active_us")) > 0);
			assert_true(json_integer_value(json_object_get(step, "core")) >= 0);
			if (strcmp(mech, "hotplug") == 0) {
				assert_true(json_integer_value(json_object_get(step, "added_us")) > 0);
				assert_true(json_integer_value(json_object_get(step, "seen_us")) > 0);
			}
			json_decref(rep);

			json_t *r = invoke(tenant, g.echo, "process", cpu, 30000, "{\"x\":42}");
			expect_ran_on(r, cpu);
			assert_string_equal(json_string_value(json_object_get(r, "result")), "{\"x\":42}");
			json_decref(r);
		}
		json_t *vm;
		assert_int_equal(call("GET", &vm, NULL, "/v1/vms/%s", tenant), 200);
		assert_int_equal(json_integer_value(json_object_get(vm, "workers")), 2);
		json_decref(vm);

		json_t *rep = resize(tenant, 0);
		assert_int_equal(json_array_size(json_object_get(rep, "steps")), 2);
		json_decref(rep);
	}
	/* Every core went back to the budget. */
	json_t *st;
	assert_int_equal(call("GET", &st, NULL, "/v1/status"), 200);
	json_t *cores = json_object_get(st, "cores");
	assert_int_equal(json_integer_value(json_object_get(cores, "free_count")),
			 json_integer_value(json_object_get(cores, "total")));
	json_decref(st);
	stop_vm(tenant);
}

static void test_hotplug_cycle(void **state)
{
	cycle("hot", "hotplug");
}

static void test_precreated_cycle(void **state)
{
	cycle("pre", "precreated");
}

struct burst_arg {
	const char *url;
	const char *tenant;
	const char *digest;
	const char *input;
	int status, ran_on;
	char result_status[16];
};

static void *burst_one(void *p)
{
	struct burst_arg *a = p;
	struct agent_client c;
	agent_client_init(&c, a->url);
	char path[256];
	snprintf(path, sizeof(path), "/v1/vms/%s/invoke?artifact=%s&timeout_ms=60000", a->tenant,
		 a->digest);
	json_t *r = NULL;
	a->status = agent_client_call(&c, "POST", path, a->input, strlen(a->input), STEP_MS, &r);
	a->ran_on = (int)json_integer_value(json_object_get(r, "ran_on"));
	snprintf(a->result_status, sizeof(a->result_status), "%s",
		 json_string_value(json_object_get(r, "status")) ?: "");
	json_decref(r);
	agent_client_free(&c);
	return NULL;
}

static void test_concurrent_invocations(void **state)
{
	start_vm("burst", "precreated", 2);
	json_decref(resize("burst", 2));
	enum { N = 8 };
	pthread_t th[N];
	struct burst_arg args[N];
	for (int i = 0; i < N; i++) {
		args[i] = (struct burst_arg){ .url = g.proc.url, .tenant = "burst", .digest = g.busy,
					      .input = "{\"ms\":100,\"mb\":1}" };
		pthread_create(&th[i], NULL, burst_one, &args[i]);
	}
	bool used[3] = { false };
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].status, 200);
		assert_string_equal(args[i].result_status, "ok");
		assert_true(args[i].ran_on == 1 || args[i].ran_on == 2);
		used[args[i].ran_on] = true;
	}
	/* Eight invocations over two free worker vCPUs use both. */
	assert_true(used[1] && used[2]);
	stop_vm("burst");
}

static void test_functions_and_limits(void **state)
{
	start_vm("fn", "precreated", 1);
	json_decref(resize("fn", 1));

	json_t *r = invoke("fn", g.sha, "process", 1, 30000, "abc");
	expect_ran_on(r, 1);
	assert_non_null(strstr(json_string_value(json_object_get(r, "result")),
			       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	json_decref(r);

	r = invoke("fn", g.hello, "process", 1, 30000, "{\"name\":\"ditto\"}");
	expect_ran_on(r, 1);
	assert_non_null(strstr(json_string_value(json_object_get(r, "result")), "ditto"));
	json_decref(r);

	/* Long-lived mode: the first call starts the process (cold), the next
	 * reuses it. */
	r = invoke("fn", g.echo, "persistent", 1, 30000, "{\"n\":1}");
	expect_ran_on(r, 1);
	assert_true(json_is_true(json_object_get(r, "cold_start")));
	json_decref(r);
	r = invoke("fn", g.echo, "persistent", 1, 30000, "{\"n\":2}");
	expect_ran_on(r, 1);
	assert_false(json_is_true(json_object_get(r, "cold_start")));
	assert_string_equal(json_string_value(json_object_get(r, "result")), "{\"n\":2}");
	json_decref(r);

	/* A function over its timeout is killed with its whole process group. */
	r = invoke("fn", g.sleeper, "process", 1, 500, "{}");
	assert_string_equal(json_string_value(json_object_get(r, "status")), "timeout");
	json_decref(r);
	r = invoke("fn", g.check, "process", 1, 30000, "{}");
	assert_string_equal(json_string_value(json_object_get(r, "result")), "{\"left\":false}\n");
	json_decref(r);

	/* Bad requests: clear 4xx errors with a JSON body. */
	json_t *e;
	char missing[65];
	memset(missing, 'a', 64);
	missing[64] = '\0';
	assert_int_equal(call("POST", &e, "{}", "/v1/vms/fn/invoke?artifact=%s", missing), 404);
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "error"), "code")),
			    "no_artifact");
	json_decref(e);
	assert_int_equal(call("POST", &e, "{}", "/v1/vms/fn/invoke?artifact=xyz"), 400);
	json_decref(e);
	assert_int_equal(call("POST", &e, "{}", "/v1/vms/fn/invoke?artifact=%s&mode=fast", g.echo),
			 400);
	json_decref(e);
	assert_int_equal(call("POST", &e, "{}", "/v1/vms/fn/invoke?artifact=%s&timeout_ms=0", g.echo),
			 400);
	json_decref(e);
	assert_int_equal(
		call("POST", &e, "{}", "/v1/vms/fn/invoke?artifact=%s&timeout_ms=300001", g.echo), 400);
	json_decref(e);
	assert_int_equal(call("POST", &e, "{}", "/v1/vms/fn/invoke?artifact=%s&cpu=7", g.echo), 400);
	json_decref(e);
	assert_int_equal(call("POST", &e, "{}", "/v1/vms/nope/invoke?artifact=%s", g.echo), 404);
	json_decref(e);
	assert_int_equal(call("PUT", &e, "{\"count\":5}", "/v1/vms/fn/workers"), 400);
	json_decref(e);
	assert_int_equal(call("PUT", &e, "{\"count\":", "/v1/vms/fn/workers"), 400);
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "error"), "code")),
			    "bad_json");
	json_decref(e);
	assert_int_equal(call("PUT", &e, "{\"mechanism\":\"magic\"}", "/v1/vms/x"), 400);
	json_decref(e);
	assert_int_equal(call("PUT", &e, "{}", "/v1/vms/fn"), 409);
	json_decref(e);
	assert_int_equal(call("GET", &e, NULL, "/v1/nothing"), 404);
	json_decref(e);
	assert_int_equal(call("PUT", &e, "not the right bytes", "/v1/artifacts/%s", g.echo), 400);
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "error"), "code")),
			    "digest_mismatch");
	json_decref(e);

	/* Input over the limit (6 MiB by default) is refused with 413. */
	size_t big = (6u << 20) + 1;
	char *in = malloc(big);
	memset(in, 'x', big);
	char path[160];
	snprintf(path, sizeof(path), "/v1/vms/fn/invoke?artifact=%s", g.echo);
	assert_int_equal(agent_client_call(&g.c, "POST", path, in, big, STEP_MS, &e), 413);
	json_decref(e);
	free(in);

	/* Nothing was lost: the VM still serves. */
	r = invoke("fn", g.echo, "process", 1, 30000, "{\"still\":true}");
	expect_ran_on(r, 1);
	json_decref(r);
	stop_vm("fn");
}

/* Invokes busy with a memory limit; returns the 200 reply. */
static json_t *invoke_limited(const char *tenant, const char *mode, int memory_mib,
			      const char *input)
{
	json_t *r;
	int st = call("POST", &r, input, "/v1/vms/%s/invoke?artifact=%s&mode=%s&cpu=1&memory_mib=%d",
		      tenant, g.busy, mode, memory_mib);
	assert_int_equal(st, 200);
	return r;
}

static json_int_t int_field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

/* memory_mib reaches the function (functions/busy touches the MiB it is
 * asked for): under it the function runs, over it the function fails and
 * the VM goes on serving. Every reply splits its latency by hop. */
static void test_invoke_memory_limit_and_hops(void **state)
{
	start_vm("mem", "precreated", 1);
	json_decref(resize("mem", 1));

	json_t *r = invoke_limited("mem", "process", 32, "{\"mb\":8}");
	expect_ran_on(r, 1);
	/* guest_us and wall_us are on the guest's clock, agent_us on the
	 * host's: only the guest's may be compared. */
	assert_true(int_field(r, "guest_us") >= int_field(r, "queued_us") + int_field(r, "wall_us"));
	assert_true(int_field(r, "agent_us") > 0);
	json_decref(r);

	r = invoke_limited("mem", "process", 32, "{\"mb\":64}");
	assert_string_equal(json_string_value(json_object_get(r, "status")), "error");
	assert_int_equal(int_field(r, "exit_code"), 1);
	assert_string_equal(json_string_value(json_object_get(r, "error")), "exit code 1");
	assert_non_null(strstr(json_string_value(json_object_get(r, "log")), "cannot allocate"));
	assert_true(int_field(r, "guest_us") >= int_field(r, "wall_us"));
	assert_true(int_field(r, "agent_us") > 0);
	json_decref(r);

	/* A long-lived process keeps the limit it was started with: busy
	 * answers the failed allocation itself and goes on serving. */
	r = invoke_limited("mem", "persistent", 32, "{\"mb\":64}");
	assert_string_equal(json_string_value(json_object_get(r, "status")), "ok");
	assert_true(json_is_true(json_object_get(r, "cold_start")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "result")), "\"error\""));
	json_decref(r);
	r = invoke_limited("mem", "persistent", 1024, "{\"mb\":64}");
	assert_false(json_is_true(json_object_get(r, "cold_start")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "result")), "\"error\""));
	json_decref(r);

	const char *bad[] = { "0", "65537", "-5", "lots", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *e;
		assert_int_equal(call("POST", &e, "{}", "/v1/vms/mem/invoke?artifact=%s&memory_mib=%s",
				      g.busy, bad[i]),
				 400);
		assert_string_equal(
			json_string_value(json_object_get(json_object_get(e, "error"), "code")),
			"bad_parameter");
		json_decref(e);
	}

	/* Nothing was hurt: the same memory without a limit is fine. */
	r = invoke("mem", g.busy, "process", 1, 30000, "{\"mb\":64}");
	expect_ran_on(r, 1);
	json_decref(r);
	stop_vm("mem");
}

static void test_qemu_killed(void **state)
{
	start_vm("crash", "hotplug", 1);
	json_t *vm;
	assert_int_equal(call("GET", &vm, NULL, "/v1/vms/crash"), 200);
	pid_t pid = (pid_t)json_integer_value(json_object_get(vm, "pid"));
	json_decref(vm);
	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGKILL), 0);

	long long deadline = now_ns() + 30000LL * 1000000;
	const char *state_name = NULL;
	for (;;) {
		assert_int_equal(call("GET", &vm, NULL, "/v1/vms/crash"), 200);
		state_name = json_string_value(json_object_get(vm, "state"));
		if (strcmp(state_name, "dead") == 0)
			break;
		json_decref(vm);
		assert_true(now_ns() < deadline);
		usleep(20000);
	}
	assert_non_null(strstr(json_string_value(json_object_get(vm, "reason")), "signal 9"));
	json_decref(vm);

	/* Invocations fail clearly while it is dead... */
	json_t *e;
	assert_int_equal(call("POST", &e, "{}", "/v1/vms/crash/invoke?artifact=%s", g.echo), 503);
	json_decref(e);
	/* ...and it comes back when asked. */
	assert_int_equal(call("POST", &vm, NULL, "/v1/vms/crash/restart"), 201);
	assert_string_equal(json_string_value(json_object_get(vm, "state")), "ready");
	json_decref(vm);
	json_decref(resize("crash", 1));
	json_t *r = invoke("crash", g.echo, "process", 1, 30000, "{}");
	expect_ran_on(r, 1);
	json_decref(r);
	stop_vm("crash");
}

/* The per-VM limit on invocations in flight (8 for this agent) answers 429
 * beyond it and loses nothing within it. */
static void test_inflight_limit(void **state)
{
	start_vm("busy", "precreated", 2);
	json_decref(resize("busy", 2));
	enum { N = 10 };
	pthread_t th[N];
	struct burst_arg args[N];
	for (int i = 0; i < N; i++) {
		args[i] = (struct burst_arg){ .url = g.proc.url, .tenant = "busy", .digest = g.nap,
					      .input = "{}" };
		pthread_create(&th[i], NULL, burst_one, &args[i]);
	}
	int ok = 0, limited = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		if (args[i].status == 200) {
			assert_string_equal(args[i].result_status, "ok");
			ok++;
		} else {
			assert_int_equal(args[i].status, 429);
			limited++;
		}
	}
	/* Each call sleeps a second and two run at a time, so all ten arrive
	 * while the first eight are in flight. */
	assert_int_equal(ok, 8);
	assert_int_equal(limited, 2);
}

/* Deleting a VM answers the work it still had with a clear cancellation. */
static void test_delete_cancels_work(void **state)
{
	start_vm("gone", "precreated", 1);
	json_decref(resize("gone", 1));
	struct burst_arg a = { .url = g.proc.url, .tenant = "gone", .digest = g.sleeper,
			       .input = "{}" };
	pthread_t th;
	pthread_create(&th, NULL, burst_one, &a);
	/* Wait until the invocation is in the guest, then delete. */
	long long deadline = now_ns() + 60000LL * 1000000;
	for (;;) {
		json_t *vm;
		assert_int_equal(call("GET", &vm, NULL, "/v1/vms/gone"), 200);
		json_int_t inflight = json_integer_value(json_object_get(vm, "inflight"));
		json_decref(vm);
		if (inflight == 1)
			break;
		assert_true(now_ns() < deadline);
		usleep(10000);
	}
	assert_int_equal(call("DELETE", NULL, NULL, "/v1/vms/gone"), 200);
	pthread_join(th, NULL);
	assert_int_equal(a.status, 409);
}

/* QEMU creates at most hotplug_slots vCPUs over a VM's life: the agent says
 * so instead of letting QEMU abort. */
static void test_hotplug_exhausted(void **state)
{
	json_t *vm;
	const char *spec = "{\"mechanism\":\"hotplug\",\"max_workers\":1,\"hotplug_slots\":2}";
	assert_int_equal(call("PUT", &vm, spec, "/v1/vms/slots"), 201);
	assert_int_equal(json_integer_value(json_object_get(vm, "hotplug_remaining")), 1);
	json_decref(vm);
	json_decref(resize("slots", 1));
	json_decref(resize("slots", 0));
	json_t *e;
	assert_int_equal(call("PUT", &e, "{\"count\":1}", "/v1/vms/slots/workers"), 409);
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "error"), "code")),
			    "hotplug_exhausted");
	json_decref(e);
	/* A restart gives the VM a fresh life. */
	assert_int_equal(call("POST", &vm, NULL, "/v1/vms/slots/restart"), 201);
	json_decref(vm);
	json_decref(resize("slots", 1));
}

/* Running, as opposed to gone or a zombie nobody has reaped yet (the
 * orphaned QEMU's new parent decides when that happens). */
static bool process_runs(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *end = strrchr(buf, ')');
	return end && end[1] == ' ' && end[2] != 'Z' && end[2] != 'X';
}

/* A crashed agent takes its VMs with it, so no QEMU keeps cores that no
 * agent manages. A second agent is used, since this one is killed. */
static void test_agent_crash_ends_vms(void **state)
{
	char dir[] = "/tmp/ditto-it-crash.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct agent_proc other;
	assert_int_equal(agent_proc_start(&other, g.build, dir, NULL, 30000), 0);
	struct agent_client c;
	agent_client_init(&c, other.url);
	json_t *vm = NULL;
	const char *spec = "{\"max_workers\":1}";
	assert_int_equal(agent_client_call(&c, "PUT", "/v1/vms/orphan", spec, strlen(spec), STEP_MS, &vm),
			 201);
	pid_t qemu = (pid_t)json_integer_value(json_object_get(vm, "pid"));
	json_decref(vm);
	agent_client_free(&c);
	assert_true(qemu > 0);
	assert_true(process_runs(qemu));
	assert_int_equal(kill(other.pid, SIGKILL), 0);
	waitpid(other.pid, NULL, 0);
	long long deadline = now_ns() + 30000LL * 1000000;
	while (process_runs(qemu)) {
		assert_true(now_ns() < deadline);
		usleep(10000);
	}
}

/* After each test, whatever it left running goes, so that a failed test
 * does not hold cores the next one needs. */
static int stop_all(void **state)
{
	json_t *vms;
	if (call("GET", &vms, NULL, "/v1/vms") != 200)
		return -1;
	size_t i;
	json_t *vm;
	json_array_foreach(json_object_get(vms, "vms"), i, vm)
		call("DELETE", NULL, NULL, "/v1/vms/%s",
		     json_string_value(json_object_get(vm, "tenant")));
	json_decref(vms);
	long long deadline = now_ns() + 60000LL * 1000000;
	for (;;) {
		if (call("GET", &vms, NULL, "/v1/vms") != 200)
			return -1;
		size_t n = json_array_size(json_object_get(vms, "vms"));
		json_decref(vms);
		if (n == 0)
			return 0;
		if (now_ns() > deadline)
			return -1;
		usleep(20000);
	}
}

static const char *wait_state(const char *tenant, const char *want, json_t **ret)
{
	long long deadline = now_ns() + 60000LL * 1000000;
	for (;;) {
		json_t *vm;
		assert_int_equal(call("GET", &vm, NULL, "/v1/vms/%s", tenant), 200);
		if (strcmp(json_string_value(json_object_get(vm, "state")), want) == 0) {
			*ret = vm;
			return want;
		}
		json_decref(vm);
		assert_true(now_ns() < deadline);
		usleep(20000);
	}
}

/* A guest that stops answering (its QEMU frozen) is reported, and is
 * taken back when it answers again. */
static void test_guest_unresponsive(void **state)
{
	start_vm("frozen", "precreated", 1);
	json_t *vm;
	assert_int_equal(call("GET", &vm, NULL, "/v1/vms/frozen"), 200);
	pid_t pid = (pid_t)json_integer_value(json_object_get(vm, "pid"));
	json_decref(vm);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	wait_state("frozen", "unresponsive", &vm);
	assert_non_null(strstr(json_string_value(json_object_get(vm, "reason")), "ping"));
	json_decref(vm);
	assert_int_equal(kill(pid, SIGCONT), 0);
	wait_state("frozen", "ready", &vm);
	json_decref(vm);
	json_decref(resize("frozen", 1));
	json_t *r = invoke("frozen", g.echo, "process", 1, 30000, "{}");
	expect_ran_on(r, 1);
	json_decref(r);
}

static void test_status(void **state)
{
	json_t *st;
	assert_int_equal(call("GET", &st, NULL, "/v1/status"), 200);
	const char *accel = json_string_value(json_object_get(st, "accel"));
	assert_true(strcmp(accel, "tcg") == 0 || strcmp(accel, "kvm") == 0);
	assert_int_equal(strlen(json_string_value(json_object_get(st, "image_digest"))), 64);
	assert_true(json_integer_value(json_object_get(json_object_get(st, "cores"), "total")) >= 1);
	json_decref(st);
}

/* ---- autoscaling -------------------------------------------------------------- */

static json_t *start_vm_spec(const char *tenant, const char *spec)
{
	json_t *vm;
	int st = call("PUT", &vm, spec, "/v1/vms/%s", tenant);
	if (st != 201) {
		char *t = vm ? json_dumps(vm, 0) : NULL;
		fprintf(stderr, "VM start: %d %s\n", st, t ? t : "");
		free(t);
	}
	assert_int_equal(st, 201);
	assert_string_equal(json_string_value(json_object_get(vm, "state")), "ready");
	return vm;
}

static const char *error_code(json_t *e)
{
	return json_string_value(json_object_get(json_object_get(e, "error"), "code"));
}

/* Whether no worker vCPU of the VM is on its way in or out (a shrinking one
 * still holds its core). */
static bool settled(json_t *vm)
{
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(vm, "worker_cpus"), i, w) {
		const char *st = json_string_value(json_object_get(w, "state"));
		if (strcmp(st, "growing") == 0 || strcmp(st, "shrinking") == 0)
			return false;
	}
	return true;
}

/* Waits until the VM has n active worker vCPUs and no step under way;
 * returns its record. */
static json_t *wait_workers(const char *tenant, int n)
{
	long long deadline = now_ns() + (long long)STEP_MS * 1000000;
	for (;;) {
		json_t *vm;
		assert_int_equal(call("GET", &vm, NULL, "/v1/vms/%s", tenant), 200);
		if (json_integer_value(json_object_get(vm, "workers")) == n && settled(vm))
			return vm;
		json_decref(vm);
		if (now_ns() > deadline)
			fail_msg("VM %s did not reach %d workers", tenant, n);
		usleep(20000);
	}
}

static void expect_scaling(json_t *vm, int min, int max, const char *policy)
{
	assert_int_equal(json_integer_value(json_object_get(vm, "min_workers")), min);
	assert_int_equal(json_integer_value(json_object_get(vm, "max_workers")), max);
	assert_string_equal(json_string_value(json_object_get(vm, "policy")), policy);
}

/* Puts a scaling body; returns the status, with the reply in *ret. */
static int put_scaling(const char *tenant, const char *body, json_t **ret)
{
	return call("PUT", ret, body, "/v1/vms/%s/scaling", tenant);
}

/* Elastic from nothing: two invocations of a busy function at once make the
 * VM grow to two worker vCPUs, each invocation runs on its own, and the VM
 * gives both back once they have been idle a keep-alive. */
static void test_elastic_grows_and_shrinks(void **state)
{
	json_t *vm = start_vm_spec("elastic", "{\"mechanism\":\"precreated\",\"max_workers\":2,"
					      "\"min_workers\":0,\"policy\":\"elastic:300\"}");
	expect_scaling(vm, 0, 2, "elastic:300");
	assert_int_equal(json_integer_value(json_object_get(vm, "max_workers_limit")), 2);
	assert_int_equal(json_integer_value(json_object_get(vm, "workers")), 0);
	json_decref(vm);

	enum { N = 2 };
	pthread_t th[N];
	struct burst_arg args[N];
	for (int i = 0; i < N; i++) {
		args[i] = (struct burst_arg){ .url = g.proc.url, .tenant = "elastic",
					      .digest = g.busy, .input = "{\"ms\":3000}" };
		pthread_create(&th[i], NULL, burst_one, &args[i]);
	}
	/* Each needs 3 s of CPU, so the VM is seen at two while they run. */
	json_decref(wait_workers("elastic", 2));
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].status, 200);
		assert_string_equal(args[i].result_status, "ok");
	}
	assert_true(args[0].ran_on >= 1 && args[0].ran_on <= 2);
	assert_true(args[1].ran_on >= 1 && args[1].ran_on <= 2);
	assert_int_not_equal(args[0].ran_on, args[1].ran_on);

	vm = wait_workers("elastic", 0);
	assert_int_equal(json_integer_value(json_object_get(vm, "inflight")), 0);
	json_decref(vm);
	/* Every core went back. */
	json_t *st;
	assert_int_equal(call("GET", &st, NULL, "/v1/status"), 200);
	json_t *cores = json_object_get(st, "cores");
	assert_int_equal(json_integer_value(json_object_get(cores, "free_count")),
			 json_integer_value(json_object_get(cores, "total")));
	json_decref(st);
}

/* fixed:N holds N whatever the demand, follows a new N and the bounds, and
 * refuses manual resizes while it is in force. */
static void test_fixed_policy(void **state)
{
	json_t *vm = start_vm_spec("fixed", "{\"mechanism\":\"precreated\",\"max_workers\":2,"
					    "\"policy\":\"fixed:1\"}");
	expect_scaling(vm, 0, 2, "fixed:1");
	json_decref(vm);
	json_decref(wait_workers("fixed", 1));

	json_t *e;
	assert_int_equal(call("PUT", &e, "{\"count\":2}", "/v1/vms/fixed/workers"), 409);
	assert_string_equal(error_code(e), "policy_active");
	json_decref(e);

	json_t *r = invoke("fixed", g.echo, "process", 0, 30000, "{\"n\":1}");
	expect_ran_on(r, 1);
	json_decref(r);
	assert_int_equal(call("GET", &vm, NULL, "/v1/vms/fixed"), 200);
	assert_int_equal(json_integer_value(json_object_get(vm, "workers")), 1);
	json_decref(vm);

	assert_int_equal(put_scaling("fixed", "{\"policy\":\"fixed:2\"}", &vm), 200);
	expect_scaling(vm, 0, 2, "fixed:2");
	json_decref(vm);
	json_decref(wait_workers("fixed", 2));

	/* A lower maximum wins over the policy's N. */
	assert_int_equal(put_scaling("fixed", "{\"max_workers\":1}", &vm), 200);
	expect_scaling(vm, 0, 1, "fixed:2");
	json_decref(vm);
	json_decref(wait_workers("fixed", 1));
	/* The VM's size is still 2: the maximum may go back up without a restart. */
	assert_int_equal(put_scaling("fixed", "{\"max_workers\":2}", &vm), 200);
	json_decref(vm);
	json_decref(wait_workers("fixed", 2));
}

/* Changing limits and policy on a running VM, the checks on them, and the
 * minimum kept through a restart. */
static void test_scaling_update(void **state)
{
	json_t *vm = start_vm_spec("limits", "{\"mechanism\":\"precreated\",\"max_workers\":2}");
	expect_scaling(vm, 0, 2, "manual");
	json_decref(vm);

	json_t *e;
	assert_int_equal(put_scaling("limits", "{\"max_workers\":3}", &e), 400);
	assert_string_equal(error_code(e), "out_of_range");
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(e, "error"), "message")),
			       "restarted"));
	json_decref(e);
	assert_int_equal(put_scaling("limits", "{\"min_workers\":2,\"max_workers\":1}", &e), 400);
	assert_string_equal(error_code(e), "bad_field");
	json_decref(e);
	static const char *const bad[] = {
		"{\"policy\":\"elastic:-1\"}", "{\"policy\":\"fixed:129\"}", "{\"policy\":5}",
		"{\"policy\":\"scale-out\"}", "{\"min_workers\":-1}", "{\"max_workers\":\"2\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(put_scaling("limits", bad[i], &e), 400);
		assert_string_equal(error_code(e), "bad_field");
		json_decref(e);
	}
	assert_int_equal(put_scaling("nobody", "{}", &e), 404);
	json_decref(e);
	assert_int_equal(call("PUT", &e, "{\"policy\":\"sometimes\"}", "/v1/vms/x"), 400);
	json_decref(e);
	assert_int_equal(call("PUT", &e, "{\"max_workers\":1,\"min_workers\":2}", "/v1/vms/x"), 400);
	json_decref(e);
	/* Nothing changed. */
	assert_int_equal(call("GET", &vm, NULL, "/v1/vms/limits"), 200);
	expect_scaling(vm, 0, 2, "manual");
	json_decref(vm);

	/* Under manual the bounds still hold: a minimum grows the VM, and a
	 * count outside them is refused. */
	assert_int_equal(put_scaling("limits", "{\"min_workers\":1}", &vm), 200);
	expect_scaling(vm, 1, 2, "manual");
	json_decref(vm);
	json_decref(wait_workers("limits", 1));
	assert_int_equal(call("PUT", &e, "{\"count\":0}", "/v1/vms/limits/workers"), 400);
	assert_string_equal(error_code(e), "out_of_range");
	json_decref(e);
	json_decref(resize("limits", 2));
	assert_int_equal(put_scaling("limits", "{\"max_workers\":1}", &vm), 200);
	json_decref(vm);
	json_decref(wait_workers("limits", 1));

	/* Elastic with no demand at all goes down to its minimum. */
	assert_int_equal(put_scaling("limits", "{\"min_workers\":0,\"max_workers\":2,"
					       "\"policy\":\"elastic:300\"}",
				     &vm),
			 200);
	expect_scaling(vm, 0, 2, "elastic:300");
	json_decref(vm);
	json_decref(wait_workers("limits", 0));

	/* Limits stay through a restart, and the minimum is applied once the
	 * new guest is ready. */
	assert_int_equal(put_scaling("limits", "{\"min_workers\":1}", &vm), 200);
	json_decref(vm);
	json_decref(wait_workers("limits", 1));
	assert_int_equal(call("POST", &vm, NULL, "/v1/vms/limits/restart"), 201);
	expect_scaling(vm, 1, 2, "elastic:300");
	json_decref(vm);
	json_decref(wait_workers("limits", 1));
	/* Back to manual: the operator resizes again. */
	assert_int_equal(put_scaling("limits", "{\"policy\":\"manual\",\"min_workers\":0}", &vm), 200);
	json_decref(vm);
	json_decref(resize("limits", 0));
}

/* ---- controller registration ----------------------------------------------------- */

/* A stand-in controller on loopback (libmicrohttpd on its own thread): it
 * records registrations and heartbeats and answers as told. */
struct fake_ctl {
	struct MHD_Daemon *d;
	char url[64];
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int register_calls, registered, heartbeats;
	int fail_registrations;  /* answer 503 to this many registrations */
	int heartbeat_status;    /* answer the next heartbeat with this, once */
	json_t *reg_body, *hb_body;
	char reg_auth[256], hb_auth[256], hb_url[256];
};

static struct fake_ctl ctl;

struct fake_req {
	char *data;
	size_t len;
};

static enum MHD_Result fake_answer(struct MHD_Connection *conn, unsigned status, const char *body)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
								    MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result fake_request(void *cls, struct MHD_Connection *conn, const char *url,
				    const char *method, const char *version, const char *upload,
				    size_t *upload_size, void **con_cls)
{
	struct fake_ctl *f = cls;
	struct fake_req *q = *con_cls;
	if (!q) {
		*con_cls = calloc(1, sizeof(*q));
		return *con_cls ? MHD_YES : MHD_NO;
	}
	if (*upload_size) {
		char *d = realloc(q->data, q->len + *upload_size);
		if (!d)
			return MHD_NO;
		memcpy(d + q->len, upload, *upload_size);
		q->data = d;
		q->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	json_t *body = json_loadb(q->data ? q->data : "", q->len, 0, NULL);
	unsigned status = 404;
	const char *reply = "{\"error\":{\"code\":\"not_found\",\"message\":\"no such host\"}}";
	pthread_mutex_lock(&f->lock);
	if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/hosts") == 0) {
		f->register_calls++;
		if (f->fail_registrations > 0) {
			f->fail_registrations--;
			status = 503;
			reply = "{\"error\":{\"code\":\"busy\",\"message\":\"try later\"}}";
		} else {
			f->registered++;
			json_decref(f->reg_body);
			f->reg_body = json_incref(body);
			snprintf(f->reg_auth, sizeof(f->reg_auth), "%s", auth ? auth : "");
			status = 201;
			reply = "{}";
		}
	} else if (strcmp(method, "POST") == 0 && strncmp(url, "/v1/hosts/", 10) == 0) {
		f->heartbeats++;
		json_decref(f->hb_body);
		f->hb_body = json_incref(body);
		snprintf(f->hb_auth, sizeof(f->hb_auth), "%s", auth ? auth : "");
		snprintf(f->hb_url, sizeof(f->hb_url), "%s", url);
		status = f->heartbeat_status ? (unsigned)f->heartbeat_status : 200;
		reply = status == 200 ? "{}" : "{\"error\":{\"code\":\"not_found\",\"message\":\"who?\"}}";
		f->heartbeat_status = 0;
	}
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
	json_decref(body);
	return fake_answer(conn, status, reply);
}

static void fake_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			   enum MHD_RequestTerminationCode toe)
{
	struct fake_req *q = *con_cls;
	if (q) {
		free(q->data);
		free(q);
	}
	*con_cls = NULL;
}

static void fake_start(struct fake_ctl *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->changed, &ca);
	pthread_condattr_destroy(&ca);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, fake_request, f,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				MHD_OPTION_NOTIFY_COMPLETED, fake_completed, f, MHD_OPTION_END);
	assert_non_null(f->d);
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", (unsigned)info->port);
}

static void fake_stop(struct fake_ctl *f)
{
	MHD_stop_daemon(f->d);
	json_decref(f->reg_body);
	json_decref(f->hb_body);
	pthread_cond_destroy(&f->changed);
	pthread_mutex_destroy(&f->lock);
}

/* Waits, with the lock held, until *counter reaches at least n. */
static void fake_wait(struct fake_ctl *f, const int *counter, int n)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 60;
	while (*counter < n) {
		if (pthread_cond_timedwait(&f->changed, &f->lock, &deadline) == ETIMEDOUT)
			fail_msg("the controller saw %d, waited for %d", *counter, n);
	}
}

static bool is_hex(const char *s, size_t len)
{
	return s && strlen(s) == len && strspn(s, "0123456789abcdef") == len;
}

static void read_token(const char *dir, char token[128])
{
	char path[512];
	snprintf(path, sizeof(path), "%s/agent.token", dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	void *buf;
	size_t len;
	assert_int_equal(read_file(path, &buf, &len), 0);
	assert_true(len > 0 && len < 128);
	memcpy(token, buf, len);
	token[len] = '\0';
	free(buf);
	char *nl = strchr(token, '\n');
	if (nl)
		*nl = '\0';
}

static int count_lines(const char *path, const char *needle)
{
	void *buf;
	size_t len;
	if (read_file(path, &buf, &len) < 0)
		return -1;
	int n = 0;
	for (const char *p = buf; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(buf);
	return n;
}

/* GET path on url with an optional bearer token; returns the status and the
 * error code, if any, in code. */
static int get_with(const char *url, const char *token, const char *path, char code[32])
{
	struct agent_client c;
	agent_client_init(&c, url);
	if (token)
		assert_int_equal(agent_client_set_bearer(&c, token), 0);
	json_t *r = NULL;
	int st = agent_client_call(&c, "GET", path, NULL, 0, STEP_MS, &r);
	snprintf(code, 32, "%s", error_code(r) ?: "");
	json_decref(r);
	agent_client_free(&c);
	return st;
}

/* The agent registers (trying again while the controller refuses), sends
 * heartbeats, registers again when the controller has forgotten it or saw
 * another boot, and requires its token from then on. A new start is a new
 * boot with a new token. */
static void test_controller_link(void **state)
{
	fake_start(&ctl);
	char dir[] = "/tmp/ditto-it-link.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char keyfile[512], log[512];
	snprintf(keyfile, sizeof(keyfile), "%s/admin.key", dir);
	snprintf(log, sizeof(log), "%s/agent.log", dir);
	FILE *kf = fopen(keyfile, "we");
	assert_non_null(kf);
	fputs("adm-0123456789abcdef\n", kf);
	fclose(kf);

	pthread_mutex_lock(&ctl.lock);
	ctl.fail_registrations = 2;
	pthread_mutex_unlock(&ctl.lock);
	const char *extra[] = { "--controller", ctl.url, "--controller-key-file", keyfile,
				"--host-id", "h-test", "--heartbeat-ms", "100", NULL };
	struct agent_proc a;
	assert_int_equal(agent_proc_start(&a, g.build, dir, extra, 30000), 0);

	pthread_mutex_lock(&ctl.lock);
	fake_wait(&ctl, &ctl.registered, 1);
	assert_int_equal(ctl.register_calls, 3);
	char token[128];
	read_token(dir, token);
	assert_true(is_hex(token, 64));
	json_t *reg = ctl.reg_body;
	assert_string_equal(ctl.reg_auth, "Bearer adm-0123456789abcdef");
	assert_string_equal(json_string_value(json_object_get(reg, "id")), "h-test");
	assert_string_equal(json_string_value(json_object_get(reg, "address")), a.url);
	assert_string_equal(json_string_value(json_object_get(reg, "token")), token);
	char boot_id[64];
	snprintf(boot_id, sizeof(boot_id), "%s", json_string_value(json_object_get(reg, "boot_id")));
	assert_true(is_hex(boot_id, 32));
	json_t *status = json_object_get(reg, "status");
	assert_true(json_is_array(json_object_get(status, "vms")));
	json_int_t cores = json_integer_value(json_object_get(json_object_get(status, "cores"), "total"));
	assert_true(cores >= 1);
	assert_int_equal(json_integer_value(json_object_get(reg, "cores")), cores);

	int beats = ctl.heartbeats;
	fake_wait(&ctl, &ctl.heartbeats, beats + 2);
	assert_string_equal(ctl.hb_url, "/v1/hosts/h-test/heartbeat");
	assert_string_equal(ctl.hb_auth, "Bearer adm-0123456789abcdef");
	assert_string_equal(json_string_value(json_object_get(ctl.hb_body, "boot_id")), boot_id);
	assert_non_null(json_object_get(json_object_get(ctl.hb_body, "status"), "accel"));

	/* Forgotten (404), then another boot seen under this id (409): the
	 * agent registers again at once, as the same boot. */
	ctl.heartbeat_status = 404;
	fake_wait(&ctl, &ctl.registered, 2);
	ctl.heartbeat_status = 409;
	fake_wait(&ctl, &ctl.registered, 3);
	assert_string_equal(json_string_value(json_object_get(ctl.reg_body, "boot_id")), boot_id);
	assert_string_equal(json_string_value(json_object_get(ctl.reg_body, "token")), token);
	beats = ctl.heartbeats;
	fake_wait(&ctl, &ctl.heartbeats, beats + 1);
	pthread_mutex_unlock(&ctl.lock);

	/* The token guards every route but /healthz. */
	char code[32];
	assert_int_equal(get_with(a.url, NULL, "/v1/status", code), 401);
	assert_string_equal(code, "unauthorized");
	assert_int_equal(get_with(a.url, "not-the-token", "/v1/status", code), 401);
	assert_int_equal(get_with(a.url, NULL, "/v1/vms", code), 401);
	assert_int_equal(get_with(a.url, NULL, "/healthz", code), 200);
	assert_int_equal(get_with(a.url, token, "/v1/status", code), 200);
	struct agent_client c;
	agent_client_init(&c, a.url);
	json_t *e = NULL;
	assert_int_equal(agent_client_call(&c, "PUT", "/v1/vms/t", "{}", 2, STEP_MS, &e), 401);
	json_decref(e);
	agent_client_free(&c);

	/* Two refusals in a row are one change of state: logged once. */
	assert_int_equal(count_lines(log, "controller_register_failed"), 1);
	assert_int_equal(agent_proc_stop(&a, 30000), 0);

	/* A new start: a new boot and a new token; the old one opens nothing. */
	pthread_mutex_lock(&ctl.lock);
	int before = ctl.registered;
	pthread_mutex_unlock(&ctl.lock);
	assert_int_equal(agent_proc_start(&a, g.build, dir, extra, 30000), 0);
	pthread_mutex_lock(&ctl.lock);
	fake_wait(&ctl, &ctl.registered, before + 1);
	const char *boot2 = json_string_value(json_object_get(ctl.reg_body, "boot_id"));
	assert_true(is_hex(boot2, 32));
	assert_string_not_equal(boot2, boot_id);
	char token2[128];
	read_token(dir, token2);
	assert_string_equal(json_string_value(json_object_get(ctl.reg_body, "token")), token2);
	assert_string_not_equal(token2, token);
	pthread_mutex_unlock(&ctl.lock);
	assert_int_equal(get_with(a.url, token, "/v1/status", code), 401);
	assert_int_equal(get_with(a.url, token2, "/v1/status", code), 200);
	assert_int_equal(agent_proc_stop(&a, 30000), 0);
	fake_stop(&ctl);
}

/* --token-file guards the API without a controller; a missing token or key
 * file stops the agent at start. */
static void test_token_file(void **state)
{
	char dir[] = "/tmp/ditto-it-token.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char tokfile[512];
	snprintf(tokfile, sizeof(tokfile), "%s/op.token", dir);
	FILE *f = fopen(tokfile, "we");
	assert_non_null(f);
	fputs("  s3cret-operator-token \n", f);
	fclose(f);
	const char *extra[] = { "--token-file", tokfile, NULL };
	struct agent_proc a;
	assert_int_equal(agent_proc_start(&a, g.build, dir, extra, 30000), 0);
	char code[32];
	assert_int_equal(get_with(a.url, NULL, "/v1/status", code), 401);
	assert_int_equal(get_with(a.url, "s3cret-operator-toke", "/v1/status", code), 401);
	assert_int_equal(get_with(a.url, "s3cret-operator-token", "/v1/status", code), 200);
	assert_int_equal(get_with(a.url, NULL, "/healthz", code), 200);
	assert_int_equal(agent_proc_stop(&a, 30000), 0);

	const char *missing[] = { "--token-file", "/nonexistent/token", NULL };
	assert_int_equal(agent_proc_start(&a, g.build, dir, missing, 30000), -ECHILD);
	const char *nokey[] = { "--controller", "http://127.0.0.1:9", "--controller-key-file",
				"/nonexistent/key", NULL };
	assert_int_equal(agent_proc_start(&a, g.build, dir, nokey, 30000), -ECHILD);
	const char *badid[] = { "--controller", "http://127.0.0.1:9", "--host-id", "no spaces", NULL };
	assert_int_equal(agent_proc_start(&a, g.build, dir, badid, 30000), -ECHILD);
}

/* Waits until the log at path holds every one of the given strings on one
 * line. */
static void wait_log(const char *path, const char *a, const char *b)
{
	long long deadline = now_ns() + 60000LL * 1000000;
	for (;;) {
		void *buf;
		size_t len;
		if (read_file(path, &buf, &len) == 0) {
			bool found = false;
			for (char *line = buf, *end; line && *line && !found; line = end ? end + 1 : NULL) {
				end = strchr(line, '\n');
				if (end)
					*end = '\0';
				found = strstr(line, a) && strstr(line, b);
			}
			free(buf);
			if (found)
				return;
		}
		if (now_ns() > deadline)
			fail_msg("no line with \"%s\" and \"%s\" in %s", a, b, path);
		usleep(20000);
	}
}

/* A hotplug VM that can create no more vCPUs stops growing and keeps the
 * worker it has, so invocations still run. */
static void test_elastic_hotplug_exhausted(void **state)
{
	json_t *vm = start_vm_spec("hx", "{\"mechanism\":\"hotplug\",\"max_workers\":1,"
					 "\"hotplug_slots\":2,\"policy\":\"elastic:0\"}");
	assert_int_equal(json_integer_value(json_object_get(vm, "hotplug_remaining")), 1);
	json_decref(vm);
	json_t *r = invoke("hx", g.echo, "process", 0, 30000, "{}");
	expect_ran_on(r, 1);
	json_decref(r);
	char log[512];
	snprintf(log, sizeof(log), "%s/agent.log", g.proc.data_dir);
	wait_log(log, "vm_scale_limited tenant=hx ", "reason=hotplug_exhausted");
	assert_int_equal(call("GET", &vm, NULL, "/v1/vms/hx"), 200);
	assert_int_equal(json_integer_value(json_object_get(vm, "workers")), 1);
	assert_int_equal(json_integer_value(json_object_get(vm, "hotplug_remaining")), 0);
	json_decref(vm);
	r = invoke("hx", g.echo, "process", 0, 30000, "{}");
	expect_ran_on(r, 1);
	json_decref(r);
}

/* With one free core, an elastic VM that wants two worker vCPUs grows to
 * one, says why once, and runs everything there. A second agent owns a
 * budget of one core. */
static void test_elastic_cores_short(void **state)
{
	char dir[] = "/tmp/ditto-it-short.XXXXXX";
	assert_non_null(mkdtemp(dir));
	const char *extra[] = { "--cores", "0", NULL };
	struct agent_proc a;
	assert_int_equal(agent_proc_start(&a, g.build, dir, extra, 30000), 0);
	struct agent_client c;
	agent_client_init(&c, a.url);
	const char *spec = "{\"mechanism\":\"precreated\",\"max_workers\":2,\"policy\":\"elastic:300\"}";
	json_t *vm = NULL;
	assert_int_equal(agent_client_call(&c, "PUT", "/v1/vms/short", spec, strlen(spec), STEP_MS, &vm),
			 201);
	json_decref(vm);
	char digest[65];
	assert_int_equal(agent_client_put_artifact(&c, "#!/bin/sh\nsleep 1\necho '{}'\n", 27, digest),
			 201);

	enum { N = 2 };
	pthread_t th[N];
	struct burst_arg args[N];
	for (int i = 0; i < N; i++) {
		args[i] = (struct burst_arg){ .url = a.url, .tenant = "short", .digest = digest,
					      .input = "{}" };
		pthread_create(&th[i], NULL, burst_one, &args[i]);
	}
	char log[512];
	snprintf(log, sizeof(log), "%s/agent.log", dir);
	wait_log(log, "vm_scale_limited tenant=short wanted=2 workers=", "reason=no_capacity");
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].status, 200);
		assert_string_equal(args[i].result_status, "ok");
		assert_int_equal(args[i].ran_on, 1);
	}
	assert_int_equal(count_lines(log, "reason=no_capacity"), 1);
	agent_client_free(&c);
	assert_int_equal(agent_proc_stop(&a, 60000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_status, stop_all),
		cmocka_unit_test_teardown(test_hotplug_cycle, stop_all),
		cmocka_unit_test_teardown(test_precreated_cycle, stop_all),
		cmocka_unit_test_teardown(test_concurrent_invocations, stop_all),
		cmocka_unit_test_teardown(test_functions_and_limits, stop_all),
		cmocka_unit_test_teardown(test_invoke_memory_limit_and_hops, stop_all),
		cmocka_unit_test_teardown(test_qemu_killed, stop_all),
		cmocka_unit_test_teardown(test_guest_unresponsive, stop_all),
		cmocka_unit_test_teardown(test_inflight_limit, stop_all),
		cmocka_unit_test_teardown(test_hotplug_exhausted, stop_all),
		cmocka_unit_test_teardown(test_delete_cancels_work, stop_all),
		cmocka_unit_test_teardown(test_elastic_grows_and_shrinks, stop_all),
		cmocka_unit_test_teardown(test_fixed_policy, stop_all),
		cmocka_unit_test_teardown(test_scaling_update, stop_all),
		cmocka_unit_test_teardown(test_elastic_hotplug_exhausted, stop_all),
		cmocka_unit_test(test_elastic_cores_short),
		cmocka_unit_test(test_controller_link),
		cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_agent_crash_ends_vms),
	};
	return cmocka_run_group_tests_name("agent end to end", tests, setup, teardown);
}
