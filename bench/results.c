/* Runs of a workload reported: summary JSON, table, CSV and gnuplot plots. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "results.h"
#include "util.h"

/* Slowdowns divide by at least this (a trace's 0 ms durations). */
#define MIN_DURATION_MS 1.0
/* Points per CDF line in the plots' data. */
#define CDF_POINTS 1000
/* Columns of the side-by-side table. */
#define TABLE_MAX_RUNS 32

static const char *const status_names[] = { "ok", "failed", "timeout", "not_sent" };

int run_init(struct run *r, const struct workload *w, const char *policy)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->policy, sizeof(r->policy), "%s", policy);
	r->calls = calloc(w->n_calls ? w->n_calls : 1, sizeof(*r->calls));
	if (!r->calls)
		return -ENOMEM;
	for (size_t i = 0; i < w->n_calls; i++) {
		r->calls[i].status = CALL_NOT_SENT;
		r->calls[i].vcpu = -1;
	}
	return 0;
}

int run_alloc_add(struct run *r, double t_ms, double workers)
{
	if (array_reserve(&r->alloc, &r->cap_alloc, r->n_alloc + 1, sizeof(*r->alloc), 256) < 0)
		return -ENOMEM;
	r->alloc[r->n_alloc++] = (struct alloc_sample){ t_ms, workers };
	return 0;
}

void run_free(struct run *r)
{
	free(r->calls);
	free(r->alloc);
	memset(r, 0, sizeof(*r));
}

/* ---- figures of one run --------------------------------------------------- */

struct figures {
	struct stats latency, slowdown;
	size_t cold, failures, answered;
	double *lat, *slow; /* sorted, answered calls only */
};

static double slowdown_of(const struct workload *w, const struct run *r, size_t i)
{
	double d = w->calls[i].duration_ms;
	return r->calls[i].latency_ms / (d > MIN_DURATION_MS ? d : MIN_DURATION_MS);
}

static int figures_compute(const struct workload *w, const struct run *r, struct figures *f)
{
	memset(f, 0, sizeof(*f));
	f->lat = malloc((w->n_calls ? w->n_calls : 1) * sizeof(double));
	f->slow = malloc((w->n_calls ? w->n_calls : 1) * sizeof(double));
	if (!f->lat || !f->slow) {
		free(f->lat);
		free(f->slow);
		return -ENOMEM;
	}
	for (size_t i = 0; i < w->n_calls; i++) {
		const struct call_result *c = &r->calls[i];
		f->cold += c->cold_start;
		if (c->status != CALL_OK) {
			f->failures++;
			continue;
		}
		f->lat[f->answered] = c->latency_ms;
		f->slow[f->answered++] = slowdown_of(w, r, i);
	}
	stats_compute(f->lat, f->answered, &f->latency);
	stats_compute(f->slow, f->answered, &f->slowdown);
	return 0;
}

static void figures_free(struct figures *f)
{
	free(f->lat);
	free(f->slow);
}

static json_t *pcts_json(const struct stats *s)
{
	if (s->n == 0)
		return json_pack("{s:n, s:n, s:n}", "p50", "p99", "p999");
	return json_pack("{s:f, s:f, s:f}", "p50", s->p50, "p99", s->p99, "p999", s->p999);
}

static double utilisation(const struct run *r)
{
	return r->vcpu_s_allocated > 0 ? r->vcpu_s_busy / r->vcpu_s_allocated : 0;
}

static json_t *run_json(const struct workload *w, const struct run *r)
{
	struct figures f;
	if (figures_compute(w, r, &f) < 0)
		return NULL;
	json_t *o = json_pack("{s:o, s:o, s:{s:f, s:f}, s:f, s:I, s:I, s:I}", "latency_ms",
			      pcts_json(&f.latency), "slowdown", pcts_json(&f.slowdown), "vcpu_s",
			      "allocated", r->vcpu_s_allocated, "busy", r->vcpu_s_busy,
			      "utilisation", utilisation(r), "cold_starts", (json_int_t)f.cold,
			      "failures", (json_int_t)f.failures, "invocations",
			      (json_int_t)w->n_calls);
	figures_free(&f);
	return o;
}

