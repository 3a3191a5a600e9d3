#include "vm_attest.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "guest_chan.h"

struct attest_call {
	attest_done_fn cb;
	void *data;
};

bool attest_nonce_is_valid(const char *hex)
{
	uint8_t nonce[ATTEST_NONCE_MAX];
	size_t n = hex ? strlen(hex) : 0;
	return n >= 2 && n <= 2 * ATTEST_NONCE_MAX && n % 2 == 0 &&
	       hex_to_bytes(hex, nonce, n / 2) == 0;
}

/* base64 of p[0..n), or JSON null when n is 0. */
static json_t *base64_or_null(const uint8_t *p, size_t n)
{
	if (n == 0)
		return json_null();
	char *s = base64_encode(p, n);
	json_t *j = s ? json_string(s) : NULL;
	free(s);
	return j;
}

int attest_evidence_json(json_t *meta, const uint8_t *body, size_t body_len, json_t **ret)
{
	const char *type = json_string_value(json_object_get(meta, "type"));
	const char *key = json_string_value(json_object_get(meta, "public_key"));
	bool snp = type && strcmp(type, "sev-snp") == 0;
	uint8_t pub[32];
	if (!type || (!snp && strcmp(type, "none") != 0) || hex_to_bytes(key, pub, sizeof(pub)) < 0)
		return -EBADMSG;
	size_t report_len = snp ? body_len : 0;
	json_t *rl = json_object_get(meta, "report_len");
	if (snp && rl) {
		if (!json_is_integer(rl) || json_integer_value(rl) <= 0 ||
		    (uint64_t)json_integer_value(rl) > body_len)
			return -EBADMSG;
		report_len = (size_t)json_integer_value(rl);
	}
	if (snp && report_len == 0)
		return -EBADMSG;
	json_t *o = json_pack("{s:s, s:s, s:o*, s:o*}", "type", type, "public_key", key, "report",
			      base64_or_null(body, report_len), "certs",
			      base64_or_null(body + report_len, snp ? body_len - report_len : 0));
	if (!o)
		return -ENOMEM;
	*ret = o;
	return 0;
}

static void on_reply(struct guest_chan *ch, int status, const struct wire_frame *f, json_t *meta,
		     void *data)
{
	struct attest_call *c = data;
	json_t *evidence = NULL;
	if (status == 0)
		status = attest_evidence_json(meta, f->body, f->hdr.body_len, &evidence);
	c->cb(status, evidence, status == -EREMOTEIO ? meta : NULL, c->data);
	json_decref(evidence);
	free(c);
}

int attest_request(struct guest_chan *ch, const char *nonce, attest_done_fn cb, void *data)
{
	if (!attest_nonce_is_valid(nonce))
		return -EINVAL;
	struct attest_call *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct attest_call){ .cb = cb, .data = data };
	char lower[2 * ATTEST_NONCE_MAX + 1];
	size_t n = strlen(nonce);
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)tolower((unsigned char)nonce[i]);
	int r = guest_chan_request(ch, WIRE_ATTEST, json_pack("{s:s}", "nonce", lower), NULL, 0,
				   ATTEST_TIMEOUT_MS, on_reply, c);
	if (r < 0)
		free(c);
	return r;
}
