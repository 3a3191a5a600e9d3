/* store_migrate: a store with every kind of row (migrate_sample.h) copied into an empty one,
 * between SQLite and, where PostgreSQL can run, PostgreSQL (tests/support/pgserver) both
 * ways, then read back through the store's API: the same tenants, keys (their tokens still
 * verify, the revoked one still does not), artifacts, functions and versions, invocation
 * records with their payloads' bytes, and hosts; artifacts' bytes follow, between SQLite's
 * files and PostgreSQL's chunks; and the target goes on from there (the next version number,
 * new rows). A target holding rows, or an artifact whose file is missing, is refused and the
 * target left as it was. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "migrate_sample.h"
#include "store.h"
#include "store_migrate.h"
#include "support/files.h"
#include "support/pgserver.h"
#include "util.h"

#define MAX_TABLES 16

static char scratch[256];
static struct pgserver pg;
static bool pg_up;

static int group_setup(void **state)
{
	if (scratch_dir(scratch, sizeof(scratch), "migrate") < 0)
		return -1;
	int r = pgserver_start(&pg);
	pg_up = r == 0;
	if (r < 0)
		printf("postgres: skipped: %s\n", pg.error);
	return 0;
}

static int group_teardown(void **state)
{
	pgserver_stop(&pg);
	return remove_tree(scratch);
}

/* A store of a test and its artifacts folder (a controller's --data/artifacts). */
struct side {
	char uri[600];
	char dir[300];
	struct store *s;
};

/* A new store: SQLite in a fresh file, or a fresh PostgreSQL database; an empty folder. */
static void open_new(struct side *x, const char *engine)
{
	static int n;
	snprintf(x->dir, sizeof(x->dir), "%s/artifacts%d", scratch, ++n);
	assert_int_equal(mkdir_parents(x->dir, 0700), 0);
	if (strcmp(engine, "sqlite") == 0) {
		snprintf(x->uri, sizeof(x->uri), "sqlite:%s/db%d.sqlite", scratch, n);
	} else {
		char conninfo[512];
		assert_int_equal(pgserver_new_db(&pg, conninfo, sizeof(conninfo)), 0);
		snprintf(x->uri, sizeof(x->uri), "postgres:%s", conninfo);
	}
	int r = store_open(x->uri, &x->s);
	if (r < 0)
		fail_msg("store_open %s: %s", x->uri, strerror(-r));
}

static void same_tenants(struct store *a, struct store *b)
{
	struct store_tenant *ta, *tb;
	size_t na, nb;
	assert_int_equal(store_tenant_list(a, &ta, &na), 0);
	assert_int_equal(store_tenant_list(b, &tb, &nb), 0);
	assert_int_equal(na, 2);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		const struct store_scaling *x = &ta[i].scaling, *y = &tb[i].scaling;
		assert_string_equal(ta[i].name, tb[i].name);
		assert_int_equal(ta[i].created_ms, tb[i].created_ms);
		assert_int_equal(x->min_workers, y->min_workers);
		assert_int_equal(x->max_workers, y->max_workers);
		assert_int_equal(x->concurrency, y->concurrency);
		assert_string_equal(x->mechanism, y->mechanism);
		assert_string_equal(x->policy, y->policy);
		assert_string_equal(x->confidential, y->confidential);
		assert_string_equal(x->attestation, y->attestation);
		assert_string_equal(x->host_data, y->host_data);
	}
	assert_string_equal(tb[1].scaling.confidential, "sev-snp");
	free(ta);
	free(tb);
}

static void same_keys(struct store *a, struct store *b, const struct sample *x)
{
	struct store_key *ka, *kb;
	size_t na, nb;
	assert_int_equal(store_key_list(a, "acme", &ka, &na), 0);
	assert_int_equal(store_key_list(b, "acme", &kb, &nb), 0);
	assert_int_equal(na, 1);
	assert_int_equal(na, nb);
	assert_string_equal(ka[0].key_id, kb[0].key_id);
	assert_int_equal(ka[0].created_ms, kb[0].created_ms);
	free(ka);
	free(kb);
	/* Salts and hashes came over as bytes: the tokens still open the same doors. */
	char tenant[STORE_NAME_SIZE];
	bool admin;
	assert_int_equal(store_key_verify(b, x->admin, tenant, &admin), 0);
	assert_true(admin);
	assert_int_equal(store_key_verify(b, x->acme, tenant, &admin), 0);
	assert_false(admin);
	assert_string_equal(tenant, "acme");
	assert_int_equal(store_key_verify(b, x->revoked, tenant, &admin), -EACCES);
}

