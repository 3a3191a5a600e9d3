/* A whole store copied into an empty one, table by table, row by row, through the
 * engine-neutral statements (store_int.h): each row's values go over with the types the
 * source gave them, so payloads stay the bytes they were. Artifacts' bytes follow them: as
 * chunks between two stores that keep them (PostgreSQL), else between the chunks and the
 * files of the side that keeps them as files (SQLite; db.h moves them). */
#include "store_migrate.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
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

/* The digests of the artifacts whose bytes are kept (not collected), as a malloc'd array. */
static int live_artifacts(struct store *s, struct store_artifact **ret, size_t *ret_n)
{
	struct sq_stmt *st = NULL;
	struct store_artifact *a = NULL;
	size_t n = 0, cap = 0;
	int r = sq_prep_sql(s, "SELECT digest FROM artifacts WHERE collected_ms IS NULL", &st);
	while (r >= 0 && (r = sq_step(st)) == SQ_ROW) {
		if ((r = array_reserve(&a, &cap, n + 1, sizeof(*a), 16)) < 0)
			break;
		sq_col_text(st, 0, a[n++].digest, sizeof(a->digest));
	}
	sq_stmt_free(st);
	if (r < 0) {
		free(a);
		return r;
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

/* Moves each live artifact's bytes between the files in dir and the store of the side that
 * keeps them as chunks: into to's chunks, or out of from's into files. Returns how many
 * artifacts, or -errno with ret_what naming the one at fault. */
static int64_t move_bytes(struct store *from, struct store *to, const char *dir, char *ret_what,
			  size_t what_size)
{
	bool into = store_keeps_artifacts(to);
	struct db db = { .store = into ? to : from };
	struct store_artifact *a = NULL;
	size_t n = 0;
	int r = live_artifacts(from, &a, &n);
	if (r == 0 && !into)
		r = mkdir_parents(dir, 0700);
	pthread_mutex_init(&db.lock, NULL);
	for (size_t i = 0; r == 0 && i < n; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%.*s/%s", PATH_MAX - STORE_DIGEST_SIZE - 2, dir,
			 a[i].digest);
		snprintf(ret_what, what_size, "artifact %s (%s)", a[i].digest, path);
		r = into ? db_artifact_share(&db, a[i].digest, path)
			 : db_artifact_cache(&db, a[i].digest, path);
	}
	pthread_mutex_destroy(&db.lock);
	free(a);
	return r < 0 ? r : (int64_t)n;
}

/* Copies the artifacts' bytes where either side keeps them as chunks; adds a count. */
static int copy_bytes(struct store *from, struct store *to, const char *dir,
		      struct store_migrate_count *count, char *ret_what, size_t what_size)
{
	bool from_keeps = store_keeps_artifacts(from), to_keeps = store_keeps_artifacts(to);
	int64_t r = 0;
	if (from_keeps && to_keeps) {
		snprintf(ret_what, what_size, "table artifact_chunks");
		*count = (struct store_migrate_count){ "artifact_chunks", 0 };
		r = copy_table(from, to, "artifact_chunks");
	} else if (from_keeps || to_keeps) {
		*count = (struct store_migrate_count){ "artifact files", 0 };
		r = dir ? move_bytes(from, to, dir, ret_what, what_size) : -EINVAL;
	} else {
		return 0;
	}
	if (r < 0)
		return (int)r;
	count->rows = r;
	return 1;
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

int store_migrate(struct store *from, struct store *to, const char *artifacts,
		  struct store_migrate_count *counts, size_t n, char *ret_what, size_t what_size)
{
	snprintf(ret_what, what_size, "the stores");
	/* One snapshot of the source, even while a controller writes to it. */
	int r = sq_exec(from, is_postgres(from) ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
						: "BEGIN");
	if (r < 0)
		return r;
	if ((r = sq_tx_begin(to)) < 0) {
		sq_exec(from, "ROLLBACK");
		return r;
	}
	const char *table = "";
	if ((r = target_ready(to, &table)) < 0)
		snprintf(ret_what, what_size, "table %s", table);
	size_t k = 0;
	for (size_t i = 0; r == 0 && store_tables[i]; i++) {
		snprintf(ret_what, what_size, "table %s", store_tables[i]);
		int64_t rows = copy_table(from, to, store_tables[i]);
		if (rows < 0)
			r = (int)rows;
		else if (k < n)
			counts[k++] = (struct store_migrate_count){ store_tables[i], rows };
	}
	/* The bytes go in with the records, in the same transaction. */
	struct store_migrate_count bytes;
	int moved = r == 0 ? copy_bytes(from, to, artifacts, &bytes, ret_what, what_size) : 0;
	if (moved < 0)
		r = moved;
	else if (moved && k < n)
		counts[k++] = bytes;
	sq_exec(from, "ROLLBACK");
	r = sq_tx_end(to, r);
	return r < 0 ? r : (int)k;
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

/* The folder of artifact files the copy reads or writes: --artifacts, else "artifacts"
 * beside the SQLite file of whichever side is SQLite (a controller's layout: --data holds
 * ditto.db and artifacts/). NULL when the two sides are of one engine. */
static const char *artifacts_dir(const char *from, const char *to, const char *given, char *buf,
				 size_t size)
{
	const char *fe, *ft, *te, *tt;
	store_uri_parse(from, &fe, &ft);
	store_uri_parse(to, &te, &tt);
	if (given || !strcmp(fe, te))
		return given;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s", strcmp(fe, "sqlite") == 0 ? ft : tt);
	snprintf(buf, size, "%s/artifacts", dirname(path));
	return buf;
}

/* Opens both stores, copies and reports. Returns the exit status. */
static int migrate(const char *from_uri, const char *to_uri, const char *artifacts)
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
	char what[PATH_MAX + 128];
	int tables = store_migrate(from, to, artifacts, counts, MIGRATE_MAX_TABLES, what,
				   sizeof(what));
	if (tables == -ENOTEMPTY)
		fprintf(stderr,
			"ditto-controller migrate: the --to store already holds data (%s); "
			"migrate only into an empty one\n",
			what);
	else if (tables < 0)
		fprintf(stderr, "ditto-controller migrate: copying %s failed: %s\n", what,
			strerror(-tables));
	int64_t rows = 0;
	int n = 0;
	for (int i = 0; i < tables; i++) {
		printf("%-18s %lld\n", counts[i].table, (long long)counts[i].rows);
		/* Artifact files are not rows. */
		if (strchr(counts[i].table, ' ') == NULL) {
			rows += counts[i].rows;
			n++;
		}
	}
	if (tables >= 0)
		printf("copied %lld rows in %d tables from the %s store to the %s store\n",
		       (long long)rows, n, store_engine(from), store_engine(to));
	store_close(to);
	store_close(from);
	return tables < 0 ? 1 : 0;
}

int store_migrate_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "artifacts", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *from = NULL, *to = NULL, *artifacts = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'a': artifacts = optarg; break;
		case 'h':
			printf("usage: ditto-controller migrate --from URI --to URI [--artifacts DIR]\n"
			       "Copies every row of one store into another, empty one (its schema\n"
			       "made current first), in one transaction. A URI is sqlite:PATH or\n"
			       "postgres:CONNINFO (libpq's key=value pairs or a postgresql:// URI).\n"
			       "Artifacts' bytes go along: between SQLite's files (DIR, by default\n"
			       "artifacts/ beside its database) and PostgreSQL's rows.\n");
			return 0;
		default:
			return usage_error("unknown option or missing value: %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);
	int code = check_uris(from, to);
	if (code)
		return code;
	if (artifacts && !*artifacts)
		return usage_error("%s", "--artifacts needs a folder");
	char dir[PATH_MAX];
	return migrate(from, to, artifacts_dir(from, to, artifacts, dir, sizeof(dir)));
}
