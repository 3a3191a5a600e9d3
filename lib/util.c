#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t time_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t time_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	char *text;
	int n = vasprintf(&text, fmt, ap);
	if (n < 0)
		return -ENOMEM;
	int r = buf_append(b, text, (size_t)n);
	free(text);
	return r;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

int array_reserve(void *items, size_t *cap, size_t n, size_t size, size_t initial)
{
	if (n <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : (initial ? initial : 1);
	while (ncap < n)
		ncap = ncap > SIZE_MAX / 2 ? n : ncap * 2;
	if (size == 0 || ncap > SIZE_MAX / size)
		return -ENOMEM;
	/* The pointer is read and written as bytes, so that an array of any
	 * element type goes through one void *. */
	void *p;
	memcpy(&p, items, sizeof(p));
	p = realloc(p, ncap * size);
	if (!p)
		return -ENOMEM;
	memcpy(items, &p, sizeof(p));
	*cap = ncap;
	return 0;
}

int buf_reserve(struct buf *b, size_t n)
{
	if (n > SIZE_MAX - b->len)
		return -ENOMEM;
	return array_reserve(&b->data, &b->cap, b->len + n, 1, 256);
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	int r = buf_reserve(b, n);
	if (r < 0)
		return r;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void buf_drop_front(struct buf *b, size_t n)
{
	if (n > b->len)
		n = b->len;
	if (n == 0)
		return;
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	*b = (struct buf){ 0 };
}

/* The magnitude of a string of decimal digits, -EINVAL when s is empty or
 * holds anything else, -ERANGE when it does not fit in 64 bits. */
static int parse_digits(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	if (!*s || s[strspn(s, "0123456789")])
		return -EINVAL;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *ret)
{
	uint64_t v;
	int r = s ? parse_digits(s, &v) : -EINVAL;
	if (r < 0)
		return r;
	if (v < lo || v > hi)
		return -ERANGE;
	*ret = v;
	return 0;
}

int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *ret)
{
	if (!s)
		return -EINVAL;
	bool neg = *s == '-';
	uint64_t mag;
	int r = parse_u64(s + neg, 0, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &mag);
	if (r < 0)
		return r;
	int64_t v = (int64_t)mag;
	if (neg)
		v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	if (v < lo || v > hi)
		return -ERANGE;
	*ret = v;
	return 0;
}

int file_read_all(const char *path, void **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct buf b = { 0 };
	struct stat st;
	/* The size is a hint: a file may grow or shrink while it is read. */
	int r = buf_reserve(&b,
			    fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096);
	while (r == 0) {
		if (b.cap - b.len < 2 && (r = buf_reserve(&b, b.cap)) < 0)
			break;
		ssize_t n = read(fd, b.data + b.len, b.cap - b.len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		else if (n == 0)
			break;
		else
			b.len += (size_t)n;
	}
	close(fd);
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	b.data[b.len] = '\0';
	*ret = b.data;
	*ret_len = b.len;
	return 0;
}

int file_read_text(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	for (;;) {
		if (len == size) {
			close(fd);
			return -EFBIG;
		}
		ssize_t n = read(fd, out + len, size - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			close(fd);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len == size)
		return -EFBIG;
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
		len--;
	out[len] = '\0';
	return (int)len;
}

int file_write_text(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = strlen(s);
	ssize_t n;
	do
		n = write(fd, s, len);
	while (n < 0 && errno == EINTR);
	int r = n < 0 ? -errno : (size_t)n == len ? 0 : -EIO;
	if (close(fd) < 0 && r == 0 && errno != EINTR)
		r = -errno;
	return r;
}

int file_replace_text(const char *path, const char *text, unsigned mode, bool sync)
{
	char *tmp;
	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	/* A path.tmp left behind would keep its own mode: it goes first. */
	unlink(tmp);
	int r = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		r = -errno;
	else if (dprintf(fd, "%s", text) < 0)
		r = -EIO;
	else if (sync && fsync(fd) < 0)
		r = -errno;
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	free(tmp);
	return r;
}

int mkdir_parents(const char *path, unsigned mode)
{
	size_t len = strlen(path);
	char *p = malloc(len + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, path, len + 1);
	int r = 0;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	if (r == 0) {
		struct stat st;
		if (stat(path, &st) < 0)
			r = -errno;
		else if (!S_ISDIR(st.st_mode))
			r = -ENOTDIR;
	}
	return r;
}
