/* The store's core: opening a database and migrating its schema,
 * transactions, the prepared-statement cache, maintenance, and the helpers
 * the other store modules share (see store_int.h). */
#include "store_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "encoding.h"
#include "util.h"

/* Writers wait this long for each other before a call fails with -EBUSY. */
#define BUSY_TIMEOUT_MS 10000
/* store_checkpoint truncates a WAL of more frames than this (16 MiB of 4 KiB
 * pages), waiting at most this long for the writer and readers. */
#define WAL_TRUNCATE_FRAMES 4096
#define WAL_TRUNCATE_WAIT_MS 200

/* Each schema version is one step; a database at user_version N runs steps
 * N+1.. in order, each in its own transaction, so later versions only ever
 * append steps here and never edit an applied one. */
static const char *const migrations[] = {
	/* 1: the initial schema. Names are the keys: they are what the API
	 * speaks, and a tenant or function is never renamed. */
	"CREATE TABLE tenants ("
	"  name TEXT PRIMARY KEY,"
	"  created_ms INTEGER NOT NULL,"
	"  min_workers INTEGER NOT NULL DEFAULT 0,"
	"  max_workers INTEGER NOT NULL DEFAULT 4,"
	"  mechanism TEXT NOT NULL DEFAULT 'hotplug',"
	"  policy TEXT NOT NULL DEFAULT 'elastic'"
	") WITHOUT ROWID;"
	"CREATE TABLE api_keys ("
	"  key_id TEXT PRIMARY KEY,"
	"  tenant TEXT REFERENCES tenants(name)," /* NULL: an admin key */
	"  salt BLOB NOT NULL,"
	"  hash BLOB NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  revoked_ms INTEGER"
	");"
	"CREATE TABLE artifacts ("
	"  digest TEXT PRIMARY KEY,"
	"  size INTEGER NOT NULL,"
	"  created_ms INTEGER NOT NULL"
	") WITHOUT ROWID;"
	/* latest is the highest version ever stored, so numbers are never
	 * reused; first_live is the first version of the current incarnation
	 * (a put after a delete starts a new one). */
	"CREATE TABLE functions ("
	"  tenant TEXT NOT NULL REFERENCES tenants(name),"
	"  name TEXT NOT NULL,"
	"  latest INTEGER NOT NULL,"
	"  first_live INTEGER NOT NULL,"
	"  deleted INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (tenant, name)"
	") WITHOUT ROWID;"
	"CREATE TABLE function_versions ("
	"  tenant TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  digest TEXT NOT NULL REFERENCES artifacts(digest),"
	"  timeout_ms INTEGER NOT NULL,"
	"  memory_mib INTEGER NOT NULL,"
	"  max_concurrency INTEGER NOT NULL,"
	"  mode TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  PRIMARY KEY (tenant, name, version),"
	"  FOREIGN KEY (tenant, name) REFERENCES functions(tenant, name)"
	") WITHOUT ROWID;"
	/* The database itself refuses to change a stored version. */
	"CREATE TRIGGER function_versions_immutable BEFORE UPDATE ON function_versions"
	"  BEGIN SELECT RAISE(ABORT, 'function versions are immutable'); END;"
	"CREATE TABLE invocations ("
	"  id TEXT PRIMARY KEY,"
	"  tenant TEXT NOT NULL,"
	"  function TEXT NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  async INTEGER NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('queued','running','ok','error','timeout')),"
	"  retries INTEGER NOT NULL DEFAULT 0,"
	"  created_ms INTEGER NOT NULL,"
	"  started_ms INTEGER,"
	"  finished_ms INTEGER,"
	"  host TEXT, vm TEXT, cpu INTEGER,"
	"  input BLOB, result BLOB, log BLOB, error TEXT,"
	"  queued_us INTEGER, cold_start_us INTEGER, exec_us INTEGER, total_us INTEGER,"
	"  cold_start INTEGER,"
	"  FOREIGN KEY (tenant, function, version)"
	"    REFERENCES function_versions(tenant, name, version)"
	");"
	/* Listing pages through a tenant's records newest first. */
	"CREATE INDEX invocations_by_tenant ON invocations(tenant, created_ms, id);"
	/* Recovery and retention only look at the few unfinished records or
	 * at finished ones by age. */
	"CREATE INDEX invocations_unfinished ON invocations(status)"
	"  WHERE status IN ('queued','running');"
	"CREATE INDEX invocations_by_finish ON invocations(finished_ms)"
	"  WHERE finished_ms IS NOT NULL;"
	"CREATE TABLE hosts ("
	"  id TEXT PRIMARY KEY,"
	"  address TEXT NOT NULL,"
	"  cores INTEGER NOT NULL,"
	"  registered_ms INTEGER NOT NULL,"
	"  last_seen_ms INTEGER NOT NULL,"
	"  down INTEGER NOT NULL DEFAULT 0,"
	"  draining INTEGER NOT NULL DEFAULT 0"
	") WITHOUT ROWID;",
	/* 2: what the agent said of the VM an invocation ran on: its active
	 * worker vCPUs and its worker-vCPU milliseconds so far (NULL: not said). */
	"ALTER TABLE invocations ADD COLUMN workers INTEGER;"
	"ALTER TABLE invocations ADD COLUMN vcpu_alloc_ms INTEGER;"
	"ALTER TABLE invocations ADD COLUMN vcpu_busy_ms INTEGER;",
	/* 3: confidential tenants (how their VMs run, and whether invocations
	 * need verified hardware evidence) and end-to-end encrypted function
	 * versions. */
	"ALTER TABLE tenants ADD COLUMN confidential TEXT NOT NULL DEFAULT 'none';"
	"ALTER TABLE tenants ADD COLUMN attestation TEXT NOT NULL DEFAULT 'optional';"
	"ALTER TABLE function_versions ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;",
	/* 4: the HOST_DATA a tenant's confidential VMs are launched with (the
	 * commitment to the tenant secret they accept; NULL: none). */
	"ALTER TABLE tenants ADD COLUMN host_data TEXT;",
	/* 5: how a version runs (binary, shell, python3, nodejs) and the
	 * handler its launcher loads (NULL: none), and the exception a failed
	 * invocation raised (JSON: type, message, traceback; NULL: none). */
	"ALTER TABLE function_versions ADD COLUMN runtime TEXT NOT NULL DEFAULT 'binary';"
	"ALTER TABLE function_versions ADD COLUMN handler TEXT;"
	"ALTER TABLE invocations ADD COLUMN exception TEXT;",
	/* 6: when garbage collection deleted an artifact's file (NULL: it is
	 * there). The row stays: deleted functions' versions still name it. */
	"ALTER TABLE artifacts ADD COLUMN collected_ms INTEGER;",
	/* 7: the most invocations of a tenant's functions running at once. */
	"ALTER TABLE tenants ADD COLUMN concurrency INTEGER NOT NULL DEFAULT 100;",
};

