/* An SEV-SNP launch: its QEMU command line against QEMU's documented form,
 * the specs it refuses, the launch digest the agent expects for it, and the
 * host checks, each branch against a scratch folder of fake files. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qemu.h"
#include "snp_host.h"
#include "support/files.h"
#include "util.h"

struct fixture {
	char dir[256];
	char ovmf[512], plain_ovmf[512], garbage[512], dev_sev[512], param[512];
	struct guest_image img;
};

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* Copies tests/data/snp/name to path. */
static void copy_fixture(const char *name, const char *path)
{
	const char *dir = getenv("DITTO_TESTDATA");
	char src[4096];
	snprintf(src, sizeof(src), "%s/snp/%s", dir ? dir : "tests/data", name);
	void *data = NULL;
	size_t len = 0;
	if (file_read_all(src, &data, &len) < 0)
		fail_msg("cannot open %s (run from the source root or set DITTO_TESTDATA)", src);
	write_file(path, data, len);
	free(data);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	assert_int_equal(scratch_dir(fx->dir, sizeof(fx->dir), "snp"), 0);
	snprintf(fx->ovmf, sizeof(fx->ovmf), "%s/OVMF.amdsev.fd", fx->dir);
	snprintf(fx->plain_ovmf, sizeof(fx->plain_ovmf), "%s/OVMF.fd", fx->dir);
	snprintf(fx->garbage, sizeof(fx->garbage), "%s/garbage.fd", fx->dir);
	snprintf(fx->dev_sev, sizeof(fx->dev_sev), "%s/sev", fx->dir);
	snprintf(fx->param, sizeof(fx->param), "%s/sev_snp", fx->dir);
	copy_fixture("ovmf_AmdSev_suffix.bin", fx->ovmf);
	copy_fixture("ovmf_OvmfX64_suffix.bin", fx->plain_ovmf);
	write_file(fx->garbage, "not firmware", 12);
	snprintf(fx->img.kernel, sizeof(fx->img.kernel), "%s/vmlinux", fx->dir);
	snprintf(fx->img.vmlinuz, sizeof(fx->img.vmlinuz), "%s/vmlinuz", fx->dir);
	snprintf(fx->img.initrd, sizeof(fx->img.initrd), "%s/initramfs.cpio.gz", fx->dir);
	snprintf(fx->img.cmdline, sizeof(fx->img.cmdline), "console=ttyS0 quiet");
	fx->img.sev_guest = true;
	write_file(fx->img.kernel, "a kernel", 8);
	write_file(fx->img.vmlinuz, "a bzImage", 9);
	write_file(fx->img.initrd, "an initramfs", 12);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(remove_tree(fx->dir), 0);
	free(fx);
	return 0;
}

static struct qemu_spec snp_spec(const struct fixture *fx)
{
	return (struct qemu_spec){
		.binary = "qemu",
		.accel = ACCEL_KVM,
		.mech = VCPU_PRECREATED,
		.max_workers = 3,
		.memory_mib = 512,
		.image = &fx->img,
		.qmp_socket = "/r/qmp.sock",
		.chan_socket = "/r/chan.sock",
		.console_log = "/r/console.log",
		.confidential = CONFIDENTIAL_SEV_SNP,
		.snp = { .ovmf = fx->ovmf,
			 .policy = SNP_POLICY_DEFAULT,
			 .cbitpos = 51,
			 .reduced_phys_bits = 1,
			 .cpu_model = SNP_VCPU_MODEL_DEFAULT },
	};
}

/* The whole command line up to the guest channel: QEMU's documented SNP
 * launch (amd-memory-encryption.rst) with the image's kernel as given. */