json_t *results_summary(const struct workload *w, const struct run *runs, size_t n_runs,
			json_t *extra)
{
	json_t *policies = json_object();
	for (size_t i = 0; policies && i < n_runs; i++) {
		char key[80];
		snprintf(key, sizeof(key), "%s", runs[i].policy);
		/* The same policy twice keeps both: the second as "spec#2". */
		for (int k = 2; json_object_get(policies, key); k++)
			snprintf(key, sizeof(key), "%s#%d", runs[i].policy, k);
		json_t *r = run_json(w, &runs[i]);
		if (!r || json_object_set_new(policies, key, r) < 0) {
			json_decref(policies);
			return NULL;
		}
	}
	json_t *o = json_pack(
		"{s:o, s:f, s:{s:i, s:i, s:f, s:I, s:I}, s:{s:f, s:f, s:f, s:I, s:s}}", "policies",
		policies, "offered_cores", w->offered_cores, "window", "start_minute",
		w->start_minute, "minutes", w->minutes, "seconds", w->duration_ms / 1000,
		"functions", (json_int_t)w->n_fns, "invocations", (json_int_t)w->n_calls, "scaling",
		"time_scale", w->time_scale, "rate_scale", w->rate_scale, "trace_offered_cores",
		w->offered_cores_trace, "cut_durations", (json_int_t)w->cut_durations, "summary",
		w->scaling);
	if (o && extra)
		json_object_update(o, extra);
	return o;
}

/* ---- table ---------------------------------------------------------------- */

enum row_kind { ROW_MS, ROW_X, ROW_S, ROW_PCT, ROW_COUNT };

struct row {
	const char *name;
	enum row_kind kind;
};

static const struct row rows[] = {
	{ "latency p50 (ms)", ROW_MS },   { "latency p99 (ms)", ROW_MS },
	{ "latency p99.9 (ms)", ROW_MS }, { "slowdown p50", ROW_X },
	{ "slowdown p99", ROW_X },        { "slowdown p99.9", ROW_X },
	{ "vCPU-s allocated", ROW_S },    { "vCPU-s busy", ROW_S },
	{ "utilisation", ROW_PCT },       { "cold starts", ROW_COUNT },
	{ "failures", ROW_COUNT },        { "invocations", ROW_COUNT },
};
#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static double row_value(size_t row, const struct figures *f, const struct run *r, size_t calls)
{
	const struct stats *l = &f->latency, *s = &f->slowdown;
	double v[N_ROWS] = { l->p50,
			     l->p99,
			     l->p999,
			     s->p50,
			     s->p99,
			     s->p999,
			     r->vcpu_s_allocated,
			     r->vcpu_s_busy,
			     utilisation(r) * 100,
			     (double)f->cold,
			     (double)f->failures,
			     (double)calls };
	return v[row];
}

static void cell(FILE *out, int width, enum row_kind kind, double v, bool none)
{
	char s[32];
	if (none)
		snprintf(s, sizeof(s), "-");
	else if (kind == ROW_COUNT)
		snprintf(s, sizeof(s), "%.0f", v);
	else if (kind == ROW_PCT)
		snprintf(s, sizeof(s), "%.0f %%", v);
	else if (kind == ROW_X)
		snprintf(s, sizeof(s), "%.2f", v);
	else
		snprintf(s, sizeof(s), v >= 100 ? "%.0f" : "%.1f", v);
	fprintf(out, " %*s", width, s);
}

void results_print_table(FILE *f, const struct workload *w, const struct run *runs, size_t n_runs)
{
	fprintf(f,
		"window: minutes %d..%d (%d min), %zu functions, %zu calls, %.1f s of wall time\n",
		w->start_minute, w->start_minute + w->minutes - 1, w->minutes, w->n_fns, w->n_calls,
		w->duration_ms / 1000);
	fprintf(f, "offered load: %.2f cores (%s)\n", w->offered_cores, w->scaling);
	struct figures *fig = calloc(n_runs ? n_runs : 1, sizeof(*fig));
	int width[TABLE_MAX_RUNS];
	size_t n = n_runs < TABLE_MAX_RUNS ? n_runs : TABLE_MAX_RUNS;
	fprintf(f, "%-20s", "");
	for (size_t i = 0; i < n; i++) {
		width[i] = (int)strlen(runs[i].policy) > 12 ? (int)strlen(runs[i].policy) : 12;
		fprintf(f, " %*s", width[i], runs[i].policy);
		if (fig && figures_compute(w, &runs[i], &fig[i]) < 0)
			memset(&fig[i], 0, sizeof(fig[i]));
	}
	fputc('\n', f);
	for (size_t k = 0; fig && k < N_ROWS; k++) {
		fprintf(f, "%-20s", rows[k].name);
		for (size_t i = 0; i < n; i++)
			cell(f, width[i], rows[k].kind, row_value(k, &fig[i], &runs[i], w->n_calls),
			     k < 6 && fig[i].answered == 0);
		fputc('\n', f);
	}
	for (size_t i = 0; fig && i < n; i++)
		figures_free(&fig[i]);
	free(fig);
}

