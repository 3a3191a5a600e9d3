/* The store's core: opening a handle by URI on its engine and migrating its
 * schema, transactions, the prepared-statement cache, maintenance, and the
 * helpers the other store modules share (see store_int.h), each of which
 * runs on the handle's engine (store_engine.h). */
#include "store_engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "encoding.h"
#include "util.h"

static const struct sq_query core_queries[Q_COUNT] = {
	/* IMMEDIATE takes SQLite's write lock up front, so a transaction that
	 * reads then writes never fails half-way on a lock another writer
	 * holds; the busy timeout applies to taking it. PostgreSQL locks rows
	 * as statements reach them. */
	[Q_BEGIN] = { "BEGIN IMMEDIATE", "BEGIN" },
	[Q_COMMIT] = { "COMMIT" },
	[Q_ROLLBACK] = { "ROLLBACK" },
};

const char *const store_tables[] = {
	"tenants",           "api_keys",    "artifacts", "functions",
	"function_versions", "invocations", "hosts",     NULL,
};

/* The parts of the query table; each query's SQL is in exactly one. */
static const struct sq_query *const query_parts[] = {
	core_queries,           store_tenant_queries,
	store_function_queries, store_invocation_queries,
	store_host_queries,     store_artifact_queries, store_cluster_queries,
};

const char *sq_query_sql(const struct store *s, enum query q)
{
	for (size_t i = 0; i < sizeof(query_parts) / sizeof(query_parts[0]); i++) {
		const struct sq_query *part = &query_parts[i][q];
		if (part->sql)
			return part->pg && s->engine != &sq_sqlite_engine ? part->pg : part->sql;
	}
	return NULL;
}

const char *sq_engine_name(const struct store *s)
{
	return s->engine->name;
}

const char *store_engine(const struct store *s)
{
	return s->engine->name;
}

/* ---- statements and transactions --------------------------------------- */

struct sq_stmt *sq_prep(struct store *s, enum query q)
{
	if (!s->stmts[q] && s->engine->prepare(s, sq_query_sql(s, q), &s->stmts[q]) < 0)
		return NULL;
	return s->stmts[q];
}

int sq_prep_sql(struct store *s, const char *sql, struct sq_stmt **ret_st)
{
	return s->engine->prepare(s, sql, ret_st);
}

void sq_stmt_free(struct sq_stmt *st)
{
	if (st)
		st->engine->finalize(st);
}

int sq_exec(struct store *s, const char *sql)
{
	return s->engine->exec(s, sql);
}

void sq_reset(struct sq_stmt *st)
{
	if (st)
		st->engine->reset(st);
}

void sq_stmt_done(struct sq_stmt **st)
{
	sq_reset(*st);
}

static int bind_next(struct sq_stmt *st, int i, char type, va_list *ap)
{
	switch (type) {
	case 't': return sq_bind_text(st, i, va_arg(*ap, const char *));
	case 'b': {
		const void *p = va_arg(*ap, const void *);
		return sq_bind_blob(st, i, p, va_arg(*ap, size_t));
	}
	case 'i': return sq_bind_int64(st, i, va_arg(*ap, int));
	case 'I': return sq_bind_int64(st, i, va_arg(*ap, int64_t));
	default: return -EINVAL;
	}
}

struct sq_stmt *sq_prep_bind(struct store *s, enum query q, const char *types, ...)
{
	struct sq_stmt *st = sq_prep(s, q);
	if (!st)
		return NULL;
	va_list ap;
	va_start(ap, types);
	int r = 0;
	for (int i = 0; types[i] && r == 0; i++)
		r = bind_next(st, i + 1, types[i], &ap);
	va_end(ap);
	if (r < 0) {
		sq_reset(st);
		return NULL;
	}
	return st;
}

int sq_step(struct sq_stmt *st)
{
	return st->engine->step(st);
}

int sq_step_done(struct sq_stmt *st)
{
	int r = sq_step(st);
	return r < 0 ? r : 0;
}

int sq_step_row(struct sq_stmt *st)
{
	int r = sq_step(st);
	if (r == SQ_ROW)
		return 0;
	return r == SQ_DONE ? -ENOENT : r;
}

int64_t sq_changes(struct sq_stmt *st)
{
	return st->engine->changes(st);
}

int sq_step_update(struct sq_stmt *st)
{
	int r = sq_step(st);
	if (r < 0)
		return r;
	return sq_changes(st) ? 0 : -ENOENT;
}

/* Runs a statement that returns no rows. */
static int exec_q(struct store *s, enum query q)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep(s, q);
	if (!st)
		return -ENOMEM;
	return sq_step_done(st);
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
	if (s->engine->in_transaction(s))
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

int sq_read_row(struct sq_stmt *st, void (*read)(struct sq_stmt *, void *), void *ret)
{
	if (!st)
		return -ENOMEM;
	int r = sq_step_row(st);
	if (r < 0)
		return r;
	read(st, ret);
	return 0;
}

int sq_collect_rows(struct sq_stmt *st, size_t size, void (*read)(struct sq_stmt *, void *),
		    void *ret, size_t *ret_n)
{
	if (!st)
		return -ENOMEM;
	uint8_t *items = NULL;
	size_t n = 0, cap = 0;
	int r;
	while ((r = sq_step(st)) == SQ_ROW) {
		if (array_reserve(&items, &cap, n + 1, size, 16) < 0) {
			free(items);
			return -ENOMEM;
		}
		read(st, items + n * size);
		n++;
	}
	if (r < 0) {
		free(items);
		return r;
	}
	/* ret is the address of the caller's typed array pointer. */
	void *array = items;
	memcpy(ret, &array, sizeof(array));
	*ret_n = n;
	return 0;
}