static void test_argv(void **state)
{
	struct fixture *fx = *state;
	struct qemu_spec s = snp_spec(fx);
	char **argv;
	assert_int_equal(qemu_build_argv(&s, &argv), 0);
	const char *want[] = {
		"qemu",
		"-name",
		"ditto,debug-threads=on",
		"-accel",
		"kvm",
		"-machine",
		"q35,confidential-guest-support=sev0,memory-backend=ram1",
		"-cpu",
		"EPYC-v4",
		"-smp",
		"cpus=4,maxcpus=4,sockets=1,threads=1",
		"-m",
		"512",
		"-object",
		"memory-backend-memfd,id=ram1,size=512M,share=true,prealloc=false",
		"-object",
		"sev-snp-guest,id=sev0,policy=0x30000,cbitpos=51,reduced-phys-bits=1,"
		"kernel-hashes=on",
		"-bios",
		fx->ovmf,
		"-nodefaults",
		"-no-user-config",
		"-display",
		"none",
		"-no-reboot",
		"-kernel",
		fx->img.vmlinuz,
		"-initrd",
		fx->img.initrd,
		"-append",
		"console=ttyS0 quiet",
		"-chardev",
		"socket,id=qmp,path=/r/qmp.sock,server=off",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_non_null(argv[i]);
		assert_string_equal(argv[i], want[i]);
	}
	qemu_argv_free(argv);

	/* The values come from the spec. */
	s.snp.cpu_model = "EPYC-Milan-v2";
	s.snp.policy = 0x70000;
	s.snp.cbitpos = 47;
	s.snp.reduced_phys_bits = 5;
	s.max_workers = 0;
	assert_int_equal(qemu_build_argv(&s, &argv), 0);
	assert_string_equal(argv[8], "EPYC-Milan-v2");
	assert_string_equal(argv[10], "cpus=1,maxcpus=1,sockets=1,threads=1");
	assert_string_equal(argv[16], "sev-snp-guest,id=sev0,policy=0x70000,cbitpos=47,"
				      "reduced-phys-bits=5,kernel-hashes=on");
	qemu_argv_free(argv);

	/* HOST_DATA: QEMU's host-data property, the 32 bytes in base64. */
	uint8_t hd[QEMU_SNP_HOST_DATA_SIZE];
	for (size_t i = 0; i < sizeof(hd); i++)
		hd[i] = (uint8_t)i;
	s.snp.host_data = hd;
	assert_int_equal(qemu_build_argv(&s, &argv), 0);
	assert_string_equal(argv[16], "sev-snp-guest,id=sev0,policy=0x70000,cbitpos=47,"
				      "reduced-phys-bits=5,kernel-hashes=on,"
				      "host-data=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
	qemu_argv_free(argv);
}

static void test_inconsistent_specs(void **state)
{
	struct fixture *fx = *state;
	char **argv = NULL;
	struct qemu_spec s = snp_spec(fx);
	s.mech = VCPU_HOTPLUG; /* a hot-added vCPU is not in the measurement */
	s.hotplug_slots = 16;
	assert_int_equal(qemu_build_argv(&s, &argv), -EINVAL);
	s = snp_spec(fx);
	s.snp.ovmf = NULL;
	assert_int_equal(qemu_build_argv(&s, &argv), -EINVAL);
	s = snp_spec(fx);
	s.accel = ACCEL_TCG;
	assert_int_equal(qemu_build_argv(&s, &argv), -EINVAL);
	s = snp_spec(fx);
	s.snp.cpu_model = NULL;
	assert_int_equal(qemu_build_argv(&s, &argv), -EINVAL);
	s = snp_spec(fx);
	s.snp.cbitpos = 0;
	assert_int_equal(qemu_build_argv(&s, &argv), -EINVAL);
	/* An image without a bzImage: OVMF could not measure its kernel. */
	struct guest_image no_bzimage = fx->img;
	no_bzimage.vmlinuz[0] = '\0';
	s = snp_spec(fx);
	s.image = &no_bzimage;
	assert_int_equal(qemu_build_argv(&s, &argv), -EINVAL);
	struct snp_image img;
	assert_int_equal(snp_launch_image(&s, &img), -EINVAL);
	assert_null(argv);
}

/* The digest the agent expects is snp_image_digest's for exactly what the
 * command line launches; every vCPU is in it. */
static void test_measurement(void **state)
{
	struct fixture *fx = *state;
	struct qemu_spec s = snp_spec(fx);
	struct snp_image img;
	assert_int_equal(snp_launch_image(&s, &img), 0);
	assert_string_equal(img.ovmf, fx->ovmf);
	assert_string_equal(img.kernel, fx->img.vmlinuz);
	assert_string_equal(img.initrd, fx->img.initrd);
	assert_string_equal(img.cmdline, "console=ttyS0 quiet");
	assert_int_equal(img.vcpus, 4);
	assert_string_equal(img.vcpu_model, "EPYC-v4");
	assert_int_equal(img.guest_features, 0x21);

	struct snp_image direct = {
		.ovmf = fx->ovmf,
		.kernel = fx->img.vmlinuz,
		.initrd = fx->img.initrd,
		.cmdline = "console=ttyS0 quiet",
		.vcpus = 4,
		.vcpu_model = "EPYC-v4",
		.guest_features = 0x21,
	};
	uint8_t d[SNP_DIGEST_SIZE];
	char err[256], want[SNP_DIGEST_HEX_SIZE], hex[SNP_DIGEST_HEX_SIZE];
	assert_int_equal(snp_image_digest(&direct, d, err, sizeof(err)), 0);
	for (size_t i = 0; i < SNP_DIGEST_SIZE; i++)
		snprintf(want + 2 * i, 3, "%02x", d[i]);
	assert_int_equal(snp_launch_measure(&s, hex, err, sizeof(err)), 0);
	assert_string_equal(hex, want);
	/* HOST_DATA is given at launch finish: it is not measured. */
	static const uint8_t hd[QEMU_SNP_HOST_DATA_SIZE] = { 0xff };
	s.snp.host_data = hd;
	assert_int_equal(snp_launch_measure(&s, hex, err, sizeof(err)), 0);
	assert_string_equal(hex, want);
	s.snp.host_data = NULL;

	char other[SNP_DIGEST_HEX_SIZE];
	s.max_workers = 4;
	assert_int_equal(snp_launch_measure(&s, other, err, sizeof(err)), 0);
	assert_string_not_equal(other, want);
	s.max_workers = 3;
	s.snp.ovmf = fx->plain_ovmf; /* no kernel-hashes table */
	assert_int_equal(snp_launch_measure(&s, other, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "kernel-hashes"));
	s = snp_spec(fx);
	s.confidential = CONFIDENTIAL_NONE;
	assert_int_equal(snp_launch_image(&s, &img), -EINVAL);
}

/* Checks the probe fails with a reason containing what. */
static void expect_refusal(const struct snp_host_probe *p, const char *what)
{
	char reason[SNP_HOST_REASON_MAX];
	assert_int_equal(snp_host_check(p, reason, sizeof(reason)), -ENOTSUP);
	if (!strstr(reason, what))
		fail_msg("reason \"%s\" does not name \"%s\"", reason, what);
}

/* An SEV-SNP VM gets the runtime disk as a plain VM does: read-only, raw,
 * on virtio-blk after the guest channel and before the console. Its guest
 * reads it only through dm-verity with the root hash of the measured
 * command line. */
static void test_runtime_disk_attached(void **state)
{
	struct fixture *fx = *state;
	struct guest_image img = fx->img;
	snprintf(img.runtime, sizeof(img.runtime), "%s/runtime.img", fx->dir);
	char drive[PATH_MAX + 64];
	snprintf(drive, sizeof(drive), "file=%s,if=none,id=runtime,format=raw,readonly=on",
		 img.runtime);
	const char *want[] = {
		"-device", "virtserialport,bus=vser0.0,chardev=chan,name=" QEMU_CHANNEL_NAME,
		"-drive",  drive,
		"-device", "virtio-blk-pci,drive=runtime",
		"-chardev",
	};
	struct qemu_spec s = snp_spec(fx);
	s.image = &img;
	for (int snp = 1; snp >= 0; snp--) {
		s.confidential = snp ? CONFIDENTIAL_SEV_SNP : CONFIDENTIAL_NONE;
		char **argv = NULL;
		assert_int_equal(qemu_build_argv(&s, &argv), 0);
		size_t at = 0;
		while (argv[at] && strcmp(argv[at], "virtio-serial-pci,id=vser0") != 0)
			at++;
		assert_non_null(argv[at]);
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			assert_non_null(argv[at + 1 + i]);
			assert_string_equal(argv[at + 1 + i], want[i]);
		}
		qemu_argv_free(argv);
	}
}

