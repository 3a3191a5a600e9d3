/* The guest's attestation evidence: the SEV guest request it builds and the
 * firmware answer it parses (around a real report), the certificate table's
 * extent, and WIRE_ATTEST through the daemon where there is no
 * /dev/sev-guest (evidence of type none) or a device that refuses. */
#include "support/guest_harness.h"

#include "sev_guest.h"
#include "e2e.h"
#include "snp_verify.h"
#include "util.h"

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_report_request(void **state)
{
	uint8_t rd[ATTEST_REPORT_DATA_SIZE];
	for (size_t i = 0; i < sizeof(rd); i++)
		rd[i] = (uint8_t)(0xa0 + i);
	struct snp_report_req req;
	memset(&req, 0xff, sizeof(req));
	attest_report_req(rd, &req);
	assert_memory_equal(req.user_data, rd, sizeof(rd));
	assert_int_equal(req.vmpl, 0);
	for (size_t i = 0; i < sizeof(req.rsvd); i++)
		assert_int_equal(req.rsvd[i], 0);
}

static void test_report_response(void **state)
{
	size_t report_len;
	uint8_t *report = guest_test_report(&report_len);
	assert_int_equal(report_len, SNP_REPORT_SIZE);
	struct snp_report_resp resp = { 0 };
	put_le32(resp.data + 4, (uint32_t)report_len);
	memcpy(resp.data + ATTEST_RESP_HEADER, report, report_len);

	const uint8_t *got;
	size_t got_len;
	uint32_t status = 99;
	assert_int_equal(attest_parse_resp(resp.data, sizeof(resp.data), &got, &got_len, &status),
			 0);
	assert_int_equal(status, 0);
	assert_ptr_equal(got, resp.data + ATTEST_RESP_HEADER);
	assert_int_equal(got_len, SNP_REPORT_SIZE);
	assert_memory_equal(got, report, report_len);
	/* The report's own REPORT_DATA is where the verifier looks for ours. */
	assert_int_equal(got[0], 2); /* version 2 */

	/* A firmware error: its status is reported. */
	put_le32(resp.data, 0x16);
	assert_int_equal(attest_parse_resp(resp.data, sizeof(resp.data), &got, &got_len, &status),
			 -EIO);
	assert_int_equal(status, 0x16);
	put_le32(resp.data, 0);
	/* Sizes below a report, or beyond the answer. */
	put_le32(resp.data + 4, SNP_REPORT_SIZE - 1);
	assert_int_equal(attest_parse_resp(resp.data, sizeof(resp.data), &got, &got_len, &status),
			 -EBADMSG);
	put_le32(resp.data + 4, sizeof(resp.data) - ATTEST_RESP_HEADER + 1);
	assert_int_equal(attest_parse_resp(resp.data, sizeof(resp.data), &got, &got_len, &status),
			 -EBADMSG);
	/* A longer report of a later version fits. */
	put_le32(resp.data + 4, SNP_REPORT_SIZE + 64);
	assert_int_equal(attest_parse_resp(resp.data, sizeof(resp.data), &got, &got_len, &status),
			 0);
	assert_int_equal(got_len, SNP_REPORT_SIZE + 64);
	assert_int_equal(
		attest_parse_resp(resp.data, ATTEST_RESP_HEADER - 1, &got, &got_len, &status),
		-EBADMSG);
	free(report);
}

/* Writes table entry i: a GUID of its index, offset, length. */
static void cert_entry(uint8_t *table, size_t i, uint32_t off, uint32_t len)
{
	memset(table + 24 * i, (int)(i + 1), 16);
	put_le32(table + 24 * i + 16, off);
	put_le32(table + 24 * i + 20, len);
}

static void test_certs_len(void **state)
{
	static uint8_t table[ATTEST_CERTS_SIZE];
	memset(table, 0, sizeof(table));
	assert_int_equal(attest_certs_len(table, sizeof(table)), 0);
	/* Three entries (VCEK, ASK, ARK) and the terminator, then the blobs. */
	cert_entry(table, 0, 96, 1300);
	cert_entry(table, 1, 96 + 1300, 1600);
	cert_entry(table, 2, 96 + 2900, 1500);
	assert_int_equal(attest_certs_len(table, sizeof(table)), 96 + 2900 + 1500);
	/* A certificate past the buffer: all of it goes on. */
	cert_entry(table, 1, 16000, 1000);
	assert_int_equal(attest_certs_len(table, sizeof(table)), sizeof(table));
	/* No terminator within the buffer. */
	assert_int_equal(attest_certs_len(table, 48), 48);
}

/* ---- WIRE_ATTEST through the daemon -------------------------------- */

static void attest(struct peer *p, const char *nonce, struct guest_msg *ret)
{
	char meta[256];
	snprintf(meta, sizeof(meta), "{\"nonce\":\"%s\"}", nonce);
	peer_call(p, WIRE_ATTEST, meta, NULL, 0, WIRE_REPLY, ret);
}

static void test_attest_none(void **state)
{
	struct peer *p = *state;
	struct guest_msg m, again;
	attest(p, "00", &m);
	assert_string_equal(guest_msg_str(&m, "type"), "none");
	const char *key = guest_msg_str(&m, "public_key");
	assert_int_equal(strlen(key), 2 * E2E_KEY_SIZE);
	assert_int_equal(strspn(key, "0123456789abcdef"), 2 * E2E_KEY_SIZE);
	assert_null(json_object_get(m.meta, "report_len"));
	assert_int_equal(m.body_len, 0);
	/* The key lives as long as the daemon, whatever the nonce. */
	char nonce[129];
	memset(nonce, 'f', 128);
	nonce[128] = '\0';
	attest(p, nonce, &again);
	assert_string_equal(guest_msg_str(&again, "public_key"), key);
	guest_msg_free(&again);
	guest_msg_free(&m);
}

static void test_attest_bad_nonce(void **state)
{
	struct peer *p = *state;
	char long_nonce[131], meta[200];
	memset(long_nonce, '0', 130); /* 65 bytes */
	long_nonce[130] = '\0';
	snprintf(meta, sizeof(meta), "{\"nonce\":\"%s\"}", long_nonce);
	const char *const bad[] = {
		meta,
		"{}",
		"{\"nonce\":\"\"}",
		"{\"nonce\":\"abc\"}",
		"{\"nonce\":\"zz\"}",
		"{\"nonce\":12}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		peer_expect_error(p, WIRE_ATTEST, bad[i], NULL, 0, "bad_request");
	peer_ping(p);
}

static void test_attest_device_refuses(void **state)
{
	struct peer *p = *state;
	/* Something that is there but is no SEV guest device: the ioctls
	 * fail, and the agent hears why. */
	guest_write_file(p->sev, "not a device\n");
	struct guest_msg m;
	peer_call(p, WIRE_ATTEST, "{\"nonce\":\"0123\"}", NULL, 0, WIRE_ERROR, &m);
	assert_string_equal(guest_msg_str(&m, "code"), "attest_failed");
	assert_non_null(strstr(guest_msg_str(&m, "message"), "SNP_GET_REPORT failed"));
	guest_msg_free(&m);
	unlink(p->sev);
}

#define GUEST_TEST(f) cmocka_unit_test_setup_teardown(f, peer_setup, peer_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_request), cmocka_unit_test(test_report_response),
		cmocka_unit_test(test_certs_len),      GUEST_TEST(test_attest_none),
		GUEST_TEST(test_attest_bad_nonce),     GUEST_TEST(test_attest_device_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
