#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"

/* Each test gets a fresh database in its own temporary folder. */
struct fixture {
	char dir[64];
	char path[128];
	struct store *s;
};

static const struct store_limits LIMITS = { 1000, 128, 4, "process" };
static const char DIGEST_A[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char DIGEST_B[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ditto-store-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/ditto.db", f->dir);
	if (store_open(f->path, &f->s) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	for (size_t i = 0; i < 3; i++) {
		char p[160];
		snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the wall clock to pass ms, so later records get later times. */
static void clock_pass(int64_t ms)
{
	while (wall_ms() <= ms)
		sched_yield();
}

static void put_fn(struct store *s, const char *tenant, const char *name, int64_t want_version)
{
	int64_t v = 0;
	assert_int_equal(store_function_put(s, tenant, name, DIGEST_A, 10, &LIMITS, &v), 0);
	assert_int_equal(v, want_version);
}

static void finish(struct store *s, const char *id, enum store_status status)
{
	struct store_outcome o = { .status = status };
	assert_int_equal(store_invocation_finish(s, id, &o), 0);
}

static void test_reopen_keeps_everything(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_tenant_create(f->s, "acme"), 0);
	char token[STORE_TOKEN_SIZE], id[STORE_ID_SIZE];
	assert_int_equal(store_key_create(f->s, "acme", token), 0);
	put_fn(f->s, "acme", "hello", 1);
	assert_int_equal(store_invocation_create(f->s, "acme", "hello", 1, false, "{}", 2, id), 0);
	assert_int_equal(store_host_register(f->s, "h1", "127.0.0.1:7000", 2), 0);
	store_close(f->s);
	f->s = NULL;

	assert_int_equal(store_open(f->path, &f->s), 0);
	struct store_tenant t;
	assert_int_equal(store_tenant_get(f->s, "acme", &t), 0);
	char tenant[STORE_NAME_SIZE];
	bool admin = true;
	assert_int_equal(store_key_verify(f->s, token, tenant, &admin), 0);
	assert_string_equal(tenant, "acme");
	assert_false(admin);
	struct store_function fn;
	assert_int_equal(store_function_get(f->s, "acme", "hello", 0, &fn), 0);
	assert_int_equal(fn.version, 1);
	struct store_invocation inv;
	assert_int_equal(store_invocation_get(f->s, "acme", id, &inv), 0);
	assert_int_equal(inv.input_len, 2);
	assert_memory_equal(inv.input, "{}", 2);
	store_invocation_clear(&inv);
	struct store_host h;
	assert_int_equal(store_host_get(f->s, "h1", &h), 0);
	assert_int_equal(h.cores, 2);
	store_close(f->s);
	f->s = NULL;

	/* A database from a newer schema is refused, not misread. */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	int user_version = 0;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	user_version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	assert_true(user_version >= 1);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 9999", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(f->path, &f->s), -EPROTO);
	assert_null(f->s);
}

static void test_tenants(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	assert_int_equal(store_tenant_create(s, "zeta"), 0);
	assert_int_equal(store_tenant_create(s, "acme-1"), 0);
	assert_int_equal(store_tenant_create(s, "acme-1"), -EEXIST);
	char long_name[65];
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	const char *bad[] = { "", "Acme", "a_b", "a.b", "a b", long_name };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(store_tenant_create(s, bad[i]), -EINVAL);
	long_name[63] = '\0';
	assert_int_equal(store_tenant_create(s, long_name), 0);

	struct store_tenant t;
	assert_int_equal(store_tenant_get(s, "acme-1", &t), 0);
	assert_string_equal(t.name, "acme-1");
	assert_true(t.created_ms > 0);
	assert_int_equal(t.scaling.min_workers, 0);
	assert_int_equal(t.scaling.max_workers, 4);
	assert_string_equal(t.scaling.mechanism, "precreated");
	assert_string_equal(t.scaling.policy, "elastic");
	assert_int_equal(store_tenant_get(s, "nobody", &t), -ENOENT);

	struct store_scaling sc = { 1, 8, "precreated", "fixed:4" };
	assert_int_equal(store_tenant_set_scaling(s, "acme-1", &sc), 0);
	assert_int_equal(store_tenant_get(s, "acme-1", &t), 0);
	assert_int_equal(t.scaling.min_workers, 1);
	assert_int_equal(t.scaling.max_workers, 8);
	assert_string_equal(t.scaling.mechanism, "precreated");
	assert_string_equal(t.scaling.policy, "fixed:4");
	assert_int_equal(store_tenant_set_scaling(s, "nobody", &sc), -ENOENT);
	struct store_scaling bad_sc[] = {
		{ 5, 4, "hotplug", "elastic" },
		{ 0, 0, "hotplug", "elastic" },
		{ 0, 4, "magic", "elastic" },
		{ 0, 4, "hotplug", "" },
		{ 0, STORE_MAX_WORKERS + 1, "hotplug", "elastic" },
	};
	for (size_t i = 0; i < sizeof(bad_sc) / sizeof(bad_sc[0]); i++)
		assert_int_equal(store_tenant_set_scaling(s, "acme-1", &bad_sc[i]), -EINVAL);

	struct store_tenant *list;
	size_t n;
	assert_int_equal(store_tenant_list(s, &list, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].name, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_string_equal(list[1].name, "acme-1");
	assert_string_equal(list[2].name, "zeta");
	free(list);
}

static void test_keys(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	assert_int_equal(store_tenant_create(s, "acme"), 0);
	char token[STORE_TOKEN_SIZE], admin_token[STORE_TOKEN_SIZE], other[STORE_TOKEN_SIZE];
	assert_int_equal(store_key_create(s, "acme", token), 0);
	assert_int_equal(strlen(token), STORE_TOKEN_SIZE - 1);
	assert_memory_equal(token, "dk_", 3);
	assert_int_equal(store_key_create(s, NULL, admin_token), 0);
	assert_int_equal(store_key_create(s, "acme", other), 0);
	assert_string_not_equal(token, other);
	assert_int_equal(store_key_create(s, "nobody", other), -ENOENT);

	char tenant[STORE_NAME_SIZE];
	bool admin = true;
	assert_int_equal(store_key_verify(s, token, tenant, &admin), 0);
	assert_string_equal(tenant, "acme");
	assert_false(admin);
	assert_int_equal(store_key_verify(s, admin_token, tenant, &admin), 0);
	assert_string_equal(tenant, "");
	assert_true(admin);

	/* Right key id, wrong secret. */
	char wrong[STORE_TOKEN_SIZE];
	memcpy(wrong, token, sizeof(wrong));
	wrong[STORE_TOKEN_SIZE - 2] = wrong[STORE_TOKEN_SIZE - 2] == '0' ? '1' : '0';
	assert_int_equal(store_key_verify(s, wrong, tenant, &admin), -EACCES);
	const char *garbage[] = { "", "dk_", "dk_xyz", "Bearer x", "dk_0000000000000000000000000000000000000000" };
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		assert_int_equal(store_key_verify(s, garbage[i], tenant, &admin), -EACCES);
	char longer[STORE_TOKEN_SIZE + 1];
	snprintf(longer, sizeof(longer), "%s0", token);
	assert_int_equal(store_key_verify(s, longer, tenant, &admin), -EACCES);

	/* Revoking by key id, the token's prefix. */
	char key_id[STORE_KEY_ID_SIZE];
	memcpy(key_id, token, STORE_KEY_ID_SIZE - 1);
	key_id[STORE_KEY_ID_SIZE - 1] = '\0';
	assert_int_equal(store_key_revoke(s, key_id), 0);
	assert_int_equal(store_key_verify(s, token, tenant, &admin), -EACCES);
	assert_int_equal(store_key_revoke(s, key_id), -ENOENT);
	assert_int_equal(store_key_verify(s, other, tenant, &admin), 0);
}

/* The database holds the key id but never the token's secret part. */
static void test_no_token_in_clear(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_tenant_create(f->s, "acme"), 0);
	char token[STORE_TOKEN_SIZE];
	assert_int_equal(store_key_create(f->s, "acme", token), 0);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM api_keys WHERE instr(key_id, ?1)"
						" OR instr(hash, ?1) OR instr(salt, ?1)",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, token + 15, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_functions(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->s;
	assert_int_equal(store_tenant_create(s, "acme"), 0);
	assert_int_equal(store_tenant_create(s, "beta"), 0);
	int64_t v = 0;
	assert_int_equal(store_function_put(s, "acme", "Hello_1.x-y", DIGEST_A, 10, &LIMITS, &v), 0);
	assert_int_equal(v, 1);
	struct store_limits persistent = { 5000, 256, 2, "persistent" };
	assert_int_equal(store_function_put(s, "acme", "Hello_1.x-y", DIGEST_B, 20, &persistent, &v), 0);
	assert_int_equal(v, 2);

	struct store_function fn;
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 0, &fn), 0);
	assert_int_equal(fn.version, 2);
	assert_string_equal(fn.digest, DIGEST_B);
	assert_int_equal(fn.size, 20);
	assert_int_equal(fn.limits.timeout_ms, 5000);
	assert_int_equal(fn.limits.memory_mib, 256);
	assert_int_equal(fn.limits.max_concurrency, 2);
	assert_string_equal(fn.limits.mode, "persistent");
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 1, &fn), 0);
	assert_int_equal(fn.version, 1);
	assert_string_equal(fn.digest, DIGEST_A);
	assert_string_equal(fn.limits.mode, "process");
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 3, &fn), -ENOENT);
	uint64_t size;
	assert_int_equal(store_artifact_get(s, DIGEST_B, &size), 0);
	assert_int_equal(size, 20);

	/* Stored versions cannot be changed, even bypassing the store. */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "UPDATE function_versions SET timeout_ms = 1", NULL, NULL, NULL),
			     SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 1, &fn), 0);
	assert_int_equal(fn.limits.timeout_ms, 1000);

	/* Tenants see only their own functions. */
	assert_int_equal(store_function_get(s, "beta", "Hello_1.x-y", 0, &fn), -ENOENT);
	put_fn(s, "beta", "Hello_1.x-y", 1);
	put_fn(s, "acme", "other", 1);
	struct store_function *list;
	size_t n;
	assert_int_equal(store_function_list(s, "acme", &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "Hello_1.x-y");
	assert_int_equal(list[0].version, 2);
	assert_string_equal(list[1].name, "other");
	free(list);
	assert_int_equal(store_function_list(s, "beta", &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].tenant, "beta");
	free(list);

	/* Bad input. */
	assert_int_equal(store_function_put(s, "acme", "a/b", DIGEST_A, 10, &LIMITS, &v), -EINVAL);
	assert_int_equal(store_function_put(s, "acme", "", DIGEST_A, 10, &LIMITS, &v), -EINVAL);
	assert_int_equal(store_function_put(s, "acme", "f", "ABC", 10, &LIMITS, &v), -EINVAL);
	struct store_limits bad = LIMITS;
	strcpy(bad.mode, "thread");
	assert_int_equal(store_function_put(s, "acme", "f", DIGEST_A, 10, &bad, &v), -EINVAL);
	bad = LIMITS;
	bad.timeout_ms = 0;
	assert_int_equal(store_function_put(s, "acme", "f", DIGEST_A, 10, &bad, &v), -EINVAL);
	assert_int_equal(store_function_put(s, "nobody", "f", DIGEST_A, 10, &LIMITS, &v), -ENOENT);
	assert_int_equal(store_function_put(s, "acme", "f", DIGEST_A, 11, &LIMITS, &v), -EEXIST);
	assert_int_equal(store_function_get(s, "acme", "f", 0, &fn), -ENOENT);

	/* Delete, then re-create: numbering goes on, old versions stay gone. */
	assert_int_equal(store_function_delete(s, "acme", "Hello_1.x-y"), 0);
	assert_int_equal(store_function_delete(s, "acme", "Hello_1.x-y"), -ENOENT);
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 0, &fn), -ENOENT);
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 1, &fn), -ENOENT);
	assert_int_equal(store_function_get(s, "beta", "Hello_1.x-y", 0, &fn), 0);
	assert_int_equal(store_function_list(s, "acme", &list, &n), 0);
	assert_int_equal(n, 1);
	free(list);
	put_fn(s, "acme", "Hello_1.x-y", 3);
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 0, &fn), 0);
	assert_int_equal(fn.version, 3);
	assert_int_equal(store_function_get(s, "acme", "Hello_1.x-y", 2, &fn), -ENOENT);
}

