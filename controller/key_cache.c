/* Verified API keys for a moment (key_cache.h). */
#include "key_cache.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util.h"

void key_cache_init(struct key_cache *kc)
{
	memset(kc, 0, sizeof(*kc));
	pthread_mutex_init(&kc->lock, NULL);
}

void key_cache_destroy(struct key_cache *kc)
{
	pthread_mutex_destroy(&kc->lock);
	/* The digests of live keys do not outlive the cache. */
	OPENSSL_cleanse(kc->slots, sizeof(kc->slots));
}

uint64_t key_cache_gen(struct key_cache *kc)
{
	pthread_mutex_lock(&kc->lock);
	uint64_t g = kc->gen;
	pthread_mutex_unlock(&kc->lock);
	return g;
}

static void token_digest(const char *token, uint8_t ret[SHA256_DIGEST_SIZE])
{
	struct sha256 h;
	sha256_init(&h);
	sha256_update(&h, token, strlen(token));
	sha256_final(&h, ret);
}

static struct key_cache_slot *slot_of(struct key_cache *kc, const uint8_t *digest)
{
	return &kc->slots[digest[0] % KEY_CACHE_SLOTS];
}

bool key_cache_get(struct key_cache *kc, const char *token, char ret_tenant[STORE_NAME_SIZE],
		   bool *ret_is_admin)
{
	uint8_t d[SHA256_DIGEST_SIZE];
	token_digest(token, d);
	uint64_t now = time_now_us();
	pthread_mutex_lock(&kc->lock);
	struct key_cache_slot *s = slot_of(kc, d);
	bool hit = s->used && now - s->verified_us < KEY_CACHE_TTL_US &&
		   CRYPTO_memcmp(s->digest, d, sizeof(d)) == 0;
	if (hit) {
		memcpy(ret_tenant, s->tenant, STORE_NAME_SIZE);
		*ret_is_admin = s->is_admin;
	}
	pthread_mutex_unlock(&kc->lock);
	return hit;
}

void key_cache_put(struct key_cache *kc, uint64_t gen, const char *token, const char *tenant,
		   bool is_admin)
{
	struct key_cache_slot n = { .is_admin = is_admin, .used = true };
	token_digest(token, n.digest);
	snprintf(n.tenant, sizeof(n.tenant), "%s", tenant);
	n.verified_us = time_now_us();
	pthread_mutex_lock(&kc->lock);
	if (kc->gen == gen)
		*slot_of(kc, n.digest) = n;
	pthread_mutex_unlock(&kc->lock);
}

void key_cache_forget(struct key_cache *kc)
{
	pthread_mutex_lock(&kc->lock);
	kc->gen++;
	memset(kc->slots, 0, sizeof(kc->slots));
	pthread_mutex_unlock(&kc->lock);
}