/* ---- CSV ------------------------------------------------------------------ */

int results_write_csv(const char *path, const struct workload *w, const struct run *runs,
		      size_t n_runs)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "policy,function,arrival_ms,duration_ms,latency_ms,status,cold_start,vcpu,vm\n");
	for (size_t k = 0; k < n_runs; k++)
		for (size_t i = 0; i < w->n_calls; i++) {
			const struct workload_call *c = &w->calls[i];
			const struct call_result *r = &runs[k].calls[i];
			fprintf(f, "%s,%s,%.3f,%.3f,", runs[k].policy, w->fns[c->fn].name, c->at_ms,
				c->duration_ms);
			if (r->status != CALL_NOT_SENT)
				fprintf(f, "%.3f", r->latency_ms);
			fprintf(f, ",%s,%d,", status_names[r->status], r->cold_start);
			if (r->vcpu >= 0)
				fprintf(f, "%d", r->vcpu);
			fprintf(f, ",%s\n", r->vm);
		}
	int r = ferror(f) ? -EIO : 0;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

/* ---- plots ---------------------------------------------------------------- */

/* One block per run of up to CDF_POINTS "value fraction" lines from a
 * sorted sample, blocks apart by two blank lines (gnuplot's index). */
static void cdf_block(FILE *f, const double *v, size_t n)
{
	size_t step = n > CDF_POINTS ? n / CDF_POINTS : 1;
	for (size_t i = 0; i < n; i += step)
		fprintf(f, "%g %g\n", v[i], (double)(i + 1) / (double)n);
	/* An empty line still needs a point, or gnuplot stops. */
	fprintf(f, n ? "%g 1\n\n\n" : "1 0\n\n\n", n ? v[n - 1] : 0);
}

static int write_cdfs(const char *dir, const struct workload *w, const struct run *runs,
		      size_t n_runs)
{
	char lp[1100], sp[1100];
	snprintf(lp, sizeof(lp), "%s/latency.dat", dir);
	snprintf(sp, sizeof(sp), "%s/slowdown.dat", dir);
	FILE *l = fopen(lp, "w"), *s = fopen(sp, "w");
	int r = l && s ? 0 : -errno;
	for (size_t i = 0; r == 0 && i < n_runs; i++) {
		struct figures fig;
		if ((r = figures_compute(w, &runs[i], &fig)) < 0)
			break;
		cdf_block(l, fig.lat, fig.answered);
		cdf_block(s, fig.slow, fig.answered);
		figures_free(&fig);
	}
	if (l && (ferror(l) | fclose(l)) && r == 0)
		r = -EIO;
	if (s && (ferror(s) | fclose(s)) && r == 0)
		r = -EIO;
	return r;
}

/* alloc.dat: one block per run, "t_s workers"; load.dat: "t_s cores". */
static int write_alloc(const char *dir, const struct workload *w, const struct run *runs,
		       size_t n_runs)
{
	char ap[1100], lp[1100];
	snprintf(ap, sizeof(ap), "%s/alloc.dat", dir);
	snprintf(lp, sizeof(lp), "%s/load.dat", dir);
	double bin = fmin(fmax(w->duration_ms / 300, 100), 60000), *curve;
	size_t n;
	if (workload_load_curve(w, bin, &curve, &n) < 0)
		return -ENOMEM;
	FILE *a = fopen(ap, "w"), *l = fopen(lp, "w");
	int r = a && l ? 0 : -errno;
	for (size_t i = 0; r == 0 && i < n_runs; i++) {
		for (size_t k = 0; k < runs[i].n_alloc; k++)
			fprintf(a, "%g %g\n", runs[i].alloc[k].t_ms / 1000,
				runs[i].alloc[k].workers);
		fprintf(a, "%s\n\n", runs[i].n_alloc ? "" : "0 0\n");
	}
	for (size_t k = 0; r == 0 && k < n; k++)
		fprintf(l, "%g %g\n", (double)k * bin / 1000, curve[k]);
	free(curve);
	if (a && (ferror(a) | fclose(a)) && r == 0)
		r = -EIO;
	if (l && (ferror(l) | fclose(l)) && r == 0)
		r = -EIO;
	return r;
}

/* A path in a gnuplot single-quoted string (a quote is written twice). */
static void gp_path(FILE *f, const char *dir, const char *name)
{
	fputc('\'', f);
	for (const char *p = dir; *p; p++)
		fputs(*p == '\'' ? "''" : (char[]){ *p, 0 }, f);
	fprintf(f, "/%s'", name);
}

