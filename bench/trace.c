/* Azure Functions traces (2019 folders, 2021 CSV) read into struct trace.
 * The files are plain CSV without quoting; columns are found by their
 * header names, so their order does not matter. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"
#include "trace.h"
#include "util.h"

/* The longest span of calls a 2021 trace may have. */
#define TRACE_2021_MAX_DAYS 366

const double trace_dur_pct_points[TRACE_DUR_PCTS] = { 0, 1, 25, 50, 75, 99, 100 };
const double trace_mem_pct_points[TRACE_MEM_PCTS] = { 1, 5, 25, 50, 75, 95, 99, 100 };

/* A CSV file read whole; each row's fields point into its buffer. */
struct csv {
	const char *path;
	char *buf, *p, *end;
	int line;
	char **fields;
	size_t n, cap;
	char **head; /* the header's fields (a copy of the pointers) */
	size_t n_head;
};

static void csv_close(struct csv *c)
{
	free(c->buf);
	free(c->fields);
	free(c->head);
	memset(c, 0, sizeof(*c));
}

/* Splits the next non-empty line into fields. Returns 1, 0 at the end, or
 * -ENOMEM. */
static int csv_next(struct csv *c)
{
	while (c->p < c->end) {
		char *line = c->p, *nl = memchr(line, '\n', (size_t)(c->end - line));
		char *stop = nl ? nl : c->end;
		c->p = nl ? nl + 1 : c->end;
		c->line++;
		if (stop > line && stop[-1] == '\r')
			stop--;
		*stop = '\0';
		if (stop == line)
			continue;
		c->n = 0;
		for (char *f = line;;) {
			if (array_reserve(&c->fields, &c->cap, c->n + 1, sizeof(char *), 64) < 0)
				return -ENOMEM;
			c->fields[c->n++] = f;
			char *comma = strchr(f, ',');
			if (!comma)
				break;
			*comma = '\0';
			f = comma + 1;
		}
		return 1;
	}
	return 0;
}

/* Reads path and its header line. */
static int csv_open(struct csv *c, const char *path, char *err, size_t size)
{
	memset(c, 0, sizeof(*c));
	c->path = path;
	size_t len;
	int r = file_read_all(path, (void **)&c->buf, &len);
	if (r < 0)
		return bench_error(err, size, r, "%s: %s", path, strerror(-r));
	c->p = c->buf;
	c->end = c->buf + len;
	r = csv_next(c);
	if (r <= 0) {
		csv_close(c);
		return r < 0 ? bench_error(err, size, r, "out of memory")
			     : bench_error(err, size, -EINVAL, "%s: empty, no header", path);
	}
	c->head = malloc(c->n * sizeof(char *));
	if (!c->head) {
		csv_close(c);
		return bench_error(err, size, -ENOMEM, "out of memory");
	}
	memcpy(c->head, c->fields, c->n * sizeof(char *));
	c->n_head = c->n;
	return 0;
}

/* The header's column named name, or -1. */
static int csv_col(const struct csv *c, const char *name)
{
	for (size_t i = 0; i < c->n_head; i++)
		if (strcmp(c->head[i], name) == 0)
			return (int)i;
	return -1;
}

/* Finds every column of names[] (n of them) into cols[]. */
static int csv_cols(const struct csv *c, const char *const *names, int *cols, size_t n, char *err,
		    size_t size)
{
	for (size_t i = 0; i < n; i++)
		if ((cols[i] = csv_col(c, names[i])) < 0)
			return bench_error(err, size, -EINVAL, "%s: no column %s in its header",
					   c->path, names[i]);
	return 0;
}

/* A row with as many fields as the header. */
static int csv_row_check(const struct csv *c, char *err, size_t size)
{
	if (c->n != c->n_head)
		return bench_error(err, size, -EINVAL, "%s:%d: %zu fields, the header has %zu",
				   c->path, c->line, c->n, c->n_head);
	return 0;
}

/* A finite number >= 0, the whole field. */
static int csv_number(const struct csv *c, int col, double *ret, char *err, size_t size)
{
	const char *s = c->fields[col];
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v) || v < 0)
		return bench_error(err, size, -EINVAL, "%s:%d: %s is \"%s\", not a number >= 0",
				   c->path, c->line, c->head[col], s);
	*ret = v;
	return 0;
}

