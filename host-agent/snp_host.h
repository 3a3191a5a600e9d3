/* The host agent's side of SEV-SNP: whether this host can launch SNP guests
 * (checked once at start, with the reason when it cannot), the C-bit
 * position QEMU needs, and the launch digest the agent expects for each
 * confidential VM (what the hardware will put in its reports' MEASUREMENT).
 * Only snp_host_cbit asks the CPU; the rest reads the files it is given. */
#ifndef DITTO_SNP_HOST_H
#define DITTO_SNP_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include "qemu.h"
#include "snp_image.h"

#define SNP_HOST_REASON_MAX 256
/* A launch digest in hex, with its NUL. */
#define SNP_DIGEST_HEX_SIZE (2 * SNP_DIGEST_SIZE + 1)
/* The guest policy QEMU defaults to: SMT allowed, bit 17 (reserved, must be
 * one); debug and migration agent off. */
#define SNP_POLICY_DEFAULT 0x30000ull

/* What snp_host_check looks at; the paths are injectable for tests. */
struct snp_host_probe {
	enum accel accel;      /* the agent's accelerator, resolved by accel_detect */
	const char *accel_why; /* accel_detect's reason */
	const char *dev_sev;   /* "/dev/sev" */
	const char *snp_param; /* "/sys/module/kvm_amd/parameters/sev_snp" */
	const char *ovmf;      /* the AmdSev OVMF, NULL when none is configured */
	const struct guest_image *image; /* the guest image the VMs boot */
};

/* The default paths: /dev/sev and kvm_amd's sev_snp parameter. */
#define SNP_HOST_DEV_SEV "/dev/sev"
#define SNP_HOST_SNP_PARAM "/sys/module/kvm_amd/parameters/sev_snp"

/* Checks, in this order, that KVM is usable (TCG cannot run an SNP guest),
 * /dev/sev is present, kvm_amd's sev_snp parameter is Y, and an AmdSev OVMF
 * is configured, parses and has a kernel-hashes table. Returns 0 when all
 * hold, or -ENOTSUP with the first that does not as a sentence in reason
 * (naming what is missing and how to fix it). */
int snp_host_check(const struct snp_host_probe *p, char *reason, size_t reason_len);

/* The C-bit position and the physical address bits lost to it, from CPUID
 * 0x8000001F EBX (bits 5:0 and 11:6). Returns 0, or -ENOTSUP when the CPU
 * has no such leaf or no SEV. Call only where snp_host_check passed. */
int snp_host_cbit(unsigned *ret_cbitpos, unsigned *ret_reduced_phys_bits);

/* Describes, for snp_image_digest, exactly the launch qemu_build_argv
 * builds for s: its OVMF, the image's bzImage (vmlinuz), initrd and command line, every
 * vCPU (1 + max_workers), its CPU model and QEMU's default guest features.
 * The strings point into s. Returns 0, or -EINVAL when s is not a valid
 * sev-snp spec. */
int snp_launch_image(const struct qemu_spec *s, struct snp_image *ret);

/* The launch digest of s in lower-case hex. On failure writes one line
 * saying why into err. Returns 0 or what snp_launch_image and
 * snp_image_digest return. */
int snp_launch_measure(const struct qemu_spec *s, char ret_hex[SNP_DIGEST_HEX_SIZE], char *err,
		       size_t err_len);

#endif
