/* What binds a confidential VM to its tenant (lib/e2e.h, e2e_host_data):
 * under SEV-SNP the host sets the launch's HOST_DATA to the commitment of the
 * tenant secret, and the guest runs only end-to-end encrypted invocations
 * whose tenant secret gives that commitment. So the host can run neither
 * code of its own in the VM (a plain INVOKE) nor an artifact sealed with a
 * secret of its own, and cannot reach the tenant's opened artifacts or other
 * invocations' data that way. Without SNP (no SEV guest device: evidence of
 * type none) nothing is confidential and everything runs as before.
 *
 * host_binding_admit() is the rule, pure; host_binding_read() asks the
 * device once, at start. */
#ifndef DITTO_GUEST_HOST_BINDING_H
#define DITTO_GUEST_HOST_BINDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snp_verify.h"

enum host_binding_mode {
	HOST_BINDING_NONE,   /* no SEV guest device: everything runs */
	HOST_BINDING_SNP,    /* HOST_DATA read: only its tenant's encrypted invocations */
	HOST_BINDING_UNREAD, /* a device, but no report to read HOST_DATA from: nothing runs */
};

struct host_binding {
	enum host_binding_mode mode;
	uint8_t host_data[SNP_HOST_DATA_SIZE]; /* SNP */
	char why[192];                         /* UNREAD: why there is no report */
};

/* Reads the binding from the SEV guest device at sev_path: one report with
 * REPORT_DATA zeros, whose HOST_DATA (offset 0xC0) it keeps. Never fails: a
 * missing device gives NONE, unless the kernel says this is an SEV-SNP guest
 * (its "sev-guest" platform device under sysfs_root, the driver's absence
 * must not open the VM); that, or a device that gives no parsable report,
 * gives UNREAD (fail closed) with why. */
void host_binding_read(const char *sev_path, const char *sysfs_root, struct host_binding *ret);

/* The binding a report (len bytes, as the firmware gave it) sets: SNP with
 * its HOST_DATA. Returns 0, or -EBADMSG (with why) for a report that does not
 * parse. */
int host_binding_from_report(const uint8_t *report, size_t len, struct host_binding *ret);

/* Whether an invocation may run here: plain (e2e false) or end-to-end
 * encrypted with this tenant secret (NULL while the request is not opened
 * yet: only what does not depend on the secret is checked). Returns 0, or
 * -EPERM with the invocation's error in err:
 * - UNREAD, anything: "confidential VM: cannot read its HOST_DATA (...); no
 *   invocation runs here";
 * - SNP, plain: "confidential VM: only end-to-end encrypted invocations run
 *   here";
 * - SNP, a secret whose e2e_host_data is not HOST_DATA (an all-zero HOST_DATA,
 *   a launch that set none, matches no secret): "e2e: the tenant secret is not
 *   the one this VM was launched for (HOST_DATA)". */
int host_binding_admit(const struct host_binding *b, bool e2e, const uint8_t *secret, char *err,
		       size_t err_size);

#endif
