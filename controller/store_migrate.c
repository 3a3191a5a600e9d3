/* A whole store copied into an empty one, table by table, row by row, through the
 * engine-neutral statements (store_int.h): each row's values go over with the types the
 * source gave them, so payloads stay the bytes they were. */
#include "store_migrate.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_int.h"
#include "util.h"

#define MIGRATE_MAX_TABLES 16

static bool is_postgres(const struct store *s)
{
	return strcmp(sq_engine_name(s), "postgres") == 0;
}

/* Runs sql, which names table, and returns its first step: SQ_ROW, SQ_DONE or -errno. */
static int first_step(struct store *s, const char *fmt, const char *table)
{
	char sql[128];
	snprintf(sql, sizeof(sql), fmt, table);
	struct sq_stmt *st = NULL;
	int r = sq_prep_sql(s, sql, &st);
	if (r == 0)
		r = sq_step(st);
	sq_stmt_free(st);
	return r;
}

/* "INSERT INTO table (c1, ...) VALUES (?1, ...)" with the columns of src's current row,
 * NUL-terminated in b. */
static int insert_sql(struct sq_stmt *src, const char *table, struct buf *b)
{
	int n = sq_col_count(src);
	int r = buf_printf(b, "INSERT INTO %s (", table);
	for (int i = 0; r == 0 && i < n; i++)
		r = buf_printf(b, "%s%s", i ? ", " : "", sq_col_name(src, i));
	if (r == 0)
		r = buf_printf(b, ") VALUES (");
	for (int i = 0; r == 0 && i < n; i++)
		r = buf_printf(b, "%s?%d", i ? ", " : "", i + 1);
	if (r == 0)
		r = buf_printf(b, ")");
	return r == 0 ? buf_append(b, "", 1) : r;
}

/* Binds src's current row to dst's parameters, each value with its own type. The text and
 * bytes stay src's: dst runs before src steps again. */
static int bind_row(struct sq_stmt *src, struct sq_stmt *dst)
{
	int r = 0;
	for (int i = 0, n = sq_col_count(src); r == 0 && i < n; i++) {
		if (sq_col_is_null(src, i))
			r = sq_bind_null(dst, i + 1);
		else if (sq_col_type(src, i) == SQ_INT)
			r = sq_bind_int64(dst, i + 1, sq_col_int64(src, i));
		else if (sq_col_type(src, i) == SQ_BLOB)
			r = sq_bind_blob(dst, i + 1, sq_col_blob(src, i), sq_col_bytes(src, i));
		else
			r = sq_bind_text(dst, i + 1, sq_col_str(src, i));
	}
	return r;
}

/* Copies every row of table. Returns the number of rows, or -errno. */
static int64_t copy_table(struct store *from, struct store *to, const char *table)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT * FROM %s", table);
	struct sq_stmt *src = NULL, *dst = NULL;
	struct buf b = { 0 };
	int64_t rows = 0;
	int r = sq_prep_sql(from, sql, &src);
	while (r >= 0 && (r = sq_step(src)) == SQ_ROW) {
		/* The INSERT follows the columns the source has, whatever their order. */
		if (!dst && ((r = insert_sql(src, table, &b)) < 0 ||
			     (r = sq_prep_sql(to, (const char *)b.data, &dst)) < 0))
			break;
		if ((r = bind_row(src, dst)) == 0)
			r = sq_step_done(dst);
		sq_reset(dst);
		rows++;
	}
	sq_stmt_free(dst);
	sq_stmt_free(src);
	buf_free(&b);
	return r < 0 ? r : rows;
}

/* Locks the target's tables against other writers (PostgreSQL; SQLite's write transaction
 * already holds its one lock) and checks that they are empty. */
static int target_ready(struct store *to, const char **ret_table)
{
	struct buf b = { 0 };
	int r = 0;
	if (is_postgres(to)) {
		r = buf_printf(&b, "LOCK TABLE ");
		for (size_t i = 0; r == 0 && store_tables[i]; i++)
			r = buf_printf(&b, "%s%s", i ? ", " : "", store_tables[i]);
		if (r == 0)
			r = buf_printf(&b, " IN SHARE ROW EXCLUSIVE MODE");
		if (r == 0)
			r = buf_append(&b, "", 1);
		if (r == 0)
			r = sq_exec(to, (const char *)b.data);
		buf_free(&b);
	}
	for (size_t i = 0; r == 0 && store_tables[i]; i++) {
		*ret_table = store_tables[i];
		r = first_step(to, "SELECT 1 FROM %s LIMIT 1", store_tables[i]);
		if (r == SQ_ROW)
			return -ENOTEMPTY;
	}
	return r;
}

