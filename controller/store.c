#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#define TOKEN_PREFIX "dk_"
#define TOKEN_RANDOM_BYTES 20
#define KEY_SALT_BYTES 16
#define KEY_HASH_BYTES 32
/* Writers wait this long for each other before a call fails with -EBUSY. */
#define BUSY_TIMEOUT_MS 10000

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
};

#define INV_COLS(payloads)                                                                     \
	"id, tenant, function, version, async, status, retries, created_ms, started_ms,"       \
	" finished_ms, host, vm, cpu, queued_us, cold_start_us, exec_us, total_us, cold_start," \
	" error, " payloads
#define INV_PAYLOADS "input, result, log"
#define INV_NO_PAYLOADS "NULL, NULL, NULL"

enum query {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_TENANT_INSERT,
	Q_TENANT_GET,
	Q_TENANT_LIST,
	Q_TENANT_SCALING,
	Q_KEY_INSERT,
	Q_KEY_GET,
	Q_KEY_REVOKE,
	Q_ARTIFACT_INSERT,
	Q_ARTIFACT_GET,
	Q_FUNCTION_BUMP,
	Q_VERSION_INSERT,
	Q_FUNCTION_GET,
	Q_FUNCTION_LIST,
	Q_FUNCTION_DELETE,
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
	Q_HOST_REGISTER,
	Q_HOST_HEARTBEAT,
	Q_HOST_DOWN,
	Q_HOST_DRAINING,
	Q_HOST_GET,
	Q_HOST_LIST,
	Q_COUNT,
};

#define FUNCTION_COLS                                                                          \
	"v.tenant, v.name, v.version, v.digest, a.size, v.timeout_ms, v.memory_mib,"           \
	" v.max_concurrency, v.mode, v.created_ms"                                              \
	" FROM functions f"                                                                      \
	" JOIN function_versions v ON v.tenant = f.tenant AND v.name = f.name"                   \
	" JOIN artifacts a ON a.digest = v.digest"
#define HOST_COLS "id, address, cores, registered_ms, last_seen_ms, down, draining FROM hosts"
#define UNFINISHED "status IN ('queued','running')"