static void same_bytes(const uint8_t *p, size_t n, const uint8_t *q, size_t m)
{
	assert_int_equal(n, m);
	if (n)
		assert_memory_equal(p, q, n);
}

static void same_function(const struct store_function *f, const struct store_function *g)
{
	assert_string_equal(f->tenant, g->tenant);
	assert_string_equal(f->name, g->name);
	assert_int_equal(f->version, g->version);
	assert_string_equal(f->digest, g->digest);
	assert_int_equal(f->size, g->size);
	assert_int_equal(f->created_ms, g->created_ms);
	assert_int_equal(f->limits.timeout_ms, g->limits.timeout_ms);
	assert_int_equal(f->limits.memory_mib, g->limits.memory_mib);
	assert_int_equal(f->limits.max_concurrency, g->limits.max_concurrency);
	assert_string_equal(f->limits.mode, g->limits.mode);
	assert_int_equal(f->limits.encrypted, g->limits.encrypted);
	assert_int_equal(f->limits.runtime, g->limits.runtime);
	assert_string_equal(f->limits.handler, g->limits.handler);
}

static void same_functions(struct store *a, struct store *b, const struct sample *x)
{
	const struct {
		const char *tenant, *name;
		int64_t version;
	} versions[] = { { "acme", "echo", 1 }, { "acme", "echo", 2 }, { "beta", "f", 1 } };
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		struct store_function f, g;
		assert_int_equal(store_function_get(a, versions[i].tenant, versions[i].name,
						    versions[i].version, &f),
				 0);
		assert_int_equal(store_function_get(b, versions[i].tenant, versions[i].name,
						    versions[i].version, &g),
				 0);
		same_function(&f, &g);
	}
	struct store_function f;
	assert_int_equal(store_function_get(b, "acme", "echo", 0, &f), 0);
	assert_int_equal(f.limits.runtime, FN_RUNTIME_PYTHON3);
	assert_string_equal(f.limits.handler, "main.handler");
	assert_true(f.limits.encrypted);
	assert_int_equal(store_function_get(b, "acme", "gone", 0, &f), -ENOENT);
	uint64_t size;
	assert_int_equal(store_artifact_get(b, x->digest[0], &size), 0);
	assert_int_equal(size, x->size[0]);
	assert_int_equal(store_artifact_get(b, x->digest[2], &size), -ENOENT);
}

/* The target has each live artifact's bytes: in its chunks, read back into a new file, or
 * as files in its folder. */
static void same_artifact_bytes(struct side *to, const struct sample *x)
{
	struct db db = { .store = to->s };
	pthread_mutex_init(&db.lock, NULL);
	for (int i = 0; i < 2; i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", to->dir, x->digest[i]);
		assert_int_equal(db_artifact_cache(&db, x->digest[i], path), 0);
		void *data;
		size_t len;
		assert_int_equal(file_read_all(path, &data, &len), 0);
		uint8_t *want = sample_artifact(i, x->size[i]);
		same_bytes(data, len, want, x->size[i]);
		free(want);
		free(data);
	}
	pthread_mutex_destroy(&db.lock);
}

static void same_text(const char *p, const char *q)
{
	assert_string_equal(p ? p : "(null)", q ? q : "(null)");
}

static void same_invocation(const struct store_invocation *i, const struct store_invocation *j)
{
	assert_string_equal(i->id, j->id);
	assert_string_equal(i->tenant, j->tenant);
	assert_string_equal(i->function, j->function);
	assert_int_equal(i->version, j->version);
	assert_int_equal(i->async, j->async);
	assert_int_equal(i->status, j->status);
	assert_int_equal(i->retries, j->retries);
	assert_int_equal(i->created_ms, j->created_ms);
	assert_int_equal(i->started_ms, j->started_ms);
	assert_int_equal(i->finished_ms, j->finished_ms);
	assert_string_equal(i->host, j->host);
	assert_string_equal(i->vm, j->vm);
	assert_int_equal(i->cpu, j->cpu);
	assert_int_equal(i->queued_us, j->queued_us);
	assert_int_equal(i->cold_start_us, j->cold_start_us);
	assert_int_equal(i->exec_us, j->exec_us);
	assert_int_equal(i->total_us, j->total_us);
	assert_int_equal(i->cold_start, j->cold_start);
	assert_int_equal(i->workers, j->workers);
	assert_int_equal(i->vcpu_alloc_ms, j->vcpu_alloc_ms);
	assert_int_equal(i->vcpu_busy_ms, j->vcpu_busy_ms);
	same_bytes(i->input, i->input_len, j->input, j->input_len);
	same_bytes(i->result, i->result_len, j->result, j->result_len);
	same_bytes(i->log, i->log_len, j->log, j->log_len);
	same_text(i->error, j->error);
	same_text(i->exception, j->exception);
}

