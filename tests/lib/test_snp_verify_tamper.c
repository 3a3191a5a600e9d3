/* Tampered copies of real SEV-SNP evidence: a flipped byte of the signed
 * part or of the signature of a report, or of any certificate of its chain
 * (in its signature or in its signed TBS part), and roots made to look like
 * AMD's. Each fails with its specific code, and no tampered copy verifies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "snp_fixtures.h"

/* A report, its VCEK and its chain (ASK, ARK) as DER, to tamper with. */
struct evidence {
	struct blob report, vcek, ask, ark;
};

static void evidence_load(struct evidence *e)
{
	e->report = fixture("v01_virtee_milan_v2/report.bin");
	e->vcek = fixture("v01_virtee_milan_v2/vcek.der");
	e->ask = fixture_der("certs/milan/ask.pem");
	e->ark = fixture_der("certs/milan/ark.pem");
}

static void evidence_free(struct evidence *e)
{
	blob_free(&e->report);
	blob_free(&e->vcek);
	blob_free(&e->ask);
	blob_free(&e->ark);
}

/* Verifies e with its chain given as DER (ASK then ARK). */
static enum snp_verify_err check(const struct evidence *e, struct snp_verify_result *r)
{
	size_t n = e->ask.len + e->ark.len;
	uint8_t *chain = malloc(n);
	memcpy(chain, e->ask.p, e->ask.len);
	memcpy(chain + e->ask.len, e->ark.p, e->ark.len);
	struct snp_verify_opts o = {
		.cert = e->vcek.p,
		.cert_len = e->vcek.len,
		.chain = chain,
		.chain_len = n,
		.at = SNP_FIXTURE_TIME,
	};
	int rc = snp_verify(e->report.p, e->report.len, &o, r);
	assert_int_equal(rc, r->err ? -EACCES : 0);
	free(chain);
	return r->err;
}

/* The code e gives with byte i of b flipped. */
static enum snp_verify_err flipped(const struct evidence *e, struct blob *b, size_t i)
{
	struct snp_verify_result r;
	b->p[i] ^= 0x01;
	enum snp_verify_err err = check(e, &r);
	b->p[i] ^= 0x01;
	return err;
}

/* Where a certificate's TBS part starts and ends in its DER (the first
 * element of the outer SEQUENCE; both use long-form lengths). */
static void tbs_span(const struct blob *cert, size_t *start, size_t *end)
{
	assert_int_equal(cert->p[0], 0x30);
	size_t hdr = 2 + (cert->p[1] & 0x7f);
	assert_int_equal(cert->p[hdr], 0x30);
	size_t nlen = cert->p[hdr + 1] & 0x7f, len = 0;
	for (size_t i = 0; i < nlen; i++)
		len = len << 8 | cert->p[hdr + 2 + i];
	*start = hdr;
	*end = hdr + 2 + nlen + len;
}

/* The offset of the serial number's last byte in the TBS: after the
 * version ([0] 03 02 01 02) comes INTEGER serial. */
static size_t serial_byte(const struct blob *cert)
{
	size_t start, end;
	tbs_span(cert, &start, &end);
	size_t p = start + 2 + (cert->p[start + 1] & 0x7f);
	assert_int_equal(cert->p[p], 0xa0);
	p += 2 + cert->p[p + 1];
	assert_int_equal(cert->p[p], 0x02);
	return p + 1 + cert->p[p + 1];
}

static void test_untampered(void **state)
{
	struct evidence e;
	struct snp_verify_result r;
	evidence_load(&e);
	assert_int_equal(check(&e, &r), SNP_VERIFY_OK);
	evidence_free(&e);
}

/* The signed part and the signature of the report. */
static void test_report_bytes(void **state)
{
	struct evidence e;
	evidence_load(&e);
	/* REPORT_DATA, the measurement, the chip ID, the reported TCB. */
	assert_int_equal(flipped(&e, &e.report, 0x50), SNP_VERIFY_SIGNATURE);
	assert_int_equal(flipped(&e, &e.report, 0x90 + 47), SNP_VERIFY_SIGNATURE);
	assert_int_equal(flipped(&e, &e.report, 0x1a0), SNP_VERIFY_SIGNATURE);
	assert_int_equal(flipped(&e, &e.report, 0x180), SNP_VERIFY_SIGNATURE);
	assert_int_equal(flipped(&e, &e.report, SNP_SIGNED_SIZE - 1), SNP_VERIFY_SIGNATURE);
	/* R and S. */
	assert_int_equal(flipped(&e, &e.report, 0x2a0), SNP_VERIFY_SIGNATURE);
	assert_int_equal(flipped(&e, &e.report, 0x2a0 + 47), SNP_VERIFY_SIGNATURE);
	assert_int_equal(flipped(&e, &e.report, 0x2e8), SNP_VERIFY_SIGNATURE);
	assert_int_equal(flipped(&e, &e.report, 0x2e8 + 47), SNP_VERIFY_SIGNATURE);
	/* The zero padding of R: a value above the curve's order. */
	assert_int_equal(flipped(&e, &e.report, 0x2a0 + 60), SNP_VERIFY_SIGNATURE);
	/* The bytes after the signature are not signed: still valid. */
	assert_int_equal(flipped(&e, &e.report, SNP_REPORT_SIZE - 1), SNP_VERIFY_OK);
	evidence_free(&e);
}

/* A flip in a certificate's signature, in its TBS part, or in its DER
 * framing, for the VCEK, the ASK and the ARK. */
