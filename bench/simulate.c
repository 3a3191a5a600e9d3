/* ditto-bench simulate: a trace through the simulator (sim.h), with the
 * flags of ditto-bench replay (trace_cli.h) and its outputs (results.h),
 * and --compare against a replay's --json summary. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sim.h"
#include "trace_cli.h"
#include "util.h"

/* The model's flags, beside the trace's. */
struct sim_cli {
	struct trace_cli tc;
	struct sim_config cfg;
	enum sim_tenancy tenancy;
	const char *mechanism;
	const char *latencies;
	const char *compare;
	bool peak_max; /* each tenant's max is its peak (sim_tenant_peaks) */
};

/* Everything a simulation reads, loaded once for all its policies. */
struct sim_inputs {
	struct trace trace;
	struct workload w;
	struct sim_latencies lat;
	uint32_t *tenant_of;
	int *tenant_maxes;
	char latencies_path[1024];
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ditto-bench simulate --trace PATH [options]\n"
		"  the workload replay would send, through a model of the platform, for each\n"
		"  policy; prints replay's summary (same JSON with \"simulated\": true)\n"
		"%s"
		"  --hosts H             hosts (default 1)\n"
		"  --host-cores C        worker cores per host (default %d)\n"
		"  --tenants one|app|owner  every function in one tenant (default), or one tenant\n"
		"                        per trace application or owner\n"
		"  --tenant-max N|peak   worker vCPUs (scale-out: VMs) per tenant at most; peak\n"
		"                        (default): the most calls of the tenant in flight at\n"
		"                        once if each ran on arrival, at most the host's cores\n"
		"  --tenant-min N        worker vCPUs (scale-out: VMs) per tenant kept (default 0)\n"
		"  --mechanism M         precreated or hotplug latencies (default precreated)\n"
		"  --latencies FILE      measured latencies (ditto-bench vcpu --latencies-out;\n"
		"                        default the shipped %s)\n"
		"  --cold-vms            tenants' VMs boot on their first call (default: up)\n"
		"  --mode M              persistent (default, as replay: a function's first call\n"
		"                        on a worker vCPU starts its process, later ones are warm)\n"
		"                        or process (every call starts one)\n"
		"  --max-memory-mb MB    the memory a call touches is cut to MB (default %d, as\n"
		"                        replay deploys; 0: calls touch none)\n"
		"  --compare FILE        a replay's --json summary of the same workload: print\n"
		"                        the differences in latency and allocated vCPU-seconds\n",
		trace_cli_usage, SIM_DEFAULT_HOST_CORES, SIM_LATENCIES_DEFAULT,
		SIM_DEFAULT_MAX_MEMORY_MB);
}

enum {
	OPT_HOSTS = 1,
	OPT_HOST_CORES,
	OPT_TENANTS,
	OPT_TENANT_MAX,
	OPT_TENANT_MIN,
	OPT_MECHANISM,
	OPT_LATENCIES,
	OPT_COLD_VMS,
	OPT_COMPARE,
	OPT_MAX_MEMORY,
	OPT_MODE,
	OPT_HELP,
};

static int int_arg(const char *flag, const char *arg, int lo, int hi, int *ret)
{
	int64_t v;
	if (parse_i64(arg, lo, hi, &v) < 0) {
		fprintf(stderr, "ditto-bench: --%s must be a number in %d..%d\n", flag, lo, hi);
		return -EINVAL;
	}
	*ret = (int)v;
	return 0;
}

/* One of the model's flags. Returns 0, 1 when opt is not one of them, or
 * -EINVAL after one line on stderr. */
