#include "artifacts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "encoding.h"
#include "sha256.h"

int artifacts_init(struct artifacts *a, const char *dir, size_t max_size)
{
	if (strlen(dir) >= sizeof(a->dir))
		return -ENAMETOOLONG;
	strcpy(a->dir, dir);
	a->max_size = max_size;
	a->n_known = 0;
	memset(a->known, 0, sizeof(a->known));
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

bool artifacts_digest_is_valid(const char *digest)
{
	return digest && strlen(digest) == 64 && strspn(digest, "0123456789abcdef") == 64;
}

/* A free slot of the known set. */
static const unsigned char zero_key[32];

/* Where key's probe starts (a SHA-256's bytes are evenly spread). */
static size_t home_of(const unsigned char key[32])
{
	return ((size_t)key[0] | (size_t)key[1] << 8) % ARTIFACTS_KNOWN_SLOTS;
}

/* The slot of key in the known set, or the free slot where it would go.
 * The set is never full (see remember), so the probe ends. */
static size_t known_slot(const struct artifacts *a, const unsigned char key[32])
{
	size_t i = home_of(key);
	while (memcmp(a->known[i], key, 32) != 0 && memcmp(a->known[i], zero_key, 32) != 0)
		i = (i + 1) % ARTIFACTS_KNOWN_SLOTS;
	return i;
}

static bool digest_key(const char *digest, unsigned char key[32])
{
	/* The all-zero digest marks free slots: it is never remembered. */
	return artifacts_digest_is_valid(digest) && hex_to_bytes(digest, key, 32) == 0 &&
	       memcmp(key, zero_key, 32) != 0;
}

static void remember(struct artifacts *a, const char *digest)
{
	unsigned char key[32];
	/* Kept at most three quarters full, so probes stay short. */
	if (!digest_key(digest, key) || a->n_known >= ARTIFACTS_KNOWN_SLOTS / 4 * 3)
		return;
	size_t i = known_slot(a, key);
	if (memcmp(a->known[i], key, 32) != 0) {
		memcpy(a->known[i], key, 32);
		a->n_known++;
	}
}

static bool is_known(const struct artifacts *a, const char *digest)
{
	unsigned char key[32];
	return digest_key(digest, key) && memcmp(a->known[known_slot(a, key)], key, 32) == 0;
}

void artifacts_forget(struct artifacts *a, const char *digest)
{
	unsigned char key[32];
	if (!digest_key(digest, key))
		return;
	size_t i = known_slot(a, key);
	if (memcmp(a->known[i], key, 32) != 0)
		return;
	/* Linear probing without tombstones: shift back each later entry of
	 * the run that could sit in the freed slot. */
	memset(a->known[i], 0, 32);
	a->n_known--;
	size_t j = i;
	for (;;) {
		j = (j + 1) % ARTIFACTS_KNOWN_SLOTS;
		if (memcmp(a->known[j], zero_key, 32) == 0)
			return;
		size_t home = home_of(a->known[j]);
		/* Entry j may move to i when home is not cyclically in (i, j]. */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			memcpy(a->known[i], a->known[j], 32);
			memset(a->known[j], 0, 32);
			i = j;
		}
	}
}

static void path_of(const struct artifacts *a, const char *digest, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", a->dir, digest);
}

int artifacts_put(struct artifacts *a, const char *digest, const void *data, size_t len)
{
	if (!artifacts_digest_is_valid(digest))
		return -EINVAL;
	if (len > a->max_size)
		return -EFBIG;
	char hex[65];
	sha256_hex(data, len, hex);
	if (strcmp(hex, digest) != 0)
		return -EBADMSG;
	char path[PATH_MAX + 80], tmp[PATH_MAX + 96];
	path_of(a, digest, path, sizeof(path));
	/* The file itself, not memory: a put after its file went writes it again. */
	if (access(path, R_OK) == 0) {
		remember(a, digest);
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			close(fd);
			unlink(tmp);
			return r;
		}
		p += n;
		left -= (size_t)n;
	}
	/* Rename only complete files, so a crash never leaves a partial
	 * artifact under its digest. */
	if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
		int r = -errno;
		unlink(tmp);
		return r;
	}
	remember(a, digest);
	return 0;
}

bool artifacts_has(struct artifacts *a, const char *digest)
{
	if (!artifacts_digest_is_valid(digest))
		return false;
	if (is_known(a, digest))
		return true;
	char path[PATH_MAX + 80];
	path_of(a, digest, path, sizeof(path));
	if (access(path, R_OK) < 0)
		return false;
	remember(a, digest);
	return true;
}

int artifacts_get(struct artifacts *a, const char *digest, void **ret, size_t *ret_len)
{
	if (!artifacts_digest_is_valid(digest))
		return -EINVAL;
	char path[PATH_MAX + 80];
	path_of(a, digest, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;
		if (r == -ENOENT)
			artifacts_forget(a, digest);
		return r;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	size_t len = (size_t)st.st_size;
	char *buf = malloc(len ? len : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			int r = n < 0 ? -errno : -EIO;
			free(buf);
			close(fd);
			return r;
		}
		got += (size_t)n;
	}
	close(fd);
	*ret = buf;
	*ret_len = len;
	return 0;
}
