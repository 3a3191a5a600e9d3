/* The store on SQLite: one database file in WAL mode per path, a connection
 * per handle (store_engine.h). */
#include "store_engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

/* Writers wait this long for each other before a call fails with -EBUSY. */
#define BUSY_TIMEOUT_MS 10000
/* store_checkpoint truncates a WAL of more frames than this (16 MiB of 4 KiB
 * pages), waiting at most this long for the writer and readers. */
#define WAL_TRUNCATE_FRAMES 4096
#define WAL_TRUNCATE_WAIT_MS 200

struct lite_stmt {
	struct sq_stmt base;
	sqlite3_stmt *st;
};

static sqlite3 *db_of(const struct store *s)
{
	return s->conn;
}

static sqlite3_stmt *lite(struct sq_stmt *st)
{
	return ((struct lite_stmt *)st)->st;
}

/* Maps an SQLite result code to 0 or -errno. */
static int lite_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE: return 0;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_READONLY: return -EROFS;
	case SQLITE_CANTOPEN: return -ENOENT;
	case SQLITE_CONSTRAINT:
		/* A missing parent row is the caller naming something that does
		 * not exist; a duplicate key is something that already does. */
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			return -ENOENT;
		if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
			return -EEXIST;
		return -EINVAL;
	default: return -EIO;
	}
}

static int lite_open(struct store *s, const char *path)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(
		path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	s->conn = db;
	if (rc != SQLITE_OK)
		return lite_errno(rc);
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	/* WAL lets API readers run while a writer commits. synchronous=NORMAL
	 * in WAL mode survives a crash of the controller; only a power loss
	 * can drop the last commits, never corrupt the database, and it saves
	 * an fsync per invocation record. Foreign keys are off by default in
	 * SQLite and must be enabled per connection. */
	return lite_errno(sqlite3_exec(
		db,
		"PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
		NULL, NULL, NULL));
}

static void lite_close(struct store *s)
{
	sqlite3_close(db_of(s));
	s->conn = NULL;
}

static int lite_prepare(struct store *s, const char *sql, struct sq_stmt **ret_st)
{
	struct lite_stmt *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	int rc = sqlite3_prepare_v3(db_of(s), sql, -1, SQLITE_PREPARE_PERSISTENT, &st->st, NULL);
	if (rc != SQLITE_OK) {
		free(st);
		return rc == SQLITE_NOMEM ? -ENOMEM : -EINVAL;
	}
	st->base = (struct sq_stmt){ &sq_sqlite_engine, s };
	*ret_st = &st->base;
	return 0;
}

static void lite_finalize(struct sq_stmt *st)
{
	sqlite3_finalize(lite(st));
	free(st);
}

static void lite_reset(struct sq_stmt *st)
{
	sqlite3_reset(lite(st));
	sqlite3_clear_bindings(lite(st));
}

static int lite_bind_null(struct sq_stmt *st, int i)
{
	return lite_errno(sqlite3_bind_null(lite(st), i));
}

static int lite_bind_int64(struct sq_stmt *st, int i, int64_t v)
{
	return lite_errno(sqlite3_bind_int64(lite(st), i, v));
}

static int lite_bind_text(struct sq_stmt *st, int i, const char *v)
{
	return lite_errno(sqlite3_bind_text(lite(st), i, v, -1, SQLITE_STATIC));
}

static int lite_bind_blob(struct sq_stmt *st, int i, const void *p, size_t n)
{
	return lite_errno(sqlite3_bind_blob64(lite(st), i, p, n, SQLITE_STATIC));
}

static int lite_step(struct sq_stmt *st)
{
	int rc = sqlite3_step(lite(st));
	if (rc == SQLITE_ROW)
		return SQ_ROW;
	if (rc == SQLITE_DONE)
		return SQ_DONE;
	int r = lite_errno(rc);
	return r < 0 ? r : -EIO;
}

static int64_t lite_changes(struct sq_stmt *st)
{
	return sqlite3_changes64(db_of(st->s));
}

