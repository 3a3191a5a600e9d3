/* The store on PostgreSQL through libpq (store_engine.h): a connection per
 * handle, each query prepared once per connection (its ?N placeholders
 * turned into $N), parameters as text except blobs (bytea, binary), and
 * results in binary.
 *
 * Errors are the SQLite engine's: a unique violation is -EEXIST, a missing
 * parent row -ENOENT, another constraint -EINVAL, a lock not had within
 * LOCK_TIMEOUT, a serialization failure or a deadlock -EBUSY, and a lost
 * connection -ENOTCONN. A handle whose connection was lost connects again on
 * its next call (and prepares its statements again), so a controller rides
 * out a restart of the server: the calls in between fail with -ENOTCONN. */
#include "store_engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

/* Writers wait this long for a row another transaction holds, as SQLite's
 * busy timeout, before a call fails with -EBUSY. */
#define LOCK_TIMEOUT "10s"
/* Seconds a connection waits for the server unless the conninfo says. */
#define CONNECT_TIMEOUT "10"
/* The advisory lock schema changes take: "ditto" in ASCII. */
#define SCHEMA_LOCK "439788565615"

/* Type OIDs (PostgreSQL's catalog/pg_type.h, fixed since forever). */
#define BOOLOID 16
#define BYTEAOID 17
#define INT8OID 20
#define INT2OID 21
#define INT4OID 23

struct pg_conn {
	PGconn *pg;
	unsigned serial; /* names the next prepared statement */
	/* Counts new connections: a statement prepared under an older one
	 * is prepared again. */
	unsigned generation;
	/* A transaction is open: when the connection is lost, its statements
	 * fail until it is ended, rather than run on a new connection
	 * without it. */
	bool in_tx;
};

struct pg_stmt {
	struct sq_stmt base;
	char name[16];
	char *sql; /* with $N placeholders */
	/* Prepared on the server, under the connection of that generation:
	 * on the first run, so that preparing costs no round trip and a lost
	 * connection shows as the run's error. */
	bool prepared;
	unsigned generation;
	int n_params;
	const char **values;
	int *lengths, *formats;
	char (*ints)[24]; /* the text of integer parameters */
	PGresult *res;
	int row, n_rows;
	int64_t changes;
};

static struct pg_conn *conn_of(const struct store *s)
{
	return s->conn;
}

static struct pg_stmt *pgs(struct sq_stmt *st)
{
	return (struct pg_stmt *)st;
}

/* SQLSTATEs and their errno, the first match by prefix winning. */
static const struct {
	const char *state;
	int err;
} sqlstates[] = {
	{ "23505", -EEXIST }, /* unique_violation */
	{ "23503", -ENOENT }, /* foreign_key_violation */
	{ "23", -EINVAL },    /* another integrity constraint, the trigger's */
	{ "40", -EBUSY },     /* serialization failure, deadlock */
	{ "55P03", -EBUSY },  /* lock_not_available: LOCK_TIMEOUT */
	{ "57014", -EBUSY },  /* query_canceled: a statement timeout */
	{ "08", -ENOTCONN },  /* connection exceptions */
	{ "57P", -ENOTCONN }, /* the server shutting down or starting */
	{ "53100", -ENOSPC }, /* disk_full */
	{ "53200", -ENOMEM }, /* out_of_memory */
	{ "25006", -EROFS },  /* read_only_sql_transaction: a standby */
};

/* The error of a failed call on c, whose result (NULL: none) says why. */
static int pg_errno(PGconn *c, const PGresult *res)
{
	if (!c || PQstatus(c) != CONNECTION_OK)
		return -ENOTCONN;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (!state)
		return res ? -EIO : -ENOMEM;
	for (size_t i = 0; i < sizeof(sqlstates) / sizeof(sqlstates[0]); i++)
		if (!strncmp(state, sqlstates[i].state, strlen(sqlstates[i].state)))
			return sqlstates[i].err;
	return -EIO;
}

/* Notes whether a transaction is open after a call; a lost connection
 * leaves the flag as it was. */
