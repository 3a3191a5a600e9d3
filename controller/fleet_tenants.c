/* The tenants' side of the fleet: where their VMs run and what they used
 * (GET /v1/tenants/{t}), scaling changes reaching their VMs, and their
 * accounting in the metrics. */
#include "fleet_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static json_t *vcpu_s_json(uint64_t alloc_ms, uint64_t busy_ms)
{
	return json_pack("{s:f, s:f}", "allocated", (double)alloc_ms / 1000.0, "busy",
			 (double)busy_ms / 1000.0);
}

/* The VM's state as its host last reported it, or where the fleet is with
 * it when it is on no host. */
static const char *vm_state(const struct fleet_vm *v, json_t *reported)
{
	if (v->host)
		return json_string_value(json_object_get(reported, "state")) ?: "booting";
	return v->placing ? "placing" : "none";
}

/* The first VM, as "vm" has always shown it; the lock is held. */
static json_t *first_vm_json(const struct fleet_vm *v)
{
	if (!v->host) {
		if (!v->placing && !v->reason[0])
			return json_null();
		return json_pack("{s:s, s:n, s:s, s:s}", "name", v->name, "host", "state",
				 vm_state(v, NULL), "reason", v->reason);
	}
	json_t *vm = fl_reported_vm(v->host, v->name);
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:O?, s:O?, s:I}", "name", v->name, "host",
			 v->host->id, "state", vm_state(v, vm), "workers",
			 json_integer_value(json_object_get(vm, "workers")), "min_workers",
			 json_integer_value(json_object_get(vm, "min_workers")), "max_workers",
			 json_integer_value(json_object_get(vm, "max_workers")), "mechanism",
			 json_object_get(vm, "mechanism"), "policy", json_object_get(vm, "policy"),
			 "inflight", (json_int_t)v->inflight);
}

/* One entry of "vms"; the lock is held. */
static json_t *set_vm_json(const struct fleet_vm *v)
{
	json_t *vm = v->host ? fl_reported_vm(v->host, v->name) : NULL;
	return json_pack("{s:s, s:s?, s:s, s:I, s:i, s:o}", "name", v->name, "host",
			 v->host ? v->host->id : NULL, "state", vm_state(v, vm), "workers",
			 json_integer_value(json_object_get(vm, "workers")), "inflight",
			 v->inflight + v->old_inflight, "vcpu_s",
			 vcpu_s_json(v->meter.alloc_ms, v->meter.busy_ms));
}

json_t *fleet_tenant_json(struct fleet *f, const char *tenant)
{
	json_t *first = NULL, *vms = json_array();
	pthread_mutex_lock(&f->lock);
	struct fleet_tenant *t = fl_tenant_find(f, tenant, false);
	for (size_t i = 0; t && i < f->n_vms; i++) {
		struct fleet_vm *v = f->vms[i];
		if (v->t != t)
			continue;
		if (!first)
			first = first_vm_json(v);
		json_array_append_new(vms, set_vm_json(v));
	}
	json_t *o = json_pack("{s:o, s:o, s:o}", "vm", first ? first : json_null(), "vms", vms,
			      "vcpu_s", vcpu_s_json(t ? t->alloc_ms : 0, t ? t->busy_ms : 0));
	pthread_mutex_unlock(&f->lock);
	return o;
}

/* ---- scaling changes ------------------------------------------------------------------------ */

/* A VM to tell its new limits and policy. */
struct scaling_call {
	char name[STORE_NAME_SIZE];
	struct fleet_host *host;
	uint64_t gen;
};

static void scaling_send(struct fleet *f, const struct scaling_call *c,
			 const struct store_scaling *sc)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/vms/%.63s/scaling", c->name);
	json_t *body = json_pack("{s:i, s:i, s:s}", "min_workers", sc->min_workers, "max_workers",
				 sc->max_workers, "policy", sc->policy);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	json_t *reply = NULL;
	int st = text ? fl_agent_call(f, c->host, c->gen, "PUT", path, text, strlen(text), NULL,
				      AGENT_CALL_MS, &reply)
		      : -ENOMEM;
	free(text);
	if (st != 200) {
		log_warn("vm_scaling_failed vm=%s host=%s status=%d message=\"%s\"", c->name,
			 c->host->id, st, st > 0 ? fl_error_message(reply) : strerror(-st));
	} else {
		pthread_mutex_lock(&f->lock);
		/* The VM's size (max_workers) and mechanism stay what it was
		 * started with. */
		struct fleet_vm *v = fl_vm_find(f, c->name);
		if (v && v->host == c->host) {
			v->placed_with.min_workers = sc->min_workers;
			memcpy(v->placed_with.policy, sc->policy, sizeof(v->placed_with.policy));
		}
		pthread_mutex_unlock(&f->lock);
	}
	json_decref(reply);
}