static const char *const queries[Q_COUNT] = {
	/* IMMEDIATE takes the write lock up front, so a transaction that reads
	 * then writes never fails half-way on a lock another writer holds;
	 * the busy timeout applies to taking it. */
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_TENANT_INSERT] = "INSERT INTO tenants (name, created_ms, mechanism) VALUES (?1, ?2, 'precreated')",
	[Q_TENANT_GET] = "SELECT name, created_ms, min_workers, max_workers, mechanism, policy"
			 " FROM tenants WHERE name = ?1",
	[Q_TENANT_LIST] = "SELECT name, created_ms, min_workers, max_workers, mechanism, policy"
			  " FROM tenants ORDER BY name",
	[Q_TENANT_SCALING] = "UPDATE tenants SET min_workers = ?2, max_workers = ?3, mechanism = ?4,"
			     " policy = ?5 WHERE name = ?1",
	[Q_KEY_INSERT] = "INSERT INTO api_keys (key_id, tenant, salt, hash, created_ms)"
			 " VALUES (?1, ?2, ?3, ?4, ?5)",
	[Q_KEY_GET] = "SELECT tenant, salt, hash FROM api_keys WHERE key_id = ?1 AND revoked_ms IS NULL",
	[Q_KEY_REVOKE] = "UPDATE api_keys SET revoked_ms = ?2 WHERE key_id = ?1 AND revoked_ms IS NULL",
	[Q_ARTIFACT_INSERT] = "INSERT INTO artifacts (digest, size, created_ms) VALUES (?1, ?2, ?3)"
			      " ON CONFLICT (digest) DO NOTHING",
	[Q_ARTIFACT_GET] = "SELECT size FROM artifacts WHERE digest = ?1",
	/* Within an UPDATE SET every column reads its old value. */
	[Q_FUNCTION_BUMP] = "INSERT INTO functions (tenant, name, latest, first_live) VALUES (?1, ?2, 1, 1)"
			    " ON CONFLICT (tenant, name) DO UPDATE SET latest = latest + 1,"
			    " first_live = CASE WHEN deleted THEN latest + 1 ELSE first_live END,"
			    " deleted = 0 RETURNING latest",
	[Q_VERSION_INSERT] = "INSERT INTO function_versions (tenant, name, version, digest, timeout_ms,"
			     " memory_mib, max_concurrency, mode, created_ms)"
			     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[Q_FUNCTION_GET] = "SELECT " FUNCTION_COLS " WHERE f.tenant = ?1 AND f.name = ?2 AND NOT f.deleted"
			   " AND v.version = CASE WHEN ?3 = 0 THEN f.latest ELSE ?3 END"
			   " AND v.version >= f.first_live",
	[Q_FUNCTION_LIST] = "SELECT " FUNCTION_COLS " WHERE f.tenant = ?1 AND NOT f.deleted"
			    " AND v.version = f.latest ORDER BY f.name",
	[Q_FUNCTION_DELETE] = "UPDATE functions SET deleted = 1 WHERE tenant = ?1 AND name = ?2 AND NOT deleted",
	[Q_INV_INSERT] = "INSERT INTO invocations (id, tenant, function, version, async, status,"
			 " created_ms, input, started_ms, host, vm) VALUES (?1, ?2, ?3, ?4, ?5,"
			 " CASE WHEN ?8 IS NULL THEN 'queued' ELSE 'running' END, ?6, ?7,"
			 " CASE WHEN ?8 IS NULL THEN NULL ELSE ?6 END, ?8, ?9)",
	[Q_INV_START] = "UPDATE invocations SET status = 'running', started_ms = ?2, host = ?3, vm = ?4,"
			" cpu = ?5 WHERE id = ?1 AND status = 'queued'",
	[Q_INV_FINISH] = "UPDATE invocations SET status = ?2, finished_ms = ?3, result = ?4, log = ?5,"
			 " error = ?6, queued_us = ?7, cold_start_us = ?8, exec_us = ?9, total_us = ?10,"
			 " cold_start = ?11, cpu = coalesce(?12, cpu) WHERE id = ?1 AND " UNFINISHED,
	[Q_INV_STATUS] = "SELECT status FROM invocations WHERE id = ?1",
	[Q_INV_GET] = "SELECT " INV_COLS(INV_PAYLOADS) " FROM invocations"
		      " WHERE id = ?1 AND (?2 IS NULL OR tenant = ?2)",
	/* Keyset paging: the cursor is the (created_ms, id) of the last row
	 * shown, so pages neither skip nor repeat rows as records arrive. */
	[Q_INV_LIST] = "SELECT " INV_COLS(INV_NO_PAYLOADS) " FROM invocations"
		       " WHERE tenant = ?1 AND (?2 IS NULL OR function = ?2) AND (?3 IS NULL OR status = ?3)"
		       " AND (created_ms, id) < (?4, ?5) ORDER BY created_ms DESC, id DESC LIMIT ?6",
	[Q_INV_PRUNE_AGE] = "DELETE FROM invocations WHERE finished_ms IS NOT NULL AND finished_ms < ?1",
	[Q_INV_PRUNE_COUNT] = "DELETE FROM invocations WHERE id IN (SELECT id FROM (SELECT id,"
			      " row_number() OVER (PARTITION BY tenant ORDER BY created_ms DESC, id DESC) AS n"
			      " FROM invocations WHERE finished_ms IS NOT NULL) WHERE n > ?1)",
	[Q_INV_FAIL_UNFINISHED] = "UPDATE invocations SET status = 'error', error = ?1, finished_ms = ?2"
				  " WHERE " UNFINISHED " AND (NOT async OR retries >= 1)",
	[Q_INV_REQUEUE] = "UPDATE invocations SET status = 'queued', retries = retries + 1,"
			  " started_ms = NULL, host = NULL, vm = NULL, cpu = NULL"
			  " WHERE " UNFINISHED " RETURNING id",
	[Q_INV_REQUEUE_ONE] = "UPDATE invocations SET status = 'queued', retries = retries + 1,"
			      " started_ms = NULL, host = NULL, vm = NULL, cpu = NULL"
			      " WHERE id = ?1 AND async AND " UNFINISHED,
	[Q_HOST_REGISTER] = "INSERT INTO hosts (id, address, cores, registered_ms, last_seen_ms)"
			    " VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (id) DO UPDATE SET"
			    " address = excluded.address, cores = excluded.cores,"
			    " last_seen_ms = excluded.last_seen_ms, down = 0",
	[Q_HOST_HEARTBEAT] = "UPDATE hosts SET last_seen_ms = ?2, down = 0 WHERE id = ?1",
	[Q_HOST_DOWN] = "UPDATE hosts SET down = ?2 WHERE id = ?1",
	[Q_HOST_DRAINING] = "UPDATE hosts SET draining = ?2 WHERE id = ?1",
	[Q_HOST_GET] = "SELECT " HOST_COLS " WHERE id = ?1",
	[Q_HOST_LIST] = "SELECT " HOST_COLS " ORDER BY id",
};

struct store {
	sqlite3 *db;
	/* Prepared on first use and kept for the handle's life. */
	sqlite3_stmt *stmts[Q_COUNT];
};

/* ---- helpers ------------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int sql_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_CONSTRAINT:
		/* A missing parent row is the caller naming something that does
		 * not exist; a duplicate key is something that already does. */
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			return -ENOENT;
		if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
			return -EEXIST;
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* The error for a step that ended other than expected; never 0. */
static int step_failed(int rc)
{
	int r = sql_errno(rc);
	return r < 0 ? r : -EIO;
}

/* Returns the cached statement for q, reset and unbound, or NULL. */
static sqlite3_stmt *prep(struct store *s, enum query q)
{
	if (!s->stmts[q] &&
	    sqlite3_prepare_v3(s->db, queries[q], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[q], NULL) != SQLITE_OK)
		return NULL;
	return s->stmts[q];
}

/* Cleanup for a statement in use: resetting releases its read snapshot and
 * makes it ready for the next call, on every return path. */
static void stmt_done(sqlite3_stmt **st)
{
	if (*st) {
		sqlite3_reset(*st);
		sqlite3_clear_bindings(*st);
	}
}
#define _cleanup_stmt_ __attribute__((cleanup(stmt_done)))

