/* The VM routes: create, list, get, delete, restart, workers, scaling, the
 * bare round trip to the guest (ping), and the agent's status. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "api_int.h"
#include "encoding.h"
#include "guest_chan.h"
#include "policy.h"
#include "vcpu.h"
#include "vm.h"

/* ---- small parsers ---------------------------------------------------------- */

static json_t *body_json(struct request *r)
{
	const struct buf *b = &r->body.data;
	if (b->len == 0)
		return json_object();
	json_error_t err;
	json_t *j = json_loadb((const char *)b->data, b->len, 0, &err);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		api_reply_error(r, AGENT_E_BAD_JSON, "body is not a JSON object: %s",
				j ? "not an object" : err.text);
		return NULL;
	}
	return j;
}

/* Reads an optional integer field; false (and a 400) on a wrong type/range. */
static bool get_int(struct request *r, json_t *o, const char *key, long lo, long hi, long *val)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		api_reply_error(r, AGENT_E_BAD_FIELD, "%s must be an integer in %ld..%ld", key, lo,
				hi);
		return false;
	}
	*val = (long)json_integer_value(v);
	return true;
}

/* Reads an optional "policy" spec; false (and a 400) when it is malformed. */
static bool get_policy(struct request *r, json_t *o, struct policy *val)
{
	json_t *v = json_object_get(o, "policy");
	if (!v)
		return true;
	if (!json_is_string(v) || policy_parse(json_string_value(v), val) < 0) {
		api_reply_error(r, AGENT_E_BAD_FIELD,
				"policy must be \"manual\", \"elastic[:KEEPALIVE_MS][:hold=MS]"
				"[:standby=N]\" (MS in 0..%d, N in 0..%d), \"periodic:MS\" (MS in "
				"%d..%d), \"fixed:N\" or \"fixed:max\"",
				POLICY_KEEP_ALIVE_MAX_MS, POLICY_MAX_WORKERS, POLICY_PERIOD_MIN_MS,
				POLICY_PERIOD_MAX_MS);
		return false;
	}
	return true;
}

/* Reads an optional "confidential"; false (and a 400) when it is not one. */
static bool get_confidential(struct request *r, json_t *o, enum confidential *val)
{
	json_t *v = json_object_get(o, "confidential");
	if (v && (!json_is_string(v) || confidential_parse(json_string_value(v), val) < 0)) {
		api_reply_error(r, AGENT_E_BAD_FIELD,
				"confidential must be \"none\" or \"sev-snp\"");
		return false;
	}
	return true;
}

/* Reads an optional "host_data" (64 hex digits; null: none); false (and a
 * 400) when it is not that. */
static bool get_host_data(struct request *r, json_t *o, struct vm_spec *spec)
{
	json_t *v = json_object_get(o, "host_data");
	if (!v || json_is_null(v))
		return true;
	if (hex_to_bytes(json_string_value(v), spec->host_data, sizeof(spec->host_data)) < 0) {
		api_reply_error(r, AGENT_E_BAD_FIELD, "host_data must be %zu hex digits",
				2 * sizeof(spec->host_data));
		return false;
	}
	spec->has_host_data = true;
	return true;
}

/* Whether this host can run a VM of this mechanism and confidentiality;
 * false (and a 400 or 409) when not. */
static bool confidential_fits(struct request *r, const struct vm_spec *spec)
{
	if (spec->confidential != CONFIDENTIAL_SEV_SNP)
		return true;
	if (spec->mech != VCPU_PRECREATED) {
		api_reply_error(r, AGENT_E_BAD_FIELD,
				"sev-snp needs the precreated mechanism: a vCPU hot-added after "
				"launch is not in the launch measurement");
		return false;
	}
	if (!spec->has_host_data) {
		api_reply_error(r, AGENT_E_BAD_FIELD,
				"sev-snp needs host_data: the commitment to the tenant secret the "
				"VM will accept");
		return false;
	}
	if (r->server->cfg.snp_refusal) {
		api_reply_error(r, AGENT_E_UNSUPPORTED, "%s", r->server->cfg.snp_refusal);
		return false;
	}
	return true;
}

/* Whether a VM of this mechanism and size can run policy p; false (and a
 * 400) when not. */
static bool policy_fits(struct request *r, enum vcpu_mech mech, int max_workers,
			const struct policy *p)
{
	const char *why = vm_policy_refusal(mech, max_workers, p);
	if (why)
		api_reply_error(r, AGENT_E_BAD_FIELD, "%s", why);
	return !why;
}

/* ---- status ----------------------------------------------------------------- */

