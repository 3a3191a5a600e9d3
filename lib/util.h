/* Small libc-only helpers shared by the daemons: a monotonic clock, a
 * growable byte buffer and whole-file text reads and writes. */
#ifndef DITTO_UTIL_H
#define DITTO_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Microseconds on CLOCK_MONOTONIC. */
uint64_t time_now_us(void);

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
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Frees the buffer's memory; b becomes an empty buffer. */
void buf_free(struct buf *b);

/* Reads a small text file into out (NUL-terminated, trailing newlines
 * stripped). Returns the length, or -errno; -EFBIG when it does not fit. */
int file_read_text(const char *path, char *out, size_t size);
/* Writes s to an existing file with one write(2), as sysfs attributes expect.
 * Returns 0 or -errno. */
int file_write_text(const char *path, const char *s);
/* Creates a directory and its missing parents with the given mode. Returns 0
 * (also when it already exists) or -errno. */
int mkdir_parents(const char *path, unsigned mode);

#endif
