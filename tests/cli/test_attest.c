/* `ditto attest` offline, run as the built binary on the real SEV-SNP
 * samples of tests/data/snp: a genuine report verifies (exit 0, what it
 * proved on stdout), a tampered or expired one fails with its code in one
 * line on stderr, HOST_DATA is checked when expected, --json has the
 * documented shape, bad command lines are usage errors. */
#include "attest_run.h"

static void test_genuine_verifies(void **state)
{
	struct run r = attest("--report", data(V01 "report.bin"), "--vcek", data(V01 "vcek.der"),
			      "--measurement", V01_MEASUREMENT, "--min-tcb", "snp=8,ucode=115",
			      "--at", AT, NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	assert_non_null(strstr(r.out, "milan, signed by the VCEK"));
	assert_non_null(strstr(r.out, V01_MEASUREMENT));
	assert_non_null(strstr(r.out, "bl=3 tee=0 snp=8 ucode=115"));
	assert_non_null(strstr(r.out, "Result:"));
	assert_non_null(strstr(r.out, "verified"));
	run_free(&r);

	/* Azure's HCL report, with the VCEK+ASK+ARK bundle and the chain given. */
	r = attest("--report", data("v05_azure_milan_v2/hcl_report.bin"), "--vcek",
		   data("v05_azure_milan_v2/vcek_ask_ark_chain.pem"), "--chain",
		   data("certs/milan/cert_chain.pem"), "--product", "milan", "--at", AT, NULL);
	assert_int_equal(r.status, 0);
	run_free(&r);
}

/* A flipped REPORT_DATA byte; the VLEK expired; Genoa's roots; a wrong
 * measurement: exit 1 and the code. */
static void test_failures(void **state)
{
	void *p;
	size_t n;
	assert_int_equal(file_read_all(data(V01 "report.bin"), &p, &n), 0);
	((uint8_t *)p)[0x50] ^= 1;
	char tampered[512];
	snprintf(tampered, sizeof(tampered), "%s/tampered.bin", scratch);
	FILE *f = fopen(tampered, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
	free(p);
	struct run r = attest("--report", tampered, "--vcek", data(V01 "vcek.der"), "--at", AT,
			      NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "bad_signature");
	assert_non_null(strstr(r.out, "FAILED"));
	run_free(&r);

	r = attest("--report", data("v04_trustee_milan_v3_vlek/report.bin"), "--vcek",
		   data("v04_trustee_milan_v3_vlek/vlek.der"), NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "certificate_expired");
	run_free(&r);

	r = attest("--report", data(V01 "report.bin"), "--vcek", data(V01 "vcek.der"), "--chain",
		   data("certs/genoa/cert_chain.pem"), "--at", AT, NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "untrusted_root");
	run_free(&r);

	char wrong[] = V01_MEASUREMENT;
	wrong[0] = '8';
	r = attest("--report", data(V01 "report.bin"), "--vcek", data(V01 "vcek.der"),
		   "--measurement", wrong, "--at", AT, NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "measurement_mismatch");
	run_free(&r);
}

/* The sample's HOST_DATA is zeros: expected as such it passes, anything
 * else (a value given, or the commitment to a tenant secret) fails with
 * host_data_mismatch; the output says whether it was checked. */
static void test_host_data(void **state)
{
	static const char zeros[] =
		"0000000000000000000000000000000000000000000000000000000000000000";
	struct run r = attest("--report", data(V01 "report.bin"), "--vcek", data(V01 "vcek.der"),
			      "--at", AT, "--host-data", zeros, NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, zeros));
	assert_non_null(strstr(r.out, "(expected by --host-data)"));
	assert_non_null(strstr(r.out, "  host_data        ok\n"));
	run_free(&r);
	char other[] = "0000000000000000000000000000000000000000000000000000000000000000";
	other[63] = '1';
	r = attest("--report", data(V01 "report.bin"), "--vcek", data(V01 "vcek.der"), "--at", AT,
		   "--host-data", other, "--json", NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "host_data_mismatch");
	json_t *o = json_loads(r.out, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "host_data")), zeros);
	json_t *checks = json_object_get(o, "checks");
	assert_string_equal(json_string_value(json_object_get(checks, "report_data")),
			    "not_checked");
	assert_string_equal(json_string_value(json_object_get(checks, "host_data")), "failed");
	assert_string_equal(json_string_value(json_object_get(checks, "policy")), "not_reached");
	json_decref(o);
	run_free(&r);
	char key[512];
	snprintf(key, sizeof(key), "%s/t.e2e-key", scratch);
	assert_int_equal(file_replace_text(key, zeros, 0600, false), 0);
	r = attest("--report", data(V01 "report.bin"), "--vcek", data(V01 "vcek.der"), "--at", AT,
		   "--e2e-key", key, NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "host_data_mismatch");
	assert_non_null(strstr(r.out, "(expected by the tenant secret "));
	run_free(&r);
	/* Not asked for: not checked, and said so. */
	r = attest("--report", data(V01 "report.bin"), "--vcek", data(V01 "vcek.der"), "--at", AT,
		   NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "(not checked: "));
	assert_non_null(strstr(r.out, "  host_data        not checked\n"));
	run_free(&r);
}

