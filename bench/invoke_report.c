/* ditto-bench invoke's report: the table and the JSON object of
 * docs/benchmarks.md, from what invoke.c measured. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "invoke_int.h"

static const char *const hop_names[HOP_COUNT] = {
	"client + HTTP to the controller",
	"controller",
	"controller -> agent link",
	"agent (virtio-serial, guest kernel)",
	"guest daemon",
	"function",
	"platform share outside the guest",
	"client round trip",
	"client sealing + opening (--encrypted)",
};
static const char *const hop_keys[HOP_COUNT] = { "client",        "controller", "link",
						 "agent",         "guest",      "function",
						 "outside_guest", "rtt",        "client_e2e" };

static long long hop_us(const struct sample *s, enum hop h)
{
	switch (h) {
	case HOP_CLIENT: return s->rtt - s->total;
	case HOP_CONTROLLER: return s->controller;
	case HOP_LINK: return s->total - s->controller - s->agent;
	case HOP_AGENT: return s->agent - s->guest;
	case HOP_GUEST: return s->guest - s->function;
	case HOP_FUNCTION: return s->function;
	case HOP_OUTSIDE: return s->rtt - s->guest;
	case HOP_E2E: return s->e2e;
	default: return s->rtt + s->late;
	}
}

static void errors_name(int kind, char *buf, size_t size, bool key)
{
	if (kind == ERR_NO_ANSWER)
		snprintf(buf, size, key ? "no_answer" : "no answer");
	else if (kind == ERR_WRONG_BODY)
		snprintf(buf, size, key ? "wrong_body" : "200 with a wrong body");
	else if (kind == ERR_NO_TIMING)
		snprintf(buf, size, key ? "no_timing" : "200 without X-Ditto-Timing");
	else
		snprintf(buf, size, key ? "http_%d" : "HTTP %d", kind);
}

static json_t *errors_json(const struct errors *e)
{
	json_t *o = json_object();
	for (int i = 0; i < e->n; i++) {
		char k[32];
		errors_name(e->kind[i], k, sizeof(k), true);
		json_object_set_new(o, k, json_integer(e->count[i]));
	}
	return o;
}

static void errors_print(const struct errors *e)
{
	for (int i = 0; i < e->n; i++) {
		char k[48];
		errors_name(e->kind[i], k, sizeof(k), false);
		printf("%s%s x %ld", i ? ", " : "", k, e->count[i]);
	}
}

static const char *const cpu_names[CPU_COUNT] = { "client (this program)", "controller", "agent",
						  "QEMU (the guest)" };
static const char *const cpu_keys[CPU_COUNT] = { "client", "controller", "agent", "qemu" };

static void hop_stats(const struct samples *s, enum hop h, struct stats *ret)
{
	double *v = malloc((s->n ? s->n : 1) * sizeof(*v));
	if (!v) {
		memset(ret, 0, sizeof(*ret));
		return;
	}
	for (size_t i = 0; i < s->n; i++)
		v[i] = (double)hop_us(&s->v[i], h);
	stats_compute(v, s->n, ret);
	free(v);
}

static json_t *latency_json(const struct stats *s)
{
	return json_pack("{s:f, s:f, s:f, s:f, s:f}", "p50", s->p50 / 1000, "p90", s->p90 / 1000,
			 "p99", s->p99 / 1000, "p999", s->p999 / 1000, "max", s->max / 1000);
}

/* The call with the longest round trip, to tell where a tail came from. */
static const struct sample *slowest(const struct samples *s)
{
	const struct sample *m = NULL;
	for (size_t i = 0; i < s->n; i++)
		if (!m || s->v[i].rtt > m->rtt)
			m = &s->v[i];
	return m;
}

static json_t *hops_json(const struct samples *s)
{
	json_t *o = json_object();
	for (int h = 0; h < HOP_COUNT; h++) {
		struct stats st;
		hop_stats(s, (enum hop)h, &st);
		json_object_set_new(o, hop_keys[h],
				    json_pack("{s:f, s:f}", "p50", st.p50, "p99", st.p99));
	}
	return o;
}

/* CPU time per call (ok or not) and the cores it kept busy, or false when
 * that process's time is not known. */