/* Runs a statement that returns no rows. */
static int exec_q(struct store *s, enum query q)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, q);
	if (!st)
		return -ENOMEM;
	return sql_errno(sqlite3_step(st));
}

static int tx_begin(struct store *s)
{
	return exec_q(s, Q_BEGIN);
}

/* Commits, or rolls back when r (the result so far) is an error; returns the
 * final result. */
static int tx_end(struct store *s, int r)
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

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static int bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	/* An empty payload is stored as NULL so that it reads back as NULL. */
	return n ? sqlite3_bind_blob64(st, i, p, n, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static void col_text(sqlite3_stmt *st, int i, char *dst, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

static int col_blob(sqlite3_stmt *st, int i, uint8_t **ret, size_t *ret_len)
{
	size_t n = (size_t)sqlite3_column_bytes(st, i);
	const void *p = sqlite3_column_blob(st, i);
	*ret = NULL;
	*ret_len = 0;
	if (!n)
		return 0;
	if (!p || !(*ret = malloc(n)))
		return -ENOMEM;
	memcpy(*ret, p, n);
	*ret_len = n;
	return 0;
}

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

static bool tenant_name_is_valid(const char *name)
{
	return name_is_valid(name, false);
}

static bool object_name_is_valid(const char *name)
{
	return name_is_valid(name, true);
}

static bool is_lower_hex(const char *s, size_t n)
{
	if (!s || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int random_hex(size_t bytes, char *out)
{
	uint8_t r[32];
	if (bytes > sizeof(r) || RAND_bytes(r, (int)bytes) != 1)
		return -EIO;
	hex_encode(r, bytes, out);
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
			return sql_errno(rc);
		int version = user_version(db);
		if (version < 0 || version > latest) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return version < 0 ? version : -EPROTO;
		}
		if (version == latest)
			return sql_errno(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL));
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
			return sql_errno(rc);
		}
	}
}

int store_open(const char *path, struct store **ret_store)
{
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		int r = sql_errno(rc);
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
	rc = sqlite3_exec(s->db,
			  "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
			  NULL, NULL, NULL);
	int r = rc == SQLITE_OK ? migrate(s->db) : sql_errno(rc);
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

/* ---- tenants ------------------------------------------------------------ */

static void read_tenant(sqlite3_stmt *st, struct store_tenant *t)
{
	memset(t, 0, sizeof(*t));
	col_text(st, 0, t->name, sizeof(t->name));
	t->created_ms = sqlite3_column_int64(st, 1);
	t->scaling.min_workers = sqlite3_column_int(st, 2);
	t->scaling.max_workers = sqlite3_column_int(st, 3);
	col_text(st, 4, t->scaling.mechanism, sizeof(t->scaling.mechanism));
	col_text(st, 5, t->scaling.policy, sizeof(t->scaling.policy));
}

int store_tenant_create(struct store *s, const char *name)
{
	if (!tenant_name_is_valid(name))
		return -EINVAL;
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_TENANT_INSERT);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, now_ms());
	return sql_errno(sqlite3_step(st));
}

int store_tenant_get(struct store *s, const char *name, struct store_tenant *ret_tenant)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_TENANT_GET);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, name);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
	read_tenant(st, ret_tenant);
	return 0;
}

/* Collects every row of a started statement into a malloc'd array of
 * elements of the given size, each filled by read(). */
static int collect_rows(sqlite3_stmt *st, size_t size, void (*read)(sqlite3_stmt *, void *), void **ret,
			size_t *ret_n)
{
	uint8_t *items = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			void *p = realloc(items, ncap * size);
			if (!p) {
				free(items);
				return -ENOMEM;
			}
			items = p;
			cap = ncap;
		}
		read(st, items + n * size);
		n++;
	}
	if (rc != SQLITE_DONE) {
		free(items);
		return step_failed(rc);
	}
	*ret = items;
	*ret_n = n;
	return 0;
}

static void read_tenant_row(sqlite3_stmt *st, void *item)
{
	read_tenant(st, item);
}

int store_tenant_list(struct store *s, struct store_tenant **ret_tenants, size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_TENANT_LIST);
	if (!st)
		return -ENOMEM;
	void *items;
	size_t n;
	int r = collect_rows(st, sizeof(struct store_tenant), read_tenant_row, &items, &n);
	if (r < 0)
		return r;
	*ret_tenants = items;
	*ret_n = n;
	return 0;
}

static bool printable(const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max) : 0;
	if (n < 1 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

int store_tenant_set_scaling(struct store *s, const char *name, const struct store_scaling *scaling)
{
	const struct store_scaling *c = scaling;
	if (c->min_workers < 0 || c->min_workers > c->max_workers || c->max_workers < 1 || c->max_workers > STORE_MAX_WORKERS ||
	    (strcmp(c->mechanism, "hotplug") && strcmp(c->mechanism, "precreated")) ||
	    !printable(c->policy, sizeof(c->policy)))
		return -EINVAL;
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_TENANT_SCALING);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, name);
	sqlite3_bind_int(st, 2, c->min_workers);
	sqlite3_bind_int(st, 3, c->max_workers);
	bind_text(st, 4, c->mechanism);
	bind_text(st, 5, c->policy);
	int r = sql_errno(sqlite3_step(st));
	if (r < 0)
		return r;
	return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

