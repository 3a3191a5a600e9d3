/* Two real controllers on one private PostgreSQL server: they list each
 * other and one leads; kill -9 the leader and the other leads within the
 * deadline (the failover time of each trial is printed); a queued async
 * record of the dead controller is claimed by the survivor; a frozen
 * leader is deposed. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster_view.h"
#include "store.h"
#include "store_int.h"
#include "support/files.h"
#include "support/pgserver.h"
#include "support/procs.h"
#include "support/wait.h"

#define TRIALS 5
/* Generous: the design's target is 5 s, a sanitized build is slower. */
#define FAILOVER_DEADLINE_MS 30000

struct pair {
	char dir[64];
	char uri[700];
	struct daemon_proc p[2];
	char admin[128];
};

static const char *const ids[2] = { "ctl-a", "ctl-b" };

static void start(struct pair *t, int k)
{
	char data[128];
	snprintf(data, sizeof(data), "%s/%s", t->dir, ids[k]);
	const char *const extra[] = { "--store", t->uri, "--id", ids[k], NULL };
	assert_int_equal(proc_start_controller(&t->p[k], data, 0, extra, t->admin), 0);
}

struct wait_ctx {
	struct pair *t;
	int k; /* the controller asked */
};

/* Both list two live controllers and name the same one leader, which
 * says it leads and the other does not. */
static bool agreed(void *data)
{
	struct pair *t = data;
	struct view a, b;
	view_get(t->p[0].url, t->admin, &a);
	view_get(t->p[1].url, t->admin, &b);
	return a.status == 200 && b.status == 200 && a.live == 2 && b.live == 2 && a.leader[0] &&
	       !strcmp(a.leader, b.leader) && a.self_leader != b.self_leader;
}

static bool leads(void *data)
{
	struct wait_ctx *w = data;
	struct view v;
	view_get(w->t->p[w->k].url, w->t->admin, &v);
	return v.status == 200 && v.self_leader;
}

/* Waits until both agree, and returns the leader's index. */
static int settled_leader(struct pair *t)
{
	wait_until(agreed, t, FAILOVER_DEADLINE_MS, "both controllers to agree on a leader");
	struct view a;
	view_get(t->p[0].url, t->admin, &a);
	return a.self_leader ? 0 : 1;
}

static void test_failover(void **state)
{
	struct pgserver *pg = *state;
	struct pair t = { 0 };
	char conninfo[600];
	assert_int_equal(scratch_dir(t.dir, sizeof(t.dir), "failover"), 0);
	assert_int_equal(pgserver_new_db(pg, conninfo, sizeof(conninfo)), 0);
	snprintf(t.uri, sizeof(t.uri), "postgres:%s", conninfo);
	start(&t, 0);
	start(&t, 1);
	long long total = 0, worst = 0;
	for (int trial = 0; trial < TRIALS; trial++) {
		int leader = settled_leader(&t), other = 1 - leader;
		long long t0 = clock_ms();
		/* kill -9: it ends with the signal's status. */
		assert_true(daemon_proc_stop(&t.p[leader], SIGKILL, 10000) >= 0);
		struct wait_ctx w = { &t, other };
		wait_until(leads, &w, FAILOVER_DEADLINE_MS, "the survivor to lead");
		long long ms = clock_ms() - t0;
		printf("failover trial=%d killed=%s ms=%lld\n", trial + 1, ids[leader], ms);
		total += ms;
		worst = ms > worst ? ms : worst;
		start(&t, leader);
	}
	printf("failover trials=%d mean_ms=%lld worst_ms=%lld\n", TRIALS, total / TRIALS, worst);
	for (int k = 0; k < 2; k++)
		assert_int_equal(daemon_proc_stop(&t.p[k], SIGTERM, 15000), 0);
	remove_tree(t.dir);
}

static bool follows(void *data)
{
	struct wait_ctx *w = data;
	struct view v;
	view_get(w->t->p[w->k].url, w->t->admin, &v);
	return v.status == 200 && !v.self_leader && v.leader[0];
}

/* A leader frozen with its connections open (SIGSTOP) holds the lock until
 * the others depose it, once it has been silent past the peer timeout; let
 * go again, it finds it leads no more. */