static bool cpu_share(const struct run *r, int k, double *ret_us_per_call, double *ret_cores)
{
	long calls = (long)r->samples.n + r->errors.total;
	if (r->cpu_us[k] < 0 || calls == 0 || r->elapsed_s <= 0)
		return false;
	*ret_us_per_call = (double)r->cpu_us[k] / (double)calls;
	*ret_cores = (double)r->cpu_us[k] / 1e6 / r->elapsed_s;
	return true;
}

/* The bare round trips' p50 and p99; false when none were read. */
static bool virtio_stats(const struct run *r, struct stats *ret)
{
	if (r->virtio.n == 0)
		return false;
	double *v = malloc(r->virtio.n * sizeof(*v));
	if (!v)
		return false;
	memcpy(v, r->virtio.v, r->virtio.n * sizeof(*v));
	stats_compute(v, r->virtio.n, ret);
	free(v);
	return ret->p50 > 0;
}

/* The warm round trip's p50 over the bare round trip's, or -1. */
static double rtt_ratio(const struct run *r)
{
	struct stats lat, bare;
	if (!virtio_stats(r, &bare) || r->samples.n == 0)
		return -1;
	hop_stats(&r->samples, HOP_RTT, &lat);
	return lat.p50 / bare.p50;
}

/* What a run adds to today's shape: the bare round trip and its ratio, CPU
 * per call of the platform's processes (null: not known), and the open
 * loop's rates and drops. */
static void run_json_add(json_t *o, const struct run *r, const struct bench_opts *opts)
{
	struct stats bare;
	double ratio = rtt_ratio(r);
	json_object_set_new(o, "virtio_rtt_us",
			    virtio_stats(r, &bare)
				    ? json_pack("{s:f, s:f}", "p50", bare.p50, "p99", bare.p99)
				    : json_null());
	json_object_set_new(o, "rtt_ratio", ratio >= 0 ? json_real(ratio) : json_null());
	json_t *cpu = json_object();
	for (int k = CPU_CONTROLLER; k < CPU_COUNT; k++) {
		double per_call, cores;
		json_object_set_new(cpu, cpu_keys[k],
				    cpu_share(r, k, &per_call, &cores) ? json_real(per_call)
								       : json_null());
	}
	json_object_set_new(o, "cpu_us_per_call", cpu);
	json_t *ctl = json_array();
	for (int k = 0; k < BENCH_CONTROLLERS_MAX && r->ctl_cpu_us[k] >= 0; k++)
		json_array_append_new(ctl, json_integer(r->ctl_cpu_us[k]));
	json_object_set_new(o, "controllers_cpu_us", ctl);
	double seconds = r->offered > 0 ? (double)r->offered / opts->rate : 0;
	json_object_set_new(o, "offered_rate",
			    opts->rate && seconds > 0 ? json_real(r->offered / seconds)
						      : json_null());
	json_object_set_new(o, "achieved_rate", json_real(r->throughput));
	json_object_set_new(o, "offered", opts->rate ? json_integer(r->offered) : json_null());
	json_object_set_new(o, "dropped", json_integer(r->dropped));
}

static json_t *run_json(const struct run *r, const struct bench_opts *opts)
{
	struct stats lat;
	hop_stats(&r->samples, HOP_RTT, &lat);
	json_t *cpu = json_object();
	for (int k = 0; k < CPU_COUNT; k++) {
		double per_call, cores;
		if (cpu_share(r, k, &per_call, &cores))
			json_object_set_new(
				cpu, cpu_keys[k],
				json_pack("{s:f, s:f}", "us_per_call", per_call, "cores", cores));
	}
	json_t *worst = json_object();
	const struct sample *m = slowest(&r->samples);
	for (int h = 0; m && h < HOP_COUNT; h++)
		json_object_set_new(worst, hop_keys[h], json_integer(hop_us(m, (enum hop)h)));
	json_t *o = json_pack("{s:I, s:f, s:f, s:o, s:I, s:o, s:I, s:o, s:o, s:o}", "calls",
			      (json_int_t)r->samples.n, "elapsed_s", r->elapsed_s, "throughput",
			      r->throughput, "latency_ms", latency_json(&lat), "errors",
			      (json_int_t)r->errors.total, "errors_by_kind",
			      errors_json(&r->errors), "cold_starts", (json_int_t)r->cold_starts,
			      "hops_us", hops_json(&r->samples), "slowest_us", worst, "cpu", cpu);
	if (o)
		run_json_add(o, r, opts);
	return o;
}

