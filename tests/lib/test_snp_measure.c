/* The SEV-SNP launch digest against published reference values, and the
 * OVMF footer parser on real firmware suffixes and damaged copies of them. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sha256.h"
#include "snp_measure.h"
#include "util.h"

/* sev-snp-measure's digest of the AmdSev firmware suffix's own pages. */
static const char amdsev_pages_digest[] =
	"086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa"
	"16aff8c374c2a55c467a50da6d466b74";

static uint8_t *read_fixture(const char *name, size_t *ret_len)
{
	const char *dir = getenv("DITTO_TESTDATA");
	char path[4096];
	snprintf(path, sizeof(path), "%s/snp/%s", dir ? dir : "tests/data", name);
	void *data = NULL;
	if (file_read_all(path, &data, ret_len) < 0)
		fail_msg("cannot open %s (run from the source root or set DITTO_TESTDATA)", path);
	return data;
}

static void digest_hex(const struct snp_gctx *g, char out[2 * SNP_DIGEST_SIZE + 1])
{
	for (size_t i = 0; i < SNP_DIGEST_SIZE; i++)
		snprintf(out + 2 * i, 3, "%02x", g->ld[i]);
}

static void test_amdsev_pages_digest(void **state)
{
	size_t len;
	uint8_t *fw = read_fixture("ovmf_AmdSev_suffix.bin", &len);
	struct snp_ovmf o;
	assert_int_equal(snp_ovmf_parse(fw, len, &o), 0);
	assert_true(o.gpa == 0xfffff000);
	struct snp_gctx g;
	snp_gctx_init(&g);
	assert_int_equal(snp_ovmf_update_pages(&o, &g), 0);
	char hex[2 * SNP_DIGEST_SIZE + 1];
	digest_hex(&g, hex);
	assert_string_equal(hex, amdsev_pages_digest);
	free(fw);
}

static void test_amdsev_footer(void **state)
{
	size_t len;
	uint8_t *fw = read_fixture("ovmf_AmdSev_suffix.bin", &len);
	struct snp_ovmf o;
	assert_int_equal(snp_ovmf_parse(fw, len, &o), 0);
	assert_true(o.has_reset_eip);
	assert_int_equal(o.reset_eip, 0x80b004);
	assert_true(o.has_hashes_table);
	assert_int_equal(o.hashes_table_gpa, 0x810c00);
	assert_int_equal(o.hashes_table_size, 0x400);
	assert_int_equal(o.n_sections, 7);
	assert_int_equal(o.sections[0].gpa, 0x800000);
	assert_int_equal(o.sections[0].size, 0x9000);
	assert_int_equal(o.sections[0].type, SNP_SECTION_SEC_MEM);
	assert_int_equal(o.sections[2].type, SNP_SECTION_SECRETS);
	assert_int_equal(o.sections[3].type, SNP_SECTION_CPUID);
	assert_int_equal(o.sections[4].type, SNP_SECTION_SVSM_CAA);
	assert_int_equal(o.sections[5].gpa, 0x810000);
	assert_int_equal(o.sections[5].type, SNP_SECTION_KERNEL_HASHES);
	free(fw);
}

/* The standard build has SNP metadata but no kernel-hashes table. */
static void test_ovmfx64_has_no_hashes_table(void **state)
{
	size_t len;
	uint8_t *fw = read_fixture("ovmf_OvmfX64_suffix.bin", &len);
	struct snp_ovmf o;
	assert_int_equal(snp_ovmf_parse(fw, len, &o), 0);
	assert_false(o.has_hashes_table);
	assert_true(o.has_reset_eip);
	assert_int_equal(o.n_sections, 6);
	for (size_t i = 0; i < o.n_sections; i++)
		assert_int_not_equal(o.sections[i].type, SNP_SECTION_KERNEL_HASHES);
	free(fw);
}

