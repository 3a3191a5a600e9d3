#include "snp_host.h"

#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "snp_measure.h"
#include "util.h"

/* Why the configured firmware cannot serve a measured SNP launch, or ""
 * when it can: it must be an OVMF image whose footer table has SNP
 * metadata and a kernel-hashes table (the AmdSev build). */
static void ovmf_check(const char *path, char *reason, size_t len)
{
	void *fw = NULL;
	size_t fw_len = 0;
	int r = file_read_all(path, &fw, &fw_len);
	if (r < 0) {
		snprintf(reason, len, "the AmdSev OVMF %s cannot be read: %s", path, strerror(-r));
		return;
	}
	struct snp_ovmf ovmf;
	if (snp_ovmf_parse(fw, fw_len, &ovmf) < 0)
		snprintf(reason, len,
			 "%s is not an OVMF build with SNP metadata (its footer table is missing "
			 "or malformed)",
			 path);
	else if (!ovmf.has_hashes_table)
		snprintf(reason, len,
			 "%s has no kernel-hashes table: measured direct kernel boot needs the "
			 "AmdSev build of OVMF (OvmfPkg/AmdSev/AmdSevX64.dsc)",
			 path);
	free(fw);
}

int snp_host_check(const struct snp_host_probe *p, char *reason, size_t reason_len)
{
	reason[0] = '\0';
	struct stat st;
	char param[16] = "";
	if (p->accel != ACCEL_KVM) {
		snprintf(reason, reason_len,
			 "SEV-SNP needs KVM, which is not usable here (%s): "
			 "TCG cannot run an SNP guest",
			 p->accel_why ? p->accel_why : "tcg");
	} else if (stat(p->dev_sev, &st) < 0) {
		snprintf(reason, reason_len,
			 "%s is missing: the host has no SEV firmware interface (ccp driver, "
			 "SEV enabled in the BIOS)",
			 p->dev_sev);
	} else if (file_read_text(p->snp_param, param, sizeof(param)) < 0) {
		snprintf(reason, reason_len,
			 "%s cannot be read: kvm_amd is not loaded or has no SEV-SNP support",
			 p->snp_param);
	} else if (strcmp(param, "Y") != 0 && strcmp(param, "1") != 0) {
		snprintf(reason, reason_len,
			 "SEV-SNP is not enabled in KVM (%s is %s): it needs an SNP host kernel, "
			 "SNP enabled in the BIOS and kvm_amd sev_snp=1",
			 p->snp_param, param);
	} else if (!p->ovmf || !p->ovmf[0]) {
		snprintf(reason, reason_len,
			 "no AmdSev OVMF configured (ditto-agent --ovmf-amdsev PATH or "
			 "DITTO_OVMF_AMDSEV)");
	} else if (!p->image || !p->image->vmlinuz[0]) {
		snprintf(reason, reason_len,
			 "the guest image has no bzImage (vmlinuz) for a measured direct boot "
			 "through OVMF: rebuild it with make guest");
	} else if (!p->image->sev_guest) {
		snprintf(reason, reason_len,
			 "the guest image's kernel has no SEV-SNP guest driver (sev-guest), so its "
			 "VMs could not attest: build it with DITTO_GUEST_KERNEL=amd64 make guest");
	} else {
		ovmf_check(p->ovmf, reason, reason_len);
	}
	return reason[0] ? -ENOTSUP : 0;
}

int snp_host_cbit(unsigned *ret_cbitpos, unsigned *ret_reduced_phys_bits)
{
	unsigned eax, ebx, ecx, edx;
	if (!__get_cpuid(0x8000001f, &eax, &ebx, &ecx, &edx))
		return -ENOTSUP;
	/* EAX bit 1: SEV; EBX[5:0] the C-bit, EBX[11:6] the bits it costs. */
	if (!(eax & 0x2) || (ebx & 0x3f) == 0)
		return -ENOTSUP;
	*ret_cbitpos = ebx & 0x3f;
	*ret_reduced_phys_bits = (ebx >> 6) & 0x3f;
	return 0;
}

int snp_launch_image(const struct qemu_spec *s, struct snp_image *ret)
{
	if (s->confidential != CONFIDENTIAL_SEV_SNP || s->mech != VCPU_PRECREATED || !s->snp.ovmf ||
	    !s->snp.cpu_model || !s->image || !s->image->vmlinuz[0])
		return -EINVAL;
	*ret = (struct snp_image){
		.ovmf = s->snp.ovmf,
		.kernel = s->image->vmlinuz,
		.initrd = s->image->initrd,
		.cmdline = s->image->cmdline,
		.vcpus = (unsigned)qemu_boot_cpus(s),
		.vcpu_model = s->snp.cpu_model,
		.guest_features = SNP_GUEST_FEATURES_DEFAULT,
	};
	return 0;
}

int snp_launch_measure(const struct qemu_spec *s, char ret_hex[SNP_DIGEST_HEX_SIZE], char *err,
		       size_t err_len)
{
	struct snp_image img;
	int r = snp_launch_image(s, &img);
	if (r < 0) {
		snprintf(err, err_len,
			 "not a precreated sev-snp launch with an OVMF and CPU model");
		return r;
	}
	uint8_t digest[SNP_DIGEST_SIZE];
	r = snp_image_digest(&img, digest, err, err_len);
	if (r < 0)
		return r;
	for (size_t i = 0; i < SNP_DIGEST_SIZE; i++)
		snprintf(ret_hex + 2 * i, 3, "%02x", digest[i]);
	return 0;
}
