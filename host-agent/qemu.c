#include "qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <jansson.h>

#include "encoding.h"
#include "util.h"
#include "wire.h"

const char *accel_name(enum accel a)
{
	switch (a) {
	case ACCEL_TCG: return "tcg";
	case ACCEL_KVM: return "kvm";
	default: return "auto";
	}
}

int accel_parse(const char *s, enum accel *ret)
{
	if (strcmp(s, "auto") == 0)
		*ret = ACCEL_AUTO;
	else if (strcmp(s, "tcg") == 0)
		*ret = ACCEL_TCG;
	else if (strcmp(s, "kvm") == 0)
		*ret = ACCEL_KVM;
	else
		return -EINVAL;
	return 0;
}

const char *vcpu_mech_name(enum vcpu_mech m)
{
	return m == VCPU_PRECREATED ? "precreated" : "hotplug";
}

int vcpu_mech_parse(const char *s, enum vcpu_mech *ret)
{
	if (strcmp(s, "hotplug") == 0)
		*ret = VCPU_HOTPLUG;
	else if (strcmp(s, "precreated") == 0)
		*ret = VCPU_PRECREATED;
	else
		return -EINVAL;
	return 0;
}

const char *confidential_name(enum confidential c)
{
	return c == CONFIDENTIAL_SEV_SNP ? "sev-snp" : "none";
}

int confidential_parse(const char *s, enum confidential *ret)
{
	if (strcmp(s, "none") == 0)
		*ret = CONFIDENTIAL_NONE;
	else if (strcmp(s, "sev-snp") == 0)
		*ret = CONFIDENTIAL_SEV_SNP;
	else
		return -EINVAL;
	return 0;
}

static bool cpu_has_virt_flags(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return false;
	char line[8192];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		found = strstr(line, " vmx") || strstr(line, " svm");
		break;
	}
	fclose(f);
	return found;
}

static bool kvm_answers(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	int v = ioctl(fd, KVM_GET_API_VERSION, 0);
	close(fd);
	return v == KVM_API_VERSION;
}

int accel_detect(enum accel want, enum accel *ret, char *why, size_t why_len)
{
	if (want == ACCEL_TCG) {
		snprintf(why, why_len, "tcg requested");
		*ret = ACCEL_TCG;
		return 0;
	}
	bool dev = kvm_answers(), flags = cpu_has_virt_flags();
	if (dev && flags) {
		snprintf(why, why_len, "/dev/kvm usable and cpu has vmx/svm");
		*ret = ACCEL_KVM;
		return 0;
	}
	snprintf(why, why_len, "%s", !dev ? "/dev/kvm not usable" : "cpu flags lack vmx/svm");
	if (want == ACCEL_KVM)
		return -ENODEV;
	*ret = ACCEL_TCG;
	return 0;
}

static int copy_field(json_t *root, const char *key, char *out, size_t len)
{
	const char *v = json_string_value(json_object_get(root, key));
	if (!v || strlen(v) >= len)
		return -EBADMSG;
	strcpy(out, v);
	return 0;
}

/* Sets img->runtime to DIR/FILE from image.json's "runtime" object, left ""
 * when there is none. */
static int load_runtime(json_t *root, const char *dir, struct guest_image *img)
{
	json_t *rt = json_object_get(root, "runtime");
	if (!rt)
		return 0;
	const char *file = json_string_value(json_object_get(rt, "file"));
	if (!file || !file[0] || strchr(file, '/') || strcmp(file, "..") == 0 ||
	    strcmp(file, ".") == 0)
		return -EBADMSG;
	if (snprintf(img->runtime, sizeof(img->runtime), "%s/%s", dir, file) >=
	    (int)sizeof(img->runtime))
		return -ENAMETOOLONG;
	return access(img->runtime, R_OK) < 0 ? -ENOENT : 0;
}

