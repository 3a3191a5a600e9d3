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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_status, stop_all),
		cmocka_unit_test_teardown(test_hotplug_cycle, stop_all),
		cmocka_unit_test_teardown(test_precreated_cycle, stop_all),
		cmocka_unit_test_teardown(test_concurrent_invocations, stop_all),
		cmocka_unit_test_teardown(test_functions_and_limits, stop_all),
		cmocka_unit_test_teardown(test_qemu_killed, stop_all),
		cmocka_unit_test_teardown(test_guest_unresponsive, stop_all),
		cmocka_unit_test_teardown(test_inflight_limit, stop_all),
		cmocka_unit_test_teardown(test_hotplug_exhausted, stop_all),
		cmocka_unit_test_teardown(test_delete_cancels_work, stop_all),
		cmocka_unit_test(test_agent_crash_ends_vms),
	};
	return cmocka_run_group_tests_name("agent end to end", tests, setup, teardown);
}