/* ---- parameters and columns -------------------------------------------- */

int sq_bind_null(struct sq_stmt *st, int i)
{
	return st->engine->bind_null(st, i);
}

int sq_bind_int64(struct sq_stmt *st, int i, int64_t v)
{
	return st->engine->bind_int64(st, i, v);
}

int sq_bind_text(struct sq_stmt *st, int i, const char *v)
{
	return v ? st->engine->bind_text(st, i, v) : sq_bind_null(st, i);
}

int sq_bind_blob(struct sq_stmt *st, int i, const void *p, size_t n)
{
	return n ? st->engine->bind_blob(st, i, p, n) : sq_bind_null(st, i);
}

int sq_col_count(struct sq_stmt *st)
{
	return st->engine->col_count(st);
}

const char *sq_col_name(struct sq_stmt *st, int i)
{
	return st->engine->col_name(st, i);
}

enum sq_type sq_col_type(struct sq_stmt *st, int i)
{
	return st->engine->col_type(st, i);
}

bool sq_col_is_null(struct sq_stmt *st, int i)
{
	return sq_col_type(st, i) == SQ_NULL;
}

int64_t sq_col_int64(struct sq_stmt *st, int i)
{
	return st->engine->col_int64(st, i);
}

int sq_col_int(struct sq_stmt *st, int i)
{
	return (int)sq_col_int64(st, i);
}

const char *sq_col_str(struct sq_stmt *st, int i)
{
	return st->engine->col_str(st, i);
}

const void *sq_col_blob(struct sq_stmt *st, int i)
{
	return st->engine->col_blob(st, i);
}

size_t sq_col_bytes(struct sq_stmt *st, int i)
{
	return st->engine->col_bytes(st, i);
}

void sq_col_text(struct sq_stmt *st, int i, char *dst, size_t size)
{
	const char *t = sq_col_str(st, i);
	snprintf(dst, size, "%s", t ? t : "");
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

/* An engine and the schema steps of its databases. */
struct engine_kind {
	const struct sq_engine *engine;
	const char *const *migrations;
	int latest;
};

static const struct engine_kind kinds[] = {
	{ &sq_sqlite_engine, store_sqlite_schema, STORE_SQLITE_SCHEMA_VERSION },
	{ &sq_pg_engine, store_pg_schema, STORE_PG_SCHEMA_VERSION },
};

int store_uri_parse(const char *uri, const char **ret_engine, const char **ret_target)
{
	if (!uri || !*uri)
		return -EINVAL;
	/* A scheme is two or more lower-case letters before the first colon;
	 * anything else is a path. */
	size_t n = strspn(uri, "abcdefghijklmnopqrstuvwxyz");
	if (n < 2 || uri[n] != ':') {
		*ret_engine = "sqlite";
		*ret_target = uri;
		return 0;
	}
	static const char *const schemes[] = { "sqlite", "postgres" };
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strlen(schemes[i]) == n && !strncmp(uri, schemes[i], n)) {
			if (!uri[n + 1])
				return -EINVAL;
			*ret_engine = schemes[i];
			*ret_target = uri + n + 1;
			return 0;
		}
	return -EPROTONOSUPPORT;
}

/* Ends a schema step's transaction: commits when r is not an error. */
static int schema_end(struct store *s, int r)
{
	int end = s->engine->exec(s, r < 0 ? "ROLLBACK" : "COMMIT");
	return r < 0 ? r : end;
}

/* Applies the missing schema steps one transaction each. The version is read
 * inside the transaction, which holds other handles' schema changes off, so
 * two processes opening a new database at once apply each step exactly
 * once. */
static int migrate(struct store *s, const struct engine_kind *kind)
{
	for (;;) {
		int r = s->engine->schema_begin(s);
		if (r < 0)
			return r;
		int version = r = s->engine->schema_version(s);
		if (r >= 0 && version > kind->latest)
			r = -EPROTO;
		if (r >= 0 && version < kind->latest) {
			r = s->engine->exec(s, kind->migrations[version]);
			if (r == 0)
				r = s->engine->schema_set(s, version + 1);
		}
		r = schema_end(s, r < 0 ? r : 0);
		if (r < 0 || version == kind->latest)
			return r;
	}
}

int store_open(const char *uri, struct store **ret_store)
{
	const char *name, *target;
	int r = store_uri_parse(uri, &name, &target);
	if (r < 0)
		return r;
	const struct engine_kind *kind = NULL;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].engine->name, name))
			kind = &kinds[i];
	if (!kind)
		return -EPROTONOSUPPORT;
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->engine = kind->engine;
	r = s->engine->open(s, target);
	if (r == 0)
		r = migrate(s, kind);
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
		sq_stmt_free(s->stmts[i]);
	s->engine->close(s);
	free(s);
}

/* ---- maintenance -------------------------------------------------------- */

int store_set_autocheckpoint(struct store *s, int pages)
{
	return s->engine->set_autocheckpoint ? s->engine->set_autocheckpoint(s, pages) : 0;
}

int store_checkpoint(struct store *s)
{
	return s->engine->checkpoint ? s->engine->checkpoint(s) : 0;
}
