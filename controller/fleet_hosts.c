#include "fleet_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static const char *host_state(const struct fleet_host *h)
{
	return !h->up ? "down" : h->draining ? "draining" : "up";
}

static json_t *host_json(struct fleet *f, const struct fleet_host *h)
{
	int used = 0;
	json_t *vms = json_array();
	for (size_t i = 0; h->vms && i < json_array_size(h->vms); i++) {
		json_t *v = json_array_get(h->vms, i);
		json_int_t workers = json_integer_value(json_object_get(v, "workers"));
		used += (int)workers;
		json_array_append_new(vms,
				      json_pack("{s:O?, s:O?, s:I, s:O?, s:O?}", "tenant",
						json_object_get(v, "tenant"), "state",
						json_object_get(v, "state"), "workers", workers,
						"max_workers", json_object_get(v, "max_workers"),
						"inflight", json_object_get(v, "inflight")));
	}
	json_int_t ago = h->last_seen_us ? (json_int_t)((time_now_us() - h->last_seen_us) / 1000)
					 : -1;
	json_t *conf = json_pack("{s:b}", "sev_snp", h->sev_snp);
	if (!h->sev_snp && h->sev_snp_reason[0])
		json_object_set_new(conf, "reason", json_string(h->sev_snp_reason));
	return json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:s, s:o, s:o}", "id", h->id, "address",
			 h->address, "state", host_state(h), "cores", h->cores, "cores_used", used,
			 "last_seen_ms_ago", ago, "accel", h->accel, "confidential", conf, "vms",
			 vms);
}

/* ---- the reconciler's pass ------------------------------------------------------------------- */

void fl_hosts_reconcile(struct fleet *f, uint64_t now)
{
	for (size_t i = 0; i < f->n_hosts; i++) {
		struct fleet_host *h = f->hosts[i];
		if (h->up && h->registered &&
		    now - h->last_seen_us > (uint64_t)f->cfg.host_timeout_ms * 1000) {
			h->up = false;
			log_warn("host_down id=%s silent_ms=%llu", h->id,
				 (unsigned long long)((now - h->last_seen_us) / 1000));
			fl_host_lost(f, h, "no heartbeat");
			/* Every controller's fleet sees the host fall silent; the
			 * leader alone records it. */
			if (!fl_is_leader(f))
				continue;
			/* The store write waits for the db lock; take it outside ours. */
			pthread_mutex_unlock(&f->lock);
			pthread_mutex_lock(&f->db->lock);
			store_host_set_down(f->db->store, h->id, true);
			pthread_mutex_unlock(&f->db->lock);
			pthread_mutex_lock(&f->lock);
		}
	}
}

/* ---- registration and heartbeats ------------------------------------------------------------ */

static bool id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n >= STORE_NAME_SIZE)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static bool printable_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* Where the VM an agent reports as ready has no placement (after a
 * controller restart, or when its tenant came to be owned here), the fleet
 * adopts it; another controller's tenant is its owner's to adopt. */
static void vm_adopt(struct fleet *f, struct fleet_host *h, const char *name, json_t *vm)
{
	if (!fl_owns_vm(f, name))
		return;
	struct fleet_vm *v = fl_vm_find(f, name);
	if (!v) {
		/* Not one the fleet has just stopped, which the agent may
		 * still report ready for a heartbeat or two. */
		struct fleet_tenant *t = fl_tenant_of(f, name);
		if (t && time_now_us() - t->stopped_us < FLEET_STOP_GRACE_US)
			return;
		v = fl_vm_adopt(f, name);
	}
	if (!v || v->host || v->placing || !h->up || h->draining)
		return;
	v->host = h;
	v->host_gen = atomic_load(&h->gen);
	v->epoch++;
	v->inflight = 0;
	v->wanted = true;
	v->ready_us = time_now_us();
	vmset_meter_restart(&v->meter, json_integer_value(json_object_get(vm, "pid")));
	/* What it was started with, so a later scaling change knows
	 * whether it needs a restart. */
	json_t *size = json_object_get(vm, "max_workers_limit");
	v->placed_with.min_workers = (int)json_integer_value(json_object_get(vm, "min_workers"));
	v->placed_with.max_workers = (int)json_integer_value(
		size ? size : json_object_get(vm, "max_workers"));
	snprintf(v->placed_with.mechanism, sizeof(v->placed_with.mechanism), "%s",
		 json_string_value(json_object_get(vm, "mechanism")) ?: "");
	snprintf(v->placed_with.policy, sizeof(v->placed_with.policy), "%s",
		 json_string_value(json_object_get(vm, "policy")) ?: "");
	snprintf(v->placed_with.confidential, sizeof(v->placed_with.confidential), "%s",
		 json_string_value(json_object_get(vm, "confidential")) ?: "none");
	snprintf(v->placed_with.host_data, sizeof(v->placed_with.host_data), "%s",
		 json_string_value(json_object_get(vm, "host_data")) ?: "");
	log_info("vm_adopted vm=%s host=%s", name, h->id);
}

/* Takes what a status says: the VMs, their accounting, and VMs to adopt.
 * The lock is held. */
