/* attest: checks SEV-SNP attestation evidence with lib/snp_verify and prints
 * what it proved. Offline, a report file with its VCEK (or VLEK) and chain;
 * online, every VM of a tenant, fetched with a fresh nonce from
 * GET /v1/tenants/{t}/attestation and verified here again (the controller's
 * verdict is shown, never trusted). */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli.h"
#include "e2e.h"
#include "encoding.h"
#include "sealed.h"
#include "snp_verify.h"
#include "util.h"

#define NOT_CONFIDENTIAL "NOT CONFIDENTIAL: evidence type none (no SEV-SNP hardware)"
#define NONCE_DEFAULT_SIZE 32
#define NONCE_MAX_SIZE 64

/* The command line. */
struct attest {
	const char *tenant;
	const char *report_file, *vcek_file, *chain_file;
	const char *min_tcb;
	enum snp_product product;
	time_t at;
	bool require;
	uint8_t measurement[SNP_MEASUREMENT_SIZE], report_data[SNP_REPORT_DATA_SIZE];
	bool has_measurement, has_report_data;
	/* The HOST_DATA expected (--host-data, else the commitment to the
	 * tenant secret, else online the tenant's host_data), where it came
	 * from, or why there is none. */
	const char *key_file; /* --e2e-key FILE */
	uint8_t host_data[SNP_HOST_DATA_SIZE];
	bool has_host_data;
	char host_data_from[PATH_MAX + 64];
	uint8_t nonce[NONCE_MAX_SIZE];
	size_t nonce_len;
	/* The files' contents. */
	void *vcek, *chain;
	size_t vcek_len, chain_len;
};

/* What one piece of evidence came to. */
struct outcome {
	bool ok;
	const char *code;  /* snp_verify_code, or "evidence_none", "no_vcek", ... */
	char message[320]; /* one line */
	bool verified;     /* snp_verify ran on a parsed report: res holds it */
	struct snp_verify_result res;
	const char *measurement_from; /* "--measurement", "the agent", or NULL */
	const char *host_data_from;   /* attest.host_data_from */
	struct snp_tcb min_tcb;       /* --min-tcb for the report's product */
};

/* ---- what was proved ------------------------------------------------------------------- */

enum check {
	C_SIGNATURE,
	C_CHAIN,
	C_TCB_EXT,
	C_HWID,
	C_MEASUREMENT,
	C_REPORT_DATA,
	C_HOST_DATA,
	C_POLICY,
	C_MIN_TCB,
	C_COUNT
};
static const char *const check_names[C_COUNT] = {
	"signature",   "chain",     "tcb_extensions", "hwid",    "measurement",
	"report_data", "host_data", "policy",         "min_tcb",
};

/* The check whose failure err is. */
static int check_of(enum snp_verify_err err)
{
	switch (err) {
	case SNP_VERIFY_SIG_ALGO:
	case SNP_VERIFY_SIGNER:
	case SNP_VERIFY_SIGNATURE: return C_SIGNATURE;
	case SNP_VERIFY_CERT_MALFORMED:
	case SNP_VERIFY_CERT_EXPIRED:
	case SNP_VERIFY_CERT_NOT_YET:
	case SNP_VERIFY_CHAIN:
	case SNP_VERIFY_ROOT: return C_CHAIN;
	case SNP_VERIFY_TCB_MISMATCH: return C_TCB_EXT;
	case SNP_VERIFY_HWID: return C_HWID;
	case SNP_VERIFY_MEASUREMENT: return C_MEASUREMENT;
	case SNP_VERIFY_REPORT_DATA: return C_REPORT_DATA;
	case SNP_VERIFY_HOST_DATA: return C_HOST_DATA;
	case SNP_VERIFY_POLICY_DEBUG:
	case SNP_VERIFY_POLICY_MIGRATE:
	case SNP_VERIFY_POLICY_SMT: return C_POLICY;
	case SNP_VERIFY_MIN_TCB: return C_MIN_TCB;
	default: return -1;
	}
}

/* "ok", "failed", "not_checked" (not asked for, or not applicable) or
 * "not_reached" (an earlier check failed). */
