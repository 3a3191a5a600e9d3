/* Attestation evidence from inside the VM: an AMD SEV-SNP attestation report
 * from /dev/sev-guest whose REPORT_DATA the caller chooses (the daemon binds
 * its X25519 key to a verifier's nonce, lib/e2e.h), with the host's
 * certificate table when it provides one; or evidence of type "none" where
 * there is no such device (no SNP: nothing here is confidential).
 *
 * The request building and response parsing are pure, so they are tested
 * with a real report; attest_get() is the only part that talks to the
 * kernel (Linux's uapi <linux/sev-guest.h>). */
#ifndef DITTO_GUEST_SEV_GUEST_H
#define DITTO_GUEST_SEV_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/sev-guest.h>

#define ATTEST_DEVICE "/dev/sev-guest"
#define ATTEST_REPORT_DATA_SIZE 64
/* The certificate buffer handed to SNP_GET_EXT_REPORT: the kernel takes a
 * whole number of pages, at most 16 KiB. */
#define ATTEST_CERTS_SIZE (16u * 1024u)
/* The firmware's MSG_REPORT_RSP before the report: status (u32, 0 is
 * success), report_size (u32), 24 reserved bytes. */
#define ATTEST_RESP_HEADER 32

struct attest_evidence {
	bool snp; /* false: type "none", nothing else is set */
	uint8_t *report;
	size_t report_len;
	uint8_t *certs; /* the host's certificate table; NULL when none */
	size_t certs_len;
};

/* Fills an SNP_GET_REPORT request: REPORT_DATA, VMPL 0, zero reserved. */
void attest_report_req(const uint8_t report_data[ATTEST_REPORT_DATA_SIZE],
		       struct snp_report_req *ret);

/* Reads the response data of SNP_GET_REPORT (len bytes). Returns 0 with the
 * report (inside data) in *ret_report, *ret_len; -EIO when the firmware's
 * status is not 0 (*ret_status says which); -EBADMSG when report_size is
 * below SNP_REPORT_SIZE or beyond the data. */
int attest_parse_resp(const uint8_t *data, size_t len, const uint8_t **ret_report, size_t *ret_len,
		      uint32_t *ret_status);

/* The bytes of a certificate table (GHCB: entries of GUID[16], offset u32,
 * length u32, ended by an all-zero entry; offsets from the table's start)
 * that hold it: 0 for an empty table, else the end of its last certificate.
 * A table that runs past len (no terminator, or a certificate beyond the
 * buffer) counts as len: it is passed on whole for the verifier to judge. */
size_t attest_certs_len(const uint8_t *table, size_t len);

/* Asks the device at path for a report with this REPORT_DATA:
 * SNP_GET_EXT_REPORT, falling back to SNP_GET_REPORT when the host gives no
 * certificates that way. A missing device (ENOENT) gives evidence of type
 * none and 0. Returns 0, or -errno with why in err (err_size bytes). */
int attest_get(const char *path, const uint8_t report_data[ATTEST_REPORT_DATA_SIZE],
	       struct attest_evidence *ret, char *err, size_t err_size);

void attest_evidence_free(struct attest_evidence *e);

#endif
