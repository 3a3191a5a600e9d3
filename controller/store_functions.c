/* Artifacts and the immutable versions of functions. */
#include "store_int.h"

#include <errno.h>
#include <string.h>

#define FUNCTION_COLS                                                                 \
	"v.tenant, v.name, v.version, v.digest, a.size, v.timeout_ms, v.memory_mib,"  \
	" v.max_concurrency, v.mode, v.created_ms, v.encrypted, v.runtime, v.handler" \
	" FROM functions f"                                                           \
	" JOIN function_versions v ON v.tenant = f.tenant AND v.name = f.name"        \
	" JOIN artifacts a ON a.digest = v.digest"

/* Each query is one struct, its text indented under it (clang-format would
 * align it after the brace, past the line's end). */
/* clang-format off */
const struct sq_query store_function_queries[Q_COUNT] = {
	/* A collected artifact deployed again has its file back. */
	[Q_ARTIFACT_INSERT] = {
		"INSERT INTO artifacts (digest, size, created_ms) VALUES (?1, ?2, ?3)"
		" ON CONFLICT (digest) DO UPDATE SET collected_ms = NULL",
	},
	[Q_ARTIFACT_GET] = {
		"SELECT size FROM artifacts WHERE digest = ?1 AND collected_ms IS NULL",
	},
	/* Reachable: a version of a live function from its current
	 * incarnation on (what store_function_get can return), or the version
	 * of an invocation not yet finished. */
	[Q_ARTIFACT_UNUSED] = {
		"SELECT a.digest, a.size FROM artifacts a WHERE a.collected_ms IS NULL"
		" AND NOT EXISTS (SELECT 1 FROM function_versions v JOIN functions f"
		"  ON f.tenant = v.tenant AND f.name = v.name WHERE v.digest = a.digest"
		"  AND f.deleted = 0 AND v.version >= f.first_live)"
		" AND NOT EXISTS (SELECT 1 FROM invocations i JOIN function_versions v"
		"  ON v.tenant = i.tenant AND v.name = i.function AND v.version = i.version"
		"  WHERE i.status IN ('queued','running') AND v.digest = a.digest)"
		" ORDER BY a.digest",
	},
	[Q_ARTIFACT_COLLECT] = {
		"UPDATE artifacts SET collected_ms = ?2 WHERE digest = ?1 AND collected_ms IS NULL",
	},
	/* Within an UPDATE SET every column reads its old value. The conflict
	 * locks the function's row until the transaction ends, so concurrent
	 * puts, from any handle or controller, count on one after another. */
	[Q_FUNCTION_BUMP] = {
		"INSERT INTO functions (tenant, name, latest, first_live) VALUES (?1, ?2, 1, 1)"
		" ON CONFLICT (tenant, name) DO UPDATE SET latest = functions.latest + 1,"
		" first_live = CASE WHEN functions.deleted <> 0 THEN functions.latest + 1"
		" ELSE functions.first_live END, deleted = 0 RETURNING latest",
	},
	[Q_VERSION_INSERT] = {
		"INSERT INTO function_versions (tenant, name, version, digest, timeout_ms,"
		" memory_mib, max_concurrency, mode, created_ms, encrypted, runtime, handler)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	},
	[Q_FUNCTION_GET] = {
		"SELECT " FUNCTION_COLS " WHERE f.tenant = ?1 AND f.name = ?2 AND f.deleted = 0"
		" AND v.version = CASE WHEN CAST(?3 AS BIGINT) = 0 THEN f.latest"
		" ELSE CAST(?3 AS BIGINT) END AND v.version >= f.first_live",
	},
	[Q_FUNCTION_LIST] = {
		"SELECT " FUNCTION_COLS " WHERE f.tenant = ?1 AND f.deleted = 0"
		" AND v.version = f.latest ORDER BY f.name",
	},
	[Q_FUNCTION_DELETE] = {
		"UPDATE functions SET deleted = 1 WHERE tenant = ?1 AND name = ?2 AND deleted = 0",
	},
};
/* clang-format on */

/* ---- artifacts ---------------------------------------------------------- */

/* Records an artifact's digest (64 lower-case hex digits of its SHA-256) and
 * size; recording the same artifact again is a no-op. Returns 0, -EINVAL for
 * a bad digest, or -EEXIST when the digest is known with another size. */
static int artifact_record(struct store *s, const char *digest, uint64_t size)
{
	if (!store_is_lower_hex(digest, STORE_DIGEST_SIZE - 1) || size > INT64_MAX)
		return -EINVAL;
	{
		_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(
			s, Q_ARTIFACT_INSERT, "tII", digest, (int64_t)size, time_wall_ms());
		if (!st)
			return -ENOMEM;
		int r = sq_step_done(st);
		if (r < 0)
			return r;
	}
	uint64_t known;
	int r = store_artifact_get(s, digest, &known);
	if (r < 0)
		return r;
	return known == size ? 0 : -EEXIST;
}

int store_artifact_get(struct store *s, const char *digest, uint64_t *ret_size)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_ARTIFACT_GET, "t", digest);
	if (!st)
		return -ENOMEM;
	int r = sq_step_row(st);
	if (r < 0)
		return r;
	*ret_size = (uint64_t)sq_col_int64(st, 0);
	return 0;
}