static const char *check_status(const struct snp_verify_result *r, const struct snp_verify_opts *o,
				enum check c)
{
	const bool passed[C_COUNT] = { r->signature, r->chain,       r->tcb_extensions,
				       r->hwid,      r->measurement, r->report_data,
				       r->host_data, r->policy,      r->min_tcb };
	if (passed[c])
		return "ok";
	if (r->err && check_of(r->err) == (int)c)
		return "failed";
	bool asked = c == C_MEASUREMENT   ? o->measurement != NULL
		     : c == C_REPORT_DATA ? o->report_data != NULL
		     : c == C_HOST_DATA   ? o->host_data != NULL
		     : c == C_MIN_TCB     ? o->min_tcb != NULL
		     : c == C_HWID
			     ? r->report.signer == SNP_SIGNER_VCEK && (r->report.flags & 2) == 0
			     : true;
	return !asked || !r->err ? "not_checked" : "not_reached";
}

static const char *signer_name(enum snp_signer s)
{
	return s == SNP_SIGNER_VCEK ? "vcek" : s == SNP_SIGNER_VLEK ? "vlek" : "none";
}

static void tcb_text(const struct snp_tcb *t, enum snp_product p, char *out, size_t size)
{
	char fmc[16] = "";
	if (p == SNP_PRODUCT_TURIN)
		snprintf(fmc, sizeof(fmc), "fmc=%u ", t->fmc);
	snprintf(out, size, "%sbl=%u tee=%u snp=%u ucode=%u (0x%016llx)", fmc, t->bootloader,
		 t->tee, t->snp, t->microcode, (unsigned long long)t->raw);
}

static void policy_text(uint64_t policy, char *out, size_t size)
{
	snprintf(out, size, "0x%llx (debug %s, migration agent %s, SMT %s)",
		 (unsigned long long)policy, policy & SNP_POLICY_DEBUG ? "allowed" : "off",
		 policy & SNP_POLICY_MIGRATE_MA ? "allowed" : "off",
		 policy & SNP_POLICY_SMT ? "allowed" : "off");
}

/* The label/value rows of a verified report and its checks. */
static void proof_rows(struct table *t, const struct outcome *out, const struct snp_verify_opts *o,
		       const char *indent)
{
	const struct snp_verify_result *r = &out->res;
	const struct snp_report *rep = &r->report;
	char hex[2 * SNP_REPORT_DATA_SIZE + 1], text[160];
	table_add(t, "%sProduct:", indent);
	table_add(t, "%s, signed by the %s", snp_product_name(r->product),
		  rep->signer == SNP_SIGNER_VLEK ? "VLEK" : "VCEK");
	table_add(t, "%sReport:", indent);
	table_add(t, "version %u, VMPL %u, guest SVN %u, firmware %u.%u.%u", rep->version,
		  rep->vmpl, rep->guest_svn, rep->current_major, rep->current_minor,
		  rep->current_build);
	bytes_to_hex(rep->measurement, SNP_MEASUREMENT_SIZE, hex);
	table_add(t, "%sMeasurement:", indent);
	table_add(t, "%s%s%s", hex, out->measurement_from ? " expected by " : "",
		  out->measurement_from ? out->measurement_from : "");
	bytes_to_hex(rep->report_data, SNP_REPORT_DATA_SIZE, hex);
	table_add(t, "%sReport data:", indent);
	table_add(t, "%s", hex);
	bytes_to_hex(rep->host_data, SNP_HOST_DATA_SIZE, hex);
	table_add(t, "%sHost data:", indent);
	table_add(t, "%s (%s%s)", hex, o->host_data ? "expected by " : "not checked: ",
		  out->host_data_from ? out->host_data_from : "no --host-data or --e2e-key");
	tcb_text(&rep->reported_tcb, r->product, text, sizeof(text));
	table_add(t, "%sReported TCB:", indent);
	table_add(t, "%s", text);
	policy_text(rep->policy, text, sizeof(text));
	table_add(t, "%sPolicy:", indent);
	table_add(t, "%s", text);
	bytes_to_hex(rep->chip_id, 8, hex);
	table_add(t, "%sChip ID:", indent);
	table_add(t, "%s...", hex);
	for (int c = 0; c < C_COUNT; c++) {
		const char *st = check_status(r, o, (enum check)c);
		table_add(t, "%s  %s", indent, check_names[c]);
		table_add(t, "%s",
			  strcmp(st, "not_checked") == 0   ? "not checked"
			  : strcmp(st, "not_reached") == 0 ? "not reached"
							   : st);
	}
}

