/* SEV-SNP attestation reports: parser and verifier (see snp_verify.h).
 *
 * The order of the checks is fixed, and the first failure is the one
 * reported: the report's form, the certificate's form, the product, the
 * certificate chain up to the pinned ARK, the signer, the report's
 * signature, the certificate's hardware ID and TCB extensions, then what
 * the caller asked for (measurement, REPORT_DATA, HOST_DATA, policy,
 * minimum TCB). */
#define OPENSSL_API_COMPAT 30000
#include "snp_verify.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "snp_roots.h"

/* Azure's HCL report: a 32-byte header ("HCLA", version, size of the whole
 * report, request type, status, reserved), the SNP report (always
 * SNP_REPORT_SIZE bytes there), then the runtime data: a 20-byte header
 * (data size, version, report type, hash type, size of the JSON that
 * follows) whose report type is 2 for SNP (4 is TDX). */
#define HCL_MAGIC "HCLA"
#define HCL_HEADER_SIZE 32
#define HCL_RUNTIME_HEADER_SIZE 20
#define HCL_REPORT_TYPE_SNP 2

/* SIGNATURE_ALGO: ECDSA P-384 with SHA-384. */
#define SNP_SIG_ALGO_ECDSA_P384_SHA384 1

/* AMD's OIDs in VCEK and VLEK certificates. */
#define OID_BL_SPL "1.3.6.1.4.1.3704.1.3.1"
#define OID_TEE_SPL "1.3.6.1.4.1.3704.1.3.2"
#define OID_SNP_SPL "1.3.6.1.4.1.3704.1.3.3"
#define OID_UCODE_SPL "1.3.6.1.4.1.3704.1.3.8"
#define OID_FMC_SPL "1.3.6.1.4.1.3704.1.3.9"
#define OID_HWID "1.3.6.1.4.1.3704.1.4"

#define CN_VCEK "SEV-VCEK"
#define CN_VLEK "SEV-VLEK"

static const char *const codes[] = {
	[SNP_VERIFY_OK] = "ok",
	[SNP_VERIFY_MALFORMED] = "malformed",
	[SNP_VERIFY_VERSION] = "unsupported_version",
	[SNP_VERIFY_SIG_ALGO] = "unsupported_algorithm",
	[SNP_VERIFY_CERT_MALFORMED] = "bad_certificate",
	[SNP_VERIFY_CERT_EXPIRED] = "certificate_expired",
	[SNP_VERIFY_CERT_NOT_YET] = "certificate_not_yet_valid",
	[SNP_VERIFY_CHAIN] = "bad_chain",
	[SNP_VERIFY_ROOT] = "untrusted_root",
	[SNP_VERIFY_SIGNER] = "wrong_signer",
	[SNP_VERIFY_SIGNATURE] = "bad_signature",
	[SNP_VERIFY_HWID] = "hwid_mismatch",
	[SNP_VERIFY_TCB_MISMATCH] = "tcb_mismatch",
	[SNP_VERIFY_MEASUREMENT] = "measurement_mismatch",
	[SNP_VERIFY_REPORT_DATA] = "report_data_mismatch",
	[SNP_VERIFY_HOST_DATA] = "host_data_mismatch",
	[SNP_VERIFY_POLICY_DEBUG] = "policy_debug",
	[SNP_VERIFY_POLICY_MIGRATE] = "policy_migration_agent",
	[SNP_VERIFY_POLICY_SMT] = "policy_smt",
	[SNP_VERIFY_MIN_TCB] = "tcb_too_old",
	[SNP_VERIFY_EVIDENCE_NONE] = "evidence_none",
};

const char *snp_verify_code(enum snp_verify_err e)
{
	if ((size_t)e < sizeof(codes) / sizeof(codes[0]) && codes[e])
		return codes[e];
	return "unknown";
}

static const char *const product_names[] = {
	[SNP_PRODUCT_UNKNOWN] = "unknown",
	[SNP_PRODUCT_MILAN] = "milan",
	[SNP_PRODUCT_GENOA] = "genoa",
	[SNP_PRODUCT_TURIN] = "turin",
};

const char *snp_product_name(enum snp_product p)
{
	if ((size_t)p < sizeof(product_names) / sizeof(product_names[0]))
		return product_names[p];
	return "unknown";
}

