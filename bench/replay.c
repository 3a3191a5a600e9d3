/* ditto-bench replay: a trace's calls sent open-loop to the controller's HTTP
 * API, one policy after the other on the same arrivals, each on a fresh
 * tenant (and, when the platform is ours, a fresh controller and agent).
 *
 * The open-loop sender is replay_send.c; a second thread here samples the
 * tenant's worker vCPUs for the plots. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bench.h"
#include "replay_int.h"
#include "platform.h"
#include "policy.h"
#include "results.h"
#include "trace_cli.h"
#include "util.h"

/* The controller's limits (docs/api.md). */
#define FUNCTION_TIMEOUT_MAX_MS 300000.0
#define FUNCTION_MEMORY_MAX_MB 2048
#define FUNCTION_CONCURRENCY_MAX 1000
/* Durations are cut here unless --max-duration-ms says otherwise, so that a
 * function's timeout (twice its longest call and 10 s) stays within the
 * platform's maximum. */
#define DEFAULT_MAX_DURATION_MS 140000.0
/* A policy starts once its tenant has settled, or after this long. */
#define SETTLE_TIMEOUT_MS 60000L
#define BOOT_TIMEOUT_MS 300000L
/* Functions are offered half the worker cores unless a scaling flag says
 * otherwise: a policy that holds them all keeps room for Poisson bursts. */
#define FIT_FRACTION 0.5
#define SAMPLE_MS 250

/* ---- options ------------------------------------------------------------- */

enum {
	OPT_BUILD = 1,
	OPT_DATA,
	OPT_ACCEL,
	OPT_CORES,
	OPT_URL,
	OPT_KEY,
	OPT_MECHANISM,
	OPT_MODE,
	OPT_CALL_TIMEOUT,
	OPT_MAX_INFLIGHT,
	OPT_MAX_MEMORY,
	OPT_HELP
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ditto-bench replay --trace PATH [options]\n"
		"Sends a trace's calls open-loop through the controller's API, one policy after\n"
		"the other on the same arrivals, each on a fresh tenant, and compares them.\n"
		"%s"
		"  --build DIR           build folder (default build)\n"
		"  --data DIR            folder for the controllers' and agents' data\n"
		"  --url URL --key KEY   a running controller and its admin key instead\n"
		"  --accel auto|kvm|tcg  passed to the agent\n"
		"  --cores SPEC          agent core budget\n"
		"  --mechanism M         precreated or hotplug (default precreated)\n"
		"  --mode M              persistent (default: one long-lived process per worker\n"
		"                        vCPU and function, warm calls pay no process start) or\n"
		"                        process (a process per call)\n"
		"  --call-timeout-ms MS  give up on a call after MS (default: its function's\n"
		"                        timeout + 60 s)\n"
		"  --max-inflight N      calls in flight at most; past it the policy's run stops\n"
		"                        (default 512)\n"
		"  --max-memory-mb MB    cut each call's memory to MB (default 128)\n",
		trace_cli_usage);
}

static int parse_own(struct replay_opts *o, int opt, const char *arg)
{
	int64_t v;
	switch (opt) {
	case OPT_BUILD: o->bo.build = arg; return 0;
	case OPT_DATA: o->bo.data = arg; return 0;
	case OPT_ACCEL: o->bo.accel = arg; return 0;
	case OPT_CORES: o->bo.cores = arg; return 0;
	case OPT_URL: o->bo.url = arg; return 0;
	case OPT_KEY: o->bo.key = arg; return 0;
	case OPT_MECHANISM:
		if (strcmp(arg, "precreated") && strcmp(arg, "hotplug"))
			break;
		o->mechanism = arg;
		return 0;
	case OPT_MODE:
		if (strcmp(arg, "persistent") && strcmp(arg, "process"))
			break;
		o->mode = arg;
		return 0;
	case OPT_CALL_TIMEOUT:
		if (parse_i64(arg, 100, 3600000, &v) < 0)
			break;
		o->call_timeout_ms = (long)v;
		return 0;
	case OPT_MAX_INFLIGHT:
		if (parse_i64(arg, 1, 10000, &v) < 0)
			break;
		o->max_inflight = (int)v;
		return 0;
	case OPT_MAX_MEMORY:
		if (parse_i64(arg, 0, FUNCTION_MEMORY_MAX_MB - 64, &v) < 0)
			break;
		o->max_memory_mb = (double)v;
		return 0;
	}
	fprintf(stderr,
		"ditto-bench: bad value \"%s\" (--mechanism precreated|hotplug, --mode "
		"persistent|process, --call-timeout-ms "
		"100..3600000, --max-inflight 1..10000, --max-memory-mb 0..%d)\n",
		arg, FUNCTION_MEMORY_MAX_MB - 64);
	return -EINVAL;
}

