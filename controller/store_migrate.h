/* Copying a whole store into another, empty one: `ditto-controller migrate --from URI --to
 * URI`, e.g. from the SQLite file of one controller to the PostgreSQL database several will
 * share. Rows go over as they are, table by table (store_tables: parents before children),
 * through the engine-neutral statements of store_int.h, and artifacts' bytes with them. */
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
 * PostgreSQL its tables are locked) and commits only once everything is copied. Artifacts'
 * bytes go along: as table rows between two stores that keep them (store_keeps_artifacts),
 * else, when one side keeps them, between its rows and the files (named by digest) in the
 * folder artifacts, the other side's (made when missing; existing files are kept). counts
 * gets an entry per table in copy order, then one for the bytes when they moved ("artifact
 * files": how many artifacts), up to n. Returns the number of entries, or -errno with to
 * unchanged (files written stay: they are named by their content) and ret_what naming what
 * failed: -ENOTEMPTY when to already holds rows, -ENOENT when an artifact's file is missing,
 * -EIO when stored bytes are not their digest's, or a statement's error (-ENOTCONN, -EINVAL
 * for a row the target's constraints refuse, -ENOMEM). */
int store_migrate(struct store *from, struct store *to, const char *artifacts,
		  struct store_migrate_count *counts, size_t n, char *ret_what, size_t what_size);

/* The subcommand: `migrate --from URI --to URI [--artifacts DIR]` (argv[0] is "migrate").
 * Opens both stores (a missing SQLite source is refused rather than made), refuses the same
 * store twice, copies (DIR: by default the folder "artifacts" beside the SQLite side's
 * file), and prints a line per table and a total on stdout; any error is one line on
 * stderr. Returns the exit status: 0, 1 when the copy failed, 2 for a bad command line. */
int store_migrate_main(int argc, char **argv);

#endif
