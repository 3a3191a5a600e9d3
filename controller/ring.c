/* Rendezvous hashing of tenants over controllers (ring.h). */
#include "ring.h"

#include <string.h>

#include "sha256.h"

uint64_t ring_weight(const char *id, const char *tenant)
{
	struct sha256 h;
	uint8_t digest[32];
	sha256_init(&h);
	/* The NUL keeps ("ab", "c") apart from ("a", "bc"). */
	sha256_update(&h, id, strlen(id) + 1);
	sha256_update(&h, tenant, strlen(tenant));
	sha256_final(&h, digest);
	uint64_t w = 0;
	for (int i = 0; i < 8; i++)
		w = w << 8 | digest[i];
	return w;
}

long ring_owner(const char *tenant, const char *const *ids, size_t n)
{
	long best = -1;
	uint64_t best_w = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t w = ring_weight(ids[i], tenant);
		if (best < 0 || w > best_w || (w == best_w && strcmp(ids[i], ids[best]) < 0)) {
			best = (long)i;
			best_w = w;
		}
	}
	return best;
}
