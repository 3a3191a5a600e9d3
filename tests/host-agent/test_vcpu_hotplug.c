/* The worker-vCPU state machine (vcpu.c) under hotplug, against the fake
 * QMP server and the fake guest: the QMP commands a grow and a shrink send,
 * the guest's CPU events and QEMU's deletion events that finish them, QEMU's
 * refusals and the vCPU capacity of a VM's life. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakes/fake_vm.h"

static const struct vcpu_limits hotplug = {
	.name = "t",
	.mech = VCPU_HOTPLUG,
	.max_workers = 2,
	.hotplug_slots = 3,
	.qemu_major = 10,
	.qemu_version = "10.0.2",
	.max_timeout_ms = 1000,
};

static const char slots_json[] =
	"[{\"type\": \"max-x86_64-cpu\", \"vcpus-count\": 1,"
	"  \"props\": {\"socket-id\": 0, \"core-id\": 1, \"thread-id\": 0}},"
	" {\"type\": \"max-x86_64-cpu\", \"vcpus-count\": 1, \"qom-path\": \"/machine/unattached/device[0]\","
	"  \"props\": {\"socket-id\": 0, \"core-id\": 0, \"thread-id\": 0}}]";

/* A ready hotplug VM with only its control CPU; QEMU reports CPUs 0..2 from
 * the first device_add on. */
static void start(struct fake_vm *f, const struct vcpu_limits *lim)
{
	fake_vm_start(f, lim, 2, 1, true);
	assert_int_equal(vcpu_on_hotpluggable(&f->v, NULL), -ENODEV);
	json_t *slots = json_loads(slots_json, 0, NULL);
	assert_int_equal(vcpu_on_hotpluggable(&f->v, slots), 0);
	json_decref(slots);
	json_t *cpus = fake_vm_cpus_json(f, 3);
	json_t *reply = json_pack("{s:o}", "return", cpus);
	char *text = json_dumps(reply, 0);
	fake_qmp_on(&f->qemu, "query-cpus-fast", text);
	free(text);
	json_decref(reply);
	assert_int_equal(fake_vm_state(f, 1), W_ABSENT);
	assert_int_equal(vcpu_hotplug_left(&f->v), 2);
}

static void cpu_event(struct fake_vm *f, const char *event, int cpu)
{
	char meta[96];
	snprintf(meta, sizeof(meta), "{\"event\":\"%s\",\"cpu\":%d,\"online_us\":9,\"probe_us\":2}",
		 event, cpu);
	fake_guest_send(&f->guest, WIRE_CPU_EVENT, 0, meta);
}

/* Grows from 0 to 1: device_add, the thread from query-cpus-fast, the
 * guest's "active". */
static void grow_one(struct fake_vm *f)
{
	size_t adds = fake_qmp_count(&f->qemu, "device_add");
	struct fake_vm_done *d = fake_vm_resize(f, 1);
	fake_qmp_wait_command(&f->qemu, "query-cpus-fast", adds + 1);
	size_t i = fake_qmp_ncommands(&f->qemu) - 2;
	assert_string_equal(fake_qmp_command(&f->qemu, i), "device_add");
	json_t *args = fake_qmp_args(&f->qemu, i);
	assert_string_equal(json_string_value(json_object_get(args, "driver")), "max-x86_64-cpu");
	assert_string_equal(json_string_value(json_object_get(args, "id")), "wcpu1");
	assert_int_equal(json_integer_value(json_object_get(args, "core-id")), 1);
	assert_int_equal(fake_vm_state(f, 1), W_GROWING); /* until the guest has it */
	cpu_event(f, "added", 1);
	cpu_event(f, "active", 1);
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, 0);
	assert_int_equal(d->workers, 1);
	assert_int_equal(fake_vm_state(f, 1), W_ACTIVE);
	assert_int_equal(f->v.workers[0].tid, f->sleeper);
	assert_int_equal(vcpu_free_cores(&f->v), 1);
}

/* Shrinks from 1 to 0 up to QEMU's device_del; returns the resize, which
 * the deletion event finishes. */
static struct fake_vm_done *shrink_one(struct fake_vm *f)
{
	size_t dels = fake_qmp_count(&f->qemu, "device_del");
	struct fake_vm_done *d = fake_vm_resize(f, 0);
	fake_qmp_wait_command(&f->qemu, "device_del", dels + 1);
	/* The guest drained the CPU before QEMU was asked to take it. */
	size_t last = f->guest.n_frames - 1;
	assert_int_equal(fake_guest_frame(&f->guest, last)->type, WIRE_CPU_RELEASE);
	assert_int_equal(fake_guest_cpu(&f->guest, last), 1);
	json_t *args = fake_qmp_args(&f->qemu, fake_qmp_ncommands(&f->qemu) - 1);
	assert_string_equal(json_string_value(json_object_get(args, "id")), "wcpu1");
	assert_int_equal(fake_vm_state(f, 1), W_SHRINKING);
	assert_false(d->done);
	return d;
}