/* Each check in its order, the first missing piece named. */
static void test_host_check(void **state)
{
	struct fixture *fx = *state;
	struct snp_host_probe p = { .accel = ACCEL_TCG,
				    .accel_why = "/dev/kvm not usable",
				    .dev_sev = fx->dev_sev,
				    .snp_param = fx->param,
				    .ovmf = NULL };
	expect_refusal(&p, "SEV-SNP needs KVM");
	expect_refusal(&p, "/dev/kvm not usable");
	p.accel = ACCEL_KVM;
	expect_refusal(&p, "sev is missing");
	write_file(fx->dev_sev, "", 0);
	expect_refusal(&p, "sev_snp cannot be read");
	write_file(fx->param, "N\n", 2);
	expect_refusal(&p, "SEV-SNP is not enabled in KVM");
	write_file(fx->param, "Y\n", 2);
	expect_refusal(&p, "no AmdSev OVMF configured (ditto-agent --ovmf-amdsev PATH");
	p.ovmf = fx->ovmf;
	expect_refusal(&p, "no bzImage (vmlinuz)"); /* no image */
	struct guest_image img = fx->img;
	p.image = &img;
	img.vmlinuz[0] = '\0';
	expect_refusal(&p, "no bzImage (vmlinuz)");
	img = fx->img;
	img.sev_guest = false;
	expect_refusal(&p, "DITTO_GUEST_KERNEL=amd64 make guest");
	img.sev_guest = true;
	char missing[600];
	snprintf(missing, sizeof(missing), "%s/none.fd", fx->dir);
	p.ovmf = missing;
	expect_refusal(&p, "cannot be read");
	p.ovmf = fx->garbage;
	expect_refusal(&p, "not an OVMF build");
	p.ovmf = fx->plain_ovmf;
	expect_refusal(&p, "no kernel-hashes table");
	p.ovmf = fx->ovmf;
	char reason[SNP_HOST_REASON_MAX];
	assert_int_equal(snp_host_check(&p, reason, sizeof(reason)), 0);
	assert_string_equal(reason, "");
}

