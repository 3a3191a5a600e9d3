#include "e2e.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#define HDR_SIZE 8
#define SALT_SIZE 16
#define NONCE_SIZE 12
#define TAG_SIZE 16
#define WRAPPED_SIZE (E2E_KEY_SIZE + TAG_SIZE)
#define RECIPIENT_SIZE (E2E_KEY_SIZE + WRAPPED_SIZE)
#define VERSION 1
#define AAD_LABEL "ditto-e2e-v1"
/* Bytes handed to one EVP update call (its length is an int). */
#define GCM_CHUNK (1u << 30)

static const char magic_artifact[4] = { 'D', 'T', 'O', 'A' };
static const char magic_request[4] = { 'D', 'T', 'O', 'Q' };
static const char magic_response[4] = { 'D', 'T', 'O', 'S' };

/* ---- primitives ------------------------------------------------------ */

/* HKDF-SHA256 with a 32-byte output; an empty salt is left out, which
 * RFC 5869 defines as HashLen zero bytes. Returns 0 or -EIO. */
static int hkdf(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
		const void *info, size_t info_len, uint8_t ret[E2E_KEY_SIZE])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	if (!ctx)
		return -EIO;
	OSSL_PARAM params[5], *p = params;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	if (salt_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
							 salt_len);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	*p = OSSL_PARAM_construct_end();
	int ok = EVP_KDF_derive(ctx, ret, E2E_KEY_SIZE, params);
	EVP_KDF_CTX_free(ctx);
	return ok == 1 ? 0 : -EIO;
}

static int pub_from_priv(const uint8_t priv[E2E_KEY_SIZE], uint8_t ret_pub[E2E_KEY_SIZE])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, E2E_KEY_SIZE);
	size_t n = E2E_KEY_SIZE;
	int ok = k && EVP_PKEY_get_raw_public_key(k, ret_pub, &n) == 1 && n == E2E_KEY_SIZE;
	EVP_PKEY_free(k);
	return ok ? 0 : -EIO;
}

/* The X25519 key of a pair. Both halves are handed over, so libcrypto does
 * not compute the public one again (a scalar multiplication, as costly as
 * the exchange itself). */
static EVP_PKEY *pair_pkey(const struct e2e_keypair *own)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, (void *)own->priv,
						  E2E_KEY_SIZE),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)own->pub,
						  E2E_KEY_SIZE),
		OSSL_PARAM_construct_end(),
	};
	EVP_PKEY *k = NULL;
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, params) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* X25519(own private key, peer). Returns 0, -EBADMSG when the peer's key
 * gives no usable secret (a low-order point: libcrypto refuses an all-zero
 * result), or -EIO. */
static int x25519(const struct e2e_keypair *own, const uint8_t peer[E2E_KEY_SIZE],
		  uint8_t ret[E2E_KEY_SIZE])
{
	EVP_PKEY *k = pair_pkey(own);
	EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, E2E_KEY_SIZE);
	EVP_PKEY_CTX *ctx = k && pk ? EVP_PKEY_CTX_new(k, NULL) : NULL;
	int r = -EIO;
	size_t n = E2E_KEY_SIZE;
	if (ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, pk) == 1)
		r = EVP_PKEY_derive(ctx, ret, &n) == 1 && n == E2E_KEY_SIZE ? 0 : -EBADMSG;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(k);
	return r;
}

/* The key of one X25519 exchange: HKDF-SHA256(ikm = X25519(own, peer),
 * salt = client_pub || vm_pub, info); when info2 is not NULL, also the key
 * with info2 from the same exchange into ret2. */
static int exchange_keys(const struct e2e_keypair *own, const uint8_t peer[E2E_KEY_SIZE],
			 const uint8_t client_pub[E2E_KEY_SIZE], const uint8_t vm_pub[E2E_KEY_SIZE],
			 const char *info, uint8_t ret[E2E_KEY_SIZE], const char *info2,
			 uint8_t ret2[E2E_KEY_SIZE])
{
	uint8_t shared[E2E_KEY_SIZE], salt[2 * E2E_KEY_SIZE];
	int r = x25519(own, peer, shared);
	memcpy(salt, client_pub, E2E_KEY_SIZE);
	memcpy(salt + E2E_KEY_SIZE, vm_pub, E2E_KEY_SIZE);
	if (r == 0)
		r = hkdf(shared, sizeof(shared), salt, sizeof(salt), info, strlen(info), ret);
	if (r == 0 && info2)
		r = hkdf(shared, sizeof(shared), salt, sizeof(salt), info2, strlen(info2), ret2);
	OPENSSL_cleanse(shared, sizeof(shared));
	return r;
}