int store_migrate(struct store *from, struct store *to, struct store_migrate_count *counts,
		  size_t n, const char **ret_table)
{
	*ret_table = "";
	/* One snapshot of the source, even while a controller writes to it. */
	int r = sq_exec(from, is_postgres(from) ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
						: "BEGIN");
	if (r < 0)
		return r;
	if ((r = sq_tx_begin(to)) < 0) {
		sq_exec(from, "ROLLBACK");
		return r;
	}
	r = target_ready(to, ret_table);
	int tables = 0;
	for (size_t i = 0; r == 0 && store_tables[i]; i++) {
		*ret_table = store_tables[i];
		int64_t rows = copy_table(from, to, store_tables[i]);
		if (rows < 0)
			r = (int)rows;
		else if ((size_t)tables < n)
			counts[tables++] = (struct store_migrate_count){ store_tables[i], rows };
	}
	sq_exec(from, "ROLLBACK");
	r = sq_tx_end(to, r);
	return r < 0 ? r : tables;
}

/* ---- the subcommand ------------------------------------------------------------------- */

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "ditto-controller migrate: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (usage: ditto-controller migrate --from URI --to URI)\n");
	return 2;
}

/* Whether both URIs name one store: the same SQLite file, or the same conninfo. */
static bool same_store(const char *from, const char *to)
{
	const char *fe, *ft, *te, *tt;
	store_uri_parse(from, &fe, &ft);
	store_uri_parse(to, &te, &tt);
	if (strcmp(fe, te) != 0)
		return false;
	char a[PATH_MAX], b[PATH_MAX];
	if (strcmp(fe, "sqlite") == 0 && realpath(ft, a) && realpath(tt, b))
		return strcmp(a, b) == 0;
	return strcmp(ft, tt) == 0;
}

/* Checks the command line's URIs. Returns 0 or the exit status after saying why. */
static int check_uris(const char *from, const char *to)
{
	const char *engine, *target;
	if (!from || !to)
		return usage_error("%s", !from ? "--from is missing" : "--to is missing");
	if (store_uri_parse(from, &engine, &target) < 0)
		return usage_error("--from is not a store URI (sqlite:PATH or postgres:CONNINFO): "
				   "\"%s\"",
				   from);
	/* A missing source is a mistake: opening it would make an empty database. */
	if (strcmp(engine, "sqlite") == 0 && access(target, F_OK) < 0) {
		fprintf(stderr, "ditto-controller migrate: --from: no SQLite database at %s: %s\n",
			target, strerror(errno));
		return 1;
	}
	if (store_uri_parse(to, &engine, &target) < 0)
		return usage_error("--to is not a store URI (sqlite:PATH or postgres:CONNINFO): "
				   "\"%s\"",
				   to);
	if (same_store(from, to))
		return usage_error("%s", "--from and --to name the same store");
	return 0;
}

/* Opens both stores, copies and reports. Returns the exit status. */
static int migrate(const char *from_uri, const char *to_uri)
{
	struct store *from = NULL, *to = NULL;
	const char *which = "--from";
	int r = store_open(from_uri, &from);
	if (r == 0) {
		which = "--to";
		r = store_open(to_uri, &to);
	}
	if (r < 0) {
		fprintf(stderr, "ditto-controller migrate: cannot open the %s store: %s\n", which,
			strerror(-r));
		store_close(from);
		return 1;
	}
	struct store_migrate_count counts[MIGRATE_MAX_TABLES];
	const char *table;
	int tables = store_migrate(from, to, counts, MIGRATE_MAX_TABLES, &table);
	if (tables == -ENOTEMPTY)
		fprintf(stderr,
			"ditto-controller migrate: the --to store already holds data (table %s); "
			"migrate only into an empty one\n",
			table);
	else if (tables < 0)
		fprintf(stderr, "ditto-controller migrate: copying table %s failed: %s\n", table,
			strerror(-tables));
	int64_t rows = 0;
	for (int i = 0; i < tables; i++) {
		printf("%-18s %lld\n", counts[i].table, (long long)counts[i].rows);
		rows += counts[i].rows;
	}
	if (tables >= 0)
		printf("copied %lld rows in %d tables from the %s store to the %s store\n",
		       (long long)rows, tables, store_engine(from), store_engine(to));
	store_close(to);
	store_close(from);
	return tables < 0 ? 1 : 0;
}

int store_migrate_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *from = NULL, *to = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'h':
			printf("usage: ditto-controller migrate --from URI --to URI\n"
			       "Copies every row of one store into another, empty one (its schema\n"
			       "made current first), in one transaction. A URI is sqlite:PATH or\n"
			       "postgres:CONNINFO (libpq's key=value pairs or a postgresql:// URI).\n");
			return 0;
		default:
			return usage_error("unknown option or missing value: %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);
	int code = check_uris(from, to);
	return code ? code : migrate(from, to);
}
