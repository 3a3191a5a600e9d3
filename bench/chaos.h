/* ditto-bench chaos: faults under a steady mixed load. The pure part
 * (chaos_tally.c): fault kinds, how one call's answer and one async record's
 * observations are judged, the counts per kind and their report; the load
 * (chaos_load.c): the open-loop sender and the async records' poller; the
 * faults and the run itself (chaos.c). */
#ifndef DITTO_BENCH_CHAOS_H
#define DITTO_BENCH_CHAOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum chaos_kind {
	CHAOS_QEMU,
	CHAOS_AGENT,
	CHAOS_CONTROLLER,
	CHAOS_FREEZE,
	CHAOS_POSTGRES, /* the store's PostgreSQL server restarted (--store postgres) */
	/* one of two controllers on one PostgreSQL store killed (--controllers 2) */
	CHAOS_CONTROLLER2,
	CHAOS_KINDS
};

/* "qemu", "agent", "controller", "freeze", "postgres", "controller2". */
const char *chaos_kind_name(enum chaos_kind k);

/* Parses a comma-separated list of kind names (each at most once) into
 * ret (in the list's order) and *ret_n. Returns 0, or -EINVAL. */
int chaos_kinds_parse(const char *list, enum chaos_kind ret[CHAOS_KINDS], int *ret_n);

/* Whether kinds[0..n) can run on the platform of --store (postgres or not)
 * and --controllers: postgres needs --store postgres, controller2 also
 * --controllers 2, and more than one controller needs --store postgres.
 * Returns 0, or -EINVAL with one line (no newline) in err. */
int chaos_kinds_check(const enum chaos_kind *kinds, int n, bool postgres, int controllers,
		      char *err, size_t size);

/* How a call's HTTP exchange ended, as the client saw it. */
enum chaos_net { CHAOS_NET_OK, CHAOS_NET_REFUSED, CHAOS_NET_RESET, CHAOS_NET_TIMEOUT };

/* What a call got: the transport's outcome, then the status and body. */
struct chaos_answer {
	enum chaos_net net;
	long http;
	const char *body;
	size_t len;
};

enum chaos_verdict { CHAOS_OK, CHAOS_FAILED, CHAOS_UNCLEAR };

#define CHAOS_CODE_SIZE 40

/* Judges a synchronous call whose input was want (the echo must return
 * it byte for byte): CHAOS_OK; CHAOS_FAILED with its error code in code
 * (the JSON error's "code", or "connection_refused", "connection_reset",
 * "timeout" for a transport error); or CHAOS_UNCLEAR (a failure with
 * neither, or a 200 that is not the echo, with a short description in
 * code). */
enum chaos_verdict chaos_sync_judge(const struct chaos_answer *a, const char *want, char *code);

/* Judges an async submission: CHAOS_OK with the id (32 hex digits) in id
 * for a 202 that names one; otherwise as chaos_sync_judge. */
enum chaos_verdict chaos_submit_judge(const struct chaos_answer *a, char id[33], char *code);

/* One async invocation the platform accepted, as the client sees its
 * record over time. */
struct chaos_async {
	char id[33];
	long seq;   /* its input's token */
	int window; /* the fault (its kind) it was sent under, -1 before any */
	bool terminal, changed, foreign, gone;
	char status[12];
	int64_t finished_ms;
};

/* One look at a's record: its status, finished_ms and whether its result is
 * the echo of its own input. A record seen terminal that is later seen
 * unfinished, with another status or another finished_ms is marked
 * changed; a terminal ok whose result is not its own input, foreign. */
void chaos_async_observe(struct chaos_async *a, const char *status, int64_t finished_ms,
			 bool own_result);
/* The record answered 404: it is gone. */
void chaos_async_gone(struct chaos_async *a);

enum chaos_async_end { CHAOS_COMPLETED, CHAOS_ASYNC_FAILED, CHAOS_LOST, CHAOS_TWICE };

