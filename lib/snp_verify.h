/* SEV-SNP attestation reports: the parser (AMD SEV-SNP ABI, report versions 2
 * and later, where later versions add fields without moving the signed ones;
 * Azure's HCL wrapper too) and the verifier (OpenSSL): the report's ECDSA
 * P-384 signature with the VCEK or VLEK certificate, that certificate's chain
 * (VCEK -> ASK -> ARK, or VLEK -> ASVK -> ARK; RSA-PSS) up to AMD's root
 * keys pinned per product (Milan, Genoa, Turin), the certificate's TCB and
 * hardware-ID extensions against the report, and the checks the caller asks
 * for: measurement, REPORT_DATA, HOST_DATA, policy, minimum TCB.
 *
 * Used by the controller (GET /v1/tenants/{t}/attestation) and the CLI
 * (`ditto attest`). No I/O but what the caller passes; never logs. */
#ifndef DITTO_SNP_VERIFY_H
#define DITTO_SNP_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SNP_REPORT_SIZE 0x4a0
#define SNP_SIGNED_SIZE 0x2a0
#define SNP_MEASUREMENT_SIZE 48
#define SNP_REPORT_DATA_SIZE 64
#define SNP_HOST_DATA_SIZE 32
#define SNP_CHIP_ID_SIZE 64

enum snp_product {
	SNP_PRODUCT_UNKNOWN = 0,
	SNP_PRODUCT_MILAN,
	SNP_PRODUCT_GENOA,
	SNP_PRODUCT_TURIN
};

/* Which key signed the report (the report's SIGNING_KEY field). */
enum snp_signer { SNP_SIGNER_VCEK = 0, SNP_SIGNER_VLEK = 1, SNP_SIGNER_NONE = 7 };

/* A TCB version split into its security version numbers. Milan and Genoa:
 * boot loader byte 0, TEE byte 1, SNP byte 6, microcode byte 7. Turin: FMC
 * byte 0, boot loader 1, TEE 2, SNP 3, microcode 7. */
struct snp_tcb {
	uint64_t raw;
	uint8_t fmc; /* Turin only; 0 elsewhere */
	uint8_t bootloader, tee, snp, microcode;
};

/* The fields of a report (all of them, decoded; byte arrays as in the
 * report). Fields a version lacks are zero. */
struct snp_report {
	uint32_t version, guest_svn;
	uint64_t policy;
	uint8_t family_id[16], image_id[16];
	uint32_t vmpl, sig_algo;
	uint64_t current_tcb_raw, platform_info;
	uint32_t flags; /* author key enabled bit 0, mask chip key bit 1, signing key bits 2..4 */
	enum snp_signer signer;
	uint8_t report_data[SNP_REPORT_DATA_SIZE];
	uint8_t measurement[SNP_MEASUREMENT_SIZE];
	uint8_t host_data[SNP_HOST_DATA_SIZE], id_key_digest[48], author_key_digest[48];
	uint8_t report_id[32], report_id_ma[32];
	struct snp_tcb reported_tcb, current_tcb, committed_tcb, launch_tcb;
	uint8_t cpuid_family, cpuid_model, cpuid_stepping; /* version 3 and later */
	uint8_t chip_id[SNP_CHIP_ID_SIZE];
	uint8_t current_build, current_minor, current_major;
	uint8_t committed_build, committed_minor, committed_major;
	uint8_t signed_bytes[SNP_SIGNED_SIZE]; /* what the signature covers */
	uint8_t sig_r[72], sig_s[72];          /* little-endian, zero-padded */
};

/* Policy bits checked by the verifier. */
#define SNP_POLICY_SMT (1ull << 16)
#define SNP_POLICY_MIGRATE_MA (1ull << 18)
#define SNP_POLICY_DEBUG (1ull << 19)

/* Every failure has its own code. snp_verify_code() gives the stable
 * string each has in JSON and on stderr. The checks run in this order
 * (the first failure is reported): the report's form and algorithm, the
 * certificate, the chain (validity, then signatures up to the pinned ARK),
 * the signer, the signature, the hardware ID, the TCB extensions, then
 * measurement, REPORT_DATA, HOST_DATA, policy (debug, migration agent, SMT) and the
 * minimum TCB. So a VCEK of another chip gives bad_signature, not
 * hwid_mismatch. What tampering gives: a flipped byte of the signed part or
 * of R or S, bad_signature (of the version or algorithm fields, their own
 * codes); of a certificate, bad_certificate when it no longer parses, else
 * bad_chain (its issuer's signature over it fails), or untrusted_root for
 * the ARK (its fingerprint is no longer the pinned one). */
