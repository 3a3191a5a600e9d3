/* Operator routes: tenants, keys, scaling, hosts and metrics. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact_gc.h"
#include "attestation.h"
#include "controller_int.h"
#include "encoding.h"
#include "forward.h"
#include "log.h"
#include "policy.h"

static json_t *tenant_json(const struct store_tenant *t)
{
	const char *hd = t->scaling.host_data[0] ? t->scaling.host_data : NULL;
	return json_pack("{s:s, s:I, s:{s:i, s:i, s:s, s:s, s:i}, s:s, s:s, s:s?}", "name", t->name,
			 "created_ms", (json_int_t)t->created_ms, "scaling", "min",
			 t->scaling.min_workers, "max", t->scaling.max_workers, "mechanism",
			 t->scaling.mechanism, "policy", t->scaling.policy, "concurrency",
			 t->scaling.concurrency, "confidential", t->scaling.confidential,
			 "attestation", t->scaling.attestation, "host_data", hd);
}

#define SNP_NEEDS_PRECREATED                                              \
	"sev-snp needs the precreated mechanism: a vCPU hot-added after " \
	"launch is not in the launch measurement"
#define SNP_NEEDS_HOST_DATA                                                                \
	"sev-snp needs host_data: the commitment to the tenant secret the VM will accept " \
	"(ditto tenant create --confidential sev-snp makes it)"

/* The body's host_data (NULL: left out, "": null) into *ret. Returns 0, or
 * -EINVAL with what is wrong in err. */
static int host_data_field(json_t *o, const char **ret, char *err, size_t err_size)
{
	json_t *hd = json_object_get(o, "host_data");
	const char *v = hd && json_is_null(hd) ? "" : json_string_value(hd);
	*ret = hd ? v : NULL;
	if (hd && (!v || (v[0] && !store_is_lower_hex(v, STORE_HOST_DATA_SIZE - 1)))) {
		snprintf(err, err_size, "host_data must be %d lower-case hex digits",
			 STORE_HOST_DATA_SIZE - 1);
		return -EINVAL;
	}
	return 0;
}

/* Checks the confidential options (NULL: left out) of a body against
 * themselves and the mechanism they will run with, and merges them into
 * sc. Returns 0, or -EINVAL with what is wrong in err. */
static int confidential_merge(json_t *o, const char *mechanism, struct store_scaling *sc, char *err,
			      size_t err_size)
{
	json_t *conf = json_object_get(o, "confidential"), *att = json_object_get(o, "attestation");
	const char *c = conf ? json_string_value(conf) : sc->confidential;
	const char *a = att ? json_string_value(att) : sc->attestation;
	const char *hd;
	if (host_data_field(o, &hd, err, err_size) < 0)
		return -EINVAL;
	if (!hd)
		hd = sc->host_data;
	if (!c || (strcmp(c, "none") && strcmp(c, "sev-snp"))) {
		snprintf(err, err_size, "confidential must be none or sev-snp");
		return -EINVAL;
	}
	if (!a || (strcmp(a, "optional") && strcmp(a, "required"))) {
		snprintf(err, err_size, "attestation must be optional or required");
		return -EINVAL;
	}
	if (!strcmp(c, "sev-snp") && strcmp(mechanism, "precreated")) {
		snprintf(err, err_size, SNP_NEEDS_PRECREATED);
		return -EINVAL;
	}
	if (!strcmp(c, "sev-snp") && !hd[0]) {
		snprintf(err, err_size, SNP_NEEDS_HOST_DATA);
		return -EINVAL;
	}
	if (!strcmp(a, "required") && strcmp(c, "sev-snp")) {
		snprintf(err, err_size,
			 "attestation required needs confidential sev-snp: a VM without it has "
			 "no hardware evidence to verify");
		return -EINVAL;
	}
	/* They fit: c, a and hd may point into sc, so copy through a buffer. */
	struct store_scaling merged = *sc;
	snprintf(merged.confidential, sizeof(merged.confidential), "%s", c);
	snprintf(merged.attestation, sizeof(merged.attestation), "%s", a);
	snprintf(merged.host_data, sizeof(merged.host_data), "%s", hd);
	*sc = merged;
	return 0;
}

