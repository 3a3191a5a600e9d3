/* ditto-bench soak's view of the platform's processes: the resident memory
 * and open descriptors of the controller, the agent and the tenant VM's
 * QEMU read from /proc, and what a run's samples say of each (pure). */
#ifndef DITTO_BENCH_SOAK_PROC_H
#define DITTO_BENCH_SOAK_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

enum { SOAK_CONTROLLER, SOAK_AGENT, SOAK_QEMU, SOAK_PROCS };

/* One process at one time; -1 for what could not be read (no process). */
struct soak_usage {
	long rss_kb; /* VmRSS */
	long fds;    /* entries of /proc/PID/fd */
};

struct soak_sample {
	double t_s; /* since the load started */
	struct soak_usage u[SOAK_PROCS];
};

/* One figure over a run: at the end of the warm-up, in the last sample and
 * the most seen; -1 when never read. */
struct soak_figure {
	long warm, last, max;
};

struct soak_summary {
	struct soak_figure rss_kb, fds;
	double growth_pct; /* of rss_kb, last against warm; 0 when either is unknown */
};

/* Reads each process of pids (0: none) into ret at time t_s. */
void soak_sample_read(struct soak_sample *ret, double t_s, const pid_t pids[SOAK_PROCS]);

/* Sums up the n samples of a run per process: warm is the first sample at
 * or after warmup_s (the last sample when none is). */
void soak_summarize(const struct soak_sample *v, size_t n, double warmup_s,
		    struct soak_summary ret[SOAK_PROCS]);

/* The process's name ("controller", "agent", "qemu"). */
const char *soak_proc_name(int proc);

/* {"name", "rss_kb": {warm, last, max, growth_pct}, "fds": {warm, last, max}},
 * unknown figures null. */
json_t *soak_summary_json(const struct soak_summary *s, int proc);

/* {"t_s", "controller": {"rss_kb", "fds"}, "agent": {...}, "qemu": {...}}. */
json_t *soak_sample_json(const struct soak_sample *s);

/* A table of the summaries: its header, then one row per process. */
void soak_summary_print_header(void);
void soak_summary_print(const struct soak_summary *s, int proc);

#endif