void fleet_tenant_scaling(struct fleet *f, const char *tenant, const struct store_scaling *sc)
{
	struct scaling_call calls[8];
	size_t n = 0;
	struct store_scaling vm_sc;
	pthread_mutex_lock(&f->lock);
	struct fleet_tenant *t = fl_tenant_find(f, tenant, false);
	bool was_scale_out = t && t->scale_out;
	if (t)
		fl_tenant_take(t, sc);
	for (size_t i = 0; t && i < f->n_vms; i++) {
		struct fleet_vm *v = f->vms[i];
		if (v->t != t || !v->host)
			continue;
		fl_vm_scaling(t, &vm_sc);
		/* A VM launched for another tenant secret is attested again
		 * (and fails) until it restarts. */
		bool rebind = strcmp(v->placed_with.host_data, vm_sc.host_data) != 0;
		if (rebind)
			v->verdict.known = false;
		bool restart = strcmp(v->placed_with.mechanism, vm_sc.mechanism) != 0 ||
			       strcmp(v->placed_with.confidential, vm_sc.confidential) != 0 ||
			       rebind || vm_sc.max_workers > v->placed_with.max_workers ||
			       was_scale_out != t->scale_out;
		if (restart) {
			v->restart_wanted = true;
			log_info("vm_restart_wanted vm=%s mechanism=%s max=%d policy=%s "
				 "confidential=%s",
				 v->name, vm_sc.mechanism, vm_sc.max_workers, vm_sc.policy,
				 vm_sc.confidential);
		} else if (!t->scale_out && n < sizeof(calls) / sizeof(calls[0])) {
			memcpy(calls[n].name, v->name, sizeof(calls[n].name));
			calls[n].host = v->host;
			calls[n].gen = v->host_gen;
			n++;
		}
	}
	pthread_mutex_unlock(&f->lock);
	for (size_t i = 0; i < n; i++)
		scaling_send(f, &calls[i], sc);
}

/* ---- metrics -------------------------------------------------------------------------------- */

/* t's active worker vCPUs and placed VMs, summed; the lock is held. */
static void tenant_gauges(struct fleet *f, const struct fleet_tenant *t, long long *workers,
			  long long *vms)
{
	*workers = *vms = 0;
	for (size_t i = 0; i < f->n_vms; i++) {
		struct fleet_vm *v = f->vms[i];
		if (v->t != t)
			continue;
		json_t *vm = v->host ? fl_reported_vm(v->host, v->name) : NULL;
		*workers += json_integer_value(json_object_get(vm, "workers"));
		*vms += v->host != NULL;
	}
}

/* One metric family: a line per tenant (kind NULL: a gauge, the workers or
 * the VMs; otherwise the vCPU-seconds of that kind). */
static int tenant_family(struct fleet *f, struct buf *out, const char *name, const char *kind,
			 bool vms)
{
	int r = 0;
	for (size_t i = 0; i < f->n_tenants; i++) {
		const struct fleet_tenant *t = f->tenants[i];
		long long workers, n;
		tenant_gauges(f, t, &workers, &n);
		if (kind)
			r |= buf_printf(out, "%s{tenant=\"%s\",kind=\"%s\"} %.3f\n", name, t->name,
					kind,
					(double)(!strcmp(kind, "busy") ? t->busy_ms : t->alloc_ms) /
						1000.0);
		else
			r |= buf_printf(out, "%s{tenant=\"%s\"} %lld\n", name, t->name,
					vms ? n : workers);
	}
	return r;
}

static int decision_histogram(struct fleet *f, struct buf *out)
{
	int r = buf_printf(out, "# HELP ditto_scale_decision_seconds Time from a change of demand "
				"to the resize the agents requested, over every VM.\n"
				"# TYPE ditto_scale_decision_seconds histogram\n");
	for (size_t i = 0; i < f->n_buckets; i++)
		r |= buf_printf(out, "ditto_scale_decision_seconds_bucket{le=\"%g\"} %llu\n",
				(double)f->bucket_le_us[i] / 1e6,
				(unsigned long long)f->buckets[i]);
	r |= buf_printf(out,
			"ditto_scale_decision_seconds_bucket{le=\"+Inf\"} %llu\n"
			"ditto_scale_decision_seconds_sum %.6f\n"
			"ditto_scale_decision_seconds_count %llu\n",
			(unsigned long long)f->decisions, (double)f->decisions_sum_us / 1e6,
			(unsigned long long)f->decisions);
	return r;
}

int fl_tenants_metrics(struct fleet *f, struct buf *out)
{
	int r = buf_printf(
		out, "# HELP ditto_worker_vcpus Active worker vCPUs of each tenant, over its VMs.\n"
		     "# TYPE ditto_worker_vcpus gauge\n");
	r |= tenant_family(f, out, "ditto_worker_vcpus", NULL, false);
	r |= buf_printf(out, "# HELP ditto_tenant_vms VMs each tenant runs.\n"
			     "# TYPE ditto_tenant_vms gauge\n");
	r |= tenant_family(f, out, "ditto_tenant_vms", NULL, true);
	r |= buf_printf(out, "# HELP ditto_tenant_vcpu_seconds_total Worker vCPU-seconds of each "
			     "tenant's VMs: allocated (granted a host core) and busy (running an "
			     "invocation).\n# TYPE ditto_tenant_vcpu_seconds_total counter\n");
	r |= tenant_family(f, out, "ditto_tenant_vcpu_seconds_total", "allocated", false);
	r |= tenant_family(f, out, "ditto_tenant_vcpu_seconds_total", "busy", false);
	r |= decision_histogram(f, out);
	return r ? -ENOMEM : 0;
}