int snp_product_parse(const char *s, enum snp_product *ret)
{
	for (size_t i = SNP_PRODUCT_MILAN; i < sizeof(product_names) / sizeof(product_names[0]);
	     i++) {
		if (strcasecmp(s, product_names[i]) == 0) {
			*ret = (enum snp_product)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- TCB versions ---------------------------------------------------------------------- */

void snp_tcb_decode(uint64_t raw, enum snp_product product, struct snp_tcb *ret)
{
	*ret = (struct snp_tcb){ .raw = raw, .microcode = (uint8_t)(raw >> 56) };
	if (product == SNP_PRODUCT_TURIN) {
		ret->fmc = (uint8_t)raw;
		ret->bootloader = (uint8_t)(raw >> 8);
		ret->tee = (uint8_t)(raw >> 16);
		ret->snp = (uint8_t)(raw >> 24);
	} else {
		ret->bootloader = (uint8_t)raw;
		ret->tee = (uint8_t)(raw >> 8);
		ret->snp = (uint8_t)(raw >> 48);
	}
}

static uint64_t tcb_encode(const struct snp_tcb *t, enum snp_product product)
{
	uint64_t raw = (uint64_t)t->microcode << 56;
	if (product == SNP_PRODUCT_TURIN)
		return raw | t->fmc | (uint64_t)t->bootloader << 8 | (uint64_t)t->tee << 16 |
		       (uint64_t)t->snp << 24;
	return raw | t->bootloader | (uint64_t)t->tee << 8 | (uint64_t)t->snp << 48;
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* One "name=N" item of a TCB spec into t. */
static int tcb_item(const char *item, size_t len, enum snp_product product, struct snp_tcb *t)
{
	static const struct {
		const char *name;
		size_t off;
	} names[] = {
		{ "bl", offsetof(struct snp_tcb, bootloader) },
		{ "tee", offsetof(struct snp_tcb, tee) },
		{ "snp", offsetof(struct snp_tcb, snp) },
		{ "ucode", offsetof(struct snp_tcb, microcode) },
		{ "fmc", offsetof(struct snp_tcb, fmc) },
	};
	const char *eq = memchr(item, '=', len);
	if (!eq || eq + 1 == item + len || (size_t)(item + len - eq - 1) > 3)
		return -EINVAL;
	char num[4] = "";
	memcpy(num, eq + 1, (size_t)(item + len - eq - 1));
	char *end;
	unsigned long v = strtoul(num, &end, 10);
	if (*end || !isdigit((unsigned char)num[0]) || v > 255)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) != (size_t)(eq - item) ||
		    memcmp(item, names[i].name, (size_t)(eq - item)) != 0)
			continue;
		/* Only Turin has an FMC version. */
		if (i == 4 && product != SNP_PRODUCT_TURIN && product != SNP_PRODUCT_UNKNOWN)
			return -EINVAL;
		*((uint8_t *)t + names[i].off) = (uint8_t)v;
		return 0;
	}
	return -EINVAL;
}

int snp_tcb_parse(const char *s, enum snp_product product, struct snp_tcb *ret)
{
	const char *hex = strncmp(s, "0x", 2) == 0 ? s + 2 : s;
	if (strlen(hex) == 16 && is_hex(hex, 16)) {
		snp_tcb_decode(strtoull(hex, NULL, 16), product, ret);
		return 0;
	}
	struct snp_tcb t = { 0 };
	if (!*s)
		return -EINVAL;
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, ",");
		if (tcb_item(p, n, product, &t) < 0)
			return -EINVAL;
		p += n;
		if (*p == ',' && !*++p)
			return -EINVAL;
	}
	t.raw = tcb_encode(&t, product);
	*ret = t;
	return 0;
}

/* Is every part of t at least min's (FMC on Turin only)? */
static bool tcb_at_least(const struct snp_tcb *t, const struct snp_tcb *min,
			 enum snp_product product)
{
	return t->bootloader >= min->bootloader && t->tee >= min->tee && t->snp >= min->snp &&
	       t->microcode >= min->microcode &&
	       (product != SNP_PRODUCT_TURIN || t->fmc >= min->fmc);
}

/* ---- the report ------------------------------------------------------------------------ */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* The product a version 3 (or later) report names in its CPUID fields, as
 * AMD's KDS maps family and model. */
static enum snp_product product_from_cpuid(const struct snp_report *r)
{
	if (r->cpuid_family == 0x19 && r->cpuid_model <= 0x0f)
		return SNP_PRODUCT_MILAN;
	if (r->cpuid_family == 0x19 && ((r->cpuid_model >= 0x10 && r->cpuid_model <= 0x1f) ||
					(r->cpuid_model >= 0xa0 && r->cpuid_model <= 0xaf)))
		return SNP_PRODUCT_GENOA;
	if (r->cpuid_family == 0x1a && r->cpuid_model <= 0x11)
		return SNP_PRODUCT_TURIN;
	return SNP_PRODUCT_UNKNOWN;
}

/* Splits the report's four TCB versions for product. */
static void report_tcbs_decode(struct snp_report *r, enum snp_product product)
{
	snp_tcb_decode(r->reported_tcb.raw, product, &r->reported_tcb);
	snp_tcb_decode(r->current_tcb_raw, product, &r->current_tcb);
	snp_tcb_decode(r->committed_tcb.raw, product, &r->committed_tcb);
	snp_tcb_decode(r->launch_tcb.raw, product, &r->launch_tcb);
}

