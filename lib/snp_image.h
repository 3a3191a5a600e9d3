/* The launch digest of a tenant's image: what `ditto measure` prints and what
 * the agent reports for each confidential VM. It reads the files an SNP launch
 * puts in guest memory (the AmdSev OVMF build, the kernel, the initramfs) and
 * feeds them with the command line, the vCPU count and model and the guest
 * features to snp_measure.h. */
#ifndef DITTO_SNP_IMAGE_H
#define DITTO_SNP_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "snp_measure.h"

/* The vCPU model QEMU is given for a confidential VM (its CPUID signature
 * goes into every VMSA) and the VMSA features QEMU sets by default for an
 * sev-snp-guest object under KVM (SNPActive | DebugSwap). */
#define SNP_VCPU_MODEL_DEFAULT "EPYC-v4"
#define SNP_GUEST_FEATURES_DEFAULT 0x21ull

struct snp_image {
	const char *ovmf;    /* path of the AmdSev OVMF build (required) */
	const char *kernel;  /* NULL: no measured direct kernel boot */
	const char *initrd;  /* NULL: an empty initrd */
	const char *cmdline; /* NULL: empty */
	unsigned vcpus;      /* every vCPU present at launch */
	const char *vcpu_model;  /* QEMU's -cpu name, e.g. "EPYC-v4" */
	uint64_t guest_features; /* SEV_FEATURES of the VMSAs */
};

/* The CPUID signature of a QEMU EPYC model ("EPYC", "EPYC-v1".."EPYC-v4",
 * "EPYC-Rome"[-vN], "EPYC-Milan"[-vN], "EPYC-Genoa"[-vN]). Returns 0 or
 * -EINVAL for a model this table does not know. */
int snp_vcpu_model_signature(const char *model, uint32_t *ret_sig);

/* Computes the launch digest of img. On failure writes one line saying why
 * into err. Returns 0, -ENOENT/-EACCES/-EIO for a file that cannot be read,
 * -EINVAL for a bad firmware, vCPU count or model, -ENOTSUP when a kernel is
 * given and the firmware has no kernel-hashes table (not an AmdSev build). */
int snp_image_digest(const struct snp_image *img, uint8_t ret_digest[SNP_DIGEST_SIZE],
		     char *err, size_t err_len);

#endif