void api_get_status(struct request *r, const char *unused)
{
	const struct api_server *srv = r->server;
	api_reply_json(r, MHD_HTTP_OK, srv->ops.status_json(srv->data));
}

/* ---- VMs ---------------------------------------------------------------------- */

struct vm *api_find_vm(struct request *r, const char *tenant)
{
	const struct api_server *srv = r->server;
	struct vm *vm = srv->ops.find_vm(srv->data, tenant);
	if (!vm)
		api_reply_error(r, AGENT_E_NO_VM, "no VM for tenant %s", tenant);
	return vm;
}

struct vm *api_find_ready_vm(struct request *r, const char *tenant)
{
	struct vm *vm = api_find_vm(r, tenant);
	if (vm && (!vm_is_ready(vm) || !vm->chan)) {
		api_reply_error(r, AGENT_E_VM_NOT_READY, "the VM is %s", vm_state_name(vm->state));
		return NULL;
	}
	return vm;
}

void api_list_vms(struct request *r, const char *unused)
{
	const struct api_server *srv = r->server;
	api_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "vms", srv->ops.vms_json(srv->data)));
}

void api_get_vm(struct request *r, const char *tenant)
{
	struct vm *vm = api_find_vm(r, tenant);
	if (vm) {
		vm_sample_memory(vm);
		api_reply_json(r, MHD_HTTP_OK, vm_to_json(vm));
	}
}

static void on_vm_ready(struct vm *vm, int status, void *data)
{
	struct request *r = data;
	if (status == 0)
		api_reply_json(r, MHD_HTTP_CREATED, vm_to_json(vm));
	else if (status == -ECANCELED)
		api_reply_error(r, AGENT_E_CANCELLED, "the VM was stopped before it was ready");
	else
		api_reply_error(r, AGENT_E_VM_FAILED, "VM did not become ready: %s",
				vm_reason(vm)[0] ? vm_reason(vm) : strerror(-status));
	api_resume(r);
}

void api_put_vm(struct request *r, const char *tenant)
{
	const struct api_server *srv = r->server;
	json_t *o = body_json(r);
	if (!o)
		return;
	struct vm_spec spec = { .mech = VCPU_HOTPLUG,
				.max_workers = 2,
				.memory_mib = 256,
				.standby = 1,
				.hotplug_slots = 0 };
	long max_workers = spec.max_workers, mem = spec.memory_mib, standby = -1, slots = 0,
	     min_workers = 0;
	const char *mech = json_string_value(json_object_get(o, "mechanism"));
	bool ok = get_int(r, o, "max_workers", 0, VM_MAX_CPUS - 1, &max_workers) &&
		  get_int(r, o, "memory_mib", 64, 65536, &mem) &&
		  get_int(r, o, "standby", 0, VM_MAX_CPUS - 1, &standby) &&
		  get_int(r, o, "hotplug_slots", 0, VM_MAX_CPUS, &slots) &&
		  get_int(r, o, "min_workers", 0, VM_MAX_CPUS - 1, &min_workers) &&
		  get_policy(r, o, &spec.policy) && get_confidential(r, o, &spec.confidential) &&
		  get_host_data(r, o, &spec);
	if (ok && json_object_get(o, "mechanism") &&
	    (!mech || vcpu_mech_parse(mech, &spec.mech) < 0)) {
		api_reply_error(r, AGENT_E_BAD_FIELD,
				"mechanism must be \"hotplug\" or \"precreated\"");
		ok = false;
	}
	json_decref(o);
	if (!ok)
		return;
	if (min_workers > max_workers) {
		api_reply_error(r, AGENT_E_BAD_FIELD,
				"min_workers must not exceed max_workers (%ld)", max_workers);
		return;
	}
	spec.min_workers = (int)min_workers;
	if (strlen(tenant) >= sizeof(spec.tenant)) {
		api_reply_error(r, AGENT_E_BAD_TENANT, "tenant name is too long");
		return;
	}
	strcpy(spec.tenant, tenant);
	spec.max_workers = (int)max_workers;
	spec.memory_mib = (int)mem;
	spec.standby = standby >= 0 ? (int)standby : (spec.max_workers > 0 ? 1 : 0);
	if (spec.standby > spec.max_workers) {
		api_reply_error(r, AGENT_E_BAD_FIELD, "standby must not exceed max_workers");
		return;
	}
	if (!policy_fits(r, spec.mech, spec.max_workers, &spec.policy) ||
	    !confidential_fits(r, &spec))
		return;
	/* Hotplug: QEMU can create at most maxcpus vCPUs over the VM's life, so
	 * leave room for many grow/shrink cycles by default. */
	spec.hotplug_slots = slots ? (int)slots
				   : (spec.max_workers + 1 > 32 ? spec.max_workers + 1 : 32);
	if (spec.mech == VCPU_HOTPLUG && spec.hotplug_slots < spec.max_workers + 1) {
		api_reply_error(r, AGENT_E_BAD_FIELD,
				"hotplug_slots must be at least max_workers + 1");
		return;
	}
	if (srv->ops.is_stopping(srv->data)) {
		api_reply_errno(r, -ESHUTDOWN, "agent is shutting down");
		return;
	}
	struct vm *vm;
	int err = srv->ops.start_vm(srv->data, &spec, on_vm_ready, r, &vm);
	if (err == -EEXIST) {
		api_reply_error(r, AGENT_E_EXISTS, "tenant %s already has a VM here", tenant);
		return;
	}
	if (err == -EINVAL) {
		api_reply_error(
			r, AGENT_E_BAD_REQUEST,
			"invalid VM spec (tenant name [A-Za-z0-9._-], max_workers, memory_mib)");
		return;
	}
	if (err < 0) {
		if (err == -ENOENT || agent_err_from_errno(err) == AGENT_E_INTERNAL)
			api_reply_error(r, AGENT_E_VM_FAILED, "cannot start VM: %s",
					strerror(-err));
		else
			api_reply_errno(r, err, "cannot start VM");
		return;
	}
	api_suspend(r);
}

