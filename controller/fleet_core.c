/* The fleet's bottom layer: finding and adding hosts and VMs, losing a
 * host, calls to agents and the worker threads that make them. fleet_hosts.c
 * and fleet_vms.c build on it; it calls neither. */
#include "fleet_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

/* ---- helpers (the fleet lock is held) ----------------------------------------------------------- */

struct fleet_host *fl_host_find(struct fleet *f, const char *id)
{
	for (size_t i = 0; i < f->n_hosts; i++)
		if (!strcmp(f->hosts[i]->id, id))
			return f->hosts[i];
	return NULL;
}

/* Appends a zeroed, malloc'd object of the given size to an array of
 * pointers to such objects (array is the address of a T ** holding *n of
 * them in *cap). Returns the object, or NULL with nothing changed. */
static void *append_new(void *array, size_t *n, size_t *cap, size_t initial, size_t size)
{
	if (array_reserve(array, cap, *n + 1, sizeof(void *), initial) < 0)
		return NULL;
	void *item = calloc(1, size);
	if (!item)
		return NULL;
	/* The slot is written as bytes: the array's element type is T *. */
	char *items;
	memcpy(&items, array, sizeof(items));
	memcpy(items + *n * sizeof(void *), &item, sizeof(item));
	(*n)++;
	return item;
}

struct fleet_host *fl_host_add(struct fleet *f, const char *id)
{
	struct fleet_host *h = append_new(&f->hosts, &f->n_hosts, &f->cap_hosts, 8, sizeof(*h));
	if (h)
		snprintf(h->id, sizeof(h->id), "%s", id);
	return h;
}

struct fleet_vm *fl_vm_find(struct fleet *f, const char *tenant, bool create)
{
	for (size_t i = 0; i < f->n_vms; i++)
		if (!strcmp(f->vms[i]->tenant, tenant))
			return f->vms[i];
	if (!create)
		return NULL;
	struct fleet_vm *v = append_new(&f->vms, &f->n_vms, &f->cap_vms, 16, sizeof(*v));
	if (v)
		snprintf(v->tenant, sizeof(v->tenant), "%s", tenant);
	return v;
}

void fl_host_lost(struct fleet *f, struct fleet_host *h, const char *why)
{
	atomic_fetch_add(&h->gen, 1);
	h->n_artifacts = 0;
	for (size_t i = 0; i < f->n_vms; i++) {
		struct fleet_vm *v = f->vms[i];
		if (v->host == h) {
			v->host = NULL;
			v->inflight = 0;
			snprintf(v->reason, sizeof(v->reason), "host %s lost: %s", h->id, why);
			log_warn("vm_lost tenant=%s host=%s reason=\"%s\"", v->tenant, h->id, why);
		}
		if (v->old_host == h)
			v->old_host = NULL;
	}
	pthread_cond_broadcast(&f->changed);
}

json_t *fl_reported_vm(struct fleet_host *h, const char *tenant)
{
	size_t i;
	json_t *vm;
	json_array_foreach(h->vms, i, vm)
	{
		const char *t = json_string_value(json_object_get(vm, "tenant"));
		if (t && !strcmp(t, tenant))
			return vm;
	}
	return NULL;
}

void fl_wait_changed(struct fleet *f, uint64_t wait_us)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(wait_us / 1000000);
	ts.tv_nsec += (long)(wait_us % 1000000) * 1000;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&f->changed, &f->lock, &ts);
}

/* ---- agent calls and worker threads ---------------------------------------------------------- */

int fl_agent_call(struct fleet *f, struct fleet_host *h, uint64_t gen, const char *method,
		  const char *path, const void *body, size_t len, const char *file, long timeout_ms,
		  json_t **ret)
{
	char address[STORE_ADDRESS_SIZE], token[128];
	pthread_mutex_lock(&f->lock);
	memcpy(address, h->address, sizeof(address));
	memcpy(token, h->token, sizeof(token));
	pthread_mutex_unlock(&f->lock);
	struct link_call c = {
		.address = address,
		.token = token,
		.method = method,
		.path = path,
		.body = body,
		.body_len = len,
		.body_file = file,
		.timeout_ms = timeout_ms,
		.gen = &h->gen,
		.gen_expected = gen,
	};
	json_t *reply = NULL;
	int status = link_do(f->links, &c, &reply, NULL);
	if (ret)
		*ret = reply;
	else
		json_decref(reply);
	return status;
}

void fl_job_done(struct fleet *f)
{
	pthread_mutex_lock(&f->lock);
	f->workers_running--;
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
}

int fl_job_spawn(struct fleet *f, void *(*fn)(void *), const char *tenant, struct fleet_host *h,
		 uint64_t gen)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->f = f;
	snprintf(j->tenant, sizeof(j->tenant), "%s", tenant);
	j->host = h;
	j->gen = gen;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_t t;
	int r = pthread_create(&t, &attr, fn, j);
	pthread_attr_destroy(&attr);
	if (r) {
		free(j);
		return -r;
	}
	f->workers_running++;
	return 0;
}

void *fl_stop_job(void *arg)
{
	struct job *j = arg;
	char path[128];
	snprintf(path, sizeof(path), "/v1/vms/%s", j->tenant);
	int st = fl_agent_call(j->f, j->host, j->gen, "DELETE", path, NULL, 0, NULL, AGENT_CALL_MS,
			       NULL);
	log_info("vm_stop tenant=%s host=%s status=%d", j->tenant, j->host->id, st);
	fl_job_done(j->f);
	free(j);
	return NULL;
}
