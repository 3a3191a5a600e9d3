#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "qemu.h"

static const struct guest_image img = {
	.kernel = "/img/vmlinux",
	.initrd = "/img/initramfs.cpio.gz",
	.cmdline = "console=ttyS0 maxcpus=1",
	.digest = "00",
};

static const char *arg_after(char **argv, const char *flag, int nth)
{
	for (int i = 0; argv[i]; i++) {
		if (strcmp(argv[i], flag) == 0 && nth-- == 0)
			return argv[i + 1];
	}
	return NULL;
}

static struct qemu_spec spec(enum vcpu_mech m, enum accel a)
{
	return (struct qemu_spec){ .binary = "qemu",
				   .accel = a,
				   .mech = m,
				   .max_workers = 3,
				   .hotplug_slots = 16,
				   .memory_mib = 256,
				   .image = &img,
				   .qmp_socket = "/r/qmp.sock",
				   .chan_socket = "/r/chan.sock",
				   .console_log = "/r/console.log" };
}

static void test_hotplug_tcg(void **state)
{
	struct qemu_spec s = spec(VCPU_HOTPLUG, ACCEL_TCG);
	char **argv;
	assert_int_equal(qemu_build_argv(&s, &argv), 0);
	assert_string_equal(argv[0], "qemu");
	assert_string_equal(arg_after(argv, "-machine", 0), "q35,accel=tcg");
	assert_string_equal(arg_after(argv, "-cpu", 0), "max");
	/* One vCPU at boot; room for hotplug. */
	assert_string_equal(arg_after(argv, "-smp", 0), "cpus=1,maxcpus=16,sockets=1,threads=1");
	assert_string_equal(arg_after(argv, "-kernel", 0), "/img/vmlinux");
	assert_string_equal(arg_after(argv, "-append", 0), "console=ttyS0 maxcpus=1");
	assert_string_equal(arg_after(argv, "-chardev", 0),
			    "socket,id=qmp,path=/r/qmp.sock,server=off");
	assert_string_equal(arg_after(argv, "-device", 1),
			    "virtserialport,bus=vser0.0,chardev=chan,name=ditto.0");
	bool nodefaults = false;
	for (int i = 0; argv[i]; i++)
		nodefaults |= strcmp(argv[i], "-nodefaults") == 0;
	assert_true(nodefaults);
	qemu_argv_free(argv);
}

static void test_precreated_kvm(void **state)
{
	struct qemu_spec s = spec(VCPU_PRECREATED, ACCEL_KVM);
	char **argv;
	assert_int_equal(qemu_build_argv(&s, &argv), 0);
	assert_string_equal(arg_after(argv, "-machine", 0), "q35,accel=kvm");
	assert_string_equal(arg_after(argv, "-cpu", 0), "host");
	/* Every worker vCPU exists from launch (measured in a confidential VM). */
	assert_string_equal(arg_after(argv, "-smp", 0), "cpus=4,maxcpus=4,sockets=1,threads=1");
	qemu_argv_free(argv);
}

static int count_flag(char **argv, const char *flag)
{
	int n = 0;
	for (int i = 0; argv[i]; i++)
		n += strcmp(argv[i], flag) == 0;
	return n;
}

static void test_runtime_disk(void **state)
{
	struct qemu_spec s = spec(VCPU_PRECREATED, ACCEL_TCG);
	char **argv;
	/* An image without a runtime attaches no disk. */
	assert_int_equal(qemu_build_argv(&s, &argv), 0);
	assert_int_equal(count_flag(argv, "-drive"), 0);
	qemu_argv_free(argv);
	struct guest_image rt = img;
	strcpy(rt.runtime, "/img,1/runtime.img");
	s.image = &rt;
	assert_int_equal(qemu_build_argv(&s, &argv), 0);
	assert_int_equal(count_flag(argv, "-drive"), 1);
	/* Read-only, raw, the comma in the path doubled as QEMU's syntax wants. */
	assert_string_equal(arg_after(argv, "-drive", 0),
			    "file=/img,,1/runtime.img,if=none,id=runtime,format=raw,readonly=on");
	assert_string_equal(arg_after(argv, "-device", 2), "virtio-blk-pci,drive=runtime");
	qemu_argv_free(argv);
}

