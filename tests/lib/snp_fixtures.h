/* The real SEV-SNP reports and AMD certificates under tests/data/snp (see
 * its SOURCE.md), for the verifier's tests: loading them, and a copy of a
 * certificate as DER to tamper with. */
#ifndef DITTO_TESTS_SNP_FIXTURES_H
#define DITTO_TESTS_SNP_FIXTURES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "snp_verify.h"
#include "util.h"

/* Inside the validity of every certificate of the samples, the VLEK's
 * included (2024-12-24). */
#define SNP_FIXTURE_TIME ((time_t)1735000000)

struct blob {
	uint8_t *p;
	size_t len;
};

/* Reads tests/data/snp/<name> (or $DITTO_TESTDATA/snp/<name>); fails the test
 * when it is missing. */
static inline struct blob fixture(const char *name)
{
	const char *dir = getenv("DITTO_TESTDATA");
	char path[4096];
	snprintf(path, sizeof(path), "%s/snp/%s", dir ? dir : "tests/data", name);
	void *data;
	size_t len;
	if (file_read_all(path, &data, &len) < 0)
		fail_msg("cannot open %s (run from the source root or set DITTO_TESTDATA)", path);
	return (struct blob){ data, len };
}

static inline void blob_free(struct blob *b)
{
	free(b->p);
	*b = (struct blob){ 0 };
}

/* The first certificate of a PEM fixture, as DER (malloc'd). */
static inline struct blob fixture_der(const char *name)
{
	struct blob pem = fixture(name);
	BIO *bio = BIO_new_mem_buf(pem.p, (int)pem.len);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	assert_non_null(x);
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	assert_true(len > 0);
	struct blob b = { malloc((size_t)len), (size_t)len };
	memcpy(b.p, der, (size_t)len);
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(bio);
	blob_free(&pem);
	return b;
}

/* One genuine sample: its report, its certificate and the options that
 * verify it. */
struct sample {
	const char *dir, *report, *cert;
	bool debug; /* its policy allows debugging */
};

static const struct sample samples[] = {
	{ "v01_virtee_milan_v2", "report.bin", "vcek.der", false },
	{ "v02_gosevguest_milan_v2", "report.bin", "vcek.der", true },
	{ "v03_trustee_milan_v2_idblock", "report.bin", "vcek.pem", false },
	{ "v04_trustee_milan_v3_vlek", "report.bin", "vlek.der", false },
	{ "v05_azure_milan_v2", "report.bin", "vcek_ask_ark_chain.pem", false },
	{ "v05_azure_milan_v2", "hcl_report.bin", "vcek_ask_ark_chain.pem", false },
};
#define NSAMPLES (sizeof(samples) / sizeof(samples[0]))

static inline struct blob sample_file(const struct sample *s, const char *file)
{
	char name[256];
	snprintf(name, sizeof(name), "%s/%s", s->dir, file);
	return fixture(name);
}

/* Options that accept a sample: the built-in roots, at SNP_FIXTURE_TIME,
 * SMT either way, debugging as its policy has it. */
static inline struct snp_verify_opts sample_opts(const struct sample *s, const struct blob *cert)
{
	return (struct snp_verify_opts){
		.cert = cert->p,
		.cert_len = cert->len,
		.at = SNP_FIXTURE_TIME,
		.allow_debug = s->debug,
	};
}

#endif