static void tenant_list(struct request *r)
{
	struct store_tenant *ts;
	size_t n;
	struct db *db = &r->ctl->db;
	pthread_mutex_lock(&db->lock);
	int err = store_tenant_list(db->store, &ts, &n);
	pthread_mutex_unlock(&db->lock);
	if (err < 0)
		return reply_internal(r, "tenant_list", err);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, tenant_json(&ts[i]));
	free(ts);
	reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "tenants", a));
}

static bool own_tenant(struct request *r)
{
	if (!r->is_admin && strcmp(r->tenant, r->arg) != 0) {
		reply_error(r, MHD_HTTP_FORBIDDEN, "forbidden",
			    "a tenant key reaches only its own tenant");
		return false;
	}
	return true;
}

/* Reads the path's tenant. Replies 404 (or 500) and returns false when it
 * cannot. */
static bool tenant_lookup(struct request *r, struct store_tenant *t)
{
	struct db *db = &r->ctl->db;
	pthread_mutex_lock(&db->lock);
	int err = store_tenant_get(db->store, r->arg, t);
	pthread_mutex_unlock(&db->lock);
	if (err == -ENOENT)
		reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no tenant %s", r->arg);
	else if (err < 0)
		reply_internal(r, "tenant_get", err);
	return err == 0;
}

static void tenant_get(struct request *r)
{
	struct store_tenant t;
	if (!own_tenant(r) || !tenant_lookup(r, &t))
		return;
	json_t *j = tenant_json(&t);
	json_t *vms = fleet_tenant_json(r->ctl->fleet, r->arg);
	json_object_update(j, vms);
	json_decref(vms);
	reply_json(r, MHD_HTTP_OK, j);
}

static void key_create(struct request *r)
{
	if (!own_tenant(r))
		return;
	char token[STORE_TOKEN_SIZE];
	struct db *db = &r->ctl->db;
	pthread_mutex_lock(&db->lock);
	int err = store_key_create(db->store, r->arg, token);
	pthread_mutex_unlock(&db->lock);
	if (err == -ENOENT)
		return reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no tenant %s", r->arg);
	if (err < 0)
		return reply_internal(r, "key_create", err);
	char key_id[STORE_KEY_ID_SIZE];
	memcpy(key_id, token, sizeof(key_id) - 1);
	key_id[sizeof(key_id) - 1] = '\0';
	reply_json(r, MHD_HTTP_CREATED, json_pack("{s:s, s:s}", "key", token, "key_id", key_id));
}

/* GET /v1/tenants/{t}/keys: ids and creation times, never a secret. */
static void key_list(struct request *r)
{
	struct store_tenant t;
	if (!own_tenant(r) || !tenant_lookup(r, &t))
		return;
	struct store_key *keys;
	size_t n;
	struct db *db = &r->ctl->db;
	pthread_mutex_lock(&db->lock);
	int err = store_key_list(db->store, r->arg, &keys, &n);
	pthread_mutex_unlock(&db->lock);
	if (err < 0)
		return reply_internal(r, "key_list", err);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:I}", "key_id", keys[i].key_id,
						   "created_ms", (json_int_t)keys[i].created_ms));
	free(keys);
	reply_json(r, MHD_HTTP_OK, json_pack("{s:s, s:o}", "tenant", r->arg, "keys", a));
}

/* DELETE /v1/tenants/{t}/keys/{key_id}: the keys verified a moment ago
 * are forgotten with it (key_cache.h), so the key is refused from the next
 * request on, on every connection. */
static void key_revoke(struct request *r)
{
	struct store_tenant t;
	if (!own_tenant(r) || !tenant_lookup(r, &t))
		return;
	struct db *db = &r->ctl->db;
	int err = -ENOENT;
	if (strlen(r->arg2) == STORE_KEY_ID_SIZE - 1 && !strncmp(r->arg2, "dk_", 3) &&
	    store_is_lower_hex(r->arg2 + 3, STORE_KEY_ID_SIZE - 4)) {
		pthread_mutex_lock(&db->lock);
		err = store_key_revoke(db->store, r->arg, r->arg2);
		pthread_mutex_unlock(&db->lock);
		if (err == 0)
			key_cache_forget(&r->ctl->keys);
	}
	if (err == -ENOENT)
		return reply_error(r, MHD_HTTP_NOT_FOUND, "not_found",
				   "tenant %s has no live key %.64s", r->arg, r->arg2);
	if (err < 0)
		return reply_internal(r, "key_revoke", err);
	log_info("key_revoked tenant=%s key_id=%s by=%s", r->arg, r->arg2,
		 r->is_admin ? "(admin)" : r->tenant);
	reply_json(r, MHD_HTTP_OK,
		   json_pack("{s:s, s:s, s:b}", "tenant", r->arg, "key_id", r->arg2, "revoked", 1));
}