/* Finds the SNP report inside Azure's HCL report. Returns 0 with *data and
 * *len narrowed to it, or SNP_VERIFY_MALFORMED. */
static enum snp_verify_err hcl_unwrap(const uint8_t **data, size_t *len)
{
	const uint8_t *p = *data;
	if (*len < HCL_HEADER_SIZE + SNP_REPORT_SIZE)
		return SNP_VERIFY_MALFORMED;
	uint32_t total = le32(p + 8);
	if (total < HCL_HEADER_SIZE + SNP_REPORT_SIZE || total > *len)
		return SNP_VERIFY_MALFORMED;
	/* The runtime data, when there, must say its report is an SNP one. */
	const uint8_t *rt = p + HCL_HEADER_SIZE + SNP_REPORT_SIZE;
	if (total >= HCL_HEADER_SIZE + SNP_REPORT_SIZE + HCL_RUNTIME_HEADER_SIZE &&
	    le32(rt + 8) != HCL_REPORT_TYPE_SNP)
		return SNP_VERIFY_MALFORMED;
	*data = p + HCL_HEADER_SIZE;
	*len = SNP_REPORT_SIZE;
	return SNP_VERIFY_OK;
}

static void report_fields(const uint8_t *p, struct snp_report *r)
{
	r->version = le32(p);
	r->guest_svn = le32(p + 0x04);
	r->policy = le64(p + 0x08);
	memcpy(r->family_id, p + 0x10, 16);
	memcpy(r->image_id, p + 0x20, 16);
	r->vmpl = le32(p + 0x30);
	r->sig_algo = le32(p + 0x34);
	r->current_tcb_raw = le64(p + 0x38);
	r->platform_info = le64(p + 0x40);
	r->flags = le32(p + 0x48);
	r->signer = (enum snp_signer)((r->flags >> 2) & 7);
	memcpy(r->report_data, p + 0x50, SNP_REPORT_DATA_SIZE);
	memcpy(r->measurement, p + 0x90, SNP_MEASUREMENT_SIZE);
	memcpy(r->host_data, p + 0xc0, 32);
	memcpy(r->id_key_digest, p + 0xe0, 48);
	memcpy(r->author_key_digest, p + 0x110, 48);
	memcpy(r->report_id, p + 0x140, 32);
	memcpy(r->report_id_ma, p + 0x160, 32);
	r->reported_tcb.raw = le64(p + 0x180);
	if (r->version >= 3) {
		r->cpuid_family = p[0x188];
		r->cpuid_model = p[0x189];
		r->cpuid_stepping = p[0x18a];
	}
	memcpy(r->chip_id, p + 0x1a0, SNP_CHIP_ID_SIZE);
	r->committed_tcb.raw = le64(p + 0x1e0);
	r->current_build = p[0x1e8];
	r->current_minor = p[0x1e9];
	r->current_major = p[0x1ea];
	r->committed_build = p[0x1ec];
	r->committed_minor = p[0x1ed];
	r->committed_major = p[0x1ee];
	r->launch_tcb.raw = le64(p + 0x1f0);
	memcpy(r->signed_bytes, p, SNP_SIGNED_SIZE);
	memcpy(r->sig_r, p + 0x2a0, 72);
	memcpy(r->sig_s, p + 0x2e8, 72);
}

/* snp_report_parse, saying which of MALFORMED or VERSION a failure is. */
static enum snp_verify_err report_decode(const void *data, size_t len, struct snp_report *ret)
{
	const uint8_t *p = data;
	*ret = (struct snp_report){ 0 };
	if (len >= 4 && memcmp(p, HCL_MAGIC, 4) == 0 && hcl_unwrap(&p, &len))
		return SNP_VERIFY_MALFORMED;
	if (len < SNP_REPORT_SIZE)
		return SNP_VERIFY_MALFORMED;
	uint32_t version = le32(p);
	if (version < 2)
		return SNP_VERIFY_VERSION;
	/* SIGNING_KEY: 0 VCEK, 1 VLEK, 7 none; the others are reserved. */
	uint32_t key = (le32(p + 0x48) >> 2) & 7;
	if (key != SNP_SIGNER_VCEK && key != SNP_SIGNER_VLEK && key != SNP_SIGNER_NONE)
		return SNP_VERIFY_MALFORMED;
	report_fields(p, ret);
	report_tcbs_decode(ret, product_from_cpuid(ret));
	return SNP_VERIFY_OK;
}

int snp_report_parse(const void *data, size_t len, struct snp_report *ret)
{
	struct snp_report r;
	if (report_decode(data, len, &r) != SNP_VERIFY_OK)
		return -EBADMSG;
	*ret = r;
	return 0;
}

/* ---- certificates ---------------------------------------------------------------------- */

static bool is_pem(const void *data, size_t len)
{
	const char *p = data;
	while (len && isspace((unsigned char)*p))
		p++, len--;
	return len >= 10 && memcmp(p, "-----BEGIN", 10) == 0;
}