static void test_invocation_lifecycle(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	assert_int_equal(store_tenant_create(s, "acme"), 0);
	assert_int_equal(store_tenant_create(s, "beta"), 0);
	put_fn(s, "acme", "hello", 1);
	char id[STORE_ID_SIZE], id2[STORE_ID_SIZE];
	assert_int_equal(store_invocation_create(s, "acme", "hello", 2, false, NULL, 0, id), -ENOENT);
	assert_int_equal(store_invocation_create(s, "beta", "hello", 1, false, NULL, 0, id), -ENOENT);
	assert_int_equal(store_invocation_create(s, "acme", "hello", 1, true, "\0in", 3, id), 0);
	assert_int_equal(store_invocation_create(s, "acme", "hello", 1, true, NULL, 0, id2), 0);
	assert_string_not_equal(id, id2);
	assert_int_equal(strlen(id), STORE_ID_SIZE - 1);

	struct store_invocation inv;
	assert_int_equal(store_invocation_get(s, "acme", id, &inv), 0);
	assert_int_equal(inv.status, STORE_QUEUED);
	assert_true(inv.async);
	assert_int_equal(inv.cpu, -1);
	assert_int_equal(inv.started_ms, 0);
	assert_int_equal(inv.input_len, 3);
	assert_memory_equal(inv.input, "\0in", 3);
	assert_null(inv.result);
	store_invocation_clear(&inv);

	assert_int_equal(store_invocation_start(s, id, "h1", "vm-acme", 3), 0);
	assert_int_equal(store_invocation_start(s, id, "h1", "vm-acme", 3), -EALREADY);
	assert_int_equal(store_invocation_start(s, "00", "h1", "vm-acme", 3), -ENOENT);
	assert_int_equal(store_invocation_get(s, "acme", id, &inv), 0);
	assert_int_equal(inv.status, STORE_RUNNING);
	assert_string_equal(inv.host, "h1");
	assert_string_equal(inv.vm, "vm-acme");
	assert_int_equal(inv.cpu, 3);
	assert_true(inv.started_ms >= inv.created_ms);
	store_invocation_clear(&inv);

	const uint8_t result[] = { '{', '}', 0, 0xff };
	struct store_outcome o = {
		.status = STORE_ERROR, .result = result, .result_len = sizeof(result),
		.log = "oops\n", .log_len = 5, .error = "exit status 3",
		.queued_us = 10, .cold_start_us = 20, .exec_us = 30, .total_us = 60, .cold_start = true,
	};
	struct store_outcome bad = { .status = STORE_RUNNING };
	assert_int_equal(store_invocation_finish(s, id, &bad), -EINVAL);
	assert_int_equal(store_invocation_finish(s, id, &o), 0);
	assert_int_equal(store_invocation_finish(s, id, &o), -EALREADY);
	assert_int_equal(store_invocation_finish(s, "00", &o), -ENOENT);

	/* Another tenant cannot read it; the controller (NULL) can. */
	assert_int_equal(store_invocation_get(s, "beta", id, &inv), -ENOENT);
	assert_int_equal(store_invocation_get(s, NULL, id, &inv), 0);
	assert_int_equal(inv.status, STORE_ERROR);
	assert_string_equal(inv.tenant, "acme");
	assert_string_equal(inv.function, "hello");
	assert_int_equal(inv.version, 1);
	assert_int_equal(inv.result_len, sizeof(result));
	assert_memory_equal(inv.result, result, sizeof(result));
	assert_int_equal(inv.log_len, 5);
	assert_memory_equal(inv.log, "oops\n", 5);
	assert_string_equal(inv.error, "exit status 3");
	assert_int_equal(inv.queued_us, 10);
	assert_int_equal(inv.cold_start_us, 20);
	assert_int_equal(inv.exec_us, 30);
	assert_int_equal(inv.total_us, 60);
	assert_true(inv.cold_start);
	assert_true(inv.finished_ms >= inv.started_ms);
	store_invocation_clear(&inv);

	/* A queued invocation can finish directly (e.g. rejected before it ran). */
	finish(s, id2, STORE_TIMEOUT);
	assert_int_equal(store_invocation_get(s, "acme", id2, &inv), 0);
	assert_int_equal(inv.status, STORE_TIMEOUT);
	store_invocation_clear(&inv);

	enum store_status st;
	assert_int_equal(store_status_parse("timeout", &st), 0);
	assert_int_equal(st, STORE_TIMEOUT);
	assert_int_equal(store_status_parse("done", &st), -EINVAL);
	assert_string_equal(store_status_name(STORE_RUNNING), "running");
}

