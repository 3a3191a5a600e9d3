/* API keys verified a moment ago, so that authenticating a request costs one
 * SHA-256 of its key and no store read: the hot path's requests then take
 * neither the store's lock nor a read transaction for their key.
 *
 * Only keys the store verified are kept, each by the SHA-256 of the token
 * (never the token), for at most KEY_CACHE_TTL_US. A revocation in this
 * controller forgets every key at once, so a revoked key is refused from the
 * next request on, as without the cache; the TTL bounds how long a key
 * revoked by another controller sharing the store stays usable here. A
 * verification that raced with a revocation is not kept (the generation it
 * began in is gone). */
#ifndef DITTO_KEY_CACHE_H
#define DITTO_KEY_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "sha256.h"
#include "store.h"

#define KEY_CACHE_SLOTS 64
#define KEY_CACHE_TTL_US 1000000

struct key_cache_slot {
	uint8_t digest[SHA256_DIGEST_SIZE];
	char tenant[STORE_NAME_SIZE];
	bool is_admin, used;
	uint64_t verified_us; /* time_now_us */
};

/* Embedded in its owner; key_cache_init before use, key_cache_destroy after. */
struct key_cache {
	pthread_mutex_t lock;
	uint64_t gen; /* moved by each key_cache_forget */
	struct key_cache_slot slots[KEY_CACHE_SLOTS];
};

void key_cache_init(struct key_cache *kc);
void key_cache_destroy(struct key_cache *kc);

/* The generation a verification begins in: pass it to key_cache_put. */
uint64_t key_cache_gen(struct key_cache *kc);

/* Whether token was verified within the TTL and no key was forgotten since:
 * true with its tenant ("" for the admin key) and whether it is the admin's. */
bool key_cache_get(struct key_cache *kc, const char *token, char ret_tenant[STORE_NAME_SIZE],
		   bool *ret_is_admin);

/* Keeps what the store said of token, unless a key was forgotten since gen. */
void key_cache_put(struct key_cache *kc, uint64_t gen, const char *token, const char *tenant,
		   bool is_admin);

/* Forgets every key: call it after a key is revoked (or a tenant's keys go). */
void key_cache_forget(struct key_cache *kc);

#endif
