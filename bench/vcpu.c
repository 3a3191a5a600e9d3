/* ditto-bench vcpu: worker vCPU grow/shrink latency through the real agent,
 * QEMU and guest; with --latencies-out, the samples written for the
 * simulator (bench/sim.h's latencies file). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "util.h"

enum {
	S_BOOT,
	S_ADDED,
	S_SEEN,
	S_ACTIVE,
	S_FUNCTION,
	S_SHRINK,
	S_CALL,
	S_BUSY0,
	S_TOUCH,
	S_WARM,
	S_COUNT
};

/* The memory busy touches in the second of its timed calls. */
#define TOUCH_MB 64

static const char *const step_names[S_COUNT] = {
	"boot: QEMU start -> guest ready",     "grow: request -> device_add returned",
	"grow: request -> CPU seen in guest",  "grow: request -> online, thread runs there",
	"grow: request -> function ran on it", "shrink: request -> released",
	"call: invoke -> answer, on the new vCPU",
	"call: busy with no work -> answer",
	"call: busy, extra ms per MiB touched",
	"call: busy with no work, warm persistent",
};
static const char *const step_keys[S_COUNT] = { "boot",   "added",  "seen", "active",
						"function", "shrink", "call",   "busy0",
						"touch_per_mib", "busy0_warm" };

static double step_ms(json_t *step, const char *key)
{
	json_int_t us = json_integer_value(json_object_get(step, key));
	return us >= 0 ? (double)us / 1000.0 : -1;
}

/* What the runs measured, per step. */
struct vcpu_samples {
	double *v[S_COUNT];
	size_t n[S_COUNT];
};

static void sample_add(struct vcpu_samples *s, int step, double ms)
{
	if (ms >= 0)
		s->v[step][s->n[step]++] = ms;
}

static int samples_alloc(struct vcpu_samples *s, size_t n)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < S_COUNT; i++)
		if (!(s->v[i] = calloc(n, sizeof(double))))
			return -ENOMEM;
	return 0;
}

static void samples_free(struct vcpu_samples *s)
{
	for (int i = 0; i < S_COUNT; i++)
		free(s->v[i]);
}

/* Starts the VM with `standby` online idle worker vCPUs (precreated), then
 * restarts it, `boots` times in all, timing each boot. */
static int time_boots(struct bench_env *e, const struct bench_opts *o, int boots, int standby,
		      struct vcpu_samples *s)
{
	char spec[256];
	snprintf(spec, sizeof(spec),
		 "{\"mechanism\":\"%s\",\"max_workers\":1,\"memory_mib\":256,\"standby\":%d,"
		 "\"hotplug_slots\":%d}",
		 o->mechanism, standby, o->reps + 2 < 128 ? o->reps + 2 : 128);
	for (int b = 0; b < boots; b++) {
		json_t *vm = NULL;
		int st = b == 0 ? api_client_call(&e->client, "PUT", "/v1/vms/bench", spec,
						  strlen(spec), 120000, &vm)
				: api_client_call(&e->client, "POST", "/v1/vms/bench/restart", NULL,
						  0, 120000, &vm);
		if (st != 201) {
			fprintf(stderr, "ditto-bench: VM start failed (%d): %s\n", st,
				vm ? json_dumps(vm, 0) : "no reply");
			json_decref(vm);
			return -EIO;
		}
		sample_add(s, S_BOOT, (double)json_integer_value(json_object_get(vm, "boot_ms")));
		json_decref(vm);
	}
	return 0;
}

/* Asks for count worker vCPUs; the report (or error) in *ret. Returns the
 * HTTP status or -errno. */
static int resize(struct bench_env *e, int count, json_t **ret)
{
	char body[32];
	int len = snprintf(body, sizeof(body), "{\"count\":%d}", count);
	*ret = NULL;
	return api_client_call(&e->client, "PUT", "/v1/vms/bench/workers", body, (size_t)len,
			       120000, ret);
}

/* Grows the VM to one worker vCPU and records the steps' latencies. Returns
 * the new vCPU, -EAGAIN when QEMU can create no more (the VM was restarted:
 * try again), or another -errno. */
