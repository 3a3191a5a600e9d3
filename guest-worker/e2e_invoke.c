#include "e2e_invoke.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "encoding.h"
#include "log.h"
#include "sha256.h"
#include "util.h"

struct e2e_opened {
	char digest[SHA256_HEX_SIZE];
	uint8_t secret_hash[SHA256_DIGEST_SIZE];
	struct e2e_opened *next;
};

/* Decodes a nonce: hex of 1..max bytes. Returns its length or -EINVAL. */
static int nonce_decode(const char *s, uint8_t *out, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n % 2 || n / 2 > max || hex_to_bytes(s, out, n / 2) < 0)
		return -EINVAL;
	return (int)(n / 2);
}

/* ---- the key and the plain store ------------------------------------- */

int guest_e2e_init(struct guest_e2e *g, const char *plain_dir, uint64_t *ret_wait_us,
		   const char **ret_step)
{
	*g = (struct guest_e2e){ .plain.dirfd = -1 };
	*ret_step = "key pair";
	uint64_t t0 = time_now_us();
	/* Wait for the kernel's random pool here, visibly, rather than inside
	 * libcrypto's first draw. */
	uint8_t probe;
	while (getrandom(&probe, 1, 0) < 0 && errno == EINTR)
		;
	*ret_wait_us = time_now_us() - t0;
	int r = e2e_keypair_generate(&g->key);
	if (r < 0)
		return r;
	*ret_step = "plain artifact folder";
	r = mkdir_parents(plain_dir, 0700);
	if (r == 0 && chmod(plain_dir, 0700) < 0)
		r = -errno;
	if (r == 0)
		r = artifact_store_open(plain_dir, &g->plain);
	return r;
}

void guest_e2e_fini(struct guest_e2e *g)
{
	OPENSSL_cleanse(&g->key, sizeof(g->key));
	while (g->opened) {
		struct e2e_opened *o = g->opened;
		g->opened = o->next;
		OPENSSL_cleanse(o, sizeof(*o));
		free(o);
	}
	artifact_store_close(&g->plain);
}

/* ---- evidence -------------------------------------------------------- */

int guest_e2e_attest(const struct guest_e2e *g, const char *sev_path, const json_t *meta,
		     json_t **ret_meta, struct attest_evidence *ret_ev, char *err, size_t err_size)
{
	uint8_t nonce[64], report_data[ATTEST_REPORT_DATA_SIZE];
	int n = nonce_decode(json_string_value(json_object_get(meta, "nonce")), nonce,
			     sizeof(nonce));
	if (n < 0) {
		snprintf(err, err_size, "\"nonce\" must be hex of 1 to 64 bytes");
		return -EINVAL;
	}
	e2e_report_data(nonce, (size_t)n, g->key.pub, report_data);
	int r = attest_get(sev_path, report_data, ret_ev, err, err_size);
	if (r < 0)
		return r;
	char pub[2 * E2E_KEY_SIZE + 1];
	bytes_to_hex(g->key.pub, E2E_KEY_SIZE, pub);
	json_t *m = json_pack("{s:s, s:s}", "type", ret_ev->snp ? "sev-snp" : "none", "public_key",
			      pub);
	if (m && ret_ev->snp)
		json_object_set_new(m, "report_len", json_integer((json_int_t)ret_ev->report_len));
	if (!m) {
		attest_evidence_free(ret_ev);
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	*ret_meta = m;
	return 0;
}

/* ---- encrypted invocations ------------------------------------------- */

static void secret_hash(const uint8_t secret[E2E_KEY_SIZE], uint8_t ret[SHA256_DIGEST_SIZE])
{
	struct sha256 ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, "ditto-e2e-v1 opened", 19);
	sha256_update(&ctx, secret, E2E_KEY_SIZE);
	sha256_final(&ctx, ret);
	OPENSSL_cleanse(&ctx, sizeof(ctx));
}

static struct e2e_opened *opened_find(const struct guest_e2e *g, const char *digest)
{
	for (struct e2e_opened *o = g->opened; o; o = o->next)
		if (strcmp(o->digest, digest) == 0)
			return o;
	return NULL;
}

/* Opens the sealed artifact digest with secret into the plain store. */
static int plain_store(struct guest_e2e *g, const struct artifact_store *sealed, const char *digest,
		       const uint8_t secret[E2E_KEY_SIZE], char *err, size_t err_size)
{
	char path[PATH_MAX];
	void *data = NULL;
	size_t len = 0;
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	int r = artifact_path(sealed, digest, path, sizeof(path));
	if (r == 0)
		r = file_read_all(path, &data, &len);
	if (r < 0) {
		snprintf(err, err_size, "e2e: cannot open the artifact (reading it: %s)",
			 strerror(-r));
		return r;
	}
	r = e2e_artifact_open(secret, data, len, &plain, &plain_len);
	free(data);
	if (r < 0) {
		snprintf(err, err_size, "e2e: cannot open the artifact (%s)",
			 r == -EBADMSG ? "not sealed with the tenant secret of the request"
				       : strerror(-r));
		return r;
	}
	r = artifact_write(&g->plain, digest, plain, plain_len, 0700);
	OPENSSL_cleanse(plain, plain_len);
	free(plain);
	if (r < 0)
		snprintf(err, err_size, "e2e: cannot open the artifact (storing it: %s)",
			 strerror(-r));
	return r;
}