/* ---- API keys ----------------------------------------------------------- */

/* A token carries 160 random bits, so guessing one is hopeless however fast
 * the hash is: a slow password hash (PBKDF2, scrypt) would only add latency
 * to every request. One SHA-256 over salt||token keeps a stolen database from
 * revealing usable tokens; the random salt keeps equal hashes from ever
 * showing up across keys or databases. */
static int key_hash(const uint8_t salt[KEY_SALT_BYTES], const char *token, uint8_t out[KEY_HASH_BYTES])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned len = 0;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(ctx, salt, KEY_SALT_BYTES) == 1 &&
		 EVP_DigestUpdate(ctx, token, strlen(token)) == 1 && EVP_DigestFinal_ex(ctx, out, &len) == 1 &&
		 len == KEY_HASH_BYTES;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

static void key_id_of(const char *token, char ret_key_id[STORE_KEY_ID_SIZE])
{
	memcpy(ret_key_id, token, STORE_KEY_ID_SIZE - 1);
	ret_key_id[STORE_KEY_ID_SIZE - 1] = '\0';
}

static bool token_is_wellformed(const char *token)
{
	size_t plen = strlen(TOKEN_PREFIX);
	return token && strncmp(token, TOKEN_PREFIX, plen) == 0 &&
	       is_lower_hex(token + plen, STORE_TOKEN_SIZE - 1 - plen);
}

int store_key_create(struct store *s, const char *tenant, char ret_token[STORE_TOKEN_SIZE])
{
	if (tenant && !tenant_name_is_valid(tenant))
		return -ENOENT;
	/* The key id is 48 random bits: a collision is unlikely but possible,
	 * and simply draws a new token. */
	for (int attempt = 0; attempt < 4; attempt++) {
		char token[STORE_TOKEN_SIZE], key_id[STORE_KEY_ID_SIZE];
		uint8_t salt[KEY_SALT_BYTES], hash[KEY_HASH_BYTES];
		memcpy(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX));
		int r = random_hex(TOKEN_RANDOM_BYTES, token + strlen(TOKEN_PREFIX));
		if (r < 0)
			return r;
		if (RAND_bytes(salt, sizeof(salt)) != 1)
			return -EIO;
		r = key_hash(salt, token, hash);
		if (r < 0)
			return r;
		key_id_of(token, key_id);

		_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_KEY_INSERT);
		if (!st)
			return -ENOMEM;
		bind_text(st, 1, key_id);
		bind_text(st, 2, tenant);
		sqlite3_bind_blob(st, 3, salt, sizeof(salt), SQLITE_STATIC);
		sqlite3_bind_blob(st, 4, hash, sizeof(hash), SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, now_ms());
		r = sql_errno(sqlite3_step(st));
		if (r == -EEXIST)
			continue;
		if (r == 0)
			memcpy(ret_token, token, STORE_TOKEN_SIZE);
		OPENSSL_cleanse(token, sizeof(token));
		return r;
	}
	return -EIO;
}

int store_tenant_create_with_key(struct store *s, const char *name, char ret_token[STORE_TOKEN_SIZE])
{
	int r = tx_begin(s);
	if (r < 0)
		return r;
	r = store_tenant_create(s, name);
	if (r == 0)
		r = store_key_create(s, name, ret_token);
	return tx_end(s, r);
}

int store_key_verify(struct store *s, const char *token, char ret_tenant[STORE_NAME_SIZE], bool *ret_is_admin)
{
	if (!token_is_wellformed(token))
		return -EACCES;
	char key_id[STORE_KEY_ID_SIZE];
	key_id_of(token, key_id);
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_KEY_GET);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, key_id);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? -EACCES : sql_errno(rc);
	uint8_t hash[KEY_HASH_BYTES];
	if (sqlite3_column_bytes(st, 1) != KEY_SALT_BYTES || sqlite3_column_bytes(st, 2) != KEY_HASH_BYTES)
		return -EACCES;
	int r = key_hash(sqlite3_column_blob(st, 1), token, hash);
	if (r < 0)
		return r;
	/* Constant time, so response timing says nothing about the secret. */
	if (CRYPTO_memcmp(hash, sqlite3_column_blob(st, 2), KEY_HASH_BYTES) != 0)
		return -EACCES;
	bool admin = sqlite3_column_type(st, 0) == SQLITE_NULL;
	col_text(st, 0, ret_tenant, STORE_NAME_SIZE);
	*ret_is_admin = admin;
	return 0;
}

int store_key_revoke(struct store *s, const char *key_id)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_KEY_REVOKE);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, key_id);
	sqlite3_bind_int64(st, 2, now_ms());
	int r = sql_errno(sqlite3_step(st));
	if (r < 0)
		return r;
	return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

/* ---- artifacts ---------------------------------------------------------- */

