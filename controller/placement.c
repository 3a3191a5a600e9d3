#include "placement.h"

#include <errno.h>
#include <stdio.h>
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

/* Whether h takes anything new at all. */
static bool open_to(const struct placement_host *h, const char *exclude)
{
	return h->up && !h->draining && !(exclude && !strcmp(h->id, exclude));
}

int placement_choose(const struct placement_host *hosts, size_t n, int min_workers, bool sev_snp,
		     const char *exclude)
{
	int best = -ENOSPC;
	bool capable = !sev_snp;
	for (size_t i = 0; i < n; i++) {
		const struct placement_host *h = &hosts[i];
		if (!open_to(h, exclude) || (sev_snp && !h->sev_snp))
			continue;
		capable = true;
		if (h->cores - h->reserved < min_workers)
			continue;
		if (best < 0 || better(h, &hosts[best]))
			best = (int)i;
	}
	return capable ? best : -ENODEV;
}

void placement_snp_why(const struct placement_host *hosts, size_t n, const char *exclude, char *why,
		       size_t why_size)
{
	size_t len = (size_t)snprintf(why, why_size, "no host can launch an SEV-SNP VM:");
	bool any = false;
	for (size_t i = 0; i < n && len < why_size; i++) {
		const struct placement_host *h = &hosts[i];
		if (!open_to(h, exclude))
			continue;
		const char *reason = h->sev_snp_reason && *h->sev_snp_reason
					     ? h->sev_snp_reason
					     : "it does not report SEV-SNP support";
		len += (size_t)snprintf(why + len, why_size - len, "%s %s: %s", any ? ";" : "",
					h->id, reason);
		any = true;
	}
	if (!any && len < why_size)
		snprintf(why + len, why_size - len, " no host is up");
}