enum snp_verify_err {
	SNP_VERIFY_OK = 0,
	SNP_VERIFY_MALFORMED,      /* "malformed": too short, bad HCL wrapper, reserved bits */
	SNP_VERIFY_VERSION,        /* "unsupported_version": version < 2 */
	SNP_VERIFY_SIG_ALGO,       /* "unsupported_algorithm": not ECDSA P-384 SHA-384 */
	SNP_VERIFY_CERT_MALFORMED, /* "bad_certificate": a certificate does not parse */
	SNP_VERIFY_CERT_EXPIRED,   /* "certificate_expired" (at the verification time) */
	SNP_VERIFY_CERT_NOT_YET,   /* "certificate_not_yet_valid" */
	/* "bad_chain": VCEK/VLEK not signed by the ASK/ASVK, or it by the ARK,
	 * a certificate of the chain given that the ARK did not sign, or a
	 * VCEK whose issuer names no product (and no product given) */
	SNP_VERIFY_CHAIN,
	/* "untrusted_root": a root (self-issued certificate) in the chain given
	 * is not AMD's ARK pinned for the product */
	SNP_VERIFY_ROOT,
	SNP_VERIFY_SIGNER, /* "wrong_signer": a VLEK report with a VCEK certificate or the reverse */
	SNP_VERIFY_SIGNATURE, /* "bad_signature": the report's signature does not verify */
	SNP_VERIFY_HWID, /* "hwid_mismatch": the VCEK's hardware ID is not the report's chip_id */
	/* "tcb_mismatch": the certificate's TCB is not the report's reported_tcb */
	SNP_VERIFY_TCB_MISMATCH,
	SNP_VERIFY_MEASUREMENT,    /* "measurement_mismatch" */
	SNP_VERIFY_REPORT_DATA,    /* "report_data_mismatch" */
	SNP_VERIFY_HOST_DATA,      /* "host_data_mismatch": not the HOST_DATA set at launch */
	SNP_VERIFY_POLICY_DEBUG,   /* "policy_debug": debugging allowed */
	SNP_VERIFY_POLICY_MIGRATE, /* "policy_migration_agent": a migration agent allowed */
	SNP_VERIFY_POLICY_SMT,     /* "policy_smt": SMT allowed where the caller forbids it */
	SNP_VERIFY_MIN_TCB,        /* "tcb_too_old": below the caller's minimum */
	SNP_VERIFY_EVIDENCE_NONE,  /* "evidence_none": no hardware evidence where it is required */
};

/* The stable string of a code ("ok" for SNP_VERIFY_OK, "unknown" for a
 * value out of range). Static storage. */
const char *snp_verify_code(enum snp_verify_err e);
/* "milan", "genoa", "turin", or "unknown". Static storage. */
const char *snp_product_name(enum snp_product p);
/* Parses "milan", "genoa" or "turin" (any case). Returns 0 or -EINVAL
 * ("unknown" included). */
int snp_product_parse(const char *s, enum snp_product *ret);

/* The product of a report's chip: the one the VCEK/VLEK certificate's
 * issuer names (cert: PEM or DER, the first certificate counts; may be
 * NULL), else the one the report's CPUID fields name (version 3 and later;
 * report may be NULL), else SNP_PRODUCT_UNKNOWN. */
enum snp_product snp_product_detect(const void *cert, size_t cert_len,
				    const struct snp_report *report);

/* Splits a raw TCB value for a product. */
void snp_tcb_decode(uint64_t raw, enum snp_product product, struct snp_tcb *ret);
/* Parses a minimum TCB written "bl=N,tee=N,snp=N,ucode=N[,fmc=N]" (any
 * subset, any order, N 0..255; fmc only for Turin or UNKNOWN) or a
 * 16-digit hex raw value (optionally 0x-prefixed), split for product (the
 * layouts differ: give the report's product, see snp_product_detect).
 * Returns 0 or -EINVAL. */
int snp_tcb_parse(const char *s, enum snp_product product, struct snp_tcb *ret);

