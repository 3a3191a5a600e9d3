#include "artifacts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"

int artifacts_init(struct artifacts *a, const char *dir, size_t max_size)
{
	if (strlen(dir) >= sizeof(a->dir))
		return -ENAMETOOLONG;
	strcpy(a->dir, dir);
	a->max_size = max_size;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

bool artifacts_digest_is_valid(const char *digest)
{
	return digest && strlen(digest) == 64 && strspn(digest, "0123456789abcdef") == 64;
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
	if (artifacts_has(a, digest))
		return 0;

	char path[PATH_MAX + 80], tmp[PATH_MAX + 96];
	path_of(a, digest, path, sizeof(path));
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
	return 0;
}

bool artifacts_has(const struct artifacts *a, const char *digest)
{
	if (!artifacts_digest_is_valid(digest))
		return false;
	char path[PATH_MAX + 80];
	path_of(a, digest, path, sizeof(path));
	return access(path, R_OK) == 0;
}

int artifacts_get(const struct artifacts *a, const char *digest, void **ret, size_t *ret_len)
{
	if (!artifacts_digest_is_valid(digest))
		return -EINVAL;
	char path[PATH_MAX + 80];
	path_of(a, digest, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
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