/* Appends every certificate in data (PEM, one or more; or DER, one or more
 * back to back) to sk. Returns the number added, or -EBADMSG when any of it
 * does not parse, or -ENOMEM. */
static int certs_load(const void *data, size_t len, STACK_OF(X509) * sk)
{
	int n = 0;
	if (!is_pem(data, len)) {
		const unsigned char *p = data, *end = p + len;
		while (p < end) {
			X509 *x = d2i_X509(NULL, &p, end - p);
			if (!x)
				return -EBADMSG;
			if (!sk_X509_push(sk, x)) {
				X509_free(x);
				return -ENOMEM;
			}
			n++;
		}
		return n;
	}
	if (len > INT_MAX)
		return -EBADMSG;
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	if (!bio)
		return -ENOMEM;
	X509 *x;
	ERR_set_mark();
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			n = -ENOMEM;
			break;
		}
		n++;
	}
	/* The loop ends at the end of the data, or at a block that is broken. */
	unsigned long e = ERR_peek_last_error();
	if (n >= 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
		n = -EBADMSG;
	ERR_pop_to_mark();
	BIO_free(bio);
	return n;
}

static void cert_cn(const X509_NAME *name, char *out, size_t size)
{
	if (X509_NAME_get_text_by_NID((X509_NAME *)name, NID_commonName, out, (int)size) < 0)
		snprintf(out, size, "?");
}

static bool cert_fingerprint_is(const X509 *x, const uint8_t want[32])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	return X509_digest(x, EVP_sha256(), md, &n) == 1 && n == 32 && memcmp(md, want, 32) == 0;
}

/* The DER value of extension oid of x, or NULL when x has none. */
static const ASN1_OCTET_STRING *cert_ext(const X509 *x, const char *oid)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	if (!obj)
		return NULL;
	int i = X509_get_ext_by_OBJ(x, obj, -1);
	ASN1_OBJECT_free(obj);
	return i < 0 ? NULL : X509_EXTENSION_get_data(X509_get_ext(x, i));
}

/* A security version number extension (a DER INTEGER, 0..255). Returns 0,
 * -ENOENT when x lacks it or -EBADMSG. */
static int cert_spl(const X509 *x, const char *oid, uint8_t *ret)
{
	const ASN1_OCTET_STRING *v = cert_ext(x, oid);
	if (!v)
		return -ENOENT;
	const unsigned char *p = ASN1_STRING_get0_data(v);
	long len = ASN1_STRING_length(v);
	ASN1_INTEGER *i = d2i_ASN1_INTEGER(NULL, &p, len);
	uint64_t n = 0;
	int r = i && p == ASN1_STRING_get0_data(v) + len && ASN1_INTEGER_get_uint64(&n, i) == 1 &&
				n <= 255
			? 0
			: -EBADMSG;
	ASN1_INTEGER_free(i);
	if (r == 0)
		*ret = (uint8_t)n;
	return r;
}

/* ---- verification ---------------------------------------------------------------------- */

struct verify {
	const struct snp_verify_opts *o;
	struct snp_verify_result *r;
	const struct snp_roots *roots;
	X509 *leaf;             /* the VCEK or VLEK */
	bool vlek;              /* the leaf is a VLEK */
	X509 *ark;              /* the pinned root of the product */
	STACK_OF(X509) * given; /* the chain as given (or built in), and certs after the leaf */
	STACK_OF(X509) * inter; /* the ASK/ASVK among them, signed by the ARK */
};

/* Sets the result's one-line message; returns err for the caller to return. */
static enum snp_verify_err fail(struct verify *v, enum snp_verify_err err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum snp_verify_err fail(struct verify *v, enum snp_verify_err err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->r->message, sizeof(v->r->message), fmt, ap);
	va_end(ap);
	return err;
}

/* The leaf certificate (the first of o->cert; any after it join the
 * chain) and what it is. */
static int leaf_load(struct verify *v)
{
	int n = certs_load(v->o->cert, v->o->cert_len, v->given);
	if (n == -ENOMEM)
		return n;
	if (n <= 0)
		return fail(v, SNP_VERIFY_CERT_MALFORMED,
			    "the VCEK/VLEK certificate does not parse (PEM or DER expected)");
	v->leaf = sk_X509_shift(v->given);
	char cn[64];
	cert_cn(X509_get_subject_name(v->leaf), cn, sizeof(cn));
	if (strcmp(cn, CN_VCEK) != 0 && strcmp(cn, CN_VLEK) != 0)
		return fail(v, SNP_VERIFY_CERT_MALFORMED,
			    "the certificate is %s, not a VCEK or VLEK", cn);
	v->vlek = strcmp(cn, CN_VLEK) == 0;
	EVP_PKEY *key = X509_get0_pubkey(v->leaf);
	char group[32] = "";
	if (!key || !EVP_PKEY_is_a(key, "EC") ||
	    !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					    NULL) ||
	    strcmp(group, "secp384r1") != 0)
		return fail(v, SNP_VERIFY_CERT_MALFORMED,
			    "the %s's public key is not an ECDSA P-384 key", cn);
	return 0;
}