static void test_frozen_leader(void **state)
{
	struct pgserver *pg = *state;
	struct pair t = { 0 };
	char conninfo[600];
	assert_int_equal(scratch_dir(t.dir, sizeof(t.dir), "frozen"), 0);
	assert_int_equal(pgserver_new_db(pg, conninfo, sizeof(conninfo)), 0);
	snprintf(t.uri, sizeof(t.uri), "postgres:%s", conninfo);
	start(&t, 0);
	start(&t, 1);
	int leader = settled_leader(&t), other = 1 - leader;
	long long t0 = clock_ms();
	assert_int_equal(kill(t.p[leader].pid, SIGSTOP), 0);
	struct wait_ctx w = { &t, other };
	wait_until(leads, &w, FAILOVER_DEADLINE_MS, "the other to depose the frozen leader");
	printf("frozen leader deposed ms=%lld (peer timeout 3000)\n", clock_ms() - t0);
	assert_int_equal(kill(t.p[leader].pid, SIGCONT), 0);
	struct wait_ctx back = { &t, leader };
	wait_until(follows, &back, FAILOVER_DEADLINE_MS, "the thawed one to follow");
	settled_leader(&t);
	for (int k = 0; k < 2; k++)
		assert_int_equal(daemon_proc_stop(&t.p[k], SIGTERM, 15000), 0);
	remove_tree(t.dir);
}

struct claim_ctx {
	struct store *s;
	const char *id;
	const char *want;
};

static bool claimed(void *data)
{
	struct claim_ctx *c = data;
	struct sq_stmt *st;
	char who[STORE_NAME_SIZE];
	assert_int_equal(sq_prep_sql(c->s, "SELECT controller FROM invocations WHERE id = ?1", &st),
			 0);
	assert_int_equal(sq_bind_text(st, 1, c->id), 0);
	assert_int_equal(sq_step(st), SQ_ROW);
	sq_col_text(st, 0, who, sizeof(who));
	sq_stmt_free(st);
	return !strcmp(who, c->want);
}

/* A record the dead controller queued is released by the leader and
 * claimed by the survivor, which owns every tenant. */
static void test_orphan_claimed(void **state)
{
	struct pgserver *pg = *state;
	struct pair t = { 0 };
	char conninfo[600];
	assert_int_equal(scratch_dir(t.dir, sizeof(t.dir), "orphan"), 0);
	assert_int_equal(pgserver_new_db(pg, conninfo, sizeof(conninfo)), 0);
	snprintf(t.uri, sizeof(t.uri), "postgres:%s", conninfo);
	start(&t, 1);
	struct store *s;
	assert_int_equal(store_open(t.uri, &s), 0);
	assert_int_equal(store_set_controller(s, "ctl-dead"), 0);
	assert_int_equal(store_tenant_create(s, "t1"), 0);
	static const struct store_limits limits = { 1000,      128,   4,
						    "process", false, FN_RUNTIME_BINARY,
						    "" };
	int64_t version = 0;
	assert_int_equal(store_function_put(
				 s, "t1", "f",
				 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
				 10, &limits, &version),
			 0);
	char id[STORE_ID_SIZE];
	assert_int_equal(store_invocation_create(s, "t1", "f", version, true, "x", 1, id), 0);
	/* The dead one was here: its last heartbeat, now. */
	assert_int_equal(store_controller_heartbeat(s, "http://127.0.0.1:1", 1), 0);
	struct claim_ctx c = { s, id, "ctl-b" };
	wait_until(claimed, &c, FAILOVER_DEADLINE_MS, "the orphan to be claimed");
	struct store_invocation inv;
	assert_int_equal(store_invocation_get(s, NULL, id, &inv), 0);
	/* Queued or running, never failed: a queued record keeps its retries. */
	assert_true(inv.status == STORE_QUEUED || inv.status == STORE_RUNNING);
	assert_int_equal(inv.retries, 0);
	store_invocation_clear(&inv);
	store_close(s);
	assert_int_equal(daemon_proc_stop(&t.p[1], SIGTERM, 15000), 0);
	remove_tree(t.dir);
}

int main(void)
{
	struct pgserver pg;
	int r = pgserver_start(&pg);
	if (r < 0) {
		printf("postgres: skipped: %s\n", pg.error[0] ? pg.error : strerror(-r));
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_failover, &pg),
		cmocka_unit_test_prestate(test_orphan_claimed, &pg),
		cmocka_unit_test_prestate(test_frozen_leader, &pg),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	pgserver_stop(&pg);
	return failed;
}