/* The JSON of what was proved, into o. */
static void proof_json(json_t *o, const struct outcome *out, const struct snp_verify_opts *vo)
{
	const struct snp_verify_result *r = &out->res;
	const struct snp_report *rep = &r->report;
	char m[2 * SNP_MEASUREMENT_SIZE + 1], d[2 * SNP_REPORT_DATA_SIZE + 1];
	char hd[2 * SNP_HOST_DATA_SIZE + 1];
	char chip[2 * SNP_CHIP_ID_SIZE + 1], raw[32], policy[32];
	bytes_to_hex(rep->measurement, SNP_MEASUREMENT_SIZE, m);
	bytes_to_hex(rep->report_data, SNP_REPORT_DATA_SIZE, d);
	bytes_to_hex(rep->host_data, SNP_HOST_DATA_SIZE, hd);
	bytes_to_hex(rep->chip_id, SNP_CHIP_ID_SIZE, chip);
	snprintf(raw, sizeof(raw), "0x%016llx", (unsigned long long)rep->reported_tcb.raw);
	snprintf(policy, sizeof(policy), "0x%llx", (unsigned long long)rep->policy);
	const struct snp_tcb *t = &rep->reported_tcb;
	json_t *tcb = json_pack("{s:s, s:i, s:i, s:i, s:i}", "raw", raw, "bl", t->bootloader, "tee",
				t->tee, "snp", t->snp, "ucode", t->microcode);
	if (tcb && r->product == SNP_PRODUCT_TURIN)
		json_object_set_new(tcb, "fmc", json_integer(t->fmc));
	json_t *checks = json_object();
	for (int c = 0; checks && c < C_COUNT; c++)
		json_object_set_new(checks, check_names[c],
				    json_string(check_status(r, vo, (enum check)c)));
	json_object_set_new(o, "product", json_string(snp_product_name(r->product)));
	json_object_set_new(o, "signer", json_string(signer_name(rep->signer)));
	json_object_set_new(o, "version", json_integer(rep->version));
	json_object_set_new(o, "vmpl", json_integer(rep->vmpl));
	json_object_set_new(o, "measurement", json_string(m));
	json_object_set_new(o, "report_data", json_string(d));
	json_object_set_new(o, "host_data", json_string(hd));
	json_object_set_new(o, "reported_tcb", tcb);
	json_object_set_new(o, "policy", json_string(policy));
	json_object_set_new(o, "chip_id", json_string(chip));
	json_object_set_new(o, "checks", checks);
}

/* {"ok", "code", "message"} and, when a report was verified, the proof. */
static json_t *outcome_json(const struct outcome *out, const struct snp_verify_opts *vo)
{
	json_t *o = json_pack("{s:b, s:s, s:s}", "ok", out->ok, "code", out->code, "message",
			      out->message);
	if (o && out->verified)
		proof_json(o, out, vo);
	return o;
}

/* ---- verifying one report -------------------------------------------------------------- */

/* Verifies report with cert (and the chain, time, product, HOST_DATA and
 * checks of the command line); expected measurement and REPORT_DATA may be
 * NULL. */
static void verify(const struct attest *a, const void *report, size_t len, const void *cert,
		   size_t cert_len, const uint8_t *measurement, const uint8_t *report_data,
		   struct snp_verify_opts *o, struct outcome *out)
{
	struct snp_report parsed;
	bool parsed_ok = snp_report_parse(report, len, &parsed) == 0;
	enum snp_product p = a->product ? a->product
					: snp_product_detect(cert, cert_len,
							     parsed_ok ? &parsed : NULL);
	*o = (struct snp_verify_opts){
		.cert = cert,
		.cert_len = cert_len,
		.chain = a->chain,
		.chain_len = a->chain_len,
		.product = a->product,
		.at = a->at,
		.measurement = measurement,
		.report_data = report_data,
		.host_data = a->has_host_data ? a->host_data : NULL,
		.min_tcb = a->min_tcb && snp_tcb_parse(a->min_tcb, p, &out->min_tcb) == 0
				   ? &out->min_tcb
				   : NULL,
	};
	out->host_data_from = a->host_data_from[0] ? a->host_data_from : NULL;
	int r = snp_verify(report, len, o, &out->res);
	out->ok = r == 0;
	out->verified = r != -ENOMEM && r != -EIO && parsed_ok;
	out->code = r == -ENOMEM || r == -EIO ? "internal" : snp_verify_code(out->res.err);
	snprintf(out->message, sizeof(out->message), "%s", out->res.message);
}

/* Reads a file named on the command line. Returns an exit code. */
static int read_file(const char *what, const char *path, void **ret, size_t *ret_len)
{
	int r = file_read_all(path, ret, ret_len);
	if (r < 0)
		return cli_fail(CLI_EXIT_API, "cannot read %s %s: %s", what, path, strerror(-r));
	return CLI_EXIT_OK;
}

