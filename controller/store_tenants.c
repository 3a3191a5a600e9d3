/* Tenants, their scaling settings, and API keys. */
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define TOKEN_PREFIX "dk_"
#define TOKEN_RANDOM_BYTES 20
#define KEY_SALT_BYTES 16
#define KEY_HASH_BYTES 32

#define TENANT_COLS                                                                                 \
	"name, created_ms, min_workers, max_workers, mechanism, policy, confidential, attestation," \
	" host_data, concurrency"

const struct sq_query store_tenant_queries[Q_COUNT] = {
	[Q_TENANT_INSERT] = { "INSERT INTO tenants (name, created_ms, mechanism, confidential,"
			      " attestation, host_data) VALUES (?1, ?2, 'precreated',"
			      " coalesce(?3, 'none'), coalesce(?4, 'optional'), ?5)" },
	[Q_TENANT_GET] = { "SELECT " TENANT_COLS " FROM tenants WHERE name = ?1" },
	[Q_TENANT_LIST] = { "SELECT " TENANT_COLS " FROM tenants ORDER BY name" },
	[Q_TENANT_SCALING] = { "UPDATE tenants SET min_workers = ?2, max_workers = ?3,"
			       " mechanism = ?4, policy = ?5, confidential = ?6, attestation = ?7,"
			       " host_data = ?8, concurrency = ?9 WHERE name = ?1" },
	/* A key id taken already inserts nothing, rather than failing: a
	 * failed statement would end PostgreSQL's transaction. */
	[Q_KEY_INSERT] = { "INSERT INTO api_keys (key_id, tenant, salt, hash, created_ms)"
			   " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key_id) DO NOTHING" },
	[Q_KEY_GET] = { "SELECT tenant, salt, hash FROM api_keys WHERE key_id = ?1"
			" AND revoked_ms IS NULL" },
	/* IS NOT DISTINCT FROM matches NULL to NULL: an admin key has no
	 * tenant. */
	[Q_KEY_REVOKE] = { "UPDATE api_keys SET revoked_ms = ?3 WHERE key_id = ?1"
			   " AND tenant IS NOT DISTINCT FROM ?2 AND revoked_ms IS NULL" },
	[Q_KEY_LIST] = { "SELECT key_id, created_ms FROM api_keys WHERE tenant = ?1"
			 " AND revoked_ms IS NULL ORDER BY created_ms, key_id" },
};

/* ---- tenants ------------------------------------------------------------ */

static void read_tenant(struct sq_stmt *st, void *item)
{
	struct store_tenant *t = item;
	memset(t, 0, sizeof(*t));
	sq_col_text(st, 0, t->name, sizeof(t->name));
	t->created_ms = sq_col_int64(st, 1);
	t->scaling.min_workers = sq_col_int(st, 2);
	t->scaling.max_workers = sq_col_int(st, 3);
	sq_col_text(st, 4, t->scaling.mechanism, sizeof(t->scaling.mechanism));
	sq_col_text(st, 5, t->scaling.policy, sizeof(t->scaling.policy));
	sq_col_text(st, 6, t->scaling.confidential, sizeof(t->scaling.confidential));
	sq_col_text(st, 7, t->scaling.attestation, sizeof(t->scaling.attestation));
	sq_col_text(st, 8, t->scaling.host_data, sizeof(t->scaling.host_data));
	t->scaling.concurrency = sq_col_int(st, 9);
}

/* A new tenant's options, checked as a new tenant's scaling would be. */
/* Copies an option into field (size bytes) when given. Returns false when
 * it does not fit. */
static bool option_take(char *field, size_t size, const char *value)
{
	if (!value)
		return true;
	if (strlen(value) >= size)
		return false;
	snprintf(field, size, "%s", value);
	return true;
}

static bool options_are_valid(const char *confidential, const char *attestation,
			      const char *host_data)
{
	struct store_scaling sc = STORE_SCALING_DEFAULT;
	return option_take(sc.confidential, sizeof(sc.confidential), confidential) &&
	       option_take(sc.attestation, sizeof(sc.attestation), attestation) &&
	       option_take(sc.host_data, sizeof(sc.host_data), host_data) &&
	       store_scaling_is_valid(&sc);
}