/* QEMU's event that the vCPU is gone finishes the shrink. */
static void finish_shrink(struct fake_vm *f, struct fake_vm_done *d, const char *event,
			  const char *data)
{
	fake_qmp_event(&f->qemu, event, data);
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, 0);
	assert_int_equal(fake_vm_state(f, 1), W_ABSENT);
	assert_int_equal(f->v.hotplug_removed, 1);
}

static void test_grow_and_shrink(void **state)
{
	struct fake_vm *f = *state;
	start(f, &hotplug);
	grow_one(f);
	assert_int_equal(vcpu_hotplug_left(&f->v), 1);

	struct fake_vm_done *d = shrink_one(f);
	/* QEMU names the CPU's lapic child when it is gone. */
	finish_shrink(f, d, "DEVICE_DELETED", "{\"path\": \"/machine/peripheral/wcpu1/lapic\"}");
	assert_int_equal(vcpu_free_cores(&f->v), 2);
	assert_int_equal(vcpu_hotplug_left(&f->v), 1); /* a removal gives nothing back */

	/* Two more would make three vCPUs created in a VM of two slots. */
	d = fake_vm_resize(f, 2);
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, -EMLINK);
	assert_int_equal(fake_qmp_count(&f->qemu, "device_add"), 1);
	assert_int_equal(f->resized, 3);
}

/* QEMU before 8 must not add a vCPU after one was removed; the shrink here
 * is finished by the ACPI status event. */
static void test_old_qemu_after_removal(void **state)
{
	struct fake_vm *f = *state;
	struct vcpu_limits lim = hotplug;
	lim.qemu_major = 7;
	lim.qemu_version = "7.2.0";
	start(f, &lim);
	grow_one(f);
	struct fake_vm_done *d = shrink_one(f);
	finish_shrink(f, d, "ACPI_DEVICE_OST",
		      "{\"info\": {\"device\": \"wcpu1\", \"source\": 3, \"status\": 0}}");

	d = fake_vm_resize(f, 1);
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, -EMLINK);
	assert_non_null(strstr(d->error, "7.2.0"));
	assert_int_equal(fake_qmp_count(&f->qemu, "device_add"), 1);
}

static void test_device_add_refused(void **state)
{
	struct fake_vm *f = *state;
	start(f, &hotplug);
	fake_qmp_on(&f->qemu, "device_add",
		    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}");
	struct fake_vm_done *d = fake_vm_resize(f, 1);
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, -EIO);
	assert_non_null(strstr(d->error, "device_add"));
	assert_int_equal(fake_vm_state(f, 1), W_ABSENT);
	assert_int_equal(vcpu_free_cores(&f->v), 2);
	assert_int_equal(vcpu_hotplug_left(&f->v), 2);
	assert_int_equal(fake_qmp_count(&f->qemu, "query-cpus-fast"), 0);
}

/* The guest cannot online the new CPU: the grow fails, and the vCPU QEMU
 * created is unplugged so its slot comes back. */
static void test_guest_cannot_online(void **state)
{
	struct fake_vm *f = *state;
	start(f, &hotplug);
	struct fake_vm_done *d = fake_vm_resize(f, 1);
	fake_qmp_wait_command(&f->qemu, "query-cpus-fast", 1);
	cpu_event(f, "activate_failed", 1);
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, -EIO);
	assert_non_null(strstr(d->error, "guest online"));
	fake_qmp_wait_command(&f->qemu, "device_del", 1);
	assert_int_equal(fake_vm_state(f, 1), W_SHRINKING);
	assert_int_equal(vcpu_free_cores(&f->v), 2);
	fake_qmp_event(&f->qemu, "DEVICE_DELETED", "{\"device\": \"wcpu1\"}");
	fake_vm_wait_state(f, 1, W_ABSENT);
	assert_int_equal(f->v.hotplug_removed, 1);
	assert_int_equal(f->resized, 1);
}

/* Each test gets a VM of its own. */
#define VM_TEST(f) cmocka_unit_test_setup_teardown(f, fake_vm_setup, fake_vm_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { VM_TEST(test_grow_and_shrink),
					    VM_TEST(test_old_qemu_after_removal),
					    VM_TEST(test_device_add_refused),
					    VM_TEST(test_guest_cannot_online) };
	return cmocka_run_group_tests_name("vcpu_hotplug", tests, NULL, NULL);
}