static int artifact_record(struct store *s, const char *digest, uint64_t size)
{
	if (!is_lower_hex(digest, STORE_DIGEST_SIZE - 1) || size > INT64_MAX)
		return -EINVAL;
	{
		_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_ARTIFACT_INSERT);
		if (!st)
			return -ENOMEM;
		bind_text(st, 1, digest);
		sqlite3_bind_int64(st, 2, (int64_t)size);
		sqlite3_bind_int64(st, 3, now_ms());
		int r = sql_errno(sqlite3_step(st));
		if (r < 0)
			return r;
	}
	uint64_t known;
	int r = store_artifact_get(s, digest, &known);
	if (r < 0)
		return r;
	return known == size ? 0 : -EEXIST;
}

int store_artifact_put(struct store *s, const char *digest, uint64_t size)
{
	return artifact_record(s, digest, size);
}

int store_artifact_get(struct store *s, const char *digest, uint64_t *ret_size)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_ARTIFACT_GET);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, digest);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
	*ret_size = (uint64_t)sqlite3_column_int64(st, 0);
	return 0;
}

/* ---- functions ---------------------------------------------------------- */

static bool limits_are_valid(const struct store_limits *l)
{
	return l->timeout_ms >= 1 && l->timeout_ms <= 86400000u && l->memory_mib >= 1 &&
	       l->memory_mib <= 1048576u && l->max_concurrency >= 1 && l->max_concurrency <= 65536u &&
	       (!strcmp(l->mode, "process") || !strcmp(l->mode, "persistent"));
}

static int function_put_locked(struct store *s, const char *tenant, const char *name, const char *digest,
			       uint64_t size, const struct store_limits *limits, int64_t *ret_version)
{
	int r = artifact_record(s, digest, size);
	if (r < 0)
		return r;
	int64_t version;
	{
		_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_FUNCTION_BUMP);
		if (!st)
			return -ENOMEM;
		bind_text(st, 1, tenant);
		bind_text(st, 2, name);
		int rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			return step_failed(rc);
		version = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE)
			return step_failed(rc);
	}
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_VERSION_INSERT);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, tenant);
	bind_text(st, 2, name);
	sqlite3_bind_int64(st, 3, version);
	bind_text(st, 4, digest);
	sqlite3_bind_int64(st, 5, limits->timeout_ms);
	sqlite3_bind_int64(st, 6, limits->memory_mib);
	sqlite3_bind_int64(st, 7, limits->max_concurrency);
	bind_text(st, 8, limits->mode);
	sqlite3_bind_int64(st, 9, now_ms());
	r = sql_errno(sqlite3_step(st));
	if (r < 0)
		return r;
	*ret_version = version;
	return 0;
}

int store_function_put(struct store *s, const char *tenant, const char *name, const char *digest,
		       uint64_t size, const struct store_limits *limits, int64_t *ret_version)
{
	if (!tenant_name_is_valid(tenant))
		return -ENOENT;
	if (!object_name_is_valid(name) || !limits_are_valid(limits))
		return -EINVAL;
	int64_t version = 0;
	int r = tx_begin(s);
	if (r < 0)
		return r;
	r = tx_end(s, function_put_locked(s, tenant, name, digest, size, limits, &version));
	if (r < 0)
		return r;
	*ret_version = version;
	return 0;
}

static void read_function(sqlite3_stmt *st, void *item)
{
	struct store_function *f = item;
	memset(f, 0, sizeof(*f));
	col_text(st, 0, f->tenant, sizeof(f->tenant));
	col_text(st, 1, f->name, sizeof(f->name));
	f->version = sqlite3_column_int64(st, 2);
	col_text(st, 3, f->digest, sizeof(f->digest));
	f->size = (uint64_t)sqlite3_column_int64(st, 4);
	f->limits.timeout_ms = (uint32_t)sqlite3_column_int64(st, 5);
	f->limits.memory_mib = (uint32_t)sqlite3_column_int64(st, 6);
	f->limits.max_concurrency = (uint32_t)sqlite3_column_int64(st, 7);
	col_text(st, 8, f->limits.mode, sizeof(f->limits.mode));
	f->created_ms = sqlite3_column_int64(st, 9);
}

int store_function_get(struct store *s, const char *tenant, const char *name, int64_t version,
		       struct store_function *ret_function)
{
	if (version < 0)
		return -ENOENT;
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_FUNCTION_GET);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, tenant);
	bind_text(st, 2, name);
	sqlite3_bind_int64(st, 3, version);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
	read_function(st, ret_function);
	return 0;
}

int store_function_list(struct store *s, const char *tenant, struct store_function **ret_functions,
			size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_FUNCTION_LIST);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, tenant);
	void *items;
	size_t n;
	int r = collect_rows(st, sizeof(struct store_function), read_function, &items, &n);
	if (r < 0)
		return r;
	*ret_functions = items;
	*ret_n = n;
	return 0;
}

int store_function_delete(struct store *s, const char *tenant, const char *name)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_FUNCTION_DELETE);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, tenant);
	bind_text(st, 2, name);
	int r = sql_errno(sqlite3_step(st));
	if (r < 0)
		return r;
	return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

/* ---- invocations -------------------------------------------------------- */

static const char *const status_names[] = {
	[STORE_QUEUED] = "queued", [STORE_RUNNING] = "running", [STORE_OK] = "ok",
	[STORE_ERROR] = "error",   [STORE_TIMEOUT] = "timeout",
};