static const char *const core_queries[Q_COUNT] = {
	/* IMMEDIATE takes the write lock up front, so a transaction that reads
	 * then writes never fails half-way on a lock another writer holds;
	 * the busy timeout applies to taking it. */
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
};

/* The parts of the query table; each query's SQL is in exactly one. */
static const char *const *const query_parts[] = {
	core_queries,       store_tenant_queries, store_function_queries, store_invocation_queries,
	store_host_queries,
};

static const char *sq_query_sql(enum query q)
{
	for (size_t i = 0; i < sizeof(query_parts) / sizeof(query_parts[0]); i++)
		if (query_parts[i][q])
			return query_parts[i][q];
	return NULL;
}

/* ---- statements and transactions --------------------------------------- */

int sq_sql_errno(int rc)
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

int sq_step_failed(int rc)
{
	int r = sq_sql_errno(rc);
	return r < 0 ? r : -EIO;
}

int sq_step_row(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : sq_sql_errno(rc);
}

sqlite3_stmt *sq_prep(struct store *s, enum query q)
{
	if (!s->stmts[q] &&
	    sqlite3_prepare_v3(s->db, sq_query_sql(q), -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[q],
			       NULL) != SQLITE_OK)
		return NULL;
	return s->stmts[q];
}

void sq_stmt_done(sqlite3_stmt **st)
{
	if (*st) {
		sqlite3_reset(*st);
		sqlite3_clear_bindings(*st);
	}
}