/* A virtio-serial port per worker CPU slot, present from launch, on the
 * same device as the control port, which gets room and a vector per queue. */
static void test_cpu_ports(void **state)
{
	struct qemu_spec s = spec(VCPU_PRECREATED, ACCEL_TCG);
	assert_int_equal(qemu_cpu_ports(&s), 0);
	char **argv;
	assert_int_equal(qemu_build_argv(&s, &argv), 0);
	assert_string_equal(arg_after(argv, "-device", 0), "virtio-serial-pci,id=vser0");
	assert_null(arg_after(argv, "-chardev", 3));
	qemu_argv_free(argv);

	s.cpu_port_dir = "/r";
	assert_int_equal(qemu_cpu_ports(&s), 3);
	assert_int_equal(qemu_build_argv(&s, &argv), 0);
	assert_string_equal(arg_after(argv, "-device", 0),
			    "virtio-serial-pci,id=vser0,max_ports=5,vectors=13");
	assert_string_equal(arg_after(argv, "-device", 1),
			    "virtserialport,bus=vser0.0,chardev=chan,name=ditto.0");
	for (int cpu = 1; cpu <= 3; cpu++) {
		char want[128];
		snprintf(want, sizeof(want), "socket,id=cpu%d,path=/r/cpu%d.sock,server=off", cpu,
			 cpu);
		assert_string_equal(arg_after(argv, "-chardev", 1 + cpu), want);
		snprintf(want, sizeof(want),
			 "virtserialport,bus=vser0.0,chardev=cpu%d,name=ditto.cpu.%d", cpu, cpu);
		assert_string_equal(arg_after(argv, "-device", 1 + cpu), want);
	}
	qemu_argv_free(argv);
	char path[16];
	assert_int_equal(qemu_cpu_port_socket("/r", 2, path, sizeof(path)), 0);
	assert_string_equal(path, "/r/cpu2.sock");
	assert_int_equal(qemu_cpu_port_socket("/r", 12, path, 8), -ENAMETOOLONG);
	s.max_workers = 100;
	assert_int_equal(qemu_cpu_ports(&s), QEMU_CPU_PORTS_MAX);
}

static void test_bad_specs(void **state)
{
	char **argv;
	struct qemu_spec s = spec(VCPU_HOTPLUG, ACCEL_AUTO);
	assert_int_equal(qemu_build_argv(&s, &argv), -EINVAL); /* accel unresolved */
	s = spec(VCPU_HOTPLUG, ACCEL_TCG);
	s.hotplug_slots = 3; /* fewer than boot CPU + workers */
	assert_int_equal(qemu_build_argv(&s, &argv), -EINVAL);
	s = spec(VCPU_PRECREATED, ACCEL_TCG);
	s.memory_mib = 16;
	assert_int_equal(qemu_build_argv(&s, &argv), -EINVAL);
}

static void test_names(void **state)
{
	enum accel a;
	enum vcpu_mech m;
	assert_int_equal(accel_parse("tcg", &a), 0);
	assert_int_equal(a, ACCEL_TCG);
	assert_int_equal(accel_parse("xen", &a), -EINVAL);
	assert_int_equal(vcpu_mech_parse("precreated", &m), 0);
	assert_int_equal(m, VCPU_PRECREATED);
	assert_int_equal(vcpu_mech_parse("hot", &m), -EINVAL);
	assert_string_equal(vcpu_mech_name(VCPU_HOTPLUG), "hotplug");
}

static void test_accel_detect(void **state)
{
	enum accel a;
	char why[96];
	assert_int_equal(accel_detect(ACCEL_TCG, &a, why, sizeof(why)), 0);
	assert_int_equal(a, ACCEL_TCG);
	/* auto resolves to one of the two, and says why. */
	assert_int_equal(accel_detect(ACCEL_AUTO, &a, why, sizeof(why)), 0);
	assert_true(a == ACCEL_TCG || a == ACCEL_KVM);
	assert_true(strlen(why) > 0);
	/* kvm asked for explicitly either works or is refused, never TCG. */
	int r = accel_detect(ACCEL_KVM, &a, why, sizeof(why));
	assert_true((r == 0 && a == ACCEL_KVM) || r == -ENODEV);
}

