/* ditto-bench demo (make run): boots a tenant VM through the agent, grows
 * its worker vCPUs, runs the sample functions on them and prints what ran
 * where. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct fn {
	const char *name, *mode, *input;
	char digest[SHA256_HEX_SIZE];
};

static int invoke(struct bench_env *e, const struct fn *f, int cpu)
{
	char path[256];
	snprintf(path, sizeof(path), "/v1/vms/demo/invoke?artifact=%s&mode=%s&cpu=%d", f->digest,
		 f->mode, cpu);
	json_t *r = NULL;
	int st = api_client_call(&e->client, "POST", path, f->input, strlen(f->input), 60000, &r);
	if (st != 200) {
		printf("  %-9s cpu %d: HTTP %d %s\n", f->name, cpu, st,
		       r ? json_string_value(
				   json_object_get(json_object_get(r, "error"), "message"))
			 : "");
		json_decref(r);
		return -1;
	}
	const char *result = json_string_value(json_object_get(r, "result"));
	char shown[120];
	snprintf(shown, sizeof(shown), "%s", result ? result : "");
	char *nl = strchr(shown, '\n');
	if (nl)
		*nl = '\0';
	printf("  %-9s %-10s asked cpu %d, ran on cpu %lld, %s, wall %.2f ms, cpu %.2f ms%s -> %s\n",
	       f->name, f->mode, cpu, json_integer_value(json_object_get(r, "ran_on")),
	       json_string_value(json_object_get(r, "status")),
	       json_integer_value(json_object_get(r, "wall_us")) / 1000.0,
	       json_integer_value(json_object_get(r, "cpu_us")) / 1000.0,
	       json_is_true(json_object_get(r, "cold_start")) ? " (cold start)" : "", shown);
	json_decref(r);
	return 0;
}

static int resize(struct bench_env *e, int n)
{
	char body[32];
	snprintf(body, sizeof(body), "{\"count\":%d}", n);
	json_t *r = NULL;
	int st = api_client_call(&e->client, "PUT", "/v1/vms/demo/workers", body, strlen(body),
				 120000, &r);
	if (st != 200) {
		printf("resize to %d failed: HTTP %d\n", n, st);
		json_decref(r);
		return -1;
	}
	printf("worker vCPUs -> %d in %.1f ms:", n,
	       json_integer_value(json_object_get(r, "latency_us")) / 1000.0);
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(r, "steps"), i, s) printf(
		" cpu %lld %s on host core %lld (%.1f ms)",
		json_integer_value(json_object_get(s, "cpu")),
		json_string_value(json_object_get(s, "action")),
		json_integer_value(json_object_get(s, "core")),
		json_integer_value(json_object_get(
			s, strcmp(json_string_value(json_object_get(s, "action")), "grow") == 0
				   ? "active_us"
				   : "released_us")) /
			1000.0);
	printf("\n");
	json_decref(r);
	return 0;
}

int bench_demo(const struct bench_opts *o)
{
	struct bench_env e;
	if (bench_env_start(&e, o) < 0)
		return -1;
	int rc = -1;
	struct fn fns[] = {
		{ "echo", "process", "{\"hello\":\"ditto\"}", "" },
		{ "sha256", "process", "{\"data\":\"abc\"}", "" },
		{ "busy", "process", "{\"ms\":20,\"mb\":4}", "" },
		{ "hello.sh", "process", "{\"name\":\"ditto\"}", "" },
		{ "echo", "persistent", "{\"first\":true}", "" },
		{ "echo", "persistent", "{\"warm\":true}", "" },
	};
	size_t n = sizeof(fns) / sizeof(fns[0]);
	printf("ditto demo: agent %s, accel %s, QEMU %s\n", e.proc.url, e.accel, e.qemu);
	for (size_t i = 0; i < n; i++) {
		if (bench_upload_function(&e, o, fns[i].name, fns[i].digest) < 0)
			goto out;
	}
	printf("uploaded the sample functions: echo, sha256, busy, hello.sh\n");
	const char *spec = "{\"mechanism\":\"precreated\",\"max_workers\":2,\"memory_mib\":256}";
	json_t *vm = NULL;
	int st = api_client_call(&e.client, "PUT", "/v1/vms/demo", spec, strlen(spec), 120000, &vm);
	if (st != 201) {
		printf("VM start failed: HTTP %d\n", st);
		json_decref(vm);
		goto out;
	}
	printf("tenant VM \"demo\" ready in %lld ms (mechanism %s, pid %lld)\n",
	       json_integer_value(json_object_get(vm, "boot_ms")),
	       json_string_value(json_object_get(vm, "mechanism")),
	       json_integer_value(json_object_get(vm, "pid")));
	json_decref(vm);
	if (resize(&e, 2) < 0)
		goto out;
	for (int cpu = 1; cpu <= 2; cpu++) {
		printf("functions on worker vCPU %d:\n", cpu);
		for (size_t i = 0; i < n; i++)
			if (invoke(&e, &fns[i], cpu) < 0)
				goto out;
	}
	if (resize(&e, 0) < 0)
		goto out;
	rc = 0;
	printf("demo done: stopping the VM and the agent\n");
out:
	api_client_call(&e.client, "DELETE", "/v1/vms/demo", NULL, 0, 10000, NULL);
	bench_env_stop(&e);
	return rc;
}
