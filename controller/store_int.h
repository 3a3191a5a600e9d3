/* Internals shared by the store's modules: store.c (opening by URI, schema
 * migrations, transactions, the statement cache and the helpers below),
 * store_tenants.c (tenants and API keys), store_functions.c (artifacts and
 * function versions), store_invocations.c (invocation records) and
 * store_hosts.c (hosts) and store_artifacts.c (artifacts' bytes), over either engine (store_engine.h: SQLite in
 * store_sqlite.c, PostgreSQL in store_pg.c).
 *
 * Every statement the store runs has a slot in enum query, so that a handle
 * prepares it once and keeps it; the slots are grouped by module. Each module
 * defines its part of the query table next to the code that runs it: an array
 * indexed by enum query that names its own slots only (the rest stay NULL),
 * and sq_prep() takes a query's SQL from the one part that defines it. Full-size
 * parts cost a few hundred bytes each and keep the cache one flat array,
 * with no per-module offsets to keep in step with the enum.
 *
 * A query is one SQL text both engines run: ?N placeholders (numbered from
 * 1, a number may appear more than once), integers for booleans (compare
 * with 0, never use a column as a condition), CAST(? AS BIGINT) where a
 * parameter's type would be unclear, and a PostgreSQL variant only where the
 * dialects differ.
 *
 * The helpers shared between the modules carry the sq_ prefix, so that
 * these global names never meet others in the controller. */
#ifndef DITTO_STORE_INT_H
#define DITTO_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
	/* store_artifacts.c */
	Q_CHUNK_PUT,
	Q_CHUNK_GET,
	Q_CHUNK_COUNT,
	Q_CHUNK_DELETE,
	/* store_cluster.c */
	Q_CTL_HEARTBEAT,
	Q_CTL_LIST,
	Q_CTL_DELETE_DEAD,
	Q_CTL_EXISTS,
	Q_CTL_UNLISTED,
	Q_CTL_FAIL,
	Q_CTL_REQUEUE,
	Q_LEADER_GET,
	Q_LEADER_CLAIM,
	Q_LEADER_FENCE,
	Q_LEADER_TRY,
	Q_LEADER_HELD,
	Q_LEADER_UNLOCK,
	Q_LEADER_DEPOSE,
	Q_ORPHAN_LIST,
	Q_ORPHAN_CLAIM,
	Q_COUNT,
};

/* One query's SQL; pg is PostgreSQL's text when it needs another (NULL: sql
 * serves both). */
struct sq_query {
	const char *sql;
	const char *pg;
};

/* The modules' parts of the query table. */
extern const struct sq_query store_tenant_queries[Q_COUNT];
extern const struct sq_query store_function_queries[Q_COUNT];
extern const struct sq_query store_invocation_queries[Q_COUNT];
extern const struct sq_query store_host_queries[Q_COUNT];
extern const struct sq_query store_artifact_queries[Q_COUNT];
extern const struct sq_query store_cluster_queries[Q_COUNT];

/* The tables a copy of the whole store takes, parents before children
 * (NULL-terminated): their columns are the same on both engines. */
extern const char *const store_tables[];

/* A prepared statement of one handle; its engine's own. */
struct sq_stmt;
struct sq_engine;

struct store {
	const struct sq_engine *engine;
	void *conn; /* the engine's connection */
	/* Prepared on first use and kept for the handle's life. */
	struct sq_stmt *stmts[Q_COUNT];
	/* The controller the handle writes for (store_set_controller; ""
	 * until set): new and started records name it. */
	char controller[STORE_NAME_SIZE];
	/* The leader's epoch its once-only writes are fenced by (0: none). */
	int64_t fence_epoch;
};

/* A column's type as the engine gave it. */
enum sq_type {
	SQ_NULL,
	SQ_INT,
	SQ_TEXT,
	SQ_BLOB,
};

/* sq_step's results besides -errno. */
#define SQ_DONE 0
#define SQ_ROW 1

/* The engine of a handle: "sqlite" or "postgres". */
const char *sq_engine_name(const struct store *s);

/* ---- statements and transactions (store.c) ---- */

/* Returns the cached statement for q, reset and unbound, or NULL. */
struct sq_stmt *sq_prep(struct store *s, enum query q);
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
struct sq_stmt *sq_prep_bind(struct store *s, enum query q, const char *types, ...);
/* Ends a statement's run: releases its read snapshot and result and makes it
 * ready for the next call, with every parameter NULL. NULL is fine. */
void sq_reset(struct sq_stmt *st);
/* Cleanup for a statement in use: sq_reset() on every return path. */
void sq_stmt_done(struct sq_stmt **st);
#define _cleanup_stmt_ __attribute__((cleanup(sq_stmt_done)))