/* Expects the commitment to the tenant secret at path. Returns an exit
 * code. */
static int host_data_from_secret(const struct cli_command *cmd, struct attest *a, const char *path)
{
	const struct sealed_opts so = { .key_file = path };
	int code = sealed_host_data(cmd, &so, false, a->host_data);
	if (!code) {
		a->has_host_data = true;
		snprintf(a->host_data_from, sizeof(a->host_data_from), "the tenant secret %s",
			 path);
	}
	return code;
}

/* ---- offline --------------------------------------------------------------------------- */

static int run_offline(struct cli *cli, const struct cli_command *cmd, struct attest *a)
{
	void *report = NULL;
	size_t len = 0;
	int code = a->key_file ? host_data_from_secret(cmd, a, a->key_file) : CLI_EXIT_OK;
	if (!code)
		code = read_file("the report", a->report_file, &report, &len);
	if (code)
		return code;
	struct outcome out = { 0 };
	struct snp_verify_opts o;
	verify(a, report, len, a->vcek, a->vcek_len, a->has_measurement ? a->measurement : NULL,
	       a->has_report_data ? a->report_data : NULL, &o, &out);
	free(report);
	if (cli->json) {
		json_t *j = outcome_json(&out, &o);
		code = cli_print_json(j);
		json_decref(j);
	} else if (out.verified) {
		struct table t;
		table_init(&t, 2);
		proof_rows(&t, &out, &o, "");
		table_add(&t, "Result:");
		table_add(&t, "%s", out.ok ? "verified" : "FAILED");
		code = cli_print_table(&t);
	}
	if (!out.ok)
		return cli_fail(CLI_EXIT_API, "%s: %s", out.code, out.message);
	return code;
}

/* ---- online ---------------------------------------------------------------------------- */