static void print_run_row(const char *label, const struct run *r, double throughput)
{
	struct stats lat;
	hop_stats(&r->samples, HOP_RTT, &lat);
	printf("%-4s %9zu %9.1f %8.2f %8.2f %8.2f %9.2f %8.2f %7ld\n", label, r->samples.n,
	       throughput, lat.p50 / 1000, lat.p90 / 1000, lat.p99 / 1000, lat.p999 / 1000,
	       lat.max / 1000, r->errors.total);
}

/* The cold-start targets under TCG, in ms; 0 when none. */
static int cold_target_ms(const char *runtime)
{
	return strcmp(runtime, "python3") == 0 ? 1500 : strcmp(runtime, "nodejs") == 0 ? 2500 : 0;
}

static json_t *cold_json(const struct cold *c, const char *runtime)
{
	struct stats rtt, fn;
	hop_stats(&c->samples, HOP_RTT, &rtt);
	hop_stats(&c->samples, HOP_FUNCTION, &fn);
	int target = cold_target_ms(runtime);
	return json_pack("{s:i, s:I, s:i, s:I, s:o, s:o, s:o, s:o}", "versions", c->versions,
			 "calls", (json_int_t)c->samples.n, "not_cold", (int)c->not_cold, "errors",
			 (json_int_t)c->errors.total, "errors_by_kind", errors_json(&c->errors),
			 "latency_ms", latency_json(&rtt), "function_ms", latency_json(&fn),
			 "target_ms", target ? json_integer(target) : json_null());
}

static void print_cold(const struct cold *c, const struct run *all, const char *runtime)
{
	struct stats rtt, fn, warm;
	hop_stats(&all->samples, HOP_RTT, &warm);
	printf("warm calls (%s, the runs above): p50 %.2f ms, p99 %.2f ms\n", runtime,
	       warm.p50 / 1000, warm.p99 / 1000);
	if (c->versions == 0)
		return;
	hop_stats(&c->samples, HOP_RTT, &rtt);
	hop_stats(&c->samples, HOP_FUNCTION, &fn);
	printf("cold start (%s, the first call of each of %d fresh versions, %zu reported cold):\n"
	       "  round trip p50 %.1f ms, p90 %.1f ms, max %.1f ms; in the guest (process start,\n"
	       "  import, call) p50 %.1f ms, max %.1f ms",
	       runtime, c->versions, c->samples.n, rtt.p50 / 1000, rtt.p90 / 1000, rtt.max / 1000,
	       fn.p50 / 1000, fn.max / 1000);
	int target = cold_target_ms(runtime);
	if (target && c->samples.n)
		printf("; target p50 <= %d ms: %s", target,
		       rtt.p50 <= target * 1000.0 ? "met" : "NOT met");
	printf("\n");
	if (c->not_cold || c->errors.total) {
		printf("cold start calls not reported cold: %ld; failed: ", c->not_cold);
		errors_print(&c->errors);
		printf("\n");
	}
}

/* What --encrypted ran on: sealed to keys whose evidence verified, or not. */
static const char *e2e_label(const struct bench_opts *o, const struct bench_e2e *e2e)
{
	if (!o->encrypted)
		return "plain";
	return e2e->confidential ? "encrypted end to end, confidential (SEV-SNP evidence verified)"
				 : "encrypted end to end, NOT CONFIDENTIAL (no SEV-SNP evidence)";
}

/* The bare round trip beside the hops, and the warm round trip over it. */
static void print_virtio(const struct run *all)
{
	struct stats bare;
	if (!virtio_stats(all, &bare)) {
		printf("%-40s %9s %9s\n", "bare virtio-serial round trip (agent)", "unknown",
		       "unknown");
		return;
	}
	printf("%-40s %9.0f %9.0f\n", "bare virtio-serial round trip (agent)", bare.p50, bare.p99);
	printf("(each row is its own percentile, so the rows need not add up; the bare round\n"
	       " trip is %zu pings by the agent around the runs; warm round trip p50 / bare\n"
	       " p50 = %.1f)\n",
	       all->virtio.n, rtt_ratio(all));
}