#define N_LIST 25

/* An async invocation whose host was lost goes back to the queue once per
 * requeue; finishing records the vCPU it ran on. */
static void test_requeue_and_cpu(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	assert_int_equal(store_tenant_create(s, "acme"), 0);
	put_fn(s, "acme", "hello", 1);
	char a[STORE_ID_SIZE], b[STORE_ID_SIZE];
	assert_int_equal(store_invocation_create(s, "acme", "hello", 1, true, "{}", 2, a), 0);
	assert_int_equal(store_invocation_create(s, "acme", "hello", 1, false, "{}", 2, b), 0);
	assert_int_equal(store_invocation_start(s, a, "h1", "acme", -1), 0);
	assert_int_equal(store_invocation_requeue(s, a), 0);
	struct store_invocation inv;
	assert_int_equal(store_invocation_get(s, "acme", a, &inv), 0);
	assert_int_equal(inv.status, STORE_QUEUED);
	assert_int_equal(inv.retries, 1);
	assert_string_equal(inv.host, "");
	store_invocation_clear(&inv);
	/* A sync invocation that starts at once is one write, without input. */
	char c[STORE_ID_SIZE];
	assert_int_equal(store_invocation_new_id(c), 0);
	assert_int_equal(store_invocation_create_running(s, c, 1700000000000, "acme", "hello", 1, "h3", "acme"), 0);
	assert_int_equal(store_invocation_create_running(s, c, 1700000000000, "acme", "hello", 1, "h3", "acme"),
			 -EEXIST);
	assert_int_equal(store_invocation_get(s, "acme", c, &inv), 0);
	assert_int_equal(inv.status, STORE_RUNNING);
	assert_string_equal(inv.host, "h3");
	assert_int_equal(inv.created_ms, 1700000000000);
	assert_int_equal(inv.started_ms, 1700000000000);
	assert_null(inv.input);
	store_invocation_clear(&inv);
	char d[STORE_ID_SIZE];
	assert_int_equal(store_invocation_new_id(d), 0);
	assert_string_not_equal(c, d);
	assert_int_equal(store_invocation_create_running(s, d, 1700000000000, "acme", "hello", 7, "h3", "acme"),
			 -ENOENT);
	assert_int_equal(store_invocation_create_running(s, d, 1700000000000, "acme", "hello", 1, NULL, "acme"),
			 -EINVAL);
	assert_int_equal(store_invocation_create_running(s, "xyz", 1700000000000, "acme", "hello", 1, "h3", "acme"),
			 -EINVAL);
	/* Checkpoints run on demand when automatic ones are off. */
	assert_int_equal(store_set_autocheckpoint(s, 0), 0);
	assert_int_equal(store_checkpoint(s), 0);
	/* A sync one is never requeued: its client is waiting for an answer. */
	assert_int_equal(store_invocation_requeue(s, b), -EALREADY);
	assert_int_equal(store_invocation_requeue(s, "00"), -ENOENT);

	assert_int_equal(store_invocation_start(s, a, "h2", "acme", -1), 0);
	struct store_outcome o = { .status = STORE_OK, .cpu = 5 };
	assert_int_equal(store_invocation_finish(s, a, &o), 0);
	assert_int_equal(store_invocation_requeue(s, a), -EALREADY);
	assert_int_equal(store_invocation_get(s, "acme", a, &inv), 0);
	assert_int_equal(inv.cpu, 5);
	assert_string_equal(inv.host, "h2");
	store_invocation_clear(&inv);
}

