/* The store's checkpoint on a handle of its own, as the controller runs it
 * beside the requests' handle (whose commits never checkpoint): a WAL grown
 * large is truncated once no reader holds it, and a reader that does hold
 * it neither fails nor stalls the checkpoint. */
#include <sys/stat.h>

#include "store_fixture.h"

#define BLOBS 24

static long long wal_bytes(const struct fixture *f)
{
	char path[160];
	struct stat st;
	snprintf(path, sizeof(path), "%s-wal", f->path);
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

static void test_large_wal_truncated(void **state)
{
	struct fixture *f = *state;
	struct store *ck;
	sqlite3 *w, *r;
	assert_int_equal(store_open(f->uri, &ck), 0);
	assert_int_equal(store_set_autocheckpoint(f->s, 0), 0);
	/* A writer that never checkpoints either, and a reader. */
	assert_int_equal(sqlite3_open(f->path, &w), SQLITE_OK);
	assert_int_equal(sqlite3_wal_autocheckpoint(w, 0), SQLITE_OK);
	assert_int_equal(sqlite3_open(f->path, &r), SQLITE_OK);
	exec(w, "CREATE TABLE junk (b BLOB)");

	/* The reader holds its snapshot while 24 MiB go into the WAL: the
	 * checkpoint can neither copy them all nor truncate, and says so by
	 * returning soon, not by failing. */
	exec(r, "BEGIN; SELECT count(*) FROM junk;");
	for (int i = 0; i < BLOBS; i++)
		exec(w, "INSERT INTO junk VALUES (zeroblob(1048576))");
	long long t0 = (long long)time_now_us();
	assert_int_equal(store_checkpoint(ck), 0);
	assert_true((long long)time_now_us() - t0 < 5000000);
	assert_true(wal_bytes(f) > 16LL << 20);

	/* Once it lets go, the WAL is copied back and truncated. */
	exec(r, "COMMIT");
	assert_int_equal(store_checkpoint(ck), 0);
	assert_int_equal(wal_bytes(f), 0);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(w, "SELECT count(*) FROM junk", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), BLOBS);
	sqlite3_finalize(st);

	/* A small WAL is left to the next writer to start over. */
	exec(w, "INSERT INTO junk VALUES (1)");
	assert_int_equal(store_checkpoint(ck), 0);
	assert_true(wal_bytes(f) > 0);
	sqlite3_close(r);
	sqlite3_close(w);
	store_close(ck);
}

/* Checkpoints are SQLite's: on PostgreSQL both calls are no-ops. */
static void test_checkpoint_calls(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	assert_int_equal(store_set_autocheckpoint(s, 0), 0);
	assert_int_equal(store_host_register(s, "h1", "10.0.0.1:7000", 2), 0);
	assert_int_equal(store_checkpoint(s), 0);
	struct store_host h;
	assert_int_equal(store_host_get(s, "h1", &h), 0);
}

int main(void)
{
	const struct CMUnitTest both[] = { cmocka_unit_test(test_checkpoint_calls) };
	const struct CMUnitTest lite[] = { cmocka_unit_test(test_large_wal_truncated) };
	return STORE_RUN(both, lite);
}