static int lite_col_count(struct sq_stmt *st)
{
	return sqlite3_column_count(lite(st));
}

static const char *lite_col_name(struct sq_stmt *st, int i)
{
	return sqlite3_column_name(lite(st), i);
}

static enum sq_type lite_col_type(struct sq_stmt *st, int i)
{
	switch (sqlite3_column_type(lite(st), i)) {
	case SQLITE_INTEGER: return SQ_INT;
	case SQLITE_TEXT: return SQ_TEXT;
	case SQLITE_BLOB: return SQ_BLOB;
	/* The store keeps no floats: one would be a value it never wrote. */
	default: return SQ_NULL;
	}
}

static int64_t lite_col_int64(struct sq_stmt *st, int i)
{
	return sqlite3_column_int64(lite(st), i);
}

static const char *lite_col_str(struct sq_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(lite(st), i);
}

static const void *lite_col_blob(struct sq_stmt *st, int i)
{
	return sqlite3_column_blob(lite(st), i);
}

static size_t lite_col_bytes(struct sq_stmt *st, int i)
{
	return (size_t)sqlite3_column_bytes(lite(st), i);
}

static int lite_exec(struct store *s, const char *sql)
{
	return lite_errno(sqlite3_exec(db_of(s), sql, NULL, NULL, NULL));
}

static bool lite_in_transaction(struct store *s)
{
	return !sqlite3_get_autocommit(db_of(s));
}

/* IMMEDIATE takes the write lock up front: a second process opening the
 * same new database waits here and then finds the schema made. */
static int lite_schema_begin(struct store *s)
{
	return lite_exec(s, "BEGIN IMMEDIATE");
}

static int lite_schema_version(struct store *s)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db_of(s), "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -EIO;
	sqlite3_finalize(st);
	return version;
}

static int lite_schema_set(struct store *s, int version)
{
	/* A PRAGMA takes no bound parameters. */
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
	return lite_exec(s, sql);
}

static int lite_set_autocheckpoint(struct store *s, int pages)
{
	return sqlite3_wal_autocheckpoint(db_of(s), pages) == SQLITE_OK ? 0 : -EINVAL;
}

static int lite_checkpoint(struct store *s)
{
	sqlite3 *db = db_of(s);
	int frames = 0;
	int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, NULL);
	if (rc == SQLITE_OK && frames > WAL_TRUNCATE_FRAMES) {
		/* A passive checkpoint never rewinds the WAL: the next writer
		 * starts it over only when it finds every frame copied back,
		 * which steady writes racing each checkpoint never let happen,
		 * so the file (and the index SQLite maps beside it) would grow
		 * without bound. Past the limit, copy the rest and truncate
		 * it, holding writers off for a short while at most. */
		sqlite3_busy_timeout(db, WAL_TRUNCATE_WAIT_MS);
		rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	}
	return rc == SQLITE_OK || rc == SQLITE_BUSY ? 0 : lite_errno(rc);
}

const struct sq_engine sq_sqlite_engine = {
	.name = "sqlite",
	.open = lite_open,
	.close = lite_close,
	.prepare = lite_prepare,
	.finalize = lite_finalize,
	.reset = lite_reset,
	.bind_null = lite_bind_null,
	.bind_int64 = lite_bind_int64,
	.bind_text = lite_bind_text,
	.bind_blob = lite_bind_blob,
	.step = lite_step,
	.changes = lite_changes,
	.col_count = lite_col_count,
	.col_name = lite_col_name,
	.col_type = lite_col_type,
	.col_int64 = lite_col_int64,
	.col_str = lite_col_str,
	.col_blob = lite_col_blob,
	.col_bytes = lite_col_bytes,
	.exec = lite_exec,
	.in_transaction = lite_in_transaction,
	.schema_begin = lite_schema_begin,
	.schema_version = lite_schema_version,
	.schema_set = lite_schema_set,
	.set_autocheckpoint = lite_set_autocheckpoint,
	.checkpoint = lite_checkpoint,
};
