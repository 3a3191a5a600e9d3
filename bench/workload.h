/* A workload: the calls a replay sends (or a simulation feeds its model),
 * built from a trace by selecting functions and a window, scaling it to the
 * machine, and drawing arrivals, durations and memory from a seeded
 * generator. The same trace, options and seed always give the same calls, on
 * any machine; nothing here does I/O or reads a clock.
 *
 * Scaling, in the order applied:
 *   time_scale F  the window runs F times faster: a minute lasts 60/F s and
 *                 every duration is divided by F, so the offered load in
 *                 cores and the shape of the load are kept;
 *   rate_scale R  each call of the window is kept with probability R (R <=
 *                 1, thinning) or repeated R times on average (R > 1), so
 *                 the offered load is multiplied by R;
 *   target_cores C  picks rate_scale so that the offered load is C cores.
 * With neither rate_scale nor target_cores, a window asking for more than
 * fit_cores (the machine's free worker cores; 0: no limit) is thinned to
 * fit_cores, and one asking for less is sent as recorded.
 *
 * The offered load of a window as recorded is its expected CPU time (per
 * call, the mean of the interpolated duration percentiles, cut at
 * max_duration_ms) over its length; rates are chosen from it. Each call's
 * duration is drawn uniformly over the percentiles (a 2021 trace's calls
 * keep their own), then divided by time_scale and cut. */
#ifndef DITTO_BENCH_WORKLOAD_H
#define DITTO_BENCH_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace.h"

struct workload_opts {
	int functions;          /* the first N functions of the trace (in its order); 0: all */
	int sample;             /* or N functions drawn with the seed; 0: no sampling */
	uint64_t seed;          /* for sampling and for arrivals */
	int start_minute;       /* first minute, as the trace numbers them; 0: the trace's first */
	int minutes;            /* window length; 0: to the trace's end */
	double time_scale;      /* 0: unset */
	double rate_scale;      /* 0: unset */
	double target_cores;    /* 0: unset */
	double fit_cores;       /* used when none of the three above is set */
	bool uniform;           /* evenly spaced arrivals within each minute, not Poisson */
	double max_duration_ms; /* 0: none; longer durations (as sent) are cut, and counted */
};

/* One call to send: at_ms from the window's start (after time scaling),
 * of the workload's function fn (an index into workload.fns). */
struct workload_call {
	double at_ms;
	uint32_t fn;
	double duration_ms; /* what the function is asked to run for, scaled */
	double memory_mb;
};

struct workload_fn {
	size_t trace_index; /* into trace.fns */
	char name[64];      /* the function's name on the platform: "t" + a short hash */
	uint64_t calls;     /* calls drawn for it */
};

struct workload {
	struct workload_call *calls; /* sorted by at_ms */
	size_t n_calls;
	struct workload_fn *fns;
	size_t n_fns;
	int start_minute, minutes;     /* the window, in the trace's minute numbers */
	double duration_ms;            /* of the window after time scaling */
	double time_scale, rate_scale; /* as applied (1 when not scaled) */
	double offered_cores;          /* sum of durations / window length, as sent */
	double offered_cores_trace;    /* expected for the unscaled window (see above) */
	size_t cut_durations;          /* draws cut to max_duration_ms */
	char scaling[256];             /* one line: what was scaled and why */
};

/* Builds the workload. Returns 0 with *ret filled (workload_free it), or
 * -EINVAL with a one-line reason in err (a window outside the trace, a
 * selection larger than the trace, scales out of range, no calls). */
int workload_build(const struct trace *t, const struct workload_opts *o, struct workload *ret,
		   char *err, size_t err_size);
void workload_free(struct workload *w);

/* The offered load over time: cores asked for in each bin of bin_ms from
 * the window's start (a call contributes its duration to the bins it spans,
 * as if it ran at once). Writes n = ceil(duration / bin) values into a
 * malloc'd array. Returns 0 or -ENOMEM. */
int workload_load_curve(const struct workload *w, double bin_ms, double **ret, size_t *ret_n);

#endif
