#include "usage.h"

#include <string.h>

void usage_init(struct usage *u, uint64_t now_ns)
{
	memset(u, 0, sizeof(*u));
	u->t_ns = now_ns;
}

/* The integrals up to now_ns. */
static void integrate(const struct usage *u, uint64_t now_ns, uint64_t *alloc_ns,
		      uint64_t *busy_ns)
{
	uint64_t dt = now_ns > u->t_ns ? now_ns - u->t_ns : 0;
	*alloc_ns = u->alloc_ns + dt * (uint64_t)u->allocated;
	*busy_ns = u->busy_ns + dt * (uint64_t)u->busy;
}

void usage_set(struct usage *u, uint64_t now_ns, int allocated, int busy)
{
	integrate(u, now_ns, &u->alloc_ns, &u->busy_ns);
	if (now_ns > u->t_ns)
		u->t_ns = now_ns;
	u->allocated = allocated > 0 ? allocated : 0;
	u->busy = busy > 0 ? busy : 0;
}

void usage_read(const struct usage *u, uint64_t now_ns, uint64_t *ret_alloc_ms,
		uint64_t *ret_busy_ms)
{
	uint64_t a, b;
	integrate(u, now_ns, &a, &b);
	*ret_alloc_ms = a / 1000000;
	*ret_busy_ms = b / 1000000;
}

json_t *usage_to_json(const struct usage *u, uint64_t now_ns)
{
	uint64_t a, b;
	usage_read(u, now_ns, &a, &b);
	return json_pack("{s:I, s:I}", "allocated", (json_int_t)a, "busy", (json_int_t)b);
}