static int exchange_key(const struct e2e_keypair *own, const uint8_t peer[E2E_KEY_SIZE],
			const uint8_t client_pub[E2E_KEY_SIZE], const uint8_t vm_pub[E2E_KEY_SIZE],
			const char *info, uint8_t ret[E2E_KEY_SIZE])
{
	return exchange_keys(own, peer, client_pub, vm_pub, info, ret, NULL, NULL);
}

/* Runs len bytes through an AES-GCM context in int-sized steps. */
static bool gcm_update(EVP_CIPHER_CTX *ctx, bool enc, uint8_t *out, const uint8_t *in, size_t len)
{
	while (len > 0) {
		int n = (int)(len < GCM_CHUNK ? len : GCM_CHUNK), k;
		if ((enc ? EVP_EncryptUpdate(ctx, out, &k, in, n)
			 : EVP_DecryptUpdate(ctx, out, &k, in, n)) != 1 ||
		    k != n)
			return false;
		out += n;
		in += n;
		len -= (size_t)n;
	}
	return true;
}

static EVP_CIPHER_CTX *gcm_begin(bool enc, const uint8_t key[E2E_KEY_SIZE],
				 const uint8_t nonce[NONCE_SIZE], const uint8_t *aad,
				 size_t aad_len)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int k;
	if (ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, enc) == 1 &&
	    (aad_len == 0 ||
	     (aad_len <= INT_MAX && EVP_CipherUpdate(ctx, NULL, &k, aad, (int)aad_len) == 1)))
		return ctx;
	EVP_CIPHER_CTX_free(ctx);
	return NULL;
}

/* AES-256-GCM of p1 then p2 into out (n1 + n2 bytes) and tag. Returns 0 or
 * -EIO. */
static int gcm_seal(const uint8_t key[E2E_KEY_SIZE], const uint8_t nonce[NONCE_SIZE],
		    const uint8_t *aad, size_t aad_len, const void *p1, size_t n1, const void *p2,
		    size_t n2, uint8_t *out, uint8_t tag[TAG_SIZE])
{
	EVP_CIPHER_CTX *ctx = gcm_begin(true, key, nonce, aad, aad_len);
	int k;
	bool ok = ctx && gcm_update(ctx, true, out, p1, n1) &&
		  gcm_update(ctx, true, out + n1, p2, n2) &&
		  EVP_EncryptFinal_ex(ctx, out + n1 + n2, &k) == 1 &&
		  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_SIZE, tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

/* Opens AES-256-GCM ciphertext ct (len bytes, then its tag) into out.
 * Returns 0, -EBADMSG when it fails authentication (out is wiped), or -EIO. */
static int gcm_open(const uint8_t key[E2E_KEY_SIZE], const uint8_t nonce[NONCE_SIZE],
		    const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = gcm_begin(false, key, nonce, aad, aad_len);
	if (!ctx)
		return -EIO;
	int k, r = -EIO;
	if (gcm_update(ctx, false, out, ct, len) &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_SIZE, (void *)(ct + len)) == 1)
		r = EVP_DecryptFinal_ex(ctx, out + len, &k) == 1 ? 0 : -EBADMSG;
	EVP_CIPHER_CTX_free(ctx);
	if (r < 0)
		OPENSSL_cleanse(out, len);
	return r;
}

/* ---- message framing ------------------------------------------------- */

static void hdr_pack(uint8_t h[HDR_SIZE], const char magic[4], uint8_t b5)
{
	memcpy(h, magic, 4);
	h[4] = VERSION;
	h[5] = b5;
	h[6] = h[7] = 0;
}

/* Checks the magic, version and zero bytes of a header (byte 5 is the
 * caller's). */
static bool hdr_ok(const uint8_t *h, const char magic[4])
{
	return memcmp(h, magic, 4) == 0 && h[4] == VERSION && h[6] == 0 && h[7] == 0;
}

static bool aad_ok(const struct e2e_aad *a)
{
	return a && a->invocation_id && a->digest;
}

