/* The flags ditto-bench replay and simulate share: one table, one parser. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "trace_cli.h"
#include "util.h"

enum {
	OPT_TRACE = TRACE_CLI_OPT_BASE,
	OPT_DAY,
	OPT_FUNCTIONS,
	OPT_SAMPLE,
	OPT_SEED,
	OPT_START_MINUTE,
	OPT_MINUTES,
	OPT_RATE_SCALE,
	OPT_TIME_SCALE,
	OPT_TARGET_CORES,
	OPT_UNIFORM,
	OPT_MAX_DURATION,
	OPT_POLICIES,
	OPT_JSON,
	OPT_CSV,
	OPT_PLOTS,
};

const struct option trace_cli_options[TRACE_CLI_N_OPTIONS] = {
	{ "trace", required_argument, NULL, OPT_TRACE },
	{ "day", required_argument, NULL, OPT_DAY },
	{ "functions", required_argument, NULL, OPT_FUNCTIONS },
	{ "sample", required_argument, NULL, OPT_SAMPLE },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "start-minute", required_argument, NULL, OPT_START_MINUTE },
	{ "minutes", required_argument, NULL, OPT_MINUTES },
	{ "rate-scale", required_argument, NULL, OPT_RATE_SCALE },
	{ "time-scale", required_argument, NULL, OPT_TIME_SCALE },
	{ "target-cores", required_argument, NULL, OPT_TARGET_CORES },
	{ "uniform", no_argument, NULL, OPT_UNIFORM },
	{ "max-duration-ms", required_argument, NULL, OPT_MAX_DURATION },
	{ "policies", required_argument, NULL, OPT_POLICIES },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "plots", required_argument, NULL, OPT_PLOTS },
	{ NULL, 0, NULL, 0 },
};

const char trace_cli_usage[] =
	"  --trace PATH          a folder of Azure 2019 trace files (as published or as\n"
	"                        sampled) or an Azure 2021 CSV (app,func,end_timestamp,duration)\n"
	"  --day N               the day of a folder holding several (default: the first)\n"
	"  --functions all|N     the trace's first N functions (default all)\n"
	"  --sample N            N functions drawn with the seed instead\n"
	"  --seed S              seed of the sample and the arrivals (default 1)\n"
	"  --start-minute M      first minute of the window, as the trace numbers them\n"
	"  --minutes M           window length (default: to the trace's end)\n"
	"  --rate-scale R        keep each call with probability R (R < 1) or repeat it\n"
	"                        R times on average (R > 1)\n"
	"  --time-scale F        run the window F times faster, durations divided by F\n"
	"  --target-cores C      the rate scale that offers C cores of load\n"
	"                        (none of the three: fit the load to the free cores)\n"
	"  --uniform             evenly spaced arrivals in each minute (default Poisson)\n"
	"  --max-duration-ms MS  cut longer durations to MS (default: no cut)\n"
	"  --policies LIST       comma-separated policy specs, run one after the other\n"
	"                        (default elastic)\n"
	"  --json                print the summary as JSON\n"
	"  --csv FILE            one row per call and policy\n"
	"  --plots DIR           gnuplot PNG and SVG plots\n";

void trace_cli_init(struct trace_cli *c)
{
	memset(c, 0, sizeof(*c));
	c->wl.seed = 1;
}

static const char *opt_name(int opt)
{
	for (size_t i = 0; trace_cli_options[i].name; i++)
		if (trace_cli_options[i].val == opt)
			return trace_cli_options[i].name;
	return "?";
}

static int bad_int(int opt, const char *arg, long long lo, long long hi)
{
	fprintf(stderr, "ditto-bench: --%s must be an integer from %lld to %lld, not \"%s\"\n",
		opt_name(opt), lo, hi, arg);
	return -EINVAL;
}

static int parse_int(int opt, const char *arg, int lo, int hi, int *ret)
{
	int64_t v;
	if (parse_i64(arg, lo, hi, &v) < 0)
		return bad_int(opt, arg, lo, hi);
	*ret = (int)v;
	return 1;
}

/* A plain decimal number in (0, hi]: digits with an optional fraction, no
 * sign, no exponent, no spaces, so "1e3", "inf" and " 2" are refused. */
static int parse_positive(int opt, const char *arg, double hi, double *ret)
{
	const char *p = arg;
	size_t digits = 0;
	while (*p >= '0' && *p <= '9')
		p++, digits++;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			digits++;
	double v = digits && !*p ? strtod(arg, NULL) : 0;
	if (!(v > 0) || v > hi) {
		fprintf(stderr,
			"ditto-bench: --%s must be a number above 0 and at most %.0f, not "
			"\"%s\"\n",
			opt_name(opt), hi, arg);
		return -EINVAL;
	}
	*ret = v;
	return 1;
}

