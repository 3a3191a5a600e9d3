/* SEV-SNP launch digest and OVMF footer parsing; see snp_measure.h.
 *
 * This module lives with the controller rather than in lib/ because it hashes
 * with OpenSSL's SHA-384 and lib/ is linked into the static guest, which
 * carries no crypto library. */
#include "snp_measure.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "sha256.h"

/* PAGE_INFO: DIGEST_CUR, CONTENTS, then 16 bytes of length, type, flags,
 * permissions and GPA. */
#define PAGE_INFO_SIZE 0x70
/* The footer table's last entry sits this far before the image's end. */
#define FOOTER_END_GAP 32
/* An entry's trailer: a 16-bit length, then its GUID. */
#define ENTRY_HEADER_SIZE 18
#define GUID_SIZE 16
#define METADATA_HEADER_SIZE 16
#define METADATA_ITEM_SIZE 12

/* GUIDs in their on-disk (mixed-endian) byte order. */
static const uint8_t guid_footer[GUID_SIZE] = { 0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
						0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d };
static const uint8_t guid_reset_block[GUID_SIZE] = {
	0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a, 0xcb, 0x4f,
	0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e
};
static const uint8_t guid_hashes_table[GUID_SIZE] = { 0x1f, 0x37, 0x55, 0x72, 0x3b, 0x3a,
						      0x04, 0x4b, 0x92, 0x7b, 0x1d, 0xa6,
						      0xef, 0xa8, 0xd4, 0x54 };
static const uint8_t guid_metadata[GUID_SIZE] = { 0x66, 0x65, 0x88, 0xdc, 0x4a, 0x98, 0x98, 0x47,
						  0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc };

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static bool is_page_aligned(uint64_t v)
{
	return (v % SNP_PAGE_SIZE) == 0;
}

static int sha384(const void *data, size_t len, uint8_t ret[SNP_DIGEST_SIZE])
{
	unsigned int n = 0;
	if (!EVP_Digest(data, len, ret, &n, EVP_sha384(), NULL) || n != SNP_DIGEST_SIZE)
		return -EIO;
	return 0;
}

void snp_gctx_init(struct snp_gctx *g)
{
	memset(g->ld, 0, sizeof(g->ld));
}

int snp_gctx_update(struct snp_gctx *g, enum snp_page_type type, uint64_t gpa,
		    const uint8_t contents[SNP_DIGEST_SIZE])
{
	uint8_t info[PAGE_INFO_SIZE] = { 0 };
	memcpy(info, g->ld, SNP_DIGEST_SIZE);
	memcpy(info + SNP_DIGEST_SIZE, contents, SNP_DIGEST_SIZE);
	uint8_t *tail = info + 2 * SNP_DIGEST_SIZE;
	tail[0] = PAGE_INFO_SIZE & 0xff;
	tail[1] = PAGE_INFO_SIZE >> 8;
	tail[2] = (uint8_t)type;
	/* tail[3] IMI_PAGE, tail[4..6] VMPL3..1 permissions, tail[7] reserved:
	 * all zero for a launch by the host. */
	put_le64(tail + 8, gpa);
	return sha384(info, sizeof(info), g->ld);
}

int snp_gctx_update_normal(struct snp_gctx *g, uint64_t gpa, const void *data, size_t len)
{
	if (!is_page_aligned(gpa) || !is_page_aligned(len))
		return -EINVAL;
	const uint8_t *p = data;
	for (size_t off = 0; off < len; off += SNP_PAGE_SIZE) {
		uint8_t digest[SNP_DIGEST_SIZE];
		int r = sha384(p + off, SNP_PAGE_SIZE, digest);
		if (r < 0)
			return r;
		r = snp_gctx_update(g, SNP_PAGE_NORMAL, gpa + off, digest);
		if (r < 0)
			return r;
	}
	return 0;
}

