/* The launch digest of an image on disk; see snp_image.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "snp_image.h"
#include "util.h"

struct cpu_model {
	const char *name; /* matches the name and its "-vN" versions */
	unsigned family, model, stepping;
};

/* QEMU's x86 model table (target/i386/cpu.c): family, model, stepping. */
static const struct cpu_model models[] = {
	{ "EPYC-Rome", 23, 49, 0 },
	{ "EPYC-Milan", 25, 1, 1 },
	{ "EPYC-Genoa", 25, 17, 0 },
	{ "EPYC", 23, 1, 2 },
};

static bool is_version_suffix(const char *s)
{
	if (s[0] == '\0')
		return true;
	if (s[0] != '-' || s[1] != 'v' || s[2] < '1' || s[2] > '9')
		return false;
	return s[3] == '\0';
}

int snp_vcpu_model_signature(const char *model, uint32_t *ret_sig)
{
	for (size_t i = 0; model && i < sizeof(models) / sizeof(models[0]); i++) {
		size_t n = strlen(models[i].name);
		if (strncmp(model, models[i].name, n) == 0 && is_version_suffix(model + n)) {
			*ret_sig = snp_cpu_signature(models[i].family, models[i].model,
						     models[i].stepping);
			return 0;
		}
	}
	return -EINVAL;
}

/* SHA-256 of a file's contents; an absent path hashes as an empty file. */
static int file_sha256(const char *path, uint8_t ret[SHA256_DIGEST_SIZE], char *err,
		       size_t err_len)
{
	void *data = NULL;
	size_t len = 0;
	if (path) {
		int r = file_read_all(path, &data, &len);
		if (r < 0) {
			snprintf(err, err_len, "%s: %s", path, strerror(-r));
			return r;
		}
	}
	struct sha256 ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, data, len);
	sha256_final(&ctx, ret);
	free(data);
	return 0;
}

static int digest_of(const struct snp_ovmf *ovmf, const struct snp_image *img, uint32_t sig,
		     uint8_t ret_digest[SNP_DIGEST_SIZE], char *err, size_t err_len)
{
	struct snp_kernel_hashes hashes = { .cmdline = img->cmdline };
	struct snp_launch launch = {
		.vcpus = img->vcpus,
		.vcpu_sig = sig,
		.guest_features = img->guest_features,
		.kernel = img->kernel ? &hashes : NULL,
	};
	if (img->kernel) {
		int r = file_sha256(img->kernel, hashes.kernel_sha256, err, err_len);
		if (r == 0)
			r = file_sha256(img->initrd, hashes.initrd_sha256, err, err_len);
		if (r < 0)
			return r;
	}
	int r = snp_launch_digest(ovmf, &launch, ret_digest);
	if (r == -ENOTSUP)
		snprintf(err, err_len,
			 "%s has no kernel-hashes table: measured direct kernel boot needs "
			 "an AmdSev build of OVMF",
			 img->ovmf);
	else if (r < 0)
		snprintf(err, err_len, "cannot measure %s: %s", img->ovmf, strerror(-r));
	return r;
}

int snp_image_digest(const struct snp_image *img, uint8_t ret_digest[SNP_DIGEST_SIZE],
		     char *err, size_t err_len)
{
	uint32_t sig;
	if (img->vcpus == 0 || img->vcpus > 512) {
		snprintf(err, err_len, "vCPU count %u out of range (1..512)", img->vcpus);
		return -EINVAL;
	}
	if (snp_vcpu_model_signature(img->vcpu_model, &sig) < 0) {
		snprintf(err, err_len, "unknown vCPU model \"%s\"",
			 img->vcpu_model ? img->vcpu_model : "");
		return -EINVAL;
	}
	void *fw = NULL;
	size_t fw_len = 0;
	int r = file_read_all(img->ovmf, &fw, &fw_len);
	if (r < 0) {
		snprintf(err, err_len, "%s: %s", img->ovmf, strerror(-r));
		return r;
	}
	struct snp_ovmf ovmf;
	r = snp_ovmf_parse(fw, fw_len, &ovmf);
	if (r < 0)
		snprintf(err, err_len, "%s: not an OVMF image with an SNP footer table", img->ovmf);
	else
		r = digest_of(&ovmf, img, sig, ret_digest, err, err_len);
	free(fw);
	return r;
}