static int tenant_insert(struct store *s, const char *name, const char *confidential,
			 const char *attestation, const char *host_data)
{
	if (!sq_tenant_name_is_valid(name) ||
	    !options_are_valid(confidential, attestation, host_data))
		return -EINVAL;
	if (host_data && !host_data[0])
		host_data = NULL;
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_TENANT_INSERT, "tIttt", name,
							 time_wall_ms(), confidential, attestation,
							 host_data);
	if (!st)
		return -ENOMEM;
	return sq_step_done(st);
}

int store_tenant_create(struct store *s, const char *name)
{
	return tenant_insert(s, name, NULL, NULL, NULL);
}

int store_tenant_get(struct store *s, const char *name, struct store_tenant *ret_tenant)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_TENANT_GET, "t", name);
	return sq_read_row(st, read_tenant, ret_tenant);
}

int store_tenant_list(struct store *s, struct store_tenant **ret_tenants, size_t *ret_n)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep(s, Q_TENANT_LIST);
	return sq_collect_rows(st, sizeof(**ret_tenants), read_tenant, ret_tenants, ret_n);
}

bool store_scaling_is_valid(const struct store_scaling *c)
{
	bool snp = !strcmp(c->confidential, "sev-snp");
	bool required = !strcmp(c->attestation, "required");
	bool has_host_data = c->host_data[0] != '\0';
	if (has_host_data && !store_is_lower_hex(c->host_data, STORE_HOST_DATA_SIZE - 1))
		return false;
	return c->min_workers >= 0 && c->min_workers <= c->max_workers && c->max_workers >= 1 &&
	       c->max_workers <= STORE_MAX_WORKERS &&
	       (!strcmp(c->mechanism, "hotplug") || !strcmp(c->mechanism, "precreated")) &&
	       sq_printable(c->policy, sizeof(c->policy)) &&
	       (snp || !strcmp(c->confidential, "none")) &&
	       (required || !strcmp(c->attestation, "optional")) &&
	       (!snp || (!strcmp(c->mechanism, "precreated") && has_host_data)) &&
	       (!required || snp) && c->concurrency >= 1 && c->concurrency <= STORE_CONCURRENCY_MAX;
}

int store_tenant_set_scaling(struct store *s, const char *name, const struct store_scaling *scaling)
{
	const struct store_scaling *c = scaling;
	if (!store_scaling_is_valid(c))
		return -EINVAL;
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(
		s, Q_TENANT_SCALING, "tiittttti", name, c->min_workers, c->max_workers,
		c->mechanism, c->policy, c->confidential, c->attestation,
		c->host_data[0] ? c->host_data : NULL, c->concurrency);
	if (!st)
		return -ENOMEM;
	return sq_step_update(st);
}

/* ---- API keys ----------------------------------------------------------- */

/* A token carries 160 random bits, so guessing one is hopeless however fast
 * the hash is: a slow password hash (PBKDF2, scrypt) would only add latency
 * to every request. One SHA-256 over salt||token keeps a stolen database from
 * revealing usable tokens; the random salt keeps equal hashes from ever
 * showing up across keys or databases. */
static int key_hash(const uint8_t salt[KEY_SALT_BYTES], const char *token,
		    uint8_t out[KEY_HASH_BYTES])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned len = 0;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(ctx, salt, KEY_SALT_BYTES) == 1 &&
		 EVP_DigestUpdate(ctx, token, strlen(token)) == 1 &&
		 EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == KEY_HASH_BYTES;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

static void key_id_of(const char *token, char ret_key_id[STORE_KEY_ID_SIZE])
{
	memcpy(ret_key_id, token, STORE_KEY_ID_SIZE - 1);
	ret_key_id[STORE_KEY_ID_SIZE - 1] = '\0';
}

static bool token_is_wellformed(const char *token)
{
	size_t plen = strlen(TOKEN_PREFIX);
	return token && strncmp(token, TOKEN_PREFIX, plen) == 0 &&
	       store_is_lower_hex(token + plen, STORE_TOKEN_SIZE - 1 - plen);
}

