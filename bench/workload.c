/* A workload from a trace: selection, window, scaling and seeded draws. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "util.h"
#include "workload.h"

/* More calls than this is a mistake of scale, not a benchmark. */
#define WORKLOAD_MAX_CALLS 20000000.0
#define MINUTE_MS 60000.0

/* splitmix64: small, fast, and the same sequence everywhere. */
struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* A function's own stream: the same draws for it whatever else is selected. */
static struct rng fn_rng(uint64_t seed, const struct trace_function *f)
{
	uint64_t h = fnv1a(fnv1a(fnv1a(0xcbf29ce484222325ULL, f->owner), f->app), f->func);
	struct rng r = { seed ^ h };
	rng_next(&r);
	return r;
}

void workload_free(struct workload *w)
{
	free(w->calls);
	free(w->fns);
	memset(w, 0, sizeof(*w));
}

/* ---- selection and window ------------------------------------------------- */

static int size_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return (x > y) - (x < y);
}

/* The functions with durations, the first o->functions of them, or
 * o->sample of them drawn with the seed (in the trace's order). */
static int select_functions(const struct trace *t, const struct workload_opts *o,
			    struct workload *w, char *err, size_t size)
{
	size_t *idx = malloc((t->n_fns ? t->n_fns : 1) * sizeof(size_t)), n = 0;
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_fns; i++)
		if (t->fns[i].has_duration)
			idx[n++] = i;
	size_t want = o->sample > 0      ? (size_t)o->sample
		      : o->functions > 0 ? (size_t)o->functions
					 : n;
	if (want > n || n == 0) {
		free(idx);
		return bench_error(err, size, -EINVAL,
				   "the trace has %zu functions with durations, %zu asked for", n,
				   want);
	}
	if (o->sample > 0) {
		struct rng r = { o->seed ^ 0x5eed5eed5eed5eedULL };
		for (size_t i = 0; i < want; i++) {
			size_t j = i + (size_t)(rng_unit(&r) * (double)(n - i));
			size_t tmp = idx[i];
			idx[i] = idx[j];
			idx[j] = tmp;
		}
		qsort(idx, want, sizeof(size_t), size_cmp);
	}
	w->fns = calloc(want, sizeof(*w->fns));
	if (!w->fns) {
		free(idx);
		return -ENOMEM;
	}
	for (size_t i = 0; i < want; i++) {
		const struct trace_function *f = &t->fns[idx[i]];
		uint64_t h = fnv1a(fnv1a(fnv1a(0xcbf29ce484222325ULL, f->owner), f->app), f->func);
		w->fns[i].trace_index = idx[i];
		snprintf(w->fns[i].name, sizeof(w->fns[i].name), "t%016llx", (unsigned long long)h);
	}
	w->n_fns = want;
	free(idx);
	return 0;
}

static int set_window(const struct trace *t, const struct workload_opts *o, struct workload *w,
		      char *err, size_t size)
{
	int first = t->first_minute, end = t->first_minute + t->n_minutes;
	w->start_minute = o->start_minute > 0 ? o->start_minute : first;
	if (w->start_minute < first || w->start_minute >= end)
		return bench_error(err, size, -EINVAL,
				   "start minute %d is outside the trace's minutes %d..%d",
				   w->start_minute, first, end - 1);
	w->minutes = o->minutes > 0 ? o->minutes : end - w->start_minute;
	if (w->minutes > end - w->start_minute)
		return bench_error(err, size, -EINVAL,
				   "%d minutes from minute %d go past the trace's last minute %d",
				   w->minutes, w->start_minute, end - 1);
	return 0;
}

/* ---- expected load -------------------------------------------------------- */

/* The integral over [a, b] of min(y, cap), y linear from ya to yb. */
static double capped_area(double a, double b, double ya, double yb, double cap)
{
	if (ya <= cap && yb <= cap)
		return (b - a) * (ya + yb) / 2;
	if (ya >= cap && yb >= cap)
		return (b - a) * cap;
	double x = a + (cap - ya) / (yb - ya) * (b - a); /* where y crosses cap */
	double lo = ya < yb ? ya : yb;
	double below = ya < yb ? x - a : b - x;
	return below * (lo + cap) / 2 + (b - a - below) * cap;
}

/* The mean duration of a draw (interpolated percentiles), cut at cap
 * (0: none), in the trace's ms. */
static double mean_duration(const struct trace_function *f, double cap)
{
	double sum = 0;
	for (int i = 1; i < TRACE_DUR_PCTS; i++) {
		double a = trace_dur_pct_points[i - 1], b = trace_dur_pct_points[i];
		sum += capped_area(a, b, f->dur_pct_ms[i - 1], f->dur_pct_ms[i],
				   cap > 0 ? cap : INFINITY);
	}
	return sum / 100;
}

/* The cores the window asks for as recorded (no scaling, durations cut at
 * cap_ms in the trace's time), and how many calls it holds. */
