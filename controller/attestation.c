/* Attestation of tenant VMs: the rule, the evidence check and the agent
 * call (see attestation.h). */
#include "attestation.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "encoding.h"
#include "fleet.h"
#include "snp_verify.h"

#define FETCH_TIMEOUT_MS 30000
#define TENANT_VMS_MAX 128 /* VMs of one tenant attested at once */

enum attest_use attest_use(bool required, const struct attest_verdict *v, uint64_t epoch,
			   int64_t pid)
{
	if (!required)
		return ATTEST_USE;
	if (!v->known || v->epoch != epoch || v->pid != pid)
		return ATTEST_VERIFY;
	return v->ok ? ATTEST_USE : ATTEST_REFUSE;
}

int attest_nonce_parse(const char *hex, uint8_t ret[ATTEST_NONCE_MAX])
{
	size_t len = hex ? strlen(hex) : 0;
	if (len < 2 || len > 2 * ATTEST_NONCE_MAX || len % 2)
		return -EINVAL;
	return hex_to_bytes(hex, ret, len / 2) < 0 ? -EINVAL : (int)(len / 2);
}

static void verdict_set(struct attest_verdict *v, bool ok, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void verdict_set(struct attest_verdict *v, bool ok, const char *code, const char *fmt, ...)
{
	v->known = true;
	v->ok = ok;
	snprintf(v->code, sizeof(v->code), "%s", code);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
}

/* Decodes o[key], base64, into malloc'd bytes. Returns 0 (NULL, 0 when it
 * is absent or null) or -EINVAL. */
static int b64_field(json_t *o, const char *key, uint8_t **ret, size_t *ret_len)
{
	json_t *v = json_object_get(o, key);
	*ret = NULL;
	*ret_len = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EINVAL;
	return base64_decode(json_string_value(v), json_string_length(v), ret, ret_len);
}

/* The evidence's parts, decoded. */
struct evidence {
	uint8_t pub[E2E_KEY_SIZE];
	uint8_t measurement[SNP_MEASUREMENT_SIZE];
	bool has_measurement;
	uint8_t *report, *certs;
	size_t report_len, certs_len;
};

/* Decodes sev-snp evidence. Returns 0, or -EINVAL with ret's verdict set. */
static int evidence_decode(json_t *ev, struct evidence *e, struct attest_verdict *ret)
{
	const char *pub = json_string_value(json_object_get(ev, "public_key"));
	const char *m = json_string_value(json_object_get(ev, "measurement"));
	if (hex_to_bytes(pub, e->pub, sizeof(e->pub)) < 0) {
		verdict_set(ret, false, "malformed", "the public key is not 64 hex digits");
		return -EINVAL;
	}
	e->has_measurement = hex_to_bytes(m, e->measurement, sizeof(e->measurement)) == 0;
	if (b64_field(ev, "report", &e->report, &e->report_len) < 0 || !e->report ||
	    b64_field(ev, "certs", &e->certs, &e->certs_len) < 0) {
		verdict_set(ret, false, "malformed", "the report or certificates are not base64");
		return -EINVAL;
	}
	if (!e->has_measurement) {
		verdict_set(ret, false, snp_verify_code(SNP_VERIFY_MEASUREMENT),
			    "the agent reported no expected measurement to check the report's "
			    "against");
		return -EINVAL;
	}
	return 0;
}

const uint8_t *attest_host_data(const char *hex, uint8_t buf[ATTEST_HOST_DATA_SIZE])
{
	return hex && hex[0] && hex_to_bytes(hex, buf, ATTEST_HOST_DATA_SIZE) == 0 ? buf : NULL;
}

/* Verifies SEV-SNP evidence into ret. */
static void snp_check(json_t *ev, const uint8_t *nonce, size_t nonce_len, const uint8_t *host_data,
		      struct attest_verdict *ret)
{
	struct evidence e = { 0 };
	if (evidence_decode(ev, &e, ret) < 0)
		goto out;
	const uint8_t *vcek = NULL;
	size_t vcek_len = 0;
	if (!e.certs ||
	    (snp_cert_table_find(e.certs, e.certs_len, SNP_CERT_GUID_VCEK, &vcek, &vcek_len) < 0 &&
	     snp_cert_table_find(e.certs, e.certs_len, SNP_CERT_GUID_VLEK, &vcek, &vcek_len) < 0)) {
		verdict_set(ret, false, "no_vcek",
			    "the host provided no VCEK or VLEK certificate with the report: "
			    "nothing was verified (get it from AMD's KDS and verify offline with "
			    "ditto attest --report)");
		goto out;
	}
	uint8_t report_data[SNP_REPORT_DATA_SIZE];
	e2e_report_data(nonce, nonce_len, e.pub, report_data);
	struct snp_verify_opts opts = { .cert = vcek,
					.cert_len = vcek_len,
					.measurement = e.measurement,
					.report_data = report_data,
					.host_data = host_data };
	struct snp_verify_result res;
	int r = snp_verify(e.report, e.report_len, &opts, &res);
	if (r == 0 || r == -EACCES) {
		verdict_set(ret, r == 0, snp_verify_code(res.err), "%s", res.message);
	} else {
		/* Not a verdict on the evidence: the next use tries again. */
		verdict_set(ret, false, "unavailable", "the verifier could not run: %s",
			    strerror(-r));
		ret->known = false;
	}
out:
	free(e.report);
	free(e.certs);
}

json_t *attest_check(json_t *ev, const uint8_t *nonce, size_t nonce_len, const uint8_t *host_data,
		     struct attest_verdict *ret)
{
	const char *type = json_string_value(json_object_get(ev, "type"));
	if (type && !strcmp(type, "none"))
		verdict_set(ret, false, snp_verify_code(SNP_VERIFY_EVIDENCE_NONE),
			    "NOT CONFIDENTIAL: evidence type none: the VM runs without SEV-SNP, so "
			    "its host can read its memory and nothing about it is proved");
	else if (type && !strcmp(type, "sev-snp"))
		snp_check(ev, nonce, nonce_len, host_data, ret);
	else
		verdict_set(ret, false, "malformed", "unknown evidence type");
	return json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:{s:b, s:s, s:s}}", "vm",
			 json_object_get(ev, "vm"), "type", json_object_get(ev, "type"),
			 "public_key", json_object_get(ev, "public_key"), "report",
			 json_object_get(ev, "report"), "certs", json_object_get(ev, "certs"),
			 "measurement", json_object_get(ev, "measurement"), "verified", "ok",
			 ret->ok, "code", ret->code, "message", ret->reason);
}

