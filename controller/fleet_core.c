/* The fleet's bottom layer: finding and adding hosts, tenants and VMs,
 * losing a host, the agents' accounting, calls to agents and the worker
 * threads that make them. fleet_hosts.c
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

struct fleet_tenant *fl_tenant_find(struct fleet *f, const char *name, bool create)
{
	for (size_t i = 0; i < f->n_tenants; i++)
		if (!strcmp(f->tenants[i]->name, name))
			return f->tenants[i];
	if (!create)
		return NULL;
	struct fleet_tenant *t = append_new(&f->tenants, &f->n_tenants, &f->cap_tenants, 16,
					    sizeof(*t));
	if (t) {
		snprintf(t->name, sizeof(t->name), "%s", name);
		policy_state_init(&t->demand, time_now_us() / 1000);
	}
	return t;
}

struct fleet_vm *fl_vm_find(struct fleet *f, const char *name)
{
	for (size_t i = 0; i < f->n_vms; i++)
		if (!strcmp(f->vms[i]->name, name))
			return f->vms[i];
	return NULL;
}

/* A new VM of t under name. */
static struct fleet_vm *vm_add_named(struct fleet *f, struct fleet_tenant *t, const char *name)
{
	struct fleet_vm *v = append_new(&f->vms, &f->n_vms, &f->cap_vms, 16, sizeof(*v));
	if (v) {
		snprintf(v->name, sizeof(v->name), "%s", name);
		v->t = t;
	}
	return v;
}

struct fleet_vm *fl_vm_add(struct fleet *f, struct fleet_tenant *t)
{
	char name[STORE_NAME_SIZE + 16];
	bool first = true;
	for (size_t i = 0; first && i < f->n_vms; i++)
		first = f->vms[i]->t != t;
	/* A later VM gets a K never used since this controller started, so
	 * that it never meets a VM of that name the agent is still stopping. */
	if (first && !fl_vm_find(f, t->name))
		snprintf(name, sizeof(name), "%s", t->name);
	else
		snprintf(name, sizeof(name), "%s.%u", t->name, ++t->next_k);
	if (strlen(name) >= STORE_NAME_SIZE)
		return NULL;
	return vm_add_named(f, t, name);
}

/* The tenant part of a VM name into tenant. Returns its length, or 0 when
 * it does not fit or is empty. */
static size_t tenant_part(const char *vm, char tenant[STORE_NAME_SIZE])
{
	size_t len = strcspn(vm, ".");
	if (len == 0 || len >= STORE_NAME_SIZE)
		return 0;
	memcpy(tenant, vm, len);
	tenant[len] = '\0';
	return len;
}

struct fleet_tenant *fl_tenant_of(struct fleet *f, const char *vm)
{
	char tenant[STORE_NAME_SIZE];
	return tenant_part(vm, tenant) ? fl_tenant_find(f, tenant, false) : NULL;
}

bool fl_owns_vm(const struct fleet *f, const char *vm)
{
	char tenant[STORE_NAME_SIZE];
	return tenant_part(vm, tenant) && fl_owns(f, tenant);
}

struct fleet_vm *fl_vm_adopt(struct fleet *f, const char *name)
{
	char tenant[STORE_NAME_SIZE];
	size_t len = tenant_part(name, tenant);
	uint64_t k = 0;
	if (!len || (name[len] && parse_u64(name + len + 1, 1, UINT32_MAX, &k) < 0))
		return NULL;
	struct fleet_tenant *t = fl_tenant_find(f, tenant, true);
	if (!t)
		return NULL;
	if (k > t->next_k)
		t->next_k = (unsigned)k;
	return vm_add_named(f, t, name);
}

void fl_vm_remove(struct fleet *f, struct fleet_vm *v)
{
	for (size_t i = 0; i < f->n_vms; i++)
		if (f->vms[i] == v) {
			memmove(&f->vms[i], &f->vms[i + 1], (f->n_vms - i - 1) * sizeof(*f->vms));
			f->n_vms--;
			break;
		}
	free(v);
}

void fl_tenant_take(struct fleet_tenant *t, const struct store_scaling *sc)
{
	t->sc = *sc;
	t->known = true;
	/* The API lets no other policy in; were one stored earlier, the
	 * tenant keeps one VM and its agent judges the policy. */
	if (policy_parse(sc->policy, &t->pol) < 0)
		t->pol = (struct policy){ .kind = POLICY_ELASTIC,
					  .keep_alive_ms = POLICY_KEEP_ALIVE_DEFAULT_MS };
	t->scale_out = policy_is_scale_out(&t->pol);
}

