#include "artifact.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"
#include "util.h"

int artifact_store_open(const char *dir, struct artifact_store *ret)
{
	int r = mkdir_parents(dir, 0755);
	if (r < 0)
		return r;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char *copy = strdup(dir);
	if (!copy) {
		close(fd);
		return -ENOMEM;
	}
	*ret = (struct artifact_store){ .dir = copy, .dirfd = fd };
	return 0;
}

void artifact_store_close(struct artifact_store *s)
{
	if (s->dir && s->dirfd >= 0)
		close(s->dirfd);
	free(s->dir);
	*s = (struct artifact_store){ .dirfd = -1 };
}

bool artifact_digest_is_valid(const char *digest)
{
	for (size_t i = 0; i < ARTIFACT_DIGEST_LEN; i++) {
		char c = digest[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return digest[ARTIFACT_DIGEST_LEN] == '\0';
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int artifact_put(const struct artifact_store *s, const char *digest, const void *data, size_t len)
{
	if (!artifact_digest_is_valid(digest))
		return -EINVAL;
	char got[SHA256_HEX_SIZE];
	sha256_hex(data, len, got);
	if (strcmp(got, digest) != 0)
		return -EBADMSG;
	return artifact_write(s, digest, data, len, 0755);
}

int artifact_write(const struct artifact_store *s, const char *digest, const void *data, size_t len,
		   unsigned mode)
{
	if (!artifact_digest_is_valid(digest))
		return -EINVAL;
	char tmp[ARTIFACT_DIGEST_LEN + 32];
	snprintf(tmp, sizeof(tmp), ".tmp-%s-%d", digest, (int)getpid());
	/* A temporary file left by a crash under the same pid is stale. */
	unlinkat(s->dirfd, tmp, 0);
	int fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	if (fd < 0)
		return -errno;
	int r = write_all(fd, data, len);
	/* fchmod, not the open mode, so the umask cannot strip the x bits. */
	if (r == 0 && fchmod(fd, (mode_t)mode) < 0)
		r = -errno;
	/* The file must be closed before anything executes it, or exec fails
	 * with ETXTBSY. */
	if (close(fd) < 0 && r == 0 && errno != EINTR)
		r = -errno;
	if (r == 0 && renameat(s->dirfd, tmp, s->dirfd, digest) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(s->dirfd, tmp, 0);
	return r;
}

bool artifact_has(const struct artifact_store *s, const char *digest)
{
	struct stat st;
	return artifact_digest_is_valid(digest) && fstatat(s->dirfd, digest, &st, 0) == 0 &&
	       S_ISREG(st.st_mode);
}

int artifact_path(const struct artifact_store *s, const char *digest, char *out, size_t size)
{
	if (!artifact_digest_is_valid(digest))
		return -EINVAL;
	int n = snprintf(out, size, "%s/%s", s->dir, digest);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int artifact_count(const struct artifact_store *s)
{
	int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int r = -errno;
		close(fd);
		return r;
	}
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (artifact_digest_is_valid(de->d_name))
			n++;
	closedir(d);
	return n;
}