/* Parses a damaged copy and expects a refusal that leaves the output alone. */
static void expect_refused(const uint8_t *fw, size_t len)
{
	struct snp_ovmf o;
	memset(&o, 0xa5, sizeof(o));
	assert_int_equal(snp_ovmf_parse(fw, len, &o), -EINVAL);
	assert_int_equal(o.n_sections, (size_t)0xa5a5a5a5a5a5a5a5ULL);
}

static void test_refuses_truncated(void **state)
{
	size_t len;
	uint8_t *fw = read_fixture("ovmf_AmdSev_suffix.bin", &len);
	/* Not a whole page, and an image whose last bytes were cut off. */
	expect_refused(fw, len - 1);
	uint8_t *cut = calloc(1, len);
	assert_non_null(cut);
	memcpy(cut + 512, fw, len - 512);
	expect_refused(cut, len);
	free(cut);
	expect_refused(fw, 0);
	free(fw);
}

static void test_refuses_garbled_footer(void **state)
{
	size_t len;
	uint8_t *fw = read_fixture("ovmf_AmdSev_suffix.bin", &len);
	size_t footer = len - 32 - 18;
	uint8_t *copy = malloc(len);
	assert_non_null(copy);

	/* A flipped byte of the footer's GUID. */
	memcpy(copy, fw, len);
	copy[footer + 5] ^= 0x01;
	expect_refused(copy, len);

	/* A table length reaching before the image's start. */
	memcpy(copy, fw, len);
	copy[footer] = 0xff;
	copy[footer + 1] = 0xff;
	expect_refused(copy, len);

	/* An entry length of zero, then one that overruns the table. */
	size_t last_entry = footer - 18;
	memcpy(copy, fw, len);
	copy[last_entry] = 0;
	copy[last_entry + 1] = 0;
	expect_refused(copy, len);
	memcpy(copy, fw, len);
	copy[last_entry] = 0xf0;
	expect_refused(copy, len);

	/* The SNP metadata's signature, item count and a section type. */
	size_t meta = len - 1364;
	memcpy(copy, fw, len);
	copy[meta] = 'X';
	expect_refused(copy, len);
	memcpy(copy, fw, len);
	copy[meta + 12] = 8;
	expect_refused(copy, len);
	memcpy(copy, fw, len);
	copy[meta + 16 + 8] = 0x7f;
	expect_refused(copy, len);

	free(copy);
	free(fw);
}

/* Contentless pages must be page-aligned and must not be normal or VMSA. */
static void test_update_checks_arguments(void **state)
{
	struct snp_gctx g;
	snp_gctx_init(&g);
	uint8_t page[SNP_PAGE_SIZE] = { 0 };
	assert_int_equal(snp_gctx_update_normal(&g, 0x1001, page, sizeof(page)), -EINVAL);
	assert_int_equal(snp_gctx_update_normal(&g, 0x1000, page, 100), -EINVAL);
	assert_int_equal(snp_gctx_update_empty(&g, SNP_PAGE_NORMAL, 0x1000, 4096), -EINVAL);
	assert_int_equal(snp_gctx_update_empty(&g, SNP_PAGE_ZERO, 0x1000, 100), -EINVAL);
	static const uint8_t zero[SNP_DIGEST_SIZE];
	assert_memory_equal(g.ld, zero, SNP_DIGEST_SIZE);
}

/* One row of the published reference table: vCPUs, whether a kernel (an
 * empty file, with an empty initrd) is measured, its command line, the
 * VMSA's guest features, and the launch digest. */
struct launch_row {
	unsigned vcpus;
	bool kernel;
	const char *cmdline;
	uint64_t features;
	const char *digest;
};