static void test_list_paging(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	assert_int_equal(store_tenant_create(s, "acme"), 0);
	assert_int_equal(store_tenant_create(s, "beta"), 0);
	put_fn(s, "acme", "f", 1);
	put_fn(s, "acme", "g", 1);
	put_fn(s, "beta", "f", 1);
	char ids[N_LIST][STORE_ID_SIZE], id[STORE_ID_SIZE];
	for (int i = 0; i < N_LIST; i++) {
		assert_int_equal(store_invocation_create(s, "acme", i % 3 ? "f" : "g", 1, false, "x", 1, ids[i]), 0);
		if (i % 2)
			finish(s, ids[i], STORE_OK);
	}
	assert_int_equal(store_invocation_create(s, "beta", "f", 1, false, NULL, 0, id), 0);

	/* Page through with several page sizes: every record exactly once,
	 * newest first. */
	const unsigned sizes[] = { 1, 4, 7, 25, 1000 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		bool seen[N_LIST] = { false };
		size_t total = 0;
		char cursor[STORE_CURSOR_SIZE] = "";
		int64_t last_ms = INT64_MAX;
		char last_id[STORE_ID_SIZE] = "g";
		do {
			struct store_invocation *page;
			size_t n;
			char next[STORE_CURSOR_SIZE];
			assert_int_equal(store_invocation_list(s, "acme", NULL, cursor, sizes[k], &page, &n, next), 0);
			assert_true(n <= sizes[k]);
			for (size_t i = 0; i < n; i++) {
				assert_null(page[i].input);
				assert_true(page[i].created_ms < last_ms ||
					    (page[i].created_ms == last_ms && strcmp(page[i].id, last_id) < 0));
				last_ms = page[i].created_ms;
				strcpy(last_id, page[i].id);
				int found = -1;
				for (int j = 0; j < N_LIST; j++)
					if (!strcmp(ids[j], page[i].id))
						found = j;
				assert_true(found >= 0);
				assert_false(seen[found]);
				seen[found] = true;
				total++;
			}
			if (next[0])
				assert_int_equal(n, sizes[k]);
			strcpy(cursor, next);
			store_invocations_free(page, n);
		} while (cursor[0]);
		assert_int_equal(total, N_LIST);
	}

	/* Filters. */
	struct store_invocation *page;
	size_t n;
	char next[STORE_CURSOR_SIZE];
	struct store_filter by_g = { .function = "g" };
	assert_int_equal(store_invocation_list(s, "acme", &by_g, NULL, 1000, &page, &n, next), 0);
	assert_int_equal(n, 9); /* i = 0, 3, ..., 24 */
	for (size_t i = 0; i < n; i++)
		assert_string_equal(page[i].function, "g");
	assert_string_equal(next, "");
	store_invocations_free(page, n);
	struct store_filter ok_f = { .function = "f", .has_status = true, .status = STORE_OK };
	assert_int_equal(store_invocation_list(s, "acme", &ok_f, NULL, 1000, &page, &n, next), 0);
	size_t want = 0;
	for (int i = 0; i < N_LIST; i++)
		want += (i % 2) && (i % 3);
	assert_int_equal(n, want);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(page[i].status, STORE_OK);
	store_invocations_free(page, n);
	assert_int_equal(store_invocation_list(s, "beta", NULL, NULL, 1000, &page, &n, next), 0);
	assert_int_equal(n, 1);
	assert_string_equal(page[0].id, id);
	store_invocations_free(page, n);

	assert_int_equal(store_invocation_list(s, "acme", NULL, NULL, 0, &page, &n, next), -EINVAL);
	assert_int_equal(store_invocation_list(s, "acme", NULL, NULL, 1001, &page, &n, next), -EINVAL);
	assert_int_equal(store_invocation_list(s, "acme", NULL, "garbage", 10, &page, &n, next), -EINVAL);
	assert_int_equal(store_invocation_list(s, "acme", NULL, "12.zz", 10, &page, &n, next), -EINVAL);
}

