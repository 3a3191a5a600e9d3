/* Azure Functions traces, read into one model whatever their layout.
 *
 * The 2019 trace (Shahrad et al., ATC'20) is a folder of three CSV files per
 * day, named as in the original dataset
 *   invocations_per_function_md.anon.dNN.csv
 *   function_durations_percentiles.anon.dNN.csv
 *   app_memory_percentiles.anon.dNN.csv
 * or as in the published samples (invocations.csv, durations.csv,
 * memory.csv). Invocation counts come per minute, in columns named by the
 * minute number: 1..1440 or any contiguous range (a sample may hold minutes
 * 480..959 only). Memory comes per application (the original) or per function
 * (samples that split an application's memory across its functions).
 *
 * The 2021 trace is one CSV, `app,func,end_timestamp,duration` (seconds), one
 * row per invocation; it is read into the same model, its per-minute counts
 * derived from the start times, and its exact calls kept.
 *
 * Nothing here does I/O beyond reading the files named, and nothing prints:
 * errors come back as -errno with a one-line reason. */
#ifndef DITTO_BENCH_TRACE_H
#define DITTO_BENCH_TRACE_H

#include <stddef.h>
#include <stdint.h>

#define TRACE_HASH_SIZE 72 /* a HashOwner/HashApp/HashFunction (64 hex) or a 2021 id, NUL */
#define TRACE_DUR_PCTS 7   /* percentile_Average_{0,1,25,50,75,99,100} */
#define TRACE_MEM_PCTS 8   /* AverageAllocatedMb_pct{1,5,25,50,75,95,99,100} */

/* The percentile points, in percent, of the two tables above. */
extern const double trace_dur_pct_points[TRACE_DUR_PCTS];
extern const double trace_mem_pct_points[TRACE_MEM_PCTS];

enum trace_format {
	TRACE_AZURE2019 = 1,
	TRACE_AZURE2021,
};

/* One exact call of a 2021 trace, from the trace's start. */
struct trace_call {
	double start_s;
	double duration_ms;
};

struct trace_function {
	char owner[TRACE_HASH_SIZE], app[TRACE_HASH_SIZE], func[TRACE_HASH_SIZE];
	char trigger[16];     /* "http", "timer", ... ; "" when the trace has none */
	uint32_t *per_minute; /* counts for minutes first_minute.. of the trace */
	uint64_t total;       /* sum of per_minute */
	/* Durations in ms without cold start; has_duration false when the
	 * durations file has no row for it (a replayer skips it). */
	int has_duration;
	double dur_avg_ms;
	double dur_pct_ms[TRACE_DUR_PCTS];
	/* Memory in MiB, per function (an application's split evenly across
	 * its functions in the trace when the file is per application). */
	int has_memory;
	double mem_avg_mb;
	double mem_pct_mb[TRACE_MEM_PCTS];
	/* 2021 only: the calls themselves, sorted by start; NULL otherwise. */
	struct trace_call *calls;
	size_t n_calls;
};

struct trace {
	enum trace_format format;
	int first_minute; /* the trace's first minute column (1 in the original 2019 files) */
	int n_minutes;    /* contiguous minutes held */
	struct trace_function *fns;
	size_t n_fns;
};

/* Reads a trace: a folder of 2019 files (day `day` when the folder holds
 * the original per-day files for several days, 0 for the first one found),
 * or a 2021 CSV file. Returns 0 with *ret filled (trace_free it), or -errno
 * with a one-line reason in err (the file, the line and what is wrong). */
int trace_load(const char *path, int day, struct trace *ret, char *err, size_t err_size);
void trace_free(struct trace *t);

/* The value at percentile q (0..100) of a percentile table, by linear
 * interpolation between its points (points[] in percent, increasing); q
 * outside the table's range takes the nearest end. */
double trace_interpolate(const double *points, const double *values, size_t n, double q);

#endif
