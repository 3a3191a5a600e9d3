/* A private PostgreSQL server (lib/pg_local under tests/support/pgserver): conninfo
 * quoting, then a real server: started as a non-root user in its folder, fresh databases
 * that libpq reaches through the socket alone, a fast stop that leaves nothing behind, and
 * a test process that dies without stopping it, after which the watcher cleans up. Skips
 * the server's cases, saying why, where PostgreSQL's server binaries are not installed. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pg_local.h"
#include "support/files.h"
#include "support/pgserver.h"
#include "support/wait.h"

static void test_conninfo(void **state)
{
	char out[128];
	assert_int_equal(pg_local_conninfo("/tmp/ditto-pg-x", "ditto", out, sizeof(out)), 0);
	assert_string_equal(out, "host=/tmp/ditto-pg-x port=5432 dbname=ditto");
	/* Blanks, quotes and backslashes need libpq's quoting; an empty value too. */
	assert_int_equal(pg_local_conninfo("/tmp/a b", "x'y\\z", out, sizeof(out)), 0);
	assert_string_equal(out, "host='/tmp/a b' port=5432 dbname='x\\'y\\\\z'");
	assert_int_equal(pg_local_conninfo("/d", "", out, sizeof(out)), 0);
	assert_string_equal(out, "host=/d port=5432 dbname=''");
	assert_int_equal(pg_local_conninfo("/tmp/ditto-pg-x", "ditto", out, 20), -ENAMETOOLONG);
}

static void test_init_refusals(void **state)
{
	struct pg_local pg;
	char dir[200];
	memset(dir, 'a', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = '\0';
	assert_int_equal(pg_local_init(&pg, dir, 0), -ENAMETOOLONG);
	assert_non_null(strstr(pg.error, "too long"));
	/* No server here: no pid. */
	assert_int_equal(pg_local_pid("/nonexistent"), 0);
	assert_int_equal(pg_local_stop(0, 10), 0);
}

static bool started(struct pgserver *pg)
{
	int r = pgserver_start(pg);
	if (r == -ENOENT) {
		printf("postgres: skipped: %s\n", pg->error);
		return false;
	}
	if (r < 0)
		fail_msg("pgserver_start: %s: %s", strerror(-r), pg->error);
	return true;
}

/* Runs sql on conninfo; returns the first value of its answer (malloc'd, "" when none). */
static char *query(const char *conninfo, const char *sql)
{
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect %s: %s", conninfo, PQerrorMessage(c));
	PGresult *res = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	char *v = strdup(st == PGRES_TUPLES_OK && PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	PQfinish(c);
	return v;
}

static void assert_query(const char *conninfo, const char *sql, const char *want)
{
	char *v = query(conninfo, sql);
	assert_string_equal(v, want);
	free(v);
}

static void test_server_life(void **state)
{
	struct pgserver pg;
	if (!started(&pg))
		skip();
	assert_true(pg.pid > 0);
	assert_int_equal(kill(pg.pid, 0), 0);
	/* The server runs as someone other than root, owns its folder, and has no TCP. */
	struct stat st;
	assert_int_equal(stat(pg.dir, &st), 0);
	assert_true(st.st_uid != 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_query(pg.conninfo, "SHOW listen_addresses", "");
	assert_query(pg.conninfo, "SHOW fsync", "off");
	assert_query(pg.conninfo, "SELECT current_database()", "ditto");
	assert_int_equal(pg_local_pid(pg.dir), pg.pid);

	/* Two fresh databases, each empty and apart from the other. */
	char a[512], b[512];
	assert_int_equal(pgserver_new_db(&pg, a, sizeof(a)), 0);
	assert_int_equal(pgserver_new_db(&pg, b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	assert_non_null(strstr(a, pg.dir));
	assert_query(a, "CREATE TABLE t (v text)", "");
	assert_query(a, "INSERT INTO t VALUES ('hello')", "");
	assert_query(a, "SELECT v FROM t", "hello");
	assert_query(b, "SELECT count(*) FROM pg_tables WHERE tablename = 't'", "0");

	char dir[256];
	snprintf(dir, sizeof(dir), "%s", pg.dir);
	pid_t pid = pg.pid;
	pgserver_stop(&pg);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(kill(pid, 0), -1);
	/* Stopping twice is harmless. */
	pgserver_stop(&pg);
}

static bool folder_gone(void *data)
{
	return access(data, F_OK) < 0 && errno == ENOENT;
}

/* A test process that dies without pgserver_stop: the watcher stops its server and removes
 * the folder. */
static void test_crash_cleans_up(void **state)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(fds[0]);
		struct pgserver pg;
		int r = pgserver_start(&pg);
		char line[300];
		int n = snprintf(line, sizeof(line), "%d %s\n", r, r == 0 ? pg.dir : pg.error);
		if (write(fds[1], line, (size_t)n) != n)
			_exit(2);
		_exit(3); /* no pgserver_stop */
	}
	close(fds[1]);
	char line[300] = "";
	ssize_t n = read(fds[0], line, sizeof(line) - 1);
	close(fds[0]);
	int st;
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(n > 0);
	line[strcspn(line, "\n")] = '\0';
	int r = atoi(line);
	const char *rest = strchr(line, ' ') + 1;
	if (r == -ENOENT) {
		printf("postgres: skipped: %s\n", rest);
		skip();
	}
	assert_int_equal(r, 0);
	assert_int_equal(WEXITSTATUS(st), 3);
	char dir[256];
	snprintf(dir, sizeof(dir), "%s", rest);
	assert_int_equal(strncmp(dir, "/tmp/ditto-pg-", 14), 0);
	wait_until(folder_gone, dir, 60000, "the dead test's server folder to be removed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conninfo),
		cmocka_unit_test(test_init_refusals),
		cmocka_unit_test(test_server_life),
		cmocka_unit_test(test_crash_cleans_up),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