static void test_retention(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	assert_int_equal(store_tenant_create(s, "acme"), 0);
	assert_int_equal(store_tenant_create(s, "beta"), 0);
	put_fn(s, "acme", "f", 1);
	put_fn(s, "beta", "f", 1);
	struct store_invocation inv;
	char old[STORE_ID_SIZE], young[STORE_ID_SIZE], queued[STORE_ID_SIZE];
	assert_int_equal(store_invocation_create(s, "acme", "f", 1, false, NULL, 0, queued), 0);
	assert_int_equal(store_invocation_create(s, "acme", "f", 1, false, NULL, 0, old), 0);
	finish(s, old, STORE_OK);
	assert_int_equal(store_invocation_get(s, "acme", old, &inv), 0);
	int64_t old_finished = inv.finished_ms;
	store_invocation_clear(&inv);
	clock_pass(old_finished);
	assert_int_equal(store_invocation_create(s, "acme", "f", 1, false, NULL, 0, young), 0);
	finish(s, young, STORE_OK);
	assert_int_equal(store_invocation_get(s, "acme", young, &inv), 0);
	int64_t cutoff = inv.finished_ms;
	store_invocation_clear(&inv);

	/* By age: only what finished before the cutoff goes. */
	size_t deleted = 99;
	assert_int_equal(store_invocations_prune(s, cutoff, 0, &deleted), 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(store_invocation_get(s, "acme", old, &inv), -ENOENT);
	assert_int_equal(store_invocation_get(s, "acme", young, &inv), 0);
	store_invocation_clear(&inv);

	/* By count, per tenant: acme keeps its 2 newest finished records,
	 * beta's are not counted against acme's. */
	char a[5][STORE_ID_SIZE], b[3][STORE_ID_SIZE];
	for (int i = 0; i < 5; i++) {
		clock_pass(wall_ms());
		assert_int_equal(store_invocation_create(s, "acme", "f", 1, false, NULL, 0, a[i]), 0);
		finish(s, a[i], STORE_OK);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(store_invocation_create(s, "beta", "f", 1, false, NULL, 0, b[i]), 0);
		finish(s, b[i], STORE_ERROR);
	}
	assert_int_equal(store_invocations_prune(s, 0, 2, &deleted), 0);
	assert_int_equal(deleted, 4 + 1); /* acme: young, a0..a2; beta: b's oldest */
	assert_int_equal(store_invocation_get(s, "acme", a[4], &inv), 0);
	store_invocation_clear(&inv);
	assert_int_equal(store_invocation_get(s, "acme", a[3], &inv), 0);
	store_invocation_clear(&inv);
	assert_int_equal(store_invocation_get(s, "acme", a[2], &inv), -ENOENT);
	assert_int_equal(store_invocation_get(s, "acme", young, &inv), -ENOENT);

	/* Unfinished records are never pruned. */
	assert_int_equal(store_invocations_prune(s, INT64_MAX, 1, NULL), 0);
	assert_int_equal(store_invocation_get(s, "acme", queued, &inv), 0);
	assert_int_equal(inv.status, STORE_QUEUED);
	store_invocation_clear(&inv);
	struct store_invocation *page;
	size_t n;
	char next[STORE_CURSOR_SIZE];
	assert_int_equal(store_invocation_list(s, "acme", NULL, NULL, 100, &page, &n, next), 0);
	assert_int_equal(n, 1);
	store_invocations_free(page, n);
}

static bool contains(const struct store_id *ids, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ids[i].id, id))
			return true;
	return false;
}