static void outcome_set(struct outcome *out, bool ok, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void outcome_set(struct outcome *out, bool ok, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	out->ok = ok;
	out->code = code;
	vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
}

/* The VCEK (or VLEK) for a report: from the evidence's certificate table,
 * else the --vcek file. Returns false when there is none. */
static bool evidence_cert(const struct attest *a, const uint8_t *certs, size_t certs_len,
			  const void *report, size_t len, const uint8_t **ret, size_t *ret_len)
{
	struct snp_report r;
	const char *guid = snp_report_parse(report, len, &r) == 0 && r.signer == SNP_SIGNER_VLEK
				   ? SNP_CERT_GUID_VLEK
				   : SNP_CERT_GUID_VCEK;
	if (certs && snp_cert_table_find(certs, certs_len, guid, ret, ret_len) == 0)
		return true;
	*ret = a->vcek;
	*ret_len = a->vcek_len;
	return a->vcek != NULL;
}

/* Verifies one VM's sev-snp evidence: the report with its VCEK, REPORT_DATA
 * bound to the nonce and the VM's key, the measurement expected. */
static void vm_verify_snp(const struct attest *a, const json_t *vm, struct snp_verify_opts *o,
			  struct outcome *out)
{
	const char *pub_hex = field_str(vm, "public_key"), *rep64 = field_str(vm, "report");
	const char *certs64 = field_str(vm, "certs"), *meas_hex = field_str(vm, "measurement");
	uint8_t pub[E2E_KEY_SIZE], want[SNP_REPORT_DATA_SIZE], meas[SNP_MEASUREMENT_SIZE];
	uint8_t *report = NULL, *certs = NULL;
	size_t len = 0, certs_len = 0;
	if (!pub_hex || hex_to_bytes(pub_hex, pub, sizeof(pub)) < 0 || !rep64 ||
	    base64_decode(rep64, strlen(rep64), &report, &len) < 0 ||
	    (certs64 && base64_decode(certs64, strlen(certs64), &certs, &certs_len) < 0) ||
	    (!a->has_measurement && meas_hex && hex_to_bytes(meas_hex, meas, sizeof(meas)) < 0)) {
		outcome_set(out, false, "malformed",
			    "the evidence's public_key, report, certs or "
			    "measurement is not well formed");
		goto out;
	}
	const uint8_t *cert;
	size_t cert_len;
	if (!evidence_cert(a, certs, certs_len, report, len, &cert, &cert_len)) {
		outcome_set(out, false, "no_vcek",
			    "the evidence holds no VCEK: the VCEK is needed (--vcek FILE, from "
			    "AMD's KDS for this chip and TCB)");
		goto out;
	}
	e2e_report_data(a->nonce, a->nonce_len, pub, want);
	const uint8_t *expected = a->has_measurement ? a->measurement : meas_hex ? meas : NULL;
	out->measurement_from = a->has_measurement ? "--measurement"
				: meas_hex         ? "the agent"
						   : NULL;
	verify(a, report, len, cert, cert_len, expected, want, o, out);
out:
	free(report);
	free(certs);
}

/* Prints one VM's outcome as a label/value block. */
static void vm_print(const json_t *vm, const struct outcome *out, const struct snp_verify_opts *o)
{
	const json_t *ctl = json_object_get(vm, "verified");
	printf("VM %s on host %s (%s): %s\n", or_dash(field_str(vm, "vm")),
	       or_dash(field_str(vm, "host")), or_dash(field_str(vm, "type")),
	       out->ok ? "passed" : "FAILED");
	struct table t;
	table_init(&t, 2);
	if (out->verified)
		proof_rows(&t, out, o, "  ");
	table_add(&t, "  Result:");
	if (out->ok && out->verified)
		table_add(&t, "verified: %s", out->message);
	else
		table_add(&t, "%s: %s", out->code, out->message);
	table_add(&t, "  Controller:");
	table_add(&t, "%s", ctl ? or_dash(field_str(ctl, "code")) : "-");
	cli_print_table(&t);
}

/* Checks one VM of the answer; prints it (without --json) and adds its
 * JSON to vms. Returns whether it passed, with its failure in *first_err
 * when it is the first. */
static bool vm_check(const struct cli *cli, const struct attest *a, const json_t *vm, bool required,
		     json_t *vms, char *first_err, size_t err_size)
{
	const char *type = field_str(vm, "type");
	struct outcome out = { 0 };
	struct snp_verify_opts o = { 0 };
	if (type && strcmp(type, "none") == 0)
		outcome_set(&out, !a->require && !required, "evidence_none", "%s%s",
			    NOT_CONFIDENTIAL,
			    a->require ? ", and --require was given"
			    : required ? ", and the tenant requires attestation"
				       : "");
	else if (type && strcmp(type, "sev-snp") == 0)
		vm_verify_snp(a, vm, &o, &out);
	else
		outcome_set(&out, false, "malformed", "unknown evidence type \"%s\"",
			    or_dash(type));
	json_t *j = outcome_json(&out, &o);
	static const char *const copied[] = { "vm", "host", "type", "public_key" };
	for (size_t i = 0; j && i < sizeof(copied) / sizeof(copied[0]); i++)
		json_object_set(j, copied[i], json_object_get(vm, copied[i]));
	if (j)
		json_object_set(j, "controller", json_object_get(vm, "verified"));
	json_array_append_new(vms, j);
	if (!cli->json)
		vm_print(vm, &out, &o);
	if (!out.ok && !first_err[0])
		snprintf(first_err, err_size, "VM %s: %s: %s", or_dash(field_str(vm, "vm")),
			 out.code, out.message);
	return out.ok;
}

/* The HOST_DATA the tenant's sev-snp VMs must report, unless --host-data
 * gave it: the commitment to the tenant secret when there is one
 * (--e2e-key FILE; else $DITTO_E2E_KEY or ~/.config/ditto/TENANT.e2e-key
 * when that file exists), else the host_data of the tenant's record on the
 * controller (none: not checked, saying why). Returns an exit code. */
static int host_data_resolve(struct cli *cli, const struct cli_command *cmd, struct attest *a)
{
	char path[PATH_MAX];
	if (a->has_host_data)
		return CLI_EXIT_OK;
	if (a->key_file)
		return host_data_from_secret(cmd, a, a->key_file);
	if (sealed_secret_path(NULL, a->tenant, path, sizeof(path)) == 0 && access(path, F_OK) == 0)
		return host_data_from_secret(cmd, a, path);
	json_t *t = NULL;
	int code = cli_path(cmd, "/v1/tenants/%s", "TENANT", a->tenant, path);
	if (!code)
		code = cli_call(cli, "GET", path, NULL, &t);
	const char *hd = field_str(t, "host_data");
	if (code)
		; /* said already */
	else if (!hd)
		snprintf(a->host_data_from, sizeof(a->host_data_from),
			 "no tenant secret here, and the tenant has no host_data");
	else if (hex_to_bytes(hd, a->host_data, sizeof(a->host_data)) < 0)
		code = cli_fail(CLI_EXIT_API, "the tenant's host_data is not %d hex digits",
				2 * SNP_HOST_DATA_SIZE);
	else {
		a->has_host_data = true;
		snprintf(a->host_data_from, sizeof(a->host_data_from),
			 "the tenant's host_data on the controller (no tenant secret here)");
	}
	json_decref(t);
	return code;
}

/* Does the answer list a VM with sev-snp evidence? */
static bool has_snp(const json_t *vms)
{
	size_t i;
	const json_t *vm;
	json_array_foreach(vms, i, vm)
	{
		if (strcmp(or_dash(field_str(vm, "type")), "sev-snp") == 0)
			return true;
	}
	return false;
}

/* Checks every VM of the controller's answer. Returns an exit code. */
static int answer_check(struct cli *cli, const struct cli_command *cmd, struct attest *a,
			const json_t *att)
{
	char nonce_hex[2 * NONCE_MAX_SIZE + 1], err[512] = "";
	bytes_to_hex(a->nonce, a->nonce_len, nonce_hex);
	const char *got = field_str(att, "nonce");
	if (!got || strcasecmp(got, nonce_hex) != 0)
		return cli_fail(CLI_EXIT_API, "the attestation answer is not for nonce %s",
				nonce_hex);
	bool required = strcmp(or_dash(field_str(att, "attestation")), "required") == 0;
	const json_t *list = json_object_get(att, "vms"), *vm;
	int code = has_snp(list) ? host_data_resolve(cli, cmd, a) : CLI_EXIT_OK;
	if (code)
		return code;
	json_t *vms = json_array();
	size_t i, passed = 0;
	if (!vms)
		return cli_fail(CLI_EXIT_API, "out of memory");
	if (!cli->json)
		printf("Tenant %s, nonce %s, confidential %s, attestation %s\n", a->tenant,
		       nonce_hex, or_dash(field_str(att, "confidential")),
		       or_dash(field_str(att, "attestation")));
	json_array_foreach(list, i, vm)
	{
		passed += vm_check(cli, a, vm, required, vms, err, sizeof(err));
	}
	size_t n = json_array_size(list);
	bool ok = n > 0 && passed == n;
	if (cli->json) {
		char hd[2 * SNP_HOST_DATA_SIZE + 1];
		bytes_to_hex(a->host_data, sizeof(a->host_data), hd);
		json_t *o = json_pack("{s:s, s:s, s:O?, s:O?, s:b, s:{s:s?, s:s?}, s:o}", "tenant",
				      a->tenant, "nonce", nonce_hex, "confidential",
				      json_object_get(att, "confidential"), "attestation",
				      json_object_get(att, "attestation"), "ok", ok, "host_data",
				      "expected", a->has_host_data ? hd : NULL, "from",
				      a->host_data_from[0] ? a->host_data_from : NULL, "vms", vms);
		code = cli_print_json(o);
		json_decref(o);
	} else {
		json_decref(vms);
	}
	if (n == 0)
		return cli_fail(CLI_EXIT_API, "tenant %s: the answer lists no VM", a->tenant);
	if (!ok)
		return cli_fail(CLI_EXIT_API, "tenant %s: %zu of %zu VMs failed; %s", a->tenant,
				n - passed, n, err);
	return code;
}

static int run_online(struct cli *cli, const struct cli_command *cmd, struct attest *a)
{
	if (a->nonce_len == 0) {
		a->nonce_len = NONCE_DEFAULT_SIZE;
		if (getrandom(a->nonce, a->nonce_len, 0) != (ssize_t)a->nonce_len)
			return cli_fail(CLI_EXIT_API, "cannot make a nonce: %s", strerror(errno));
	}
	char path[CLI_PATH_SIZE], hex[2 * NONCE_MAX_SIZE + 1];
	int code = cli_path(cmd, "/v1/tenants/%s/attestation", "TENANT", a->tenant, path);
	if (code)
		return code;
	bytes_to_hex(a->nonce, a->nonce_len, hex);
	cli_query_add(path, "nonce", hex);
	json_t *att = NULL;
	if ((code = cli_call(cli, "GET", path, NULL, &att)))
		return code;
	code = answer_check(cli, cmd, a, att);
	json_decref(att);
	return code;
}

/* ---- the command line ------------------------------------------------------------------ */

/* Parses the value of an option that takes hex of n bytes (exactly, or
 * 1..n when range is true). Returns 0 or an exit code. */
static int hex_opt(const struct cli_command *cmd, const char *name, const char *s, uint8_t *out,
		   size_t n, bool range, size_t *ret_len)
{
	size_t len = strlen(s) / 2;
	bool fits = range ? len >= 1 && len <= n && strlen(s) % 2 == 0 : strlen(s) == 2 * n;
	if (!fits || hex_to_bytes(s, out, len) < 0)
		return range ? cli_usage_error(cmd, "%s must be 1 to %zu bytes as hex, got \"%s\"",
					       name, n, s)
			     : cli_usage_error(cmd, "%s must be %zu hex digits, got \"%s\"", name,
					       2 * n, s);
	if (ret_len)
		*ret_len = len;
	return 0;
}

/* Checks the combination of options and loads the files. Returns an exit
 * code, or -1 when the command goes on. */
static int attest_prepare(const struct cli_command *cmd, struct attest *a, int argc, char **argv)
{
	int code = cli_need_args(cmd, argc, argv, 0, 1);
	if (code)
		return code;
	a->tenant = optind < argc ? argv[optind] : NULL;
	if (!a->tenant == !a->report_file)
		return cli_usage_error(cmd, "give a TENANT (online) or --report FILE (offline)");
	if (a->report_file && !a->vcek_file)
		return cli_usage_error(cmd, "--report needs --vcek FILE (the VCEK or VLEK)");
	if (a->tenant && a->has_report_data)
		return cli_usage_error(cmd, "--report-data is for --report: online, REPORT_DATA "
					    "must bind the nonce and the VM's key");
	if (!a->tenant && a->nonce_len)
		return cli_usage_error(cmd, "--nonce is for the online form (TENANT)");
	if (a->has_host_data && a->key_file)
		return cli_usage_error(cmd, "give --host-data or --e2e-key, not both: HOST_DATA is "
					    "given, or computed from the tenant secret");
	if (a->vcek_file && (code = read_file("the VCEK", a->vcek_file, &a->vcek, &a->vcek_len)))
		return code;
	if (a->chain_file &&
	    (code = read_file("the chain", a->chain_file, &a->chain, &a->chain_len)))
		return code;
	return -1;
}

static int attest_parse(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
			struct attest *a)
{
	enum {
		O_REPORT = OPT_FIRST_COMMAND,
		O_VCEK,
		O_CHAIN,
		O_MEAS,
		O_RDATA,
		O_MIN_TCB,
		O_PRODUCT,
		O_AT,
		O_NONCE,
		O_REQUIRE,
		O_HOST_DATA,
		O_E2E_KEY
	};
	static const struct option opts[] = {
		{ "report", required_argument, NULL, O_REPORT },
		{ "vcek", required_argument, NULL, O_VCEK },
		{ "chain", required_argument, NULL, O_CHAIN },
		{ "measurement", required_argument, NULL, O_MEAS },
		{ "report-data", required_argument, NULL, O_RDATA },
		{ "min-tcb", required_argument, NULL, O_MIN_TCB },
		{ "product", required_argument, NULL, O_PRODUCT },
		{ "at", required_argument, NULL, O_AT },
		{ "nonce", required_argument, NULL, O_NONCE },
		{ "require", no_argument, NULL, O_REQUIRE },
		{ "host-data", required_argument, NULL, O_HOST_DATA },
		{ "e2e-key", required_argument, NULL, O_E2E_KEY },
		CLI_GLOBAL_OPTIONS,
	};
	struct snp_tcb tcb;
	int64_t at;
	int c, code = 0;
	while ((c = cli_getopt(cli, cmd, argc, argv, opts)) != -1) {
		switch (c) {
		case O_REPORT: a->report_file = optarg; break;
		case O_VCEK: a->vcek_file = optarg; break;
		case O_CHAIN: a->chain_file = optarg; break;
		case O_MEAS:
			code = hex_opt(cmd, "--measurement", optarg, a->measurement,
				       SNP_MEASUREMENT_SIZE, false, NULL);
			a->has_measurement = true;
			break;
		case O_RDATA:
			code = hex_opt(cmd, "--report-data", optarg, a->report_data,
				       SNP_REPORT_DATA_SIZE, false, NULL);
			a->has_report_data = true;
			break;
		case O_HOST_DATA:
			code = hex_opt(cmd, "--host-data", optarg, a->host_data, SNP_HOST_DATA_SIZE,
				       false, NULL);
			a->has_host_data = true;
			snprintf(a->host_data_from, sizeof(a->host_data_from), "--host-data");
			break;
		case O_E2E_KEY: a->key_file = optarg; break;
		case O_NONCE:
			code = hex_opt(cmd, "--nonce", optarg, a->nonce, NONCE_MAX_SIZE, true,
				       &a->nonce_len);
			break;
		case O_MIN_TCB:
			if (snp_tcb_parse(optarg, SNP_PRODUCT_UNKNOWN, &tcb) < 0)
				return cli_usage_error(
					cmd,
					"--min-tcb must be bl=N,tee=N,snp=N,ucode=N[,fmc=N] (any of "
					"them) or 16 hex digits, got \"%s\"",
					optarg);
			a->min_tcb = optarg;
			break;
		case O_PRODUCT:
			if (snp_product_parse(optarg, &a->product) < 0)
				return cli_usage_error(
					cmd, "--product must be milan, genoa or turin, got \"%s\"",
					optarg);
			break;
		case O_AT:
			if (parse_i64(optarg, 1, INT64_MAX, &at) < 0)
				return cli_usage_error(
					cmd,
					"--at must be a time in seconds since 1970, got \"%s\"",
					optarg);
			a->at = (time_t)at;
			break;
		case O_REQUIRE: a->require = true; break;
		default: return cli_opt_default(cmd, c);
		}
		if (code)
			return code;
	}
	return attest_prepare(cmd, a, argc, argv);
}

static int run_attest(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	struct attest a = { 0 };
	int code = attest_parse(cli, cmd, argc, argv, &a);
	if (code < 0)
		code = a.tenant ? run_online(cli, cmd, &a) : run_offline(cli, cmd, &a);
	free(a.vcek);
	free(a.chain);
	return code;
}

const struct cli_command cmd_attest = {
	"attest",
	"(TENANT [--nonce HEX] [--require] | --report FILE --vcek FILE [--report-data HEX]) "
	"[--host-data HEX | --e2e-key FILE] [--chain FILE] [--measurement HEX] [--min-tcb SPEC] "
	"[--product P] [--at TIME]",
	"verify SEV-SNP attestation evidence: a tenant's VMs, or a report file offline",
	"Checks an SEV-SNP attestation report: its ECDSA P-384 signature with the VCEK (or VLEK),\n"
	"that certificate's chain to AMD's root key for the product (pinned in Ditto), its TCB\n"
	"and hardware-ID extensions against the report, the guest policy (no debugging, no\n"
	"migration agent), and what is asked below. Prints what it proved; exits 0 only when\n"
	"every check passed, else 1 with the failure's code on stderr.\n\n"
	"Online (TENANT): asks the controller for every VM's evidence with a fresh nonce and\n"
	"verifies each here: REPORT_DATA must be SHA-512(nonce || the VM's public key), the\n"
	"measurement the one given (else the one the agent computed), the VCEK the one in the\n"
	"evidence (else --vcek), HOST_DATA the commitment to the tenant secret (--e2e-key, else\n"
	"$DITTO_E2E_KEY or ~/.config/ditto/TENANT.e2e-key when it exists, else the tenant's\n"
	"host_data on the controller; not checked when there is none, which the output says).\n"
	"A VM without SEV-SNP gives evidence of type none: printed as\n"
	"\"" NOT_CONFIDENTIAL "\", a failure with --require or\n"
	"when the tenant requires attestation.\n\n"
	"options:\n"
	"  --report FILE       the report: raw (1184 bytes or more) or Azure's HCL report\n"
	"  --vcek FILE         the VCEK or VLEK certificate, PEM or DER (a PEM bundle may\n"
	"                      carry the chain after it)\n"
	"  --chain FILE        the ASK (or ASVK) and ARK, PEM; default: the copies built in\n"
	"  --measurement HEX   the launch digest expected (96 hex digits, see ditto measure)\n"
	"  --report-data HEX   the REPORT_DATA expected (128 hex digits)\n"
	"  --host-data HEX     the HOST_DATA expected (64 hex digits): the commitment to the\n"
	"                      tenant secret its VMs are launched with (ditto tenant get)\n"
	"  --e2e-key FILE      expect the commitment to this tenant secret as HOST_DATA\n"
	"  --min-tcb SPEC      the lowest TCB accepted: bl=N,tee=N,snp=N,ucode=N[,fmc=N] (any\n"
	"                      of them) or the raw 16 hex digits\n"
	"  --product P         milan, genoa or turin (default: what the VCEK's issuer names)\n"
	"  --at TIME           check certificate validity at TIME (seconds since 1970), not now\n"
	"  --nonce HEX         online: the nonce, 1 to 64 bytes (default: 32 random bytes)\n"
	"  --require           online: evidence of type none is a failure\n",
	run_attest,
};