static double window_load(const struct trace *t, const struct workload *w, double cap_ms,
			  double *ret_calls)
{
	double work = 0, calls = 0;
	int off = w->start_minute - t->first_minute;
	for (size_t i = 0; i < w->n_fns; i++) {
		const struct trace_function *f = &t->fns[w->fns[i].trace_index];
		if (f->calls) {
			double from = off * 60.0, to = from + w->minutes * 60.0;
			for (size_t k = 0; k < f->n_calls; k++)
				if (f->calls[k].start_s >= from && f->calls[k].start_s < to) {
					double d = f->calls[k].duration_ms;
					work += cap_ms > 0 && d > cap_ms ? cap_ms : d;
					calls++;
				}
			continue;
		}
		uint64_t n = 0;
		for (int m = 0; m < w->minutes; m++)
			n += f->per_minute[off + m];
		work += (double)n * mean_duration(f, cap_ms);
		calls += (double)n;
	}
	*ret_calls = calls;
	return work / (w->minutes * MINUTE_MS);
}

/* ---- scaling -------------------------------------------------------------- */

/* Sets w->time_scale and w->rate_scale from the options and the window's
 * load (cores, as recorded) and calls, and says what it did in w->scaling. */
static int decide_scaling(const struct workload_opts *o, double load, double calls,
			  struct workload *w, char *err, size_t size)
{
	if (o->time_scale < 0 || o->rate_scale < 0 || o->target_cores < 0 || o->fit_cores < 0 ||
	    o->max_duration_ms < 0)
		return bench_error(err, size, -EINVAL,
				   "scales, cores and the duration cut must be positive");
	w->time_scale = o->time_scale > 0 ? o->time_scale : 1;
	char time[64], rate[160];
	snprintf(time, sizeof(time), "time x%g%s", w->time_scale,
		 o->time_scale > 0 ? " (--time-scale)" : "");
	double r = 1;
	if (o->rate_scale > 0) {
		r = o->rate_scale;
		snprintf(rate, sizeof(rate), "rate x%.4g (--rate-scale)", r);
	} else if (o->target_cores > 0) {
		if (load <= 0)
			return bench_error(err, size, -EINVAL,
					   "the window asks for no CPU time: nothing to scale "
					   "to %g cores",
					   o->target_cores);
		r = o->target_cores / load;
		snprintf(
			rate, sizeof(rate),
			"rate x%.4g: the window asks for %.3g cores, scaled to %g (--target-cores)",
			r, load, o->target_cores);
	} else if (o->fit_cores > 0 && load > o->fit_cores) {
		r = o->fit_cores / load;
		snprintf(rate, sizeof(rate),
			 "rate x%.4g: the window asks for %.3g cores, fitted to %.3g free worker "
			 "cores",
			 r, load, o->fit_cores);
	} else if (o->fit_cores > 0) {
		snprintf(rate, sizeof(rate),
			 "rate x1: the window's %.3g cores fit %.3g free worker cores", load,
			 o->fit_cores);
	} else {
		snprintf(rate, sizeof(rate), "rate x1");
	}
	if (calls * r > WORKLOAD_MAX_CALLS)
		return bench_error(err, size, -EINVAL,
				   "%.0f calls at rate x%.4g: more than %.0f, scale down", calls, r,
				   WORKLOAD_MAX_CALLS);
	w->rate_scale = r;
	snprintf(w->scaling, sizeof(w->scaling), "%s, %s", time, rate);
	return 0;
}

/* ---- drawing the calls ---------------------------------------------------- */

/* How many calls one recorded call becomes at rate r: floor(r), plus one
 * with probability frac(r). */
static uint32_t copies(struct rng *g, double r)
{
	double whole = floor(r);
	return (uint32_t)whole + (rng_unit(g) < r - whole ? 1 : 0);
}

struct draw {
	const struct workload_opts *o;
	struct workload *w;
	size_t cap;
};

/* Appends a call at at_ms (trace time from the window's start) lasting
 * duration_ms (trace time), scaled and cut. */
static int push_call(struct draw *d, uint32_t fn, double at_ms, double duration_ms, double mb)
{
	struct workload *w = d->w;
	if (array_reserve(&w->calls, &d->cap, w->n_calls + 1, sizeof(*w->calls), 4096) < 0)
		return -ENOMEM;
	double sent = duration_ms / w->time_scale;
	if (d->o->max_duration_ms > 0 && sent > d->o->max_duration_ms) {
		sent = d->o->max_duration_ms;
		w->cut_durations++;
	}
	w->calls[w->n_calls++] = (struct workload_call){
		.at_ms = at_ms / w->time_scale, .fn = fn, .duration_ms = sent, .memory_mb = mb
	};
	w->fns[fn].calls++;
	return 0;
}

/* A 2019 function: per-minute counts, arrivals in each minute Poisson
 * (uniform positions) or evenly spaced, durations and memory drawn from the
 * percentiles. */
