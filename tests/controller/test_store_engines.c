/* What the two engines share beyond the nouns: store URIs, schema versions
 * (an open that finds the schema current changes nothing, concurrent opens
 * of a new database apply each step once), and the errors of a lock not had
 * in time and of a lost connection. */
#include <pthread.h>

#include "store_fixture.h"

static void uri_is(const char *uri, const char *engine, const char *target)
{
	const char *e = NULL, *t = NULL;
	assert_int_equal(store_uri_parse(uri, &e, &t), 0);
	assert_string_equal(e, engine);
	assert_string_equal(t, target);
}

static void test_uri_parse(void **state)
{
	uri_is("sqlite:/var/lib/ditto/ditto.db", "sqlite", "/var/lib/ditto/ditto.db");
	uri_is("/var/lib/ditto/ditto.db", "sqlite", "/var/lib/ditto/ditto.db");
	uri_is("ditto.db", "sqlite", "ditto.db");
	uri_is("a:b.db", "sqlite", "a:b.db"); /* one letter is no scheme */
	uri_is("postgres:host=/run/pg dbname=ditto", "postgres", "host=/run/pg dbname=ditto");
	uri_is("postgres:postgresql://ditto@db.example/ditto", "postgres",
	       "postgresql://ditto@db.example/ditto");
	const char *e, *t;
	assert_int_equal(store_uri_parse(NULL, &e, &t), -EINVAL);
	assert_int_equal(store_uri_parse("", &e, &t), -EINVAL);
	assert_int_equal(store_uri_parse("sqlite:", &e, &t), -EINVAL);
	assert_int_equal(store_uri_parse("postgres:", &e, &t), -EINVAL);
	assert_int_equal(store_uri_parse("mysql:host=x", &e, &t), -EPROTONOSUPPORT);
	assert_int_equal(store_uri_parse("postgresql://x/y", &e, &t), -EPROTONOSUPPORT);
}

/* A URI that names nothing usable fails the open, with the handle left as
 * it was. */
static void test_bad_uris(void **state)
{
	static const struct {
		const char *uri;
		int err;
	} cases[] = {
		{ "mysql:host=x", -EPROTONOSUPPORT },
		{ "postgres:", -EINVAL },
		{ "postgres:this is no conninfo", -EINVAL },
		{ "postgres:host=/nonexistent/pg port=5999 dbname=ditto", -ENOTCONN },
		{ "sqlite:/nonexistent/folder/ditto.db", -ENOENT },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct store *s = (struct store *)&cases[i];
		assert_int_equal(store_open(cases[i].uri, &s), cases[i].err);
		assert_ptr_equal(s, &cases[i]);
	}
}

#define OPENERS 4

struct opener {
	const char *uri;
	int r;
};

static void *opener_main(void *arg)
{
	struct opener *o = arg;
	struct store *s = NULL;
	o->r = store_open(o->uri, &s);
	if (o->r == 0)
		o->r = store_tenant_create(s, "t");
	store_close(s);
	return NULL;
}

/* Handles opening one new database together all find it made, each step
 * applied once (a second application would fail on the tables it makes);
 * an open of a current database changes nothing. */
static void test_schema_versions(void **state)
{
	struct fixture *f = *state;
	int latest = schema_version_get(f);
	assert_true(latest >= 1);
	char uri[700];
	store_fresh_uri(f, uri, sizeof(uri));
	struct opener o[OPENERS];
	pthread_t t[OPENERS];
	for (int i = 0; i < OPENERS; i++) {
		o[i] = (struct opener){ uri, 1 };
		assert_int_equal(pthread_create(&t[i], NULL, opener_main, &o[i]), 0);
	}
	int created = 0;
	for (int i = 0; i < OPENERS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_true(o[i].r == 0 || o[i].r == -EEXIST);
		created += o[i].r == 0;
	}
	assert_int_equal(created, 1);

	store_close(f->s);
	snprintf(f->uri, sizeof(f->uri), "%s", uri);
	assert_int_equal(store_open(f->uri, &f->s), 0);
	assert_int_equal(schema_version_get(f), latest);
	struct store_tenant tenant;
	assert_int_equal(store_tenant_get(f->s, "t", &tenant), 0);
	if (f->pg) {
		/* One row says the version. */
		struct sq_stmt *st;
		assert_int_equal(sq_prep_sql(f->s, "SELECT count(*) FROM schema_version", &st), 0);
		assert_int_equal(sq_step(st), SQ_ROW);
		assert_int_equal(sq_col_int(st, 0), 1);
		sq_stmt_free(st);
	}
}

/* A row another handle's transaction holds is -EBUSY once the wait runs
 * out, on either engine, and free again after that transaction ends. */
static void test_busy(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_host_register(f->s, "h1", "10.0.0.1:7000", 2), 0);
	struct store *other;
	assert_int_equal(store_open(f->uri, &other), 0);
	assert_int_equal(
		sq_exec(other, f->pg ? "SET lock_timeout = '100ms'" : "PRAGMA busy_timeout = 100"),
		0);
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(store_host_heartbeat(f->s, "h1"), 0);
	assert_int_equal(store_host_heartbeat(other, "h1"), -EBUSY);
	assert_int_equal(store_batch_end(f->s, 0), 0);
	assert_int_equal(store_host_heartbeat(other, "h1"), 0);
	store_close(other);
}

/* Ends the server side of s's connection from another handle. */
static void connection_kill(struct fixture *f, struct store *s)
{
	struct sq_stmt *st;
	assert_int_equal(sq_prep_sql(s, "SELECT pg_backend_pid()", &st), 0);
	assert_int_equal(sq_step(st), SQ_ROW);
	char sql[64];
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)",
		 (long long)sq_col_int64(st, 0));
	sq_stmt_free(st);
	struct store *killer;
	assert_int_equal(store_open(f->uri, &killer), 0);
	assert_int_equal(sq_exec(killer, sql), 0);
	store_close(killer);
}

/* A lost connection fails the call on it with -ENOTCONN, and the next call
 * connects again; one lost within a transaction fails every call until the
 * transaction is ended, so none of it commits half-way on a new
 * connection. */
static void test_connection_lost(void **state)
{
	struct fixture *f = *state;
	if (!f->pg)
		skip();
	struct store_host h;
	assert_int_equal(store_host_register(f->s, "h1", "10.0.0.1:7000", 2), 0);
	connection_kill(f, f->s);
	assert_int_equal(store_host_get(f->s, "h1", &h), -ENOTCONN);
	assert_int_equal(store_host_get(f->s, "h1", &h), 0);

	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(store_host_register(f->s, "h2", "10.0.0.2:7000", 2), 0);
	connection_kill(f, f->s);
	assert_int_equal(store_host_register(f->s, "h3", "10.0.0.3:7000", 2), -ENOTCONN);
	assert_int_equal(store_host_register(f->s, "h4", "10.0.0.4:7000", 2), -ENOTCONN);
	assert_int_equal(store_batch_end(f->s, -ENOTCONN), -ENOTCONN);
	struct store_host *list;
	size_t n;
	assert_int_equal(store_host_list(f->s, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, "h1");
	free(list);
}

int main(void)
{
	const struct CMUnitTest both[] = {
		cmocka_unit_test(test_schema_versions),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_connection_lost),
	};
	const struct CMUnitTest lite[] = {
		cmocka_unit_test(test_uri_parse),
		cmocka_unit_test(test_bad_uris),
	};
	return STORE_RUN(both, lite);
}