/* Returns 0, 1 after --help, or -EINVAL after printing one line. */
static int parse_args(int argc, char **argv, struct replay_opts *o)
{
	static const struct option own[] = {
		{ "build", required_argument, NULL, OPT_BUILD },
		{ "data", required_argument, NULL, OPT_DATA },
		{ "accel", required_argument, NULL, OPT_ACCEL },
		{ "cores", required_argument, NULL, OPT_CORES },
		{ "url", required_argument, NULL, OPT_URL },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "mechanism", required_argument, NULL, OPT_MECHANISM },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "call-timeout-ms", required_argument, NULL, OPT_CALL_TIMEOUT },
		{ "max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT },
		{ "max-memory-mb", required_argument, NULL, OPT_MAX_MEMORY },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct option all[TRACE_CLI_N_OPTIONS + sizeof(own) / sizeof(own[0])];
	trace_cli_options_join(own, all, sizeof(all) / sizeof(all[0]));
	memset(o, 0, sizeof(*o));
	trace_cli_init(&o->tc);
	o->bo.build = "build";
	o->mechanism = "precreated";
	o->mode = "persistent";
	o->max_inflight = 512;
	o->max_memory_mb = 128;
	int opt, r;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", all, NULL)) != -1) {
		if (opt == OPT_HELP) {
			usage(stdout);
			return 1;
		}
		if (opt > 0 && opt < OPT_HELP)
			r = parse_own(o, opt, optarg);
		else if ((r = trace_cli_option(&o->tc, opt, optarg)) == 1)
			r = 0;
		else if (r == 0) {
			fprintf(stderr,
				"ditto-bench: replay: unknown option or missing value: %s "
				"(try --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (optind < argc) {
		fprintf(stderr, "ditto-bench: replay: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->bo.url != !o->bo.key) {
		fprintf(stderr, "ditto-bench: --url and --key go together\n");
		return -EINVAL;
	}
	return trace_cli_check(&o->tc);
}

/* ---- the sampler: the tenant's worker vCPUs over time ---------------------- */

struct sampler {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	struct api_client client;
	const char *tenant;
	long long start_us;
	struct run *run;
};

static void *sampler_main(void *data)
{
	struct sampler *sm = data;
	pthread_mutex_lock(&sm->lock);
	while (!sm->stop) {
		pthread_mutex_unlock(&sm->lock);
		struct tenant_state ts;
		long long t = now_us();
		if (platform_tenant_read(&sm->client, sm->tenant, &ts) == 0)
			run_alloc_add(sm->run, (double)(t - sm->start_us) / 1000.0, ts.workers);
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += SAMPLE_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&sm->lock);
		while (!sm->stop && pthread_cond_timedwait(&sm->cond, &sm->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&sm->lock);
	return NULL;
}

static int sampler_start(struct sampler *sm, const struct platform *p, const char *tenant,
			 struct run *run, long long start_us)
{
	memset(sm, 0, sizeof(*sm));
	sm->tenant = tenant;
	sm->run = run;
	sm->start_us = start_us;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sm->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&sm->lock, NULL);
	int r = api_client_init(&sm->client, p->url);
	if (r == 0)
		r = api_client_set_bearer(&sm->client, p->admin_key);
	if (r == 0)
		r = -pthread_create(&sm->thread, NULL, sampler_main, sm);
	if (r < 0)
		api_client_free(&sm->client);
	return r;
}

static void sampler_stop(struct sampler *sm)
{
	pthread_mutex_lock(&sm->lock);
	sm->stop = true;
	pthread_cond_signal(&sm->cond);
	pthread_mutex_unlock(&sm->lock);
	pthread_join(sm->thread, NULL);
	api_client_free(&sm->client);
	pthread_cond_destroy(&sm->cond);
	pthread_mutex_destroy(&sm->lock);
}

/* ---- one policy ------------------------------------------------------------ */

/* Each function's limits from its calls: a timeout twice its longest call and
 * 10 s, a memory limit 64 MiB above its largest; and the client's timeout. */
static int limits_compute(struct replay *R)
{
	const struct workload *w = &R->w;
	R->timeout_ms = calloc(w->n_fns ? w->n_fns : 1, sizeof(long));
	R->memory_mb = calloc(w->n_fns ? w->n_fns : 1, sizeof(long));
	if (!R->timeout_ms || !R->memory_mb)
		return -ENOMEM;
	long longest = 0;
	for (size_t i = 0; i < w->n_calls; i++) {
		const struct workload_call *c = &w->calls[i];
		double mb = fmin(c->memory_mb, R->o->max_memory_mb);
		R->memory_cut += c->memory_mb > R->o->max_memory_mb;
		long t = (long)fmin(2 * ceil(c->duration_ms) + 10000, FUNCTION_TIMEOUT_MAX_MS);
		long m = (long)fmin(llround(mb) + 64, FUNCTION_MEMORY_MAX_MB);
		if (t > R->timeout_ms[c->fn])
			R->timeout_ms[c->fn] = t;
		if (m > R->memory_mb[c->fn])
			R->memory_mb[c->fn] = m;
		if (t > longest)
			longest = t;
	}
	R->call_timeout_ms = R->o->call_timeout_ms ? R->o->call_timeout_ms : longest + 60000;
	return 0;
}

/* Creates the tenant, sets its policy and deploys the functions with calls. */
static int tenant_prepare(const struct replay *R, struct platform *p, const char *tenant,
			  const char *policy)
{
	int r = platform_tenant_create(p, tenant);
	char scaling[256], query[160];
	snprintf(scaling, sizeof(scaling),
		 "{\"min\":0,\"max\":%d,\"mechanism\":\"%s\",\"policy\":\"%s\"}", R->worker_cores,
		 R->o->mechanism, policy);
	if (r == 0)
		r = platform_tenant_scaling(p, tenant, scaling);
	for (size_t i = 0; r == 0 && i < R->w.n_fns; i++) {
		if (R->w.fns[i].calls == 0)
			continue;
		snprintf(query, sizeof(query), "mode=%s&timeout=%ld&memory=%ld&max_concurrency=%d",
			 R->o->mode, R->timeout_ms[i], R->memory_mb[i] > 16 ? R->memory_mb[i] : 16,
			 FUNCTION_CONCURRENCY_MAX);
		r = platform_deploy(p, R->w.fns[i].name, R->busy, R->busy_len, query);
	}
	return r;
}

/* The worker vCPUs a policy rests at with nothing to do (-1: do not wait). */
static int resting_workers(const char *spec, int max)
{
	struct policy pol;
	if (policy_parse(spec, &pol) < 0 || policy_is_scale_out(&pol))
		return -1;
	if (pol.kind == POLICY_FIXED)
		return pol.workers == POLICY_WORKERS_MAX || pol.workers > max ? max : pol.workers;
	return 0;
}

/* Boots the tenant's VM with a first call and waits until it rests. */
static int tenant_warm(const struct replay *R, struct platform *p, const char *tenant,
		       const char *policy)
{
	size_t fn = R->w.calls[0].fn;
	char path[160];
	snprintf(path, sizeof(path), "/v1/functions/%s/invoke", R->w.fns[fn].name);
	const char *body = "{\"ms\":0,\"mb\":0}";
	int st = api_client_call(&p->tenant, "POST", path, body, strlen(body), BOOT_TIMEOUT_MS,
				 NULL);
	if (st != 200) {
		fprintf(stderr, "ditto-bench: %s: the first call failed (%d)\n", policy, st);
		return -EIO;
	}
	int want = resting_workers(policy, R->worker_cores);
	long long deadline = now_us() + SETTLE_TIMEOUT_MS * 1000LL;
	struct tenant_state ts = { 0 };
	while (want >= 0) {
		if (platform_tenant_read(&p->admin, tenant, &ts) == 0 && ts.workers == want)
			return 0;
		if (now_us() > deadline) {
			fprintf(stderr, "ditto-bench: %s: starting with %d worker vCPUs, not %d\n",
				policy, ts.workers, want);
			return 0;
		}
		/* Worker counts arrive on heartbeats: nothing to wait on but them. */
		bench_sleep_ms(100);
	}
	return 0;
}

/* An invocation id and the VM that ran it, from the records. */
struct id_vm {
	char id[ID_SIZE];
	char vm[64];
	int cpu;
};

static int id_vm_cmp(const void *a, const void *b)
{
	return strcmp(((const struct id_vm *)a)->id, ((const struct id_vm *)b)->id);
}

/* Reads up to max records of the tenant (newest first). */
static int records_read(struct platform *p, size_t max, struct id_vm **ret, size_t *ret_n)
{
	struct id_vm *v = NULL;
	size_t n = 0, cap = 0;
	char cursor[128] = "", path[256];
	int r = 0;
	do {
		snprintf(path, sizeof(path), "/v1/invocations?limit=1000%s%s",
			 cursor[0] ? "&cursor=" : "", cursor);
		json_t *reply = NULL, *rec;
		if (api_client_call(&p->tenant, "GET", path, NULL, 0, 30000, &reply) != 200) {
			json_decref(reply);
			break;
		}
		size_t i;
		json_array_foreach(json_object_get(reply, "invocations"), i, rec)
		{
			if ((r = array_reserve(&v, &cap, n + 1, sizeof(*v), 1024)) < 0)
				break;
			const char *id = json_string_value(json_object_get(rec, "id"));
			const char *vm = json_string_value(json_object_get(rec, "vm"));
			json_t *cpu = json_object_get(rec, "cpu");
			snprintf(v[n].id, sizeof(v[n].id), "%s", id ? id : "");
			snprintf(v[n].vm, sizeof(v[n].vm), "%s", vm ? vm : "");
			v[n++].cpu = json_is_integer(cpu) ? (int)json_integer_value(cpu) : -1;
		}
		const char *next = json_string_value(json_object_get(reply, "next_cursor"));
		snprintf(cursor, sizeof(cursor), "%s", next ? next : "");
		json_decref(reply);
	} while (r == 0 && cursor[0] && n < max);
	qsort(v, n, sizeof(*v), id_vm_cmp);
	*ret = v;
	*ret_n = n;
	return r;
}

/* Fills each call's VM (and vCPU when its reply did not say) from the
 * records. */
static void records_join(struct platform *p, const struct sender *s, struct run *run, size_t n)
{
	struct id_vm *v, key;
	size_t nv;
	if (records_read(p, n + 1000, &v, &nv) < 0) {
		free(v);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(key.id, sizeof(key.id), "%s", s->ids[i]);
		struct id_vm *hit = key.id[0] ? bsearch(&key, v, nv, sizeof(*v), id_vm_cmp) : NULL;
		if (!hit)
			continue;
		snprintf(run->calls[i].vm, sizeof(run->calls[i].vm), "%s", hit->vm);
		if (run->calls[i].vcpu < 0)
			run->calls[i].vcpu = hit->cpu;
	}
	free(v);
}

static void print_run(const struct sender *s, const struct run *run, size_t n_calls)
{
	size_t failed = 0;
	for (size_t i = 0; i < n_calls; i++)
		failed += run->calls[i].status != CALL_OK;
	fprintf(stderr,
		"ditto-bench: %s: %zu calls in %.1f s, %zu not ok, sender at most %.1f ms "
		"late\n",
		run->policy, n_calls, run->wall_s, failed, (double)s->late_us / 1000);
	if (s->first_failure[0])
		fprintf(stderr, "ditto-bench: %s: first failure: %s\n", run->policy,
			s->first_failure);
}

/* Runs the workload under one policy on a fresh tenant of p. */
static int run_policy(const struct replay *R, struct platform *p, size_t k, struct run *run)
{
	char tenant[64];
	snprintf(tenant, sizeof(tenant), "replay-%ld-%zu", (long)getpid(), k);
	int r = tenant_prepare(R, p, tenant, run->policy);
	if (r == 0)
		r = tenant_warm(R, p, tenant, run->policy);
	if (r < 0)
		return r;
	struct tenant_state before, after;
	platform_tenant_read(&p->admin, tenant, &before);
	struct sender s;
	struct sampler sm;
	if ((r = sender_init(&s, R, p->url, p->tenant_key, run)) < 0 ||
	    (r = sampler_start(&sm, p, tenant, run, now_us())) < 0) {
		sender_free(&s);
		fprintf(stderr, "ditto-bench: %s: cannot start: %s\n", run->policy, strerror(-r));
		return r;
	}
	r = sender_run(&s);
	run->wall_s = (double)(now_us() - s.start_us) / 1e6;
	sampler_stop(&sm);
	platform_tenant_read(&p->admin, tenant, &after);
	if (before.has_vcpu_s && after.has_vcpu_s) {
		run->vcpu_s_allocated = after.vcpu_s_allocated - before.vcpu_s_allocated;
		run->vcpu_s_busy = after.vcpu_s_busy - before.vcpu_s_busy;
	} else {
		fprintf(stderr, "ditto-bench: %s: the controller reports no vcpu_s\n", run->policy);
	}
	records_join(p, &s, run, R->w.n_calls);
	print_run(&s, run, R->w.n_calls);
	sender_free(&s);
	/* On a platform it did not start, leaves the cores to the next policy. */
	if (p->agent.pid <= 0)
		platform_tenant_scaling(p, tenant, "{\"min\":0,\"policy\":\"fixed:0\"}");
	return r == -EAGAIN ? 0 : r;
}

/* ---- the command ----------------------------------------------------------- */

/* Starts the platform policy k runs on: its own controller and agent in
 * DATA/K unless --url names one. */
static int platform_for(struct platform *p, const struct replay_opts *o, struct bench_opts *bo,
			char *dir, size_t size, size_t k)
{
	*bo = o->bo;
	if (!o->bo.url) {
		snprintf(dir, size, "%s/%zu", o->bo.data, k);
		int r = mkdir_parents(dir, 0755);
		if (r < 0) {
			fprintf(stderr, "ditto-bench: cannot create %s: %s\n", dir, strerror(-r));
			return r;
		}
		bo->data = dir;
	}
	return platform_start(p, bo);
}

/* Checks the window, the selection and the scales before any platform
 * starts (the load is fitted to the cores only once they are known). */
static int workload_check(struct replay_opts *o, const struct trace *t)
{
	struct workload_opts *wo = &o->tc.wl;
	if (wo->max_duration_ms == 0)
		wo->max_duration_ms = DEFAULT_MAX_DURATION_MS;
	if (wo->max_duration_ms > (FUNCTION_TIMEOUT_MAX_MS - 10000) / 2) {
		fprintf(stderr,
			"ditto-bench: replay: --max-duration-ms at most %.0f (a function's "
			"timeout is twice its longest call and 10 s, at most %.0f)\n",
			(FUNCTION_TIMEOUT_MAX_MS - 10000) / 2, FUNCTION_TIMEOUT_MAX_MS);
		return -EINVAL;
	}
	struct workload w;
	char err[512];
	if (workload_build(t, wo, &w, err, sizeof(err)) < 0) {
		fprintf(stderr, "ditto-bench: replay: %s\n", err);
		return -EINVAL;
	}
	workload_free(&w);
	return 0;
}

/* Builds the workload for the worker cores found, and says what it sends. */
static int workload_for(struct replay *R, struct replay_opts *o, const struct trace *t)
{
	struct workload_opts *wo = &o->tc.wl;
	wo->fit_cores = R->worker_cores * FIT_FRACTION;
	char err[512];
	if (workload_build(t, wo, &R->w, err, sizeof(err)) < 0) {
		fprintf(stderr, "ditto-bench: replay: %s\n", err);
		return -EINVAL;
	}
	int r = limits_compute(R);
	if (r < 0)
		return r;
	fprintf(stderr,
		"ditto-bench: replay: %zu calls of %zu functions, minutes %d..%d, %.1f s; offered "
		"load %.2f cores on %d worker cores (%s)\n",
		R->w.n_calls, R->w.n_fns, R->w.start_minute, R->w.start_minute + R->w.minutes - 1,
		R->w.duration_ms / 1000, R->w.offered_cores, R->worker_cores, R->w.scaling);
	if (R->w.cut_durations || R->memory_cut)
		fprintf(stderr,
			"ditto-bench: replay: %zu durations cut to %.0f ms, %zu memory sizes cut to "
			"%.0f MiB\n",
			R->w.cut_durations, wo->max_duration_ms, R->memory_cut, o->max_memory_mb);
	return 0;
}

static int report(const struct replay *R, const struct run *runs, size_t n)
{
	const struct replay_opts *o = R->o;
	json_t *extra = json_pack("{s:s, s:i, s:s, s:s, s:f, s:I}", "accel", R->accel,
				  "worker_cores", R->worker_cores, "mechanism", o->mechanism,
				  "mode", o->mode, "max_memory_mb", o->max_memory_mb, "memory_cut",
				  (json_int_t)R->memory_cut);
	json_t *sum = results_summary(&R->w, runs, n, extra);
	json_decref(extra);
	if (!sum)
		return -ENOMEM;
	if (o->tc.json) {
		json_dumpf(sum, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
		fputc('\n', stdout);
	} else {
		results_print_table(stdout, &R->w, runs, n);
	}
	json_decref(sum);
	int r = 0;
	if (o->tc.csv && (r = results_write_csv(o->tc.csv, &R->w, runs, n)) < 0)
		fprintf(stderr, "ditto-bench: cannot write %s: %s\n", o->tc.csv, strerror(-r));
	char err[512];
	if (r == 0 && o->tc.plots &&
	    (r = results_plots(o->tc.plots, &R->w, runs, n, err, sizeof(err))) < 0)
		fprintf(stderr, "ditto-bench: plots: %s\n", err);
	return r;
}

/* Runs every policy, each on its own platform unless one was given. */
static int run_all(struct replay *R, struct platform *p, struct run *runs)
{
	const struct replay_opts *o = R->o;
	struct bench_opts bo;
	char dir[600];
	int r = 0;
	for (size_t k = 0; r == 0 && k < o->tc.n_policies; k++) {
		if (k > 0 && !o->bo.url)
			r = platform_for(p, o, &bo, dir, sizeof(dir), k);
		if (r == 0)
			r = run_init(&runs[k], &R->w, o->tc.policies[k]);
		fprintf(stderr, "ditto-bench: replay: %s\n", o->tc.policies[k]);
		if (r == 0)
			r = run_policy(R, p, k, &runs[k]);
		if (!o->bo.url)
			platform_stop(p);
	}
	if (o->bo.url)
		platform_stop(p);
	return r;
}

static void fd_limit_raise(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int bench_replay(int argc, char **argv)
{
	struct replay_opts o;
	int r = parse_args(argc, argv, &o);
	if (r != 0)
		return r > 0 ? 0 : 2;
	fd_limit_raise();
	struct trace t;
	char err[512], tmp[] = "/tmp/ditto-replay.XXXXXX", dir[600];
	if (trace_load(o.tc.trace, o.tc.day, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "ditto-bench: %s\n", err);
		return 2;
	}
	if (workload_check(&o, &t) < 0) {
		trace_free(&t);
		return 2;
	}
	if (!o.bo.data && !o.bo.url && !(o.bo.data = mkdtemp(tmp))) {
		fprintf(stderr, "ditto-bench: cannot create a data folder: %s\n", strerror(errno));
		trace_free(&t);
		return 1;
	}
	struct replay R = { .o = &o };
	struct platform p;
	struct bench_opts bo;
	struct run *runs = calloc(o.tc.n_policies, sizeof(*runs));
	r = runs ? bench_read_function(&o.bo, "busy", &R.busy, &R.busy_len) : -ENOMEM;
	if (r == 0 && (r = platform_for(&p, &o, &bo, dir, sizeof(dir), 0)) < 0)
		platform_stop(&p);
	if (r == 0) {
		R.worker_cores = p.cores;
		snprintf(R.accel, sizeof(R.accel), "%s", p.accel);
		if ((r = workload_for(&R, &o, &t)) < 0)
			platform_stop(&p);
	}
	if (r == 0 && (r = run_all(&R, &p, runs)) == 0)
		r = report(&R, runs, o.tc.n_policies);
	for (size_t k = 0; runs && k < o.tc.n_policies; k++)
		run_free(&runs[k]);
	free(runs);
	free(R.busy);
	free(R.timeout_ms);
	free(R.memory_mb);
	workload_free(&R.w);
	trace_free(&t);
	return r < 0 ? 1 : 0;
}