int guest_image_load(const char *dir, struct guest_image *ret)
{
	char path[PATH_MAX];
	struct guest_image img;
	memset(&img, 0, sizeof(img));
	if (snprintf(path, sizeof(path), "%s/image.json", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (access(path, R_OK) < 0)
		return -ENOENT;
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err);
	if (!root)
		return -EBADMSG;
	int r = copy_field(root, "cmdline", img.cmdline, sizeof(img.cmdline));
	if (r == 0)
		r = copy_field(root, "image_digest", img.digest, sizeof(img.digest));
	if (r == 0)
		r = load_runtime(root, dir, &img);
	img.sev_guest = json_is_true(json_object_get(root, "sev_guest"));
	bool has_vmlinuz = json_is_string(json_object_get(root, "vmlinuz_sha256"));
	json_decref(root);
	if (r < 0)
		return r;
	snprintf(img.kernel, sizeof(img.kernel), "%s/vmlinux", dir);
	snprintf(img.initrd, sizeof(img.initrd), "%s/initramfs.cpio.gz", dir);
	if (access(img.kernel, R_OK) < 0 || access(img.initrd, R_OK) < 0)
		return -ENOENT;
	if (has_vmlinuz && snprintf(path, sizeof(path), "%s/vmlinuz", dir) < (int)sizeof(path) &&
	    access(path, R_OK) == 0)
		memcpy(img.vmlinuz, path, sizeof(img.vmlinuz));
	*ret = img;
	return 0;
}

int qemu_boot_cpus(const struct qemu_spec *s)
{
	return s->mech == VCPU_PRECREATED ? 1 + s->max_workers : 1;
}

int qemu_max_cpus(const struct qemu_spec *s)
{
	return s->mech == VCPU_PRECREATED ? 1 + s->max_workers : s->hotplug_slots;
}

struct argv_builder {
	char **v;
	size_t n, cap;
	int err;
};

static void add(struct argv_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct argv_builder *b, const char *fmt, ...)
{
	if (b->err)
		return;
	/* Room for this argument and the NULL that ends the vector. */
	if (array_reserve(&b->v, &b->cap, b->n + 2, sizeof(*b->v), 32) < 0) {
		b->err = -ENOMEM;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&b->v[b->n], fmt, ap);
	va_end(ap);
	if (r < 0) {
		b->err = -ENOMEM;
		return;
	}
	b->v[++b->n] = NULL;
}

/* Adds a -drive option value naming PATH: QEMU's option syntax takes a comma
 * in a value as two. */
static void add_drive(struct argv_builder *b, const char *path, const char *opts)
{
	char *esc = malloc(2 * strlen(path) + 1), *o = esc;
	if (!esc) {
		b->err = -ENOMEM;
		return;
	}
	for (const char *p = path; *p; p++) {
		*o++ = *p;
		if (*p == ',')
			*o++ = ',';
	}
	*o = '\0';
	add(b, "-drive");
	add(b, "file=%s,%s", esc, opts);
	free(esc);
}

/* The accelerator, machine, CPU model and memory. An SEV-SNP guest follows
 * QEMU's documented launch (docs/system/i386/amd-memory-encryption.rst,
 * "Launching (SEV-SNP)": -machine ...,confidential-guest-support=sev0 and
 * -object sev-snp-guest,id=sev0,cbitpos=..,reduced-phys-bits=.., with the
 * policy, kernel-hashes and host-data (base64 of 32 bytes) properties of
 * qapi/qom.json's SevSnpGuestProperties and SevCommonProperties), its RAM in a memfd
 * backend QEMU can make private (guest_memfd), and the AmdSev OVMF as
 * -bios, which with kernel-hashes=on measures the -kernel, -initrd and
 * -append it is given. */
static void add_platform(struct argv_builder *b, const struct qemu_spec *s)
{
	bool kvm = s->accel == ACCEL_KVM;
	if (s->confidential == CONFIDENTIAL_SEV_SNP) {
		add(b, "-accel");
		add(b, "kvm");
		add(b, "-machine");
		add(b, "q35,confidential-guest-support=sev0,memory-backend=ram1");
		add(b, "-cpu");
		add(b, "%s", s->snp.cpu_model);
	} else {
		add(b, "-machine");
		add(b, "q35,accel=%s", kvm ? "kvm" : "tcg");
		add(b, "-cpu");
		add(b, "%s", kvm ? "host" : "max");
	}
	add(b, "-smp");
	add(b, "cpus=%d,maxcpus=%d,sockets=1,threads=1", qemu_boot_cpus(s), qemu_max_cpus(s));
	add(b, "-m");
	add(b, "%d", s->memory_mib);
	if (s->confidential == CONFIDENTIAL_SEV_SNP) {
		add(b, "-object");
		add(b, "memory-backend-memfd,id=ram1,size=%dM,share=true,prealloc=false",
		    s->memory_mib);
		char *hd = s->snp.host_data
				   ? base64_encode(s->snp.host_data, QEMU_SNP_HOST_DATA_SIZE)
				   : NULL;
		if (s->snp.host_data && !hd)
			b->err = -ENOMEM;
		add(b, "-object");
		add(b,
		    "sev-snp-guest,id=sev0,policy=0x%llx,cbitpos=%u,reduced-phys-bits=%u,"
		    "kernel-hashes=on%s%s",
		    (unsigned long long)s->snp.policy, s->snp.cbitpos, s->snp.reduced_phys_bits,
		    hd ? ",host-data=" : "", hd ? hd : "");
		free(hd);
		add(b, "-bios");
		add(b, "%s", s->snp.ovmf);
	}
}

/* An SEV-SNP launch measures every vCPU it starts with, so all of them
 * are there from launch (precreated), and it needs KVM, its firmware and
 * the image's bzImage. */
static bool snp_spec_is_valid(const struct qemu_spec *s)
{
	return s->mech == VCPU_PRECREATED && s->accel == ACCEL_KVM && s->image->vmlinuz[0] &&
	       s->snp.ovmf &&
	       s->snp.ovmf[0] && s->snp.cpu_model && s->snp.cpu_model[0] && s->snp.cbitpos > 0 &&
	       s->snp.cbitpos < 64;
}

int qemu_cpu_ports(const struct qemu_spec *s)
{
	if (!s->cpu_port_dir)
		return 0;
	return s->max_workers < QEMU_CPU_PORTS_MAX ? s->max_workers : QEMU_CPU_PORTS_MAX;
}

int qemu_cpu_port_socket(const char *dir, int cpu, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/cpu%d.sock", dir, cpu);
	return n >= 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* One virtio-serial port per worker CPU slot, beside the control port on
 * the same device, each on a socket the agent listens on. */
static void add_cpu_ports(struct argv_builder *b, const struct qemu_spec *s)
{
	for (int cpu = 1; cpu <= qemu_cpu_ports(s); cpu++) {
		char path[PATH_MAX + 32], name[32];
		if (qemu_cpu_port_socket(s->cpu_port_dir, cpu, path, sizeof(path)) < 0 ||
		    wire_cpu_port_name(cpu, name, sizeof(name)) < 0) {
			b->err = -ENAMETOOLONG;
			return;
		}
		add(b, "-chardev");
		add(b, "socket,id=cpu%d,path=%s,server=off", cpu, path);
		add(b, "-device");
		add(b, "virtserialport,bus=vser0.0,chardev=cpu%d,name=%s", cpu, name);
	}
}

int qemu_build_argv(const struct qemu_spec *s, char ***ret_argv)
{
	if (s->accel != ACCEL_TCG && s->accel != ACCEL_KVM)
		return -EINVAL;
	if (s->max_workers < 0 || s->memory_mib < 64)
		return -EINVAL;
	if (s->mech == VCPU_HOTPLUG && s->hotplug_slots < 1 + s->max_workers)
		return -EINVAL;
	if (s->confidential == CONFIDENTIAL_SEV_SNP && !snp_spec_is_valid(s))
		return -EINVAL;

	struct argv_builder b = { 0 };
	add(&b, "%s", s->binary);
	add(&b, "-name");
	add(&b, "ditto,debug-threads=on");
	add_platform(&b, s);
	add(&b, "-nodefaults");
	add(&b, "-no-user-config");
	add(&b, "-display");
	add(&b, "none");
	/* A guest that powers off or panics ends the QEMU process, which is how
	 * the agent notices it. */
	add(&b, "-no-reboot");
	add(&b, "-kernel");
	add(&b, "%s", s->confidential == CONFIDENTIAL_SEV_SNP ? s->image->vmlinuz : s->image->kernel);
	add(&b, "-initrd");
	add(&b, "%s", s->image->initrd);
	add(&b, "-append");
	add(&b, "%s", s->image->cmdline);
	add(&b, "-chardev");
	add(&b, "socket,id=qmp,path=%s,server=off", s->qmp_socket);
	add(&b, "-mon");
	add(&b, "chardev=qmp,mode=control");
	add(&b, "-chardev");
	add(&b, "socket,id=chan,path=%s,server=off", s->chan_socket);
	add(&b, "-device");
	/* With worker CPU ports: room for them all (port 0 stays the console's,
	 * unused) and an MSI-X vector per virtqueue (two per port, two for the
	 * control queues, one for configuration), so the guest can steer each
	 * port's interrupts to its CPU; the defaults (31 ports, 32 vectors)
	 * make every queue share one. */
	int ports = qemu_cpu_ports(s) + 2;
	if (ports > 2)
		add(&b, "virtio-serial-pci,id=vser0,max_ports=%d,vectors=%d", ports, 2 * ports + 3);
	else
		add(&b, "virtio-serial-pci,id=vser0");
	add(&b, "-device");
	add(&b, "virtserialport,bus=vser0.0,chardev=chan,name=%s", QEMU_CHANNEL_NAME);
	add_cpu_ports(&b, s);
	/* The runtime disk, read-only: every VM's QEMU opens the same file, so
	 * the host's page cache holds its pages once for all of them. An
	 * SEV-SNP VM gets it too: its guest reads it only through dm-verity,
	 * against the root hash on the kernel command line, which the launch
	 * measurement covers (docs/security.md). */
	if (s->image->runtime[0]) {
		add_drive(&b, s->image->runtime, "if=none,id=runtime,format=raw,readonly=on");
		add(&b, "-device");
		add(&b, "virtio-blk-pci,drive=runtime");
	}
	add(&b, "-chardev");
	add(&b, "file,id=con,path=%s", s->console_log);
	add(&b, "-serial");
	add(&b, "chardev:con");
	if (b.err) {
		qemu_argv_free(b.v);
		return b.err;
	}
	*ret_argv = b.v;
	return 0;
}

void qemu_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}