/* CPU per call of each process; the ones not started here are unknown. */
static void print_cpu(const struct run *all)
{
	printf("\n%-40s %9s %9s\n", "CPU time during the timed runs", "us/call", "cores");
	for (int k = 0; k < CPU_COUNT; k++) {
		double per_call, cores;
		if (cpu_share(all, k, &per_call, &cores))
			printf("%-40s %9.0f %9.2f\n", cpu_names[k], per_call, cores);
		else
			printf("%-40s %9s %9s\n", cpu_names[k], "unknown", "unknown");
	}
	if (all->cpu_us[CPU_CONTROLLER] < 0 || all->cpu_us[CPU_QEMU] < 0)
		printf("(unknown: a process this program did not start, as with --url)\n");
}

/* --rate: what was offered, what got through, what was dropped. */
static void print_open_loop(const struct bench_opts *o, const struct run *runs,
			    const struct run *all)
{
	printf("\nopen loop at %d calls/s, at most %d outstanding; latency from each call's due "
	       "time\n",
	       o->rate, o->concurrency);
	printf("%-4s %9s %10s %9s %9s\n", "run", "offered", "achieved/s", "sent", "dropped");
	for (int i = 0; i <= o->reps; i++) {
		const struct run *r = i < o->reps ? &runs[i] : all;
		char label[16];
		snprintf(label, sizeof(label), i < o->reps ? "%d" : "all", i + 1);
		printf("%-4s %9lld %10.1f %9lld %9lld\n", label, r->offered, r->throughput,
		       (long long)r->samples.n + r->errors.total, r->dropped);
	}
}

static void print_hops(const struct run *all)
{
	printf("\n%-40s %9s %9s\n", "where the time goes, all calls", "p50 us", "p99 us");
	for (int h = 0; h < HOP_COUNT; h++) {
		struct stats st;
		hop_stats(&all->samples, (enum hop)h, &st);
		printf("%-40s %9.0f %9.0f\n", hop_names[h], st.p50, st.p99);
	}
	print_virtio(all);
	const struct sample *m = slowest(&all->samples);
	if (m)
		printf("slowest call: %.2f ms = client+HTTP %lld + controller %lld + link %lld + agent %lld "
		       "+ guest daemon %lld + function %lld us\n",
		       (double)m->rtt / 1000, hop_us(m, HOP_CLIENT), hop_us(m, HOP_CONTROLLER),
		       hop_us(m, HOP_LINK), hop_us(m, HOP_AGENT), hop_us(m, HOP_GUEST),
		       hop_us(m, HOP_FUNCTION));
}

/* The store the controllers started here run on; NULL for one not ours. */
static const char *store_name(const struct bench_opts *o)
{
	return o->url ? NULL : bench_store_is_postgres(o) ? "postgres" : "sqlite";
}