static void read_artifact(struct sq_stmt *st, void *item)
{
	struct store_artifact *a = item;
	memset(a, 0, sizeof(*a));
	sq_col_text(st, 0, a->digest, sizeof(a->digest));
	a->size = (uint64_t)sq_col_int64(st, 1);
}

int store_artifact_unused(struct store *s, struct store_artifact **ret_artifacts, size_t *ret_n)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep(s, Q_ARTIFACT_UNUSED);
	return sq_collect_rows(st, sizeof(**ret_artifacts), read_artifact, ret_artifacts, ret_n);
}

int store_artifact_collect(struct store *s, const char *digest)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_ARTIFACT_COLLECT, "tI", digest,
							 time_wall_ms());
	if (!st)
		return -ENOMEM;
	int r = sq_step_update(st);
	return r < 0 ? r : sq_artifact_bytes_drop(s, digest);
}

/* ---- functions ---------------------------------------------------------- */

static bool limits_are_valid(const struct store_limits *l)
{
	return l->timeout_ms >= 1 && l->timeout_ms <= 86400000u && l->memory_mib >= 1 &&
	       l->memory_mib <= 1048576u && l->max_concurrency >= 1 &&
	       l->max_concurrency <= 65536u &&
	       (!strcmp(l->mode, "process") || !strcmp(l->mode, "persistent")) &&
	       (unsigned)l->runtime < FN_RUNTIME_UNKNOWN &&
	       fnpkg_check_handler(l->runtime, l->handler, NULL, 0) == 0;
}

static int function_put_locked(struct store *s, const char *tenant, const char *name,
			       const char *digest, uint64_t size, const struct store_limits *limits,
			       int64_t *ret_version)
{
	int r = artifact_record(s, digest, size);
	if (r < 0)
		return r;
	int64_t version;
	{
		_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_FUNCTION_BUMP, "tt", tenant,
								 name);
		if (!st)
			return -ENOMEM;
		/* An unknown tenant fails the insert with -ENOENT. */
		r = sq_step(st);
		if (r != SQ_ROW)
			return r < 0 ? r : -EIO;
		version = sq_col_int64(st, 0);
		r = sq_step(st);
		if (r != SQ_DONE)
			return r < 0 ? r : -EIO;
	}
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(
		s, Q_VERSION_INSERT, "ttItIIItIitt", tenant, name, version, digest,
		(int64_t)limits->timeout_ms, (int64_t)limits->memory_mib,
		(int64_t)limits->max_concurrency, limits->mode, time_wall_ms(),
		(int)limits->encrypted, fn_runtime_name(limits->runtime),
		limits->handler[0] ? limits->handler : NULL);
	if (!st)
		return -ENOMEM;
	r = sq_step_done(st);
	if (r < 0)
		return r;
	*ret_version = version;
	return 0;
}

int store_function_put(struct store *s, const char *tenant, const char *name, const char *digest,
		       uint64_t size, const struct store_limits *limits, int64_t *ret_version)
{
	if (!sq_tenant_name_is_valid(tenant))
		return -ENOENT;
	if (!sq_object_name_is_valid(name) || !limits_are_valid(limits))
		return -EINVAL;
	int64_t version = 0;
	int r = sq_tx_begin(s);
	if (r < 0)
		return r;
	r = sq_tx_end(s, function_put_locked(s, tenant, name, digest, size, limits, &version));
	if (r < 0)
		return r;
	*ret_version = version;
	return 0;
}

static void read_function(struct sq_stmt *st, void *item)
{
	struct store_function *f = item;
	memset(f, 0, sizeof(*f));
	sq_col_text(st, 0, f->tenant, sizeof(f->tenant));
	sq_col_text(st, 1, f->name, sizeof(f->name));
	f->version = sq_col_int64(st, 2);
	sq_col_text(st, 3, f->digest, sizeof(f->digest));
	f->size = (uint64_t)sq_col_int64(st, 4);
	f->limits.timeout_ms = (uint32_t)sq_col_int64(st, 5);
	f->limits.memory_mib = (uint32_t)sq_col_int64(st, 6);
	f->limits.max_concurrency = (uint32_t)sq_col_int64(st, 7);
	sq_col_text(st, 8, f->limits.mode, sizeof(f->limits.mode));
	f->created_ms = sq_col_int64(st, 9);
	f->limits.encrypted = sq_col_int(st, 10) != 0;
	/* A name this build does not know reads as binary: runs as before. */
	if (fn_runtime_parse(sq_col_str(st, 11), &f->limits.runtime) < 0)
		f->limits.runtime = FN_RUNTIME_BINARY;
	sq_col_text(st, 12, f->limits.handler, sizeof(f->limits.handler));
}

int store_function_get(struct store *s, const char *tenant, const char *name, int64_t version,
		       struct store_function *ret_function)
{
	if (version < 0)
		return -ENOENT;
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_FUNCTION_GET, "ttI", tenant, name,
							 version);
	return sq_read_row(st, read_function, ret_function);
}

int store_function_list(struct store *s, const char *tenant, struct store_function **ret_functions,
			size_t *ret_n)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_FUNCTION_LIST, "t", tenant);
	return sq_collect_rows(st, sizeof(**ret_functions), read_function, ret_functions, ret_n);
}

int store_function_delete(struct store *s, const char *tenant, const char *name)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_FUNCTION_DELETE, "tt", tenant, name);
	if (!st)
		return -ENOMEM;
	return sq_step_update(st);
}
