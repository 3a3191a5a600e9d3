/* SEV-SNP attestation reports: everything that needs no cryptography (see
 * snp_verify.h): the error codes, product names, TCB versions, the report
 * and its Azure HCL wrapper, and the extended report's certificate table.
 * snp_verify.c checks what these parse. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "snp_int.h"
#include "snp_verify.h"

/* Azure's HCL report: a 32-byte header ("HCLA", version, size of the whole
 * report, request type, status, reserved), the SNP report (always
 * SNP_REPORT_SIZE bytes there), then the runtime data: a 20-byte header
 * (data size, version, report type, hash type, size of the JSON that
 * follows) whose report type is 2 for SNP (4 is TDX). */
#define HCL_MAGIC "HCLA"
#define HCL_HEADER_SIZE 32
#define HCL_RUNTIME_HEADER_SIZE 20
#define HCL_REPORT_TYPE_SNP 2

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
bool snp_tcb_at_least(const struct snp_tcb *t, const struct snp_tcb *min, enum snp_product product)
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
enum snp_product snp_product_from_cpuid(const struct snp_report *r)
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
void snp_report_tcbs_decode(struct snp_report *r, enum snp_product product)
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
enum snp_verify_err snp_report_decode(const void *data, size_t len, struct snp_report *ret)
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
	snp_report_tcbs_decode(ret, snp_product_from_cpuid(ret));
	return SNP_VERIFY_OK;
}

int snp_report_parse(const void *data, size_t len, struct snp_report *ret)
{
	struct snp_report r;
	if (snp_report_decode(data, len, &r) != SNP_VERIFY_OK)
		return -EBADMSG;
	*ret = r;
	return 0;
}

bool snp_all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
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
		if (snp_all_zero(e, CERT_ENTRY_SIZE))
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