static void same_invocations(struct store *a, struct store *b, const struct sample *x)
{
	for (int k = 0; k < SAMPLE_INVOCATIONS; k++) {
		struct store_invocation i, j;
		assert_int_equal(store_invocation_get(a, NULL, x->ids[k], &i), 0);
		assert_int_equal(store_invocation_get(b, NULL, x->ids[k], &j), 0);
		same_invocation(&i, &j);
		store_invocation_clear(&i);
		store_invocation_clear(&j);
	}
	/* The sample's payloads are the bytes it wrote. */
	struct store_invocation j;
	uint8_t want[300];
	assert_int_equal(store_invocation_get(b, NULL, x->ids[1], &j), 0);
	sample_bytes(want, 7);
	same_bytes(j.result, j.result_len, want, sizeof(want));
	assert_int_equal(j.status, STORE_OK);
	store_invocation_clear(&j);
	assert_int_equal(store_invocation_get(b, NULL, x->ids[3], &j), 0);
	assert_int_equal(j.retries, 1);
	assert_int_equal(j.status, STORE_QUEUED);
	store_invocation_clear(&j);
}

static void same_hosts(struct store *a, struct store *b)
{
	struct store_host *ha, *hb;
	size_t na, nb;
	assert_int_equal(store_host_list(a, &ha, &na), 0);
	assert_int_equal(store_host_list(b, &hb, &nb), 0);
	assert_int_equal(na, 3);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_string_equal(ha[i].id, hb[i].id);
		assert_string_equal(ha[i].address, hb[i].address);
		assert_int_equal(ha[i].cores, hb[i].cores);
		assert_int_equal(ha[i].registered_ms, hb[i].registered_ms);
		assert_int_equal(ha[i].last_seen_ms, hb[i].last_seen_ms);
		assert_int_equal(ha[i].down, hb[i].down);
		assert_int_equal(ha[i].draining, hb[i].draining);
	}
	free(ha);
	free(hb);
}

/* The rows each table took, and what the bytes took between from_engine and to_engine. */
static void expect_counts(const struct store_migrate_count *counts, int n, const char *from_engine,
			  const char *to_engine)
{
	const char *names[] = { "tenants",           "api_keys",    "artifacts", "functions",
				"function_versions", "invocations", "hosts",     NULL };
	int64_t rows[] = { 2, 3, 3, 3, 4, SAMPLE_INVOCATIONS, 3, 0 };
	bool from_pg = !strcmp(from_engine, "postgres"), to_pg = !strcmp(to_engine, "postgres");
	/* A's 3 chunks and B's one; or A's and B's files. */
	if (from_pg || to_pg) {
		names[7] = from_pg && to_pg ? "artifact_chunks" : "artifact files";
		rows[7] = from_pg && to_pg ? 4 : 2;
	}
	assert_int_equal(n, names[7] ? 8 : 7);
	for (int i = 0; i < n; i++) {
		assert_string_equal(counts[i].table, names[i]);
		assert_int_equal(counts[i].rows, rows[i]);
	}
}