static int own_option(struct sim_cli *c, int opt, const char *arg)
{
	switch (opt) {
	case OPT_HOSTS: return int_arg("hosts", arg, 1, 100000, &c->cfg.hosts);
	case OPT_HOST_CORES:
		return int_arg("host-cores", arg, 1, POLICY_MAX_WORKERS, &c->cfg.host_cores);
	case OPT_TENANT_MAX:
		c->peak_max = strcmp(arg, "peak") == 0;
		return c->peak_max ? 0
				   : int_arg("tenant-max", arg, 1, POLICY_MAX_WORKERS,
					     &c->cfg.tenant_max);
	case OPT_TENANT_MIN:
		return int_arg("tenant-min", arg, 0, POLICY_MAX_WORKERS, &c->cfg.tenant_min);
	case OPT_TENANTS:
		if (sim_tenancy_parse(arg, &c->tenancy) == 0)
			return 0;
		fprintf(stderr, "ditto-bench: --tenants must be one, app or owner\n");
		return -EINVAL;
	case OPT_MECHANISM:
		if (strcmp(arg, "precreated") && strcmp(arg, "hotplug")) {
			fprintf(stderr, "ditto-bench: --mechanism must be precreated or hotplug\n");
			return -EINVAL;
		}
		c->mechanism = arg;
		return 0;
	case OPT_LATENCIES: c->latencies = arg; return 0;
	case OPT_COLD_VMS: c->cfg.cold_vms = true; return 0;
	case OPT_COMPARE: c->compare = arg; return 0;
	case OPT_MODE:
		if (strcmp(arg, "persistent") && strcmp(arg, "process")) {
			fprintf(stderr, "ditto-bench: --mode must be persistent or process\n");
			return -EINVAL;
		}
		c->cfg.persistent = strcmp(arg, "persistent") == 0;
		return 0;
	case OPT_MAX_MEMORY: {
		int mb;
		if (int_arg("max-memory-mb", arg, 0, 1048576, &mb) < 0)
			return -EINVAL;
		c->cfg.max_memory_mb = mb;
		return 0;
	}
	default: return 1;
	}
}

