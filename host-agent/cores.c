#include "cores.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_list(const char *spec, bool out[CORES_MAX])
{
	const char *p = spec;
	if (!*p)
		return -EINVAL;
	while (*p) {
		char *end;
		errno = 0;
		long a = strtol(p, &end, 10), b = a;
		if (end == p || errno || a < 0 || a >= CORES_MAX)
			return -EINVAL;
		p = end;
		if (*p == '-') {
			p++;
			b = strtol(p, &end, 10);
			if (end == p || errno || b < a || b >= CORES_MAX)
				return -EINVAL;
			p = end;
		}
		for (long i = a; i <= b; i++)
			out[i] = true;
		if (*p == ',')
			p++;
		else if (*p)
			return -EINVAL;
	}
	return 0;
}

int cores_init(struct cores *c, const char *spec)
{
	memset(c, 0, sizeof(*c));
	cpu_set_t mine;
	if (sched_getaffinity(0, sizeof(mine), &mine) < 0)
		return -errno;

	bool want[CORES_MAX] = { false };
	if (!spec || !*spec || strcmp(spec, "all") == 0) {
		for (int i = 0; i < CORES_MAX; i++)
			want[i] = CPU_ISSET(i, &mine);
	} else {
		int r = parse_list(spec, want);
		if (r < 0)
			return r;
	}

	CPU_ZERO(&c->shared);
	for (int i = 0; i < CORES_MAX; i++) {
		if (want[i] && !CPU_ISSET(i, &mine))
			return -ERANGE;
		c->owned[i] = want[i];
		c->n_owned += want[i];
		if (CPU_ISSET(i, &mine) && !want[i])
			CPU_SET(i, &c->shared);
	}
	if (c->n_owned == 0)
		return -EINVAL;
	/* When the budget is the whole machine there is nowhere else for
	 * QEMU's other threads to go: they share every core. */
	if (CPU_COUNT(&c->shared) == 0)
		c->shared = mine;
	return 0;
}

int cores_free_count(const struct cores *c)
{
	int n = 0;
	for (int i = 0; i < CORES_MAX; i++)
		n += c->owned[i] && !c->granted[i];
	return n;
}

int cores_grant(struct cores *c)
{
	for (int i = 0; i < CORES_MAX; i++) {
		if (c->owned[i] && !c->granted[i]) {
			c->granted[i] = true;
			return i;
		}
	}
	return -ENOSPC;
}

void cores_release(struct cores *c, int core)
{
	if (core >= 0 && core < CORES_MAX)
		c->granted[core] = false;
}

int cores_pin_thread(const struct cores *c, pid_t tid, int core)
{
	cpu_set_t set;
	if (core >= 0) {
		CPU_ZERO(&set);
		CPU_SET(core, &set);
	} else {
		set = c->shared;
	}
	return sched_setaffinity(tid, sizeof(set), &set) < 0 ? -errno : 0;
}

void cores_format(const bool set[CORES_MAX], char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = '\0';
	for (int i = 0; i < CORES_MAX; i++) {
		if (!set[i])
			continue;
		int j = i;
		while (j + 1 < CORES_MAX && set[j + 1])
			j++;
		int n = j > i ? snprintf(buf + off, len - off, "%s%d-%d", off ? "," : "", i, j)
			      : snprintf(buf + off, len - off, "%s%d", off ? "," : "", i);
		if (n < 0 || (size_t)n >= len - off)
			return;
		off += (size_t)n;
		i = j;
	}
}