void fl_vm_scaling(const struct fleet_tenant *t, struct store_scaling *ret)
{
	*ret = t->sc;
	if (!t->scale_out)
		return;
	struct policy per_vm;
	policy_per_vm(&t->pol, &per_vm);
	ret->min_workers = ret->max_workers = 1;
	if (policy_format(&per_vm, ret->policy, sizeof(ret->policy)) < 0)
		snprintf(ret->policy, sizeof(ret->policy), "fixed:1");
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
			log_warn("vm_lost vm=%s host=%s reason=\"%s\"", v->name, h->id, why);
		}
		if (v->old_host == h)
			v->old_host = NULL;
	}
	pthread_cond_broadcast(&f->changed);
}

json_t *fl_reported_vm(struct fleet_host *h, const char *name)
{
	size_t i;
	json_t *vm;
	json_array_foreach(h->vms, i, vm)
	{
		const char *t = json_string_value(json_object_get(vm, "tenant"));
		if (t && !strcmp(t, name))
			return vm;
	}
	return NULL;
}

/* Reads an agent's "vcpu_ms" and "decision_us" into s. Returns false when
 * the object holds no accounting. */
static bool sample_read(json_t *vm, int64_t pid, struct vmset_sample *s)
{
	json_t *ms = json_object_get(vm, "vcpu_ms");
	if (!json_is_object(ms))
		return false;
	memset(s, 0, sizeof(*s));
	s->pid = pid;
	s->alloc_ms = (uint64_t)json_integer_value(json_object_get(ms, "allocated"));
	s->busy_ms = (uint64_t)json_integer_value(json_object_get(ms, "busy"));
	json_t *d = json_object_get(vm, "decision_us");
	json_t *counts = json_object_get(d, "counts");
	size_t n = json_array_size(counts);
	if (n == 0 || n > VMSET_HIST_MAX || json_array_size(json_object_get(d, "le")) != n)
		return true;
	s->n_buckets = n;
	for (size_t i = 0; i < n; i++)
		s->buckets[i] = (uint64_t)json_integer_value(json_array_get(counts, i));
	s->count = (uint64_t)json_integer_value(json_object_get(d, "count"));
	s->sum_us = (uint64_t)json_integer_value(json_object_get(d, "sum"));
	return true;
}

/* Adds a histogram delta to the fleet's, bucket by bucket of the same
 * bound; the first histogram seen sets the bounds. */
static void histogram_add(struct fleet *f, json_t *le, const struct vmset_delta *d, size_t n)
{
	if (f->n_buckets == 0) {
		for (size_t i = 0; i < n; i++)
			f->bucket_le_us[i] = (uint64_t)json_integer_value(json_array_get(le, i));
		f->n_buckets = n;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t bound = (uint64_t)json_integer_value(json_array_get(le, i));
		for (size_t j = 0; j < f->n_buckets; j++)
			if (f->bucket_le_us[j] == bound)
				f->buckets[j] += d->buckets[i];
	}
	f->decisions += d->count;
	f->decisions_sum_us += d->sum_us;
}

void fl_vm_account(struct fleet *f, struct fleet_host *h, const char *name, json_t *vm, int64_t pid)
{
	struct fleet_vm *v = fl_vm_find(f, name);
	struct vmset_sample s;
	if (!v || !sample_read(vm, pid, &s))
		return;
	struct vmset_meter *m = v->host == h ? &v->meter : v->old_host == h ? &v->old_meter : NULL;
	if (!m)
		return;
	json_t *workers = json_object_get(vm, "workers");
	if (m == &v->meter && json_is_integer(workers))
		v->workers = (int)json_integer_value(workers);
	struct vmset_delta d;
	vmset_meter_take(m, &s, &d);
	v->t->alloc_ms += d.alloc_ms;
	v->t->busy_ms += d.busy_ms;
	if (s.n_buckets)
		histogram_add(f, json_object_get(json_object_get(vm, "decision_us"), "le"), &d,
			      s.n_buckets);
}

const char *fl_error_message(json_t *reply)
{
	const char *m = json_string_value(
		json_object_get(json_object_get(reply, "error"), "message"));
	return m ? m : "no reason given";
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

int fl_job_spawn(struct fleet *f, void *(*fn)(void *), const char *vm, struct fleet_host *h,
		 uint64_t gen)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->f = f;
	snprintf(j->vm, sizeof(j->vm), "%s", vm);
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
	snprintf(path, sizeof(path), "/v1/vms/%s", j->vm);
	int st = fl_agent_call(j->f, j->host, j->gen, "DELETE", path, NULL, 0, NULL, AGENT_CALL_MS,
			       NULL);
	log_info("vm_stop vm=%s host=%s status=%d", j->vm, j->host->id, st);
	fl_job_done(j->f);
	free(j);
	return NULL;
}