static int csv_hash(const struct csv *c, int col, char *out, char *err, size_t size)
{
	const char *s = c->fields[col];
	size_t len = strlen(s);
	if (len == 0 || len >= TRACE_HASH_SIZE)
		return bench_error(err, size, -EINVAL, "%s:%d: %s must be 1 to %d characters",
				   c->path, c->line, c->head[col], TRACE_HASH_SIZE - 1);
	memcpy(out, s, len + 1);
	return 0;
}

double trace_interpolate(const double *points, const double *values, size_t n, double q)
{
	if (q <= points[0])
		return values[0];
	for (size_t i = 1; i < n; i++)
		if (q <= points[i]) {
			double span = points[i] - points[i - 1];
			double f = span > 0 ? (q - points[i - 1]) / span : 1;
			return values[i - 1] + f * (values[i] - values[i - 1]);
		}
	return values[n - 1];
}

void trace_free(struct trace *t)
{
	for (size_t i = 0; i < t->n_fns; i++) {
		free(t->fns[i].per_minute);
		free(t->fns[i].calls);
	}
	free(t->fns);
	memset(t, 0, sizeof(*t));
}

/* ---- 2019: the three files of a day --------------------------------------- */

/* Functions sorted by (owner, app, func), to join the other two files. */
struct fn_index {
	const struct trace *t;
	size_t *order;
};

static int key_cmp(const struct trace_function *f, const char *owner, const char *app,
		   const char *func)
{
	int d = strcmp(f->owner, owner);
	if (d == 0)
		d = strcmp(f->app, app);
	if (d == 0 && func)
		d = strcmp(f->func, func);
	return d;
}

static int order_cmp(const void *a, const void *b, void *data)
{
	const struct trace *t = data;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const struct trace_function *y = &t->fns[j];
	int d = key_cmp(&t->fns[i], y->owner, y->app, y->func);
	return d ? d : (i > j) - (i < j);
}

static int index_build(struct fn_index *x, const struct trace *t)
{
	x->t = t;
	x->order = malloc((t->n_fns ? t->n_fns : 1) * sizeof(size_t));
	if (!x->order)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_fns; i++)
		x->order[i] = i;
	qsort_r(x->order, t->n_fns, sizeof(size_t), order_cmp, (void *)t);
	return 0;
}

/* The first position in x->order whose function is not below the key
 * (func NULL: any function of owner/app). */