static void take_status(struct fleet *f, struct fleet_host *h, json_t *status)
{
	/* A status without "confidential" (an older agent) cannot launch
	 * SEV-SNP VMs. */
	json_t *conf = json_object_get(status, "confidential");
	h->sev_snp = json_is_true(json_object_get(conf, "sev_snp"));
	snprintf(h->sev_snp_reason, sizeof(h->sev_snp_reason), "%s",
		 json_string_value(json_object_get(conf, "reason")) ?: "");
	json_t *vms = json_object_get(status, "vms");
	if (!json_is_array(vms))
		return;
	json_decref(h->vms);
	h->vms = json_incref(vms);
	const char *accel = json_string_value(json_object_get(status, "accel"));
	if (accel)
		snprintf(h->accel, sizeof(h->accel), "%s", accel);
	size_t i;
	json_t *vm;
	json_array_foreach(vms, i, vm)
	{
		const char *name = json_string_value(json_object_get(vm, "tenant"));
		const char *state = json_string_value(json_object_get(vm, "state"));
		if (!name)
			continue;
		if (state && !strcmp(state, "ready"))
			vm_adopt(f, h, name, vm);
		fl_vm_account(f, h, name, vm, json_integer_value(json_object_get(vm, "pid")));
	}
	pthread_cond_broadcast(&f->changed);
}

int fleet_host_register(struct fleet *f, json_t *body, json_t **ret, char *err, size_t err_size)
{
	const char *id = json_string_value(json_object_get(body, "id"));
	const char *address = json_string_value(json_object_get(body, "address"));
	const char *token = json_string_value(json_object_get(body, "token"));
	const char *boot_id = json_string_value(json_object_get(body, "boot_id"));
	json_t *cores = json_object_get(body, "cores");
	json_t *status = json_object_get(body, "status");
	if (!id_ok(id)) {
		snprintf(err, err_size, "id must match [A-Za-z0-9_.-]{1,63}");
		return -EINVAL;
	}
	if (!address || strncmp(address, "http://", 7) != 0 ||
	    !printable_ok(address, STORE_ADDRESS_SIZE)) {
		snprintf(err, err_size, "address must be an http:// URL");
		return -EINVAL;
	}
	if (!json_is_integer(cores) || json_integer_value(cores) < 1 ||
	    json_integer_value(cores) > 4096) {
		snprintf(err, err_size, "cores must be an integer in 1..4096");
		return -EINVAL;
	}
	if ((token && !printable_ok(token, 128)) || !printable_ok(boot_id, 128)) {
		snprintf(err, err_size,
			 "token and boot_id must be printable strings under 128 bytes");
		return -EINVAL;
	}
	if (status && !json_is_object(status)) {
		snprintf(err, err_size, "status must be an object");
		return -EINVAL;
	}
	pthread_mutex_lock(&f->members);
	pthread_mutex_lock(&f->db->lock);
	int r = store_host_register(f->db->store, id, address, (int)json_integer_value(cores));
	struct store_host sh;
	if (r == 0)
		r = store_host_get(f->db->store, id, &sh);
	pthread_mutex_unlock(&f->db->lock);
	if (r < 0) {
		pthread_mutex_unlock(&f->members);
		snprintf(err, err_size, "cannot record the host: %s", strerror(-r));
		return r;
	}
	pthread_mutex_lock(&f->lock);
	struct fleet_host *h = fl_host_find(f, id);
	if (!h)
		h = fl_host_add(f, id);
	if (!h) {
		pthread_mutex_unlock(&f->lock);
		pthread_mutex_unlock(&f->members);
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	h->removed = false;
	if (h->registered && strcmp(h->boot_id, boot_id) != 0)
		fl_host_lost(f, h, "the agent restarted");
	snprintf(h->address, sizeof(h->address), "%s", address);
	snprintf(h->token, sizeof(h->token), "%s", token ? token : "");
	snprintf(h->boot_id, sizeof(h->boot_id), "%s", boot_id);
	h->cores = (int)json_integer_value(cores);
	h->draining = sh.draining;
	h->registered = true;
	h->up = true;
	h->last_seen_us = time_now_us();
	if (status)
		take_status(f, h, status);
	log_info("host_registered id=%s address=%s cores=%d", id, address, h->cores);
	*ret = host_json(f, h);
	pthread_mutex_unlock(&f->lock);
	pthread_mutex_unlock(&f->members);
	return 0;
}

int fleet_host_heartbeat(struct fleet *f, const char *id, json_t *body)
{
	const char *boot_id = json_string_value(json_object_get(body, "boot_id"));
	json_t *status = json_object_get(body, "status");
	if (!boot_id || (status && !json_is_object(status)))
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	struct fleet_host *h = fl_host_find(f, id);
	int r = 0;
	bool came_back = false;
	if (!h || !h->registered) {
		r = -ENOENT;
	} else if (strcmp(h->boot_id, boot_id) != 0) {
		r = -ESTALE;
	} else {
		came_back = !h->up;
		h->up = true;
		h->last_seen_us = time_now_us();
		if (status)
			take_status(f, h, status);
	}
	pthread_mutex_unlock(&f->lock);
	if (came_back) {
		log_info("host_up id=%s", id);
		pthread_mutex_lock(&f->db->lock);
		store_host_set_down(f->db->store, id, false);
		pthread_mutex_unlock(&f->db->lock);
	}
	return r;
}

int fleet_host_drain(struct fleet *f, const char *id, bool on, json_t **ret)
{
	pthread_mutex_lock(&f->db->lock);
	int r = store_host_set_draining(f->db->store, id, on);
	pthread_mutex_unlock(&f->db->lock);
	if (r < 0)
		return r;
	pthread_mutex_lock(&f->lock);
	struct fleet_host *h = fl_host_find(f, id);
	if (!h)
		h = fl_host_add(f, id);
	if (h) {
		h->draining = on;
		h->removed = false; /* the store has it: a registration came between */
		*ret = host_json(f, h);
	}
	pthread_mutex_unlock(&f->lock);
	log_info("host_drain id=%s on=%d", id, on);
	return h ? 0 : -ENOMEM;
}

/* The VMs on h: placed there, moving off it, being placed there, and while
 * it is up, those its agent reports (orphans being stopped among them). */
static int host_vms(struct fleet *f, const struct fleet_host *h)
{
	int n = 0;
	for (size_t i = 0; i < f->n_vms; i++) {
		const struct fleet_vm *v = f->vms[i];
		n += v->host == h || v->old_host == h || (v->placing && v->placing_on == h);
	}
	if (n == 0 && h->up && h->registered)
		n = (int)json_array_size(h->vms);
	return n;
}

/* Takes h out of use under the lock: refused unless idle or forced. */
static int host_take_out(struct fleet *f, struct fleet_host *h, bool force, json_t **ret,
			 int *ret_vms)
{
	*ret_vms = host_vms(f, h);
	if (*ret_vms > 0 && !force)
		return -EBUSY;
	if (h->up && h->registered)
		fl_host_lost(f, h, "removed by an operator");
	else
		atomic_fetch_add(&h->gen, 1);
	*ret = host_json(f, h);
	h->removed = true;
	h->registered = false;
	h->up = false;
	h->draining = false;
	h->n_artifacts = 0;
	json_decref(h->vms);
	h->vms = NULL;
	pthread_cond_broadcast(&f->changed);
	return 0;
}

int fleet_host_remove(struct fleet *f, const char *id, bool force, json_t **ret, int *ret_vms)
{
	*ret_vms = 0;
	pthread_mutex_lock(&f->members);
	pthread_mutex_lock(&f->lock);
	struct fleet_host *h = fl_host_find(f, id);
	int r = !h || h->removed ? -ENOENT : host_take_out(f, h, force, ret, ret_vms);
	pthread_mutex_unlock(&f->lock);
	if (r == 0) {
		pthread_mutex_lock(&f->db->lock);
		int d = store_host_delete(f->db->store, id);
		pthread_mutex_unlock(&f->db->lock);
		/* Absent from the store is what removal wants. */
		if (d < 0 && d != -ENOENT)
			log_warn("host_remove_store_failed id=%s err=%s", id, strerror(-d));
		log_info("host_removed id=%s force=%d vms=%d", id, force, *ret_vms);
	}
	pthread_mutex_unlock(&f->members);
	return r;
}

json_t *fleet_hosts_json(struct fleet *f)
{
	json_t *a = json_array();
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n_hosts; i++)
		if (!f->hosts[i]->removed)
			json_array_append_new(a, host_json(f, f->hosts[i]));
	pthread_mutex_unlock(&f->lock);
	return json_pack("{s:o}", "hosts", a);
}

