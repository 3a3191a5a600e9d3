/* ditto-bench simulate --compare: the simulator against a real replay of the
 * same workload, policy by policy. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sim.h"

/* The figures compared, as paths into a policy's summary. */
static const struct {
	const char *name, *group, *key;
} figures[] = {
	{ "p50_ms", "latency_ms", "p50" },
	{ "p99_ms", "latency_ms", "p99" },
	{ "vcpu_s_allocated", "vcpu_s", "allocated" },
};
#define N_FIGURES (sizeof(figures) / sizeof(figures[0]))

static double figure(json_t *policy, size_t f)
{
	json_t *v = json_object_get(json_object_get(policy, figures[f].group), figures[f].key);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Whether a and b print the same at the precision summaries are written
 * with (a file read back holds 6 significant digits). */
static bool same_printed(json_t *a, json_t *b)
{
	size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(6);
	char *x = a ? json_dumps(a, flags) : NULL, *y = b ? json_dumps(b, flags) : NULL;
	bool same = x && y && strcmp(x, y) == 0;
	free(x);
	free(y);
	return same;
}

/* Warns when the two runs were not of the same workload. */
static void check_same(json_t *real, json_t *ours)
{
	static const char *const keys[] = { "window", "scaling", "offered_cores" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!same_printed(json_object_get(real, keys[i]), json_object_get(ours, keys[i])))
			fprintf(stderr, "ditto-bench: warning: the replay's \"%s\" differs\n",
				keys[i]);
}

/* {"<figure>": {"replay", "simulated", "error"}} for one policy; error is
 * (simulated - replay) / replay. */
static json_t *compare_policy(json_t *real, json_t *ours)
{
	json_t *o = json_object();
	for (size_t f = 0; f < N_FIGURES; f++) {
		double a = figure(real, f), b = figure(ours, f);
		double err = a != 0 && isfinite(a) && isfinite(b) ? (b - a) / a : NAN;
		json_object_set_new(o, figures[f].name,
				    json_pack("{s:o, s:o, s:o}", "replay",
					      isfinite(a) ? json_real(a) : json_null(), "simulated",
					      isfinite(b) ? json_real(b) : json_null(), "error",
					      isfinite(err) ? json_real(err) : json_null()));
	}
	return o;
}

static void print_compare(FILE *out, json_t *cmp)
{
	fprintf(out, "simulated vs replay (error = (simulated - replay) / replay):\n");
	fprintf(out, "%-28s %-18s %12s %12s %9s\n", "policy", "figure", "replay", "simulated",
		"error");
	const char *name;
	json_t *pol;
	json_object_foreach(cmp, name, pol)
	{
		for (size_t f = 0; f < N_FIGURES; f++) {
			json_t *c = json_object_get(pol, figures[f].name);
			fprintf(out, "%-28s %-18s %12.1f %12.1f %8.1f%%\n", name, figures[f].name,
				json_real_value(json_object_get(c, "replay")),
				json_real_value(json_object_get(c, "simulated")),
				100 * json_real_value(json_object_get(c, "error")));
		}
	}
}

int sim_compare(const char *path, json_t *ours, json_t *into, FILE *out)
{
	json_error_t je;
	json_t *real = json_load_file(path, 0, &je);
	json_t *real_pols = json_object_get(real, "policies");
	if (!json_is_object(real_pols)) {
		fprintf(stderr, "ditto-bench: --compare %s: %s\n", path,
			real ? "no \"policies\" object" : je.text);
		json_decref(real);
		return -EINVAL;
	}
	check_same(real, ours);
	json_t *cmp = json_object();
	const char *name;
	json_t *pol;
	json_object_foreach(json_object_get(ours, "policies"), name, pol)
	{
		json_t *r = json_object_get(real_pols, name);
		if (r)
			json_object_set_new(cmp, name, compare_policy(r, pol));
	}
	json_decref(real);
	if (json_object_size(cmp) == 0) {
		fprintf(stderr, "ditto-bench: --compare %s: no policy in common\n", path);
		json_decref(cmp);
		return -EINVAL;
	}
	if (into)
		json_object_set_new(into, "compare", cmp);
	else {
		print_compare(out, cmp);
		json_decref(cmp);
	}
	return 0;
}
