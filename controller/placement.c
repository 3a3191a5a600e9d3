#include "placement.h"

#include <errno.h>
#include <string.h>

/* True when a is a better home than b. */
static bool better(const struct placement_host *a, const struct placement_host *b)
{
	int fa = a->cores - a->reserved, fb = b->cores - b->reserved;
	if (fa != fb)
		return fa > fb;
	if (a->vms != b->vms)
		return a->vms < b->vms;
	return strcmp(a->id, b->id) < 0;
}

int placement_choose(const struct placement_host *hosts, size_t n, int min_workers,
		     const char *exclude)
{
	int best = -ENOSPC;
	for (size_t i = 0; i < n; i++) {
		const struct placement_host *h = &hosts[i];
		if (!h->up || h->draining || (exclude && !strcmp(h->id, exclude)))
			continue;
		if (h->cores - h->reserved < min_workers)
			continue;
		if (best < 0 || better(h, &hosts[best]))
			best = (int)i;
	}
	return best;
}
