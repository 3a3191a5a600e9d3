/* ditto-bench vcpu: worker vCPU grow/shrink latency through the real agent,
 * QEMU and guest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

enum { S_BOOT, S_ADDED, S_SEEN, S_ACTIVE, S_FUNCTION, S_SHRINK, S_COUNT };

static const char *const step_names[S_COUNT] = {
	"boot: QEMU start -> guest ready",
	"grow: request -> device_add returned",
	"grow: request -> CPU seen in guest",
	"grow: request -> online, thread runs there",
	"grow: request -> function ran on it",
	"shrink: request -> released",
};
static const char *const step_keys[S_COUNT] = { "boot", "added", "seen", "active", "function",
						"shrink" };

static double step_ms(json_t *step, const char *key)
{
	json_int_t us = json_integer_value(json_object_get(step, key));
	return us >= 0 ? (double)us / 1000.0 : -1;
}

int bench_vcpu(const struct bench_opts *o)
{
	struct bench_env e;
	if (bench_env_start(&e, o) < 0)
		return -1;
	int rc = -1;
	char echo[65];
	double *samples[S_COUNT];
	size_t counts[S_COUNT] = { 0 };
	for (int i = 0; i < S_COUNT; i++)
		samples[i] = calloc((size_t)o->reps + (size_t)o->boots, sizeof(double));
	long qemu_rss = -1;

	if (bench_upload_function(&e, o, "echo", echo) < 0)
		goto out;
	char spec[256];
	snprintf(spec, sizeof(spec),
		 "{\"mechanism\":\"%s\",\"max_workers\":1,\"memory_mib\":256,\"standby\":1,"
		 "\"hotplug_slots\":%d}",
		 o->mechanism, o->reps + 2 < 128 ? o->reps + 2 : 128);
	for (int b = 0; b < o->boots; b++) {
		json_t *vm = NULL;
		int st = b == 0 ? agent_client_call(&e.client, "PUT", "/v1/vms/bench", spec,
						     strlen(spec), 120000, &vm)
				: agent_client_call(&e.client, "POST", "/v1/vms/bench/restart", NULL, 0,
						    120000, &vm);
		if (st != 201) {
			fprintf(stderr, "ditto-bench: VM start failed (%d): %s\n", st,
				vm ? json_dumps(vm, 0) : "no reply");
			json_decref(vm);
			goto out;
		}
		samples[S_BOOT][counts[S_BOOT]++] =
			(double)json_integer_value(json_object_get(vm, "boot_ms"));
		json_decref(vm);
	}

	for (int rep = 0; rep < o->reps; rep++) {
		const char *grow = "{\"count\":1}", *shrink = "{\"count\":0}";
		json_t *rep_json = NULL;
		long long t0 = now_ns();
		int st = agent_client_call(&e.client, "PUT", "/v1/vms/bench/workers", grow, strlen(grow),
					   120000, &rep_json);
		const char *code = json_string_value(
			json_object_get(json_object_get(rep_json, "error"), "code"));
		if (st == 409 && code && strcmp(code, "hotplug_exhausted") == 0) {
			/* QEMU has created all the vCPUs it can in this VM's life:
			 * boot it again and repeat this cycle. */
			json_decref(rep_json);
			st = agent_client_call(&e.client, "POST", "/v1/vms/bench/restart", NULL, 0,
					       120000, NULL);
			if (st != 201) {
				fprintf(stderr, "ditto-bench: restart failed (%d)\n", st);
				goto out;
			}
			rep--;
			continue;
		}
		if (st != 200) {
			fprintf(stderr, "ditto-bench: grow failed (%d): %s\n", st,
				rep_json ? json_dumps(rep_json, 0) : "no reply");
			json_decref(rep_json);
			goto out;
		}
		json_t *step = json_array_get(json_object_get(rep_json, "steps"), 0);
		int cpu = (int)json_integer_value(json_object_get(step, "cpu"));
		double v;
		if ((v = step_ms(step, "added_us")) >= 0)
			samples[S_ADDED][counts[S_ADDED]++] = v;
		if ((v = step_ms(step, "seen_us")) >= 0)
			samples[S_SEEN][counts[S_SEEN]++] = v;
		if ((v = step_ms(step, "active_us")) >= 0)
			samples[S_ACTIVE][counts[S_ACTIVE]++] = v;
		json_decref(rep_json);

		char path[200];
		snprintf(path, sizeof(path), "/v1/vms/bench/invoke?artifact=%s&cpu=%d&mode=%s", echo,
			 cpu, o->mode);
		json_t *res = NULL;
		st = agent_client_call(&e.client, "POST", path, "{\"ping\":1}", 10, 60000, &res);
		long long t_fn = now_ns();
		const char *status = json_string_value(json_object_get(res, "status"));
		int ran_on = (int)json_integer_value(json_object_get(res, "ran_on"));
		if (st != 200 || !status || strcmp(status, "ok") != 0 || ran_on != cpu) {
			fprintf(stderr, "ditto-bench: function on cpu %d failed (%d): %s\n", cpu, st,
				res ? json_dumps(res, 0) : "no reply");
			json_decref(res);
			goto out;
		}
		json_decref(res);
		samples[S_FUNCTION][counts[S_FUNCTION]++] = (double)(t_fn - t0) / 1e6;

		st = agent_client_call(&e.client, "PUT", "/v1/vms/bench/workers", shrink,
				       strlen(shrink), 120000, &rep_json);
		if (st != 200) {
			fprintf(stderr, "ditto-bench: shrink failed (%d)\n", st);
			json_decref(rep_json);
			goto out;
		}
		step = json_array_get(json_object_get(rep_json, "steps"), 0);
		if ((v = step_ms(step, "released_us")) >= 0)
			samples[S_SHRINK][counts[S_SHRINK]++] = v;
		json_decref(rep_json);
	}
	json_t *vm = NULL;
	if (agent_client_call(&e.client, "GET", "/v1/vms/bench", NULL, 0, 10000, &vm) == 200)
		qemu_rss = (long)json_integer_value(json_object_get(vm, "qemu_rss_kib"));
	json_decref(vm);

	json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:I}", "benchmark", "vcpu",
				"mechanism", o->mechanism, "mode", o->mode, "accel", e.accel, "reps",
				o->reps, "boots", o->boots, "qemu_rss_kib", (json_int_t)qemu_rss);
	json_object_set_new(out, "qemu", json_string(e.qemu));
	if (!o->json) {
		printf("ditto-bench vcpu: mechanism=%s function_mode=%s accel=%s qemu=%s reps=%d boots=%d\n",
		       o->mechanism, o->mode, e.accel, e.qemu, o->reps, o->boots);
		printf("%-44s %9s %9s %9s %4s\n", "step", "p50 ms", "p90 ms", "max ms", "n");
	}
	for (int i = 0; i < S_COUNT; i++) {
		if (counts[i] == 0)
			continue;
		struct stats s;
		stats_compute(samples[i], counts[i], &s);
		json_object_set_new(out, step_keys[i],
				    json_pack("{s:f, s:f, s:f, s:f, s:i}", "p50_ms", s.p50, "p90_ms", s.p90,
					      "max_ms", s.max, "min_ms", s.min, "n", (int)s.n));
		if (!o->json)
			printf("%-44s %9.2f %9.2f %9.2f %4zu\n", step_names[i], s.p50, s.p90, s.max,
			       s.n);
	}
	if (o->json) {
		char *text = json_dumps(out, JSON_INDENT(2));
		printf("%s\n", text);
		free(text);
	} else {
		printf("QEMU resident memory for this VM: %ld KiB (accel %s)\n", qemu_rss, e.accel);
	}
	json_decref(out);
	rc = 0;
out:
	for (int i = 0; i < S_COUNT; i++)
		free(samples[i]);
	bench_env_stop(&e);
	return rc;
}
