/* The SEV-SNP report parser and verifier on real hardware reports: every
 * sample verifies, fields decode as their SOURCE.md records them, and each
 * check the caller asks for fails with its own code. Tampering:
 * test_snp_verify_tamper.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snp_fixtures.h"

static void hex_to(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(sscanf(hex + 2 * i, "%2hhx", &out[i]), 1);
}

/* Verifies sample s with opts changed by the caller; returns the code. */
static enum snp_verify_err verify_sample(const struct sample *s, struct snp_verify_opts *o,
					 struct snp_verify_result *r)
{
	struct blob rep = sample_file(s, s->report);
	int e = snp_verify(rep.p, rep.len, o, r);
	assert_int_equal(e, r->err ? -EACCES : 0);
	assert_true(r->message[0]);
	assert_null(strchr(r->message, '\n'));
	blob_free(&rep);
	return r->err;
}

static void test_every_sample_verifies(void **state)
{
	for (size_t i = 0; i < NSAMPLES; i++) {
		const struct sample *s = &samples[i];
		struct blob cert = sample_file(s, s->cert);
		struct snp_verify_opts o = sample_opts(s, &cert);
		struct snp_verify_result r;
		enum snp_verify_err e = verify_sample(s, &o, &r);
		if (e)
			fail_msg("%s/%s: %s: %s", s->dir, s->report, snp_verify_code(e), r.message);
		assert_int_equal(r.product, SNP_PRODUCT_MILAN);
		assert_true(r.signature && r.chain && r.tcb_extensions && r.policy);
		assert_false(r.measurement || r.report_data || r.host_data || r.min_tcb);
		/* A VLEK has no hardware ID to compare; a VCEK does. */
		assert_int_equal(r.hwid, strcmp(s->cert, "vlek.der") != 0);
		/* The same with the chain given, and with the product named. */
		struct blob chain = fixture(r.report.signer == SNP_SIGNER_VLEK
						    ? "certs/milan/asvk.pem"
						    : "certs/milan/cert_chain.pem");
		struct blob ark = fixture("certs/milan/ark.pem");
		size_t n = chain.len;
		chain.p = realloc(chain.p, n + ark.len);
		memcpy(chain.p + n, ark.p, ark.len);
		o.chain = chain.p;
		o.chain_len = n + ark.len;
		o.product = SNP_PRODUCT_MILAN;
		assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_OK);
		blob_free(&ark);
		blob_free(&chain);
		blob_free(&cert);
	}
}

/* Fields decode as SOURCE.md records them; version 3 has CPUID fields. */
static void test_parse_fields(void **state)
{
	struct blob b = fixture("v01_virtee_milan_v2/report.bin");
	struct snp_report r;
	assert_int_equal(snp_report_parse(b.p, b.len, &r), 0);
	assert_int_equal(r.version, 2);
	assert_int_equal(r.policy, 0x30000);
	assert_int_equal(r.signer, SNP_SIGNER_VCEK);
	assert_int_equal(r.sig_algo, 1);
	assert_int_equal(r.reported_tcb.raw, 0x7308000000000003ull);
	assert_int_equal(r.reported_tcb.bootloader, 3);
	assert_int_equal(r.reported_tcb.snp, 8);
	assert_int_equal(r.reported_tcb.microcode, 0x73);
	assert_int_equal(r.current_major, 1);
	assert_int_equal(r.current_minor, 52);
	assert_int_equal(r.current_build, 4);
	uint8_t m[SNP_MEASUREMENT_SIZE];
	hex_to("7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d"
	       "3e1a0dc39b2c60bd95b9c480cd81841f",
	       m, sizeof(m));
	assert_memory_equal(r.measurement, m, sizeof(m));
	assert_int_equal(r.cpuid_family, 0);
	/* A longer report (a later version adds fields at the end) parses. */
	uint8_t *longer = calloc(1, b.len + 64);
	memcpy(longer, b.p, b.len);
	struct snp_report r2;
	assert_int_equal(snp_report_parse(longer, b.len + 64, &r2), 0);
	assert_memory_equal(&r, &r2, sizeof(r));
	free(longer);
	blob_free(&b);

	b = fixture("v04_trustee_milan_v3_vlek/report.bin");
	assert_int_equal(snp_report_parse(b.p, b.len, &r), 0);
	assert_int_equal(r.version, 3);
	assert_int_equal(r.signer, SNP_SIGNER_VLEK);
	assert_int_equal(r.vmpl, 1);
	assert_int_equal(r.cpuid_family, 0x19);
	assert_int_equal(r.cpuid_model, 0x01);
	assert_int_equal(r.cpuid_stepping, 0x01);
	assert_int_equal(r.current_tcb_raw, 0xdc18000000000004ull);
	assert_int_equal(r.reported_tcb.raw, 0xd918000000000004ull);
	assert_int_equal(snp_product_detect(NULL, 0, &r), SNP_PRODUCT_MILAN);
	blob_free(&b);
}