static int bind_next(sqlite3_stmt *st, int i, char type, va_list *ap)
{
	switch (type) {
	case 't': return sq_bind_text(st, i, va_arg(*ap, const char *));
	case 'b': {
		const void *p = va_arg(*ap, const void *);
		return sq_bind_blob(st, i, p, va_arg(*ap, size_t));
	}
	case 'i': return sqlite3_bind_int(st, i, va_arg(*ap, int));
	case 'I': return sqlite3_bind_int64(st, i, va_arg(*ap, int64_t));
	default: return SQLITE_MISUSE;
	}
}

sqlite3_stmt *sq_prep_bind(struct store *s, enum query q, const char *types, ...)
{
	sqlite3_stmt *st = sq_prep(s, q);
	if (!st)
		return NULL;
	va_list ap;
	va_start(ap, types);
	int rc = SQLITE_OK;
	for (int i = 0; types[i] && rc == SQLITE_OK; i++)
		rc = bind_next(st, i + 1, types[i], &ap);
	va_end(ap);
	if (rc != SQLITE_OK) {
		sq_stmt_done(&st);
		return NULL;
	}
	return st;
}

/* Runs a statement that returns no rows. */
static int exec_q(struct store *s, enum query q)
{
	_cleanup_stmt_ sqlite3_stmt *st = sq_prep(s, q);
	if (!st)
		return -ENOMEM;
	return sq_sql_errno(sqlite3_step(st));
}

int sq_tx_begin(struct store *s)
{
	return exec_q(s, Q_BEGIN);
}

int sq_tx_end(struct store *s, int r)
{
	if (r >= 0) {
		r = exec_q(s, Q_COMMIT);
		if (r >= 0)
			return r;
	}
	if (!sqlite3_get_autocommit(s->db))
		exec_q(s, Q_ROLLBACK);
	return r;
}

int store_batch_begin(struct store *s)
{
	return sq_tx_begin(s);
}

int store_batch_end(struct store *s, int r)
{
	return sq_tx_end(s, r);
}

int sq_step_update(struct store *s, sqlite3_stmt *st)
{
	int r = sq_sql_errno(sqlite3_step(st));
	if (r < 0)
		return r;
	return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

int sq_read_row(sqlite3_stmt *st, void (*read)(sqlite3_stmt *, void *), void *ret)
{
	if (!st)
		return -ENOMEM;
	int r = sq_step_row(st);
	if (r < 0)
		return r;
	read(st, ret);
	return 0;
}

int sq_collect_rows(sqlite3_stmt *st, size_t size, void (*read)(sqlite3_stmt *, void *), void *ret,
		    size_t *ret_n)
{
	if (!st)
		return -ENOMEM;
	uint8_t *items = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (array_reserve(&items, &cap, n + 1, size, 16) < 0) {
			free(items);
			return -ENOMEM;
		}
		read(st, items + n * size);
		n++;
	}
	if (rc != SQLITE_DONE) {
		free(items);
		return sq_step_failed(rc);
	}
	/* ret is the address of the caller's typed array pointer. */
	void *array = items;
	memcpy(ret, &array, sizeof(array));
	*ret_n = n;
	return 0;
}

/* ---- parameters and columns -------------------------------------------- */

int sq_bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