/* Parses a report: SNP_REPORT_SIZE bytes or more (later versions may be
 * longer), or Azure's HCL report, recognised by its "HCLA" signature (a
 * 32-byte header, the SNP report, then runtime data whose header says SNP).
 * The TCB versions are split for the product the CPUID fields name
 * (version 3 and later), else as Milan/Genoa; snp_verify splits them for
 * the product it verifies against. Returns 0 or -EBADMSG (too short, a bad
 * HCL wrapper, version below 2, a reserved signing key value). */
int snp_report_parse(const void *data, size_t len, struct snp_report *ret);

struct snp_verify_opts {
	/* The VCEK or VLEK certificate, PEM or DER (required). Certificates
	 * after the first (a VCEK, ASK, ARK bundle) join the chain. */
	const void *cert;
	size_t cert_len;
	/* The ASK/ASVK and ARK, PEM (one bundle, any order) or DER back to
	 * back; NULL: the copies built into Ditto for the product (no Turin
	 * ASVK is built in). Either way the ARK must be the one pinned for the
	 * product: every self-issued certificate given must be it, and every
	 * other one must be signed by it. */
	const void *chain;
	size_t chain_len;
	/* The product whose roots to use; UNKNOWN: taken from the certificate
	 * (its issuer names the product), or from the report's CPUID fields. */
	enum snp_product product;
	/* When to check certificate validity; 0: now. */
	time_t at;
	const uint8_t *measurement; /* NULL: not checked */
	const uint8_t *report_data; /* NULL: not checked (SNP_REPORT_DATA_SIZE bytes) */
	/* The HOST_DATA the host must have set at launch (SNP_HOST_DATA_SIZE
	 * bytes: Ditto's commitment to the tenant secret); NULL: not checked. */
	const uint8_t *host_data;
	const struct snp_tcb *min_tcb; /* NULL: not checked */
	bool allow_debug;              /* default false: a debug policy fails */
	bool allow_migration_agent;    /* default false */
	/* true: the policy must forbid SMT (most hosts' reports allow it:
	 * 0x30000); default false: either. */
	bool forbid_smt;
};

struct snp_verify_result {
	enum snp_verify_err err;
	char message[256]; /* one line saying what failed, or what was proved */
	enum snp_product product;
	struct snp_report report;
	/* What was checked (true only when checked and passed). hwid stays
	 * false for a VLEK (it has no hardware ID) and for a report whose
	 * chip_id the guest masked (MASK_CHIP_ID): not checked then. */
	bool signature, chain, tcb_extensions, hwid, measurement, report_data, host_data, policy,
		min_tcb;
};

/* Verifies a report (raw or HCL-wrapped). Fills ret fully in every case; ret->err
 * is the first failure. Returns 0 when every check passed, -EACCES when
 * one failed (ret says which), -ENOMEM or -EIO when OpenSSL could not run
 * (ret->message says so; ret->err is then meaningless). Thread-safe; no
 * global state. */
int snp_verify(const void *report, size_t len, const struct snp_verify_opts *opts,
	       struct snp_verify_result *ret);

/* The certificate table of an SNP extended report (SNP_GET_EXT_REPORT, GHCB
 * specification: entries of a GUID (16 bytes), an offset and a length
 * (32-bit little-endian, from the table's start), ended by an all-zero
 * entry), and the GUIDs AMD gives its certificates there. */
#define SNP_CERT_GUID_VCEK "63da758d-e664-4564-adc5-f4b93be8accd"
#define SNP_CERT_GUID_VLEK "a8074bc2-a25a-483e-aae6-39c045a0b8a1"
#define SNP_CERT_GUID_ASK "4ab7b379-bbac-4fe4-a02f-05aef327c782"
#define SNP_CERT_GUID_ARK "c0b406a4-a803-4952-9743-3fb6014cd0ae"

/* Finds the certificate guid names in a certificate table (the GUID in the
 * byte order of its text, or in the mixed-endian EFI order). Returns 0 with
 * *ret pointing into table (*ret_len bytes), -ENOENT when the table has no
 * such entry, -EBADMSG when the table is not well formed (no end entry, an
 * entry outside the table), -EINVAL for a malformed guid. */
int snp_cert_table_find(const void *table, size_t len, const char *guid, const uint8_t **ret,
			size_t *ret_len);

#endif
