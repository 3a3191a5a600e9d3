/* What the store's tests share: a fresh database in its own temporary
 * folder for each test, sample limits and digests, and small helpers. */
#ifndef DITTO_TESTS_STORE_FIXTURE_H
#define DITTO_TESTS_STORE_FIXTURE_H

#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "support/files.h"
#include "util.h"

/* Each test gets a fresh database in its own temporary folder. */
struct fixture {
	char dir[64];
	char path[128];
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
	if (store_open(f->path, &f->s) < 0)
		return -1;
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	for (size_t i = 0; i < 3; i++) {
		char p[160];
		snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
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

/* Closes the store, takes its database back to an older schema with sql,
 * and opens it again (migrating it). */
static inline void store_reopen_from(struct fixture *f, const char *sql)
{
	store_close(f->s);
	f->s = NULL;
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(f->path, &f->s), 0);
}

static inline void finish(struct store *s, const char *id, enum store_status status)
{
	struct store_outcome o = { .status = status };
	assert_int_equal(store_invocation_finish(s, id, &o), 0);
}

#endif