static int grow(struct bench_env *e, struct vcpu_samples *s)
{
	json_t *rep;
	int st = resize(e, 1, &rep);
	const char *code = json_string_value(
		json_object_get(json_object_get(rep, "error"), "code"));
	if (st == 409 && code && strcmp(code, "hotplug_exhausted") == 0) {
		/* QEMU has created all the vCPUs it can in this VM's life:
		 * boot it again and repeat this cycle. */
		json_decref(rep);
		st = api_client_call(&e->client, "POST", "/v1/vms/bench/restart", NULL, 0, 120000,
				     NULL);
		if (st != 201) {
			fprintf(stderr, "ditto-bench: restart failed (%d)\n", st);
			return -EIO;
		}
		return -EAGAIN;
	}
	if (st != 200) {
		fprintf(stderr, "ditto-bench: grow failed (%d): %s\n", st,
			rep ? json_dumps(rep, 0) : "no reply");
		json_decref(rep);
		return -EIO;
	}
	json_t *step = json_array_get(json_object_get(rep, "steps"), 0);
	int cpu = (int)json_integer_value(json_object_get(step, "cpu"));
	sample_add(s, S_ADDED, step_ms(step, "added_us"));
	sample_add(s, S_SEEN, step_ms(step, "seen_us"));
	sample_add(s, S_ACTIVE, step_ms(step, "active_us"));
	json_decref(rep);
	return cpu;
}

/* Runs echo on cpu, which must answer from there. */
static int run_on(struct bench_env *e, const struct bench_opts *o, const char *echo, int cpu)
{
	char path[200];
	snprintf(path, sizeof(path), "/v1/vms/bench/invoke?artifact=%s&cpu=%d&mode=%s", echo, cpu,
		 o->mode);
	json_t *res = NULL;
	int st = api_client_call(&e->client, "POST", path, "{\"ping\":1}", 10, 60000, &res);
	const char *status = json_string_value(json_object_get(res, "status"));
	int ran_on = (int)json_integer_value(json_object_get(res, "ran_on"));
	if (st != 200 || !status || strcmp(status, "ok") != 0 || ran_on != cpu) {
		fprintf(stderr, "ditto-bench: function on cpu %d failed (%d): %s\n", cpu, st,
			res ? json_dumps(res, 0) : "no reply");
		json_decref(res);
		return -EIO;
	}
	json_decref(res);
	return 0;
}

/* Times busy on cpu in mode with no work and mb MiB to touch; ms in *ret. */
static int time_busy(struct bench_env *e, const char *busy, int cpu, const char *mode, int mb,
		     double *ret)
{
	char path[200], body[48];
	snprintf(path, sizeof(path), "/v1/vms/bench/invoke?artifact=%s&cpu=%d&mode=%s", busy, cpu,
		 mode);
	int len = snprintf(body, sizeof(body), "{\"ms\":0,\"mb\":%d}", mb);
	json_t *res = NULL;
	uint64_t t0 = time_now_us();
	int st = api_client_call(&e->client, "POST", path, body, (size_t)len, 60000, &res);
	*ret = (double)(time_now_us() - t0) / 1e3;
	const char *status = json_string_value(json_object_get(res, "status"));
	bool ok = st == 200 && status && strcmp(status, "ok") == 0;
	json_decref(res);
	if (!ok)
		fprintf(stderr, "ditto-bench: busy on cpu %d failed (%d)\n", cpu, st);
	return ok ? 0 : -EIO;
}

/* busy on cpu with no work, then touching TOUCH_MB (process mode): the
 * per-call share and the time per MiB touched; then twice in persistent
 * mode, the second call warm: the warm per-call share. */
static int time_busy_pair(struct bench_env *e, const char *busy, int cpu, struct vcpu_samples *s)
{
	double b0, b1, p0, p1;
	if (time_busy(e, busy, cpu, "process", 0, &b0) < 0 ||
	    time_busy(e, busy, cpu, "process", TOUCH_MB, &b1) < 0 ||
	    time_busy(e, busy, cpu, "persistent", 0, &p0) < 0 ||
	    time_busy(e, busy, cpu, "persistent", 0, &p1) < 0)
		return -EIO;
	sample_add(s, S_BUSY0, b0);
	sample_add(s, S_TOUCH, b1 > b0 ? (b1 - b0) / TOUCH_MB : 0);
	sample_add(s, S_WARM, p1);
	return 0;
}

