/* The SEV-SNP launch digest: what the hardware puts in an attestation
 * report's MEASUREMENT, computed ahead of launch from the same inputs the
 * host feeds SNP_LAUNCH_UPDATE (AMD SEV-SNP ABI, PAGE_INFO chaining with
 * SHA-384), and the parser of OVMF's GUIDed footer table and SNP metadata
 * that says which guest pages the launch covers. Pure: it reads only the
 * buffers the caller passes. */
#ifndef DITTO_SNP_MEASURE_H
#define DITTO_SNP_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNP_DIGEST_SIZE 48
#define SNP_PAGE_SIZE 4096
/* A firmware with more metadata sections than this is refused. */
#define SNP_OVMF_SECTIONS_MAX 32

/* PAGE_INFO.PAGE_TYPE values of the SNP ABI. */
enum snp_page_type {
	SNP_PAGE_NORMAL = 1,
	SNP_PAGE_VMSA = 2,
	SNP_PAGE_ZERO = 3,
	SNP_PAGE_UNMEASURED = 4,
	SNP_PAGE_SECRETS = 5,
	SNP_PAGE_CPUID = 6,
};

/* Section types of OVMF's SNP metadata ("ASEV" block). */
enum snp_section_type {
	SNP_SECTION_SEC_MEM = 1,
	SNP_SECTION_SECRETS = 2,
	SNP_SECTION_CPUID = 3,
	SNP_SECTION_SVSM_CAA = 4,
	SNP_SECTION_KERNEL_HASHES = 0x10,
};

/* The running launch digest (the ABI's guest context LD field). */
struct snp_gctx {
	uint8_t ld[SNP_DIGEST_SIZE];
};

struct snp_ovmf_section {
	uint32_t gpa;
	uint32_t size;
	enum snp_section_type type;
};

/* What snp_ovmf_parse found in a firmware image. data points into the
 * caller's buffer, which must outlive this struct. */
struct snp_ovmf {
	const uint8_t *data;
	size_t size;
	uint64_t gpa; /* where the image is mapped: it ends at 4 GiB */
	bool has_reset_eip;
	uint32_t reset_eip;        /* SEV-ES AP reset vector, for the VMSAs */
	bool has_hashes_table;     /* the entry is present and non-zero */
	uint32_t hashes_table_gpa; /* SEV kernel-hashes table */
	uint32_t hashes_table_size;
	size_t n_sections;
	struct snp_ovmf_section sections[SNP_OVMF_SECTIONS_MAX];
};

/* Starts a launch digest (all zeroes, as at SNP_LAUNCH_START). */
void snp_gctx_init(struct snp_gctx *g);

/* Chains one PAGE_INFO into the digest: ld = SHA-384(ld || contents ||
 * length, type, imi 0, vmpl permissions 0, gpa). contents is the page's
 * SHA-384 for normal and VMSA pages and zeroes for the others. Returns 0, or
 * -EIO if the hash could not be computed. */
int snp_gctx_update(struct snp_gctx *g, enum snp_page_type type, uint64_t gpa,
		    const uint8_t contents[SNP_DIGEST_SIZE]);

/* Measures len bytes of data as normal pages from gpa on, one page at a
 * time. Returns 0, -EINVAL if gpa or len is not a whole number of pages, or
 * -EIO. */
int snp_gctx_update_normal(struct snp_gctx *g, uint64_t gpa, const void *data, size_t len);

/* Adds len bytes from gpa on as pages of the given contentless type (zero,
 * unmeasured, secrets, cpuid). Returns 0, -EINVAL on an unaligned range or
 * a type that carries contents, or -EIO. */
int snp_gctx_update_empty(struct snp_gctx *g, enum snp_page_type type, uint64_t gpa, uint64_t len);

/* Parses the GUIDed footer table at the end of an OVMF image of size bytes
 * and, when the table points to one, its SNP metadata. Fills *ret_ovmf (left
 * untouched on failure). Returns 0, or -EINVAL if the image is not a whole
 * number of pages, its footer table is missing, truncated or garbled, or the
 * metadata is malformed. */
int snp_ovmf_parse(const void *data, size_t size, struct snp_ovmf *ret_ovmf);

/* Measures the whole firmware image as normal pages at its mapped address:
 * the first step of every SNP launch of it. Returns 0 or -EIO. */
int snp_ovmf_update_pages(const struct snp_ovmf *ovmf, struct snp_gctx *g);

/* Adds the pages the firmware's SNP metadata lists, in its order: zero
 * pages for SEC memory and the SVSM CA area, the secrets page, the CPUID
 * page, and the kernel-hashes page: hashes_page (one page, built by
 * snp_hashes_page) as a normal page, or zero pages when it is NULL. Returns
 * 0, -EINVAL on a section type this code does not know or a kernel-hashes
 * section that is not one page while hashes_page is given, or -EIO. */
int snp_ovmf_update_metadata(const struct snp_ovmf *ovmf, struct snp_gctx *g,
			     const uint8_t *hashes_page);

/* The CPUID(1).EAX signature of a vCPU model, which QEMU puts in each
 * VMSA's RDX (EPYC-v4: family 23, model 1, stepping 2 -> 0x800f12). */
uint32_t snp_cpu_signature(unsigned family, unsigned model, unsigned stepping);

/* What a measured direct kernel boot adds: SHA-256 digests of the kernel and
 * initrd files (an absent initrd hashes as an empty file) and the command
 * line (NULL is the empty string). */
struct snp_kernel_hashes {
	uint8_t kernel_sha256[32];
	uint8_t initrd_sha256[32];
	const char *cmdline;
};

/* Builds the page QEMU writes at the firmware's kernel-hashes table: the
 * table (command line, initrd, kernel entries) at the table's offset within
 * its page, zeroes around it. Returns 0, or -ENOTSUP if the firmware has no
 * kernel-hashes table and metadata section, -EINVAL if the table does not
 * fit in the space the firmware reserves. */
int snp_hashes_page(const struct snp_ovmf *ovmf, const struct snp_kernel_hashes *hashes,
		    uint8_t ret_page[SNP_PAGE_SIZE]);

/* Everything an SNP launch measures besides the firmware image itself. */
struct snp_launch {
	unsigned vcpus;          /* every vCPU present at launch: one VMSA each */
	uint32_t vcpu_sig;       /* snp_cpu_signature of the vCPU model */
	uint64_t guest_features; /* VMSA SEV_FEATURES: 0x1 SNPActive, 0x20 DebugSwap */
	const struct snp_kernel_hashes *kernel; /* NULL: no measured kernel */
};

/* Computes the launch digest the hardware reports as MEASUREMENT for ovmf
 * launched as launch describes (QEMU's launch sequence: firmware pages,
 * metadata pages, then a VMSA per vCPU, the first at the reset vector and
 * the others at the firmware's AP reset address). Writes ret_digest only on
 * success. Returns 0, -EINVAL if vcpus is 0, a second vCPU has no AP reset
 * address or the metadata is unusable, -ENOTSUP if a kernel is given and the
 * firmware cannot measure one, or -EIO. */
int snp_launch_digest(const struct snp_ovmf *ovmf, const struct snp_launch *launch,
		      uint8_t ret_digest[SNP_DIGEST_SIZE]);

#endif
