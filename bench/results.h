/* What a replay or a simulation of a workload produced, one run per policy,
 * and the three ways it is reported: the per-invocation CSV, the summary
 * JSON whose shape docs/benchmarks.md fixes, and gnuplot plots.
 *
 * Both ditto-bench replay (real) and ditto-bench simulate (modelled) fill
 * the same struct run, so their outputs compare line for line. */
#ifndef DITTO_BENCH_RESULTS_H
#define DITTO_BENCH_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "workload.h"

enum call_status {
	CALL_OK = 0,
	CALL_FAILED,   /* the function or the platform failed it */
	CALL_TIMEOUT,  /* no answer in time */
	CALL_NOT_SENT, /* the replay ended before its time came */
};

/* One call's outcome, index-aligned with workload.calls. */
struct call_result {
	double latency_ms; /* from its arrival time to its answer */
	enum call_status status;
	bool cold_start; /* it waited for a VM to boot or a worker to be attached */
	int vcpu;        /* the worker vCPU it ran on; -1 unknown */
	char vm[64];     /* the VM it ran in; "" unknown */
};

/* The tenant's worker vCPUs allocated (granted a host core) at time t_ms
 * from the window's start, sampled (replay) or exact at each change
 * (simulation). */
struct alloc_sample {
	double t_ms;
	double workers;
};

struct run {
	char policy[64];           /* the spec, as given to --policies */
	struct call_result *calls; /* workload.n_calls of them */
	struct alloc_sample *alloc;
	size_t n_alloc, cap_alloc;
	double vcpu_s_allocated, vcpu_s_busy; /* the platform's own accounting */
	double wall_s;                        /* how long the run took */
};

/* Allocates a run for w's calls, each CALL_NOT_SENT until filled. Returns 0
 * or -ENOMEM. */
int run_init(struct run *r, const struct workload *w, const char *policy);
/* Appends an allocation sample. Returns 0 or -ENOMEM. */
int run_alloc_add(struct run *r, double t_ms, double workers);
void run_free(struct run *r);

/* The summary of runs, as docs/benchmarks.md fixes it:
 *   {"policies": {"<policy>": {"latency_ms": {"p50","p99","p999"},
 *     "slowdown": {"p50","p99","p999"}, "vcpu_s": {"allocated","busy"},
 *     "utilisation", "cold_starts", "failures", "invocations"}},
 *    "offered_cores", "window", "scaling"}
 * Percentiles (nearest rank, p50 the median; null without answered calls)
 * are over the calls answered ok; slowdown = latency / requested duration,
 * a duration under 1 ms counting as 1 ms; failures counts every call not ok
 * (failed, timed out or not sent); "window" holds start_minute, minutes,
 * seconds (after time scaling), functions and invocations; "scaling" holds
 * time_scale, rate_scale, trace_offered_cores, cut_durations and summary
 * (workload.scaling).
 * extra, when not NULL, is merged into the top level (e.g. "accel",
 * "simulated"). Returns a new reference, or NULL out of memory. */
json_t *results_summary(const struct workload *w, const struct run *runs, size_t n_runs,
			json_t *extra);

/* Prints the summary as a side-by-side table, one column per policy. */
void results_print_table(FILE *f, const struct workload *w, const struct run *runs, size_t n_runs);

/* Writes one row per call and policy: policy, function, arrival_ms,
 * duration_ms, latency_ms, status, cold_start, vcpu, vm. Returns 0 or
 * -errno. */
int results_write_csv(const char *path, const struct workload *w, const struct run *runs,
		      size_t n_runs);

/* Draws, with gnuplot, into dir (created if missing), each as PNG and SVG:
 * allocated worker vCPUs and offered load over time per policy
 * (alloc.png/.svg), and the latency and slowdown CDFs per policy
 * (latency-cdf, slowdown-cdf). Returns 0, or -errno with a one-line reason in
 * err (gnuplot missing or failing). */
int results_plots(const char *dir, const struct workload *w, const struct run *runs, size_t n_runs,
		  char *err, size_t err_size);

#endif