/* "ditto-e2e-v1" 0x00 invocation id 0x00 digest, then the message header. */
static uint8_t *aad_build(const struct e2e_aad *a, const uint8_t hdr[HDR_SIZE], size_t *ret_len)
{
	size_t label = sizeof(AAD_LABEL), id = strlen(a->invocation_id), digest = strlen(a->digest);
	size_t n = label + id + 1 + digest + HDR_SIZE;
	uint8_t *p = malloc(n);
	if (!p)
		return NULL;
	memcpy(p, AAD_LABEL, label); /* with its NUL */
	memcpy(p + label, a->invocation_id, id + 1);
	memcpy(p + label + id + 1, a->digest, digest);
	memcpy(p + n - HDR_SIZE, hdr, HDR_SIZE);
	*ret_len = n;
	return p;
}

static int random_bytes(uint8_t *p, size_t n)
{
	return RAND_bytes(p, (int)n) == 1 ? 0 : -EIO;
}

/* ---- keys ------------------------------------------------------------ */

int e2e_keypair_generate(struct e2e_keypair *ret)
{
	if (!ret)
		return -EINVAL;
	int r = random_bytes(ret->priv, E2E_KEY_SIZE);
	if (r == 0)
		r = pub_from_priv(ret->priv, ret->pub);
	if (r < 0)
		OPENSSL_cleanse(ret, sizeof(*ret));
	return r;
}

int e2e_client_key(const uint8_t secret[E2E_KEY_SIZE], const char *invocation_id,
		   struct e2e_keypair *ret)
{
	static const char label[] = "ditto-e2e-v1 client";
	if (!secret || !invocation_id || !ret)
		return -EINVAL;
	size_t id = strlen(invocation_id);
	char *info = malloc(sizeof(label) - 1 + id);
	if (!info)
		return -ENOMEM;
	memcpy(info, label, sizeof(label) - 1);
	memcpy(info + sizeof(label) - 1, invocation_id, id);
	int r = hkdf(secret, E2E_KEY_SIZE, NULL, 0, info, sizeof(label) - 1 + id, ret->priv);
	free(info);
	if (r == 0)
		r = pub_from_priv(ret->priv, ret->pub);
	if (r < 0)
		OPENSSL_cleanse(ret, sizeof(*ret));
	return r;
}

void e2e_host_data(const uint8_t secret[E2E_KEY_SIZE], uint8_t ret[32])
{
	static const char info[] = "ditto-e2e-v1 host-data";
	if (hkdf(secret, E2E_KEY_SIZE, NULL, 0, info, sizeof(info) - 1, ret) < 0)
		memset(ret, 0, 32);
}

void e2e_report_data(const uint8_t *nonce, size_t nonce_len, const uint8_t pub[E2E_KEY_SIZE],
		     uint8_t ret[64])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned n = 0;
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) == 1 &&
		  EVP_DigestUpdate(ctx, nonce, nonce_len) == 1 &&
		  EVP_DigestUpdate(ctx, pub, E2E_KEY_SIZE) == 1 &&
		  EVP_DigestFinal_ex(ctx, ret, &n) == 1 && n == 64;
	EVP_MD_CTX_free(ctx);
	/* Only out of memory gets here: zeros bind nothing and match no
	 * genuine report. */
	if (!ok)
		memset(ret, 0, 64);
}

/* ---- artifacts ------------------------------------------------------- */

static int artifact_key(const uint8_t secret[E2E_KEY_SIZE], const uint8_t salt[SALT_SIZE],
			uint8_t ret[E2E_KEY_SIZE])
{
	static const char info[] = "ditto-e2e-v1 artifact";
	return hkdf(secret, E2E_KEY_SIZE, salt, SALT_SIZE, info, sizeof(info) - 1, ret);
}

int e2e_artifact_seal(const uint8_t secret[E2E_KEY_SIZE], const void *plain, size_t len,
		      uint8_t **ret, size_t *ret_len)
{
	if (!secret || (!plain && len) || !ret || !ret_len ||
	    len > SIZE_MAX - E2E_ARTIFACT_OVERHEAD)
		return -EINVAL;
	size_t n = len + E2E_ARTIFACT_OVERHEAD;
	uint8_t *out = malloc(n), key[E2E_KEY_SIZE];
	if (!out)
		return -ENOMEM;
	uint8_t *salt = out + HDR_SIZE, *nonce = salt + SALT_SIZE, *ct = nonce + NONCE_SIZE;
	hdr_pack(out, magic_artifact, 0);
	int r = random_bytes(salt, SALT_SIZE + NONCE_SIZE);
	if (r == 0)
		r = artifact_key(secret, salt, key);
	if (r == 0)
		r = gcm_seal(key, nonce, out, HDR_SIZE, plain, len, NULL, 0, ct, ct + len);
	OPENSSL_cleanse(key, sizeof(key));
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_len = n;
	return 0;
}

