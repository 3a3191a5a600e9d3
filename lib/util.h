/* Small libc-only helpers shared by the daemons: a monotonic clock, a
 * growable byte buffer and growable arrays, strict integer parsing and
 * whole-file text reads and writes. */
#ifndef DITTO_UTIL_H
#define DITTO_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Microseconds on CLOCK_MONOTONIC. */
uint64_t time_now_us(void);
/* Milliseconds since the epoch on CLOCK_REALTIME, for what is recorded. */
int64_t time_wall_ms(void);

/* A growable byte buffer; a zeroed struct is an empty buffer. */
struct buf {
	uint8_t *data;
	size_t len, cap;
};

/* Appends n bytes. Returns 0 or -ENOMEM (then b is unchanged). */
int buf_append(struct buf *b, const void *p, size_t n);
/* Appends printf-formatted text (without its NUL). Returns 0 or -ENOMEM
 * (then b is unchanged). */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with a va_list. */
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Drops the first n bytes (at most len), moving the rest to the front: for
 * readers that take complete messages off the front as they arrive. */
void buf_drop_front(struct buf *b, size_t n);
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Frees the buffer's memory; b becomes an empty buffer. */
void buf_free(struct buf *b);

/* Makes room for n more bytes without changing the contents. Returns 0, or
 * -ENOMEM (also when len + n would overflow) with b unchanged. */
int buf_reserve(struct buf *b, size_t n);

/* Makes room for n elements of the given size in a growable array: items is
 * the address of the array's pointer (a T ** passed as void *), *cap its
 * capacity in elements. The capacity starts at initial (when it is 0) and
 * doubles until it holds n; the elements already there are kept. Returns 0
 * (also when there is room already), or -ENOMEM (also when n * size would
 * overflow) with the array and *cap unchanged. */
int array_reserve(void *items, size_t *cap, size_t n, size_t size, size_t initial);

/* Strict decimal integers, for options, query parameters and sysfs: the
 * whole string must be digits, with one leading '-' allowed only by
 * parse_i64; no spaces, no '+', no empty string. Returns 0 with *ret set,
 * -EINVAL when s is not such a number, or -ERANGE when it lies outside
 * lo..hi (*ret untouched on failure). */
int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *ret);
int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *ret);

/* Reads a whole file of any size into a malloc'd buffer (with a NUL after
 * its end that *ret_len does not count). Returns 0 or -errno. */
int file_read_all(const char *path, void **ret, size_t *ret_len);

/* Reads a small text file into out (NUL-terminated, trailing newlines
 * stripped). Returns the length, or -errno; -EFBIG when it does not fit. */
int file_read_text(const char *path, char *out, size_t size);
/* Writes s to an existing file with one write(2), as sysfs attributes expect.
 * Returns 0 or -errno. */
int file_write_text(const char *path, const char *s);
/* Replaces path with a new file of the given mode (less the umask) holding
 * text, written to path.tmp and renamed, so a reader never sees half of it;
 * with sync the bytes are on disk before the rename. Returns 0 or -errno
 * (path.tmp is removed then). */
int file_replace_text(const char *path, const char *text, unsigned mode, bool sync);
/* Creates a directory and its missing parents with the given mode. Returns 0
 * (also when it already exists) or -errno. */
int mkdir_parents(const char *path, unsigned mode);

#endif