static void test_recover(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_tenant_create(f->s, "acme"), 0);
	put_fn(f->s, "acme", "f", 1);
	char sq[STORE_ID_SIZE], sr[STORE_ID_SIZE], aq[STORE_ID_SIZE], ar[STORE_ID_SIZE], done[STORE_ID_SIZE];
	assert_int_equal(store_invocation_create(f->s, "acme", "f", 1, false, NULL, 0, sq), 0);
	assert_int_equal(store_invocation_create(f->s, "acme", "f", 1, false, NULL, 0, sr), 0);
	assert_int_equal(store_invocation_create(f->s, "acme", "f", 1, true, "in", 2, aq), 0);
	assert_int_equal(store_invocation_create(f->s, "acme", "f", 1, true, NULL, 0, ar), 0);
	assert_int_equal(store_invocation_create(f->s, "acme", "f", 1, false, NULL, 0, done), 0);
	assert_int_equal(store_invocation_start(f->s, sr, "h1", "vm", 1), 0);
	assert_int_equal(store_invocation_start(f->s, ar, "h1", "vm", 2), 0);
	finish(f->s, done, STORE_OK);

	/* The controller dies: reopen as a restart would. */
	store_close(f->s);
	assert_int_equal(store_open(f->path, &f->s), 0);
	size_t failed = 0, n_retry = 0;
	struct store_id *retry = NULL;
	assert_int_equal(store_invocations_recover(f->s, "controller restarted", &failed, &retry, &n_retry), 0);
	assert_int_equal(failed, 2);
	assert_int_equal(n_retry, 2);
	assert_true(contains(retry, n_retry, aq));
	assert_true(contains(retry, n_retry, ar));
	free(retry);

	struct store_invocation inv;
	const char *failed_ids[] = { sq, sr };
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(store_invocation_get(f->s, "acme", failed_ids[i], &inv), 0);
		assert_int_equal(inv.status, STORE_ERROR);
		assert_string_equal(inv.error, "controller restarted");
		assert_true(inv.finished_ms > 0);
		store_invocation_clear(&inv);
	}
	assert_int_equal(store_invocation_get(f->s, "acme", ar, &inv), 0);
	assert_int_equal(inv.status, STORE_QUEUED);
	assert_int_equal(inv.retries, 1);
	assert_string_equal(inv.host, "");
	assert_int_equal(inv.cpu, -1);
	store_invocation_clear(&inv);
	assert_int_equal(store_invocation_get(f->s, "acme", aq, &inv), 0);
	assert_int_equal(inv.status, STORE_QUEUED);
	assert_memory_equal(inv.input, "in", 2); /* what the retry runs with */
	store_invocation_clear(&inv);
	assert_int_equal(store_invocation_get(f->s, "acme", done, &inv), 0);
	assert_int_equal(inv.status, STORE_OK);
	store_invocation_clear(&inv);

	/* It dies again before the retries finish: no second retry. */
	assert_int_equal(store_invocation_start(f->s, aq, "h1", "vm", 1), 0);
	store_close(f->s);
	assert_int_equal(store_open(f->path, &f->s), 0);
	assert_int_equal(store_invocations_recover(f->s, "restarted again", &failed, &retry, &n_retry), 0);
	assert_int_equal(failed, 2);
	assert_int_equal(n_retry, 0);
	assert_null(retry);
	assert_int_equal(store_invocation_get(f->s, "acme", aq, &inv), 0);
	assert_int_equal(inv.status, STORE_ERROR);
	assert_string_equal(inv.error, "restarted again");
	store_invocation_clear(&inv);

	/* A late reply cannot overwrite the recorded failure. */
	struct store_outcome o = { .status = STORE_OK };
	assert_int_equal(store_invocation_finish(f->s, aq, &o), -EALREADY);
}

