/* The calling convention every sample function follows, in one place.
 *
 * Input is JSON on stdin, the result is JSON on stdout, stderr is the log.
 * With DITTO_MODE=persistent the process is long-lived: each line of stdin is
 * one request and gets exactly one line on stdout, flushed at once, until
 * EOF. Otherwise the whole of stdin is one request, answered by the process's
 * whole stdout. A bad input is answered with {"error":"..."}; in the
 * one-process-per-invocation mode the process then exits with status 1, in
 * persistent mode it goes on serving.
 *
 * This is a header of static functions because each file in functions/ is a
 * separate program, linked statically with nothing but libc and lib's
 * libc-only helpers (the growable buffer of util.h). */
#ifndef DITTO_FUNCTION_H
#define DITTO_FUNCTION_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* A result being built in buf (buf_append, buf_printf). verbatim means
 * "write exactly these bytes": the runtime otherwise ends a one-shot result
 * with a newline, as a terminal user expects. */
struct fn_result {
	struct buf buf;
	bool verbatim;
};

/* Computes the result for one request of len bytes (input[len] is a NUL, but
 * the input may contain NULs too). Returns 0 with the result appended to
 * result, or a negative errno with *ret_error set to a static message that
 * becomes the error object. */
typedef int (*fn_handler)(const char *input, size_t len, struct fn_result *result,
			  const char **ret_error);

/* Writes all of p[0..n) to stdout; returns 0 or -errno. */
static inline int fn_write(const void *p, size_t n)
{
	if (n > 0 && fwrite(p, 1, n, stdout) != n)
		return -EIO;
	return 0;
}

/* Writes {"error":"msg"}, escaping what JSON requires. */
static inline int fn_write_error(const char *msg)
{
	int e = fn_write("{\"error\":\"", 10);
	for (const char *c = msg; e == 0 && *c; c++) {
		unsigned char ch = (unsigned char)*c;
		if (ch == '"' || ch == '\\')
			e = printf("\\%c", ch) < 0 ? -EIO : 0;
		else if (ch < 0x20)
			e = printf("\\u%04x", ch) < 0 ? -EIO : 0;
		else
			e = putchar(ch) == EOF ? -EIO : 0;
	}
	return e < 0 ? e : fn_write("\"}", 2);
}

/* Runs the handler on one request and writes its answer and a newline (none
 * after a verbatim one-shot result), then flushes. Returns 1 for a bad input,
 * 0 for a result and -errno when stdout failed. */
static inline int fn_serve(const char *name, fn_handler handler, const char *input, size_t len,
			   bool persistent)
{
	struct fn_result result = { 0 };
	const char *error = "internal error";
	int e = handler(input, len, &result, &error);
	int w;

	if (e < 0) {
		fprintf(stderr, "%s: error=\"%s\" input_bytes=%zu\n", name, error, len);
		w = fn_write_error(error);
	} else {
		w = fn_write(result.buf.data, result.buf.len);
	}
	if (w == 0 && (persistent || e < 0 || !result.verbatim))
		w = fn_write("\n", 1);
	if (w == 0 && fflush(stdout) != 0)
		w = -errno;
	buf_free(&result.buf);
	return w < 0 ? w : (e < 0 ? 1 : 0);
}

/* Reads all of stdin into b, with a NUL after its end that b->len does not
 * count. Returns 0 or -errno; the caller frees b either way. */
static inline int fn_read_all(struct buf *b)
{
	for (;;) {
		/* Room for a chunk and the NUL. */
		int e = buf_reserve(b, 4096);
		if (e < 0)
			return e;
		ssize_t n = read(STDIN_FILENO, b->data + b->len, b->cap - b->len - 1);
		if (n > 0)
			b->len += (size_t)n;
		else if (n == 0)
			break;
		else if (errno != EINTR)
			return -errno;
	}
	b->data[b->len] = '\0';
	return 0;
}

/* The whole main() of a function: picks the mode from DITTO_MODE and serves.
 * Returns the process exit status. */
static inline int fn_main(const char *name, fn_handler handler)
{
	const char *mode = getenv("DITTO_MODE");
	bool persistent = mode && strcmp(mode, "persistent") == 0;
	int e;

	if (!persistent) {
		struct buf input = { 0 };
		e = fn_read_all(&input);
		if (e < 0) {
			fprintf(stderr, "%s: cannot read stdin: %s\n", name, strerror(-e));
			buf_free(&input);
			return 1;
		}
		e = fn_serve(name, handler, (const char *)input.data, input.len, false);
		buf_free(&input);
	} else {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		unsigned long served = 0;

		e = 0;
		while (e >= 0 && (n = getline(&line, &cap, stdin)) >= 0) {
			if (n > 0 && line[n - 1] == '\n')
				line[--n] = '\0';
			e = fn_serve(name, handler, line, (size_t)n, true);
			served++;
		}
		free(line);
		if (e >= 0 && ferror(stdin))
			e = -EIO;
		if (e >= 0) {
			fprintf(stderr, "%s: stdin closed after %lu requests\n", name, served);
			e = 0;
		}
	}
	if (e < 0) {
		fprintf(stderr, "%s: cannot write the result: %s\n", name, strerror(-e));
		return 1;
	}
	return e;
}

#endif