/* Azure's HCL report is recognised by its "HCLA" header and holds the same
 * report as the one extracted from it; a broken wrapper is malformed. */
static void test_hcl_wrapper(void **state)
{
	struct blob hcl = fixture("v05_azure_milan_v2/hcl_report.bin");
	struct blob raw = fixture("v05_azure_milan_v2/report.bin");
	struct snp_report a, b;
	assert_int_equal(snp_report_parse(hcl.p, hcl.len, &a), 0);
	assert_int_equal(snp_report_parse(raw.p, raw.len, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(a.guest_svn, 5);

	/* Cut short, a size beyond the data, or a TDX report inside. */
	assert_int_equal(snp_report_parse(hcl.p, 32 + SNP_REPORT_SIZE - 1, &a), -EBADMSG);
	uint8_t *p = malloc(hcl.len);
	memcpy(p, hcl.p, hcl.len);
	p[9] = 0x7f;
	assert_int_equal(snp_report_parse(p, hcl.len, &a), -EBADMSG);
	memcpy(p, hcl.p, hcl.len);
	p[32 + SNP_REPORT_SIZE + 8] = 4;
	assert_int_equal(snp_report_parse(p, hcl.len, &a), -EBADMSG);
	struct blob cert = fixture("v05_azure_milan_v2/vcek_ask_ark_chain.pem");
	struct snp_verify_opts o = { .cert = cert.p, .cert_len = cert.len };
	struct snp_verify_result r;
	assert_int_equal(snp_verify(p, hcl.len, &o, &r), -EACCES);
	assert_int_equal(r.err, SNP_VERIFY_MALFORMED);
	free(p);
	blob_free(&cert);
	blob_free(&hcl);
	blob_free(&raw);
}

/* The report's own fields, checked before any certificate. */
static void test_report_form(void **state)
{
	struct blob b = fixture("v01_virtee_milan_v2/report.bin");
	struct blob cert = fixture("v01_virtee_milan_v2/vcek.der");
	struct snp_verify_opts o = sample_opts(&samples[0], &cert);
	struct snp_verify_result r;
	assert_int_equal(snp_verify(b.p, 100, &o, &r), -EACCES);
	assert_int_equal(r.err, SNP_VERIFY_MALFORMED);
	assert_string_equal(snp_verify_code(r.err), "malformed");
	b.p[0] = 1; /* version 1 */
	assert_int_equal(snp_verify(b.p, b.len, &o, &r), -EACCES);
	assert_string_equal(snp_verify_code(r.err), "unsupported_version");
	b.p[0] = 2;
	b.p[0x34] = 2; /* signature algorithm */
	assert_int_equal(snp_verify(b.p, b.len, &o, &r), -EACCES);
	assert_string_equal(snp_verify_code(r.err), "unsupported_algorithm");
	b.p[0x34] = 1;
	b.p[0x48] = 3 << 2; /* a reserved signing key */
	assert_int_equal(snp_verify(b.p, b.len, &o, &r), -EACCES);
	assert_int_equal(r.err, SNP_VERIFY_MALFORMED);
	b.p[0x48] = 0;
	assert_int_equal(snp_verify(b.p, b.len, &o, &r), 0);
	/* No certificate, or not a certificate. */
	o.cert = NULL;
	assert_int_equal(snp_verify(b.p, b.len, &o, &r), -EACCES);
	assert_string_equal(snp_verify_code(r.err), "bad_certificate");
	o.cert = b.p;
	o.cert_len = b.len;
	assert_int_equal(snp_verify(b.p, b.len, &o, &r), -EACCES);
	assert_string_equal(snp_verify_code(r.err), "bad_certificate");
	/* The ARK is no VCEK. */
	struct blob ark = fixture("certs/milan/ark.pem");
	o.cert = ark.p;
	o.cert_len = ark.len;
	assert_int_equal(snp_verify(b.p, b.len, &o, &r), -EACCES);
	assert_string_equal(snp_verify_code(r.err), "bad_certificate");
	blob_free(&ark);
	blob_free(&cert);
	blob_free(&b);
}

/* The VLEK expired on 2025-12-10: now it is reported as expired, at a time
 * inside its validity it verifies; before a VCEK was issued it is not yet
 * valid. */
static void test_validity_time(void **state)
{
	const struct sample *vlek = &samples[3];
	struct blob cert = sample_file(vlek, vlek->cert);
	struct snp_verify_opts o = sample_opts(vlek, &cert);
	struct snp_verify_result r;
	o.at = 0;
	assert_int_equal(verify_sample(vlek, &o, &r), SNP_VERIFY_CERT_EXPIRED);
	assert_string_equal(snp_verify_code(r.err), "certificate_expired");
	assert_non_null(strstr(r.message, "SEV-VLEK expired on Dec 10"));
	assert_false(r.chain || r.signature);
	o.at = 1765400000; /* 2025-12-10 21:33, before 22:14:21 */
	assert_int_equal(verify_sample(vlek, &o, &r), SNP_VERIFY_OK);
	o.at = 1765500000;
	assert_int_equal(verify_sample(vlek, &o, &r), SNP_VERIFY_CERT_EXPIRED);
	blob_free(&cert);

	cert = sample_file(&samples[0], samples[0].cert);
	o = sample_opts(&samples[0], &cert);
	o.at = 1600000000; /* 2020-09: before the VCEK (and the ARK) */
	assert_int_equal(verify_sample(&samples[0], &o, &r), SNP_VERIFY_CERT_NOT_YET);
	assert_string_equal(snp_verify_code(r.err), "certificate_not_yet_valid");
	blob_free(&cert);
}

/* Milan's report against Genoa's roots: Genoa's ARK is not Milan's, and
 * with Genoa named the VCEK has no issuer among Genoa's keys. */
static void test_wrong_product(void **state)
{
	const struct sample *s = &samples[0];
	struct blob cert = sample_file(s, s->cert);
	struct blob genoa = fixture("certs/genoa/cert_chain.pem");
	struct snp_verify_opts o = sample_opts(s, &cert);
	struct snp_verify_result r;
	o.chain = genoa.p;
	o.chain_len = genoa.len;
	assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_ROOT);
	assert_string_equal(snp_verify_code(r.err), "untrusted_root");
	o.product = SNP_PRODUCT_GENOA;
	assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_CHAIN);
	assert_string_equal(snp_verify_code(r.err), "bad_chain");
	o.chain = NULL;
	assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_CHAIN);
	o.product = SNP_PRODUCT_TURIN;
	assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_CHAIN);
	/* Milan's ASK with Genoa's ARK: the root is not Milan's. */
	struct blob ask = fixture("certs/milan/ask.pem"), ark = fixture("certs/genoa/ark.pem");
	ask.p = realloc(ask.p, ask.len + ark.len);
	memcpy(ask.p + ask.len, ark.p, ark.len);
	o.chain = ask.p;
	o.chain_len = ask.len + ark.len;
	o.product = SNP_PRODUCT_UNKNOWN;
	assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_ROOT);
	blob_free(&ask);
	blob_free(&ark);
	blob_free(&genoa);
	blob_free(&cert);
}

