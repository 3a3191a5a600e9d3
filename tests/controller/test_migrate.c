/* store_migrate: a store with every kind of row (migrate_sample.h) copied into an empty
 * SQLite store and, where PostgreSQL can run, into a PostgreSQL one (tests/support/pgserver),
 * then read back through the store's API: the same tenants, keys (their tokens still verify,
 * the revoked one still does not), artifacts, functions and versions, invocation records
 * with their payloads' bytes, and hosts; and the target goes on from there (the next
 * version number, new rows). A target holding rows is refused and left as it was. */
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

/* A new store: SQLite in a fresh file, or a fresh PostgreSQL database. */
static struct store *open_new(const char *engine, char *uri, size_t size)
{
	static int n;
	if (strcmp(engine, "sqlite") == 0) {
		snprintf(uri, size, "sqlite:%s/db%d.sqlite", scratch, ++n);
	} else {
		char conninfo[512];
		assert_int_equal(pgserver_new_db(&pg, conninfo, sizeof(conninfo)), 0);
		snprintf(uri, size, "postgres:%s", conninfo);
	}
	struct store *s = NULL;
	int r = store_open(uri, &s);
	if (r < 0)
		fail_msg("store_open %s: %s", uri, strerror(-r));
	return s;
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

static void same_functions(struct store *a, struct store *b)
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
	assert_int_equal(store_artifact_get(b, SAMPLE_DIGEST_A, &size), 0);
	assert_int_equal(size, 10);
	assert_int_equal(store_artifact_get(b, SAMPLE_DIGEST_C, &size), -ENOENT);
}

static void same_bytes(const uint8_t *p, size_t n, const uint8_t *q, size_t m)
{
	assert_int_equal(n, m);
	if (n)
		assert_memory_equal(p, q, n);
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

/* Fills a new store on engine from, copies it into a new one on engine to, and compares. */
static void migrate_between(const char *from_engine, const char *to_engine)
{
	char from_uri[600], to_uri[600];
	struct store *from = open_new(from_engine, from_uri, sizeof(from_uri));
	struct store *to = open_new(to_engine, to_uri, sizeof(to_uri));
	struct sample x;
	sample_fill(from, &x);
	struct store_migrate_count counts[MAX_TABLES];
	const char *table = NULL;
	int tables = store_migrate(from, to, counts, MAX_TABLES, &table);
	if (tables < 0)
		fail_msg("store_migrate: %s (table %s)", strerror(-tables), table);
	const char *const names[] = { "tenants",           "api_keys",    "artifacts", "functions",
				      "function_versions", "invocations", "hosts" };
	const int64_t rows[] = { 2, 3, 3, 3, 4, SAMPLE_INVOCATIONS, 3 };
	assert_int_equal(tables, 7);
	for (int i = 0; i < tables; i++) {
		assert_string_equal(counts[i].table, names[i]);
		assert_int_equal(counts[i].rows, rows[i]);
	}
	same_tenants(from, to);
	same_keys(from, to, &x);
	same_functions(from, to);
	same_invocations(from, to, &x);
	same_hosts(from, to);
	/* The copy goes on where the source left off. */
	struct store_limits plain = { 1000, 128, 4, "process", false, FN_RUNTIME_BINARY, "" };
	int64_t v = 0;
	assert_int_equal(store_function_put(to, "acme", "echo", SAMPLE_DIGEST_A, 10, &plain, &v),
			 0);
	assert_int_equal(v, 3);
	assert_int_equal(store_function_put(to, "acme", "gone", SAMPLE_DIGEST_C, 30, &plain, &v),
			 0);
	assert_int_equal(v, 2);
	store_close(to);
	store_close(from);
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

static void test_sqlite_to_postgres(void **state)
{
	if (!pg_ready())
		skip();
	migrate_between("sqlite", "postgres");
}

static void test_postgres_to_sqlite(void **state)
{
	if (!pg_ready())
		skip();
	migrate_between("postgres", "sqlite");
}

/* A target with any row is refused, whichever table holds it, and keeps what it had. */
static void test_refuses_a_target_with_data(void **state)
{
	char uri[600];
	struct store *from = open_new("sqlite", uri, sizeof(uri));
	struct store *to = open_new("sqlite", uri, sizeof(uri));
	struct sample x;
	sample_fill(from, &x);
	assert_int_equal(store_host_register(to, "only", "http://10.0.0.9:7070", 1), 0);
	struct store_migrate_count counts[MAX_TABLES];
	const char *table = NULL;
	assert_int_equal(store_migrate(from, to, counts, MAX_TABLES, &table), -ENOTEMPTY);
	assert_string_equal(table, "hosts");
	struct store_tenant *t;
	size_t n;
	assert_int_equal(store_tenant_list(to, &t, &n), 0);
	assert_int_equal(n, 0);
	free(t);
	struct store_host *h;
	assert_int_equal(store_host_list(to, &h, &n), 0);
	assert_int_equal(n, 1);
	free(h);
	/* The source is untouched, and a full copy is refused the same way. */
	assert_int_equal(store_migrate(to, from, counts, MAX_TABLES, &table), -ENOTEMPTY);
	assert_string_equal(table, "tenants");
	store_close(to);
	store_close(from);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sqlite_to_sqlite),
		cmocka_unit_test(test_refuses_a_target_with_data),
		cmocka_unit_test(test_sqlite_to_postgres),
		cmocka_unit_test(test_postgres_to_sqlite),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