const char *store_status_name(enum store_status status)
{
	if ((unsigned)status >= sizeof(status_names) / sizeof(status_names[0]))
		return NULL;
	return status_names[status];
}

int store_status_parse(const char *name, enum store_status *ret_status)
{
	for (size_t i = 0; name && i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (!strcmp(name, status_names[i])) {
			*ret_status = (enum store_status)i;
			return 0;
		}
	return -EINVAL;
}

static int invocation_insert(struct store *s, const char *tenant, const char *function, int64_t version,
			     bool async, const void *input, size_t input_len, const char *host, const char *vm,
			     char ret_id[STORE_ID_SIZE])
{
	if (!tenant_name_is_valid(tenant) || !object_name_is_valid(function) || version < 1 ||
	    input_len > INT32_MAX)
		return -EINVAL;
	char id[STORE_ID_SIZE];
	int r = random_hex(16, id);
	if (r < 0)
		return r;
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_INV_INSERT);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, id);
	bind_text(st, 2, tenant);
	bind_text(st, 3, function);
	sqlite3_bind_int64(st, 4, version);
	sqlite3_bind_int(st, 5, async);
	sqlite3_bind_int64(st, 6, now_ms());
	bind_blob(st, 7, input, input_len);
	bind_text(st, 8, host);
	bind_text(st, 9, vm);
	r = sql_errno(sqlite3_step(st));
	if (r < 0)
		return r;
	memcpy(ret_id, id, STORE_ID_SIZE);
	return 0;
}

int store_invocation_create(struct store *s, const char *tenant, const char *function, int64_t version,
			    bool async, const void *input, size_t input_len, char ret_id[STORE_ID_SIZE])
{
	return invocation_insert(s, tenant, function, version, async, input, input_len, NULL, NULL, ret_id);
}

int store_invocation_create_running(struct store *s, const char *tenant, const char *function, int64_t version,
				    const char *host, const char *vm, char ret_id[STORE_ID_SIZE])
{
	if (!host || !vm)
		return -EINVAL;
	return invocation_insert(s, tenant, function, version, false, NULL, 0, host, vm, ret_id);
}

/* Tells -ENOENT from -EALREADY after a guarded update changed no row. */
static int unchanged_reason(struct store *s, const char *id)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_INV_STATUS);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return -EALREADY;
	return rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
}

int store_invocation_start(struct store *s, const char *id, const char *host, const char *vm, int cpu)
{
	{
		_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_INV_START);
		if (!st)
			return -ENOMEM;
		bind_text(st, 1, id);
		sqlite3_bind_int64(st, 2, now_ms());
		bind_text(st, 3, host);
		bind_text(st, 4, vm);
		sqlite3_bind_int(st, 5, cpu);
		int r = sql_errno(sqlite3_step(st));
		if (r < 0)
			return r;
		if (sqlite3_changes(s->db))
			return 0;
	}
	return unchanged_reason(s, id);
}

int store_invocation_finish(struct store *s, const char *id, const struct store_outcome *o)
{
	if (o->status != STORE_OK && o->status != STORE_ERROR && o->status != STORE_TIMEOUT)
		return -EINVAL;
	if (o->result_len > INT32_MAX || o->log_len > INT32_MAX)
		return -EINVAL;
	{
		_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_INV_FINISH);
		if (!st)
			return -ENOMEM;
		bind_text(st, 1, id);
		bind_text(st, 2, store_status_name(o->status));
		sqlite3_bind_int64(st, 3, now_ms());
		bind_blob(st, 4, o->result, o->result_len);
		bind_blob(st, 5, o->log, o->log_len);
		bind_text(st, 6, o->error);
		sqlite3_bind_int64(st, 7, o->queued_us);
		sqlite3_bind_int64(st, 8, o->cold_start_us);
		sqlite3_bind_int64(st, 9, o->exec_us);
		sqlite3_bind_int64(st, 10, o->total_us);
		sqlite3_bind_int(st, 11, o->cold_start);
		if (o->cpu > 0)
			sqlite3_bind_int(st, 12, o->cpu);
		int r = sql_errno(sqlite3_step(st));
		if (r < 0)
			return r;
		if (sqlite3_changes(s->db))
			return 0;
	}
	return unchanged_reason(s, id);
}

int store_invocation_requeue(struct store *s, const char *id)
{
	{
		_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_INV_REQUEUE_ONE);
		if (!st)
			return -ENOMEM;
		bind_text(st, 1, id);
		int r = sql_errno(sqlite3_step(st));
		if (r < 0)
			return r;
		if (sqlite3_changes(s->db))
			return 0;
	}
	return unchanged_reason(s, id);
}

int store_set_autocheckpoint(struct store *s, int pages)
{
	return sqlite3_wal_autocheckpoint(s->db, pages) == SQLITE_OK ? 0 : -EINVAL;
}

int store_checkpoint(struct store *s)
{
	int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return rc == SQLITE_OK || rc == SQLITE_BUSY ? 0 : sql_errno(rc);
}

