/* The launch digest of an image on disk (what `ditto measure` prints and the
 * agent reports): files read, vCPU models resolved, refusals explained. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snp_image.h"

static void fixture_path(char *out, size_t size, const char *name)
{
	const char *dir = getenv("DITTO_TESTDATA");
	snprintf(out, size, "%s/snp/%s", dir ? dir : "tests/data", name);
}

static void digest_hex(const uint8_t d[SNP_DIGEST_SIZE], char out[2 * SNP_DIGEST_SIZE + 1])
{
	for (size_t i = 0; i < SNP_DIGEST_SIZE; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* Two rows of the published reference digests, through the files. */
static void test_reference_rows(void **state)
{
	char ovmf[4096], err[256], hex[2 * SNP_DIGEST_SIZE + 1];
	uint8_t d[SNP_DIGEST_SIZE];
	fixture_path(ovmf, sizeof(ovmf), "ovmf_AmdSev_suffix.bin");
	struct snp_image img = {
		.ovmf = ovmf,
		.kernel = "/dev/null",
		.initrd = "/dev/null",
		.cmdline = "",
		.vcpus = 4,
		.vcpu_model = "EPYC-v4",
		.guest_features = 0x21,
	};
	assert_int_equal(snp_image_digest(&img, d, err, sizeof(err)), 0);
	digest_hex(d, hex);
	assert_string_equal(hex, "4953b1fb416fa874980e8442b3706d345926d5f38879134e"
				 "00813c5d7abcbe78eafe7b422907be0b4698e2414a631942");
	struct snp_image bare = { .ovmf = ovmf, .vcpus = 1, .vcpu_model = "EPYC", .guest_features = 1 };
	assert_int_equal(snp_image_digest(&bare, d, err, sizeof(err)), 0);
	digest_hex(d, hex);
	assert_string_equal(hex, "19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6"
				 "013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d");
	/* One more vCPU is one more VMSA: another digest. */
	img.vcpus = 5;
	uint8_t d5[SNP_DIGEST_SIZE];
	assert_int_equal(snp_image_digest(&img, d5, err, sizeof(err)), 0);
	assert_memory_not_equal(d, d5, SNP_DIGEST_SIZE);
}

static void test_models(void **state)
{
	uint32_t sig;
	assert_int_equal(snp_vcpu_model_signature("EPYC-v4", &sig), 0);
	assert_int_equal(sig, 0x800f12);
	assert_int_equal(snp_vcpu_model_signature("EPYC", &sig), 0);
	assert_int_equal(sig, 0x800f12);
	assert_int_equal(snp_vcpu_model_signature("EPYC-Milan-v2", &sig), 0);
	assert_int_equal(sig, snp_cpu_signature(25, 1, 1));
	assert_int_equal(snp_vcpu_model_signature("EPYC-Genoa", &sig), 0);
	assert_int_equal(sig, snp_cpu_signature(25, 17, 0));
	assert_int_equal(snp_vcpu_model_signature("EPYC-Rome-v3", &sig), 0);
	assert_int_equal(sig, snp_cpu_signature(23, 49, 0));
	const char *bad[] = { "EPYC-v", "EPYC-v0", "EPYC-v10", "EPYC-Turin-x", "Skylake", "", NULL };
	for (size_t i = 0; bad[i]; i++)
		assert_int_equal(snp_vcpu_model_signature(bad[i], &sig), -EINVAL);
	assert_int_equal(snp_vcpu_model_signature(NULL, &sig), -EINVAL);
}

static void test_refusals(void **state)
{
	char ovmf[4096], x64[4096], err[256] = "";
	uint8_t d[SNP_DIGEST_SIZE];
	fixture_path(ovmf, sizeof(ovmf), "ovmf_AmdSev_suffix.bin");
	fixture_path(x64, sizeof(x64), "ovmf_OvmfX64_suffix.bin");
	struct snp_image img = { .ovmf = x64, .kernel = "/dev/null", .vcpus = 1,
				 .vcpu_model = "EPYC-v4", .guest_features = 0x21 };
	assert_int_equal(snp_image_digest(&img, d, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "AmdSev"));
	img.ovmf = "/nonexistent/OVMF.fd";
	assert_int_equal(snp_image_digest(&img, d, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/OVMF.fd"));
	img.ovmf = ovmf;
	img.kernel = "/nonexistent/vmlinuz";
	assert_int_equal(snp_image_digest(&img, d, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "vmlinuz"));
	img.kernel = NULL;
	img.vcpus = 0;
	assert_int_equal(snp_image_digest(&img, d, err, sizeof(err)), -EINVAL);
	img.vcpus = 1;
	img.vcpu_model = "Skylake-Server";
	assert_int_equal(snp_image_digest(&img, d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "Skylake-Server"));
	img.vcpu_model = "EPYC-v4";
	img.ovmf = "/dev/null"; /* not a firmware */
	assert_int_equal(snp_image_digest(&img, d, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_rows),
		cmocka_unit_test(test_models),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