/* A statement outside the cache, for SQL that is not a query of the table
 * (a copy of the store names its tables and columns at run time): sql as the
 * table's, in both engines' dialect. Returns 0 with a statement for
 * sq_stmt_free, or -errno. */
int sq_prep_sql(struct store *s, const char *sql, struct sq_stmt **ret_st);
/* Frees a statement of sq_prep_sql. NULL is fine. */
void sq_stmt_free(struct sq_stmt *st);
/* Runs SQL statements without parameters or rows (several, separated by
 * semicolons). Returns 0 or -errno. */
int sq_exec(struct store *s, const char *sql);

/* Steps a statement. Returns SQ_ROW with a row current, SQ_DONE, or the
 * engine's error as -errno (the same on both engines: -EEXIST for a
 * duplicate key, -ENOENT for a missing parent row, -EINVAL for another
 * constraint, -EBUSY for a lock not had in time, -ENOTCONN for a lost
 * connection, -EIO otherwise). */
int sq_step(struct sq_stmt *st);
/* Steps a statement expected to give no row. Returns 0 or -errno. */
int sq_step_done(struct sq_stmt *st);
/* Steps a query expected to give a row. Returns 0 with the row current, or
 * -ENOENT when there is none, or the step's error. */
int sq_step_row(struct sq_stmt *st);
/* Steps an UPDATE of one row. Returns 0, -ENOENT when it matched none, or
 * the step's error. */
int sq_step_update(struct sq_stmt *st);
/* Rows the statement's last run inserted, changed or deleted. */
int64_t sq_changes(struct sq_stmt *st);
/* Steps st, a query of one row, and fills ret from it with read(). st NULL
 * (sq_prep_bind failed) gives -ENOMEM. Returns 0, -ENOENT when there is no
 * row, or the step's error. */
int sq_read_row(struct sq_stmt *st, void (*read)(struct sq_stmt *, void *), void *ret);
/* Collects every row of a started statement into a malloc'd array of
 * elements of the given size, each filled by read(). ret is the address of
 * the caller's pointer to such elements (a struct store_host ** for hosts),
 * set with *ret_n only on success. st NULL (preparing it failed) gives
 * -ENOMEM. Returns 0, -ENOMEM or the step's error. */
int sq_collect_rows(struct sq_stmt *st, size_t size, void (*read)(struct sq_stmt *, void *),
		    void *ret, size_t *ret_n);

/* Starts a write transaction. Returns 0 or -errno. */
int sq_tx_begin(struct store *s);
/* Commits, or rolls back when r (the result so far) is an error; returns the
 * final result. */
int sq_tx_end(struct store *s, int r);

/* ---- parameters and columns (store.c) ---- */

/* Binds parameter i (from 1) to NULL, an integer, text (NULL binds NULL) or
 * n bytes at p as a blob (NULL when n is 0). Text and blobs are not copied:
 * the caller keeps them alive until the statement is reset. Return 0 or
 * -errno. */
int sq_bind_null(struct sq_stmt *st, int i);
int sq_bind_int64(struct sq_stmt *st, int i, int64_t v);
int sq_bind_text(struct sq_stmt *st, int i, const char *v);
int sq_bind_blob(struct sq_stmt *st, int i, const void *p, size_t n);

/* The current row's columns (from 0): how many, their names and types. */
int sq_col_count(struct sq_stmt *st);
const char *sq_col_name(struct sq_stmt *st, int i);
enum sq_type sq_col_type(struct sq_stmt *st, int i);
bool sq_col_is_null(struct sq_stmt *st, int i);
/* An integer column; NULL reads as 0. */
int64_t sq_col_int64(struct sq_stmt *st, int i);
int sq_col_int(struct sq_stmt *st, int i);
/* A text column, NUL-terminated, or NULL; valid until the next step. */
const char *sq_col_str(struct sq_stmt *st, int i);
/* A blob column's bytes (NULL when empty or NULL) and length. */
const void *sq_col_blob(struct sq_stmt *st, int i);
size_t sq_col_bytes(struct sq_stmt *st, int i);
/* Copies a text column into dst, truncated to size; NULL reads as "". */
void sq_col_text(struct sq_stmt *st, int i, char *dst, size_t size);

/* Checks, inside a transaction, that the handle's fence epoch (when set)
 * is still the leader's, locking the leader's row until the transaction
 * ends. Returns 0, -ESTALE when another controller leads since, or -errno. */
int sq_fence(struct store *s);

/* Drops the bytes the store keeps of a collected artifact (a no-op where
 * it keeps none: store_keeps_artifacts). Returns 0 or -errno. */
int sq_artifact_bytes_drop(struct store *s, const char *digest);

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
