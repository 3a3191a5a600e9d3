/* What the agent suite's tests share: calls, VMs, invocations, waits. */
#include "agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/wait.h"
#include "util.h"

int call(const char *method, json_t **ret, const char *body, const char *fmt, ...)
{
	char path[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (ret)
		*ret = NULL;
	return api_client_call(&S.c, method, path, body, body ? strlen(body) : 0, STEP_MS, ret);
}

const char *error_code(json_t *e)
{
	return json_string_value(json_object_get(json_object_get(e, "error"), "code"));
}

/* Checks a call's status, showing the reply when it is not the one wanted. */
static void expect_status(int st, int want, json_t *reply, const char *what)
{
	if (st != want) {
		char *t = reply ? json_dumps(reply, 0) : NULL;
		fprintf(stderr, "%s: %d %s\n", what, st, t ? t : "");
		free(t);
	}
	assert_int_equal(st, want);
}

json_t *start_vm_spec(const char *tenant, const char *spec)
{
	json_t *vm;
	int st = call("PUT", &vm, spec, "/v1/vms/%s", tenant);
	expect_status(st, 201, vm, "VM start");
	assert_string_equal(json_string_value(json_object_get(vm, "state")), "ready");
	return vm;
}

void start_vm(const char *tenant, const char *mech, int max_workers)
{
	char spec[200];
	snprintf(spec, sizeof(spec), "{\"mechanism\":\"%s\",\"max_workers\":%d,\"memory_mib\":256}",
		 mech, max_workers);
	json_t *vm = start_vm_spec(tenant, spec);
	assert_true(json_integer_value(json_object_get(vm, "boot_ms")) > 0);
	json_decref(vm);
}

static bool vm_gone(void *tenant)
{
	return call("GET", NULL, NULL, "/v1/vms/%s", (const char *)tenant) != 200;
}

void stop_vm(const char *tenant)
{
	assert_int_equal(call("DELETE", NULL, NULL, "/v1/vms/%s", tenant), 200);
	wait_until(vm_gone, (void *)tenant, STATE_MS, "the VM's name to be free again");
}

json_t *resize(const char *tenant, int n)
{
	char body[32];
	snprintf(body, sizeof(body), "{\"count\":%d}", n);
	json_t *r;
	int st = call("PUT", &r, body, "/v1/vms/%s/workers", tenant);
	expect_status(st, 200, r, "resize");
	assert_int_equal(json_integer_value(json_object_get(r, "workers")), n);
	return r;
}

json_t *invoke(const char *tenant, const char *digest, const char *mode, int cpu, int timeout_ms,
	       const char *input)
{
	json_t *r;
	char q[64] = "";
	if (cpu > 0)
		snprintf(q, sizeof(q), "&cpu=%d", cpu);
	int st = call("POST", &r, input, "/v1/vms/%s/invoke?artifact=%s&mode=%s&timeout_ms=%d%s",
		      tenant, digest, mode, timeout_ms, q);
	expect_status(st, 200, r, "invoke");
	return r;
}

void expect_ran_on(json_t *r, int cpu)
{
	assert_string_equal(json_string_value(json_object_get(r, "status")), "ok");
	assert_int_equal(json_integer_value(json_object_get(r, "cpu")), cpu);
	assert_int_equal(json_integer_value(json_object_get(r, "ran_on")), cpu);
}

json_int_t int_field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

void expect_all_cores_free(void)
{
	json_t *st;
	assert_int_equal(call("GET", &st, NULL, "/v1/status"), 200);
	json_t *cores = json_object_get(st, "cores");
	assert_int_equal(json_integer_value(json_object_get(cores, "free_count")),
			 json_integer_value(json_object_get(cores, "total")));
	json_decref(st);
}

/* A VM to wait for, and its record once the wait is over. */
struct vm_wait {
	const char *tenant, *state;
	int workers;
	json_t *vm;
};

static bool in_state(void *data)
{
	struct vm_wait *w = data;
	assert_int_equal(call("GET", &w->vm, NULL, "/v1/vms/%s", w->tenant), 200);
	if (strcmp(json_string_value(json_object_get(w->vm, "state")), w->state) == 0)
		return true;
	json_decref(w->vm);
	return false;
}

json_t *wait_state(const char *tenant, const char *want)
{
	struct vm_wait w = { .tenant = tenant, .state = want };
	wait_until(in_state, &w, STATE_MS, want);
	return w.vm;
}

/* Whether no worker vCPU of the VM is on its way in or out (a shrinking one
 * still holds its core). */
static bool settled(json_t *vm)
{
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(vm, "worker_cpus"), i, w)
	{
		const char *st = json_string_value(json_object_get(w, "state"));
		if (strcmp(st, "growing") == 0 || strcmp(st, "shrinking") == 0)
			return false;
	}
	return true;
}

