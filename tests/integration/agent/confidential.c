/* Confidential VMs on a real agent: whether this host can launch SEV-SNP
 * guests and the refusals when it cannot (a real SNP launch runs only on SNP
 * hardware and is skipped elsewhere, naming what is missing), a real guest's
 * evidence, the invocation parameters it is given, and the bytes the agent
 * captured from its channel. */
#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/procs.h"
#include "util.h"

#define NONCE "00112233445566778899aabbccddeeff"
#define INVOCATION "0123456789abcdef0123456789abcdef"
/* A tenant secret's commitment (any 32 bytes do here). */
#define HOST_DATA "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* The evidence of tenant's VM for NONCE, checked for its shape. */
static json_t *attest(const char *tenant, const char *want_type)
{
	json_t *r;
	int st = call("GET", &r, NULL, "/v1/vms/%s/attestation?nonce=" NONCE, tenant);
	if (st != 200)
		fail_msg("attestation: %d %s", st, error_code(r) ? error_code(r) : "");
	assert_string_equal(json_string_value(json_object_get(r, "vm")), tenant);
	assert_string_equal(json_string_value(json_object_get(r, "type")), want_type);
	const char *key = json_string_value(json_object_get(r, "public_key"));
	assert_non_null(key);
	assert_int_equal(strlen(key), 64);
	bool snp = strcmp(want_type, "sev-snp") == 0;
	assert_true(json_is_boolean(json_object_get(r, "confidential")));
	assert_int_equal(json_is_true(json_object_get(r, "confidential")), snp);
	assert_int_equal(json_is_string(json_object_get(r, "report")), snp);
	return r;
}

/* Where the host has SEV-SNP, a sev-snp VM boots with its measurement and
 * attests as sev-snp; elsewhere it is refused with the reason the status
 * gives, and the launch is skipped saying so. */
void test_confidential_host(void **state)
{
	json_t *st;
	assert_int_equal(call("GET", &st, NULL, "/v1/status"), 200);
	json_t *conf = json_object_get(st, "confidential");
	assert_true(json_is_boolean(json_object_get(conf, "sev_snp")));
	bool snp = json_is_true(json_object_get(conf, "sev_snp"));
	const char *reason = json_string_value(json_object_get(conf, "reason"));
	assert_true(snp == !reason);

	json_t *e;
	assert_int_equal(call("PUT", &e, "{\"confidential\":\"sev-snp\",\"mechanism\":\"hotplug\"}",
			      "/v1/vms/snp"),
			 400);
	assert_string_equal(error_code(e), "bad_field");
	json_decref(e);
	/* It is launched bound to a tenant secret's commitment, or not at all. */
	assert_int_equal(call("PUT", &e,
			      "{\"confidential\":\"sev-snp\",\"mechanism\":\"precreated\"}",
			      "/v1/vms/snp"),
			 400);
	assert_string_equal(error_code(e), "bad_field");
	json_decref(e);
	const char *spec = "{\"confidential\":\"sev-snp\",\"mechanism\":\"precreated\","
			   "\"max_workers\":1,\"memory_mib\":512,\"host_data\":\"" HOST_DATA "\"}";
	if (!snp) {
		assert_int_equal(call("PUT", &e, spec, "/v1/vms/snp"), 409);
		assert_string_equal(error_code(e), "unsupported");
		assert_string_equal(
			json_string_value(json_object_get(json_object_get(e, "error"), "message")),
			reason);
		json_decref(e);
		fprintf(stderr, "[ SKIPPED  ] a real SEV-SNP launch: %s\n", reason);
		json_decref(st);
		return;
	}
	json_decref(st);
	json_t *vm = start_vm_spec("snp", spec);
	assert_string_equal(json_string_value(json_object_get(vm, "confidential")), "sev-snp");
	const char *m = json_string_value(json_object_get(vm, "measurement"));
	assert_non_null(m);
	assert_int_equal(strlen(m), 96);
	assert_string_equal(json_string_value(json_object_get(vm, "host_data")), HOST_DATA);
	json_t *ev = attest("snp", "sev-snp");
	assert_string_equal(json_string_value(json_object_get(ev, "measurement")), m);
	json_decref(ev);
	json_decref(vm);
	stop_vm("snp");
}