void api_delete_vm(struct request *r, const char *tenant)
{
	struct vm *vm = api_find_vm(r, tenant);
	if (!vm)
		return;
	vm_stop(vm);
	api_reply_json(r, MHD_HTTP_OK,
		       json_pack("{s:s, s:s}", "tenant", tenant, "state", "stopping"));
}

void api_restart_vm(struct request *r, const char *tenant)
{
	struct vm *vm = api_find_vm(r, tenant);
	if (!vm)
		return;
	if (r->server->ops.is_stopping(r->server->data)) {
		api_reply_errno(r, -ESHUTDOWN, "agent is shutting down");
		return;
	}
	int err = vm_restart(vm, on_vm_ready, r);
	if (err == -EBUSY) {
		api_reply_error(r, AGENT_E_STOPPING, "the VM is being deleted");
		return;
	}
	if (err < 0) {
		api_reply_errno(r, err, "cannot restart VM");
		return;
	}
	api_suspend(r);
}

static void on_resized(int status, json_t *report, void *data)
{
	struct request *r = data;
	if (status == 0) {
		api_reply_json(r, MHD_HTTP_OK, json_incref(report));
	} else {
		enum agent_err e = agent_err_from_errno(status);
		json_t *body = httpd_error_json(agent_err_name(e), "%s", vcpu_strerror(status));
		if (body && json_object_set(body, "report", report) < 0) {
			json_decref(body);
			body = NULL;
		}
		api_reply_json(r, agent_err_status(e), body);
	}
	api_resume(r);
}

void api_put_workers(struct request *r, const char *tenant)
{
	struct vm *vm = api_find_vm(r, tenant);
	json_t *o = vm ? body_json(r) : NULL;
	if (!o)
		return;
	long n = -1;
	bool ok = get_int(r, o, "count", 0, VM_MAX_CPUS, &n);
	json_decref(o);
	if (!ok)
		return;
	if (n < 0) {
		api_reply_error(r, AGENT_E_BAD_FIELD, "body needs {\"count\": N}");
		return;
	}
	struct policy policy;
	int min, max;
	vm_scaling(vm, &policy, &min, &max);
	if (!policy_is_manual(&policy)) {
		char spec[POLICY_SPEC_MAX];
		policy_format(&policy, spec, sizeof(spec));
		api_reply_error(
			r, AGENT_E_POLICY_ACTIVE,
			"the %s policy sets this VM's worker count; set the policy to manual first "
			"(PUT /v1/vms/%s/scaling)",
			spec, tenant);
		return;
	}
	if (n < min || n > max) {
		api_reply_error(r, AGENT_E_OUT_OF_RANGE, "count must be in %d..%d", min, max);
		return;
	}
	int err = vm_set_workers(vm, (int)n, on_resized, r);
	if (err == -ERANGE) {
		api_reply_error(r, AGENT_E_OUT_OF_RANGE, "count must be in 0..%d",
				vm_max_workers(vm));
		return;
	}
	if (err < 0) {
		api_reply_errno(r, err, "cannot resize");
		return;
	}
	api_suspend(r);
}