/* Sets the terminal and output for kind ("png" or "svg") of plot base. */
static void gp_output(FILE *f, const char *dir, const char *base, const char *kind, int height)
{
	if (strcmp(kind, "png") == 0)
		fprintf(f,
			"if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) "
			"{ set terminal pngcairo noenhanced size 1000,%d } "
			"else { set terminal png noenhanced size 1000,%d }\n",
			height, height);
	else
		fprintf(f, "set terminal svg noenhanced size 1000,%d\n", height);
	char name[64];
	snprintf(name, sizeof(name), "%s.%s", base, kind);
	fprintf(f, "set output ");
	gp_path(f, dir, name);
	fputc('\n', f);
}

static void gp_alloc(FILE *f, const char *dir, const struct run *runs, size_t n_runs,
		     const char *kind)
{
	int h = 180 * (int)(n_runs ? n_runs : 1) + 60;
	gp_output(f, dir, "alloc", kind, h);
	fprintf(f,
		"set multiplot layout %zu,1 title 'Worker vCPUs allocated and offered load'\n"
		"set key top left opaque\nset ylabel 'cores'\nset yrange [0:*]\nunset logscale\n",
		n_runs ? n_runs : 1);
	for (size_t i = 0; i < n_runs; i++) {
		fprintf(f, "set xlabel '%s'\n", i + 1 == n_runs ? "time (s)" : "");
		fprintf(f, "plot ");
		gp_path(f, dir, "load.dat");
		fprintf(f, " with lines lc rgb '#777777' title 'offered load', ");
		gp_path(f, dir, "alloc.dat");
		fprintf(f, " index %zu with steps lw 2 title '%s: worker vCPUs'\n", i,
			runs[i].policy);
	}
	fprintf(f, "unset multiplot\n");
}

static void gp_cdf(FILE *f, const char *dir, const struct run *runs, size_t n_runs,
		   const char *base, const char *data, const char *xlabel, const char *kind)
{
	gp_output(f, dir, base, kind, 560);
	fprintf(f,
		"set xlabel '%s'\nset ylabel 'fraction of calls'\nset logscale x\n"
		"set yrange [0:1]\nset key bottom right\nplot ",
		xlabel);
	for (size_t i = 0; i < n_runs; i++) {
		gp_path(f, dir, data);
		fprintf(f, " index %zu with lines lw 2 title '%s'%s", i, runs[i].policy,
			i + 1 < n_runs ? ", " : "\n");
	}
	fprintf(f, "unset logscale\nset yrange [*:*]\n");
}

/* Runs gnuplot on script, its messages into log. */
static int gp_run(const char *script, const char *log, char *err, size_t size)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	char *argv[] = { "gnuplot", (char *)script, NULL };
	pid_t pid;
	int e = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e)
		return bench_error(err, size, -e, "cannot run gnuplot (%s): install gnuplot",
				   strerror(e));
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return bench_error(err, size, -errno, "gnuplot: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return bench_error(err, size, -EIO, "gnuplot failed; see %s", log);
	return 0;
}

int results_plots(const char *dir, const struct workload *w, const struct run *runs, size_t n_runs,
		  char *err, size_t err_size)
{
	int r = mkdir_parents(dir, 0755);
	if (r < 0)
		return bench_error(err, err_size, r, "cannot create %s: %s", dir, strerror(-r));
	if ((r = write_alloc(dir, w, runs, n_runs)) < 0 ||
	    (r = write_cdfs(dir, w, runs, n_runs)) < 0)
		return bench_error(err, err_size, r, "cannot write the plots' data in %s: %s", dir,
				   strerror(-r));
	char script[1100], log[1100];
	snprintf(script, sizeof(script), "%s/plots.gp", dir);
	snprintf(log, sizeof(log), "%s/gnuplot.log", dir);
	FILE *f = fopen(script, "w");
	if (!f)
		return bench_error(err, err_size, -errno, "cannot write %s: %s", script,
				   strerror(errno));
	static const char *const kinds[] = { "png", "svg" };
	for (int k = 0; k < 2; k++) {
		gp_alloc(f, dir, runs, n_runs, kinds[k]);
		gp_cdf(f, dir, runs, n_runs, "latency-cdf", "latency.dat",
		       "latency (ms), from the scheduled arrival", kinds[k]);
		gp_cdf(f, dir, runs, n_runs, "slowdown-cdf", "slowdown.dat",
		       "slowdown (latency / requested duration)", kinds[k]);
	}
	if ((ferror(f) | fclose(f)) != 0)
		return bench_error(err, err_size, -EIO, "cannot write %s", script);
	return gp_run(script, log, err, err_size);
}