int e2e_artifact_open(const uint8_t secret[E2E_KEY_SIZE], const void *sealed, size_t len,
		      uint8_t **ret, size_t *ret_len)
{
	if (!secret || (!sealed && len) || !ret || !ret_len)
		return -EINVAL;
	const uint8_t *m = sealed;
	if (len < E2E_ARTIFACT_OVERHEAD || !hdr_ok(m, magic_artifact) || m[5] != 0)
		return -EBADMSG;
	const uint8_t *salt = m + HDR_SIZE, *nonce = salt + SALT_SIZE, *ct = nonce + NONCE_SIZE;
	size_t n = len - E2E_ARTIFACT_OVERHEAD;
	uint8_t *out = malloc(n ? n : 1), key[E2E_KEY_SIZE];
	if (!out)
		return -ENOMEM;
	int r = artifact_key(secret, salt, key);
	if (r == 0)
		r = gcm_open(key, nonce, m, HDR_SIZE, ct, n, out);
	OPENSSL_cleanse(key, sizeof(key));
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_len = n;
	return 0;
}

/* ---- requests -------------------------------------------------------- */

static const char wrap_info[] = "ditto-e2e-v1 wrap";
static const char response_info[] = "ditto-e2e-v1 response";
static const uint8_t zero_nonce[NONCE_SIZE];

/* Size of a request to n recipients around len bytes of input. */
static size_t request_size(size_t n, size_t len)
{
	return HDR_SIZE + E2E_KEY_SIZE + n * RECIPIENT_SIZE + NONCE_SIZE + E2E_KEY_SIZE + len +
	       TAG_SIZE;
}

/* Wraps cek for one recipient into out (WRAPPED_SIZE bytes). */
static int wrap_cek(const struct e2e_keypair *client, const uint8_t vm_pub[E2E_KEY_SIZE],
		    const uint8_t cek[E2E_KEY_SIZE], const uint8_t *aad, size_t aad_len,
		    uint8_t *out)
{
	uint8_t kek[E2E_KEY_SIZE];
	int r = exchange_key(client, vm_pub, client->pub, vm_pub, wrap_info, kek);
	if (r == -EBADMSG)
		r = -EINVAL; /* the caller's VM key is unusable */
	if (r == 0)
		r = gcm_seal(kek, zero_nonce, aad, aad_len, cek, E2E_KEY_SIZE, NULL, 0, out,
			     out + E2E_KEY_SIZE);
	OPENSSL_cleanse(kek, sizeof(kek));
	return r;
}

int e2e_request_seal(const struct e2e_keypair *client, const uint8_t (*vm_pubs)[E2E_KEY_SIZE],
		     size_t n, const uint8_t secret[E2E_KEY_SIZE], const struct e2e_aad *aad,
		     const void *input, size_t len, uint8_t **ret, size_t *ret_len)
{
	if (!client || !vm_pubs || n < 1 || n > E2E_MAX_RECIPIENTS || !secret || !aad_ok(aad) ||
	    (!input && len) || !ret || !ret_len || len > SIZE_MAX - request_size(n, 0))
		return -EINVAL;
	size_t total = request_size(n, len), aad_len;
	uint8_t *out = malloc(total), cek[E2E_KEY_SIZE];
	if (!out)
		return -ENOMEM;
	hdr_pack(out, magic_request, (uint8_t)n);
	uint8_t *a = aad_build(aad, out, &aad_len);
	if (!a) {
		free(out);
		return -ENOMEM;
	}
	memcpy(out + HDR_SIZE, client->pub, E2E_KEY_SIZE);
	uint8_t *rcpt = out + HDR_SIZE + E2E_KEY_SIZE, *nonce = rcpt + n * RECIPIENT_SIZE;
	uint8_t *ct = nonce + NONCE_SIZE;
	int r = random_bytes(cek, sizeof(cek));
	for (size_t i = 0; r == 0 && i < n; i++) {
		uint8_t *e = rcpt + i * RECIPIENT_SIZE;
		memcpy(e, vm_pubs[i], E2E_KEY_SIZE);
		r = wrap_cek(client, vm_pubs[i], cek, a, aad_len, e + E2E_KEY_SIZE);
	}
	if (r == 0)
		r = random_bytes(nonce, NONCE_SIZE);
	if (r == 0)
		r = gcm_seal(cek, nonce, a, aad_len, secret, E2E_KEY_SIZE, input, len, ct,
			     ct + E2E_KEY_SIZE + len);
	OPENSSL_cleanse(cek, sizeof(cek));
	free(a);
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_len = total;
	return 0;
}