#define POLICY_GRAMMAR                                                                        \
	"policy must be elastic[:KEEPALIVE_MS][:hold=MS][:standby=N], periodic:MS, fixed:N, " \
	"fixed:max or scale-out[:KEEPALIVE_MS]"

/* Checks the body's fields and their types; replies and returns false when
 * one is wrong. */
static bool scaling_fields_ok(struct request *r, json_t *o, bool create)
{
	static const char *const fields[] = { "min",         "max",         "mechanism",
					      "policy",      "concurrency", "confidential",
					      "attestation", "host_data",   NULL };
	const char *key;
	json_t *val;
	json_object_foreach(o, key, val)
	{
		bool known = false;
		for (size_t i = 0; fields[i]; i++)
			known |= !strcmp(fields[i], key);
		known |= create && !strcmp(key, "name");
		if (!known) {
			reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field", "unknown field %.64s",
				    key);
			return false;
		}
	}
	json_t *min = json_object_get(o, "min"), *max = json_object_get(o, "max");
	json_t *mech = json_object_get(o, "mechanism"), *pol = json_object_get(o, "policy");
	json_t *conf = json_object_get(o, "confidential"), *att = json_object_get(o, "attestation");
	if ((min && !json_is_integer(min)) || (max && !json_is_integer(max)) ||
	    (mech && !json_is_string(mech)) || (pol && !json_is_string(pol)) ||
	    (conf && !json_is_string(conf)) || (att && !json_is_string(att))) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field",
			    "min and max must be integers, mechanism, policy, confidential and "
			    "attestation strings");
		return false;
	}
	struct policy p;
	if (pol && (policy_parse(json_string_value(pol), &p) < 0 || policy_is_manual(&p))) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field", POLICY_GRAMMAR);
		return false;
	}
	json_t *conc = json_object_get(o, "concurrency");
	if (conc && (!json_is_integer(conc) || json_integer_value(conc) < 1 ||
		     json_integer_value(conc) > STORE_CONCURRENCY_MAX)) {
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field",
			    "concurrency must be an integer 1..%d: the most invocations of the "
			    "tenant's functions running at once",
			    STORE_CONCURRENCY_MAX);
		return false;
	}
	return true;
}

/* Merges the body's fields into sc. Returns 0, or -EINVAL with what is
 * wrong in err. */