#define PUTS_PER_THREAD 40

struct writer {
	const char *path;
	int64_t versions[PUTS_PER_THREAD];
	int errors;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct store *s;
	if (store_open(w->path, &s) < 0) {
		w->errors++;
		return NULL;
	}
	for (int i = 0; i < PUTS_PER_THREAD; i++)
		if (store_function_put(s, "acme", "race", DIGEST_A, 10, &LIMITS, &w->versions[i]) < 0)
			w->errors++;
	store_close(s);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void test_concurrent_puts(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_tenant_create(f->s, "acme"), 0);
	struct writer w[2] = { { .path = f->path }, { .path = f->path } };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	int64_t all[2 * PUTS_PER_THREAD];
	for (int i = 0; i < 2; i++) {
		assert_int_equal(w[i].errors, 0);
		/* Each writer sees its own versions increase. */
		for (int j = 1; j < PUTS_PER_THREAD; j++)
			assert_true(w[i].versions[j] > w[i].versions[j - 1]);
		memcpy(all + i * PUTS_PER_THREAD, w[i].versions, sizeof(w[i].versions));
	}
	qsort(all, 2 * PUTS_PER_THREAD, sizeof(all[0]), cmp_i64);
	for (int i = 0; i < 2 * PUTS_PER_THREAD; i++)
		assert_int_equal(all[i], i + 1);
	struct store_function fn;
	assert_int_equal(store_function_get(f->s, "acme", "race", 0, &fn), 0);
	assert_int_equal(fn.version, 2 * PUTS_PER_THREAD);
}

