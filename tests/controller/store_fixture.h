/* What the store's tests share: a fresh database for each test, on SQLite (a
 * file in its own temporary folder) and then on PostgreSQL (a database of
 * its own on a private server, tests/support/pgserver.h), sample limits and
 * digests, and small helpers.
 *
 * A test binary lists the cases both engines run and those only SQLite runs
 * (its file, its older schemas), and STORE_RUN runs them: SQLite first, then
 * PostgreSQL when a server can be started here ("postgres: skipped: <why>"
 * otherwise, and the SQLite half still counts). */
#ifndef DITTO_TESTS_STORE_FIXTURE_H
#define DITTO_TESTS_STORE_FIXTURE_H

#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "store_int.h"
#include "support/files.h"
#include "support/pgserver.h"
#include "util.h"

/* Each test gets a fresh database. */
struct fixture {
	bool pg;
	struct pgserver *server; /* PostgreSQL's */
	char dir[64];            /* SQLite: the folder */
	char path[128];          /* SQLite: the file */
	char uri[700];           /* what store_open takes */
	struct store *s;
};

static const struct store_limits LIMITS = { 1000, 128, 4, "process", false, FN_RUNTIME_BINARY, "" };
static const char DIGEST_A[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char DIGEST_B[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static inline int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (scratch_dir(f->dir, sizeof(f->dir), "store") < 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/ditto.db", f->dir);
	snprintf(f->uri, sizeof(f->uri), "%s", f->path);
	if (store_open(f->uri, &f->s) < 0)
		return -1;
	*state = f;
	return 0;
}

/* PostgreSQL's: *state is the server (the test's initial state). */
static inline int setup_pg(void **state)
{
	struct pgserver *pg = *state;
	struct fixture *f = calloc(1, sizeof(*f));
	char conninfo[600];
	if (!f || pgserver_new_db(pg, conninfo, sizeof(conninfo)) < 0)
		return -1;
	f->pg = true;
	f->server = pg;
	snprintf(f->uri, sizeof(f->uri), "postgres:%s", conninfo);
	if (store_open(f->uri, &f->s) < 0)
		return -1;
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	if (!f->pg)
		remove_tree(f->dir);
	free(f);
	return 0;
}

/* Runs one engine's half: the cases with setup and initial_state set. */
static inline int store_run_half(const char *name, const struct CMUnitTest *tests, size_t n,
				 int (*setup_fn)(void **), void *initial)
{
	if (!n)
		return 0;
	struct CMUnitTest *all = calloc(n, sizeof(*all));
	if (!all)
		return 1;
	for (size_t i = 0; i < n; i++) {
		all[i] = tests[i];
		all[i].setup_func = setup_fn;
		all[i].teardown_func = teardown;
		all[i].initial_state = initial;
	}
	int failed = _cmocka_run_group_tests(name, all, n, NULL, NULL);
	free(all);
	return failed;
}

/* Runs both on SQLite, then both on PostgreSQL; lite only on SQLite. */
static inline int store_run(const struct CMUnitTest *both, size_t n_both,
			    const struct CMUnitTest *lite, size_t n_lite)
{
	int failed = store_run_half("sqlite", lite, n_lite, setup, NULL) +
		     store_run_half("sqlite", both, n_both, setup, NULL);
	struct pgserver pg;
	int r = pgserver_start(&pg);
	if (r < 0) {
		printf("postgres: skipped: %s\n", pg.error[0] ? pg.error : strerror(-r));
		return failed;
	}
	failed += store_run_half("postgres", both, n_both, setup_pg, &pg);
	pgserver_stop(&pg);
	return failed;
}

#define STORE_RUN(both, lite)                                       \
	store_run((both), sizeof(both) / sizeof((both)[0]), (lite), \
		  sizeof(lite) / sizeof((lite)[0]))

/* Writes the URI of another, empty database on f's engine. */
static inline void store_fresh_uri(struct fixture *f, char *uri, size_t size)
{
	if (f->pg) {
		char conninfo[600];
		assert_int_equal(pgserver_new_db(f->server, conninfo, sizeof(conninfo)), 0);
		snprintf(uri, size, "postgres:%s", conninfo);
	} else {
		snprintf(uri, size, "sqlite:%s/fresh.db", f->dir);
	}
}

/* Waits for the wall clock to pass ms, so later records get later times. */
static inline void clock_pass(int64_t ms)
{
	while (time_wall_ms() <= ms)
		sched_yield();
}

static inline void put_fn(struct store *s, const char *tenant, const char *name,
			  int64_t want_version)
{
	int64_t v = 0;
	assert_int_equal(store_function_put(s, tenant, name, DIGEST_A, 10, &LIMITS, &v), 0);
	assert_int_equal(v, want_version);
}

/* A new tenant with function fn at version 1. */
static inline void tenant_with_fn(struct store *s, const char *tenant, const char *fn)
{
	assert_int_equal(store_tenant_create(s, tenant), 0);
	put_fn(s, tenant, fn, 1);
}

/* What undoes step 8 (several controllers), which every older schema the
 * tests go back to predates. */
#define STORE_UNDO_V8                                                                     \
	"DROP INDEX invocations_by_controller; ALTER TABLE invocations DROP COLUMN controller;" \
	"DROP TABLE controllers; DROP TABLE cluster_leader;"

/* Closes the store, takes its SQLite database back to an older schema with
 * sql (step 8 undone first), and opens it again (migrating it). */
static inline void store_reopen_from(struct fixture *f, const char *sql)
{
	store_close(f->s);
	f->s = NULL;
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, STORE_UNDO_V8, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(f->uri, &f->s), 0);
}

/* Sets the schema version the database says it has, bypassing the store. */
static inline void schema_version_set(struct fixture *f, int version)
{
	char sql[96];
	if (f->pg)
		snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d", version);
	else
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
	assert_int_equal(sq_exec(f->s, sql), 0);
}

/* The schema version the database says it has. */
static inline int schema_version_get(struct fixture *f)
{
	struct sq_stmt *st;
	assert_int_equal(
		sq_prep_sql(f->s,
			    f->pg ? "SELECT version FROM schema_version" : "PRAGMA user_version",
			    &st),
		0);
	assert_int_equal(sq_step(st), SQ_ROW);
	int v = sq_col_int(st, 0);
	assert_int_equal(sq_step(st), SQ_DONE);
	sq_stmt_free(st);
	return v;
}

static inline void finish(struct store *s, const char *id, enum store_status status)
{
	struct store_outcome o = { .status = status };
	assert_int_equal(store_invocation_finish(s, id, &o), 0);
}

#endif