int attest_fetch(struct link_pool *links, const struct link_call *call, const char *vm,
		 const uint8_t *nonce, size_t nonce_len, json_t **ret, char *why, size_t why_size)
{
	char path[128 + 2 * ATTEST_NONCE_MAX];
	int n = snprintf(path, sizeof(path), "/v1/vms/%.63s/attestation?nonce=", vm);
	bytes_to_hex(nonce, nonce_len < ATTEST_NONCE_MAX ? nonce_len : ATTEST_NONCE_MAX, path + n);
	struct link_call c = *call;
	c.method = "GET";
	c.path = path;
	c.body = NULL;
	c.body_len = 0;
	c.body_file = NULL;
	c.timeout_ms = FETCH_TIMEOUT_MS;
	json_t *reply = NULL;
	int st = link_do(links, &c, &reply, NULL);
	if (st == 200 && json_is_object(reply)) {
		*ret = reply;
		return 0;
	}
	const char *msg = json_string_value(
		json_object_get(json_object_get(reply, "error"), "message"));
	if (st < 0)
		snprintf(why, why_size, "the agent could not be asked: %s", strerror(-st));
	else
		snprintf(why, why_size, "the agent answered %d: %s", st, msg ? msg : "no evidence");
	json_decref(reply);
	return st < 0 ? st : -EIO;
}

json_t *attest_vm(struct link_pool *links, const struct link_call *call, const char *vm,
		  const uint8_t *nonce, size_t nonce_len, const uint8_t *host_data,
		  struct attest_verdict *ret)
{
	json_t *ev = NULL;
	char why[256];
	int r = attest_fetch(links, call, vm, nonce, nonce_len, &ev, why, sizeof(why));
	if (r == 0) {
		json_t *entry = attest_check(ev, nonce, nonce_len, host_data, ret);
		json_decref(ev);
		return entry;
	}
	verdict_set(ret, false, "agent_error", "%s", why);
	ret->known = false;
	return json_pack("{s:s, s:n, s:n, s:n, s:n, s:n, s:{s:b, s:s, s:s}}", "vm", vm, "type",
			 "public_key", "report", "certs", "measurement", "verified", "ok", 0,
			 "code", ret->code, "message", ret->reason);
}

/* Attests each route's VM into a new array. */
static json_t *attest_routes(struct fleet *f, struct link_pool *links,
			     const struct fleet_route *routes, size_t n, const uint8_t *nonce,
			     size_t nonce_len)
{
	json_t *vms = json_array();
	for (size_t i = 0; vms && i < n; i++) {
		const struct fleet_route *rt = &routes[i];
		struct link_call c = { .address = rt->address,
				       .token = rt->token,
				       .gen = rt->gen,
				       .gen_expected = rt->gen_expected };
		struct attest_verdict vd = { 0 };
		uint8_t hd[ATTEST_HOST_DATA_SIZE];
		json_t *entry = attest_vm(links, &c, rt->vm, nonce, nonce_len,
					  attest_host_data(rt->host_data, hd), &vd);
		if (!entry) {
			json_decref(vms);
			return NULL;
		}
		fleet_route_attested(f, rt, &vd);
		json_object_set_new(entry, "vm", json_string(rt->vm));
		json_object_set_new(entry, "host", json_string(rt->host_id));
		json_array_append_new(vms, entry);
	}
	return vms;
}

int attest_tenant(struct fleet *f, struct link_pool *links, const char *tenant,
		  const uint8_t *nonce, size_t nonce_len, uint64_t deadline_us, json_t **ret,
		  char *why, size_t why_size)
{
	struct fleet_route *routes = calloc(TENANT_VMS_MAX, sizeof(*routes));
	if (!routes)
		return -ENOMEM;
	size_t n = fleet_tenant_routes(f, tenant, routes, TENANT_VMS_MAX);
	if (n == 0) {
		/* None yet: one is placed as for an invocation. */
		int r = fleet_route_acquire(f, tenant, deadline_us, &routes[0], why, why_size);
		if (r < 0) {
			free(routes);
			return r;
		}
		fleet_route_release(f, &routes[0]);
		n = fleet_tenant_routes(f, tenant, routes, TENANT_VMS_MAX);
	}
	json_t *vms = attest_routes(f, links, routes, n, nonce, nonce_len);
	free(routes);
	if (!vms)
		return -ENOMEM;
	*ret = vms;
	return 0;
}
