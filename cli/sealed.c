/* The tenant secret, the checks of the controller's attestation answer, and
 * the small pieces of the scheme the commands need; see sealed.h. */
#include "sealed.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "encoding.h"
#include "snp_verify.h"
#include "util.h"

int sealed_secret_path(const char *file, const char *tenant, char *out, size_t size)
{
	const char *env = getenv("DITTO_E2E_KEY");
	const char *home = getenv("HOME");
	int n;
	if (file && *file)
		n = snprintf(out, size, "%s", file);
	else if (env && *env)
		n = snprintf(out, size, "%s", env);
	else if (!tenant || !*tenant || !home || !*home)
		return -ENOKEY;
	else if (strlen(tenant) > 63 ||
		 tenant[strspn(tenant, "abcdefghijklmnopqrstuvwxyz0123456789-")])
		return -EINVAL; /* not a tenant name: no file name either */
	else
		n = snprintf(out, size, "%s/.config/ditto/%s.e2e-key", home, tenant);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int sealed_secret_read(const char *path, uint8_t ret[E2E_KEY_SIZE])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	char text[2 * E2E_KEY_SIZE + 3];
	ssize_t n = -1;
	int r = 0;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (st.st_mode & 077)
		r = -EPERM;
	else if ((n = read(fd, text, sizeof(text) - 1)) < 0)
		r = -errno;
	close(fd);
	if (r < 0 || n < 0)
		return r < 0 ? r : -EIO;
	size_t len = (size_t)n;
	text[len] = '\0';
	if (len > 0 && text[len - 1] == '\n')
		text[--len] = '\0';
	uint8_t key[E2E_KEY_SIZE];
	if (hex_to_bytes(text, key, sizeof(key)) < 0)
		return -EBADMSG;
	memcpy(ret, key, sizeof(key));
	return 0;
}

int sealed_random(uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0 && errno != EINTR)
			return -errno;
		if (got > 0) {
			p += got;
			n -= (size_t)got;
		}
	}
	return 0;
}

int sealed_secret_create(const char *path, uint8_t ret[E2E_KEY_SIZE])
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		int r = mkdir_parents(dir, 0700);
		if (r < 0)
			return r;
	}
	uint8_t key[E2E_KEY_SIZE];
	char text[2 * E2E_KEY_SIZE + 2];
	int r = sealed_random(key, sizeof(key));
	if (r < 0)
		return r;
	bytes_to_hex(key, sizeof(key), text);
	strcat(text, "\n");
	/* O_EXCL: two first deploys racing must not end with two secrets. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	r = n == (ssize_t)strlen(text) ? 0 : n < 0 ? -errno : -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		unlink(path);
		return r;
	}
	memcpy(ret, key, sizeof(key));
	return 0;
}

int sealed_part_key(const uint8_t *part, size_t len, uint8_t ret[E2E_KEY_SIZE])
{
	if (len < E2E_RESPONSE_OVERHEAD || memcmp(part, "DTOS", 4) != 0)
		return -EBADMSG;
	memcpy(ret, part + 8, E2E_KEY_SIZE);
	return 0;
}

/* Verifies the report here too when the host passed its certificate table:
 * the signature with the VCEK (or VLEK) in it, that key's chain to AMD's
 * pinned root, REPORT_DATA and the measurement, so a controller that says
 * ok for a report that is not is caught. */
static int local_verify(const uint8_t *report, size_t len, const struct snp_report *rep,
			const char *certs64, const uint8_t *want, const uint8_t *meas,
			const uint8_t *host_data, const char *name, char *err, size_t err_len)
{
	uint8_t *certs = NULL;
	size_t certs_len = 0, cert_len = 0;
	const uint8_t *cert = NULL;
	const char *guid = rep->signer == SNP_SIGNER_VLEK ? SNP_CERT_GUID_VLEK : SNP_CERT_GUID_VCEK;
	if (base64_decode(certs64, strlen(certs64), &certs, &certs_len) < 0 ||
	    snp_cert_table_find(certs, certs_len, guid, &cert, &cert_len) < 0) {
		free(certs);
		snprintf(err, err_len, "VM %s: its certificate table holds no usable %s", name,
			 rep->signer == SNP_SIGNER_VLEK ? "VLEK" : "VCEK");
		return -EBADMSG;
	}
	struct snp_verify_opts o = {
		.cert = cert,
		.cert_len = cert_len,
		.measurement = meas,
		.report_data = want,
		.host_data = host_data,
	};
	struct snp_verify_result *res = calloc(1, sizeof(*res));
	int r = res ? snp_verify(report, len, &o, res) : -ENOMEM;
	if (r == -EACCES)
		snprintf(err, err_len, "VM %s: its report does not verify here (%s: %s)", name,
			 snp_verify_code(res->err), res->message);
	else if (r < 0)
		snprintf(err, err_len, "VM %s: cannot verify its report: %s", name, strerror(-r));
	free(res);
	free(certs);
	return r < 0 ? -EACCES : 0;
}

/* Checks the report of a sev-snp VM: present, its REPORT_DATA binds the
 * key to the nonce, its HOST_DATA is the one wanted, its MEASUREMENT is the
 * one expected, the controller verified it, and, with the host's
 * certificates, it verifies here too. Returns 0 or -EACCES/-EBADMSG with
 * err set. */