static size_t index_lower(const struct fn_index *x, const char *owner, const char *app,
			  const char *func)
{
	size_t lo = 0, hi = x->t->n_fns;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_cmp(&x->t->fns[x->order[mid]], owner, app, func) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The three file names of one day in folder dir: the published samples'
 * names, or the original dataset's for day `day` (0: the first found). */
struct day_files {
	char inv[1024], dur[1024], mem[1024];
	bool has_mem;
};

static int first_day(const char *dir, int *ret, char *err, size_t size)
{
	DIR *d = opendir(dir);
	if (!d)
		return bench_error(err, size, -errno, "%s: %s", dir, strerror(errno));
	struct dirent *e;
	int best = 0;
	while ((e = readdir(d))) {
		int day, n = 0;
		if (sscanf(e->d_name, "invocations_per_function_md.anon.d%2d.csv%n", &day, &n) ==
			    1 &&
		    n > 0 && !e->d_name[n] && day > 0 && (!best || day < best))
			best = day;
	}
	closedir(d);
	if (!best)
		return bench_error(err, size, -ENOENT,
				   "%s: neither invocations.csv nor "
				   "invocations_per_function_md.anon.dNN.csv is there",
				   dir);
	*ret = best;
	return 0;
}

static int day_files_find(const char *dir, int day, struct day_files *f, char *err, size_t size)
{
	struct stat st;
	snprintf(f->inv, sizeof(f->inv), "%s/invocations.csv", dir);
	if (day == 0 && stat(f->inv, &st) == 0) {
		snprintf(f->dur, sizeof(f->dur), "%s/durations.csv", dir);
		snprintf(f->mem, sizeof(f->mem), "%s/memory.csv", dir);
	} else {
		int r;
		if (day == 0 && (r = first_day(dir, &day, err, size)) < 0)
			return r;
		snprintf(f->inv, sizeof(f->inv), "%s/invocations_per_function_md.anon.d%02d.csv",
			 dir, day);
		snprintf(f->dur, sizeof(f->dur), "%s/function_durations_percentiles.anon.d%02d.csv",
			 dir, day);
		snprintf(f->mem, sizeof(f->mem), "%s/app_memory_percentiles.anon.d%02d.csv", dir,
			 day);
		if (stat(f->inv, &st) != 0)
			return bench_error(err, size, -ENOENT, "%s: no such file (day %d)", f->inv,
					   day);
	}
	if (stat(f->dur, &st) != 0)
		return bench_error(err, size, -ENOENT, "%s: no such file (durations are needed)",
				   f->dur);
	f->has_mem = stat(f->mem, &st) == 0;
	return 0;
}

/* Minute columns: the ones after Trigger, named by contiguous numbers. */
static int minute_columns(const struct csv *c, int first_col, struct trace *t, char *err,
			  size_t size)
{
	t->n_minutes = (int)c->n_head - first_col;
	for (int i = 0; i < t->n_minutes; i++) {
		int64_t m;
		if (parse_i64(c->head[first_col + i], 0, 10000000, &m) < 0 ||
		    (i > 0 && m != t->first_minute + i))
			return bench_error(
				err, size, -EINVAL,
				"%s: column %d is \"%s\": minute columns must be contiguous "
				"numbers",
				c->path, first_col + i + 1, c->head[first_col + i]);
		if (i == 0)
			t->first_minute = (int)m;
	}
	if (t->n_minutes < 1)
		return bench_error(err, size, -EINVAL, "%s: no minute columns after Trigger",
				   c->path);
	return 0;
}

static int invocation_row(const struct csv *c, const int *cols, struct trace_function *f,
			  int n_minutes, char *err, size_t size)
{
	int r;
	if ((r = csv_row_check(c, err, size)) < 0 ||
	    (r = csv_hash(c, cols[0], f->owner, err, size)) < 0 ||
	    (r = csv_hash(c, cols[1], f->app, err, size)) < 0 ||
	    (r = csv_hash(c, cols[2], f->func, err, size)) < 0)
		return r;
	snprintf(f->trigger, sizeof(f->trigger), "%s", c->fields[cols[3]]);
	f->per_minute = malloc((size_t)n_minutes * sizeof(uint32_t));
	if (!f->per_minute)
		return bench_error(err, size, -ENOMEM, "out of memory");
	for (int m = 0; m < n_minutes; m++) {
		uint64_t v;
		if (parse_u64(c->fields[cols[3] + 1 + m], 0, UINT32_MAX, &v) < 0)
			return bench_error(err, size, -EINVAL,
					   "%s:%d: minute %s is \"%s\", not a count", c->path,
					   c->line, c->head[cols[3] + 1 + m],
					   c->fields[cols[3] + 1 + m]);
		f->per_minute[m] = (uint32_t)v;
		f->total += v;
	}
	return 0;
}

static int read_invocations(const char *path, struct trace *t, char *err, size_t size)
{
	static const char *const names[] = { "HashOwner", "HashApp", "HashFunction", "Trigger" };
	struct csv c;
	int cols[4], r = csv_open(&c, path, err, size);
	if (r < 0)
		return r;
	if ((r = csv_cols(&c, names, cols, 4, err, size)) < 0 ||
	    (r = minute_columns(&c, cols[3] + 1, t, err, size)) < 0)
		goto out;
	size_t cap = 0;
	while ((r = csv_next(&c)) > 0) {
		if (array_reserve(&t->fns, &cap, t->n_fns + 1, sizeof(*t->fns), 256) < 0) {
			r = bench_error(err, size, -ENOMEM, "out of memory");
			goto out;
		}
		struct trace_function *f = &t->fns[t->n_fns++];
		memset(f, 0, sizeof(*f));
		if ((r = invocation_row(&c, cols, f, t->n_minutes, err, size)) < 0)
			goto out;
	}
	if (r == 0 && t->n_fns == 0)
		r = bench_error(err, size, -EINVAL, "%s: no functions", path);
out:
	csv_close(&c);
	return r < 0 ? (r == -ENOMEM ? bench_error(err, size, r, "out of memory") : r) : 0;
}

static const char *const dur_names[] = { "HashOwner",
					 "HashApp",
					 "HashFunction",
					 "Average",
					 "percentile_Average_0",
					 "percentile_Average_1",
					 "percentile_Average_25",
					 "percentile_Average_50",
					 "percentile_Average_75",
					 "percentile_Average_99",
					 "percentile_Average_100" };
#define DUR_COLS (sizeof(dur_names) / sizeof(dur_names[0]))

/* One durations row into its function, when the trace has it and it has no
 * durations yet. */
static int duration_row(const struct csv *c, const int *cols, const struct fn_index *x, char *err,
			size_t size)
{
	char owner[TRACE_HASH_SIZE], app[TRACE_HASH_SIZE], func[TRACE_HASH_SIZE];
	double v[DUR_COLS];
	int r;
	if ((r = csv_row_check(c, err, size)) < 0 ||
	    (r = csv_hash(c, cols[0], owner, err, size)) < 0 ||
	    (r = csv_hash(c, cols[1], app, err, size)) < 0 ||
	    (r = csv_hash(c, cols[2], func, err, size)) < 0)
		return r;
	for (size_t i = 3; i < DUR_COLS; i++)
		if ((r = csv_number(c, cols[i], &v[i], err, size)) < 0)
			return r;
	size_t k = index_lower(x, owner, app, func);
	if (k == x->t->n_fns)
		return 0;
	struct trace_function *f = &x->t->fns[x->order[k]];
	if (key_cmp(f, owner, app, func) != 0 || f->has_duration)
		return 0;
	f->has_duration = 1;
	f->dur_avg_ms = v[3];
	for (int i = 0; i < TRACE_DUR_PCTS; i++) {
		f->dur_pct_ms[i] = v[4 + i];
		if (i > 0 && f->dur_pct_ms[i] < f->dur_pct_ms[i - 1])
			return bench_error(err, size, -EINVAL, "%s:%d: percentiles decrease at %s",
					   c->path, c->line, c->head[cols[4 + i]]);
	}
	return 0;
}

static int read_durations(const char *path, const struct fn_index *x, char *err, size_t size)
{
	struct csv c;
	int cols[DUR_COLS], r = csv_open(&c, path, err, size);
	if (r < 0)
		return r;
	if ((r = csv_cols(&c, dur_names, cols, DUR_COLS, err, size)) == 0)
		while ((r = csv_next(&c)) > 0 && (r = duration_row(&c, cols, x, err, size)) == 0)
			;
	csv_close(&c);
	return r == -ENOMEM ? bench_error(err, size, r, "out of memory") : r;
}

static const char *const mem_names[] = { "HashOwner",
					 "HashApp",
					 "AverageAllocatedMb",
					 "AverageAllocatedMb_pct1",
					 "AverageAllocatedMb_pct5",
					 "AverageAllocatedMb_pct25",
					 "AverageAllocatedMb_pct50",
					 "AverageAllocatedMb_pct75",
					 "AverageAllocatedMb_pct95",
					 "AverageAllocatedMb_pct99",
					 "AverageAllocatedMb_pct100" };
#define MEM_COLS (sizeof(mem_names) / sizeof(mem_names[0]))

static void memory_set(struct trace_function *f, const double *v, double share)
{
	f->has_memory = 1;
	f->mem_avg_mb = v[2] / share;
	for (int i = 0; i < TRACE_MEM_PCTS; i++)
		f->mem_pct_mb[i] = v[3 + i] / share;
}

/* One memory row: per function when func_col >= 0, else per application,
 * split evenly across the application's functions in the trace. */
static int memory_row(const struct csv *c, const int *cols, int func_col, const struct fn_index *x,
		      char *err, size_t size)
{
	char owner[TRACE_HASH_SIZE], app[TRACE_HASH_SIZE], func[TRACE_HASH_SIZE];
	double v[MEM_COLS];
	int r;
	if ((r = csv_row_check(c, err, size)) < 0 ||
	    (r = csv_hash(c, cols[0], owner, err, size)) < 0 ||
	    (r = csv_hash(c, cols[1], app, err, size)) < 0 ||
	    (func_col >= 0 && (r = csv_hash(c, func_col, func, err, size)) < 0))
		return r;
	for (size_t i = 2; i < MEM_COLS; i++)
		if ((r = csv_number(c, cols[i], &v[i], err, size)) < 0)
			return r;
	const char *key = func_col >= 0 ? func : NULL;
	size_t k = index_lower(x, owner, app, key), n = 0;
	while (k + n < x->t->n_fns && key_cmp(&x->t->fns[x->order[k + n]], owner, app, key) == 0)
		n++;
	for (size_t i = 0; i < n; i++) {
		struct trace_function *f = &x->t->fns[x->order[k + i]];
		if (!f->has_memory)
			memory_set(f, v, func_col >= 0 ? 1.0 : (double)n);
	}
	return 0;
}

static int read_memory(const char *path, const struct fn_index *x, char *err, size_t size)
{
	struct csv c;
	int cols[MEM_COLS], r = csv_open(&c, path, err, size);
	if (r < 0)
		return r;
	int func_col = csv_col(&c, "HashFunction");
	if ((r = csv_cols(&c, mem_names, cols, MEM_COLS, err, size)) == 0)
		while ((r = csv_next(&c)) > 0 &&
		       (r = memory_row(&c, cols, func_col, x, err, size)) == 0)
			;
	csv_close(&c);
	return r == -ENOMEM ? bench_error(err, size, r, "out of memory") : r;
}

static int load_2019(const char *dir, int day, struct trace *t, char *err, size_t size)
{
	struct day_files files;
	int r = day_files_find(dir, day, &files, err, size);
	if (r < 0)
		return r;
	t->format = TRACE_AZURE2019;
	if ((r = read_invocations(files.inv, t, err, size)) < 0)
		return r;
	struct fn_index x;
	if (index_build(&x, t) < 0)
		return bench_error(err, size, -ENOMEM, "out of memory");
	r = read_durations(files.dur, &x, err, size);
	if (r == 0 && files.has_mem)
		r = read_memory(files.mem, &x, err, size);
	free(x.order);
	return r;
}

/* ---- 2021: one row per invocation ----------------------------------------- */

struct call_row {
	const char *app, *func;
	double start_s, duration_s;
};

static int row_cmp(const void *a, const void *b)
{
	const struct call_row *x = a, *y = b;
	int d = strcmp(x->app, y->app);
	if (d == 0)
		d = strcmp(x->func, y->func);
	if (d == 0)
		d = (x->start_s > y->start_s) - (x->start_s < y->start_s);
	return d;
}

static int read_call_rows(struct csv *c, struct call_row **ret, size_t *ret_n, char *err,
			  size_t size)
{
	static const char *const names[] = { "app", "func", "end_timestamp", "duration" };
	int cols[4], r;
	if ((r = csv_cols(c, names, cols, 4, err, size)) < 0)
		return r;
	struct call_row *rows = NULL;
	size_t n = 0, cap = 0;
	while ((r = csv_next(c)) > 0) {
		double end, dur;
		if ((r = csv_row_check(c, err, size)) < 0 ||
		    (r = csv_number(c, cols[2], &end, err, size)) < 0 ||
		    (r = csv_number(c, cols[3], &dur, err, size)) < 0)
			break;
		const char *app = c->fields[cols[0]], *func = c->fields[cols[1]];
		if (!*app || !*func || strlen(app) >= TRACE_HASH_SIZE ||
		    strlen(func) >= TRACE_HASH_SIZE) {
			r = bench_error(err, size, -EINVAL,
					"%s:%d: app and func must be 1 to %d characters", c->path,
					c->line, TRACE_HASH_SIZE - 1);
			break;
		}
		if (array_reserve(&rows, &cap, n + 1, sizeof(*rows), 1024) < 0) {
			r = bench_error(err, size, -ENOMEM, "out of memory");
			break;
		}
		rows[n++] = (struct call_row){ app, func, end - dur, dur };
	}
	if (r == 0 && n == 0)
		r = bench_error(err, size, -EINVAL, "%s: no invocations", c->path);
	if (r < 0) {
		free(rows);
		return r == -ENOMEM ? bench_error(err, size, r, "out of memory") : r;
	}
	qsort(rows, n, sizeof(*rows), row_cmp);
	*ret = rows;
	*ret_n = n;
	return 0;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* A function's counts per minute and duration percentiles from its calls
 * (rows[0..n), sorted by start; origin_s is the trace's minute 1). */
static int function_from_calls(struct trace_function *f, const struct call_row *rows, size_t n,
			       double origin_s, int n_minutes)
{
	snprintf(f->app, sizeof(f->app), "%s", rows[0].app);
	snprintf(f->func, sizeof(f->func), "%s", rows[0].func);
	f->per_minute = calloc((size_t)n_minutes, sizeof(uint32_t));
	f->calls = malloc(n * sizeof(*f->calls));
	double *d = malloc(n * sizeof(double));
	if (!f->per_minute || !f->calls || !d) {
		free(d);
		return -ENOMEM;
	}
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		double s = rows[i].start_s - origin_s;
		f->calls[i] = (struct trace_call){ s, rows[i].duration_s * 1000 };
		f->per_minute[(int)(s / 60)]++;
		d[i] = f->calls[i].duration_ms;
		sum += d[i];
	}
	f->n_calls = n;
	f->total = n;
	qsort(d, n, sizeof(double), dbl_cmp);
	f->has_duration = 1;
	f->dur_avg_ms = sum / (double)n;
	for (int i = 0; i < TRACE_DUR_PCTS; i++) {
		double pos = trace_dur_pct_points[i] / 100 * (double)(n - 1);
		size_t lo = (size_t)pos;
		double hi = lo + 1 < n ? d[lo + 1] : d[lo];
		f->dur_pct_ms[i] = d[lo] + (pos - (double)lo) * (hi - d[lo]);
	}
	free(d);
	return 0;
}

static int load_2021(const char *path, struct trace *t, char *err, size_t size)
{
	struct csv c;
	struct call_row *rows = NULL;
	size_t n = 0;
	int r = csv_open(&c, path, err, size);
	if (r < 0)
		return r;
	if ((r = read_call_rows(&c, &rows, &n, err, size)) < 0) {
		csv_close(&c);
		return r;
	}
	double origin = rows[0].start_s, last = rows[0].start_s;
	for (size_t i = 1; i < n; i++) {
		origin = fmin(origin, rows[i].start_s);
		last = fmax(last, rows[i].start_s);
	}
	origin = floor(origin);
	/* Counts are kept per minute of the span: a span far past any trace's
	 * (the published one covers 14 days) is a broken file, refused before
	 * it costs memory or overflows the minute count. */
	if (last - origin >= TRACE_2021_MAX_DAYS * 86400.0) {
		free(rows);
		csv_close(&c);
		return bench_error(err, size, -EINVAL, "%s: the calls span more than %d days",
				   path, TRACE_2021_MAX_DAYS);
	}
	t->format = TRACE_AZURE2021;
	t->first_minute = 1;
	t->n_minutes = (int)((last - origin) / 60) + 1;
	size_t cap = 0;
	for (size_t i = 0; i < n && r == 0;) {
		size_t j = i + 1;
		while (j < n && strcmp(rows[j].app, rows[i].app) == 0 &&
		       strcmp(rows[j].func, rows[i].func) == 0)
			j++;
		if (array_reserve(&t->fns, &cap, t->n_fns + 1, sizeof(*t->fns), 64) < 0) {
			r = -ENOMEM;
			break;
		}
		struct trace_function *f = &t->fns[t->n_fns++];
		memset(f, 0, sizeof(*f));
		r = function_from_calls(f, rows + i, j - i, origin, t->n_minutes);
		i = j;
	}
	free(rows);
	csv_close(&c);
	return r < 0 ? bench_error(err, size, r, "out of memory") : 0;
}

int trace_load(const char *path, int day, struct trace *ret, char *err, size_t err_size)
{
	memset(ret, 0, sizeof(*ret));
	struct stat st;
	if (stat(path, &st) != 0)
		return bench_error(err, err_size, -errno, "%s: %s", path, strerror(errno));
	int r;
	if (S_ISDIR(st.st_mode))
		r = load_2019(path, day, ret, err, err_size);
	else if (day != 0)
		r = bench_error(err, err_size, -EINVAL,
				"%s: a 2021 trace is one file, it has no days", path);
	else
		r = load_2021(path, ret, err, err_size);
	if (r < 0)
		trace_free(ret);
	return r;
}