static int scaling_merge(json_t *o, struct store_scaling *sc, char *err, size_t err_size)
{
	json_t *min = json_object_get(o, "min"), *max = json_object_get(o, "max");
	json_t *mech = json_object_get(o, "mechanism"), *pol = json_object_get(o, "policy");
	json_int_t lo = min ? json_integer_value(min) : sc->min_workers;
	json_int_t hi = max ? json_integer_value(max) : sc->max_workers;
	const char *m = mech ? json_string_value(mech) : sc->mechanism;
	const char *pp = pol ? json_string_value(pol) : sc->policy;
	snprintf(err, err_size,
		 "need 0 <= min <= max, 1 <= max <= %d and mechanism hotplug or precreated",
		 STORE_MAX_WORKERS);
	if (lo < 0 || lo > STORE_MAX_WORKERS || hi < 0 || hi > STORE_MAX_WORKERS ||
	    strlen(m) >= sizeof(sc->mechanism) || strlen(pp) >= sizeof(sc->policy))
		return -EINVAL;
	struct policy p;
	bool parsed = policy_parse(pp, &p) == 0;
	/* Invocations would wait for a worker that never comes. */
	if (parsed && policy_never_runs(&p, (int)hi)) {
		if (hi < 1)
			snprintf(err, err_size,
				 "max %lld allows no worker vCPU, so nothing could ever run: need "
				 "max >= 1",
				 (long long)hi);
		else
			snprintf(err, err_size,
				 "policy %s keeps no worker vCPU, so nothing could ever run: use "
				 "fixed:N with N >= 1, fixed:max or another policy",
				 pp);
		return -EINVAL;
	}
	int standby = parsed ? policy_standby(&p) : 0;
	/* A standby holds online guest vCPUs that only a precreated VM has,
	 * within its size: the agents refuse a VM that would not. */
	if (standby > 0 && !strcmp(m, "hotplug")) {
		snprintf(err, err_size,
			 "policy %s keeps a standby, which needs the precreated mechanism", pp);
		return -EINVAL;
	}
	if (standby > hi) {
		snprintf(err, err_size, "policy %s keeps a standby of %d, above max %lld", pp,
			 standby, (long long)hi);
		return -EINVAL;
	}
	if (confidential_merge(o, m, sc, err, err_size) < 0)
		return -EINVAL;
	sc->min_workers = (int)lo;
	sc->max_workers = (int)hi;
	/* Only given values are copied: the others already sit in sc. */
	if (mech)
		snprintf(sc->mechanism, sizeof(sc->mechanism), "%s", m);
	if (pol)
		snprintf(sc->policy, sizeof(sc->policy), "%s", pp);
	/* Checked by scaling_fields_ok. */
	json_t *conc = json_object_get(o, "concurrency");
	if (conc)
		sc->concurrency = (int)json_integer_value(conc);
	return 0;
}

/* Hands the tenant's stored concurrency to the invoker, which keeps it in
 * memory. The store has it already: were memory short, a restart would
 * still take it. */
static void concurrency_apply(struct request *r, const struct store_tenant *t)
{
	int err = invoker_tenant_concurrency(r->ctl->invoker, t->name,
					     (unsigned)t->scaling.concurrency);
	if (err < 0)
		log_warn("tenant_concurrency_unapplied name=%s err=%s", t->name, strerror(-err));
}

/* Makes the tenant and its first key together: a failure leaves neither,
 * so a retry with the same name works. Scaling fields given at creation
 * are then set as PUT .../scaling would. */
static void tenant_insert(struct request *r, const char *name, const struct store_scaling *sc,
			  bool scaling_given)
{
	struct db *db = &r->ctl->db;
	char token[STORE_TOKEN_SIZE];
	struct store_tenant t;
	pthread_mutex_lock(&db->lock);
	int err = store_tenant_create_with_key(db->store, name, sc->confidential, sc->attestation,
					       sc->host_data, token);
	if (err == 0 && scaling_given)
		err = store_tenant_set_scaling(db->store, name, sc);
	if (err == 0)
		err = store_tenant_get(db->store, name, &t);
	pthread_mutex_unlock(&db->lock);
	if (err == -EEXIST)
		return reply_error(r, MHD_HTTP_CONFLICT, "exists", "tenant %s already exists",
				   name);
	if (err == -EINVAL)
		return reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_name", "bad tenant name");
	if (err < 0)
		return reply_internal(r, "tenant_create", err);
	concurrency_apply(r, &t);
	if (scaling_given)
		forward_concurrency(r, name, t.scaling.concurrency);
	json_t *j = tenant_json(&t);
	json_object_set_new(j, "key", json_string(token));
	log_info("tenant_created name=%s", name);
	reply_json(r, MHD_HTTP_CREATED, j);
}

/* The body's name, and scaling fields checked as PUT .../scaling checks
 * them, before anything is made. */
static void tenant_create(struct request *r)
{
	json_t *o = body_object(r, false);
	if (!o)
		return;
	const char *name = json_string_value(json_object_get(o, "name"));
	struct store_scaling sc = STORE_SCALING_DEFAULT;
	char why[200];
	bool given = json_object_get(o, "min") || json_object_get(o, "max") ||
		     json_object_get(o, "mechanism") || json_object_get(o, "policy") ||
		     json_object_get(o, "concurrency");
	if (!name || !name_ok(name, false))
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_name", "name must match [a-z0-9-]{1,63}");
	else if (!scaling_fields_ok(r, o, true))
		; /* replied */
	else if (scaling_merge(o, &sc, why, sizeof(why)) < 0)
		reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field", "%s", why);
	else
		tenant_insert(r, name, &sc, given);
	json_decref(o);
}