static int snp_evidence_check(const json_t *vm, const char *name, const struct sealed_expect *x,
			      const uint8_t pub[E2E_KEY_SIZE], char *err, size_t err_len)
{
	const char *b64 = field_str(vm, "report"), *meas = field_str(vm, "measurement");
	const char *certs = field_str(vm, "certs");
	const json_t *v = json_object_get(vm, "verified");
	uint8_t *report = NULL, want[SNP_REPORT_DATA_SIZE], m[SNP_MEASUREMENT_SIZE];
	size_t len = 0;
	struct snp_report rep;
	int r = -EACCES;
	if (!b64 || base64_decode(b64, strlen(b64), &report, &len) < 0 ||
	    snp_report_parse(report, len, &rep) < 0) {
		snprintf(err, err_len, "VM %s: no usable SEV-SNP report in its evidence", name);
		r = -EBADMSG;
		goto out;
	}
	e2e_report_data(x->nonce, x->nonce_len, pub, want);
	if (memcmp(rep.report_data, want, sizeof(want)) != 0) {
		snprintf(err, err_len,
			 "VM %s: the report's REPORT_DATA does not bind its key to this nonce",
			 name);
		goto out;
	}
	if (x->host_data && memcmp(rep.host_data, x->host_data, SNP_HOST_DATA_SIZE) != 0) {
		snprintf(err, err_len,
			 "VM %s: the report's HOST_DATA is not the commitment to this tenant "
			 "secret (host_data_mismatch): the VM was not launched for it",
			 name);
		goto out;
	}
	if (!meas || hex_to_bytes(meas, m, sizeof(m)) < 0 ||
	    memcmp(rep.measurement, m, sizeof(m)) != 0) {
		snprintf(err, err_len, "VM %s: the report's measurement is not the expected one",
			 name);
		goto out;
	}
	if (!json_is_true(json_object_get(v, "ok"))) {
		snprintf(err, err_len, "VM %s: evidence not verified (%s: %s)", name,
			 or_dash(field_str(v, "code")), or_dash(field_str(v, "message")));
		goto out;
	}
	r = certs ? local_verify(report, len, &rep, certs, want, m, x->host_data, name, err,
				 err_len)
		  : 0;
out:
	free(report);
	return r;
}

/* Checks one VM's entry and adds its key to ret. */
static int vm_check(const json_t *vm, const struct sealed_expect *x, bool require,
		    struct sealed_keys *ret, char *err, size_t err_len)
{
	const char *name = or_dash(field_str(vm, "vm")), *type = field_str(vm, "type");
	const char *pub = field_str(vm, "public_key");
	uint8_t key[E2E_KEY_SIZE];
	if (!pub || hex_to_bytes(pub, key, sizeof(key)) < 0) {
		snprintf(err, err_len, "VM %s: its public key is not 64 hex digits", name);
		return -EBADMSG;
	}
	if (type && strcmp(type, "none") == 0) {
		if (require) {
			snprintf(err, err_len,
				 "VM %s: evidence type none (no SEV-SNP hardware), and attestation "
				 "is required",
				 name);
			return -EACCES;
		}
		ret->none++;
	} else if (type && strcmp(type, "sev-snp") == 0) {
		int r = snp_evidence_check(vm, name, x, key, err, err_len);
		if (r < 0)
			return r;
	} else {
		snprintf(err, err_len, "VM %s: unknown evidence type \"%s\"", name, or_dash(type));
		return -EBADMSG;
	}
	memcpy(ret->pub[ret->n++], key, sizeof(key));
	return 0;
}

int sealed_keys_check(const json_t *att, const struct sealed_expect *want, struct sealed_keys *ret,
		      char *err, size_t err_len)
{
	char hex[2 * 64 + 1];
	uint8_t got[64];
	size_t nonce_len = want->nonce_len;
	const char *n = field_str(att, "nonce");
	if (nonce_len > 64 || !n || strlen(n) != 2 * nonce_len ||
	    hex_to_bytes(n, got, nonce_len) < 0 || memcmp(got, want->nonce, nonce_len) != 0) {
		bytes_to_hex(want->nonce, nonce_len > 64 ? 64 : nonce_len, hex);
		snprintf(err, err_len, "the attestation answer is not for nonce %s", hex);
		return -EBADMSG;
	}
	const char *a = field_str(att, "attestation");
	bool require = want->require || (a && strcmp(a, "required") == 0);
	const json_t *vms = json_object_get(att, "vms");
	if (json_array_size(vms) == 0) {
		snprintf(err, err_len, "the tenant has no VM to attest");
		return -ENOENT;
	}
	if (json_array_size(vms) > E2E_MAX_RECIPIENTS) {
		snprintf(err, err_len, "the tenant has more than %d VMs", E2E_MAX_RECIPIENTS);
		return -EBADMSG;
	}
	struct sealed_keys keys = { 0 };
	size_t i;
	const json_t *vm;
	json_array_foreach(vms, i, vm)
	{
		int r = vm_check(vm, want, require, &keys, err, err_len);
		if (r < 0)
			return r;
	}
	*ret = keys;
	return 0;
}
