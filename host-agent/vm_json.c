#include "vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"

/* Reads "Key: N kB" from a /proc file of QEMU's. */
static long proc_kib(const struct vm *vm, const char *file, const char *key)
{
	if (!vm->proc_running)
		return -1;
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)vm->pid, file);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t klen = strlen(key);
	long kib = -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			kib = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kib;
}

void vm_sample_memory(struct vm *vm)
{
	vm->rss_kib = proc_kib(vm, "status", "VmRSS");
	vm->pss_kib = proc_kib(vm, "smaps_rollup", "Pss");
	vm->memory_at_ns = uv_hrtime();
}

json_t *vm_to_json(struct vm *vm)
{
	if (!vm->memory_at_ns || uv_hrtime() - vm->memory_at_ns >= VM_MEMORY_SAMPLE_NS)
		vm_sample_memory(vm);
	json_t *workers = vcpu_workers_json(&vm->vcpu);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:i, s:o}", "tenant",
			      vm->spec.tenant, "state", vm_state_name(vm->state), "mechanism",
			      vcpu_mech_name(vm->spec.mech), "accel", accel_name(vm->accel),
			      "max_workers_limit", vm->spec.max_workers, "memory_mib",
			      vm->spec.memory_mib, "standby", vm->vcpu.limits.standby, "boot_ms",
			      (json_int_t)vm->boot_ms, "pid", vm->proc_running ? (int)vm->pid : 0,
			      "worker_cpus", workers);
	scaler_to_json(&vm->scaler, o);
	if (vm->spec.mech == VCPU_HOTPLUG) {
		/* QEMU creates at most maxcpus vCPUs over a VM's life (the boot
		 * CPU included); what is left bounds future grows. */
		json_object_set_new(o, "hotplug_remaining",
				    json_integer(vcpu_hotplug_left(&vm->vcpu)));
	}
	/* RSS counts the kernel image QEMU maps from the page cache, which all
	 * VMs share; PSS splits shared pages among their users. Both include
	 * the guest RAM the guest has touched. */
	if (vm->proc_running && vm->rss_kib >= 0)
		json_object_set_new(o, "qemu_rss_kib", json_integer(vm->rss_kib));
	if (vm->proc_running && vm->pss_kib >= 0)
		json_object_set_new(o, "qemu_pss_kib", json_integer(vm->pss_kib));
	invoke_to_json(&vm->invoke, o);
	vm_usage_to_json(vm, o);
	json_object_set_new(o, "confidential",
			    json_string(confidential_name(vm->spec.confidential)));
	if (vm->measurement[0])
		json_object_set_new(o, "measurement", json_string(vm->measurement));
	char hd[2 * QEMU_SNP_HOST_DATA_SIZE + 1];
	bytes_to_hex(vm->spec.host_data, sizeof(vm->spec.host_data), hd);
	json_object_set_new(o, "host_data", vm->spec.has_host_data ? json_string(hd) : json_null());
	if (vm->died_reason[0])
		json_object_set_new(o, "reason", json_string(vm->died_reason));
	return o;
}

void vm_usage_to_json(const struct vm *vm, json_t *o)
{
	json_object_set_new(o, "workers", json_integer(vcpu_active(&vm->vcpu)));
	json_object_set_new(o, "vcpu_ms", usage_to_json(&vm->usage, uv_hrtime()));
}
