/* Function versions for a moment (fn_cache.h). */
#include "fn_cache.h"

#include <string.h>

#include "artifact_gc.h"
#include "util.h"

void fn_cache_init(struct fn_cache *fc)
{
	memset(fc, 0, sizeof(*fc));
	pthread_mutex_init(&fc->lock, NULL);
}

void fn_cache_destroy(struct fn_cache *fc)
{
	pthread_mutex_destroy(&fc->lock);
}

uint64_t fn_cache_gen(struct fn_cache *fc)
{
	pthread_mutex_lock(&fc->lock);
	uint64_t g = fc->gen;
	pthread_mutex_unlock(&fc->lock);
	return g;
}

/* FNV-1a over tenant, name and the version asked. */
static struct fn_cache_slot *slot_of(struct fn_cache *fc, const char *tenant, const char *name,
				     int64_t version)
{
	uint64_t h = 14695981039346656037ull;
	for (const char *p = tenant; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	h = (h ^ '/') * 1099511628211ull;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	h = (h ^ (uint64_t)version) * 1099511628211ull;
	return &fc->slots[h % FN_CACHE_SLOTS];
}

bool fn_cache_get(struct fn_cache *fc, const char *tenant, const char *name, int64_t version,
		  struct store_function *ret_fn)
{
	uint64_t now = time_now_us();
	pthread_mutex_lock(&fc->lock);
	struct fn_cache_slot *s = slot_of(fc, tenant, name, version);
	bool hit = s->used && now - s->read_us < FN_CACHE_TTL_US && s->asked == version &&
		   !strcmp(s->fn.tenant, tenant) && !strcmp(s->fn.name, name);
	if (hit)
		*ret_fn = s->fn;
	pthread_mutex_unlock(&fc->lock);
	return hit;
}

void fn_cache_put(struct fn_cache *fc, uint64_t gen, int64_t version,
		  const struct store_function *fn)
{
	uint64_t now = time_now_us();
	pthread_mutex_lock(&fc->lock);
	if (fc->gen == gen) {
		struct fn_cache_slot *s = slot_of(fc, fn->tenant, fn->name, version);
		*s = (struct fn_cache_slot){ .fn = *fn, .asked = version, .used = true,
					     .read_us = now };
	}
	pthread_mutex_unlock(&fc->lock);
}

void fn_cache_forget(struct fn_cache *fc)
{
	pthread_mutex_lock(&fc->lock);
	fc->gen++;
	for (size_t i = 0; i < FN_CACHE_SLOTS; i++)
		fc->slots[i].used = false;
	pthread_mutex_unlock(&fc->lock);
}

int fn_cache_lookup(struct fn_cache *fc, struct db *db, const char *tenant, const char *name,
		    int64_t version, bool pin, struct store_function *ret_fn)
{
	int err = 0;
	pthread_mutex_lock(&db->lock);
	if (!fn_cache_get(fc, tenant, name, version, ret_fn)) {
		uint64_t gen = fn_cache_gen(fc);
		err = store_function_get(db->store, tenant, name, version, ret_fn);
		if (err == 0)
			fn_cache_put(fc, gen, version, ret_fn);
	}
	if (err == 0 && pin)
		err = artifact_gc_pin(db, ret_fn->digest);
	pthread_mutex_unlock(&db->lock);
	return err;
}