/* Another chip's VCEK, and a certificate of the other kind of key. */
static void test_wrong_key(void **state)
{
	struct blob other = fixture("v02_gosevguest_milan_v2/vcek.der");
	struct snp_verify_opts o = sample_opts(&samples[0], &other);
	struct snp_verify_result r;
	/* The signature is checked before the hardware ID. */
	assert_int_equal(verify_sample(&samples[0], &o, &r), SNP_VERIFY_SIGNATURE);
	assert_string_equal(snp_verify_code(r.err), "bad_signature");
	assert_true(r.chain);
	assert_false(r.signature);
	/* A VLEK-signed report with a VCEK. */
	assert_int_equal(verify_sample(&samples[3], &o, &r), SNP_VERIFY_SIGNER);
	assert_string_equal(snp_verify_code(r.err), "wrong_signer");
	blob_free(&other);
	/* A VCEK-signed report with the VLEK. */
	struct blob vlek = fixture("v04_trustee_milan_v3_vlek/vlek.der");
	o = sample_opts(&samples[0], &vlek);
	assert_int_equal(verify_sample(&samples[0], &o, &r), SNP_VERIFY_SIGNER);
	blob_free(&vlek);
}

/* Measurement, REPORT_DATA, HOST_DATA, policy and minimum TCB: each its own
 * code. */
