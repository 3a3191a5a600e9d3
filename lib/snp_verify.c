/* SEV-SNP attestation reports: the verifier (see snp_verify.h; the parsing
 * is snp_report.c's).
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

#include "snp_int.h"
#include "snp_roots.h"

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
		p = snp_product_from_cpuid(report);
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

/* The VCEK's hardware ID against chip_id. A VLEK has none; a report asked
 * with MASK_CHIP_ID has a zero chip_id: neither is checked. A shorter ID
 * (Turin's VCEKs are keyed by 8 bytes of it) is compared with the start of
 * chip_id: the rest is bound by the signature already. */
static int hwid_check(struct verify *v)
{
	const struct snp_report *rep = &v->r->report;
	if (v->vlek || ((rep->flags & 2) && snp_all_zero(rep->chip_id, SNP_CHIP_ID_SIZE)))
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
	if (m && !snp_tcb_at_least(t, m, r->product))
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
	enum snp_verify_err e = snp_report_decode(report, len, &r->report);
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
		r->product = snp_product_from_cpuid(&r->report);
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
	snp_report_tcbs_decode(&r->report, r->product);
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
