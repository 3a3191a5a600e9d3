/* `ditto-controller migrate`, the built binary run as an operator runs it: a copy that
 * prints what it copied (into PostgreSQL too, with the artifacts' files found beside the
 * SQLite file, where a controller keeps them), then each refusal as one line on stderr with
 * its exit status (a target holding data, a missing source, which is not made, URIs that
 * name no store, the same store twice, a bad command line, a server that cannot be
 * reached). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate_sample.h"
#include "store.h"
#include "support/files.h"
#include "support/pgserver.h"
#include "support/procs.h"
#include "support/run.h"
#include "util.h"

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static char scratch[256], source[300], target[300];

static int setup(void **state)
{
	if (scratch_dir(scratch, sizeof(scratch), "migratecmd") < 0)
		return -1;
	snprintf(source, sizeof(source), "sqlite:%s/source.db", scratch);
	snprintf(target, sizeof(target), "sqlite:%s/target.db", scratch);
	return 0;
}

static int teardown(void **state)
{
	return remove_tree(scratch);
}

/* Runs BUILD/ditto-controller migrate with args. */
static void migrate(struct run_out *r, const char *const *args)
{
	char bin[512];
	snprintf(bin, sizeof(bin), "%s/ditto-controller", test_build_dir());
	const char *argv[16] = { bin, "migrate" };
	size_t n = 2;
	for (; args[n - 2] && n < 15; n++)
		argv[n] = args[n - 2];
	argv[n] = NULL;
	run_program(r, scratch, NULL, argv);
}

/* The run failed with status, saying fragment on one stderr line and nothing on stdout. */
static void refused(const char *const *args, int status, const char *fragment)
{
	struct run_out r;
	migrate(&r, args);
	const char *nl = strchr(r.err, '\n');
	if (r.status != status || !strstr(r.err, fragment) || r.out[0] || !nl || nl[1])
		fail_msg("migrate %s %s: exit %d, stderr \"%s\", stdout \"%s\"", args[0],
			 args[1] ? args[1] : "", r.status, r.err, r.out);
	assert_int_equal(strncmp(r.err, "ditto-controller migrate: ", 26), 0);
	run_out_free(&r);
}

static void test_copy_then_refuse_again(void **state)
{
	struct store *s;
	assert_int_equal(store_open(source, &s), 0);
	struct sample x;
	char dir[300];
	snprintf(dir, sizeof(dir), "%s/artifacts", scratch);
	assert_int_equal(mkdir_parents(dir, 0700), 0);
	sample_fill(s, &x, dir);
	store_close(s);

	struct run_out r;
	migrate(&r, ARGV("--from", source, "--to", target));
	if (r.status != 0)
		fail_msg("exit %d: %s", r.status, r.err);
	assert_string_equal(
		r.out, "tenants            2\n"
		       "api_keys           3\n"
		       "artifacts          3\n"
		       "functions          3\n"
		       "function_versions  4\n"
		       "invocations        5\n"
		       "hosts              3\n"
		       "copied 23 rows in 7 tables from the sqlite store to the sqlite store\n");
	assert_string_equal(r.err, "");
	run_out_free(&r);
	/* What it copied is there: the admin token works against the copy. */
	assert_int_equal(store_open(target, &s), 0);
	char tenant[STORE_NAME_SIZE];
	bool admin = false;
	assert_int_equal(store_key_verify(s, x.admin, tenant, &admin), 0);
	assert_true(admin);
	store_close(s);

	refused(ARGV("--from", source, "--to", target), 1,
		"the --to store already holds data (table tenants); migrate only into an empty one");

	/* Into PostgreSQL, the artifacts' bytes from the files beside the source. */
	struct pgserver pg;
	int e = pgserver_start(&pg);
	if (e < 0) {
		printf("postgres: skipped: %s\n", pg.error);
		return;
	}
	char uri[600];
	snprintf(uri, sizeof(uri), "postgres:%s", pg.conninfo);
	migrate(&r, ARGV("--from", source, "--to", uri));
	pgserver_stop(&pg);
	if (r.status != 0)
		fail_msg("exit %d: %s", r.status, r.err);
	assert_non_null(strstr(r.out, "\nartifact files     2\n"
				      "copied 23 rows in 7 tables from the sqlite store to the "
				      "postgres store\n"));
	run_out_free(&r);
}

static void test_refusals(void **state)
{
	char missing[300], bare_source[300];
	snprintf(missing, sizeof(missing), "%s/missing.db", scratch);
	snprintf(bare_source, sizeof(bare_source), "%s/./source.db", scratch);
	struct store *s;
	assert_int_equal(store_open(source, &s), 0);
	store_close(s);

	refused(ARGV("--from", missing, "--to", target), 1, "--from: no SQLite database at ");
	assert_int_equal(access(missing, F_OK), -1);
	refused(ARGV("--from", source, "--to", bare_source), 2,
		"--from and --to name the same store");
	refused(ARGV("--from", source, "--to", source), 2, "--from and --to name the same store");
	refused(ARGV("--from", "mysql:db", "--to", target), 2, "--from is not a store URI");
	refused(ARGV("--from", source, "--to", "postgres:"), 2, "--to is not a store URI");
	refused(ARGV("--from", source, "--to", ""), 2, "--to is not a store URI");
	refused(ARGV("--from", source), 2, "--to is missing");
	refused(ARGV("--to", target), 2, "--from is missing");
	refused(ARGV("--from", source, "--to", target, "extra"), 2, "unexpected argument");
	refused(ARGV("--from", source, "--to", target, "--fast"), 2, "unknown option");
	refused(ARGV("--from", source, "--to", target, "--artifacts", ""), 2,
		"--artifacts needs a folder");
	refused(ARGV("--from", source, "--to", "postgres:host=/nonexistent dbname=x"), 1,
		"cannot open the --to store: ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy_then_refuse_again),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