#define MANY 10000

static void test_many_invocations(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	assert_int_equal(store_tenant_create(s, "acme"), 0);
	put_fn(s, "acme", "f", 1);
	char id[STORE_ID_SIZE];
	for (int i = 0; i < MANY; i++)
		assert_int_equal(store_invocation_create(s, "acme", "f", 1, false, "{}", 2, id), 0);
	size_t total = 0;
	char cursor[STORE_CURSOR_SIZE] = "";
	do {
		struct store_invocation *page;
		size_t n;
		char next[STORE_CURSOR_SIZE];
		assert_int_equal(store_invocation_list(s, "acme", NULL, cursor, STORE_LIST_MAX, &page, &n, next), 0);
		total += n;
		strcpy(cursor, next);
		store_invocations_free(page, n);
	} while (cursor[0]);
	assert_int_equal(total, MANY);
}

static void test_hosts(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	assert_int_equal(store_host_register(s, "h2", "10.0.0.2:7000", 8), 0);
	assert_int_equal(store_host_register(s, "h1", "10.0.0.1:7000", 2), 0);
	assert_int_equal(store_host_register(s, "bad/id", "x", 2), -EINVAL);
	assert_int_equal(store_host_register(s, "h3", "", 2), -EINVAL);
	assert_int_equal(store_host_register(s, "h3", "x", 0), -EINVAL);

	struct store_host h;
	assert_int_equal(store_host_get(s, "h1", &h), 0);
	int64_t seen = h.last_seen_ms;
	assert_false(h.down);
	assert_false(h.draining);
	clock_pass(seen);
	assert_int_equal(store_host_heartbeat(s, "h1"), 0);
	assert_int_equal(store_host_heartbeat(s, "nope"), -ENOENT);
	assert_int_equal(store_host_get(s, "h1", &h), 0);
	assert_true(h.last_seen_ms > seen);

	assert_int_equal(store_host_set_down(s, "h1", true), 0);
	assert_int_equal(store_host_set_draining(s, "h1", true), 0);
	assert_int_equal(store_host_set_down(s, "nope", true), -ENOENT);
	assert_int_equal(store_host_get(s, "h1", &h), 0);
	assert_true(h.down);
	assert_true(h.draining);
	/* A heartbeat brings a host back up; draining is the operator's call. */
	assert_int_equal(store_host_heartbeat(s, "h1"), 0);
	assert_int_equal(store_host_register(s, "h1", "10.0.0.9:7000", 4), 0);
	assert_int_equal(store_host_get(s, "h1", &h), 0);
	assert_false(h.down);
	assert_true(h.draining);
	assert_string_equal(h.address, "10.0.0.9:7000");
	assert_int_equal(h.cores, 4);
	assert_int_equal(store_host_set_draining(s, "h1", false), 0);

	struct store_host *list;
	size_t n;
	assert_int_equal(store_host_list(s, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "h1");
	assert_false(list[0].draining);
	assert_string_equal(list[1].id, "h2");
	assert_int_equal(list[1].cores, 8);
	free(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_token_in_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_functions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invocation_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requeue_and_cpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_puts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_invocations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hosts, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
