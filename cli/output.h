/* What the CLI prints: aligned tables (lists, and label/value blocks for
 * one object), readable times, sizes and durations, and forgiving reads of
 * fields in the API's JSON replies. */
#ifndef DITTO_CLI_OUTPUT_H
#define DITTO_CLI_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* A table filled cell by cell, row after row; printed with each column as
 * wide as its widest cell. A zeroed table is not usable: call table_init. */
struct table {
	size_t ncols;
	char **cells;
	size_t ncells, cap;
	bool oom; /* a cell could not be stored; table_print reports it */
};

void table_init(struct table *t, size_t ncols);

/* Appends one cell (printf-style); every ncols cells make a row. Out of
 * memory is remembered and reported by table_print. */
void table_add(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends a whole row of plain strings (exactly ncols of them); NULL
 * prints as "-". */
void table_row(struct table *t, ...);

/* Prints the rows, columns separated by three blanks; the last column is not
 * padded. Returns 0, or -ENOMEM when a cell was lost (nothing printed). */
/* Appends a label/value row (two columns) for the epoch time ms:
 * "<local time> (<age> ago)". */
void table_when(struct table *t, const char *label, int64_t ms);

int table_print(const struct table *t, FILE *f);

void table_free(struct table *t);

/* Readable forms written into out (size bytes), which they return so they
 * can be used as printf arguments. */
/* "12s", "5m", "3h", "9d" for a span of ms milliseconds. */
const char *fmt_elapsed(int64_t ms, char *out, size_t size);
/* fmt_elapsed since the epoch time ms; "-" for 0. */
const char *fmt_age(int64_t ms, char *out, size_t size);
/* Local time "2025-11-24 16:00:00.123"; "-" for 0. */
const char *fmt_time(int64_t ms, char *out, size_t size);
/* "850us", "2.1ms", "1.50s". */
const char *fmt_us(int64_t us, char *out, size_t size);
/* "812 B", "12.3 KiB", "4.0 MiB". */
const char *fmt_bytes(int64_t n, char *out, size_t size);

/* Reads a member of object o: the string (NULL when absent or not a
 * string), the integer (dflt when absent or not a number), the boolean. */
const char *field_str(const json_t *o, const char *key);
int64_t field_int(const json_t *o, const char *key, int64_t dflt);
bool field_bool(const json_t *o, const char *key);
/* s, or "-" for NULL or "": how tables show a missing value. */
const char *or_dash(const char *s);

/* Prints v as indented JSON and a newline on stdout (the --json output).
 * Returns 0 or -EIO. */
int print_json(const json_t *v);

#endif
