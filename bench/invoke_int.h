/* ditto-bench invoke's parts: what the calls measured (invoke.c) and how
 * it is reported (invoke_report.c). Not a public interface. */
#ifndef DITTO_BENCH_INVOKE_INT_H
#define DITTO_BENCH_INVOKE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "bench.h"
#include "invoke_e2e.h"
#include "platform.h"

/* One successful call: the client's round trip and X-Ditto-Timing, in us;
 * e2e is the client's own sealing and opening (--encrypted), inside rtt;
 * late (--rate) how long after its due time it was sent, outside rtt. */
struct sample {
	long long rtt, total, controller, agent, guest, function, e2e, late;
};

struct samples {
	struct sample *v;
	size_t n, cap;
};

/* Each hop is computed from one sample; percentiles are taken per hop. */
enum hop {
	HOP_CLIENT,
	HOP_CONTROLLER,
	HOP_LINK,
	HOP_AGENT,
	HOP_GUEST,
	HOP_FUNCTION,
	HOP_OUTSIDE,
	HOP_RTT, /* the latency: from the due time under --rate */
	HOP_E2E,
	HOP_COUNT
};

/* Failed calls by kind: an HTTP status, or one of these for a call without
 * a usable answer. */
enum { ERR_NO_ANSWER = 0, ERR_WRONG_BODY = 1, ERR_NO_TIMING = 2, ERR_KINDS = 12 };

struct errors {
	int kind[ERR_KINDS];
	long count[ERR_KINDS];
	int n;
	long total;
};

/* The processes on the path whose CPU time is accounted. */
enum { CPU_CLIENT, CPU_CONTROLLER, CPU_AGENT, CPU_QEMU, CPU_COUNT };

/* The bare virtio-serial round trips (the agent's ping route) read around
 * a run, in us. */
struct virtio_rtt {
	double *v;
	size_t n, cap;
};

/* The outcome of one timed run (or of all of them). */
struct run {
	struct samples samples;
	struct errors errors;
	long cold_starts;
	double elapsed_s, throughput;
	long long cpu_us[CPU_COUNT]; /* -1: not known (a platform not started here) */
	/* Each controller's (CPU_CONTROLLER is their sum); -1 past the last. */
	long long ctl_cpu_us[BENCH_CONTROLLERS_MAX];
	struct virtio_rtt virtio;    /* none when the agent is not ours */
	/* --rate: the calls due in the run, and those dropped because every
	 * client had a call outstanding when they were due. */
	long long offered, dropped;
};

struct records {
	int n;
	double submit_s, drain_s;
	long stored, ok, rss_kib;
};

/* The first calls of fresh versions of echo: each version is new to every
 * worker vCPU, so its first call starts the runtime's process there. */
struct cold {
	int versions;
	struct samples samples; /* the first calls the platform reported cold */
	long not_cold;          /* first calls it did not */
	struct errors errors;
};

/* Everything a report is made of. */
struct invoke_result {
	const struct platform *p;
	const struct bench_opts *o;
	const struct run *runs; /* o->reps of them */
	const struct run *all;  /* every run's calls together */
	double tput;            /* the median of the runs' throughputs */
	long rss_end;           /* the controller's VmRSS at the end, KiB, or -1 */
	const struct records *rec;
	const struct bench_e2e *e2e;
	const struct cold *cold;
};

/* Counts count failed calls of kind. */
void errors_add(struct errors *e, int kind, long count);

/* Prints the report as a table, or as one JSON object (docs/benchmarks.md). */
void invoke_print_text(const struct invoke_result *res);
void invoke_print_json(const struct invoke_result *res);

#endif
