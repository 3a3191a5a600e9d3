/* SEV-SNP evidence parsing (lib/snp_report.c): the attestation report
 * (raw or in Azure's HCL wrapper), the extended report's certificate table,
 * the minimum-TCB syntax, and the product a certificate names.
 *
 * Input: a selector byte (the product), then bytes taken as a report, as a
 * certificate table, as a certificate and (up to the first NUL) as a TCB.
 * Each copy is exact-sized, so a read past it is caught. Checked: a parsed
 * report has a supported version and signer and carries the signed bytes it
 * was read from; a refused one leaves the output alone; a certificate found
 * lies inside the table; a parsed TCB decodes back from its raw value. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "snp_verify.h"

static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	FUZZ_CHECK(c);
	memcpy(c, p, n);
	return c;
}

static void check_report(const uint8_t *p, size_t n)
{
	static struct snp_report r, untouched; /* large: off the stack */
	memset(&r, 0x5a, sizeof(r));
	untouched = r;
	uint8_t *c = dup_exact(p, n);
	int err = snp_report_parse(c, n, &r);
	FUZZ_CHECK(err == 0 || err == -EBADMSG);
	if (err < 0) {
		FUZZ_CHECK(memcmp(&r, &untouched, sizeof(r)) == 0);
	} else {
		bool hcl = n >= 4 && memcmp(c, "HCLA", 4) == 0;
		const uint8_t *raw = hcl ? c + 32 : c;
		FUZZ_CHECK(hcl || n >= SNP_REPORT_SIZE);
		FUZZ_CHECK(r.version >= 2);
		FUZZ_CHECK(r.signer == SNP_SIGNER_VCEK || r.signer == SNP_SIGNER_VLEK ||
			   r.signer == SNP_SIGNER_NONE);
		FUZZ_CHECK(memcmp(r.signed_bytes, raw, SNP_SIGNED_SIZE) == 0);
		if (r.version < 3)
			FUZZ_CHECK(!r.cpuid_family && !r.cpuid_model && !r.cpuid_stepping);
		enum snp_product prod = snp_product_detect(NULL, 0, &r);
		FUZZ_CHECK(prod >= SNP_PRODUCT_UNKNOWN && prod <= SNP_PRODUCT_TURIN);
	}
	free(c);
}

static void check_table(const uint8_t *p, size_t n)
{
	static const char *const guids[] = { SNP_CERT_GUID_VCEK, SNP_CERT_GUID_VLEK,
					     SNP_CERT_GUID_ASK, SNP_CERT_GUID_ARK };
	uint8_t *c = dup_exact(p, n);
	for (size_t i = 0; i < 4; i++) {
		const uint8_t *cert = NULL;
		size_t len = 0;
		int r = snp_cert_table_find(c, n, guids[i], &cert, &len);
		FUZZ_CHECK(r == 0 || r == -ENOENT || r == -EBADMSG);
		if (r == 0)
			FUZZ_CHECK(cert >= c && cert <= c + n && len <= (size_t)(c + n - cert));
	}
	const uint8_t *cert;
	size_t len;
	FUZZ_CHECK(snp_cert_table_find(c, n, "63da758d-e664-4564-adc5", &cert, &len) == -EINVAL);
	free(c);
}

static void check_tcb(const uint8_t *p, size_t n, enum snp_product prod)
{
	const uint8_t *nul = memchr(p, '\0', n);
	size_t len = nul ? (size_t)(nul - p) : n;
	char *s = malloc(len + 1);
	FUZZ_CHECK(s);
	memcpy(s, p, len);
	s[len] = '\0';
	struct snp_tcb t, d;
	if (snp_tcb_parse(s, prod, &t) == 0) {
		snp_tcb_decode(t.raw, prod, &d);
		FUZZ_CHECK(d.raw == t.raw && d.bootloader == t.bootloader && d.tee == t.tee &&
			   d.snp == t.snp && d.microcode == t.microcode);
		/* Only Turin's layout has room for the FMC version; without a
		 * product the raw value is laid out as Milan's and the FMC given
		 * stays in the fields alone. */
		FUZZ_CHECK(d.fmc == t.fmc || prod != SNP_PRODUCT_TURIN);
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	enum snp_product prod = (enum snp_product)(fuzz_byte(&in) % 4);
	check_report(in.p, in.n);
	check_table(in.p, in.n);
	check_tcb(in.p, in.n, prod);
	uint8_t *c = dup_exact(in.p, in.n);
	enum snp_product got = snp_product_detect(c, in.n, NULL);
	FUZZ_CHECK(got >= SNP_PRODUCT_UNKNOWN && got <= SNP_PRODUCT_TURIN);
	free(c);
	FUZZ_CHECK(strcmp(snp_product_name(prod), "unknown") != 0 || prod == SNP_PRODUCT_UNKNOWN);
	return 0;
}
