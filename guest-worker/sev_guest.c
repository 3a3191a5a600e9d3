#include "sev_guest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "snp_verify.h"

#define CERT_ENTRY_SIZE 24 /* GUID[16], offset u32, length u32 */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void attest_report_req(const uint8_t report_data[ATTEST_REPORT_DATA_SIZE],
		       struct snp_report_req *ret)
{
	memset(ret, 0, sizeof(*ret));
	memcpy(ret->user_data, report_data, ATTEST_REPORT_DATA_SIZE);
	ret->vmpl = 0;
}

int attest_parse_resp(const uint8_t *data, size_t len, const uint8_t **ret_report, size_t *ret_len,
		      uint32_t *ret_status)
{
	if (len < ATTEST_RESP_HEADER)
		return -EBADMSG;
	*ret_status = le32(data);
	if (*ret_status != 0)
		return -EIO;
	uint32_t size = le32(data + 4);
	if (size < SNP_REPORT_SIZE || size > len - ATTEST_RESP_HEADER)
		return -EBADMSG;
	*ret_report = data + ATTEST_RESP_HEADER;
	*ret_len = size;
	return 0;
}

size_t attest_certs_len(const uint8_t *table, size_t len)
{
	static const uint8_t zero[CERT_ENTRY_SIZE];
	size_t end = 0;
	for (size_t off = 0; off + CERT_ENTRY_SIZE <= len; off += CERT_ENTRY_SIZE) {
		const uint8_t *e = table + off;
		if (memcmp(e, zero, CERT_ENTRY_SIZE) == 0) {
			/* The terminator belongs to a table that has entries. */
			if (off == 0)
				return 0;
			return end > off + CERT_ENTRY_SIZE ? end : off + CERT_ENTRY_SIZE;
		}
		uint64_t stop = (uint64_t)le32(e + 16) + le32(e + 20);
		if (stop > len)
			return len;
		if (stop > end)
			end = (size_t)stop;
	}
	return len; /* no terminator */
}

/* One guest request; fills err on failure. */
static int guest_request(int fd, unsigned long cmd, const char *name, void *req,
			 struct snp_report_resp *resp, char *err, size_t err_size)
{
	struct snp_guest_request_ioctl io = {
		.msg_version = 1,
		.req_data = (uint64_t)(uintptr_t)req,
		.resp_data = (uint64_t)(uintptr_t)resp,
	};
	if (ioctl(fd, cmd, &io) == 0)
		return 0;
	int e = -errno;
	snprintf(err, err_size, "%s failed: %s (firmware error 0x%x, host error 0x%x)", name,
		 strerror(-e), io.fw_error, io.vmm_error);
	return e;
}

/* SNP_GET_EXT_REPORT into resp and a fresh certificate buffer (*ret_certs,
 * freed by the caller). */
static int ext_report(int fd, const struct snp_report_req *req, struct snp_report_resp *resp,
		      uint8_t **ret_certs, char *err, size_t err_size)
{
	uint8_t *certs = aligned_alloc(4096, ATTEST_CERTS_SIZE);
	if (!certs)
		return -ENOMEM;
	memset(certs, 0, ATTEST_CERTS_SIZE);
	struct snp_ext_report_req ext = {
		.data = *req,
		.certs_address = (uint64_t)(uintptr_t)certs,
		.certs_len = ATTEST_CERTS_SIZE,
	};
	int r = guest_request(fd, SNP_GET_EXT_REPORT, "SNP_GET_EXT_REPORT", &ext, resp, err,
			      err_size);
	if (r < 0)
		free(certs);
	else
		*ret_certs = certs;
	return r;
}

/* Copies the report and the used part of the certificate table out. */
static int evidence_fill(const struct snp_report_resp *resp, uint8_t *certs,
			 struct attest_evidence *ret, char *err, size_t err_size)
{
	const uint8_t *report;
	size_t len;
	uint32_t status = 0;
	int r = attest_parse_resp(resp->data, sizeof(resp->data), &report, &len, &status);
	if (r == -EIO) {
		snprintf(err, err_size, "the firmware answered status 0x%x", status);
		return r;
	}
	if (r < 0) {
		snprintf(err, err_size, "the firmware's answer has a bad report size");
		return r;
	}
	*ret = (struct attest_evidence){ .snp = true, .report = malloc(len), .report_len = len };
	if (!ret->report)
		return -ENOMEM;
	memcpy(ret->report, report, len);
	size_t n = certs ? attest_certs_len(certs, ATTEST_CERTS_SIZE) : 0;
	if (n) {
		ret->certs = malloc(n);
		if (!ret->certs) {
			attest_evidence_free(ret);
			return -ENOMEM;
		}
		memcpy(ret->certs, certs, n);
		ret->certs_len = n;
	}
	return 0;
}

int attest_get(const char *path, const uint8_t report_data[ATTEST_REPORT_DATA_SIZE],
	       struct attest_evidence *ret, char *err, size_t err_size)
{
	*ret = (struct attest_evidence){ 0 };
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		int e = -errno;
		snprintf(err, err_size, "cannot open %s: %s", path, strerror(-e));
		return e;
	}
	struct snp_report_req req;
	attest_report_req(report_data, &req);
	struct snp_report_resp *resp = calloc(1, sizeof(*resp));
	uint8_t *certs = NULL;
	int r = resp ? ext_report(fd, &req, resp, &certs, err, err_size) : -ENOMEM;
	/* A host without certificates for its guests (or an older kernel)
	 * refuses the extended request: the plain report still attests. */
	if (r < 0 && r != -ENOMEM)
		r = guest_request(fd, SNP_GET_REPORT, "SNP_GET_REPORT", &req, resp, err, err_size);
	if (r == 0)
		r = evidence_fill(resp, certs, ret, err, err_size);
	if (r == -ENOMEM)
		snprintf(err, err_size, "out of memory");
	free(certs);
	free(resp);
	close(fd);
	return r;
}

void attest_evidence_free(struct attest_evidence *e)
{
	free(e->report);
	free(e->certs);
	*e = (struct attest_evidence){ 0 };
}
