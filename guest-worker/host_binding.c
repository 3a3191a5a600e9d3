#include "host_binding.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "e2e.h"
#include "sev_guest.h"

int host_binding_from_report(const uint8_t *report, size_t len, struct host_binding *ret)
{
	struct snp_report r;
	if (snp_report_parse(report, len, &r) < 0) {
		*ret = (struct host_binding){ .mode = HOST_BINDING_UNREAD };
		snprintf(ret->why, sizeof(ret->why), "the firmware's report does not parse");
		return -EBADMSG;
	}
	*ret = (struct host_binding){ .mode = HOST_BINDING_SNP };
	memcpy(ret->host_data, r.host_data, sizeof(ret->host_data));
	return 0;
}

/* Whether the kernel registered the SEV-SNP guest's platform device, which
 * it does on SNP whether or not the driver giving sev_path is loaded. */
static bool snp_platform(const char *sysfs_root)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/bus/platform/devices/sev-guest", sysfs_root);
	return access(path, F_OK) == 0;
}

void host_binding_read(const char *sev_path, const char *sysfs_root, struct host_binding *ret)
{
	static const uint8_t zeros[ATTEST_REPORT_DATA_SIZE];
	struct attest_evidence ev;
	char err[sizeof(ret->why)] = "";
	int r = attest_get(sev_path, zeros, &ev, err, sizeof(err));
	if (r < 0) {
		*ret = (struct host_binding){ .mode = HOST_BINDING_UNREAD };
		snprintf(ret->why, sizeof(ret->why), "%s", err[0] ? err : strerror(-r));
	} else if (!ev.snp && snp_platform(sysfs_root)) {
		*ret = (struct host_binding){ .mode = HOST_BINDING_UNREAD };
		snprintf(ret->why, sizeof(ret->why),
			 "an SEV-SNP guest without %s: the sev-guest driver is not loaded",
			 sev_path);
	} else if (!ev.snp) {
		*ret = (struct host_binding){ .mode = HOST_BINDING_NONE };
	} else {
		host_binding_from_report(ev.report, ev.report_len, ret);
	}
	attest_evidence_free(&ev);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

int host_binding_admit(const struct host_binding *b, bool e2e, const uint8_t *secret, char *err,
		       size_t err_size)
{
	if (b->mode == HOST_BINDING_NONE)
		return 0;
	if (b->mode != HOST_BINDING_SNP) {
		snprintf(err, err_size,
			 "confidential VM: cannot read its HOST_DATA (%s); no invocation runs here",
			 b->why);
		return -EPERM;
	}
	if (!e2e) {
		snprintf(err, err_size,
			 "confidential VM: only end-to-end encrypted invocations run here");
		return -EPERM;
	}
	if (!secret)
		return 0;
	uint8_t want[SNP_HOST_DATA_SIZE];
	e2e_host_data(secret, want);
	bool ok = CRYPTO_memcmp(want, b->host_data, sizeof(want)) == 0 &&
		  !all_zero(b->host_data, sizeof(b->host_data));
	OPENSSL_cleanse(want, sizeof(want));
	if (ok)
		return 0;
	snprintf(err, err_size,
		 "e2e: the tenant secret is not the one this VM was launched for (HOST_DATA)");
	return -EPERM;
}