/* Splits a comma-separated list of specs, each validated by policy_parse. */
static int parse_policies(struct trace_cli *c, const char *arg)
{
	c->n_policies = 0;
	const char *p = arg;
	for (;;) {
		size_t len = strcspn(p, ",");
		char spec[TRACE_CLI_SPEC_SIZE];
		struct policy pol;
		if (len == 0 || len >= sizeof(spec)) {
			fprintf(stderr,
				"ditto-bench: --policies needs comma-separated specs of 1 to "
				"%zu characters, not \"%s\"\n",
				sizeof(spec) - 1, arg);
			return -EINVAL;
		}
		memcpy(spec, p, len);
		spec[len] = '\0';
		if (policy_parse(spec, &pol) < 0 || policy_is_manual(&pol)) {
			fprintf(stderr,
				"ditto-bench: --policies: \"%s\" is not a scaling policy (see "
				"docs/api.md)\n",
				spec);
			return -EINVAL;
		}
		if (c->n_policies == TRACE_CLI_MAX_POLICIES) {
			fprintf(stderr, "ditto-bench: --policies takes at most %d policies\n",
				TRACE_CLI_MAX_POLICIES);
			return -EINVAL;
		}
		memcpy(c->policies[c->n_policies++], spec, len + 1);
		if (!p[len])
			return 1;
		p += len + 1;
	}
}

int trace_cli_option(struct trace_cli *c, int opt, const char *arg)
{
	struct workload_opts *w = &c->wl;
	uint64_t seed;
	int64_t v;
	switch (opt) {
	case OPT_TRACE: c->trace = arg; return 1;
	case OPT_DAY: return parse_int(opt, arg, 0, 99, &c->day);
	case OPT_FUNCTIONS:
		if (strcmp(arg, "all") == 0) {
			w->functions = 0;
			return 1;
		}
		if (parse_i64(arg, 1, 1000000, &v) < 0) {
			fprintf(stderr,
				"ditto-bench: --functions must be all or an integer from 1 "
				"to 1000000, not \"%s\"\n",
				arg);
			return -EINVAL;
		}
		w->functions = (int)v;
		return 1;
	case OPT_SAMPLE: return parse_int(opt, arg, 1, 1000000, &w->sample);
	case OPT_SEED:
		if (parse_u64(arg, 0, UINT64_MAX, &seed) < 0) {
			fprintf(stderr,
				"ditto-bench: --seed must be an unsigned integer, not \"%s\"\n",
				arg);
			return -EINVAL;
		}
		w->seed = seed;
		return 1;
	case OPT_START_MINUTE: return parse_int(opt, arg, 1, 10000000, &w->start_minute);
	case OPT_MINUTES: return parse_int(opt, arg, 1, 10000000, &w->minutes);
	case OPT_RATE_SCALE: return parse_positive(opt, arg, 1000, &w->rate_scale);
	case OPT_TIME_SCALE: return parse_positive(opt, arg, 10000, &w->time_scale);
	case OPT_TARGET_CORES: return parse_positive(opt, arg, 1000000, &w->target_cores);
	case OPT_UNIFORM: w->uniform = true; return 1;
	case OPT_MAX_DURATION: return parse_positive(opt, arg, 3600000, &w->max_duration_ms);
	case OPT_POLICIES: return parse_policies(c, arg);
	case OPT_JSON: c->json = true; return 1;
	case OPT_CSV: c->csv = arg; return 1;
	case OPT_PLOTS: c->plots = arg; return 1;
	default: return 0;
	}
}

int trace_cli_check(struct trace_cli *c)
{
	if (!c->trace) {
		fprintf(stderr, "ditto-bench: --trace is required\n");
		return -EINVAL;
	}
	if (c->wl.functions && c->wl.sample) {
		fprintf(stderr, "ditto-bench: --functions N and --sample N are two ways to select; "
				"give one\n");
		return -EINVAL;
	}
	if (c->wl.rate_scale > 0 && c->wl.target_cores > 0) {
		fprintf(stderr, "ditto-bench: --rate-scale and --target-cores both set the rate; "
				"give one\n");
		return -EINVAL;
	}
	if (c->n_policies == 0) {
		snprintf(c->policies[0], sizeof(c->policies[0]), "elastic");
		c->n_policies = 1;
	}
	return 0;
}

int trace_cli_options_join(const struct option *own, struct option *out, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; own && own[i].name; i++) {
		if (k == n)
			return -ENOSPC;
		out[k++] = own[i];
	}
	if (n - k < TRACE_CLI_N_OPTIONS)
		return -ENOSPC;
	memcpy(out + k, trace_cli_options, sizeof(trace_cli_options));
	return 0;
}