void store_invocation_clear(struct store_invocation *inv)
{
	if (!inv)
		return;
	free(inv->input);
	free(inv->result);
	free(inv->log);
	free(inv->error);
	memset(inv, 0, sizeof(*inv));
}

/* Fills inv from a row of INV_COLS. Returns 0 or -ENOMEM (inv then holds
 * nothing to free). */
static int read_invocation(sqlite3_stmt *st, struct store_invocation *inv)
{
	memset(inv, 0, sizeof(*inv));
	col_text(st, 0, inv->id, sizeof(inv->id));
	col_text(st, 1, inv->tenant, sizeof(inv->tenant));
	col_text(st, 2, inv->function, sizeof(inv->function));
	inv->version = sqlite3_column_int64(st, 3);
	inv->async = sqlite3_column_int(st, 4);
	store_status_parse((const char *)sqlite3_column_text(st, 5), &inv->status);
	inv->retries = sqlite3_column_int(st, 6);
	inv->created_ms = sqlite3_column_int64(st, 7);
	inv->started_ms = sqlite3_column_int64(st, 8);
	inv->finished_ms = sqlite3_column_int64(st, 9);
	col_text(st, 10, inv->host, sizeof(inv->host));
	col_text(st, 11, inv->vm, sizeof(inv->vm));
	inv->cpu = sqlite3_column_type(st, 12) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 12);
	inv->queued_us = sqlite3_column_int64(st, 13);
	inv->cold_start_us = sqlite3_column_int64(st, 14);
	inv->exec_us = sqlite3_column_int64(st, 15);
	inv->total_us = sqlite3_column_int64(st, 16);
	inv->cold_start = sqlite3_column_int(st, 17);
	const unsigned char *err = sqlite3_column_text(st, 18);
	if (err && !(inv->error = strdup((const char *)err)))
		goto nomem;
	if (col_blob(st, 19, &inv->input, &inv->input_len) < 0 ||
	    col_blob(st, 20, &inv->result, &inv->result_len) < 0 || col_blob(st, 21, &inv->log, &inv->log_len) < 0)
		goto nomem;
	return 0;
nomem:
	store_invocation_clear(inv);
	return -ENOMEM;
}

int store_invocation_get(struct store *s, const char *tenant, const char *id, struct store_invocation *ret_inv)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_INV_GET);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, id);
	bind_text(st, 2, tenant);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
	return read_invocation(st, ret_inv);
}

void store_invocations_free(struct store_invocation *invs, size_t n)
{
	for (size_t i = 0; invs && i < n; i++)
		store_invocation_clear(&invs[i]);
	free(invs);
}

/* A cursor is "<created_ms>.<id>" of the last row of a page. Clients treat
 * it as opaque; it is checked strictly because it comes from them. */
static int cursor_parse(const char *cursor, int64_t *ret_ms, char ret_id[STORE_ID_SIZE])
{
	char *end;
	errno = 0;
	long long ms = strtoll(cursor, &end, 10);
	if (errno || end == cursor || ms < 0 || *end != '.' || !is_lower_hex(end + 1, STORE_ID_SIZE - 1))
		return -EINVAL;
	*ret_ms = ms;
	memcpy(ret_id, end + 1, STORE_ID_SIZE);
	return 0;
}

int store_invocation_list(struct store *s, const char *tenant, const struct store_filter *filter,
			  const char *cursor, unsigned limit, struct store_invocation **ret_invs, size_t *ret_n,
			  char ret_next[STORE_CURSOR_SIZE])
{
	if (limit < 1 || limit > STORE_LIST_MAX)
		return -EINVAL;
	const char *status = NULL;
	if (filter && filter->has_status && !(status = store_status_name(filter->status)))
		return -EINVAL;
	/* No cursor starts above every row: the largest time, and an id that
	 * sorts after every hex id. */
	int64_t after_ms = INT64_MAX;
	char after_id[STORE_ID_SIZE] = "g";
	if (cursor && *cursor && cursor_parse(cursor, &after_ms, after_id) < 0)
		return -EINVAL;

	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_INV_LIST);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, tenant);
	bind_text(st, 2, filter ? filter->function : NULL);
	bind_text(st, 3, status);
	sqlite3_bind_int64(st, 4, after_ms);
	bind_text(st, 5, after_id);
	/* One row more than asked tells whether another page exists. */
	sqlite3_bind_int(st, 6, (int)limit + 1);

	struct store_invocation *invs = calloc(limit, sizeof(*invs));
	if (!invs)
		return -ENOMEM;
	size_t n = 0;
	bool more = false;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == limit) {
			more = true;
			break;
		}
		if (read_invocation(st, &invs[n]) < 0) {
			store_invocations_free(invs, n);
			return -ENOMEM;
		}
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_invocations_free(invs, n);
		return sql_errno(rc);
	}
	ret_next[0] = '\0';
	if (more)
		snprintf(ret_next, STORE_CURSOR_SIZE, "%" PRId64 ".%s", invs[n - 1].created_ms, invs[n - 1].id);
	*ret_invs = invs;
	*ret_n = n;
	return 0;
}