/* How a ended from the caller's view: twice (changed or foreign),
 * completed (ok with its own result), failed (terminal otherwise), or lost
 * (never seen terminal). */
enum chaos_async_end chaos_async_end(const struct chaos_async *a);

#define CHAOS_CODES 16

/* The counts of one fault kind (or of the calls before the first fault). */
struct chaos_tally {
	int faults;
	long sync_sent, sync_ok, sync_failed, sync_unclear;
	long async_sent, async_accepted, async_refused, async_unclear;
	long async_completed, async_failed, async_lost, async_twice;
	int n_codes;
	char code[CHAOS_CODES][CHAOS_CODE_SIZE];
	long code_n[CHAOS_CODES];
	double *recover_ms;
	size_t n_recover, cap_recover;
	double *failover_ms; /* controller2: kill -> the survivor names another leader */
	size_t n_failover, cap_failover;
};

/* Counts a failed call (sync, or an async refused) under code; more
 * distinct codes than CHAOS_CODES fold into "other". */
void chaos_tally_code(struct chaos_tally *t, const char *code);
/* Adds one recovery time. Returns 0 or -ENOMEM. */
int chaos_tally_recovered(struct chaos_tally *t, double ms);
/* Adds one leader failover time. Returns 0 or -ENOMEM. */
int chaos_tally_failover(struct chaos_tally *t, double ms);
/* Adds an accepted async call's end. */
void chaos_tally_async(struct chaos_tally *t, enum chaos_async_end e);
void chaos_tally_free(struct chaos_tally *t);

/* Whether the run met its targets: no async lost or twice, no unclear
 * failure. */
bool chaos_tally_clean(const struct chaos_tally *t);

/* The report of a run: what it was given and each kind's counts. */
struct chaos_report {
	const char *accel;
	int faults_per_kind;
	double rate, async_share, freeze_s, settle_s;
	int n_kinds;
	enum chaos_kind kinds[CHAOS_KINDS];
	struct chaos_tally tally[CHAOS_KINDS]; /* by enum chaos_kind */
	struct chaos_tally before;             /* calls sent before the first fault */
	double elapsed_s;
};

/* The report as one JSON object (the caller decrefs). */
json_t *chaos_report_json(const struct chaos_report *r);
/* Prints the report as a table. */
void chaos_report_print(const struct chaos_report *r);

/* ---- the load (chaos_load.c) ---- */

struct chaos_load;

/* Starts sending rate calls/s to echo with key, round robin over the
 * controllers urls[0..n_url) (a synchronous call one refuses is sent once
 * to the next), a share async_share
 * of them async, each with a unique input, and polling the async ones'
 * records; each call counts in the tally of the window it was sent in
 * (report->before until chaos_load_window). call_timeout_ms bounds a call.
 * Returns 0 with *ret, or -errno. */
int chaos_load_start(const char *const *urls, int n_url, const char *key, double rate,
		     double async_share, long call_timeout_ms, struct chaos_report *report,
		     struct chaos_load **ret);

/* Calls sent from now on count under kind k. */
void chaos_load_window(struct chaos_load *l, enum chaos_kind k);

/* Waits until a synchronous call sent at or after from_us (time_now_us)
 * succeeds, or until deadline_us. Returns 0 with the time it answered in
 * *ret_us, or -ETIMEDOUT. */
int chaos_load_wait_ok(struct chaos_load *l, uint64_t from_us, uint64_t deadline_us,
		       uint64_t *ret_us);

/* Stops sending and waits for the calls in flight; then waits until every
 * accepted async record is terminal or deadline_us passes, looks at each
 * once more, and counts how each ended. Returns 0 or -errno. */
int chaos_load_finish(struct chaos_load *l, uint64_t deadline_us);

/* Stops everything still running and frees l. NULL is fine. */
void chaos_load_free(struct chaos_load *l);

#endif
