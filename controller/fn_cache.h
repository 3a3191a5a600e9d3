/* Function versions looked up a moment ago, so that an invocation finds its
 * function's record without a store read: a warm call then takes the store's
 * lock only to pin its artifact, with no I/O under it.
 *
 * A slot keeps what store_function_get returned for (tenant, name, version
 * asked), version 0 standing for the latest, for at most FN_CACHE_TTL_US.
 * A deploy or a delete in this controller forgets every slot at once (in the
 * same hold of db.lock as its store write, so that a lookup and its pin,
 * made in one hold too, never see a version the store no longer has: the
 * artifact collection's guarantee, artifact_gc.h, holds as without the
 * cache). The TTL, 1 s, bounds how long another controller's deploy or delete
 * on a shared store goes unseen here. A lookup that raced with a forget is
 * not kept (the generation it began in is gone). */
#ifndef DITTO_FN_CACHE_H
#define DITTO_FN_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "store.h"

#define FN_CACHE_SLOTS 128
#define FN_CACHE_TTL_US 1000000

struct fn_cache_slot {
	struct store_function fn;
	int64_t asked; /* the version asked for; 0: the latest */
	bool used;
	uint64_t read_us; /* time_now_us of the store read */
};

/* Embedded in its owner; fn_cache_init before use, fn_cache_destroy after. */
struct fn_cache {
	pthread_mutex_t lock;
	uint64_t gen; /* moved by each fn_cache_forget */
	struct fn_cache_slot slots[FN_CACHE_SLOTS];
};

void fn_cache_init(struct fn_cache *fc);
void fn_cache_destroy(struct fn_cache *fc);

/* The generation a store read begins in: pass it to fn_cache_put. */
uint64_t fn_cache_gen(struct fn_cache *fc);

/* Whether tenant's function name at version (0: the latest) was read within
 * the TTL and nothing was forgotten since: true with its record in ret_fn
 * (untouched otherwise). */
bool fn_cache_get(struct fn_cache *fc, const char *tenant, const char *name, int64_t version,
		  struct store_function *ret_fn);

/* Keeps fn as the answer for version (0: the latest) of its tenant's
 * function, unless something was forgotten since gen. */
void fn_cache_put(struct fn_cache *fc, uint64_t gen, int64_t version,
		  const struct store_function *fn);

/* Forgets every version: call it with the store write of a deploy or delete. */
void fn_cache_forget(struct fn_cache *fc);

/* Looks tenant's function name at version (0: the latest) up, in fc or else
 * in db's store (keeping the answer in fc), and with pin pins its artifact
 * (artifact_gc_pin) in the same hold of db->lock. Returns 0 with the record
 * in ret_fn, -ENOENT, or the store's or the pin's -errno. */
int fn_cache_lookup(struct fn_cache *fc, struct db *db, const char *tenant, const char *name,
		    int64_t version, bool pin, struct store_function *ret_fn);

#endif