static int prune_locked(struct store *s, int64_t finished_before_ms, unsigned keep_newest, size_t *deleted)
{
	_cleanup_stmt_ sqlite3_stmt *age = prep(s, Q_INV_PRUNE_AGE);
	if (!age)
		return -ENOMEM;
	sqlite3_bind_int64(age, 1, finished_before_ms);
	int r = sql_errno(sqlite3_step(age));
	if (r < 0)
		return r;
	*deleted += (size_t)sqlite3_changes(s->db);
	if (!keep_newest)
		return 0;
	_cleanup_stmt_ sqlite3_stmt *count = prep(s, Q_INV_PRUNE_COUNT);
	if (!count)
		return -ENOMEM;
	sqlite3_bind_int64(count, 1, keep_newest);
	r = sql_errno(sqlite3_step(count));
	if (r < 0)
		return r;
	*deleted += (size_t)sqlite3_changes(s->db);
	return 0;
}

int store_invocations_prune(struct store *s, int64_t finished_before_ms, unsigned keep_newest,
			    size_t *ret_deleted)
{
	size_t deleted = 0;
	int r = tx_begin(s);
	if (r < 0)
		return r;
	r = tx_end(s, prune_locked(s, finished_before_ms, keep_newest, &deleted));
	if (r < 0)
		return r;
	if (ret_deleted)
		*ret_deleted = deleted;
	return 0;
}

static int recover_locked(struct store *s, const char *reason, size_t *failed, struct store_id **retry,
			  size_t *n_retry)
{
	{
		_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_INV_FAIL_UNFINISHED);
		if (!st)
			return -ENOMEM;
		bind_text(st, 1, reason);
		sqlite3_bind_int64(st, 2, now_ms());
		int r = sql_errno(sqlite3_step(st));
		if (r < 0)
			return r;
		*failed = (size_t)sqlite3_changes(s->db);
	}
	/* What is left unfinished is async and never retried. */
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_INV_REQUEUE);
	if (!st)
		return -ENOMEM;
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n_retry == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct store_id *p = realloc(*retry, ncap * sizeof(*p));
			if (!p)
				return -ENOMEM;
			*retry = p;
			cap = ncap;
		}
		col_text(st, 0, (*retry)[*n_retry].id, STORE_ID_SIZE);
		(*n_retry)++;
	}
	return sql_errno(rc);
}

int store_invocations_recover(struct store *s, const char *reason, size_t *ret_failed,
			      struct store_id **ret_retry, size_t *ret_n_retry)
{
	size_t failed = 0, n_retry = 0;
	struct store_id *retry = NULL;
	int r = tx_begin(s);
	if (r < 0)
		return r;
	r = tx_end(s, recover_locked(s, reason, &failed, &retry, &n_retry));
	if (r < 0) {
		free(retry);
		return r;
	}
	*ret_failed = failed;
	*ret_retry = retry;
	*ret_n_retry = n_retry;
	return 0;
}

/* ---- hosts -------------------------------------------------------------- */

int store_host_register(struct store *s, const char *id, const char *address, int cores)
{
	if (!object_name_is_valid(id) || !printable(address, STORE_ADDRESS_SIZE) || cores < 1)
		return -EINVAL;
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_HOST_REGISTER);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, id);
	bind_text(st, 2, address);
	sqlite3_bind_int(st, 3, cores);
	sqlite3_bind_int64(st, 4, now_ms());
	return sql_errno(sqlite3_step(st));
}

/* Runs a one-row host update whose first parameter is the host id. */
static int host_update(struct store *s, enum query q, const char *id, int64_t value)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, q);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, id);
	sqlite3_bind_int64(st, 2, value);
	int r = sql_errno(sqlite3_step(st));
	if (r < 0)
		return r;
	return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

int store_host_heartbeat(struct store *s, const char *id)
{
	return host_update(s, Q_HOST_HEARTBEAT, id, now_ms());
}

int store_host_set_down(struct store *s, const char *id, bool down)
{
	return host_update(s, Q_HOST_DOWN, id, down);
}

int store_host_set_draining(struct store *s, const char *id, bool draining)
{
	return host_update(s, Q_HOST_DRAINING, id, draining);
}

static void read_host(sqlite3_stmt *st, void *item)
{
	struct store_host *h = item;
	memset(h, 0, sizeof(*h));
	col_text(st, 0, h->id, sizeof(h->id));
	col_text(st, 1, h->address, sizeof(h->address));
	h->cores = sqlite3_column_int(st, 2);
	h->registered_ms = sqlite3_column_int64(st, 3);
	h->last_seen_ms = sqlite3_column_int64(st, 4);
	h->down = sqlite3_column_int(st, 5);
	h->draining = sqlite3_column_int(st, 6);
}

int store_host_get(struct store *s, const char *id, struct store_host *ret_host)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_HOST_GET);
	if (!st)
		return -ENOMEM;
	bind_text(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
	read_host(st, ret_host);
	return 0;
}

int store_host_list(struct store *s, struct store_host **ret_hosts, size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep(s, Q_HOST_LIST);
	if (!st)
		return -ENOMEM;
	void *items;
	size_t n;
	int r = collect_rows(st, sizeof(struct store_host), read_host, &items, &n);
	if (r < 0)
		return r;
	*ret_hosts = items;
	*ret_n = n;
	return 0;
}