static void test_caller_checks(void **state)
{
	const struct sample *s = &samples[0];
	struct blob cert = sample_file(s, s->cert);
	struct snp_verify_opts o = sample_opts(s, &cert);
	struct snp_verify_result r;
	uint8_t m[SNP_MEASUREMENT_SIZE], d[SNP_REPORT_DATA_SIZE];
	hex_to("7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d"
	       "3e1a0dc39b2c60bd95b9c480cd81841f",
	       m, sizeof(m));
	hex_to("d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c64581"
	       "0b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd",
	       d, sizeof(d));
	struct snp_tcb min;
	assert_int_equal(snp_tcb_parse("ucode=115,snp=8,bl=3", SNP_PRODUCT_MILAN, &min), 0);
	o.measurement = m;
	o.report_data = d;
	o.min_tcb = &min;
	assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_OK);
	assert_true(r.measurement && r.report_data && r.min_tcb && r.policy && r.hwid);

	m[47] ^= 1;
	assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_MEASUREMENT);
	assert_string_equal(snp_verify_code(r.err), "measurement_mismatch");
	assert_true(r.signature && r.tcb_extensions);
	m[47] ^= 1;
	d[0] ^= 1;
	assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_REPORT_DATA);
	assert_string_equal(snp_verify_code(r.err), "report_data_mismatch");
	d[0] ^= 1;
	/* v01 was launched with HOST_DATA zero: that expectation passes, any
	 * other fails right after REPORT_DATA. */
	uint8_t h[SNP_HOST_DATA_SIZE] = { 0 };
	o.host_data = h;
	assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_OK);
	assert_true(r.host_data && r.report_data);
	h[31] = 1;
	assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_HOST_DATA);
	assert_string_equal(snp_verify_code(r.err), "host_data_mismatch");
	assert_true(r.report_data && !r.host_data && !r.policy);
	o.host_data = NULL;
	assert_int_equal(snp_tcb_parse("snp=9", SNP_PRODUCT_MILAN, &min), 0);
	assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_MIN_TCB);
	assert_string_equal(snp_verify_code(r.err), "tcb_too_old");
	assert_int_equal(snp_tcb_parse("0x7308000000000004", SNP_PRODUCT_MILAN, &min), 0);
	assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_MIN_TCB);
	assert_int_equal(snp_tcb_parse("7308000000000003", SNP_PRODUCT_MILAN, &min), 0);
	assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_OK);

	/* v01's policy (0x30000) allows SMT: refused where SMT is forbidden. */
	o.forbid_smt = true;
	assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_POLICY_SMT);
	assert_string_equal(snp_verify_code(r.err), "policy_smt");
	o.forbid_smt = false;
	assert_int_equal(verify_sample(s, &o, &r), SNP_VERIFY_OK);
	blob_free(&cert);

	/* v02's policy (0xb0000) allows debugging. */
	cert = sample_file(&samples[1], samples[1].cert);
	o = sample_opts(&samples[1], &cert);
	o.allow_debug = false;
	assert_int_equal(verify_sample(&samples[1], &o, &r), SNP_VERIFY_POLICY_DEBUG);
	assert_string_equal(snp_verify_code(r.err), "policy_debug");
	assert_true(r.signature);
	blob_free(&cert);
}

