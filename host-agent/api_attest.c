/* The attestation route: a VM's evidence, fetched from its guest with the
 * caller's nonce, beside the launch digest the agent expects for it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "api_int.h"
#include "vm_attest.h"
#include "vm.h"

/* A request waiting for its guest; it keeps copies, as the VM may go. */
struct attestation {
	struct request *r;
	char tenant[VM_TENANT_MAX + 1];
	char measurement[SNP_DIGEST_HEX_SIZE];
};

static void on_attested(int status, json_t *evidence, json_t *meta, void *data)
{
	struct attestation *at = data;
	struct request *r = at->r;
	if (status == 0) {
		/* attest_evidence_json checked the type; o NULL is a 500. */
		const char *type = json_string_value(json_object_get(evidence, "type"));
		bool snp = strcmp(type, "sev-snp") == 0;
		json_t *o = json_deep_copy(evidence);
		json_object_set_new(o, "vm", json_string(at->tenant));
		json_object_set_new(o, "measurement",
				    at->measurement[0] ? json_string(at->measurement)
						       : json_null());
		json_object_set_new(o, "confidential", json_boolean(snp));
		api_reply_json(r, MHD_HTTP_OK, o);
	} else if (status == -EREMOTEIO) {
		const char *code = json_string_value(json_object_get(meta, "code"));
		const char *msg = json_string_value(json_object_get(meta, "message"));
		api_reply_error(r, AGENT_E_GUEST_ERROR, "the guest refused: %s: %s",
				code ? code : "?", msg ? msg : "");
	} else if (status == -EBADMSG) {
		api_reply_error(
			r, AGENT_E_GUEST_ERROR,
			"the guest's evidence is malformed (type, public_key or report_len)");
	} else {
		api_reply_errno(r, status, "attestation lost");
	}
	free(at);
	api_resume(r);
}

void api_get_attestation(struct request *r, const char *tenant)
{
	const char *nonce = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "nonce");
	if (!attest_nonce_is_valid(nonce)) {
		api_reply_error(r, AGENT_E_BAD_PARAMETER,
				"?nonce= is required: 1..%d bytes as hex (an even number of hex "
				"digits)",
				ATTEST_NONCE_MAX);
		return;
	}
	struct vm *vm = api_find_ready_vm(r, tenant);
	if (!vm)
		return;
	struct attestation *at = calloc(1, sizeof(*at));
	if (!at) {
		api_reply_errno(r, -ENOMEM, "cannot attest");
		return;
	}
	at->r = r;
	snprintf(at->tenant, sizeof(at->tenant), "%s", vm->spec.tenant);
	memcpy(at->measurement, vm->measurement, sizeof(at->measurement));
	int err = attest_request(vm->chan, nonce, on_attested, at);
	if (err < 0) {
		free(at);
		api_reply_errno(r, err, "cannot attest");
		return;
	}
	api_suspend(r);
}
