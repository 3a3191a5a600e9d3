/* What a database engine gives the store: store.c opens a handle through
 * one of these tables (store_sqlite.c, store_pg.c) and runs every statement
 * through it, so that the store's modules (store_int.h) never see which
 * engine holds their rows. */
#ifndef DITTO_STORE_ENGINE_H
#define DITTO_STORE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store_int.h"

/* The first member of each engine's statement: the sq_* functions find the
 * engine through it. */
struct sq_stmt {
	const struct sq_engine *engine;
	struct store *s;
};

/* Every function returns 0 or -errno unless it says otherwise; a statement
 * is always one of the engine's own. */
struct sq_engine {
	const char *name; /* the URI scheme: "sqlite", "postgres" */
	/* Connects s->conn to target (a path, a conninfo). On failure the
	 * handle is left for close. */
	int (*open)(struct store *s, const char *target);
	/* Closes s->conn (NULL is fine); the statements are finalized first. */
	void (*close)(struct store *s);
	/* Prepares sql (?N placeholders, SQLite's syntax). */
	int (*prepare)(struct store *s, const char *sql, struct sq_stmt **ret_st);
	void (*finalize)(struct sq_stmt *st);
	/* Ends the statement's run and sets every parameter to NULL. */
	void (*reset)(struct sq_stmt *st);
	int (*bind_null)(struct sq_stmt *st, int i);
	int (*bind_int64)(struct sq_stmt *st, int i, int64_t v);
	/* Text and blobs are not copied: the caller keeps them until reset. */
	int (*bind_text)(struct sq_stmt *st, int i, const char *v);
	int (*bind_blob)(struct sq_stmt *st, int i, const void *p, size_t n);
	/* Returns SQ_ROW, SQ_DONE or -errno. */
	int (*step)(struct sq_stmt *st);
	/* Rows the statement's last run inserted, changed or deleted. */
	int64_t (*changes)(struct sq_stmt *st);
	int (*col_count)(struct sq_stmt *st);
	const char *(*col_name)(struct sq_stmt *st, int i);
	enum sq_type (*col_type)(struct sq_stmt *st, int i);
	int64_t (*col_int64)(struct sq_stmt *st, int i);
	/* NULL for NULL; valid until the next step or reset. */
	const char *(*col_str)(struct sq_stmt *st, int i);
	const void *(*col_blob)(struct sq_stmt *st, int i);
	size_t (*col_bytes)(struct sq_stmt *st, int i);
	/* Runs statements without parameters or rows (a schema step). */
	int (*exec)(struct store *s, const char *sql);
	/* Whether a transaction is open on the handle. */
	bool (*in_transaction)(struct store *s);
	/* Opens the transaction a schema change runs in, holding every other
	 * handle's schema change off until it ends; then reads and writes the
	 * schema version (0: an empty database). */
	int (*schema_begin)(struct store *s);
	int (*schema_version)(struct store *s);
	int (*schema_set)(struct store *s, int version);
	/* Maintenance; NULL where the engine has none (a no-op). */
	int (*set_autocheckpoint)(struct store *s, int pages);
	int (*checkpoint)(struct store *s);
};

extern const struct sq_engine sq_sqlite_engine;
extern const struct sq_engine sq_pg_engine;

/* Each engine's schema steps (store_schema.c): step N (from 1) is
 * [N - 1], and the latest version is the number of steps. */
#define STORE_SQLITE_SCHEMA_VERSION 8
#define STORE_PG_SCHEMA_VERSION 3
extern const char *const store_sqlite_schema[STORE_SQLITE_SCHEMA_VERSION];
extern const char *const store_pg_schema[STORE_PG_SCHEMA_VERSION];

/* The SQL of query q for s's engine. */
const char *sq_query_sql(const struct store *s, enum query q);

#endif