int snp_gctx_update_empty(struct snp_gctx *g, enum snp_page_type type, uint64_t gpa, uint64_t len)
{
	static const uint8_t zeroes[SNP_DIGEST_SIZE];
	if (type == SNP_PAGE_NORMAL || type == SNP_PAGE_VMSA)
		return -EINVAL;
	if (!is_page_aligned(gpa) || !is_page_aligned(len))
		return -EINVAL;
	for (uint64_t off = 0; off < len; off += SNP_PAGE_SIZE) {
		int r = snp_gctx_update(g, type, gpa + off, zeroes);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool section_type_is_known(uint32_t type)
{
	return type == SNP_SECTION_SEC_MEM || type == SNP_SECTION_SECRETS ||
	       type == SNP_SECTION_CPUID || type == SNP_SECTION_SVSM_CAA ||
	       type == SNP_SECTION_KERNEL_HASHES;
}

/* Reads the "ASEV" metadata block that starts offset_from_end bytes before
 * the image's end. */
static int parse_metadata(const uint8_t *data, size_t size, uint32_t offset_from_end,
			  struct snp_ovmf *o)
{
	if (offset_from_end < METADATA_HEADER_SIZE || offset_from_end > size)
		return -EINVAL;
	const uint8_t *h = data + size - offset_from_end;
	uint32_t len = get_le32(h + 4), version = get_le32(h + 8), n = get_le32(h + 12);
	if (memcmp(h, "ASEV", 4) != 0 || version != 1 || n > SNP_OVMF_SECTIONS_MAX)
		return -EINVAL;
	if (len != METADATA_HEADER_SIZE + n * METADATA_ITEM_SIZE || len > offset_from_end)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *item = h + METADATA_HEADER_SIZE + i * METADATA_ITEM_SIZE;
		struct snp_ovmf_section s = {
			.gpa = get_le32(item),
			.size = get_le32(item + 4),
			.type = (enum snp_section_type)get_le32(item + 8),
		};
		if (!section_type_is_known(s.type) || s.size == 0 || !is_page_aligned(s.gpa) ||
		    !is_page_aligned(s.size) || (uint64_t)s.gpa + s.size > (1ULL << 32))
			return -EINVAL;
		o->sections[i] = s;
	}
	o->n_sections = n;
	return 0;
}

/* Records one footer-table entry's payload; entries this code does not use
 * are skipped, as firmware adds new ones over time. */
static int take_entry(const uint8_t *guid, const uint8_t *p, size_t len, struct snp_ovmf *o,
		      bool *ret_has_metadata, uint32_t *ret_metadata_offset)
{
	if (memcmp(guid, guid_reset_block, GUID_SIZE) == 0) {
		if (len < 4)
			return -EINVAL;
		o->has_reset_eip = true;
		o->reset_eip = get_le32(p);
	} else if (memcmp(guid, guid_hashes_table, GUID_SIZE) == 0) {
		if (len < 8)
			return -EINVAL;
		/* Builds without measured kernel boot keep the entry, zeroed. */
		o->hashes_table_gpa = get_le32(p);
		o->hashes_table_size = get_le32(p + 4);
		o->has_hashes_table = o->hashes_table_gpa != 0 && o->hashes_table_size != 0;
	} else if (memcmp(guid, guid_metadata, GUID_SIZE) == 0) {
		if (len < 4)
			return -EINVAL;
		*ret_has_metadata = true;
		*ret_metadata_offset = get_le32(p);
	}
	return 0;
}

int snp_ovmf_parse(const void *data, size_t size, struct snp_ovmf *ret_ovmf)
{
	const uint8_t *d = data;
	if (size == 0 || !is_page_aligned(size) || size > (1ULL << 32))
		return -EINVAL;
	size_t footer = size - FOOTER_END_GAP - ENTRY_HEADER_SIZE;
	if (memcmp(d + footer + 2, guid_footer, GUID_SIZE) != 0)
		return -EINVAL;
	/* The footer's length covers the whole table, the footer included. */
	size_t table_len = get_le16(d + footer);
	if (table_len < ENTRY_HEADER_SIZE || table_len - ENTRY_HEADER_SIZE > footer)
		return -EINVAL;
	size_t begin = footer - (table_len - ENTRY_HEADER_SIZE), end = footer;

	struct snp_ovmf o = { .data = d, .size = size, .gpa = (1ULL << 32) - size };
	bool has_metadata = false;
	uint32_t metadata_offset = 0;
	/* Entries are read backwards: each ends in its length and GUID. */
	while (end - begin >= ENTRY_HEADER_SIZE) {
		const uint8_t *hdr = d + end - ENTRY_HEADER_SIZE;
		size_t entry_len = get_le16(hdr);
		if (entry_len < ENTRY_HEADER_SIZE || entry_len > end - begin)
			return -EINVAL;
		int r = take_entry(hdr + 2, d + end - entry_len, entry_len - ENTRY_HEADER_SIZE, &o,
				   &has_metadata, &metadata_offset);
		if (r < 0)
			return r;
		end -= entry_len;
	}
	if (end != begin)
		return -EINVAL;
	if (has_metadata) {
		int r = parse_metadata(d, size, metadata_offset, &o);
		if (r < 0)
			return r;
	}
	*ret_ovmf = o;
	return 0;
}

int snp_ovmf_update_pages(const struct snp_ovmf *ovmf, struct snp_gctx *g)
{
	return snp_gctx_update_normal(g, ovmf->gpa, ovmf->data, ovmf->size);
}

int snp_ovmf_update_metadata(const struct snp_ovmf *ovmf, struct snp_gctx *g,
			     const uint8_t *hashes_page)
{
	for (size_t i = 0; i < ovmf->n_sections; i++) {
		const struct snp_ovmf_section *s = &ovmf->sections[i];
		int r = 0;
		switch (s->type) {
		case SNP_SECTION_SEC_MEM:
		case SNP_SECTION_SVSM_CAA:
			r = snp_gctx_update_empty(g, SNP_PAGE_ZERO, s->gpa, s->size);
			break;
		case SNP_SECTION_SECRETS:
			r = snp_gctx_update_empty(g, SNP_PAGE_SECRETS, s->gpa, SNP_PAGE_SIZE);
			break;
		case SNP_SECTION_CPUID:
			r = snp_gctx_update_empty(g, SNP_PAGE_CPUID, s->gpa, SNP_PAGE_SIZE);
			break;
		case SNP_SECTION_KERNEL_HASHES:
			if (!hashes_page)
				r = snp_gctx_update_empty(g, SNP_PAGE_ZERO, s->gpa, s->size);
			else if (s->size != SNP_PAGE_SIZE)
				r = -EINVAL;
			else
				r = snp_gctx_update_normal(g, s->gpa, hashes_page, SNP_PAGE_SIZE);
			break;
		default: r = -EINVAL;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

uint32_t snp_cpu_signature(unsigned family, unsigned model, unsigned stepping)
{
	/* Families above 0xf are split into base 0xf plus an extended part. */
	unsigned base_family = family > 0xf ? 0xf : family;
	unsigned ext_family = family > 0xf ? (family - 0xf) & 0xff : 0;
	return (uint32_t)(ext_family << 20 | ((model >> 4) & 0xf) << 16 | base_family << 8 |
			  (model & 0xf) << 4 | (stepping & 0xf));
}

/* The kernel-hashes table as QEMU lays it out: a header GUID and length,
 * then one entry (GUID, length, SHA-256) each for the command line, the
 * initrd and the kernel, padded to 16 bytes. */
#define HASH_ENTRY_SIZE (GUID_SIZE + 2 + SHA256_DIGEST_SIZE)
#define HASH_TABLE_LEN (GUID_SIZE + 2 + 3 * HASH_ENTRY_SIZE)
#define HASH_TABLE_PADDED ((HASH_TABLE_LEN + 15) & ~15)

static const uint8_t guid_ht_header[GUID_SIZE] = { 0x06, 0xd6, 0x38, 0x94, 0x22, 0x4f, 0xc9, 0x4c,
						   0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd, 0x21 };
static const uint8_t guid_ht_cmdline[GUID_SIZE] = {
	0xd8, 0x2d, 0xd0, 0x97, 0x20, 0xbd, 0x94, 0x4c,
	0xaa, 0x78, 0xe7, 0x71, 0x4d, 0x36, 0xab, 0x2a
};
static const uint8_t guid_ht_initrd[GUID_SIZE] = { 0x31, 0xf7, 0xba, 0x44, 0x2f, 0x3a, 0xd7, 0x4b,
						   0x9a, 0xf1, 0x41, 0xe2, 0x91, 0x69, 0x78, 0x1d };
static const uint8_t guid_ht_kernel[GUID_SIZE] = { 0x37, 0x94, 0xe7, 0x4d, 0xd2, 0xab, 0x7f, 0x42,
						   0xb8, 0x35, 0xd5, 0xb1, 0x72, 0xd2, 0x04, 0x5b };

static uint8_t *put_guid_len(uint8_t *p, const uint8_t guid[GUID_SIZE], unsigned len)
{
	memcpy(p, guid, GUID_SIZE);
	p[GUID_SIZE] = len & 0xff;
	p[GUID_SIZE + 1] = (uint8_t)(len >> 8);
	return p + GUID_SIZE + 2;
}

static uint8_t *put_hash_entry(uint8_t *p, const uint8_t guid[GUID_SIZE],
			       const uint8_t digest[SHA256_DIGEST_SIZE])
{
	p = put_guid_len(p, guid, HASH_ENTRY_SIZE);
	memcpy(p, digest, SHA256_DIGEST_SIZE);
	return p + SHA256_DIGEST_SIZE;
}

static const struct snp_ovmf_section *find_section(const struct snp_ovmf *ovmf,
						   enum snp_section_type type)
{
	for (size_t i = 0; i < ovmf->n_sections; i++)
		if (ovmf->sections[i].type == type)
			return &ovmf->sections[i];
	return NULL;
}

int snp_hashes_page(const struct snp_ovmf *ovmf, const struct snp_kernel_hashes *hashes,
		    uint8_t ret_page[SNP_PAGE_SIZE])
{
	const struct snp_ovmf_section *s = find_section(ovmf, SNP_SECTION_KERNEL_HASHES);
	if (!ovmf->has_hashes_table || !s)
		return -ENOTSUP;
	/* The table must lie in the page the metadata section measures. */
	size_t offset = ovmf->hashes_table_gpa % SNP_PAGE_SIZE;
	if (ovmf->hashes_table_gpa - offset != s->gpa ||
	    ovmf->hashes_table_size < HASH_TABLE_PADDED ||
	    offset + HASH_TABLE_PADDED > SNP_PAGE_SIZE)
		return -EINVAL;
	/* The command line is hashed with its terminating NUL. */
	const char *cmdline = hashes->cmdline ? hashes->cmdline : "";
	uint8_t cmdline_sha256[SHA256_DIGEST_SIZE];
	struct sha256 ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, cmdline, strlen(cmdline) + 1);
	sha256_final(&ctx, cmdline_sha256);

	memset(ret_page, 0, SNP_PAGE_SIZE);
	uint8_t *p = put_guid_len(ret_page + offset, guid_ht_header, HASH_TABLE_LEN);
	p = put_hash_entry(p, guid_ht_cmdline, cmdline_sha256);
	p = put_hash_entry(p, guid_ht_initrd, hashes->initrd_sha256);
	put_hash_entry(p, guid_ht_kernel, hashes->kernel_sha256);
	return 0;
}

/* VMSA (SEV-ES save area) field offsets used by QEMU's initial vCPU state. */
enum {
	VMSA_SEGS = 0x000, /* es cs ss ds fs gs gdtr ldtr idtr tr, 16 bytes each */
	VMSA_EFER = 0x0d0,
	VMSA_CR4 = 0x148,
	VMSA_CR0 = 0x158,
	VMSA_DR7 = 0x160,
	VMSA_DR6 = 0x168,
	VMSA_RFLAGS = 0x170,
	VMSA_RIP = 0x178,
	VMSA_G_PAT = 0x268,
	VMSA_RDX = 0x310,
	VMSA_SEV_FEATURES = 0x3b0,
	VMSA_XCR0 = 0x3e8,
	VMSA_MXCSR = 0x408,
	VMSA_X87_FCW = 0x410,
};

static void put_seg(uint8_t *page, unsigned index, uint16_t selector, uint16_t attrib,
		    uint32_t base)
{
	uint8_t *p = page + VMSA_SEGS + 16 * index;
	p[0] = selector & 0xff;
	p[1] = (uint8_t)(selector >> 8);
	p[2] = attrib & 0xff;
	p[3] = (uint8_t)(attrib >> 8);
	p[4] = p[5] = 0xff; /* limit 0xffff */
	put_le64(p + 8, base);
}

/* The VMSA page QEMU (under KVM) gives a vCPU starting at eip in real mode. */
static void build_vmsa(uint8_t page[SNP_PAGE_SIZE], uint32_t eip, uint64_t features, uint32_t sig)
{
	memset(page, 0, SNP_PAGE_SIZE);
	static const uint16_t attribs[10] = {
		0x93, 0x9b, 0x93, 0x93, 0x93, 0x93, 0, 0x82, 0, 0x8b
	};
	for (unsigned i = 0; i < 10; i++)
		put_seg(page, i, i == 1 ? 0xf000 : 0, attribs[i], i == 1 ? eip & 0xffff0000 : 0);
	put_le64(page + VMSA_EFER, 0x1000); /* SVME, set by KVM */
	put_le64(page + VMSA_CR4, 0x40);    /* MCE, set by KVM */
	put_le64(page + VMSA_CR0, 0x10);
	put_le64(page + VMSA_DR7, 0x400);
	put_le64(page + VMSA_DR6, 0xffff0ff0);
	put_le64(page + VMSA_RFLAGS, 0x2);
	put_le64(page + VMSA_RIP, eip & 0xffff);
	put_le64(page + VMSA_G_PAT, 0x0007040600070406ULL);
	put_le64(page + VMSA_RDX, sig);
	put_le64(page + VMSA_SEV_FEATURES, features);
	put_le64(page + VMSA_XCR0, 0x1);
	page[VMSA_MXCSR] = 0x80; /* 0x1f80 */
	page[VMSA_MXCSR + 1] = 0x1f;
	page[VMSA_X87_FCW] = 0x7f; /* 0x37f */
	page[VMSA_X87_FCW + 1] = 0x03;
}

/* Every VMSA is measured at the same fixed address, as the ABI specifies. */
#define VMSA_GPA 0xfffffffff000ULL
#define BSP_RESET_EIP 0xfffffff0U

static int update_vmsas(struct snp_gctx *g, const struct snp_ovmf *ovmf,
			const struct snp_launch *launch)
{
	uint8_t page[SNP_PAGE_SIZE];
	for (unsigned i = 0; i < launch->vcpus; i++) {
		uint32_t eip = i == 0 ? BSP_RESET_EIP : ovmf->reset_eip;
		build_vmsa(page, eip, launch->guest_features, launch->vcpu_sig);
		uint8_t digest[SNP_DIGEST_SIZE];
		int r = sha384(page, sizeof(page), digest);
		if (r < 0)
			return r;
		r = snp_gctx_update(g, SNP_PAGE_VMSA, VMSA_GPA, digest);
		if (r < 0)
			return r;
	}
	return 0;
}

int snp_launch_digest(const struct snp_ovmf *ovmf, const struct snp_launch *launch,
		      uint8_t ret_digest[SNP_DIGEST_SIZE])
{
	if (launch->vcpus == 0 || (launch->vcpus > 1 && !ovmf->has_reset_eip))
		return -EINVAL;
	uint8_t hashes_page[SNP_PAGE_SIZE];
	if (launch->kernel) {
		int r = snp_hashes_page(ovmf, launch->kernel, hashes_page);
		if (r < 0)
			return r;
	}
	struct snp_gctx g;
	snp_gctx_init(&g);
	int r = snp_ovmf_update_pages(ovmf, &g);
	if (r >= 0)
		r = snp_ovmf_update_metadata(ovmf, &g, launch->kernel ? hashes_page : NULL);
	if (r >= 0)
		r = update_vmsas(&g, ovmf, launch);
	if (r < 0)
		return r;
	memcpy(ret_digest, g.ld, SNP_DIGEST_SIZE);
	return 0;
}
