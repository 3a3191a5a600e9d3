/* ditto-bench: shared pieces of its subcommands. */
#ifndef DITTO_BENCH_H
#define DITTO_BENCH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "api_client.h"
#include "daemon_proc.h"

struct bench_opts {
	const char *build; /* build folder with ditto-agent, guest/ and functions/ */
	const char *data;  /* agent data folder */
	const char *mechanism;
	const char *mode; /* function mode for "a function ran on it" */
	int reps;
	int boots;                 /* VM boots measured (vcpu) */
	const char *latencies_out; /* vcpu: write the simulator's latencies file */
	int vms;
	bool json;
	const char *accel;
	const char *cores;
	/* invoke */
	int concurrency;
	int duration_s;
	int warmup_s;
	int records;         /* async invocations stored before the timed runs */
	const char *url;     /* a running controller instead of starting one */
	const char *key;     /* its admin key */
	bool encrypted;      /* seal each call end to end (lib/e2e.h) */
	const char *runtime; /* echo's: python3, nodejs or binary */
	int cold;            /* fresh versions deployed for the cold start */
	int rate;            /* open loop: calls per second (0: closed loop) */
	const char *agent_link; /* the controller's --agent-link (NULL: its default) */
	const char *store;      /* "sqlite" or "postgres" (NULL: sqlite) */
	int controllers;        /* controllers on the store, 1..BENCH_CONTROLLERS_MAX (0: 1) */
};

/* The most controllers ditto-bench starts on one store. */
#define BENCH_CONTROLLERS_MAX 4

/* Whether the options ask for the store on PostgreSQL. */
bool bench_store_is_postgres(const struct bench_opts *o);

/* A platform for one run: an agent process and a client to it. */
struct bench_env {
	struct daemon_proc proc;
	struct api_client client;
	char accel[16];
	char qemu[64];
};

/* How long a daemon may take to listen. */
#define BENCH_START_MS 30000L

/* Starts BUILD/ditto-agent with its data in data_dir, the arguments in more
 * (NULL-terminated, may be NULL) and --accel and --cores as the options
 * say. Returns 0, or -errno after printing one line. */
int bench_agent_start(struct daemon_proc *p, const struct bench_opts *o, const char *data_dir,
		      const char *const *more);

/* Starts the agent and reads its status. Prints one line on failure. */
int bench_env_start(struct bench_env *e, const struct bench_opts *o);
void bench_env_stop(struct bench_env *e);

/* Reads build/functions/NAME into a malloc'd buffer (the caller frees it).
 * Returns 0, or -errno after printing one line. */
int bench_read_function(const struct bench_opts *o, const char *name, void **ret, size_t *ret_len);
/* Uploads build/functions/NAME; writes its digest. Returns 0 or <0. */
int bench_upload_function(struct bench_env *e, const struct bench_opts *o, const char *name,
			  char digest[SHA256_HEX_SIZE]);

/* Writes a one-line reason into err (size bytes) and returns e: for the
 * modules that report their errors upward (trace, workload, results). */
int bench_error(char *err, size_t size, int e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Sleeps ms milliseconds, for polls that have nothing to wait on but a
 * list that changes. */
void bench_sleep_ms(long ms);

/* The value of header `name` (with its colon, any case, e.g.
 * "X-Ditto-Cold-Start:") in one header line of len bytes as libcurl hands it
 * over: a pointer into line past the name and its spaces, with its length up
 * to the line end in *ret_len; NULL when the line is another header. */
const char *bench_header_value(const char *line, size_t len, const char *name, size_t *ret_len);

/* Sorted-sample statistics. */
struct stats {
	double p50, p90, p99, p999, max, min;
	size_t n;
};
void stats_compute(double *v, size_t n, struct stats *ret);

int bench_vcpu(const struct bench_opts *o);
int bench_demo(const struct bench_opts *o);
int bench_mem(const struct bench_opts *o);
int bench_invoke(const struct bench_opts *o);
/* Whether invoke's options hold together (--concurrency, --rate, ...);
 * when not, writes a one-line reason into err (size bytes) and returns
 * -EINVAL. */
int bench_invoke_opts_check(const struct bench_opts *o, char *err, size_t size);
/* ditto-bench replay, with its own arguments (argv[0] is "replay"). Returns
 * the exit status. */
int bench_replay(int argc, char **argv);
/* ditto-bench soak, with its own arguments (argv[0] is "soak"). Returns the
 * exit status. */
int bench_soak(int argc, char **argv);
/* ditto-bench chaos, with its own arguments (argv[0] is "chaos"). Returns
 * the exit status. */
int bench_chaos(int argc, char **argv);

#endif
