/* The simulator's latency distributions: the file ditto-bench vcpu writes
 * with --latencies-out and ditto-bench simulate reads (format in sim.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "sim.h"
#include "util.h"

#define SAMPLE_MAX_MS 600000.0
#define SAMPLES_MAX 100000

const char *const sim_step_keys[SIM_STEPS] = { "grow_ms", "grow_standby_ms", "shrink_ms",
					       "boot_ms", "call_ms", "touch_ms_per_mib",
					       "warm_call_ms" };

/* Steps every mechanism must have samples of. */
static bool step_required(enum sim_step s)
{
	return s == SIM_GROW || s == SIM_SHRINK || s == SIM_BOOT;
}

static int fail(char *err, size_t err_size, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return r;
}

/* Reads one step's array into d. */
static int parse_dist(json_t *a, const char *mech, const char *key, struct sim_dist *d, char *err,
		      size_t err_size)
{
	if (!json_is_array(a) || json_array_size(a) > SAMPLES_MAX)
		return fail(err, err_size, -EINVAL, "%s.%s: not an array of at most %d numbers",
			    mech, key, SAMPLES_MAX);
	size_t n = json_array_size(a);
	if (n == 0)
		return 0;
	if (!(d->ms = calloc(n, sizeof(*d->ms))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(a, i);
		double ms = json_number_value(v);
		if (!json_is_number(v) || !isfinite(ms) || ms < 0 || ms > SAMPLE_MAX_MS)
			return fail(err, err_size, -EINVAL,
				    "%s.%s[%zu]: not a number of ms in 0..%.0f", mech, key, i,
				    SAMPLE_MAX_MS);
		d->ms[i] = ms;
	}
	d->n = n;
	return 0;
}

static int parse_mech(json_t *o, const char *name, struct sim_mech_lat *m, char *err,
		      size_t err_size)
{
	if (strcmp(name, "precreated") != 0 && strcmp(name, "hotplug") != 0)
		return fail(err, err_size, -EINVAL,
			    "mechanisms.%s: unknown (precreated or hotplug)", name);
	if (!json_is_object(o))
		return fail(err, err_size, -EINVAL, "mechanisms.%s: not an object", name);
	snprintf(m->mechanism, sizeof(m->mechanism), "%s", name);
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v)
	{
		int s = 0;
		while (s < SIM_STEPS && strcmp(key, sim_step_keys[s]) != 0)
			s++;
		if (s == SIM_STEPS)
			return fail(err, err_size, -EINVAL, "%s: unknown key \"%s\"", name, key);
		int r = parse_dist(v, name, key, &m->step[s], err, err_size);
		if (r < 0)
			return r;
	}
	for (int s = 0; s < SIM_STEPS; s++)
		if (step_required(s) && m->step[s].n == 0)
			return fail(err, err_size, -EINVAL, "%s: no %s samples", name,
				    sim_step_keys[s]);
	return 0;
}

static void copy_string(json_t *o, const char *key, char *buf, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));
	snprintf(buf, len, "%s", s ? s : "unknown");
}

int sim_latencies_parse(const char *text, size_t len, struct sim_latencies *ret, char *err,
			size_t err_size)
{
	struct sim_latencies l = { 0 };
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return fail(err, err_size, -EINVAL, "line %d: %s", je.line, je.text);
	int r = 0;
	json_t *mechs = json_object_get(root, "mechanisms");
	if (!json_is_object(root) || !json_is_object(mechs) || json_object_size(mechs) == 0 ||
	    json_object_size(mechs) > SIM_LAT_MECHS) {
		r = fail(err, err_size, -EINVAL, "no \"mechanisms\" object with 1 or 2 entries");
		goto out;
	}
	copy_string(root, "accel", l.accel, sizeof(l.accel));
	copy_string(root, "qemu", l.qemu, sizeof(l.qemu));
	const char *name;
	json_t *m;
	json_object_foreach(mechs, name, m)
	{
		if ((r = parse_mech(m, name, &l.mech[l.n_mech++], err, err_size)) < 0)
			goto out;
	}
out:
	json_decref(root);
	if (r < 0)
		sim_latencies_free(&l);
	else
		*ret = l;
	return r;
}

int sim_latencies_load(const char *path, struct sim_latencies *ret, char *err, size_t err_size)
{
	void *buf;
	size_t len;
	int r = file_read_all(path, &buf, &len);
	if (r < 0)
		return fail(err, err_size, r, "%s: %s", path, strerror(-r));
	char why[200];
	r = sim_latencies_parse(buf, len, ret, why, sizeof(why));
	free(buf);
	if (r < 0)
		return fail(err, err_size, r, "%s: %s", path, why);
	return 0;
}

void sim_latencies_free(struct sim_latencies *l)
{
	if (!l)
		return;
	for (int i = 0; i < SIM_LAT_MECHS; i++)
		for (int s = 0; s < SIM_STEPS; s++) {
			free(l->mech[i].step[s].ms);
			l->mech[i].step[s].ms = NULL;
			l->mech[i].step[s].n = 0;
		}
	l->n_mech = 0;
}

int sim_latencies_find(const char *given, char *buf, size_t len)
{
	if (given) {
		snprintf(buf, len, "%s", given);
		return 0;
	}
	char exe[1024];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(buf, len, "%s/%s", exe, SIM_LATENCIES_DEFAULT);
			if (access(buf, R_OK) == 0)
				return 0;
		}
	}
	snprintf(buf, len, "bench/%s", SIM_LATENCIES_DEFAULT);
	return access(buf, R_OK) == 0 ? 0 : -ENOENT;
}

const struct sim_mech_lat *sim_latencies_mech(const struct sim_latencies *l,
					      const char *mechanism)
{
	for (int i = 0; i < l->n_mech; i++)
		if (strcmp(l->mech[i].mechanism, mechanism) == 0)
			return &l->mech[i];
	return NULL;
}