int sq_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	return n ? sqlite3_bind_blob64(st, i, p, n, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

void sq_col_text(sqlite3_stmt *st, int i, char *dst, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

/* ---- values ------------------------------------------------------------- */

static bool name_is_valid(const char *name, bool allow_upper_dot_underscore)
{
	size_t n = name ? strlen(name) : 0;
	if (n < 1 || n >= STORE_NAME_SIZE)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
		if (allow_upper_dot_underscore)
			ok = ok || (c >= 'A' && c <= 'Z') || c == '_' || c == '.';
		if (!ok)
			return false;
	}
	return true;
}

bool sq_tenant_name_is_valid(const char *name)
{
	return name_is_valid(name, false);
}

bool sq_object_name_is_valid(const char *name)
{
	return name_is_valid(name, true);
}

bool store_is_lower_hex(const char *s, size_t n)
{
	if (!s || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool sq_printable(const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max) : 0;
	if (n < 1 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

int sq_random_hex(size_t bytes, char *out)
{
	uint8_t r[32];
	if (bytes > sizeof(r) || RAND_bytes(r, (int)bytes) != 1)
		return -EIO;
	bytes_to_hex(r, bytes, out);
	OPENSSL_cleanse(r, sizeof(r));
	return 0;
}

/* ---- open/close --------------------------------------------------------- */

static int user_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -EIO;
	sqlite3_finalize(st);
	return version;
}

/* Applies the missing schema steps one transaction each. The version is read
 * inside the transaction, so two processes opening a new database at once
 * apply each step exactly once. */
static int migrate(sqlite3 *db)
{
	const int latest = (int)(sizeof(migrations) / sizeof(migrations[0]));
	for (;;) {
		int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return sq_sql_errno(rc);
		int version = user_version(db);
		if (version < 0 || version > latest) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return version < 0 ? version : -EPROTO;
		}
		if (version == latest)
			return sq_sql_errno(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL));
		/* A PRAGMA takes no bound parameters. */
		char bump[64];
		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", version + 1);
		rc = sqlite3_exec(db, migrations[version], NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, bump, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return sq_sql_errno(rc);
		}
	}
}

int store_open(const char *path, struct store **ret_store)
{
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	int rc = sqlite3_open_v2(path, &s->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		int r = sq_sql_errno(rc);
		store_close(s);
		return r;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	/* WAL lets API readers run while a writer commits. synchronous=NORMAL
	 * in WAL mode survives a crash of the controller; only a power loss
	 * can drop the last commits, never corrupt the database, and it saves
	 * an fsync per invocation record. Foreign keys are off by default in
	 * SQLite and must be enabled per connection. */
	rc = sqlite3_exec(
		s->db,
		"PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
		NULL, NULL, NULL);
	int r = rc == SQLITE_OK ? migrate(s->db) : sq_sql_errno(rc);
	if (r < 0) {
		store_close(s);
		return r;
	}
	*ret_store = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->stmts[i]);
	sqlite3_close(s->db);
	free(s);
}

/* ---- maintenance -------------------------------------------------------- */

int store_set_autocheckpoint(struct store *s, int pages)
{
	return sqlite3_wal_autocheckpoint(s->db, pages) == SQLITE_OK ? 0 : -EINVAL;
}

int store_checkpoint(struct store *s)
{
	int frames = 0;
	int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, NULL);
	if (rc == SQLITE_OK && frames > WAL_TRUNCATE_FRAMES) {
		/* A passive checkpoint never rewinds the WAL: the next writer
		 * starts it over only when it finds every frame copied back,
		 * which steady writes racing each checkpoint never let happen,
		 * so the file (and the index SQLite maps beside it) would grow
		 * without bound. Past the limit, copy the rest and truncate
		 * it, holding writers off for a short while at most. */
		sqlite3_busy_timeout(s->db, WAL_TRUNCATE_WAIT_MS);
		rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	}
	return rc == SQLITE_OK || rc == SQLITE_BUSY ? 0 : sq_sql_errno(rc);
}