/* The product whose names an AMD signing key's CN ("SEV-Milan",
 * "SEV-VLEK-Genoa") carries. */
static enum snp_product product_from_issuer(const X509 *leaf)
{
	char cn[64];
	cert_cn(X509_get_issuer_name(leaf), cn, sizeof(cn));
	const char *name = strncmp(cn, "SEV-VLEK-", 9) == 0 ? cn + 9
			   : strncmp(cn, "SEV-", 4) == 0    ? cn + 4
							    : "";
	enum snp_product p;
	return snp_product_parse(name, &p) == 0 ? p : SNP_PRODUCT_UNKNOWN;
}

enum snp_product snp_product_detect(const void *cert, size_t cert_len,
				    const struct snp_report *report)
{
	enum snp_product p = SNP_PRODUCT_UNKNOWN;
	STACK_OF(X509) *sk = cert ? sk_X509_new_null() : NULL;
	if (sk && certs_load(cert, cert_len, sk) > 0)
		p = product_from_issuer(sk_X509_value(sk, 0));
	sk_X509_pop_free(sk, X509_free);
	if (p == SNP_PRODUCT_UNKNOWN && report)
		p = product_from_cpuid(report);
	return p;
}

/* The pinned ARK, and the chain: as given, or the ASK and ASVK built in. */
static int roots_load(struct verify *v)
{
	STACK_OF(X509) *ark = sk_X509_new_null();
	if (!ark)
		return -ENOMEM;
	int n = certs_load(v->roots->ark, strlen(v->roots->ark), ark);
	if (n == 1 && cert_fingerprint_is(sk_X509_value(ark, 0), v->roots->ark_sha256))
		v->ark = sk_X509_shift(ark);
	sk_X509_pop_free(ark, X509_free);
	if (!v->ark)
		return n == -ENOMEM ? -ENOMEM : -EIO; /* the built-in copy is wrong */
	if (v->o->chain) {
		n = certs_load(v->o->chain, v->o->chain_len, v->given);
		if (n == -ENOMEM)
			return n;
		if (n <= 0)
			return fail(v, SNP_VERIFY_CERT_MALFORMED,
				    "the certificate chain does not parse (PEM expected)");
		return 0;
	}
	const char *mid = v->vlek ? v->roots->asvk : v->roots->ask;
	if (!mid)
		return fail(v, SNP_VERIFY_CHAIN, "no %s for %s is built in: give the chain",
			    v->vlek ? "ASVK" : "ASK", v->roots->name);
	n = certs_load(mid, strlen(mid), v->given);
	return n < 0 ? (n == -ENOMEM ? n : -EIO) : 0;
}

/* Sorts the given chain: every root in it must be the pinned ARK, and every
 * other certificate (but a copy of the leaf) must be signed by it. */
static int chain_screen(struct verify *v)
{
	char cn[64];
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < sk_X509_num(v->given); i++) {
			X509 *x = sk_X509_value(v->given, i);
			bool root = X509_NAME_cmp(X509_get_subject_name(x),
						  X509_get_issuer_name(x)) == 0;
			if (X509_cmp(x, v->leaf) == 0 ||
			    cert_fingerprint_is(x, v->roots->ark_sha256))
				continue;
			cert_cn(X509_get_subject_name(x), cn, sizeof(cn));
			if (pass == 0 && root)
				return fail(v, SNP_VERIFY_ROOT,
					    "the chain's root %s is not AMD's ARK-%s", cn,
					    v->roots->name);
			if (pass == 0)
				continue;
			if (X509_verify(x, X509_get0_pubkey(v->ark)) != 1)
				return fail(v, SNP_VERIFY_CHAIN,
					    "the chain's %s is not signed by AMD's ARK-%s", cn,
					    v->roots->name);
			if (!X509_up_ref(x))
				return -ENOMEM;
			if (!sk_X509_push(v->inter, x)) {
				X509_free(x);
				return -ENOMEM;
			}
		}
	}
	ERR_clear_error();
	return 0;
}