static void test_certificate_bytes(void **state)
{
	struct evidence e;
	evidence_load(&e);
	/* The VCEK: the ASK's signature over it fails. */
	assert_int_equal(flipped(&e, &e.vcek, e.vcek.len - 1), SNP_VERIFY_CHAIN);
	assert_int_equal(flipped(&e, &e.vcek, serial_byte(&e.vcek)), SNP_VERIFY_CHAIN);
	/* The ASK: the ARK's signature over it fails. */
	assert_int_equal(flipped(&e, &e.ask, e.ask.len - 1), SNP_VERIFY_CHAIN);
	assert_int_equal(flipped(&e, &e.ask, serial_byte(&e.ask)), SNP_VERIFY_CHAIN);
	/* The ARK: no longer the pinned root, wherever the flip is. */
	assert_int_equal(flipped(&e, &e.ark, e.ark.len - 1), SNP_VERIFY_ROOT);
	assert_int_equal(flipped(&e, &e.ark, serial_byte(&e.ark)), SNP_VERIFY_ROOT);
	/* The VCEK's issuer name: no product, no AMD key signed it. */
	uint8_t *issuer = memmem(e.vcek.p, e.vcek.len, "SEV-Milan", 9);
	assert_non_null(issuer);
	assert_int_equal(flipped(&e, &e.vcek, (size_t)(issuer + 4 - e.vcek.p)), SNP_VERIFY_CHAIN);
	/* The outer SEQUENCE's tag: not a certificate any more. */
	assert_int_equal(flipped(&e, &e.vcek, 0), SNP_VERIFY_CERT_MALFORMED);
	assert_int_equal(flipped(&e, &e.ask, 0), SNP_VERIFY_CERT_MALFORMED);
	assert_int_equal(flipped(&e, &e.ark, 0), SNP_VERIFY_CERT_MALFORMED);
	evidence_free(&e);
}

/* Counts the positions of b in [from, to) whose flip verifies. */
static size_t accepts(const struct evidence *e, struct blob *b, size_t from, size_t to)
{
	size_t n = 0;
	for (size_t i = from; i < to; i++)
		if (flipped(e, b, i) == SNP_VERIFY_OK) {
			print_message("flip at %zu verified\n", i);
			n++;
		}
	return n;
}

/* Every byte of the signed part, of R and S, and of each certificate:
 * no flip verifies. */
static void test_no_false_accepts(void **state)
{
	struct evidence e;
	evidence_load(&e);
	assert_int_equal(accepts(&e, &e.report, 0, SNP_SIGNED_SIZE), 0);
	assert_int_equal(accepts(&e, &e.report, 0x2a0, 0x2a0 + 72), 0);
	assert_int_equal(accepts(&e, &e.report, 0x2e8, 0x2e8 + 72), 0);
	assert_int_equal(accepts(&e, &e.vcek, 0, e.vcek.len), 0);
	assert_int_equal(accepts(&e, &e.ask, 0, e.ask.len), 0);
	assert_int_equal(accepts(&e, &e.ark, 0, e.ark.len), 0);
	evidence_free(&e);
}

/* The VLEK's report, the HCL wrapper's report: flips in the signed part. */
static void test_other_samples_tampered(void **state)
{
	for (size_t k = 3; k < NSAMPLES; k++) {
		const struct sample *s = &samples[k];
		struct blob rep = sample_file(s, s->report), cert = sample_file(s, s->cert);
		struct snp_verify_opts o = sample_opts(s, &cert);
		struct snp_verify_result r;
		size_t base = rep.p[0] == 'H' ? 32 : 0;
		for (size_t i = base + 0x50; i < base + 0x1a0; i += 7) {
			rep.p[i] ^= 0x80;
			assert_int_equal(snp_verify(rep.p, rep.len, &o, &r), -EACCES);
			assert_int_equal(r.err, SNP_VERIFY_SIGNATURE);
			rep.p[i] ^= 0x80;
		}
		assert_int_equal(snp_verify(rep.p, rep.len, &o, &r), 0);
		blob_free(&rep);
		blob_free(&cert);
	}
}

/* A self-signed certificate named as AMD's ARK-Milan, with a P-384 key. */
static X509 *fake_ark(const X509 *real)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	X509 *x = X509_new();
	assert_non_null(key);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_set_subject_name(x, X509_get_subject_name(real));
	X509_set_issuer_name(x, X509_get_subject_name(real));
	X509_gmtime_adj(X509_getm_notBefore(x), -86400L * 365 * 10);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365 * 30);
	X509_set_pubkey(x, key);
	assert_true(X509_sign(x, key, EVP_sha384()) > 0);
	EVP_PKEY_free(key);
	return x;
}

/* A chain whose root is a look-alike of AMD's: untrusted, whether it comes
 * with AMD's ASK or alone. */
static void test_self_made_root(void **state)
{
	struct evidence e;
	evidence_load(&e);
	const unsigned char *p = e.ark.p;
	X509 *real = d2i_X509(NULL, &p, (long)e.ark.len);
	assert_non_null(real);
	X509 *fake = fake_ark(real);
	unsigned char *der = NULL;
	int len = i2d_X509(fake, &der);
	assert_true(len > 0);
	blob_free(&e.ark);
	e.ark.p = malloc((size_t)len);
	e.ark.len = (size_t)len;
	memcpy(e.ark.p, der, (size_t)len);
	struct snp_verify_result r;
	assert_int_equal(check(&e, &r), SNP_VERIFY_ROOT);
	assert_string_equal(snp_verify_code(r.err), "untrusted_root");
	OPENSSL_free(der);
	X509_free(fake);
	X509_free(real);
	evidence_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_untampered),
		cmocka_unit_test(test_report_bytes),
		cmocka_unit_test(test_certificate_bytes),
		cmocka_unit_test(test_no_false_accepts),
		cmocka_unit_test(test_other_samples_tampered),
		cmocka_unit_test(test_self_made_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