/* Parses argv. Returns 0, 1 after --help, or 2 after one line on stderr. */
static int parse_args(struct sim_cli *c, int argc, char **argv)
{
	static const struct option own[] = {
		{ "hosts", required_argument, NULL, OPT_HOSTS },
		{ "host-cores", required_argument, NULL, OPT_HOST_CORES },
		{ "tenants", required_argument, NULL, OPT_TENANTS },
		{ "tenant-max", required_argument, NULL, OPT_TENANT_MAX },
		{ "tenant-min", required_argument, NULL, OPT_TENANT_MIN },
		{ "mechanism", required_argument, NULL, OPT_MECHANISM },
		{ "latencies", required_argument, NULL, OPT_LATENCIES },
		{ "cold-vms", no_argument, NULL, OPT_COLD_VMS },
		{ "compare", required_argument, NULL, OPT_COMPARE },
		{ "max-memory-mb", required_argument, NULL, OPT_MAX_MEMORY },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct option all[TRACE_CLI_N_OPTIONS + 16];
	memset(c, 0, sizeof(*c));
	trace_cli_init(&c->tc);
	c->cfg = (struct sim_config){ .hosts = 1,
				      .host_cores = SIM_DEFAULT_HOST_CORES,
				      .max_memory_mb = SIM_DEFAULT_MAX_MEMORY_MB,
				      .persistent = true };
	c->mechanism = "precreated";
	c->peak_max = true;
	if (trace_cli_options_join(own, all, sizeof(all) / sizeof(all[0])) < 0)
		return 2;
	int opt;
	optind = 0; /* a full rescan, also when called a second time */
	while ((opt = getopt_long(argc, argv, "", all, NULL)) != -1) {
		if (opt == OPT_HELP) {
			usage(stdout);
			return 1;
		}
		int r = own_option(c, opt, optarg);
		if (r == 1) {
			r = trace_cli_option(&c->tc, opt, optarg);
			if (r == 0)
				usage(stderr); /* getopt said which option */
			r = r == 1 ? 0 : -EINVAL;
		}
		if (r < 0)
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "ditto-bench: simulate: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (trace_cli_check(&c->tc) < 0)
		return 2;
	if (c->peak_max)
		c->cfg.tenant_max = c->cfg.host_cores; /* the bound of the peaks */
	if (c->cfg.tenant_min > c->cfg.tenant_max) {
		fprintf(stderr, "ditto-bench: --tenant-min must not exceed --tenant-max\n");
		return 2;
	}
	c->tc.wl.fit_cores = (double)c->cfg.hosts * c->cfg.host_cores;
	return 0;
}

static void inputs_free(struct sim_inputs *in)
{
	free(in->tenant_of);
	free(in->tenant_maxes);
	sim_latencies_free(&in->lat);
	workload_free(&in->w);
	trace_free(&in->trace);
}

/* Reads the trace and the latencies, builds the workload and the tenants. */
static int inputs_load(struct sim_cli *c, struct sim_inputs *in)
{
	char err[512];
	memset(in, 0, sizeof(*in));
	int r = sim_latencies_find(c->latencies, in->latencies_path, sizeof(in->latencies_path));
	if (r == 0)
		r = sim_latencies_load(in->latencies_path, &in->lat, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "no %s beside ditto-bench or in bench/: give --latencies",
			 SIM_LATENCIES_DEFAULT);
	if (r < 0) {
		fprintf(stderr, "ditto-bench: latencies: %s\n", err);
		return r;
	}
	if (!(c->cfg.lat = sim_latencies_mech(&in->lat, c->mechanism))) {
		fprintf(stderr, "ditto-bench: %s has no %s latencies\n", in->latencies_path,
			c->mechanism);
		return -EINVAL;
	}
	if (c->cfg.persistent && c->cfg.lat->step[SIM_WARM_CALL].n == 0)
		fprintf(stderr, "ditto-bench: note: %s has no %s warm_call_ms: warm calls take "
				"call_ms\n", in->latencies_path, c->mechanism);
	if ((r = trace_load(c->tc.trace, c->tc.day, &in->trace, err, sizeof(err))) < 0 ||
	    (r = workload_build(&in->trace, &c->tc.wl, &in->w, err, sizeof(err))) < 0) {
		fprintf(stderr, "ditto-bench: %s\n", err);
		return r;
	}
	if (!(in->tenant_of = calloc(in->w.n_fns ? in->w.n_fns : 1, sizeof(uint32_t))))
		return -ENOMEM;
	sim_tenants(&in->trace, &in->w, c->tenancy, in->tenant_of, &c->cfg.n_tenants);
	c->cfg.tenant_of = in->tenant_of;
	if (c->peak_max) {
		if (!(in->tenant_maxes = calloc(c->cfg.n_tenants, sizeof(int))) ||
		    sim_tenant_peaks(&in->w, in->tenant_of, c->cfg.n_tenants, c->cfg.host_cores,
				     in->tenant_maxes) < 0)
			return -ENOMEM;
		c->cfg.tenant_maxes = in->tenant_maxes;
	}
	c->cfg.seed = c->tc.wl.seed;
	return 0;
}

/* The model's assumptions, for the summary's "model". */
static json_t *model_json(const struct sim_cli *c, const struct sim_inputs *in)
{
	static const char *const tenancy[] = { "one", "app", "owner" };
	long sum_max = 0;
	for (uint32_t t = 0; t < c->cfg.n_tenants; t++)
		sum_max += c->cfg.tenant_maxes ? c->cfg.tenant_maxes[t] : c->cfg.tenant_max;
	return json_pack("{s:i, s:i, s:s, s:i, s:i, s:o, s:I, s:s, s:s, s:s, s:s, s:b, s:f, s:s}",
			 "hosts",
			 c->cfg.hosts, "host_cores", c->cfg.host_cores, "tenants",
			 tenancy[c->tenancy], "n_tenants", (int)c->cfg.n_tenants, "tenant_min",
			 c->cfg.tenant_min, "tenant_max",
			 c->peak_max ? json_string("peak") : json_integer(c->cfg.tenant_max),
			 "tenant_max_sum", (json_int_t)sum_max, "mechanism",
			 c->mechanism, "latencies", in->latencies_path, "accel", in->lat.accel,
			 "qemu", in->lat.qemu, "cold_vms", c->cfg.cold_vms, "max_memory_mb",
			 c->cfg.max_memory_mb, "mode", c->cfg.persistent ? "persistent" : "process");
}

/* Runs each policy; runs[] gets one run per policy, *n_runs how many were
 * set up (to free). */
static int run_all(const struct sim_cli *c, const struct sim_inputs *in, struct run *runs,
		   size_t *n_runs, json_t *stats)
{
	for (size_t i = 0; i < c->tc.n_policies; i++) {
		const char *spec = c->tc.policies[i];
		struct policy p;
		if (policy_parse(spec, &p) < 0 || policy_is_manual(&p)) {
			fprintf(stderr, "ditto-bench: policy %s cannot be simulated\n", spec);
			return -EINVAL;
		}
		if (run_init(&runs[i], &in->w, spec) < 0)
			return -ENOMEM;
		*n_runs = i + 1;
		struct sim_stats st;
		uint64_t t0 = time_now_us();
		int r = sim_run(&c->cfg, &in->w, &p, &runs[i], &st);
		runs[i].wall_s = (double)(time_now_us() - t0) / 1e6;
		if (r < 0) {
			fprintf(stderr, "ditto-bench: simulation of %s failed: %s\n", spec,
				strerror(-r));
			return r;
		}
		json_object_set_new(stats, spec,
				    json_pack("{s:I, s:I, s:I, s:I, s:f, s:f}", "events",
					      (json_int_t)st.events, "resizes",
					      (json_int_t)st.resizes, "boots", (json_int_t)st.boots,
					      "grows_cut", (json_int_t)st.grows_cut, "end_s",
					      st.end_ms / 1000.0, "wall_s", runs[i].wall_s));
	}
	return 0;
}

/* Writes the outputs the flags ask for. */
static int report(const struct sim_cli *c, const struct sim_inputs *in, const struct run *runs,
		  size_t n_runs, json_t *extra)
{
	json_t *summary = results_summary(&in->w, runs, n_runs, extra);
	if (!summary)
		return -ENOMEM;
	int r = 0;
	if (c->compare)
		r = sim_compare(c->compare, summary, c->tc.json ? summary : NULL, stdout);
	if (c->tc.json) {
		char *text = json_dumps(summary, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
		printf("%s\n", text ? text : "null");
		free(text);
	} else {
		json_t *m = json_object_get(extra, "model");
		printf("simulated: %zu calls of %zu functions, %u tenants (max worker vCPUs %s, "
		       "%lld in all) on %d hosts x %d cores, %s latencies (%s), %s mode\n",
		       in->w.n_calls, in->w.n_fns, c->cfg.n_tenants,
		       c->peak_max ? "each its peak" : "as given",
		       (long long)json_integer_value(json_object_get(m, "tenant_max_sum")),
		       c->cfg.hosts, c->cfg.host_cores, c->mechanism, in->lat.accel,
		       c->cfg.persistent ? "persistent" : "process");
		results_print_table(stdout, &in->w, runs, n_runs);
		for (size_t i = 0; i < n_runs; i++)
			printf("  %s: simulated in %.2f s\n", runs[i].policy, runs[i].wall_s);
	}
	json_decref(summary);
	char err[512];
	if (r == 0 && c->tc.csv && (r = results_write_csv(c->tc.csv, &in->w, runs, n_runs)) < 0)
		fprintf(stderr, "ditto-bench: cannot write %s: %s\n", c->tc.csv, strerror(-r));
	if (r == 0 && c->tc.plots &&
	    (r = results_plots(c->tc.plots, &in->w, runs, n_runs, err, sizeof(err))) < 0)
		fprintf(stderr, "ditto-bench: plots: %s\n", err);
	return r;
}

int bench_simulate(int argc, char **argv)
{
	struct sim_cli c;
	int r = parse_args(&c, argc, argv);
	if (r != 0)
		return r == 1 ? 0 : 2;
	struct sim_inputs in;
	struct run runs[TRACE_CLI_MAX_POLICIES];
	memset(runs, 0, sizeof(runs));
	size_t n_runs = 0;
	json_t *stats = json_object();
	r = inputs_load(&c, &in);
	if (r == 0)
		r = run_all(&c, &in, runs, &n_runs, stats);
	if (r == 0) {
		json_t *extra = json_pack("{s:b, s:o, s:o}", "simulated", 1, "model",
					  model_json(&c, &in), "simulation", stats);
		stats = NULL;
		r = report(&c, &in, runs, n_runs, extra);
		json_decref(extra);
	}
	json_decref(stats);
	for (size_t i = 0; i < n_runs; i++)
		run_free(&runs[i]);
	inputs_free(&in);
	return r < 0 ? 1 : 0;
}