/* Describes an X509_verify_cert failure as its own code. */
static int chain_error(struct verify *v, X509_STORE_CTX *ctx)
{
	int e = X509_STORE_CTX_get_error(ctx);
	X509 *x = X509_STORE_CTX_get_current_cert(ctx);
	char cn[64] = "?", when[64] = "";
	if (x)
		cert_cn(X509_get_subject_name(x), cn, sizeof(cn));
	const ASN1_TIME *t = !x                                 ? NULL
			     : e == X509_V_ERR_CERT_HAS_EXPIRED ? X509_get0_notAfter(x)
								: X509_get0_notBefore(x);
	BIO *b = t ? BIO_new(BIO_s_mem()) : NULL;
	if (b && ASN1_TIME_print(b, t) == 1)
		BIO_read(b, when, sizeof(when) - 1);
	BIO_free(b);
	if (e == X509_V_ERR_CERT_HAS_EXPIRED)
		return fail(v, SNP_VERIFY_CERT_EXPIRED, "%s expired on %s", cn, when);
	if (e == X509_V_ERR_CERT_NOT_YET_VALID)
		return fail(v, SNP_VERIFY_CERT_NOT_YET, "%s is valid only from %s", cn, when);
	return fail(v, SNP_VERIFY_CHAIN, "%s does not chain to AMD's ARK-%s: %s", cn,
		    v->roots->name, X509_verify_cert_error_string(e));
}

/* The leaf -> ASK/ASVK -> ARK chain at the verification time, and that the
 * middle one is the kind of key that signs the leaf's kind. */
static int chain_verify(struct verify *v)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int r = -ENOMEM;
	if (!store || !ctx || X509_STORE_add_cert(store, v->ark) != 1 ||
	    X509_STORE_CTX_init(ctx, store, v->leaf, v->inter) != 1)
		goto out;
	if (v->o->at)
		X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), v->o->at);
	if (X509_verify_cert(ctx) != 1) {
		r = chain_error(v, ctx);
		goto out;
	}
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	char cn[64], want[64];
	cert_cn(X509_get_subject_name(sk_X509_value(chain, 1)), cn, sizeof(cn));
	snprintf(want, sizeof(want), "SEV-%s%s", v->vlek ? "VLEK-" : "", v->roots->name);
	if (sk_X509_num(chain) != 3 || strcmp(cn, want) != 0)
		r = fail(v, SNP_VERIFY_CHAIN, "the %s is signed by %s, not by %s",
			 v->vlek ? CN_VLEK : CN_VCEK, cn, want);
	else
		r = 0;
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return r;
}