/* Finds this VM's entry and unwraps the content key from it; with
 * ret_key, also derives the response key from the same exchange. */
static int unwrap_cek(const struct e2e_keypair *vm, const uint8_t *m, size_t n, const uint8_t *aad,
		      size_t aad_len, uint8_t ret_cek[E2E_KEY_SIZE],
		      struct e2e_response_key *ret_key)
{
	const uint8_t *client_pub = m + HDR_SIZE, *rcpt = client_pub + E2E_KEY_SIZE, *e = NULL;
	for (size_t i = 0; !e && i < n; i++)
		if (CRYPTO_memcmp(rcpt + i * RECIPIENT_SIZE, vm->pub, E2E_KEY_SIZE) == 0)
			e = rcpt + i * RECIPIENT_SIZE;
	if (!e)
		return -ENOKEY;
	uint8_t kek[E2E_KEY_SIZE];
	int r = exchange_keys(vm, client_pub, client_pub, vm->pub, wrap_info, kek,
			      ret_key ? response_info : NULL, ret_key ? ret_key->key : NULL);
	if (r == 0)
		r = gcm_open(kek, zero_nonce, aad, aad_len, e + E2E_KEY_SIZE, E2E_KEY_SIZE,
			     ret_cek);
	OPENSSL_cleanse(kek, sizeof(kek));
	if (ret_key)
		memcpy(ret_key->vm_pub, vm->pub, E2E_KEY_SIZE);
	return r;
}

int e2e_request_open(const struct e2e_keypair *vm, const struct e2e_aad *aad, const void *msg,
		     size_t len, uint8_t ret_secret[E2E_KEY_SIZE],
		     uint8_t ret_client_pub[E2E_KEY_SIZE], uint8_t **ret, size_t *ret_len)
{
	if (!ret_client_pub)
		return -EINVAL;
	int r = e2e_request_open_key(vm, aad, msg, len, ret_secret, NULL, ret, ret_len);
	if (r == 0)
		memcpy(ret_client_pub, (const uint8_t *)msg + HDR_SIZE, E2E_KEY_SIZE);
	return r;
}

int e2e_request_open_key(const struct e2e_keypair *vm, const struct e2e_aad *aad, const void *msg,
			 size_t len, uint8_t ret_secret[E2E_KEY_SIZE],
			 struct e2e_response_key *ret_key, uint8_t **ret, size_t *ret_len)
{
	if (!vm || !aad_ok(aad) || (!msg && len) || !ret_secret || !ret || !ret_len)
		return -EINVAL;
	const uint8_t *m = msg;
	if (len < HDR_SIZE || !hdr_ok(m, magic_request) || m[5] < 1 || m[5] > E2E_MAX_RECIPIENTS ||
	    len < request_size(m[5], 0))
		return -EBADMSG;
	size_t n = m[5], aad_len, in_len = len - request_size(n, 0);
	const uint8_t *nonce = m + HDR_SIZE + E2E_KEY_SIZE + n * RECIPIENT_SIZE;
	uint8_t *a = aad_build(aad, m, &aad_len), cek[E2E_KEY_SIZE];
	uint8_t *plain = a ? malloc(E2E_KEY_SIZE + in_len) : NULL;
	if (!plain) {
		free(a);
		return -ENOMEM;
	}
	int r = unwrap_cek(vm, m, n, a, aad_len, cek, ret_key);
	if (r == 0)
		r = gcm_open(cek, nonce, a, aad_len, nonce + NONCE_SIZE, E2E_KEY_SIZE + in_len,
			     plain);
	OPENSSL_cleanse(cek, sizeof(cek));
	free(a);
	if (r < 0) {
		if (ret_key)
			OPENSSL_cleanse(ret_key, sizeof(*ret_key));
		free(plain);
		return r;
	}
	memcpy(ret_secret, plain, E2E_KEY_SIZE);
	memmove(plain, plain + E2E_KEY_SIZE, in_len);
	OPENSSL_cleanse(plain + in_len, E2E_KEY_SIZE);
	*ret = plain;
	*ret_len = in_len;
	return 0;
}