static void tx_track(struct pg_conn *c)
{
	PGTransactionStatusType t = PQtransactionStatus(c->pg);
	if (t != PQTRANS_UNKNOWN)
		c->in_tx = t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

/* Runs sql (statements without parameters) and returns its error or 0;
 * with ret_res, hands the result of a query over instead. */
static int run(struct pg_conn *c, const char *sql, PGresult **ret_res)
{
	PGresult *res = PQexec(c->pg, sql);
	ExecStatusType status = PQresultStatus(res);
	tx_track(c);
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		int r = pg_errno(c->pg, res);
		PQclear(res);
		return r;
	}
	if (ret_res)
		*ret_res = res;
	else
		PQclear(res);
	return 0;
}

static void on_notice(void *arg, const char *message)
{
	/* Notices (a table that exists already) are no errors: a library
	 * never prints. */
}

/* Sets up a new connection's session. */
static int session_init(struct pg_conn *c)
{
	PQsetNoticeProcessor(c->pg, on_notice, NULL);
	c->generation++;
	return run(c, "SET lock_timeout = '" LOCK_TIMEOUT "'", NULL);
}

/* Connects again, before running sql, when the connection was lost, unless
 * with a transaction it was running. Returns 0 when it is up. */
static int ensure_connected(struct pg_conn *c, const char *sql)
{
	if (PQstatus(c->pg) == CONNECTION_OK)
		return 0;
	if (c->in_tx) {
		if (!strncmp(sql, "COMMIT", 6) || !strncmp(sql, "ROLLBACK", 8))
			c->in_tx = false;
		return -ENOTCONN;
	}
	PQreset(c->pg);
	if (PQstatus(c->pg) != CONNECTION_OK)
		return -ENOTCONN;
	return session_init(c);
}

static int pg_open(struct store *s, const char *conninfo)
{
	/* A conninfo libpq cannot parse is the caller's mistake, not a server
	 * that cannot be reached. */
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	PQfreemem(err);
	if (!opts)
		return -EINVAL;
	PQconninfoFree(opts);
	struct pg_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	s->conn = c;
	/* A server that does not answer fails a connection (and each
	 * reconnection) after CONNECT_TIMEOUT seconds, not never; the conninfo's
	 * own connect_timeout, expanded after it, wins. */
	static const char *const keys[] = { "connect_timeout", "dbname", NULL };
	const char *const values[] = { CONNECT_TIMEOUT, conninfo, NULL };
	c->pg = PQconnectdbParams(keys, values, 1);
	if (!c->pg)
		return -ENOMEM;
	if (PQstatus(c->pg) != CONNECTION_OK)
		return -ENOTCONN;
	return session_init(c);
}

static void pg_close(struct store *s)
{
	struct pg_conn *c = conn_of(s);
	if (!c)
		return;
	PQfinish(c->pg);
	free(c);
	s->conn = NULL;
}

/* Copies sql with each ?N made $N and each bare ? the next number, leaving
 * quoted text alone. Returns the copy (free()) with the highest parameter
 * number, or NULL. */
static char *placeholders(const char *sql, int *ret_n)
{
	size_t len = strlen(sql);
	/* "?" becomes at most "$" and 10 digits. */
	char *out = malloc(len * 11 + 1), *o = out;
	if (!out)
		return NULL;
	int n = 0, next = 0;
	char quote = 0;
	for (const char *p = sql; *p; p++) {
		if (quote) {
			quote = *p == quote ? 0 : quote;
		} else if (*p == '\'' || *p == '"') {
			quote = *p;
		} else if (*p == '?') {
			char *end;
			long k = strtol(p + 1, &end, 10);
			if (end == p + 1)
				k = ++next;
			else
				p = end - 1;
			n = k > n ? (int)k : n;
			o += sprintf(o, "$%ld", k);
			continue;
		}
		*o++ = *p;
	}
	*o = '\0';
	*ret_n = n;
	return out;
}

/* Prepares st on the connection (again, after a reconnection). */
static int stmt_prepare(struct pg_conn *c, struct pg_stmt *st)
{
	PGresult *res = PQprepare(c->pg, st->name, st->sql, 0, NULL);
	int r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : pg_errno(c->pg, res);
	PQclear(res);
	st->prepared = r == 0;
	st->generation = c->generation;
	return r;
}