/* The report's signature with the leaf's key: 1 good, 0 bad, -errno. */
static int signature_check(const struct snp_report *rep, EVP_PKEY *key)
{
	BIGNUM *r = BN_lebin2bn(rep->sig_r, sizeof(rep->sig_r), NULL);
	BIGNUM *s = BN_lebin2bn(rep->sig_s, sizeof(rep->sig_s), NULL);
	ECDSA_SIG *sig = ECDSA_SIG_new();
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int ok = -ENOMEM, len;
	if (!r || !s || !sig || !md || ECDSA_SIG_set0(sig, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		goto out;
	}
	if ((len = i2d_ECDSA_SIG(sig, &der)) <= 0 ||
	    EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, key) != 1)
		goto out;
	ok = EVP_DigestVerify(md, der, (size_t)len, rep->signed_bytes, SNP_SIGNED_SIZE) == 1;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	ECDSA_SIG_free(sig);
	return ok;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* The VCEK's hardware ID against chip_id. A VLEK has none; a report asked
 * with MASK_CHIP_ID has a zero chip_id: neither is checked. A shorter ID
 * (Turin's VCEKs are keyed by 8 bytes of it) is compared with the start of
 * chip_id: the rest is bound by the signature already. */
static int hwid_check(struct verify *v)
{
	const struct snp_report *rep = &v->r->report;
	if (v->vlek || ((rep->flags & 2) && all_zero(rep->chip_id, SNP_CHIP_ID_SIZE)))
		return 0;
	const ASN1_OCTET_STRING *ext = cert_ext(v->leaf, OID_HWID);
	if (!ext)
		return fail(v, SNP_VERIFY_CERT_MALFORMED, "the VCEK has no hardware ID extension");
	const uint8_t *id = ASN1_STRING_get0_data(ext);
	size_t n = (size_t)ASN1_STRING_length(ext);
	if (n == 0 || n > SNP_CHIP_ID_SIZE || memcmp(id, rep->chip_id, n) != 0)
		return fail(v, SNP_VERIFY_HWID,
			    "the VCEK's hardware ID is not the report's chip_id (a VCEK of "
			    "another chip)");
	v->r->hwid = true;
	return 0;
}

/* The certificate's TCB extensions against the report's reported_tcb. */
static int tcb_ext_check(struct verify *v)
{
	static const struct {
		const char *oid, *name;
		size_t off;
	} spls[] = {
		{ OID_BL_SPL, "bl", offsetof(struct snp_tcb, bootloader) },
		{ OID_TEE_SPL, "tee", offsetof(struct snp_tcb, tee) },
		{ OID_SNP_SPL, "snp", offsetof(struct snp_tcb, snp) },
		{ OID_UCODE_SPL, "ucode", offsetof(struct snp_tcb, microcode) },
		{ OID_FMC_SPL, "fmc", offsetof(struct snp_tcb, fmc) },
	};
	const struct snp_tcb *t = &v->r->report.reported_tcb;
	size_t n = v->r->product == SNP_PRODUCT_TURIN ? 5 : 4;
	for (size_t i = 0; i < n; i++) {
		uint8_t spl, have = *((const uint8_t *)t + spls[i].off);
		int e = cert_spl(v->leaf, spls[i].oid, &spl);
		if (e < 0)
			return fail(v, SNP_VERIFY_CERT_MALFORMED,
				    "the certificate's %s version extension (%s) is %s",
				    spls[i].name, spls[i].oid,
				    e == -ENOENT ? "missing" : "malformed");
		if (spl != have)
			return fail(v, SNP_VERIFY_TCB_MISMATCH,
				    "the certificate is for %s=%u, the report's reported_tcb has "
				    "%s=%u",
				    spls[i].name, spl, spls[i].name, have);
	}
	v->r->tcb_extensions = true;
	return 0;
}

/* The checks the caller asked for: measurement, REPORT_DATA, HOST_DATA,
 * policy and minimum TCB. */
static int caller_checks(struct verify *v)
{
	const struct snp_verify_opts *o = v->o;
	struct snp_verify_result *r = v->r;
	const struct snp_report *rep = &r->report;
	if (o->measurement && memcmp(o->measurement, rep->measurement, SNP_MEASUREMENT_SIZE))
		return fail(v, SNP_VERIFY_MEASUREMENT,
			    "the launch measurement is not the expected one");
	r->measurement = o->measurement != NULL;
	if (o->report_data && memcmp(o->report_data, rep->report_data, SNP_REPORT_DATA_SIZE))
		return fail(v, SNP_VERIFY_REPORT_DATA, "REPORT_DATA is not the expected value");
	r->report_data = o->report_data != NULL;
	if (o->host_data && memcmp(o->host_data, rep->host_data, SNP_HOST_DATA_SIZE))
		return fail(v, SNP_VERIFY_HOST_DATA,
			    "HOST_DATA is not the expected one: the VM was not launched for this "
			    "tenant secret");
	r->host_data = o->host_data != NULL;
	if ((rep->policy & SNP_POLICY_DEBUG) && !o->allow_debug)
		return fail(v, SNP_VERIFY_POLICY_DEBUG,
			    "the guest policy (0x%llx) allows debugging",
			    (unsigned long long)rep->policy);
	if ((rep->policy & SNP_POLICY_MIGRATE_MA) && !o->allow_migration_agent)
		return fail(v, SNP_VERIFY_POLICY_MIGRATE,
			    "the guest policy (0x%llx) allows a migration agent",
			    (unsigned long long)rep->policy);
	if ((rep->policy & SNP_POLICY_SMT) && o->forbid_smt)
		return fail(v, SNP_VERIFY_POLICY_SMT, "the guest policy (0x%llx) allows SMT",
			    (unsigned long long)rep->policy);
	r->policy = true;
	const struct snp_tcb *t = &rep->reported_tcb, *m = o->min_tcb;
	if (m && !tcb_at_least(t, m, r->product))
		return fail(v, SNP_VERIFY_MIN_TCB,
			    "reported TCB bl=%u tee=%u snp=%u ucode=%u is below the minimum "
			    "bl=%u tee=%u snp=%u ucode=%u",
			    t->bootloader, t->tee, t->snp, t->microcode, m->bootloader, m->tee,
			    m->snp, m->microcode);
	r->min_tcb = m != NULL;
	return 0;
}

/* Parses the report and finds the certificate, the product and its roots. */
static int verify_setup(struct verify *v, const void *report, size_t len)
{
	struct snp_verify_result *r = v->r;
	enum snp_verify_err e = report_decode(report, len, &r->report);
	if (e == SNP_VERIFY_VERSION)
		return fail(v, e, "report version %u: version 2 or later expected",
			    r->report.version);
	if (e)
		return fail(v, e, "not an SEV-SNP attestation report (%zu bytes)", len);
	if (r->report.sig_algo != SNP_SIG_ALGO_ECDSA_P384_SHA384)
		return fail(v, SNP_VERIFY_SIG_ALGO,
			    "signature algorithm %u: only 1 (ECDSA P-384 with SHA-384) is known",
			    r->report.sig_algo);
	if (!v->o->cert)
		return fail(v, SNP_VERIFY_CERT_MALFORMED, "no VCEK or VLEK certificate given");
	int err = leaf_load(v);
	if (err)
		return err;
	r->product = v->o->product ? v->o->product : product_from_issuer(v->leaf);
	if (!r->product)
		r->product = product_from_cpuid(&r->report);
	v->roots = snp_roots_get(r->product);
	/* A VCEK whose issuer names no product AMD signs for is not chained to
	 * any of its keys. */
	if (!v->roots) {
		char cn[64];
		cert_cn(X509_get_issuer_name(v->leaf), cn, sizeof(cn));
		return fail(v, SNP_VERIFY_CHAIN,
			    "the certificate's issuer %s is no AMD signing key Ditto knows (and "
			    "the product is not given)",
			    cn);
	}
	report_tcbs_decode(&r->report, r->product);
	return roots_load(v);
}

static int verify_run(struct verify *v, const void *report, size_t len)
{
	struct snp_verify_result *r = v->r;
	int err = verify_setup(v, report, len);
	if (!err)
		err = chain_screen(v);
	if (!err)
		err = chain_verify(v);
	if (err)
		return err;
	r->chain = true;
	enum snp_signer want = v->vlek ? SNP_SIGNER_VLEK : SNP_SIGNER_VCEK;
	if (r->report.signer != want)
		return fail(v, SNP_VERIFY_SIGNER,
			    "the report is signed by %s, the certificate is a %s",
			    r->report.signer == SNP_SIGNER_VLEK   ? "the VLEK"
			    : r->report.signer == SNP_SIGNER_NONE ? "no key"
								  : "the VCEK",
			    v->vlek ? "VLEK" : "VCEK");
	err = signature_check(&r->report, X509_get0_pubkey(v->leaf));
	if (err < 0)
		return err;
	if (!err)
		return fail(v, SNP_VERIFY_SIGNATURE,
			    "the report's signature does not verify with this %s",
			    v->vlek ? "VLEK" : "VCEK");
	r->signature = true;
	if ((err = hwid_check(v)) || (err = tcb_ext_check(v)))
		return err;
	return caller_checks(v);
}

int snp_verify(const void *report, size_t len, const struct snp_verify_opts *opts,
	       struct snp_verify_result *ret)
{
	*ret = (struct snp_verify_result){ 0 };
	struct verify v = { .o = opts, .r = ret };
	v.given = sk_X509_new_null();
	v.inter = sk_X509_new_null();
	int err = v.given && v.inter ? verify_run(&v, report, len) : -ENOMEM;
	X509_free(v.leaf);
	X509_free(v.ark);
	sk_X509_pop_free(v.given, X509_free);
	sk_X509_pop_free(v.inter, X509_free);
	ERR_clear_error();
	if (err < 0) {
		snprintf(ret->message, sizeof(ret->message), "%s",
			 err == -ENOMEM ? "out of memory" : "libcrypto failed");
		return err;
	}
	ret->err = (enum snp_verify_err)err;
	if (err)
		return -EACCES;
	const struct snp_tcb *t = &ret->report.reported_tcb;
	snprintf(ret->message, sizeof(ret->message),
		 "%s report v%u signed by its %s, chained to AMD's ARK-%s, TCB bl=%u tee=%u "
		 "snp=%u ucode=%u",
		 snp_product_name(ret->product), ret->report.version, v.vlek ? "VLEK" : "VCEK",
		 v.roots->name, t->bootloader, t->tee, t->snp, t->microcode);
	return 0;
}

/* ---- the extended report's certificate table ------------------------------------------- */

#define CERT_ENTRY_SIZE 24

/* A GUID's 16 bytes in its text's order ("63da758d-..." -> 63 da 75 8d). */
static int guid_parse(const char *s, uint8_t ret[16])
{
	size_t n = 0;
	for (size_t i = 0; s[i] && n < 32; i++) {
		if (s[i] == '-' && (i == 8 || i == 13 || i == 18 || i == 23))
			continue;
		if (!isxdigit((unsigned char)s[i]))
			return -EINVAL;
		char d[2] = { s[i], 0 };
		uint8_t v = (uint8_t)strtoul(d, NULL, 16);
		ret[n / 2] = n % 2 ? (uint8_t)(ret[n / 2] | v) : (uint8_t)(v << 4);
		n++;
	}
	return n == 32 && strlen(s) == 36 ? 0 : -EINVAL;
}

int snp_cert_table_find(const void *table, size_t len, const char *guid, const uint8_t **ret,
			size_t *ret_len)
{
	static const uint8_t efi_order[16] = {
		3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15
	};
	uint8_t want[16], want_efi[16];
	if (guid_parse(guid, want) < 0)
		return -EINVAL;
	for (size_t i = 0; i < 16; i++)
		want_efi[i] = want[efi_order[i]];
	const uint8_t *p = table;
	for (size_t at = 0; at + CERT_ENTRY_SIZE <= len; at += CERT_ENTRY_SIZE) {
		const uint8_t *e = p + at;
		if (all_zero(e, CERT_ENTRY_SIZE))
			return -ENOENT;
		uint32_t off = le32(e + 16), n = le32(e + 20);
		if (off > len || n > len - off)
			return -EBADMSG;
		if (memcmp(e, want, 16) == 0 || memcmp(e, want_efi, 16) == 0) {
			*ret = p + off;
			*ret_len = n;
			return 0;
		}
	}
	return -EBADMSG;
}
