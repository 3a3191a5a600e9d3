/* How a tenant VM is launched: the accelerator choice, the guest image, and
 * the QEMU command line. Pure functions apart from accel_detect() and
 * guest_image_load(), which read the machine and the image folder. */
#ifndef DITTO_QEMU_H
#define DITTO_QEMU_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum accel { ACCEL_AUTO = 0, ACCEL_TCG, ACCEL_KVM };

/* How worker vCPUs come and go (see design.md). */
enum vcpu_mech { VCPU_HOTPLUG = 0, VCPU_PRECREATED };

/* Whether a VM's memory and registers are its own (see docs/security.md):
 * sev-snp launches it as an AMD SEV-SNP guest. */
enum confidential { CONFIDENTIAL_NONE = 0, CONFIDENTIAL_SEV_SNP };

const char *accel_name(enum accel a);
int accel_parse(const char *s, enum accel *ret);
const char *vcpu_mech_name(enum vcpu_mech m);
int vcpu_mech_parse(const char *s, enum vcpu_mech *ret);
/* "none" or "sev-snp"; parse returns 0 or -EINVAL. */
const char *confidential_name(enum confidential c);
int confidential_parse(const char *s, enum confidential *ret);

/* Resolves want (auto, kvm or tcg) against the machine. KVM counts as usable
 * only when /dev/kvm answers KVM_GET_API_VERSION and the CPU flags show vmx or
 * svm (a software KVM without them cannot boot stock guest kernels). Writes the
 * reason for the choice into why. Returns 0, or -ENODEV when kvm was asked for
 * and is not usable. */
int accel_detect(enum accel want, enum accel *ret, char *why, size_t why_len);

/* The guest image built by `make guest` (deploy/guest-image.sh). */
struct guest_image {
	char kernel[PATH_MAX];
	char initrd[PATH_MAX];
	/* The same kernel as a bzImage, "" when the image has none: an SEV-SNP
	 * launch boots it through OVMF and its EFI stub, the only way QEMU
	 * measures a kernel (kernel-hashes); an ELF vmlinux goes through a
	 * loader that adds no hashes. */
	char vmlinuz[PATH_MAX];
	bool sev_guest;    /* its kernel carries the SEV-SNP guest driver */
	/* The runtime disk (deploy/runtime-image.sh: a squashfs with Python and
	 * Node.js), attached read-only to every VM; "" when the image has none. */
	char runtime[PATH_MAX];
	char cmdline[1024];
	char digest[65]; /* SHA-256 over kernel, initramfs and cmdline */
};

/* Reads DIR/image.json. Returns 0, -ENOENT when the image is not built (or
 * the runtime disk it names is missing), or -EBADMSG when image.json is
 * malformed (a runtime's file must be a name in DIR). */
int guest_image_load(const char *dir, struct guest_image *ret);

/* SNP_LAUNCH_FINISH's HOST_DATA: bytes the host binds the guest to, shown
 * in every attestation report. */
#define QEMU_SNP_HOST_DATA_SIZE 32

/* What an SEV-SNP launch adds to a spec. */
struct qemu_snp {
	const char *ovmf;           /* the AmdSev OVMF build, given as -bios */
	uint64_t policy;            /* SNP_LAUNCH_START's guest policy, e.g. 0x30000 */
	unsigned cbitpos;           /* the C-bit's position (host CPUID 0x8000001F EBX[5:0]) */
	unsigned reduced_phys_bits; /* host CPUID 0x8000001F EBX[11:6] */
	const char *cpu_model;      /* -cpu, e.g. SNP_VCPU_MODEL_DEFAULT */
	/* Per VM: its HOST_DATA (QEMU_SNP_HOST_DATA_SIZE bytes), or NULL for
	 * none (zeros). Not part of the launch digest. */
	const uint8_t *host_data;
};

struct qemu_spec {
	const char *binary;
	enum accel accel; /* resolved: TCG or KVM */
	enum vcpu_mech mech;
	int max_workers;   /* worker vCPUs the VM may have at once */
	int hotplug_slots; /* hotplug: vCPUs QEMU may ever create (maxcpus) */
	int memory_mib;
	const struct guest_image *image;
	const char *qmp_socket;  /* the agent listens; QEMU connects */
	const char *chan_socket; /* virtio-serial port "ditto.0" */
	/* Where the worker CPU ports' sockets are (qemu_cpu_port_socket), or
	 * NULL for none: the VM has only its control port. */
	const char *cpu_port_dir;
	const char *console_log;
	enum confidential confidential;
	struct qemu_snp snp; /* sev-snp only */
};

/* The guest's name for the agent channel's virtio-serial port. */
#define QEMU_CHANNEL_NAME "ditto.0"

/* The most worker CPU ports a VM gets (virtio-serial's default of 31 ports
 * per device, the control port included): workers past it have none. */
#define QEMU_CPU_PORTS_MAX 30

/* Worker CPU ports of a VM launched from s: one per worker CPU slot
 * (1..max_workers, at most QEMU_CPU_PORTS_MAX), named "ditto.cpu.N"
 * (wire_cpu_port_name), present from launch; 0 without cpu_port_dir. */
int qemu_cpu_ports(const struct qemu_spec *s);
/* Writes the socket path of worker CPU cpu's port under dir. Returns 0 or
 * -ENAMETOOLONG. */
int qemu_cpu_port_socket(const char *dir, int cpu, char *out, size_t size);

/* Builds a NULL-terminated argv. Returns 0, -EINVAL for an inconsistent spec
 * (also sev-snp under hotplug, TCG or without an OVMF or vCPU model), or
 * -ENOMEM. Free with qemu_argv_free(). */
int qemu_build_argv(const struct qemu_spec *s, char ***ret_argv);
void qemu_argv_free(char **argv);

/* Number of vCPUs QEMU is started with and the most it may hold. */
int qemu_boot_cpus(const struct qemu_spec *s);
int qemu_max_cpus(const struct qemu_spec *s);

#endif