/* Shrinks the VM back to no worker vCPU. */
static int shrink(struct bench_env *e, struct vcpu_samples *s)
{
	json_t *rep;
	int st = resize(e, 0, &rep);
	if (st != 200) {
		fprintf(stderr, "ditto-bench: shrink failed (%d)\n", st);
		json_decref(rep);
		return -EIO;
	}
	sample_add(s, S_SHRINK,
		   step_ms(json_array_get(json_object_get(rep, "steps"), 0), "released_us"));
	json_decref(rep);
	return 0;
}

/* o->reps cycles of grow, run a function on the new vCPU, shrink. */
static int time_cycles(struct bench_env *e, const struct bench_opts *o, const char *echo,
		       const char *busy, struct vcpu_samples *s)
{
	for (int rep = 0; rep < o->reps; rep++) {
		uint64_t t0 = time_now_us();
		int cpu = grow(e, s);
		if (cpu == -EAGAIN) {
			rep--;
			continue;
		}
		uint64_t t1 = time_now_us();
		if (cpu < 0 || run_on(e, o, echo, cpu) < 0)
			return -EIO;
		uint64_t t2 = time_now_us();
		sample_add(s, S_FUNCTION, (double)(t2 - t0) / 1e3);
		sample_add(s, S_CALL, (double)(t2 - t1) / 1e3);
		if (busy && time_busy_pair(e, busy, cpu, s) < 0)
			return -EIO;
		if (shrink(e, s) < 0)
			return -EIO;
	}
	return 0;
}

/* Prints the table, or the JSON object with --json. */
static void report(const struct bench_env *e, const struct bench_opts *o, struct vcpu_samples *s,
		   long qemu_rss)
{
	json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:I}", "benchmark", "vcpu",
				"mechanism", o->mechanism, "mode", o->mode, "accel", e->accel,
				"reps", o->reps, "boots", o->boots, "qemu_rss_kib",
				(json_int_t)qemu_rss);
	json_object_set_new(out, "qemu", json_string(e->qemu));
	if (!o->json) {
		printf("ditto-bench vcpu: mechanism=%s function_mode=%s accel=%s qemu=%s reps=%d boots=%d\n",
		       o->mechanism, o->mode, e->accel, e->qemu, o->reps, o->boots);
		printf("%-44s %9s %9s %9s %4s\n", "step", "p50 ms", "p90 ms", "max ms", "n");
	}
	for (int i = 0; i < S_COUNT; i++) {
		if (s->n[i] == 0)
			continue;
		struct stats st;
		stats_compute(s->v[i], s->n[i], &st);
		json_object_set_new(out, step_keys[i],
				    json_pack("{s:f, s:f, s:f, s:f, s:i}", "p50_ms", st.p50,
					      "p90_ms", st.p90, "max_ms", st.max, "min_ms", st.min,
					      "n", (int)st.n));
		if (!o->json)
			printf("%-44s %9.2f %9.2f %9.2f %4zu\n", step_names[i], st.p50, st.p90,
			       st.max, st.n);
	}
	if (o->json) {
		char *text = json_dumps(out, JSON_INDENT(2));
		printf("%s\n", text);
		free(text);
	} else {
		printf("QEMU resident memory for this VM: %ld KiB (accel %s)\n", qemu_rss,
		       e->accel);
	}
	json_decref(out);
}

/* Adds the samples of one step, as a JSON array, to o under key. */
static void add_samples(json_t *o, const char *key, const struct vcpu_samples *a, int sa,
			const struct vcpu_samples *b, int sb)
{
	json_t *arr = json_array();
	for (size_t i = 0; a && i < a->n[sa]; i++)
		json_array_append_new(arr, json_real(a->v[sa][i]));
	for (size_t i = 0; b && i < b->n[sb]; i++)
		json_array_append_new(arr, json_real(b->v[sb][i]));
	json_object_set_new(o, key, arr);
}

/* Writes (or updates: other mechanisms already there are kept) the
 * simulator's latencies file. s was measured with a standby vCPU (precreated:
 * its grows are the fast ones), dormant, when not NULL, without. */