static const struct launch_row launch_rows[] = {
	{ 1, true, "console=ttyS0 loglevel=7", 0x21,
	  "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb2"
	  "8c653360fe4b3aba7e534442e7e1e17895dfe778d0228977" },
	{ 1, true, "console=ttyS0 loglevel=7", 0x1,
	  "6d287813eb5222d770f75005c664e34c204f385ce832cc2c"
	  "e7d0d6f354454362f390ef83a92046c042e706363b4b08fa" },
	{ 1, true, "", 0x21,
	  "329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae"
	  "15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198" },
	{ 1, false, NULL, 0x21,
	  "e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af"
	  "9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b" },
	{ 1, false, NULL, 0x1,
	  "19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6"
	  "013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d" },
	{ 4, true, "", 0x21,
	  "4953b1fb416fa874980e8442b3706d345926d5f38879134e"
	  "00813c5d7abcbe78eafe7b422907be0b4698e2414a631942" },
	{ 4, true, "", 0x1,
	  "5061fffb019493a903613d56d54b94912a1a2f9e4502385f"
	  "5c194616753720a92441310ba6c4933de877c36e23046ad5" },
};

/* An empty kernel and initrd, as /dev/null. */
static void empty_file_hashes(struct snp_kernel_hashes *h, const char *cmdline)
{
	struct sha256 ctx;
	sha256_init(&ctx);
	sha256_final(&ctx, h->kernel_sha256);
	memcpy(h->initrd_sha256, h->kernel_sha256, sizeof(h->initrd_sha256));
	h->cmdline = cmdline;
}

static void test_launch_digests(void **state)
{
	size_t len;
	uint8_t *fw = read_fixture("ovmf_AmdSev_suffix.bin", &len);
	struct snp_ovmf o;
	assert_int_equal(snp_ovmf_parse(fw, len, &o), 0);
	for (size_t i = 0; i < sizeof(launch_rows) / sizeof(launch_rows[0]); i++) {
		const struct launch_row *row = &launch_rows[i];
		struct snp_kernel_hashes h;
		empty_file_hashes(&h, row->cmdline);
		struct snp_launch l = {
			.vcpus = row->vcpus,
			.vcpu_sig = snp_cpu_signature(23, 1, 2), /* EPYC-v4 */
			.guest_features = row->features,
			.kernel = row->kernel ? &h : NULL,
		};
		struct snp_gctx g;
		assert_int_equal(snp_launch_digest(&o, &l, g.ld), 0);
		char hex[2 * SNP_DIGEST_SIZE + 1];
		digest_hex(&g, hex);
		assert_string_equal(hex, row->digest);
	}
	free(fw);
}

/* A measured kernel needs the firmware's hashes table; no vCPU, no launch. */
static void test_launch_refusals(void **state)
{
	assert_int_equal(snp_cpu_signature(23, 1, 2), 0x800f12);
	size_t len;
	uint8_t *fw = read_fixture("ovmf_OvmfX64_suffix.bin", &len);
	struct snp_ovmf o;
	assert_int_equal(snp_ovmf_parse(fw, len, &o), 0);
	struct snp_kernel_hashes h;
	empty_file_hashes(&h, "console=ttyS0");
	struct snp_launch l = {
		.vcpus = 1, .vcpu_sig = 0x800f12, .guest_features = 1, .kernel = &h
	};
	uint8_t digest[SNP_DIGEST_SIZE] = { 0 };
	assert_int_equal(snp_launch_digest(&o, &l, digest), -ENOTSUP);
	l.kernel = NULL;
	l.vcpus = 0;
	assert_int_equal(snp_launch_digest(&o, &l, digest), -EINVAL);
	static const uint8_t zero[SNP_DIGEST_SIZE];
	assert_memory_equal(digest, zero, SNP_DIGEST_SIZE);
	l.vcpus = 2;
	assert_int_equal(snp_launch_digest(&o, &l, digest), 0);
	free(fw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_amdsev_pages_digest),
		cmocka_unit_test(test_amdsev_footer),
		cmocka_unit_test(test_ovmfx64_has_no_hashes_table),
		cmocka_unit_test(test_refuses_truncated),
		cmocka_unit_test(test_refuses_garbled_footer),
		cmocka_unit_test(test_update_checks_arguments),
		cmocka_unit_test(test_launch_digests),
		cmocka_unit_test(test_launch_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
