#include "package.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Reads exactly n bytes at off. Returns 0 or -EIO. */
static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		got += (size_t)r;
	}
	return 0;
}

/* Reads the zip's central directory into *ret_cd (malloc'd) and indexes it
 * in ret_zip. Returns 0, -EINVAL with why, -ENOMEM or -EIO. */
static int zip_load(int fd, uint64_t size, uint8_t **ret_cd, struct fnpkg_zip *ret_zip, char *why,
		    size_t why_size)
{
	size_t tail_len = size < FNPKG_ZIP_TAIL_MAX ? (size_t)size : FNPKG_ZIP_TAIL_MAX;
	uint8_t *tail = malloc(tail_len ? tail_len : 1);
	if (!tail)
		return -ENOMEM;
	struct fnpkg_zip_loc loc;
	int r = read_at(fd, tail, tail_len, size - tail_len);
	if (r == 0)
		r = fnpkg_zip_locate(tail, tail_len, size, &loc, why, why_size);
	free(tail);
	if (r < 0)
		return r;
	uint8_t *cd = malloc(loc.cd_size ? loc.cd_size : 1);
	if (!cd)
		return -ENOMEM;
	r = read_at(fd, cd, loc.cd_size, loc.cd_offset);
	if (r == 0)
		r = fnpkg_zip_index(cd, loc.cd_size, &loc, ret_zip, why, why_size);
	if (r < 0) {
		free(cd);
		return r;
	}
	*ret_cd = cd;
	return 0;
}

int package_check(int fd, uint64_t size, enum fn_runtime *rt, const char *handler,
		  char ret_handler[FNPKG_HANDLER_SIZE], char *why, size_t why_size)
{
	uint8_t head[FNPKG_HEAD_SIZE];
	size_t head_len = size < sizeof(head) ? (size_t)size : sizeof(head);
	int r = read_at(fd, head, head_len, 0);
	if (r < 0)
		return r;
	uint8_t *cd = NULL;
	struct fnpkg_zip zip;
	bool is_zip = fnpkg_is_zip(head, head_len);
	/* A zip's bytes matter only to the runtimes that load handlers from
	 * it (or to inference); binary and shell refuse any zip by its head. */
	if (is_zip && (*rt == FN_RUNTIME_UNKNOWN || fn_runtime_has_handler(*rt))) {
		r = zip_load(fd, size, &cd, &zip, why, why_size);
		if (r < 0)
			return r;
	}
	r = fnpkg_check_artifact(head, head_len, cd ? &zip : NULL, rt, handler, ret_handler, why,
				 why_size);
	free(cd);
	return r;
}