static int write_latencies(const struct bench_env *e, const struct bench_opts *o,
			   const struct vcpu_samples *s, const struct vcpu_samples *dormant)
{
	json_t *root = json_load_file(o->latencies_out, 0, NULL);
	if (!json_is_object(root) || !json_is_object(json_object_get(root, "mechanisms"))) {
		json_decref(root);
		root = json_pack("{s:{}}", "mechanisms");
	}
	json_t *m = json_object();
	if (dormant) {
		add_samples(m, "grow_ms", dormant, S_ACTIVE, NULL, 0);
		add_samples(m, "grow_standby_ms", s, S_ACTIVE, NULL, 0);
	} else {
		add_samples(m, "grow_ms", s, S_ACTIVE, NULL, 0);
	}
	add_samples(m, "shrink_ms", s, S_SHRINK, dormant, S_SHRINK);
	add_samples(m, "boot_ms", s, S_BOOT, dormant, S_BOOT);
	add_samples(m, "call_ms", s, S_BUSY0, NULL, 0);
	add_samples(m, "touch_ms_per_mib", s, S_TOUCH, NULL, 0);
	add_samples(m, "warm_call_ms", s, S_WARM, NULL, 0);
	json_object_set_new(json_object_get(root, "mechanisms"), o->mechanism, m);
	json_object_set_new(root, "accel", json_string(e->accel));
	json_object_set_new(root, "qemu", json_string(e->qemu));
	json_object_set_new(root, "source",
			    json_string("ditto-bench vcpu --latencies-out (grow: request -> "
					"online, thread runs there; call: invoke -> answer of "
					"busy with no work through the agent, process mode; "
					"warm_call: the same, a second call in persistent mode; "
					"touch: busy's extra time per MiB it touches)"));
	char *text = json_dumps(root, JSON_INDENT(1) | JSON_REAL_PRECISION(6));
	json_decref(root);
	int r = text ? file_replace_text(o->latencies_out, text, 0644, false) : -ENOMEM;
	free(text);
	if (r < 0)
		fprintf(stderr, "ditto-bench: cannot write %s: %s\n", o->latencies_out,
			strerror(-r));
	return r;
}

/* Precreated, for the latencies file: the VM again without a standby, so its
 * grows bring a dormant vCPU online. */
static int time_dormant(struct bench_env *e, const struct bench_opts *o, const char *echo,
			struct vcpu_samples *d)
{
	if (api_client_call(&e->client, "DELETE", "/v1/vms/bench", NULL, 0, 120000, NULL) / 100 !=
	    2) {
		fprintf(stderr, "ditto-bench: cannot stop the VM\n");
		return -EIO;
	}
	/* It stops in the background; its name is free once it is gone. */
	for (int i = 0; api_client_call(&e->client, "GET", "/v1/vms/bench", NULL, 0, 10000,
					NULL) != 404;
	     i++) {
		if (i == 600) {
			fprintf(stderr, "ditto-bench: the VM did not stop\n");
			return -ETIMEDOUT;
		}
		bench_sleep_ms(50);
	}
	int r = time_boots(e, o, 1, 0, d);
	return r < 0 ? r : time_cycles(e, o, echo, NULL, d);
}

int bench_vcpu(const struct bench_opts *o)
{
	struct bench_env e;
	if (bench_env_start(&e, o) < 0)
		return -1;
	int rc = -1;
	char echo[SHA256_HEX_SIZE], busy[SHA256_HEX_SIZE];
	struct vcpu_samples s = { 0 }, d = { 0 };
	bool dormant = o->latencies_out && strcmp(o->mechanism, "precreated") == 0;
	size_t n = (size_t)o->reps + (size_t)o->boots;
	if (samples_alloc(&s, n) < 0 || samples_alloc(&d, n) < 0)
		goto out;
	const char *with_busy = o->latencies_out ? busy : NULL;
	if (bench_upload_function(&e, o, "echo", echo) < 0 ||
	    (with_busy && bench_upload_function(&e, o, "busy", busy) < 0) ||
	    time_boots(&e, o, o->boots, 1, &s) < 0 || time_cycles(&e, o, echo, with_busy, &s) < 0)
		goto out;
	long qemu_rss = -1;
	json_t *vm = NULL;
	if (api_client_call(&e.client, "GET", "/v1/vms/bench", NULL, 0, 10000, &vm) == 200)
		qemu_rss = (long)json_integer_value(json_object_get(vm, "qemu_rss_kib"));
	json_decref(vm);
	if (dormant && time_dormant(&e, o, echo, &d) < 0)
		goto out;
	report(&e, o, &s, qemu_rss);
	if (o->latencies_out && write_latencies(&e, o, &s, dormant ? &d : NULL) < 0)
		goto out;
	rc = 0;
out:
	samples_free(&s);
	samples_free(&d);
	bench_env_stop(&e);
	return rc;
}