/* Fields left out keep their current values. The policy is any that
 * policy_parse accepts but manual, which only an agent's operator sets. */
static void scaling_set(struct request *r)
{
	json_t *o = body_object(r, false);
	if (!o)
		return;
	if (!scaling_fields_ok(r, o, false)) {
		json_decref(o);
		return;
	}
	struct db *db = &r->ctl->db;
	struct store_tenant t;
	char err_text[200];
	pthread_mutex_lock(&db->lock);
	int err = store_tenant_get(db->store, r->arg, &t);
	struct store_scaling sc = t.scaling;
	if (err == 0)
		err = scaling_merge(o, &sc, err_text, sizeof(err_text));
	if (err == 0)
		err = store_tenant_set_scaling(db->store, r->arg, &sc);
	if (err == 0)
		err = store_tenant_get(db->store, r->arg, &t);
	pthread_mutex_unlock(&db->lock);
	json_decref(o);
	if (err == -ENOENT)
		return reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no tenant %s", r->arg);
	if (err == -EINVAL)
		return reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field", "%s", err_text);
	if (err < 0)
		return reply_internal(r, "set_scaling", err);
	log_info("tenant_scaling name=%s min=%d max=%d mechanism=%s policy=%s concurrency=%d "
		 "confidential=%s attestation=%s",
		 r->arg, sc.min_workers, sc.max_workers, sc.mechanism, sc.policy, sc.concurrency,
		 sc.confidential, sc.attestation);
	concurrency_apply(r, &t);
	fleet_tenant_scaling(r->ctl->fleet, r->arg, &t.scaling);
	reply_json(r, MHD_HTTP_OK, tenant_json(&t));
}

/* The tenant's VMs' evidence, each verified against the caller's nonce
 * (attestation.h); a tenant without a VM has one placed first. */
static void tenant_attestation(struct request *r)
{
	static const char *const keys[] = { "nonce", NULL };
	if (!own_tenant(r) || !query_only(r, keys))
		return;
	uint8_t nonce[ATTEST_NONCE_MAX];
	int n = attest_nonce_parse(query(r, "nonce"), nonce);
	if (n < 0)
		return reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter",
				   "nonce must be 1..%d bytes as hex digits", ATTEST_NONCE_MAX);
	struct store_tenant t;
	if (!tenant_lookup(r, &t))
		return;
	json_t *vms = NULL;
	char why[256];
	uint64_t deadline = time_now_us() + (uint64_t)PLACEMENT_TIMEOUT_MS * 1000;
	int err = attest_tenant(r->ctl->fleet, r->ctl->links, r->arg, nonce, (size_t)n, deadline,
				&vms, why, sizeof(why));
	/* As an invocation that finds no VM would answer. */
	if (err == -ENOSPC || err == -EIO)
		return reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "no_capacity", "%s", why);
	if (err == -ETIMEDOUT)
		return reply_error(r, MHD_HTTP_GATEWAY_TIMEOUT, "placement_timeout", "%s", why);
	if (err == -ENOMEM)
		return reply_internal(r, "attestation", err);
	if (err < 0)
		return reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "%s", why);
	char hex[2 * ATTEST_NONCE_MAX + 1];
	bytes_to_hex(nonce, (size_t)n, hex);
	reply_json(r, MHD_HTTP_OK,
		   json_pack("{s:s, s:s, s:s, s:s, s:o}", "tenant", r->arg, "nonce", hex,
			     "confidential", t.scaling.confidential, "attestation",
			     t.scaling.attestation, "vms", vms));
}

static void healthz(struct request *r)
{
	reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

/* ---- hosts ---- */

static void hosts_list(struct request *r)
{
	reply_json(r, MHD_HTTP_OK, fleet_hosts_json(r->ctl->fleet));
}

/* GET /v1/controllers: the controllers sharing the store, as this one
 * sees them (cluster.h), and the leader's epoch. */
static void controllers_list(struct request *r)
{
	struct cluster_member *m = NULL;
	size_t n = 0;
	int64_t epoch = 0;
	int e = cluster_members(r->ctl->cluster, &m, &n, &epoch);
	if (e < 0)
		return reply_internal(r, "cluster_members", e);
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
			list, json_pack("{s:s, s:s, s:I, s:I, s:b, s:b, s:b}", "id", m[i].id,
					"address", m[i].address, "started_ms",
					(json_int_t)m[i].started_ms, "last_seen_ms",
					(json_int_t)m[i].last_seen_ms, "live", m[i].live, "leader",
					m[i].leader, "self", m[i].self));
	free(m);
	reply_json(r, MHD_HTTP_OK,
		   json_pack("{s:o, s:I}", "controllers", list, "epoch", (json_int_t)epoch));
}

