/* Artifacts (admin): artifacts gc. */
#include <stdbool.h>
#include <stdio.h>

#include "cli.h"

/* POST /v1/artifacts/gc[?dry_run=true]. */
static int run_gc(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_DRY_RUN = OPT_FIRST_COMMAND };
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, O_DRY_RUN },
		CLI_GLOBAL_OPTIONS,
	};
	bool dry_run = false;
	int c, code;
	while ((c = cli_getopt(cli, cmd, argc, argv, opts)) != -1) {
		if (c == O_DRY_RUN)
			dry_run = true;
		else
			return cli_opt_default(cmd, c);
	}
	if ((code = cli_need_args(cmd, argc, argv, 0, 0)))
		return code;
	char path[CLI_PATH_SIZE] = "/v1/artifacts/gc";
	if (dry_run)
		cli_query_add(path, "dry_run", "true");
	json_t *o = NULL;
	if ((code = cli_call(cli, "POST", path, NULL, &o)) == 0)
		code = cli_print_result(
			cli, o,
			"%s %lld artifacts (%lld bytes) and %lld orphan files (%lld bytes)%s\n",
			dry_run ? "would free" : "freed", (long long)field_int(o, "collected", 0),
			(long long)field_int(o, "bytes", 0), (long long)field_int(o, "orphans", 0),
			(long long)field_int(o, "orphan_bytes", 0),
			field_int(o, "kept_in_flight", 0) ? "; some kept for calls in flight" : "");
	json_decref(o);
	return code;
}

const struct cli_command cmd_artifacts_gc = {
	"artifacts gc",
	"[--dry-run]",
	"delete the artifacts no function version can run any more and report what was freed (admin)",
	"  --dry-run   report what would be freed, delete nothing\n"
	"Deleted functions' versions (and a function's earlier incarnations) can no longer run;\n"
	"an artifact a live version, a queued invocation or a call in flight uses is kept.\n",
	run_gc,
};