/* Creates DIR/NAME (its path in made), loads the image from DIR, then removes
 * the file again. */
static void load_with_file(const char *dir, const char *name, char made[128],
			   struct guest_image *gi)
{
	snprintf(made, 128, "%s/%s", dir, name);
	fclose(fopen(made, "w"));
	assert_int_equal(guest_image_load(dir, gi), 0);
	unlink(made);
}

static void test_image_load(void **state)
{
	char dir[] = "/tmp/ditto-img.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct guest_image gi;
	assert_int_equal(guest_image_load(dir, &gi), -ENOENT);
	char path[128];
	snprintf(path, sizeof(path), "%s/image.json", dir);
	FILE *f = fopen(path, "w");
	fputs("{\"cmdline\":\"console=ttyS0\",\"image_digest\":\"abc\"}", f);
	fclose(f);
	assert_int_equal(guest_image_load(dir, &gi), -ENOENT); /* no kernel yet */
	snprintf(path, sizeof(path), "%s/vmlinux", dir);
	fclose(fopen(path, "w"));
	snprintf(path, sizeof(path), "%s/initramfs.cpio.gz", dir);
	fclose(fopen(path, "w"));
	assert_int_equal(guest_image_load(dir, &gi), 0);
	assert_string_equal(gi.cmdline, "console=ttyS0");
	assert_string_equal(gi.digest, "abc");
	assert_string_equal(gi.vmlinuz, ""); /* no bzImage: no SEV-SNP launch */
	assert_false(gi.sev_guest);
	/* An image for SEV-SNP hosts: its bzImage and a kernel with the driver. */
	snprintf(path, sizeof(path), "%s/image.json", dir);
	f = fopen(path, "w");
	fputs("{\"cmdline\":\"c\",\"image_digest\":\"d\",\"vmlinuz_sha256\":\"e\","
	      "\"sev_guest\":true}",
	      f);
	fclose(f);
	assert_int_equal(guest_image_load(dir, &gi), 0);
	assert_string_equal(gi.vmlinuz, ""); /* named, but the file is not there */
	assert_true(gi.sev_guest);
	char made[128];
	load_with_file(dir, "vmlinuz", made, &gi);
	assert_string_equal(gi.vmlinuz, made);
	assert_string_equal(gi.runtime, ""); /* no runtime: the VM boots without the disk */
	/* A runtime disk named in image.json must be a file in the folder. */
	const char *bad[] = { "{\"file\":\"../x.img\"}", "{\"file\":7}", "{\"size\":1}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = fopen(path, "w");
		fprintf(f, "{\"cmdline\":\"c\",\"image_digest\":\"d\",\"runtime\":%s}", bad[i]);
		fclose(f);
		assert_int_equal(guest_image_load(dir, &gi), -EBADMSG);
	}
	f = fopen(path, "w");
	fputs("{\"cmdline\":\"c\",\"image_digest\":\"d\",\"runtime\":{\"file\":\"rt.img\"}}", f);
	fclose(f);
	assert_int_equal(guest_image_load(dir, &gi), -ENOENT); /* named, not there */
	load_with_file(dir, "rt.img", made, &gi);
	assert_string_equal(gi.runtime, made);
	snprintf(path, sizeof(path), "%s/image.json", dir);
	f = fopen(path, "w");
	fputs("{\"cmdline\":7}", f);
	fclose(f);
	assert_int_equal(guest_image_load(dir, &gi), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hotplug_tcg),  cmocka_unit_test(test_precreated_kvm),
		cmocka_unit_test(test_bad_specs),    cmocka_unit_test(test_names),
		cmocka_unit_test(test_accel_detect), cmocka_unit_test(test_image_load),
		cmocka_unit_test(test_runtime_disk), cmocka_unit_test(test_cpu_ports)
	};
	return cmocka_run_group_tests_name("qemu", tests, NULL, NULL);
}