static void host_register(struct request *r)
{
	json_t *o = body_object(r, false);
	if (!o)
		return;
	char err[256];
	json_t *h = NULL;
	int e = fleet_host_register(r->ctl->fleet, o, &h, err, sizeof(err));
	json_decref(o);
	if (e == -EINVAL)
		return reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field", "%s", err);
	if (e < 0)
		return reply_internal(r, "host_register", e);
	reply_json(r, MHD_HTTP_CREATED, h);
}

static void host_heartbeat(struct request *r)
{
	json_t *o = body_object(r, false);
	if (!o)
		return;
	int e = fleet_host_heartbeat(r->ctl->fleet, r->arg, o);
	json_decref(o);
	if (e == -ENOENT)
		return reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "host %s is not registered",
				   r->arg);
	if (e == -ESTALE)
		return reply_error(r, MHD_HTTP_CONFLICT, "conflict",
				   "host %s registered under another boot", r->arg);
	if (e < 0)
		return reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_field",
				   "need boot_id and an object status");
	reply_json(r, MHD_HTTP_OK, json_object());
}

static void host_drain(struct request *r)
{
	json_t *h = NULL;
	int e = fleet_host_drain(r->ctl->fleet, r->arg, !strcmp(r->method, "POST"), &h);
	if (e == -ENOENT)
		return reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no host %s", r->arg);
	if (e < 0)
		return reply_internal(r, "host_drain", e);
	reply_json(r, MHD_HTTP_OK, h);
}

/* DELETE /v1/hosts/{id}[?force=true]: see fleet_host_remove. */
static void host_remove(struct request *r)
{
	static const char *const keys[] = { "force", NULL };
	bool force = false;
	if (!query_only(r, keys) || !query_bool(r, "force", &force))
		return;
	json_t *h = NULL;
	int vms = 0;
	int e = fleet_host_remove(r->ctl->fleet, r->arg, force, &h, &vms);
	if (e == -ENOENT)
		return reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no host %s", r->arg);
	if (e == -EBUSY)
		return reply_error_with(
			r, MHD_HTTP_CONFLICT, "conflict", json_pack("{s:i}", "vms", vms),
			"host %s has %d VM(s): drain it (POST /v1/hosts/%s/drain) and wait until it "
			"has none, or remove it with ?force=true to treat it as lost",
			r->arg, vms, r->arg);
	if (e < 0)
		return reply_internal(r, "host_remove", e);
	json_object_set_new(h, "removed", json_true());
	json_object_set_new(h, "vms_lost", json_integer(vms));
	reply_json(r, MHD_HTTP_OK, h);
}

/* POST /v1/artifacts/gc[?dry_run=true]: see artifact_gc_run. */
static void artifacts_collect(struct request *r)
{
	static const char *const keys[] = { "dry_run", NULL };
	bool dry_run = false;
	if (!query_only(r, keys) || !query_bool(r, "dry_run", &dry_run))
		return;
	struct controller *c = r->ctl;
	struct artifact_gc_report g;
	/* An artifact is in use while a record says its call has not ended:
	 * the records the recorder still holds are written first. */
	invoker_flush(c->invoker);
	int e = artifact_gc_run(&c->db, &c->artifacts_lock, c->artifacts_dir, dry_run, &g);
	if (e < 0)
		return reply_internal(r, "artifact_gc_run", e);
	log_info("artifacts_collected dry_run=%d count=%zu bytes=%llu orphans=%zu "
		 "orphan_bytes=%llu kept_in_flight=%zu",
		 dry_run, g.collected, (unsigned long long)g.bytes, g.orphans,
		 (unsigned long long)g.orphan_bytes, g.kept_pinned);
	reply_json(r, MHD_HTTP_OK,
		   json_pack("{s:b, s:I, s:I, s:I, s:I, s:I}", "dry_run", dry_run, "collected",
			     (json_int_t)g.collected, "bytes", (json_int_t)g.bytes, "orphans",
			     (json_int_t)g.orphans, "orphan_bytes", (json_int_t)g.orphan_bytes,
			     "kept_in_flight", (json_int_t)g.kept_pinned));
}