static void test_tcb_spec(void **state)
{
	struct snp_tcb t;
	assert_int_equal(snp_tcb_parse("bl=3,tee=0,snp=8,ucode=115", SNP_PRODUCT_MILAN, &t), 0);
	assert_int_equal(t.raw, 0x7308000000000003ull);
	assert_int_equal(snp_tcb_parse("fmc=1,bl=2,tee=3,snp=4,ucode=5", SNP_PRODUCT_TURIN, &t), 0);
	assert_int_equal(t.raw, 0x0500000004030201ull);
	snp_tcb_decode(0x0500000004030201ull, SNP_PRODUCT_TURIN, &t);
	assert_int_equal(t.fmc, 1);
	assert_int_equal(t.snp, 4);
	assert_int_equal(t.microcode, 5);
	static const char *const bad[] = { "",      "bl",    "bl=",        "bl=256", "x=1",
					   "bl=1,", "bl=-1", "bl=1;tee=2", "fmc=1",  "0x123" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (snp_tcb_parse(bad[i], SNP_PRODUCT_MILAN, &t) != -EINVAL)
			fail_msg("\"%s\" parsed", bad[i]);
	enum snp_product p;
	assert_int_equal(snp_product_parse("Genoa", &p), 0);
	assert_int_equal(p, SNP_PRODUCT_GENOA);
	assert_int_equal(snp_product_parse("unknown", &p), -EINVAL);
	assert_string_equal(snp_product_name(SNP_PRODUCT_TURIN), "turin");
	/* Every code has its own string. */
	for (int a = 0; a <= SNP_VERIFY_EVIDENCE_NONE; a++)
		for (int b = a + 1; b <= SNP_VERIFY_EVIDENCE_NONE; b++)
			assert_string_not_equal(snp_verify_code(a), snp_verify_code(b));
	assert_string_equal(snp_verify_code(SNP_VERIFY_EVIDENCE_NONE), "evidence_none");
}

/* The extended report's certificate table: the VCEK found by its GUID, in
 * either byte order; a table without its end, or pointing outside itself,
 * is refused. */
static void test_cert_table(void **state)
{
	static const uint8_t ask_guid[16] = { 0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
					      0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82 };
	static const uint8_t vcek_guid[16] = { 0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
					       0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd };
	uint8_t t[3 * 24 + 8] = { 0 };
	memcpy(t, ask_guid, 16);
	t[16] = 72; /* offset */
	t[20] = 4;  /* length */
	memcpy(t + 24, vcek_guid, 16);
	t[24 + 16] = 76;
	t[24 + 20] = 4;
	memcpy(t + 72, "ASK!VCEK", 8);
	const uint8_t *p;
	size_t n;
	assert_int_equal(snp_cert_table_find(t, sizeof(t), SNP_CERT_GUID_VCEK, &p, &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(p, "VCEK", 4);
	assert_int_equal(snp_cert_table_find(t, sizeof(t), SNP_CERT_GUID_ASK, &p, &n), 0);
	assert_memory_equal(p, "ASK!", 4);
	assert_int_equal(snp_cert_table_find(t, sizeof(t), SNP_CERT_GUID_VLEK, &p, &n), -ENOENT);
	assert_int_equal(snp_cert_table_find(t, sizeof(t), "63da758d", &p, &n), -EINVAL);
	/* The VCEK's GUID in EFI's mixed-endian order. */
	static const uint8_t efi[8] = { 0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45 };
	memcpy(t + 24, efi, 8);
	assert_int_equal(snp_cert_table_find(t, sizeof(t), SNP_CERT_GUID_VCEK, &p, &n), 0);
	assert_memory_equal(p, "VCEK", 4);
	/* No end entry within the table; an entry beyond it. */
	assert_int_equal(snp_cert_table_find(t, 48, SNP_CERT_GUID_VLEK, &p, &n), -EBADMSG);
	t[24 + 20] = 9;
	assert_int_equal(snp_cert_table_find(t, sizeof(t), SNP_CERT_GUID_VCEK, &p, &n), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_sample_verifies),
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_hcl_wrapper),
		cmocka_unit_test(test_report_form),
		cmocka_unit_test(test_validity_time),
		cmocka_unit_test(test_wrong_product),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_caller_checks),
		cmocka_unit_test(test_tcb_spec),
		cmocka_unit_test(test_cert_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