static bool has_workers(void *data)
{
	struct vm_wait *w = data;
	assert_int_equal(call("GET", &w->vm, NULL, "/v1/vms/%s", w->tenant), 200);
	if (json_integer_value(json_object_get(w->vm, "workers")) == w->workers && settled(w->vm))
		return true;
	json_decref(w->vm);
	return false;
}

json_t *wait_workers(const char *tenant, int n)
{
	struct vm_wait w = { .tenant = tenant, .workers = n };
	char what[96];
	snprintf(what, sizeof(what), "VM %s to reach %d workers", tenant, n);
	wait_until(has_workers, &w, STEP_MS, what);
	return w.vm;
}

struct log_wait {
	const char *path, *a, *b;
};

static bool log_has_line(void *data)
{
	struct log_wait *w = data;
	void *buf;
	size_t len;
	if (file_read_all(w->path, &buf, &len) < 0)
		return false;
	bool found = false;
	for (char *line = buf, *end; line && *line && !found; line = end ? end + 1 : NULL) {
		end = strchr(line, '\n');
		if (end)
			*end = '\0';
		found = strstr(line, w->a) && strstr(line, w->b);
	}
	free(buf);
	return found;
}

void wait_log(const char *path, const char *a, const char *b)
{
	struct log_wait w = { path, a, b };
	char what[256];
	snprintf(what, sizeof(what), "a line with \"%s\" and \"%s\" in %s", a, b, path);
	wait_until(log_has_line, &w, STATE_MS, what);
}

int count_in_file(const char *path, const char *needle)
{
	void *buf;
	size_t len;
	if (file_read_all(path, &buf, &len) < 0)
		return -1;
	int n = 0;
	for (const char *p = buf; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(buf);
	return n;
}

static void *burst_one(void *p)
{
	struct burst_arg *a = p;
	struct api_client c;
	api_client_init(&c, a->url);
	char path[256];
	snprintf(path, sizeof(path), "/v1/vms/%s/invoke?artifact=%s&timeout_ms=60000%s%s",
		 a->tenant, a->digest, a->mode ? "&mode=" : "", a->mode ? a->mode : "");
	json_t *r = NULL;
	a->status = api_client_call(&c, "POST", path, a->input, strlen(a->input), STEP_MS, &r);
	a->ran_on = (int)json_integer_value(json_object_get(r, "ran_on"));
	a->cpu = (int)json_integer_value(json_object_get(r, "cpu"));
	snprintf(a->result_status, sizeof(a->result_status), "%s",
		 json_string_value(json_object_get(r, "status")) ?: "");
	json_decref(r);
	api_client_free(&c);
	return NULL;
}

void burst_start_mode(struct burst *b, int n, const char *url, const char *tenant,
		      const char *digest, const char *mode, const char *input)
{
	assert_true(n >= 1 && n <= (int)ARRAY_SIZE(b->th));
	b->n = n;
	for (int i = 0; i < n; i++) {
		b->args[i] = (struct burst_arg){
			.url = url, .tenant = tenant, .digest = digest, .input = input, .mode = mode
		};
		pthread_create(&b->th[i], NULL, burst_one, &b->args[i]);
	}
}

void burst_start(struct burst *b, int n, const char *url, const char *tenant, const char *digest,
		 const char *input)
{
	burst_start_mode(b, n, url, tenant, digest, NULL, input);
}

void burst_join(struct burst *b)
{
	for (int i = 0; i < b->n; i++)
		pthread_join(b->th[i], NULL);
}