static void test_json(void **state)
{
	struct run r = attest("--report", data(V01 "report.bin"), "--vcek", data(V01 "vcek.der"),
			      "--measurement", V01_MEASUREMENT, "--at", AT, "--json", NULL);
	assert_int_equal(r.status, 0);
	json_error_t e;
	json_t *o = json_loads(r.out, 0, &e);
	if (!o)
		fail_msg("not JSON: %s: %s", e.text, r.out);
	assert_true(json_is_true(json_object_get(o, "ok")));
	assert_string_equal(json_string_value(json_object_get(o, "code")), "ok");
	assert_string_equal(json_string_value(json_object_get(o, "product")), "milan");
	assert_string_equal(json_string_value(json_object_get(o, "signer")), "vcek");
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 2);
	assert_string_equal(json_string_value(json_object_get(o, "measurement")), V01_MEASUREMENT);
	assert_string_equal(json_string_value(json_object_get(o, "policy")), "0x30000");
	assert_int_equal(strlen(json_string_value(json_object_get(o, "report_data"))), 128);
	assert_int_equal(strlen(json_string_value(json_object_get(o, "chip_id"))), 128);
	json_t *tcb = json_object_get(o, "reported_tcb");
	assert_string_equal(json_string_value(json_object_get(tcb, "raw")), "0x7308000000000003");
	assert_int_equal(json_integer_value(json_object_get(tcb, "snp")), 8);
	json_t *checks = json_object_get(o, "checks");
	assert_string_equal(json_string_value(json_object_get(checks, "signature")), "ok");
	assert_string_equal(json_string_value(json_object_get(checks, "chain")), "ok");
	assert_string_equal(json_string_value(json_object_get(checks, "hwid")), "ok");
	assert_string_equal(json_string_value(json_object_get(checks, "measurement")), "ok");
	assert_string_equal(json_string_value(json_object_get(checks, "report_data")),
			    "not_checked");
	json_decref(o);
	run_free(&r);

	/* A failure is JSON too, with its code and the checks not reached. */
	r = attest("--report", data(V01 "report.bin"), "--vcek",
		   data("v02_gosevguest_milan_v2/vcek.der"), "--at", AT, "--json", NULL);
	assert_int_equal(r.status, 1);
	o = json_loads(r.out, 0, &e);
	assert_non_null(o);
	assert_true(json_is_false(json_object_get(o, "ok")));
	assert_string_equal(json_string_value(json_object_get(o, "code")), "bad_signature");
	checks = json_object_get(o, "checks");
	assert_string_equal(json_string_value(json_object_get(checks, "signature")), "failed");
	assert_string_equal(json_string_value(json_object_get(checks, "tcb_extensions")),
			    "not_reached");
	json_decref(o);
	one_error_line(&r, "bad_signature");
	run_free(&r);
}

static void test_usage_errors(void **state)
{
	static const char *const cases[][8] = {
		{ "--report", "x.bin", NULL },
		{ "--vcek", "x.der", NULL },
		{ "--report", "x", "--vcek", "y", "--min-tcb", "snp=999" },
		{ "--report", "x", "--vcek", "y", "--product", "rome" },
		{ "--report", "x", "--vcek", "y", "--measurement", "abc" },
		{ "--report", "x", "--vcek", "y", "--at", "yesterday" },
		{ "acme", "--report", "x", "--vcek", "y", NULL },
		{ "acme", "--report-data", "00", NULL },
		{ "--report", "x", "--vcek", "y", "--host-data", "00" },
		{ "--report", "x", "--vcek", "y", "--host-data",
		  "0000000000000000000000000000000000000000000000000000000000000000", "--e2e-key",
		  "k" },
		{ "acme", "--e2e-key", "k", "--host-data",
		  "0000000000000000000000000000000000000000000000000000000000000000" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const *c = cases[i];
		struct run r = attest(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], NULL);
		if (r.status != 2)
			fail_msg("case %zu: exit %d: %s", i, r.status, r.err);
		one_error_line(&r, "ditto attest: ");
		run_free(&r);
	}
	/* A missing file is a local failure. */
	struct run r = attest("--report", "/nonexistent", "--vcek", data(V01 "vcek.der"), NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "/nonexistent");
	run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_genuine_verifies), cmocka_unit_test(test_failures),
		cmocka_unit_test(test_host_data),        cmocka_unit_test(test_json),
		cmocka_unit_test(test_usage_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