/* ---- responses ------------------------------------------------------- */

int e2e_response_seal(const struct e2e_keypair *vm, const uint8_t client_pub[E2E_KEY_SIZE],
		      const struct e2e_aad *aad, enum e2e_part part, const void *plain, size_t len,
		      uint8_t **ret, size_t *ret_len)
{
	if (!vm || !client_pub)
		return -EINVAL;
	struct e2e_response_key k;
	memcpy(k.vm_pub, vm->pub, E2E_KEY_SIZE);
	int r = exchange_key(vm, client_pub, client_pub, vm->pub, response_info, k.key);
	if (r == 0)
		r = e2e_response_seal_key(&k, aad, part, plain, len, ret, ret_len);
	OPENSSL_cleanse(&k, sizeof(k));
	return r == -EBADMSG ? -EINVAL : r;
}

int e2e_response_seal_key(const struct e2e_response_key *k, const struct e2e_aad *aad,
			  enum e2e_part part, const void *plain, size_t len, uint8_t **ret,
			  size_t *ret_len)
{
	if (!k || !aad_ok(aad) || (part != E2E_PART_RESULT && part != E2E_PART_LOG) ||
	    (!plain && len) || !ret || !ret_len || len > SIZE_MAX - E2E_RESPONSE_OVERHEAD)
		return -EINVAL;
	size_t total = len + E2E_RESPONSE_OVERHEAD, aad_len;
	uint8_t *out = malloc(total);
	if (!out)
		return -ENOMEM;
	hdr_pack(out, magic_response, (uint8_t)part);
	uint8_t *a = aad_build(aad, out, &aad_len);
	if (!a) {
		free(out);
		return -ENOMEM;
	}
	memcpy(out + HDR_SIZE, k->vm_pub, E2E_KEY_SIZE);
	uint8_t *nonce = out + HDR_SIZE + E2E_KEY_SIZE, *ct = nonce + NONCE_SIZE;
	int r = random_bytes(nonce, NONCE_SIZE);
	if (r == 0)
		r = gcm_seal(k->key, nonce, a, aad_len, plain, len, NULL, 0, ct, ct + len);
	free(a);
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_len = total;
	return 0;
}

int e2e_response_open(const struct e2e_keypair *client, const uint8_t (*vm_pubs)[E2E_KEY_SIZE],
		      size_t n, const struct e2e_aad *aad, enum e2e_part part, const void *msg,
		      size_t len, uint8_t **ret, size_t *ret_len, size_t *ret_vm)
{
	if (!client || !vm_pubs || n < 1 || n > E2E_MAX_RECIPIENTS || !aad_ok(aad) ||
	    (part != E2E_PART_RESULT && part != E2E_PART_LOG) || (!msg && len) || !ret || !ret_len)
		return -EINVAL;
	const uint8_t *m = msg, *vm_pub = m + HDR_SIZE;
	if (len < E2E_RESPONSE_OVERHEAD || !hdr_ok(m, magic_response) || m[5] != part)
		return -EBADMSG;
	size_t vm = n;
	for (size_t i = 0; vm == n && i < n; i++)
		if (CRYPTO_memcmp(vm_pubs[i], vm_pub, E2E_KEY_SIZE) == 0)
			vm = i;
	if (vm == n)
		return -EBADMSG;
	size_t plain_len = len - E2E_RESPONSE_OVERHEAD, aad_len;
	const uint8_t *nonce = vm_pub + E2E_KEY_SIZE;
	uint8_t *a = aad_build(aad, m, &aad_len), key[E2E_KEY_SIZE];
	uint8_t *out = a ? malloc(plain_len ? plain_len : 1) : NULL;
	if (!out) {
		free(a);
		return -ENOMEM;
	}
	int r = exchange_key(client, vm_pub, client->pub, vm_pub, response_info, key);
	if (r == 0)
		r = gcm_open(key, nonce, a, aad_len, nonce + NONCE_SIZE, plain_len, out);
	OPENSSL_cleanse(key, sizeof(key));
	free(a);
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_len = plain_len;
	if (ret_vm)
		*ret_vm = vm;
	return 0;
}