static int draw_minutes(struct draw *d, uint32_t fn, const struct trace_function *f, int off)
{
	struct rng g = fn_rng(d->o->seed, f);
	for (int m = 0; m < d->w->minutes; m++) {
		uint32_t n = 0, c = f->per_minute[off + m];
		for (uint32_t i = 0; i < c; i++)
			n += copies(&g, d->w->rate_scale);
		for (uint32_t i = 0; i < n; i++) {
			double pos = d->o->uniform ? (i + 0.5) / n : rng_unit(&g);
			double dur = trace_interpolate(trace_dur_pct_points, f->dur_pct_ms,
						       TRACE_DUR_PCTS, rng_unit(&g) * 100);
			double q = rng_unit(&g) * 100;
			double mb = f->has_memory
					    ? trace_interpolate(trace_mem_pct_points, f->mem_pct_mb,
								TRACE_MEM_PCTS, q)
					    : 0;
			if (push_call(d, fn, (m + pos) * MINUTE_MS, dur, mb) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* A 2021 function: its recorded calls in the window; a copy beyond the first
 * (rate > 1) lands at a uniform time in the same minute. */
static int draw_exact(struct draw *d, uint32_t fn, const struct trace_function *f, int off)
{
	struct rng g = fn_rng(d->o->seed, f);
	double from = off * 60.0, to = from + d->w->minutes * 60.0;
	for (size_t k = 0; k < f->n_calls; k++) {
		double s = f->calls[k].start_s;
		if (s < from || s >= to)
			continue;
		uint32_t n = copies(&g, d->w->rate_scale);
		double at = (s - from) * 1000;
		for (uint32_t i = 0; i < n; i++) {
			double t = i == 0 ? at : (floor(at / MINUTE_MS) + rng_unit(&g)) * MINUTE_MS;
			if (push_call(d, fn, t, f->calls[k].duration_ms, 0) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static int call_cmp(const void *a, const void *b)
{
	const struct workload_call *x = a, *y = b;
	if (x->at_ms != y->at_ms)
		return x->at_ms < y->at_ms ? -1 : 1;
	if (x->fn != y->fn)
		return x->fn < y->fn ? -1 : 1;
	if (x->duration_ms != y->duration_ms)
		return x->duration_ms < y->duration_ms ? -1 : 1;
	return (x->memory_mb > y->memory_mb) - (x->memory_mb < y->memory_mb);
}

int workload_build(const struct trace *t, const struct workload_opts *o, struct workload *ret,
		   char *err, size_t err_size)
{
	struct workload *w = ret;
	memset(w, 0, sizeof(*w));
	int r = select_functions(t, o, w, err, err_size);
	if (r == 0)
		r = set_window(t, o, w, err, err_size);
	double calls = 0, cap_trace = 0;
	if (r == 0) {
		/* The cut applies to durations as sent: in the trace's time it
		 * is time_scale times longer. */
		double f = o->time_scale > 0 ? o->time_scale : 1;
		cap_trace = o->max_duration_ms > 0 ? o->max_duration_ms * f : 0;
		w->offered_cores_trace = window_load(t, w, cap_trace, &calls);
		r = decide_scaling(o, w->offered_cores_trace, calls, w, err, err_size);
	}
	struct draw d = { .o = o, .w = w };
	int off = w->start_minute - t->first_minute;
	for (size_t i = 0; r == 0 && i < w->n_fns; i++) {
		const struct trace_function *f = &t->fns[w->fns[i].trace_index];
		r = f->calls ? draw_exact(&d, (uint32_t)i, f, off)
			     : draw_minutes(&d, (uint32_t)i, f, off);
	}
	if (r == 0 && w->n_calls == 0)
		r = bench_error(err, err_size, -EINVAL,
				"no calls in minutes %d..%d of the selected functions",
				w->start_minute, w->start_minute + w->minutes - 1);
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(err, err_size, "out of memory");
		workload_free(w);
		return r;
	}
	qsort(w->calls, w->n_calls, sizeof(*w->calls), call_cmp);
	w->duration_ms = w->minutes * MINUTE_MS / w->time_scale;
	double work = 0;
	for (size_t i = 0; i < w->n_calls; i++)
		work += w->calls[i].duration_ms;
	w->offered_cores = work / w->duration_ms;
	return 0;
}

int workload_load_curve(const struct workload *w, double bin_ms, double **ret, size_t *ret_n)
{
	size_t n = (size_t)ceil(w->duration_ms / bin_ms);
	double *v = calloc(n ? n : 1, sizeof(double));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < w->n_calls; i++) {
		double a = w->calls[i].at_ms, b = a + w->calls[i].duration_ms;
		for (size_t k = (size_t)(a / bin_ms); k < n && (double)k * bin_ms < b; k++) {
			double lo = fmax(a, (double)k * bin_ms),
			       hi = fmin(b, (double)(k + 1) * bin_ms);
			v[k] += (hi - lo) / bin_ms;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}