static void pg_finalize(struct sq_stmt *base)
{
	struct pg_stmt *st = pgs(base);
	struct pg_conn *c = conn_of(base->s);
	if (st->prepared && st->generation == c->generation && PQstatus(c->pg) == CONNECTION_OK) {
		char sql[32];
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", st->name);
		run(c, sql, NULL);
	}
	PQclear(st->res);
	free(st->sql);
	free(st->values);
	free(st->lengths);
	free(st->formats);
	free(st->ints);
	free(st);
}

static int pg_prepare(struct store *s, const char *sql, struct sq_stmt **ret_st)
{
	struct pg_conn *c = conn_of(s);
	struct pg_stmt *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->base = (struct sq_stmt){ &sq_pg_engine, s };
	snprintf(st->name, sizeof(st->name), "q%u", c->serial++);
	st->sql = placeholders(sql, &st->n_params);
	size_t n = st->n_params ? (size_t)st->n_params : 1;
	st->values = calloc(n, sizeof(*st->values));
	st->lengths = calloc(n, sizeof(*st->lengths));
	st->formats = calloc(n, sizeof(*st->formats));
	st->ints = calloc(n, sizeof(*st->ints));
	if (!st->sql || !st->values || !st->lengths || !st->formats || !st->ints) {
		pg_finalize(&st->base);
		return -ENOMEM;
	}
	*ret_st = &st->base;
	return 0;
}

static void pg_reset(struct sq_stmt *base)
{
	struct pg_stmt *st = pgs(base);
	PQclear(st->res);
	st->res = NULL;
	for (int i = 0; i < st->n_params; i++) {
		st->values[i] = NULL;
		st->lengths[i] = st->formats[i] = 0;
	}
}

static int bind_param(struct pg_stmt *st, int i, const void *v, int length, int format)
{
	if (i < 1 || i > st->n_params)
		return -EINVAL;
	st->values[i - 1] = v;
	st->lengths[i - 1] = length;
	st->formats[i - 1] = format;
	return 0;
}

static int pg_bind_null(struct sq_stmt *st, int i)
{
	return bind_param(pgs(st), i, NULL, 0, 0);
}

static int pg_bind_int64(struct sq_stmt *base, int i, int64_t v)
{
	struct pg_stmt *st = pgs(base);
	if (i < 1 || i > st->n_params)
		return -EINVAL;
	snprintf(st->ints[i - 1], sizeof(st->ints[i - 1]), "%lld", (long long)v);
	return bind_param(st, i, st->ints[i - 1], 0, 0);
}

static int pg_bind_text(struct sq_stmt *st, int i, const char *v)
{
	return bind_param(pgs(st), i, v, 0, 0);
}

static int pg_bind_blob(struct sq_stmt *st, int i, const void *p, size_t n)
{
	if (n > INT32_MAX)
		return -EINVAL;
	return bind_param(pgs(st), i, p, (int)n, 1);
}

/* Runs the statement: all its rows come back at once. */
static int execute(struct pg_stmt *st)
{
	struct pg_conn *c = conn_of(st->base.s);
	int r = ensure_connected(c, st->sql);
	if (r == 0 && (!st->prepared || st->generation != c->generation))
		r = stmt_prepare(c, st);
	if (r < 0)
		return r;
	st->res = PQexecPrepared(c->pg, st->name, st->n_params, st->values, st->lengths,
				 st->formats, 1);
	ExecStatusType status = PQresultStatus(st->res);
	tx_track(c);
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		r = pg_errno(c->pg, st->res);
		PQclear(st->res);
		st->res = NULL;
		return r;
	}
	st->row = -1;
	st->n_rows = PQntuples(st->res);
	st->changes = strtoll(PQcmdTuples(st->res), NULL, 10);
	return 0;
}

static int pg_step(struct sq_stmt *base)
{
	struct pg_stmt *st = pgs(base);
	if (!st->res) {
		int r = execute(st);
		if (r < 0)
			return r;
	}
	if (st->row < st->n_rows)
		st->row++;
	return st->row < st->n_rows ? SQ_ROW : SQ_DONE;
}

static int64_t pg_changes(struct sq_stmt *st)
{
	return pgs(st)->res ? pgs(st)->changes : 0;
}

static int pg_col_count(struct sq_stmt *st)
{
	return pgs(st)->res ? PQnfields(pgs(st)->res) : 0;
}

static const char *pg_col_name(struct sq_stmt *st, int i)
{
	return PQfname(pgs(st)->res, i);
}

