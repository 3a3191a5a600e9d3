/* The attestation rule and the evidence check (controller/attestation.h): which
 * VM run may take a tenant's invocation, nonces, and an agent's evidence
 * (with the host's certificate table) checked against the verifier with a
 * real report (tests/data/snp). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "attestation.h"
#include "encoding.h"
#include "lib/snp_fixtures.h"

/* A tenant requiring attestation uses a VM only for the run its verdict
 * was taken of; one not requiring it uses any. */
static void test_use_rule(void **state)
{
	static const struct attest_verdict none = { 0 };
	static const struct attest_verdict ok = {
		.known = true, .epoch = 3, .pid = 100, .ok = true
	};
	static const struct attest_verdict bad = {
		.known = true, .epoch = 3, .pid = 100, .ok = false
	};
	const struct {
		bool required;
		const struct attest_verdict *v;
		uint64_t epoch;
		int64_t pid;
		enum attest_use want;
	} rows[] = {
		{ false, &none, 1, 1, ATTEST_USE },
		{ false, &bad, 3, 100, ATTEST_USE },
		{ true, &none, 3, 100, ATTEST_VERIFY },
		{ true, &ok, 3, 100, ATTEST_USE },
		{ true, &bad, 3, 100, ATTEST_REFUSE },
		/* A new placement of the VM, QEMU restarted in place, a pid
		 * learnt after the verdict: each is a run without one. */
		{ true, &ok, 4, 100, ATTEST_VERIFY },
		{ true, &ok, 3, 101, ATTEST_VERIFY },
		{ true, &bad, 3, 0, ATTEST_VERIFY },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(
			attest_use(rows[i].required, rows[i].v, rows[i].epoch, rows[i].pid),
			rows[i].want);
}

static void test_nonce_parse(void **state)
{
	uint8_t n[ATTEST_NONCE_MAX];
	assert_int_equal(attest_nonce_parse("00ff", n), 2);
	assert_int_equal(n[1], 0xff);
	assert_int_equal(attest_nonce_parse("ABcd", n), 2);
	char longest[2 * ATTEST_NONCE_MAX + 3];
	memset(longest, 'a', sizeof(longest));
	longest[2 * ATTEST_NONCE_MAX] = '\0';
	assert_int_equal(attest_nonce_parse(longest, n), ATTEST_NONCE_MAX);
	longest[2 * ATTEST_NONCE_MAX] = 'a';
	longest[2 * ATTEST_NONCE_MAX + 2] = '\0';
	assert_int_equal(attest_nonce_parse(longest, n), -EINVAL);
	static const char *const bad[] = { NULL, "", "0", "abc", "zz", "00 1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(attest_nonce_parse(bad[i], n), -EINVAL);
}

/* A table of one ASK entry, one VCEK entry (GUID in text order, or EFI order
 * when efi) and the terminator, followed by the certificates. */
static size_t table_make(uint8_t *t, const struct blob *vcek, bool efi)
{
	static const uint8_t ask[16] = { 0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
					 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82 };
	static const uint8_t text[16] = { 0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
					  0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd };
	static const uint8_t efi_order[16] = { 0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45,
					       0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd };
	memset(t, 0, 72);
	uint32_t off = 72, len = (uint32_t)vcek->len;
	memcpy(t, ask, 16);
	memcpy(t + 16, &off, 4); /* the ASK entry points at the same bytes */
	memcpy(t + 20, &len, 4);
	memcpy(t + 24, efi ? efi_order : text, 16);
	memcpy(t + 40, &off, 4);
	memcpy(t + 44, &len, 4);
	memcpy(t + 72, vcek->p, vcek->len);
	return 72 + vcek->len;
}

static const char *verified(json_t *entry, const char *key)
{
	return json_string_value(json_object_get(json_object_get(entry, "verified"), key));
}

/* Evidence of type none proves nothing, and says so. */
static void test_evidence_none(void **state)
{
	static const char pub[] = "00112233445566778899aabbccddeeff"
				  "00112233445566778899aabbccddeeff";
	json_t *ev = json_pack("{s:s, s:s, s:s, s:n, s:n, s:n, s:b}", "vm", "t1", "type", "none",
			       "public_key", pub, "report", "certs", "measurement", "confidential",
			       0);
	struct attest_verdict v = { 0 };
	json_t *e = attest_check(ev, (const uint8_t *)"n", 1, NULL, &v);
	assert_true(v.known);
	assert_false(v.ok);
	assert_string_equal(v.code, "evidence_none");
	assert_non_null(strstr(v.reason, "NOT CONFIDENTIAL"));
	assert_string_equal(json_string_value(json_object_get(e, "type")), "none");
	assert_string_equal(json_string_value(json_object_get(e, "public_key")), pub);
	assert_true(json_is_null(json_object_get(e, "report")));
	assert_false(json_is_true(json_object_get(json_object_get(e, "verified"), "ok")));
	assert_string_equal(verified(e, "code"), "evidence_none");
	json_decref(e);
	/* An unknown type is no evidence either. */
	json_object_set_new(ev, "type", json_string("tdx"));
	json_decref(attest_check(ev, (const uint8_t *)"n", 1, NULL, &v));
	assert_false(v.ok);
	assert_string_equal(v.code, "malformed");
	json_decref(ev);
}

/* SEV-SNP evidence built from a real report: the signature and the chain
 * verify, but its REPORT_DATA was not made for this nonce and key. */
static void test_evidence_snp(void **state)
{
	struct blob report = fixture("v01_virtee_milan_v2/report.bin");
	struct blob vcek = fixture("v01_virtee_milan_v2/vcek.der");
	struct snp_report parsed;
	assert_int_equal(snp_report_parse(report.p, report.len, &parsed), 0);
	char measurement[2 * SNP_MEASUREMENT_SIZE + 1];
	bytes_to_hex(parsed.measurement, sizeof(parsed.measurement), measurement);
	uint8_t *t = malloc(72 + vcek.len);
	assert_non_null(t);
	size_t t_len = table_make(t, &vcek, false);
	char *report_b64 = base64_encode(report.p, report.len),
	     *certs_b64 = base64_encode(t, t_len);
	json_t *ev = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "vm", "t1", "type", "sev-snp", "public_key",
		"0000000000000000000000000000000000000000000000000000000000000000", "report",
		report_b64, "certs", certs_b64, "measurement", measurement, "confidential", 1);
	struct attest_verdict v = { 0 };
	json_decref(attest_check(ev, (const uint8_t *)"nonce", 5, NULL, &v));
	assert_false(v.ok);
	assert_string_equal(v.code, "report_data_mismatch");
	/* The same with the table's GUIDs in EFI byte order. */
	free(certs_b64);
	t_len = table_make(t, &vcek, true);
	certs_b64 = base64_encode(t, t_len);
	json_object_set_new(ev, "certs", json_string(certs_b64));
	json_decref(attest_check(ev, (const uint8_t *)"nonce", 5, NULL, &v));
	assert_string_equal(v.code, "report_data_mismatch");
	/* A tenant's HOST_DATA is checked after REPORT_DATA. */
	uint8_t hd[ATTEST_HOST_DATA_SIZE];
	const uint8_t *want = attest_host_data(
		"00000000000000000000000000000000000000000000000000000000000000ff", hd);
	assert_ptr_equal(want, hd);
	assert_int_equal(hd[31], 0xff);
	json_decref(attest_check(ev, (const uint8_t *)"nonce", 5, want, &v));
	assert_string_equal(v.code, "report_data_mismatch");
	assert_null(attest_host_data("", hd));
	assert_null(attest_host_data(NULL, hd));
	assert_null(attest_host_data("00ff", hd));

	/* Without the host's certificates nothing is verified. */
	json_object_set_new(ev, "certs", json_null());
	json_t *e = attest_check(ev, (const uint8_t *)"nonce", 5, NULL, &v);
	assert_string_equal(v.code, "no_vcek");
	assert_string_equal(verified(e, "code"), "no_vcek");
	json_decref(e);
	json_object_set_new(ev, "public_key", json_string("xyz"));
	json_decref(attest_check(ev, (const uint8_t *)"nonce", 5, NULL, &v));
	assert_string_equal(v.code, "malformed");
	json_decref(ev);
	free(report_b64);
	free(certs_b64);
	free(t);
	blob_free(&report);
	blob_free(&vcek);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_use_rule),
		cmocka_unit_test(test_nonce_parse),
		cmocka_unit_test(test_evidence_none),
		cmocka_unit_test(test_evidence_snp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