void fleet_host_unreachable(struct fleet *f, struct fleet_route *r, const char *why)
{
	struct fleet_host *h = r->host;
	pthread_mutex_lock(&f->lock);
	bool lost = h->up && atomic_load(&h->gen) == r->gen_expected;
	if (lost) {
		h->up = false;
		log_warn("host_down id=%s reason=\"%s\"", h->id, why);
		fl_host_lost(f, h, why);
	}
	pthread_mutex_unlock(&f->lock);
	if (lost) {
		pthread_mutex_lock(&f->db->lock);
		store_host_set_down(f->db->store, h->id, true);
		pthread_mutex_unlock(&f->db->lock);
	}
}

int fl_hosts_metrics(struct fleet *f, struct buf *out)
{
	int up = 0, down = 0, draining = 0;
	for (size_t i = 0; i < f->n_hosts; i++) {
		struct fleet_host *h = f->hosts[i];
		if (h->removed)
			continue;
		if (!h->up)
			down++;
		else if (h->draining)
			draining++;
		else
			up++;
	}
	int r = buf_printf(out,
			   "# HELP ditto_hosts Host agents by state.\n# TYPE ditto_hosts gauge\n"
			   "ditto_hosts{state=\"up\"} %d\nditto_hosts{state=\"down\"} %d\n"
			   "ditto_hosts{state=\"draining\"} %d\n",
			   up, down, draining);
	return r ? -ENOMEM : 0;
}