static void metrics_get(struct request *r)
{
	struct buf out = { 0 };
	if (metrics_render(r->ctl->metrics, &out) < 0 || fleet_metrics(r->ctl->fleet, &out) < 0) {
		buf_free(&out);
		return reply_internal(r, "metrics", -ENOMEM);
	}
	reply_raw(r, MHD_HTTP_OK, "text/plain; version=0.0.4", (char *)out.data, out.len);
}

/* ---- routes ---- */

/* clang-format off */
const struct api_route api_operator_routes[] = {
	{ { "GET", "/healthz" }, API_AUTH_NONE, 0, NULL, healthz, false, API_ANY },
	{ { "GET", "/metrics" }, API_AUTH_ADMIN, JSON_BODY_MAX, NULL, metrics_get, false, API_ANY },
	{ { "GET", "/v1/tenants" }, API_AUTH_ADMIN, JSON_BODY_MAX,
	  NULL, tenant_list, false, API_ANY },
	{ { "POST", "/v1/tenants" }, API_AUTH_ADMIN, JSON_BODY_MAX,
	  NULL, tenant_create, false, API_ANY },
	{ { "GET", "/v1/tenants/{}" }, API_AUTH_KEY, JSON_BODY_MAX,
	  NULL, tenant_get, false, API_OWNER_PATH },
	{ { "POST", "/v1/tenants/{}/keys" }, API_AUTH_KEY, JSON_BODY_MAX,
	  NULL, key_create, false, API_ANY },
	{ { "GET", "/v1/tenants/{}/keys" }, API_AUTH_KEY, JSON_BODY_MAX,
	  NULL, key_list, false, API_ANY },
	{ { "DELETE", "/v1/tenants/{}/keys/{}" }, API_AUTH_KEY, JSON_BODY_MAX,
	  NULL, key_revoke, false, API_ANY },
	{ { "PUT", "/v1/tenants/{}/scaling" }, API_AUTH_ADMIN, JSON_BODY_MAX,
	  NULL, scaling_set, false, API_OWNER_PATH },
	{ { "GET", "/v1/tenants/{}/attestation" }, API_AUTH_KEY, JSON_BODY_MAX,
	  NULL, tenant_attestation, false, API_OWNER_PATH },
	{ { "GET", "/v1/hosts" }, API_AUTH_ADMIN, JSON_BODY_MAX, NULL, hosts_list, false, API_ANY },
	{ { "GET", "/v1/controllers" }, API_AUTH_ADMIN, JSON_BODY_MAX,
	  NULL, controllers_list, false, API_ANY },
	{ { "POST", "/v1/hosts" }, API_AUTH_ADMIN, JSON_BODY_MAX,
	  NULL, host_register, false, API_ANY },
	{ { "POST", "/v1/hosts/{}/heartbeat" }, API_AUTH_ADMIN, JSON_BODY_MAX,
	  NULL, host_heartbeat, false, API_ANY },
	{ { "POST", "/v1/hosts/{}/drain" }, API_AUTH_ADMIN, JSON_BODY_MAX,
	  NULL, host_drain, false, API_ANY },
	{ { "DELETE", "/v1/hosts/{}/drain" }, API_AUTH_ADMIN, JSON_BODY_MAX,
	  NULL, host_drain, false, API_ANY },
	{ { "DELETE", "/v1/hosts/{}" }, API_AUTH_ADMIN, JSON_BODY_MAX,
	  NULL, host_remove, false, API_ANY },
	{ { "POST", "/v1/artifacts/gc" }, API_AUTH_ADMIN, JSON_BODY_MAX,
	  NULL, artifacts_collect, false, API_ANY },
};
/* clang-format on */
const size_t api_operator_routes_n = ARRAY_SIZE(api_operator_routes);
