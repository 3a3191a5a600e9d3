/* Copying a whole store into another, empty one: `ditto-controller migrate --from URI --to
 * URI`, e.g. from the SQLite file of one controller to the PostgreSQL database several will
 * share. Rows go over as they are, table by table (store_tables: parents before children),
 * through the engine-neutral statements of store_int.h. */
#ifndef DITTO_STORE_MIGRATE_H
#define DITTO_STORE_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Rows one table took. */
struct store_migrate_count {
	const char *table;
	int64_t rows;
};

/* Copies every row of from into to (both open, so both schemas are current): reads from in
 * one snapshot and writes to in one transaction, which holds off other writers of to (on
 * PostgreSQL its tables are locked) and commits only once every table is copied. counts
 * gets one entry per table, in copy order, up to n. Returns the number of tables copied,
 * or -errno with to unchanged and *ret_table naming the table at fault: -ENOTEMPTY when to
 * already holds rows, or a statement's error (-EIO, -ENOTCONN, -EINVAL for a row the
 * target's constraints refuse, -ENOMEM). */
int store_migrate(struct store *from, struct store *to, struct store_migrate_count *counts,
		  size_t n, const char **ret_table);

/* The subcommand: `migrate --from URI --to URI` (argv[0] is "migrate"). Opens both stores
 * (a missing SQLite source is refused rather than made), refuses the same store twice,
 * copies, and prints a line per table and a total on stdout; any error is one line on
 * stderr. Returns the exit status: 0, 1 when the copy failed, 2 for a bad command line. */
int store_migrate_main(int argc, char **argv);

#endif
