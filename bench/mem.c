/* ditto-bench mem: resident memory of the agent and of each QEMU with N VMs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int bench_mem(const struct bench_opts *o)
{
	struct bench_env e;
	if (bench_env_start(&e, o) < 0)
		return -1;
	int rc = -1;
	json_t *st = NULL;
	for (int i = 0; i < o->vms; i++) {
		char path[64], spec[160];
		snprintf(path, sizeof(path), "/v1/vms/mem%d", i);
		snprintf(spec, sizeof(spec),
			 "{\"mechanism\":\"%s\",\"max_workers\":1,\"memory_mib\":256}",
			 o->mechanism);
		json_t *vm = NULL;
		int r = api_client_call(&e.client, "PUT", path, spec, strlen(spec), 180000, &vm);
		json_decref(vm);
		if (r != 201) {
			fprintf(stderr, "ditto-bench: VM %d failed to start (%d)\n", i, r);
			goto out;
		}
	}
	if (api_client_call(&e.client, "GET", "/v1/status", NULL, 0, 10000, &st) != 200)
		goto out;
	json_t *vms = json_object_get(st, "vms");
	long agent_kib = (long)json_integer_value(json_object_get(st, "agent_rss_kib"));
	size_t nvm = json_array_size(vms), i;
	double *q = calloc(nvm + 1, sizeof(double)), *p = calloc(nvm + 1, sizeof(double));
	json_t *vm;
	json_array_foreach(vms, i, vm)
	{
		q[i] = (double)json_integer_value(json_object_get(vm, "qemu_rss_kib")) / 1024.0;
		p[i] = (double)json_integer_value(json_object_get(vm, "qemu_pss_kib")) / 1024.0;
	}
	struct stats s, ps;
	stats_compute(q, nvm, &s);
	stats_compute(p, nvm, &ps);
	free(q);
	free(p);
	if (o->json) {
		json_t *out = json_pack(
			"{s:s, s:s, s:s, s:i, s:f, s:f, s:f, s:f, s:f}", "benchmark", "mem",
			"accel", e.accel, "mechanism", o->mechanism, "vms", o->vms, "agent_rss_mib",
			agent_kib / 1024.0, "qemu_rss_p50_mib", s.p50, "qemu_rss_max_mib", s.max,
			"qemu_pss_p50_mib", ps.p50, "guest_memory_mib", 256.0);
		char *text = json_dumps(out, JSON_INDENT(2));
		printf("%s\n", text);
		free(text);
		json_decref(out);
	} else {
		printf("ditto-bench mem: accel=%s mechanism=%s vms=%d guest_memory=256 MiB\n",
		       e.accel, o->mechanism, o->vms);
		printf("agent resident memory:        %8.2f MiB\n", agent_kib / 1024.0);
		printf("QEMU resident memory per VM:  %8.2f MiB p50, %.2f MiB max (RSS)\n", s.p50,
		       s.max);
		printf("QEMU proportional memory:     %8.2f MiB p50, %.2f MiB max (PSS: shared pages split)\n",
		       ps.p50, ps.max);
		printf("(both include the guest RAM the guest has touched, of 256 MiB given)\n");
	}
	rc = 0;
out:
	json_decref(st);
	bench_env_stop(&e);
	return rc;
}