/* Whether there is a current row with a value in column i. */
static bool has_value(struct pg_stmt *st, int i)
{
	return st->res && st->row >= 0 && st->row < st->n_rows && i >= 0 &&
	       i < PQnfields(st->res) && !PQgetisnull(st->res, st->row, i);
}

static enum sq_type pg_col_type(struct sq_stmt *base, int i)
{
	struct pg_stmt *st = pgs(base);
	if (!has_value(st, i))
		return SQ_NULL;
	switch (PQftype(st->res, i)) {
	case BOOLOID:
	case INT2OID:
	case INT4OID:
	case INT8OID: return SQ_INT;
	case BYTEAOID: return SQ_BLOB;
	default: return SQ_TEXT;
	}
}

/* Reads n big-endian bytes as a signed integer. */
static int64_t be_int(const unsigned char *p, int n)
{
	uint64_t v = p[0] & 0x80 ? UINT64_MAX : 0;
	for (int k = 0; k < n; k++)
		v = v << 8 | p[k];
	return (int64_t)v;
}

static int64_t pg_col_int64(struct sq_stmt *base, int i)
{
	struct pg_stmt *st = pgs(base);
	if (!has_value(st, i))
		return 0;
	const unsigned char *p = (const unsigned char *)PQgetvalue(st->res, st->row, i);
	int len = PQgetlength(st->res, st->row, i);
	switch (PQftype(st->res, i)) {
	case BOOLOID:
	case INT2OID:
	case INT4OID:
	case INT8OID: return len >= 1 && len <= 8 ? be_int(p, len) : 0;
	default: return strtoll((const char *)p, NULL, 10);
	}
}

static const char *pg_col_str(struct sq_stmt *base, int i)
{
	struct pg_stmt *st = pgs(base);
	/* libpq ends every value with a NUL, binary ones too. */
	return has_value(st, i) ? PQgetvalue(st->res, st->row, i) : NULL;
}

static const void *pg_col_blob(struct sq_stmt *base, int i)
{
	struct pg_stmt *st = pgs(base);
	if (!has_value(st, i) || !PQgetlength(st->res, st->row, i))
		return NULL;
	return PQgetvalue(st->res, st->row, i);
}

static size_t pg_col_bytes(struct sq_stmt *base, int i)
{
	struct pg_stmt *st = pgs(base);
	return has_value(st, i) ? (size_t)PQgetlength(st->res, st->row, i) : 0;
}

static int pg_exec(struct store *s, const char *sql)
{
	struct pg_conn *c = conn_of(s);
	int r = ensure_connected(c, sql);
	return r < 0 ? r : run(c, sql, NULL);
}

static bool pg_in_transaction(struct store *s)
{
	return conn_of(s)->in_tx;
}

/* The lock is the transaction's: it ends with the commit or rollback. */
static int pg_schema_begin(struct store *s)
{
	return pg_exec(s, "BEGIN; SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ");"
			  " CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)");
}

static int pg_schema_version(struct store *s)
{
	PGresult *res = NULL;
	int r = run(conn_of(s), "SELECT coalesce(max(version), 0) FROM schema_version", &res);
	if (r < 0)
		return r;
	long long v = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
	PQclear(res);
	return v >= 0 && v <= INT32_MAX ? (int)v : -EIO;
}

static int pg_schema_set(struct store *s, int version)
{
	char sql[96];
	snprintf(sql, sizeof(sql),
		 "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)", version);
	return run(conn_of(s), sql, NULL);
}

const struct sq_engine sq_pg_engine = {
	.name = "postgres",
	.open = pg_open,
	.close = pg_close,
	.prepare = pg_prepare,
	.finalize = pg_finalize,
	.reset = pg_reset,
	.bind_null = pg_bind_null,
	.bind_int64 = pg_bind_int64,
	.bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob,
	.step = pg_step,
	.changes = pg_changes,
	.col_count = pg_col_count,
	.col_name = pg_col_name,
	.col_type = pg_col_type,
	.col_int64 = pg_col_int64,
	.col_str = pg_col_str,
	.col_blob = pg_col_blob,
	.col_bytes = pg_col_bytes,
	.exec = pg_exec,
	.in_transaction = pg_in_transaction,
	.schema_begin = pg_schema_begin,
	.schema_version = pg_schema_version,
	.schema_set = pg_schema_set,
};