/* Fills a new store on engine from, copies it into a new one on engine to, and compares. */
static void migrate_between(const char *from_engine, const char *to_engine)
{
	struct side from, to;
	open_new(&from, from_engine);
	open_new(&to, to_engine);
	struct sample x;
	sample_fill(from.s, &x, from.dir);
	struct store_migrate_count counts[MAX_TABLES];
	char what[512];
	/* The files are the SQLite side's. */
	const char *dir = !strcmp(from_engine, "sqlite") ? from.dir : to.dir;
	int n = store_migrate(from.s, to.s, dir, counts, MAX_TABLES, what, sizeof(what));
	if (n < 0)
		fail_msg("store_migrate: %s (%s)", strerror(-n), what);
	expect_counts(counts, n, from_engine, to_engine);
	same_tenants(from.s, to.s);
	same_keys(from.s, to.s, &x);
	same_functions(from.s, to.s, &x);
	same_invocations(from.s, to.s, &x);
	same_hosts(from.s, to.s);
	if (strcmp(from_engine, "sqlite") || strcmp(to_engine, "sqlite"))
		same_artifact_bytes(&to, &x);
	/* The copy goes on where the source left off. */
	struct store_limits plain = { 1000, 128, 4, "process", false, FN_RUNTIME_BINARY, "" };
	int64_t v = 0;
	assert_int_equal(
		store_function_put(to.s, "acme", "echo", x.digest[0], x.size[0], &plain, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(
		store_function_put(to.s, "acme", "gone", x.digest[2], x.size[2], &plain, &v), 0);
	assert_int_equal(v, 2);
	store_close(to.s);
	store_close(from.s);
}

static void test_sqlite_to_sqlite(void **state)
{
	migrate_between("sqlite", "sqlite");
}

/* Whether this build's store runs on PostgreSQL, and a server is up for it. */
static bool pg_ready(void)
{
	if (!pg_up)
		return false;
	char uri[600];
	snprintf(uri, sizeof(uri), "postgres:%s", pg.conninfo);
	struct store *s = NULL;
	int r = store_open(uri, &s);
	store_close(s);
	if (r == -EPROTONOSUPPORT)
		printf("postgres: skipped: this build's store has no PostgreSQL engine\n");
	else if (r < 0)
		fail_msg("store_open %s: %s", uri, strerror(-r));
	return r == 0;
}

/* The pairs with PostgreSQL on a side: {from, to}, each a test's initial state. */
static const char *const PG_PAIRS[][2] = {
	{ "sqlite", "postgres" },
	{ "postgres", "sqlite" },
	{ "postgres", "postgres" },
};

static void test_with_postgres(void **state)
{
	const char *const *pair = *state;
	if (!pg_ready())
		skip();
	migrate_between(pair[0], pair[1]);
}

/* An artifact whose file is missing fails the copy into PostgreSQL, which keeps nothing. */
static void test_missing_artifact_file(void **state)
{
	if (!pg_ready())
		skip();
	struct side from, to;
	open_new(&from, "sqlite");
	open_new(&to, "postgres");
	struct sample x;
	sample_fill(from.s, &x, from.dir);
	char path[512], what[512];
	snprintf(path, sizeof(path), "%s/%s", from.dir, x.digest[1]);
	assert_int_equal(unlink(path), 0);
	struct store_migrate_count counts[MAX_TABLES];
	assert_int_equal(
		store_migrate(from.s, to.s, from.dir, counts, MAX_TABLES, what, sizeof(what)),
		-ENOENT);
	assert_non_null(strstr(what, x.digest[1]));
	struct store_tenant *t;
	size_t n;
	assert_int_equal(store_tenant_list(to.s, &t, &n), 0);
	assert_int_equal(n, 0);
	free(t);
	store_close(to.s);
	store_close(from.s);
}

/* A target with any row is refused, whichever table holds it, and keeps what it had. */
static void test_refuses_a_target_with_data(void **state)
{
	struct side from, to;
	open_new(&from, "sqlite");
	open_new(&to, "sqlite");
	struct sample x;
	sample_fill(from.s, &x, from.dir);
	assert_int_equal(store_host_register(to.s, "only", "http://10.0.0.9:7070", 1), 0);
	struct store_migrate_count counts[MAX_TABLES];
	char what[512];
	assert_int_equal(store_migrate(from.s, to.s, NULL, counts, MAX_TABLES, what, sizeof(what)),
			 -ENOTEMPTY);
	assert_string_equal(what, "table hosts");
	struct store_tenant *t;
	size_t n;
	assert_int_equal(store_tenant_list(to.s, &t, &n), 0);
	assert_int_equal(n, 0);
	free(t);
	struct store_host *h;
	assert_int_equal(store_host_list(to.s, &h, &n), 0);
	assert_int_equal(n, 1);
	free(h);
	/* The source is untouched, and a full copy is refused the same way. */
	assert_int_equal(store_migrate(to.s, from.s, NULL, counts, MAX_TABLES, what, sizeof(what)),
			 -ENOTEMPTY);
	assert_string_equal(what, "table tenants");
	store_close(to.s);
	store_close(from.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sqlite_to_sqlite),
		cmocka_unit_test(test_refuses_a_target_with_data),
		{ "sqlite_to_postgres", test_with_postgres, NULL, NULL, (void *)PG_PAIRS[0] },
		{ "postgres_to_sqlite", test_with_postgres, NULL, NULL, (void *)PG_PAIRS[1] },
		{ "postgres_to_postgres", test_with_postgres, NULL, NULL, (void *)PG_PAIRS[2] },
		cmocka_unit_test(test_missing_artifact_file),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
