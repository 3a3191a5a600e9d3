/* The store as a whole (reopening, schema versions) and its tenants and
 * keys. */
#include <limits.h>

#include "store_fixture.h"

/* A tenant secret's commitment (any 64 lower-case hex digits do here). */
#define HOST_DATA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

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

	assert_int_equal(store_open(f->uri, &f->s), 0);
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

	/* Opening it again changed nothing; a database from a newer schema is
	 * refused, not misread. */
	assert_int_equal(store_open(f->uri, &f->s), 0);
	assert_true(schema_version_get(f) >= 1);
	schema_version_set(f, 9999);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->uri, &f->s), -EPROTO);
	assert_null(f->s);
}

static void test_tenants(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	assert_int_equal(store_tenant_create(s, "zeta"), 0);
	assert_int_equal(store_tenant_create(s, "acme-1"), 0);
	assert_int_equal(store_tenant_create(s, "acme-1"), -EEXIST);
	char long_name[STORE_NAME_SIZE + 1];
	memset(long_name, 'a', STORE_NAME_SIZE);
	long_name[STORE_NAME_SIZE] = '\0';
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

	assert_string_equal(t.scaling.confidential, "none");
	assert_string_equal(t.scaling.attestation, "optional");
	assert_string_equal(t.scaling.host_data, "");
	assert_int_equal(t.scaling.concurrency, STORE_CONCURRENCY_DEFAULT);

	struct store_scaling sc = { 1,         8,          "precreated", "fixed:4",
				    "sev-snp", "required", HOST_DATA,    1 };
	assert_int_equal(store_tenant_set_scaling(s, "acme-1", &sc), 0);
	assert_int_equal(store_tenant_get(s, "acme-1", &t), 0);
	assert_int_equal(t.scaling.min_workers, 1);
	assert_int_equal(t.scaling.max_workers, 8);
	assert_string_equal(t.scaling.mechanism, "precreated");
	assert_string_equal(t.scaling.policy, "fixed:4");
	assert_string_equal(t.scaling.confidential, "sev-snp");
	assert_string_equal(t.scaling.attestation, "required");
	assert_string_equal(t.scaling.host_data, HOST_DATA);
	assert_int_equal(t.scaling.concurrency, 1);
	assert_int_equal(store_tenant_set_scaling(s, "nobody", &sc), -ENOENT);
	/* Unset again: stored as NULL, read as "". */
	struct store_scaling plain = STORE_SCALING_DEFAULT;
	plain.concurrency = STORE_CONCURRENCY_MAX;
	assert_int_equal(store_tenant_set_scaling(s, "acme-1", &plain), 0);
	assert_int_equal(store_tenant_get(s, "acme-1", &t), 0);
	assert_string_equal(t.scaling.host_data, "");
	assert_int_equal(t.scaling.concurrency, STORE_CONCURRENCY_MAX);
	/* Each wrong in one field only (concurrency 1 is fine). */
	struct store_scaling bad_sc[] = {
		{ 5, 4, "hotplug", "elastic", "none", "optional", "", 1 },
		{ 0, 0, "hotplug", "elastic", "none", "optional", "", 1 },
		{ 0, 4, "magic", "elastic", "none", "optional", "", 1 },
		{ 0, 4, "hotplug", "", "none", "optional", "", 1 },
		{ 0, STORE_MAX_WORKERS + 1, "hotplug", "elastic", "none", "optional", "", 1 },
		/* SEV-SNP measures the vCPUs present at launch only. */
		{ 0, 4, "hotplug", "elastic", "sev-snp", "optional", HOST_DATA, 1 },
		/* Only SEV-SNP has evidence to require. */
		{ 0, 4, "precreated", "elastic", "none", "required", "", 1 },
		{ 0, 4, "precreated", "elastic", "tdx", "optional", "", 1 },
		{ 0, 4, "precreated", "elastic", "none", "", "", 1 },
		/* SEV-SNP VMs are launched bound to a tenant secret. */
		{ 0, 4, "precreated", "elastic", "sev-snp", "optional", "", 1 },
		/* host_data: 64 lower-case hex digits. */
		{ 0, 4, "precreated", "elastic", "none", "optional",
		  "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", 1 },
		{ 0, 4, "precreated", "elastic", "none", "optional", "0123", 1 },
		{ 0, 4, "precreated", "elastic", "sev-snp", "optional",
		  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg", 1 },
	};
	for (size_t i = 0; i < sizeof(bad_sc) / sizeof(bad_sc[0]); i++)
		assert_int_equal(store_tenant_set_scaling(s, "acme-1", &bad_sc[i]), -EINVAL);
	const int bad_concurrency[] = { 0, -1, STORE_CONCURRENCY_MAX + 1, INT_MIN };
	for (size_t i = 0; i < sizeof(bad_concurrency) / sizeof(bad_concurrency[0]); i++) {
		plain.concurrency = bad_concurrency[i];
		assert_int_equal(store_tenant_set_scaling(s, "acme-1", &plain), -EINVAL);
	}
	assert_int_equal(store_tenant_get(s, "acme-1", &t), 0);
	assert_int_equal(t.scaling.concurrency, STORE_CONCURRENCY_MAX);

	struct store_tenant *list;
	size_t n;
	assert_int_equal(store_tenant_list(s, &list, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].name,
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_string_equal(list[1].name, "acme-1");
	assert_string_equal(list[2].name, "zeta");
	free(list);
}

/* A tenant made with its key can be confidential from the start. */
static void test_confidential_options(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	char token[STORE_TOKEN_SIZE];
	assert_int_equal(store_tenant_create_with_key(s, "plain", NULL, NULL, NULL, token), 0);
	assert_int_equal(
		store_tenant_create_with_key(s, "snp", "sev-snp", "required", HOST_DATA, token), 0);
	/* A tenant that is not confidential keeps a host_data unused. */
	assert_int_equal(store_tenant_create_with_key(s, "kept", NULL, NULL, HOST_DATA, token), 0);
	struct store_tenant t;
	assert_int_equal(store_tenant_get(s, "plain", &t), 0);
	assert_string_equal(t.scaling.confidential, "none");
	assert_string_equal(t.scaling.attestation, "optional");
	assert_string_equal(t.scaling.host_data, "");
	assert_int_equal(store_tenant_get(s, "snp", &t), 0);
	assert_string_equal(t.scaling.confidential, "sev-snp");
	assert_string_equal(t.scaling.attestation, "required");
	assert_string_equal(t.scaling.host_data, HOST_DATA);
	assert_int_equal(store_tenant_get(s, "kept", &t), 0);
	assert_string_equal(t.scaling.host_data, HOST_DATA);
	/* Refused options leave neither the tenant nor a key. */
	assert_int_equal(store_tenant_create_with_key(s, "bad", "none", "required", NULL, token),
			 -EINVAL);
	assert_int_equal(store_tenant_create_with_key(s, "bad", "sgx", NULL, NULL, token), -EINVAL);
	assert_int_equal(store_tenant_create_with_key(s, "bad", "sev-snp", NULL, NULL, token),
			 -EINVAL);
	assert_int_equal(store_tenant_create_with_key(s, "bad", NULL, NULL, "00", token), -EINVAL);
	assert_int_equal(store_tenant_get(s, "bad", &t), -ENOENT);
}

/* A database of schema 2 gains the confidential options, the encrypted
 * flag and host_data with their defaults, keeping what it held. */
static void test_migration_from_v2(void **state)
{
	struct fixture *f = *state;
	tenant_with_fn(f->s, "old", "fn");
	store_reopen_from(f, "ALTER TABLE tenants DROP COLUMN concurrency;"
			     "ALTER TABLE artifacts DROP COLUMN collected_ms;"
			     "ALTER TABLE function_versions DROP COLUMN runtime;"
			     "ALTER TABLE function_versions DROP COLUMN handler;"
			     "ALTER TABLE invocations DROP COLUMN exception;"
			     "ALTER TABLE tenants DROP COLUMN confidential;"
			     "ALTER TABLE tenants DROP COLUMN attestation;"
			     "ALTER TABLE function_versions DROP COLUMN encrypted;"
			     "ALTER TABLE tenants DROP COLUMN host_data;"
			     "PRAGMA user_version = 2;");
	struct store_tenant t;
	assert_int_equal(store_tenant_get(f->s, "old", &t), 0);
	assert_string_equal(t.scaling.confidential, "none");
	assert_string_equal(t.scaling.attestation, "optional");
	assert_string_equal(t.scaling.host_data, "");
	struct store_function fn;
	assert_int_equal(store_function_get(f->s, "old", "fn", 1, &fn), 0);
	assert_false(fn.limits.encrypted);
	struct store_scaling sc = t.scaling;
	snprintf(sc.confidential, sizeof(sc.confidential), "sev-snp");
	snprintf(sc.host_data, sizeof(sc.host_data), "%s", HOST_DATA);
	assert_int_equal(store_tenant_set_scaling(f->s, "old", &sc), 0);
}

/* A database of schema 3 (confidential tenants before host_data) gains
 * host_data unset; its sev-snp tenant keeps running as it was until its
 * scaling is next changed, which then needs a host_data. */
static void test_migration_from_v3(void **state)
{
	struct fixture *f = *state;
	struct store_scaling sc = {
		0,         4,          "precreated", "elastic",
		"sev-snp", "required", HOST_DATA,    STORE_CONCURRENCY_DEFAULT
	};
	assert_int_equal(store_tenant_create(f->s, "snp"), 0);
	assert_int_equal(store_tenant_set_scaling(f->s, "snp", &sc), 0);
	store_reopen_from(f, "ALTER TABLE tenants DROP COLUMN concurrency;"
			     "ALTER TABLE artifacts DROP COLUMN collected_ms;"
			     "ALTER TABLE function_versions DROP COLUMN runtime;"
			     "ALTER TABLE function_versions DROP COLUMN handler;"
			     "ALTER TABLE invocations DROP COLUMN exception;"
			     "ALTER TABLE tenants DROP COLUMN host_data;"
			     "PRAGMA user_version = 3;");
	struct store_tenant t;
	assert_int_equal(store_tenant_get(f->s, "snp", &t), 0);
	assert_string_equal(t.scaling.confidential, "sev-snp");
	assert_string_equal(t.scaling.host_data, "");
	assert_int_equal(t.scaling.concurrency, STORE_CONCURRENCY_DEFAULT);
	sc = t.scaling;
	assert_int_equal(store_tenant_set_scaling(f->s, "snp", &sc), -EINVAL);
	snprintf(sc.host_data, sizeof(sc.host_data), "%s", HOST_DATA);
	assert_int_equal(store_tenant_set_scaling(f->s, "snp", &sc), 0);
	assert_int_equal(store_tenant_get(f->s, "snp", &t), 0);
	assert_string_equal(t.scaling.host_data, HOST_DATA);
}

/* A database of schema 6 gains each tenant's concurrency at the default,
 * keeping the rest of its scaling; it can be changed from then on. */
static void test_migration_from_v6(void **state)
{
	struct fixture *f = *state;
	struct store_scaling sc = STORE_SCALING_DEFAULT;
	sc.max_workers = 8;
	assert_int_equal(store_tenant_create(f->s, "old"), 0);
	assert_int_equal(store_tenant_set_scaling(f->s, "old", &sc), 0);
	store_reopen_from(f, "ALTER TABLE tenants DROP COLUMN concurrency;"
			     "PRAGMA user_version = 6;");
	struct store_tenant t;
	assert_int_equal(store_tenant_get(f->s, "old", &t), 0);
	assert_int_equal(t.scaling.max_workers, 8);
	assert_int_equal(t.scaling.concurrency, STORE_CONCURRENCY_DEFAULT);
	sc = t.scaling;
	sc.concurrency = 3;
	assert_int_equal(store_tenant_set_scaling(f->s, "old", &sc), 0);
	assert_int_equal(store_tenant_get(f->s, "old", &t), 0);
	assert_int_equal(t.scaling.concurrency, 3);
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
	const char *garbage[] = { "", "dk_", "dk_xyz", "Bearer x",
				  "dk_0000000000000000000000000000000000000000" };
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		assert_int_equal(store_key_verify(s, garbage[i], tenant, &admin), -EACCES);
	char longer[STORE_TOKEN_SIZE + 1];
	snprintf(longer, sizeof(longer), "%s0", token);
	assert_int_equal(store_key_verify(s, longer, tenant, &admin), -EACCES);

	/* Revoking by key id, the token's prefix. */
	char key_id[STORE_KEY_ID_SIZE];
	memcpy(key_id, token, STORE_KEY_ID_SIZE - 1);
	key_id[STORE_KEY_ID_SIZE - 1] = '\0';
	struct store_key *keys;
	size_t n;
	assert_int_equal(store_key_list(s, "acme", &keys, &n), 0);
	assert_int_equal(n, 2);
	assert_true(!strcmp(keys[0].key_id, key_id) || !strcmp(keys[1].key_id, key_id));
	assert_true(keys[0].created_ms > 0);
	free(keys);
	/* Another tenant's id, or an admin's, revokes nothing. */
	assert_int_equal(store_key_revoke(s, "other", key_id), -ENOENT);
	assert_int_equal(store_key_revoke(s, NULL, key_id), -ENOENT);
	assert_int_equal(store_key_revoke(s, "acme", key_id), 0);
	assert_int_equal(store_key_verify(s, token, tenant, &admin), -EACCES);
	assert_int_equal(store_key_revoke(s, "acme", key_id), -ENOENT);
	assert_int_equal(store_key_list(s, "acme", &keys, &n), 0);
	assert_int_equal(n, 1);
	assert_string_not_equal(keys[0].key_id, key_id);
	free(keys);
	assert_int_equal(store_key_verify(s, other, tenant, &admin), 0);
}

/* Whether any of n bytes at p holds the text needle. */
static bool holds(const void *p, size_t n, const char *needle)
{
	return p && memmem(p, n, needle, strlen(needle));
}

/* The database holds the key id but never the token's secret part. */
static void test_no_token_in_clear(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_tenant_create(f->s, "acme"), 0);
	char token[STORE_TOKEN_SIZE];
	assert_int_equal(store_key_create(f->s, "acme", token), 0);
	struct sq_stmt *st;
	assert_int_equal(sq_prep_sql(f->s, "SELECT key_id, salt, hash FROM api_keys", &st), 0);
	int rows = 0;
	while (sq_step(st) == SQ_ROW) {
		rows++;
		assert_true(holds(sq_col_str(st, 0), strlen(sq_col_str(st, 0)), "dk_"));
		for (int i = 0; i < 3; i++)
			assert_false(holds(sq_col_blob(st, i), sq_col_bytes(st, i), token + 15));
	}
	sq_stmt_free(st);
	assert_int_equal(rows, 1);
}

int main(void)
{
	const struct CMUnitTest both[] = {
		cmocka_unit_test(test_reopen_keeps_everything), cmocka_unit_test(test_tenants),
		cmocka_unit_test(test_confidential_options),    cmocka_unit_test(test_keys),
		cmocka_unit_test(test_no_token_in_clear),
	};
	const struct CMUnitTest lite[] = {
		cmocka_unit_test(test_migration_from_v2),
		cmocka_unit_test(test_migration_from_v3),
		cmocka_unit_test(test_migration_from_v6),
	};
	return STORE_RUN(both, lite);
}