int store_key_create(struct store *s, const char *tenant, char ret_token[STORE_TOKEN_SIZE])
{
	if (tenant && !sq_tenant_name_is_valid(tenant))
		return -ENOENT;
	/* The key id is 48 random bits: a collision is unlikely but possible,
	 * and simply draws a new token. */
	for (int attempt = 0; attempt < 4; attempt++) {
		char token[STORE_TOKEN_SIZE], key_id[STORE_KEY_ID_SIZE];
		uint8_t salt[KEY_SALT_BYTES], hash[KEY_HASH_BYTES];
		memcpy(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX));
		int r = sq_random_hex(TOKEN_RANDOM_BYTES, token + strlen(TOKEN_PREFIX));
		if (r < 0)
			return r;
		if (RAND_bytes(salt, sizeof(salt)) != 1)
			return -EIO;
		r = key_hash(salt, token, hash);
		if (r < 0)
			return r;
		key_id_of(token, key_id);

		_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_KEY_INSERT, "ttbbI", key_id,
								 tenant, salt, sizeof(salt), hash,
								 sizeof(hash), time_wall_ms());
		if (!st)
			return -ENOMEM;
		r = sq_step_done(st);
		if (r == 0 && sq_changes(st) == 0)
			continue;
		if (r == 0)
			memcpy(ret_token, token, STORE_TOKEN_SIZE);
		OPENSSL_cleanse(token, sizeof(token));
		return r;
	}
	return -EIO;
}

int store_tenant_create_with_key(struct store *s, const char *name, const char *confidential,
				 const char *attestation, const char *host_data,
				 char ret_token[STORE_TOKEN_SIZE])
{
	int r = sq_tx_begin(s);
	if (r < 0)
		return r;
	r = tenant_insert(s, name, confidential, attestation, host_data);
	if (r == 0)
		r = store_key_create(s, name, ret_token);
	return sq_tx_end(s, r);
}

int store_key_verify(struct store *s, const char *token, char ret_tenant[STORE_NAME_SIZE],
		     bool *ret_is_admin)
{
	if (!token_is_wellformed(token))
		return -EACCES;
	char key_id[STORE_KEY_ID_SIZE];
	key_id_of(token, key_id);
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_KEY_GET, "t", key_id);
	if (!st)
		return -ENOMEM;
	int r = sq_step_row(st);
	if (r < 0)
		return r == -ENOENT ? -EACCES : r;
	uint8_t hash[KEY_HASH_BYTES];
	if (sq_col_bytes(st, 1) != KEY_SALT_BYTES || sq_col_bytes(st, 2) != KEY_HASH_BYTES)
		return -EACCES;
	r = key_hash(sq_col_blob(st, 1), token, hash);
	if (r < 0)
		return r;
	/* Constant time, so response timing says nothing about the secret. */
	if (CRYPTO_memcmp(hash, sq_col_blob(st, 2), KEY_HASH_BYTES) != 0)
		return -EACCES;
	bool admin = sq_col_is_null(st, 0);
	sq_col_text(st, 0, ret_tenant, STORE_NAME_SIZE);
	*ret_is_admin = admin;
	return 0;
}

int store_key_revoke(struct store *s, const char *tenant, const char *key_id)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_KEY_REVOKE, "ttI", key_id, tenant,
							 time_wall_ms());
	if (!st)
		return -ENOMEM;
	return sq_step_update(st);
}

static void read_key(struct sq_stmt *st, void *item)
{
	struct store_key *k = item;
	memset(k, 0, sizeof(*k));
	sq_col_text(st, 0, k->key_id, sizeof(k->key_id));
	k->created_ms = sq_col_int64(st, 1);
}

int store_key_list(struct store *s, const char *tenant, struct store_key **ret_keys, size_t *ret_n)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_KEY_LIST, "t", tenant);
	return sq_collect_rows(st, sizeof(**ret_keys), read_key, ret_keys, ret_n);
}