void invoke_print_text(const struct invoke_result *res)
{
	const struct platform *p = res->p;
	const struct bench_opts *o = res->o;
	const struct run *runs = res->runs, *all = res->all;
	const struct records *rec = res->rec;
	printf("ditto-bench invoke: echo (%s, persistent) client -> controller -> agent -> guest "
	       "VM, %s\n",
	       o->runtime, e2e_label(o, res->e2e));
	printf("accel=%s qemu=%s host cores=%d worker vCPUs=%d (fixed:%d) concurrency=%d, %s, "
	       "%d x %d s after %d s of warm-up\n",
	       p->accel, p->qemu, p->cores, p->workers, p->workers, o->concurrency,
	       o->rate ? "open loop" : "closed loop", o->reps, o->duration_s, o->warmup_s);
	printf("store=%s controllers=%d (calls round robin over them)\n",
	       o->url ? "unknown" : store_name(o), p->n_controllers);
	printf("\n%-4s %9s %9s %8s %8s %8s %9s %8s %7s\n", "run", "ok calls", "inv/s", "p50 ms",
	       "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors");
	for (int i = 0; i < o->reps; i++) {
		char label[16];
		snprintf(label, sizeof(label), "%d", i + 1);
		print_run_row(label, &runs[i], runs[i].throughput);
	}
	print_run_row("all", all, res->tput);
	printf("(all: inv/s is the median of the runs; latencies are over every call)\n");
	if (o->rate)
		print_open_loop(o, runs, all);
	print_hops(all);
	print_cpu(all);
	printf("\nerrors: ");
	if (all->errors.total == 0)
		printf("none");
	errors_print(&all->errors);
	printf("\ncold starts during the timed runs: %ld\n", all->cold_starts);
	print_cold(res->cold, all, o->runtime);
	if (rec->n > 0)
		printf("controller resident memory with %ld invocation records: %.1f MiB "
		       "(%d async calls submitted in %.1f s, all run %.1f s later; %ld of the kept "
		       "records ok)\n",
		       rec->stored, rec->rss_kib / 1024.0, rec->n, rec->submit_s, rec->drain_s,
		       rec->ok);
	if (res->rss_end >= 0)
		printf("controller resident memory at the end: %.1f MiB\n", res->rss_end / 1024.0);
}

void invoke_print_json(const struct invoke_result *res)
{
	const struct platform *p = res->p;
	const struct bench_opts *o = res->o;
	const struct run *runs = res->runs, *all = res->all;
	const struct records *rec = res->rec;
	const struct bench_e2e *e2e = res->e2e;
	json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i}",
				"benchmark", "invoke", "function", "echo", "mode", "persistent",
				"accel", p->accel, "qemu", p->qemu, "host_cores", p->cores,
				"workers", p->workers, "concurrency", o->concurrency, "duration_s",
				o->duration_s, "warmup_s", o->warmup_s, "reps", o->reps);
	json_t *arr = json_array();
	for (int i = 0; i < o->reps; i++)
		json_array_append_new(arr, run_json(&runs[i], o));
	json_object_set_new(out, "runs", arr);
	json_object_set_new(out, "encrypted", json_boolean(o->encrypted));
	json_object_set_new(out, "evidence",
			    o->encrypted ? json_string(e2e->evidence) : json_null());
	json_object_set_new(out, "confidential", json_boolean(o->encrypted && e2e->confidential));
	json_t *overall = run_json(all, o);
	json_object_set_new(overall, "throughput", json_real(res->tput));
	json_object_set_new(overall, "throughput_is", json_string("median of the runs"));
	json_object_set_new(out, "overall", overall);
	json_object_set_new(out, "runtime", json_string(o->runtime));
	struct stats warm;
	hop_stats(&all->samples, HOP_RTT, &warm);
	json_object_set_new(out, "warm_latency_ms", latency_json(&warm));
	json_object_set_new(out, "cold_start", cold_json(res->cold, o->runtime));
	json_object_set_new(out, "loop", json_string(o->rate ? "open" : "closed"));
	json_object_set_new(out, "rate", o->rate ? json_integer(o->rate) : json_null());
	/* The controller's link to the agent, when the bench started the controller. */
	json_object_set_new(out, "agent_link",
			    o->url ? json_null()
				   : json_string(o->agent_link ? o->agent_link : "stream"));
	json_object_set_new(out, "store", store_name(o) ? json_string(store_name(o)) : json_null());
	json_object_set_new(out, "controllers", json_integer(p->n_controllers));
	json_object_set_new(out, "controller_rss_kib",
			    res->rss_end >= 0 ? json_integer(res->rss_end) : json_null());
	if (rec->n > 0)
		json_object_set_new(
			out, "records",
			json_pack("{s:i, s:f, s:f, s:I, s:I, s:o}", "submitted", rec->n, "submit_s",
				  rec->submit_s, "drain_s", rec->drain_s, "stored",
				  (json_int_t)rec->stored, "ok", (json_int_t)rec->ok,
				  "controller_rss_kib",
				  rec->rss_kib >= 0 ? json_integer(rec->rss_kib) : json_null()));
	char *text = json_dumps(out, JSON_INDENT(2));
	printf("%s\n", text);
	free(text);
	json_decref(out);
}