/* How often needle's bytes occur in the (binary) file at path. */
static int count_bytes(const char *path, const char *needle)
{
	void *buf;
	size_t len, n = strlen(needle);
	if (file_read_all(path, &buf, &len) < 0)
		return -1;
	int count = 0;
	for (const char *p = buf, *end = p + len; (p = memmem(p, (size_t)(end - p), needle, n));
	     p += n)
		count++;
	free(buf);
	return count;
}

/* A guest without SNP gives evidence of type none; an invocation carries
 * its id to the guest; the capture holds what crossed the channel. */
void test_attest_and_capture(void **state)
{
	/* A host_data is kept, unused, without SEV-SNP. */
	json_t *vm = start_vm_spec("att",
				   "{\"mechanism\":\"precreated\",\"max_workers\":1,"
				   "\"policy\":\"fixed:1\",\"host_data\":\"" HOST_DATA "\"}");
	assert_string_equal(json_string_value(json_object_get(vm, "confidential")), "none");
	assert_null(json_object_get(vm, "measurement"));
	assert_string_equal(json_string_value(json_object_get(vm, "host_data")), HOST_DATA);
	json_decref(vm);
	json_decref(wait_workers("att", 1));

	json_t *ev = attest("att", "none");
	assert_true(json_is_null(json_object_get(ev, "measurement")));
	assert_true(json_is_null(json_object_get(ev, "certs")));
	json_decref(ev);

	json_t *r;
	int st = call("POST", &r, "{\"canary\":\"plain-7f3a\"}",
		      "/v1/vms/att/invoke?artifact=%s&invocation=" INVOCATION "&e2e=0", S.echo);
	if (st != 200)
		fail_msg("invoke: %d %s", st, error_code(r) ? error_code(r) : "");
	assert_string_equal(json_string_value(json_object_get(r, "result")),
			    "{\"canary\":\"plain-7f3a\"}");
	json_decref(r);
	assert_int_equal(call("POST", &r, "{}", "/v1/vms/att/invoke?artifact=%s&e2e=yes", S.echo),
			 400);
	assert_string_equal(error_code(r), "bad_parameter");
	json_decref(r);

	/* Not encrypted, so the input went to the guest as it is, with the
	 * invocation id in its meta, and the result came back the same. */
	char to[512], from[512];
	snprintf(to, sizeof(to), "%s/capture/att.to-guest", S.proc.data_dir);
	snprintf(from, sizeof(from), "%s/capture/att.from-guest", S.proc.data_dir);
	assert_int_equal(count_bytes(to, "plain-7f3a"), 1);
	assert_int_equal(count_bytes(to, "\"invocation\":\"" INVOCATION "\""), 1);
	assert_int_equal(count_bytes(to, "\"nonce\":\"" NONCE "\""), 1);
	assert_int_equal(count_bytes(from, "plain-7f3a"), 1);
	assert_true(count_bytes(from, "DTO1") >= 3); /* hello, evidence, result */
	stop_vm("att");
}

/* The SEV-SNP options: what the agent cannot use is refused at start. */
void test_snp_options(void **state)
{
	char dir[] = "/tmp/ditto-it-snp.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct daemon_proc a;
	const char *ok[] = { "--snp-policy", "0x70000", "--snp-vcpu-model", "EPYC-Milan-v2", NULL };
	assert_int_equal(proc_start_agent(&a, dir, ok), 0);
	assert_int_equal(daemon_proc_stop(&a, SIGTERM, 30000), 0);

	const char *bad[][3] = {
		{ "--snp-policy", "0x10000", NULL }, /* bit 17 must be set */
		{ "--snp-policy", "zz", NULL },
		{ "--snp-vcpu-model", "Skylake-Server", NULL },
		{ "--wire-capture", "/proc/no/such/folder", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(proc_start_agent(&a, dir, bad[i]), -ECHILD);
}