void api_put_scaling(struct request *r, const char *tenant)
{
	struct vm *vm = api_find_vm(r, tenant);
	json_t *o = vm ? body_json(r) : NULL;
	if (!o)
		return;
	struct policy p;
	int cur_min, cur_max;
	vm_scaling(vm, &p, &cur_min, &cur_max);
	long min = cur_min, max = cur_max;
	bool ok = get_int(r, o, "min_workers", 0, VM_MAX_CPUS - 1, &min) &&
		  get_int(r, o, "max_workers", 0, VM_MAX_CPUS - 1, &max) && get_policy(r, o, &p);
	json_decref(o);
	if (!ok)
		return;
	if (max > vm_max_workers(vm)) {
		api_reply_error(
			r, AGENT_E_OUT_OF_RANGE,
			"max_workers %ld is over the %d worker vCPUs this VM was started with: the "
			"VM must be restarted with a larger max_workers (DELETE, then PUT "
			"/v1/vms/%s)",
			max, vm_max_workers(vm), tenant);
		return;
	}
	if (min > max) {
		api_reply_error(r, AGENT_E_BAD_FIELD,
				"min_workers (%ld) must not exceed max_workers (%ld)", min, max);
		return;
	}
	if (!policy_fits(r, vm->spec.mech, vm_max_workers(vm), &p))
		return;
	int err = vm_set_scaling(vm, &p, (int)min, (int)max);
	if (err < 0) {
		api_reply_errno(r, err, "cannot change scaling");
		return;
	}
	api_reply_json(r, MHD_HTTP_OK, vm_to_json(vm));
}

/* ---- ping ------------------------------------------------------------------------ */

#define PING_COUNT_DEFAULT 10
#define PING_COUNT_MAX 1000
/* A guest that does not answer one ping in this long fails the request. */
#define PING_TIMEOUT_MS 10000

/* POST /v1/vms/{vm}/ping: WIRE_PING sent `count` times over the VM's
 * channel, each after the previous answer, each round trip timed here. */
struct ping_run {
	struct request *r;
	int count, done;
	uint64_t sent_ns;
	long long rtt_us[];
};

static void on_ping_reply(struct guest_chan *ch, int status, const struct wire_frame *frame,
			  json_t *meta, void *data);

static int ping_send(struct guest_chan *ch, struct ping_run *pr)
{
	pr->sent_ns = uv_hrtime();
	return guest_chan_request(ch, WIRE_PING, NULL, NULL, 0, PING_TIMEOUT_MS, on_ping_reply, pr);
}

static void on_ping_reply(struct guest_chan *ch, int status, const struct wire_frame *frame,
			  json_t *meta, void *data)
{
	struct ping_run *pr = data;
	struct request *r = pr->r;
	if (status == 0) {
		pr->rtt_us[pr->done++] = (long long)((uv_hrtime() - pr->sent_ns) / 1000);
		if (pr->done < pr->count && (status = ping_send(ch, pr)) == 0)
			return;
	}
	if (status == 0) {
		json_t *rtt = json_array();
		for (int i = 0; i < pr->done; i++)
			json_array_append_new(rtt, json_integer(pr->rtt_us[i]));
		api_reply_json(r, MHD_HTTP_OK,
			       json_pack("{s:i, s:o}", "count", pr->done, "rtt_us", rtt));
	} else if (status == -EREMOTEIO) {
		const char *code = json_string_value(json_object_get(meta, "code"));
		api_reply_error(r, AGENT_E_GUEST_ERROR, "the guest refused a ping: %s",
				code ? code : "?");
	} else {
		api_reply_errno(r, status, "ping lost");
	}
	free(pr);
	api_resume(r);
}

void api_post_ping(struct request *r, const char *tenant)
{
	long count = PING_COUNT_DEFAULT;
	if (!api_query_int(r, "count", 1, PING_COUNT_MAX, &count))
		return;
	struct vm *vm = api_find_ready_vm(r, tenant);
	if (!vm)
		return;
	struct ping_run *pr = calloc(1, sizeof(*pr) + (size_t)count * sizeof(pr->rtt_us[0]));
	if (!pr) {
		api_reply_errno(r, -ENOMEM, "cannot ping");
		return;
	}
	pr->r = r;
	pr->count = (int)count;
	int err = ping_send(vm->chan, pr);
	if (err < 0) {
		free(pr);
		api_reply_errno(r, err, "cannot ping");
		return;
	}
	api_suspend(r);
}
