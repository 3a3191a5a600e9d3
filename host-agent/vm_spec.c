#include "vm.h"

#include <errno.h>
#include <string.h>

static bool tenant_is_valid(const char *t)
{
	size_t n = strlen(t);
	return n > 0 && n <= VM_TENANT_MAX &&
	       strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
		       n &&
	       t[0] != '.';
}

const char *vm_policy_refusal(enum vcpu_mech mech, int max_workers, const struct policy *p)
{
	if (policy_is_scale_out(p))
		return "scale-out is the controller's: it gives each of a tenant's VMs fixed:1";
	int standby = policy_standby(p);
	if (standby > max_workers)
		return "the policy's standby must not exceed the VM's max_workers";
	if (standby > 0 && mech != VCPU_PRECREATED)
		return "a standby needs the precreated mechanism: hotplug vCPUs have none";
	return NULL;
}

int vm_spec_check(const struct vm_spec *spec)
{
	if (!tenant_is_valid(spec->tenant) ||
	    vm_policy_refusal(spec->mech, spec->max_workers, &spec->policy))
		return -EINVAL;
	if (spec->max_workers < 0 || spec->max_workers > VM_MAX_CPUS - 1 || spec->memory_mib < 64 ||
	    spec->standby < 0 || spec->standby > spec->max_workers || spec->min_workers < 0 ||
	    spec->min_workers > spec->max_workers)
		return -EINVAL;
	if (spec->mech == VCPU_HOTPLUG &&
	    (spec->hotplug_slots < spec->max_workers + 1 || spec->hotplug_slots > VM_MAX_CPUS))
		return -EINVAL;
	if (spec->confidential == CONFIDENTIAL_SEV_SNP && spec->mech != VCPU_PRECREATED)
		return -EINVAL;
	return 0;
}