/* Where the CPU has the leaf, the C-bit is a plausible address bit. */
static void test_cbit(void **state)
{
	unsigned c = 0, r = 0;
	int ret = snp_host_cbit(&c, &r);
	assert_true(ret == 0 || ret == -ENOTSUP);
	if (ret == 0)
		assert_true(c >= 32 && c < 64);
}

static void test_names(void **state)
{
	enum confidential c;
	assert_int_equal(confidential_parse("sev-snp", &c), 0);
	assert_int_equal(c, CONFIDENTIAL_SEV_SNP);
	assert_int_equal(confidential_parse("none", &c), 0);
	assert_int_equal(c, CONFIDENTIAL_NONE);
	assert_int_equal(confidential_parse("sev", &c), -EINVAL);
	assert_string_equal(confidential_name(CONFIDENTIAL_SEV_SNP), "sev-snp");
	assert_string_equal(confidential_name(CONFIDENTIAL_NONE), "none");
}

#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_argv),        FIXTURE_TEST(test_inconsistent_specs),
		FIXTURE_TEST(test_measurement), FIXTURE_TEST(test_runtime_disk_attached),
		FIXTURE_TEST(test_host_check),
		cmocka_unit_test(test_cbit),    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests_name("qemu_snp", tests, NULL, NULL);
}