/* Makes sure digest's plain executable is there, opened with this secret. */
static int plain_ensure(struct guest_e2e *g, const struct artifact_store *sealed,
			const char *digest, const uint8_t secret[E2E_KEY_SIZE], char *err,
			size_t err_size)
{
	uint8_t h[SHA256_DIGEST_SIZE];
	secret_hash(secret, h);
	struct e2e_opened *o = opened_find(g, digest);
	if (o && CRYPTO_memcmp(o->secret_hash, h, sizeof(h)) == 0 &&
	    artifact_has(&g->plain, digest))
		return 0;
	/* Opening the sealed artifact is what proves the secret right. */
	int r = plain_store(g, sealed, digest, secret, err, err_size);
	if (r < 0)
		return r;
	if (!o) {
		o = calloc(1, sizeof(*o));
		if (!o) {
			snprintf(err, err_size, "e2e: out of memory");
			return -ENOMEM;
		}
		memcpy(o->digest, digest, sizeof(o->digest));
		o->next = g->opened;
		g->opened = o;
	}
	memcpy(o->secret_hash, h, sizeof(h));
	return 0;
}

int guest_e2e_open(struct guest_e2e *g, const struct artifact_store *sealed, struct inv *inv,
		   const void *body, size_t len, char *err, size_t err_size)
{
	const struct e2e_aad aad = { .invocation_id = inv->invocation, .digest = inv->digest };
	uint8_t secret[E2E_KEY_SIZE], *input = NULL;
	size_t input_len = 0;
	int r = e2e_request_open_key(&g->key, &aad, body, len, secret, &inv->e2e_key, &input,
				     &input_len);
	if (r == -ENOKEY) {
		snprintf(err, err_size, "e2e: not sealed to this VM's key (attest again)");
		return r;
	}
	if (r < 0) {
		snprintf(err, err_size, "e2e: cannot open the request (%s)",
			 r == -EBADMSG ? "malformed, or not authentic for this invocation id and "
					 "digest"
				       : strerror(-r));
		return r;
	}
	r = host_binding_admit(&g->bind, true, secret, err, err_size);
	if (r == 0)
		r = plain_ensure(g, sealed, inv->digest, secret, err, err_size);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (r < 0) {
		OPENSSL_cleanse(&inv->e2e_key, sizeof(inv->e2e_key));
		OPENSSL_cleanse(input, input_len);
		free(input);
		return r;
	}
	inv->e2e = true;
	free(inv->input);
	inv->input = input;
	inv->input_len = input_len;
	return 0;
}

/* Swaps a plain buffer for its sealed copy (NULL: empties it). */
static void buf_swap_wiped(struct buf *b, uint8_t *sealed, size_t len)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->cap);
	buf_free(b);
	if (sealed)
		*b = (struct buf){ .data = sealed, .len = len, .cap = len };
}

int guest_e2e_seal(struct inv *inv)
{
	const struct e2e_aad aad = { .invocation_id = inv->invocation, .digest = inv->digest };
	uint8_t *res = NULL, *log = NULL;
	size_t res_len = 0, log_len = 0;
	int r = e2e_response_seal_key(&inv->e2e_key, &aad, E2E_PART_RESULT, inv->result.data,
				      inv->result.len, &res, &res_len);
	if (r == 0)
		r = e2e_response_seal_key(&inv->e2e_key, &aad, E2E_PART_LOG, inv->log.data,
					  inv->log.len, &log, &log_len);
	if (r < 0) {
		free(res);
		res = NULL;
	}
	buf_swap_wiped(&inv->result, res, res_len);
	buf_swap_wiped(&inv->log, log, log_len);
	return r;
}

void guest_e2e_bind(struct guest_e2e *g, const char *sev_guest, const char *sysfs_root)
{
	struct host_binding *b = &g->bind;
	host_binding_read(sev_guest, sysfs_root, b);
	if (b->mode == HOST_BINDING_UNREAD) {
		log_error("host_data_unreadable error=\"%s\" refusing=all_invocations", b->why);
	} else if (b->mode == HOST_BINDING_SNP) {
		char hex[2 * SNP_HOST_DATA_SIZE + 1];
		bytes_to_hex(b->host_data, sizeof(b->host_data), hex);
		log_info("host_data=%s accepting=e2e_of_this_tenant_only", hex);
	}
}
