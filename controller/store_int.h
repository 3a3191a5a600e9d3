/* Internals shared by the store's modules: store.c (opening, schema
 * migrations, transactions, the statement cache and the helpers below),
 * store_tenants.c (tenants and API keys), store_functions.c (artifacts and
 * function versions), store_invocations.c (invocation records) and
 * store_hosts.c (hosts).
 *
 * Every statement the store runs has a slot in enum query, so that a handle
 * prepares it once and keeps it; the slots are grouped by module. Each module
 * defines its part of the query table next to the code that runs it: an array
 * indexed by enum query that names its own slots only (the rest stay NULL),
 * and sq_prep() takes a query's SQL from the one part that defines it. Full-size
 * parts cost a few hundred bytes each and keep the cache one flat array,
 * with no per-module offsets to keep in step with the enum.
 *
 * The helpers shared between the modules carry the sq_ prefix, so that
 * these global names never meet others in the controller. */
#ifndef DITTO_STORE_INT_H
#define DITTO_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store.h"
#include "util.h"

enum query {
	/* store.c */
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	/* store_tenants.c */
	Q_TENANT_INSERT,
	Q_TENANT_GET,
	Q_TENANT_LIST,
	Q_TENANT_SCALING,
	Q_KEY_INSERT,
	Q_KEY_GET,
	Q_KEY_REVOKE,
	Q_KEY_LIST,
	/* store_functions.c */
	Q_ARTIFACT_INSERT,
	Q_ARTIFACT_GET,
	Q_ARTIFACT_UNUSED,
	Q_ARTIFACT_COLLECT,
	Q_FUNCTION_BUMP,
	Q_VERSION_INSERT,
	Q_FUNCTION_GET,
	Q_FUNCTION_LIST,
	Q_FUNCTION_DELETE,
	/* store_invocations.c */
	Q_INV_INSERT,
	Q_INV_START,
	Q_INV_FINISH,
	Q_INV_STATUS,
	Q_INV_GET,
	Q_INV_LIST,
	Q_INV_PRUNE_AGE,
	Q_INV_PRUNE_COUNT,
	Q_INV_FAIL_UNFINISHED,
	Q_INV_REQUEUE,
	Q_INV_REQUEUE_ONE,
	/* store_hosts.c */
	Q_HOST_REGISTER,
	Q_HOST_HEARTBEAT,
	Q_HOST_DOWN,
	Q_HOST_DRAINING,
	Q_HOST_GET,
	Q_HOST_LIST,
	Q_HOST_DELETE,
	Q_COUNT,
};

/* The modules' parts of the query table. */
extern const char *const store_tenant_queries[Q_COUNT];
extern const char *const store_function_queries[Q_COUNT];
extern const char *const store_invocation_queries[Q_COUNT];
extern const char *const store_host_queries[Q_COUNT];

struct store {
	sqlite3 *db;
	/* Prepared on first use and kept for the handle's life. */
	sqlite3_stmt *stmts[Q_COUNT];
};

/* ---- statements and transactions (store.c) ---- */

/* Returns the cached statement for q, reset and unbound, or NULL. */
sqlite3_stmt *sq_prep(struct store *s, enum query q);
/* sq_prep() with the parameters bound in order from the arguments, one
 * letter of types each:
 *   't'  const char *: text (NULL binds NULL); the caller keeps it alive
 *        until the statement is reset, as with sq_bind_text()
 *   'b'  const void *, size_t: a blob (an empty one binds NULL, so that it
 *        reads back as NULL); kept alive the same way
 *   'i'  int (bool and smaller types promote to it)
 *   'I'  int64_t: pass exactly that type (cast where the value is narrower)
 * Returns the statement, or NULL when it cannot be prepared or a parameter
 * cannot be bound (callers answer -ENOMEM). Parameters after the last letter
 * stay NULL and may be bound by hand. */
sqlite3_stmt *sq_prep_bind(struct store *s, enum query q, const char *types, ...);
/* Cleanup for a statement in use: resetting releases its read snapshot and
 * makes it ready for the next call, on every return path. */
void sq_stmt_done(sqlite3_stmt **st);
#define _cleanup_stmt_ __attribute__((cleanup(sq_stmt_done)))

/* Maps an SQLite result code to 0 or -errno. */
int sq_sql_errno(int rc);
/* The error for a step that ended other than expected; never 0. */
int sq_step_failed(int rc);
/* Steps a query expected to give a row. Returns 0 with the row current, or
 * -ENOENT when there is none, or the step's error. */
int sq_step_row(sqlite3_stmt *st);
/* Steps an UPDATE of one row. Returns 0, -ENOENT when it matched none, or
 * the step's error. */
int sq_step_update(struct store *s, sqlite3_stmt *st);
/* Steps st, a query of one row, and fills ret from it with read(). st NULL
 * (sq_prep_bind failed) gives -ENOMEM. Returns 0, -ENOENT when there is no
 * row, or the step's error. */
int sq_read_row(sqlite3_stmt *st, void (*read)(sqlite3_stmt *, void *), void *ret);
/* Collects every row of a started statement into a malloc'd array of
 * elements of the given size, each filled by read(). ret is the address of
 * the caller's pointer to such elements (a struct store_host ** for hosts),
 * set with *ret_n only on success. st NULL (preparing it failed) gives
 * -ENOMEM. Returns 0, -ENOMEM or the step's error. */
int sq_collect_rows(sqlite3_stmt *st, size_t size, void (*read)(sqlite3_stmt *, void *), void *ret,
		    size_t *ret_n);

/* Starts a write transaction. Returns 0 or -errno. */
int sq_tx_begin(struct store *s);
/* Commits, or rolls back when r (the result so far) is an error; returns the
 * final result. */
int sq_tx_end(struct store *s, int r);

/* ---- parameters and columns (store.c) ---- */

/* Binds v as text, or NULL when v is NULL; the caller keeps v alive until
 * the statement is reset. */
int sq_bind_text(sqlite3_stmt *st, int i, const char *v);
/* Binds n bytes at p as a blob, or NULL when n is 0; the caller keeps p alive
 * until the statement is reset. */
int sq_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n);
/* Copies a text column into dst, truncated to size; NULL reads as "". */
void sq_col_text(sqlite3_stmt *st, int i, char *dst, size_t size);

/* ---- values (store.c) ---- */

/* [a-z0-9-]{1,63} */
bool sq_tenant_name_is_valid(const char *name);
/* [A-Za-z0-9_.-]{1,63} */
bool sq_object_name_is_valid(const char *name);
/* Whether s is 1..max-1 sq_printable non-space ASCII characters. */
bool sq_printable(const char *s, size_t max);
/* Writes 2 * bytes random lower-case hex digits and a NUL to out (bytes is at
 * most 32). Returns 0 or -EIO. */
int sq_random_hex(size_t bytes, char *out);

#endif
