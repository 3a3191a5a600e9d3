/* The command-line flags ditto-bench replay and ditto-bench simulate share:
 * which trace, which functions and window, how it is scaled, which policies
 * and where the results go. One table, one parser; a command adds its own
 * options by putting trace_cli_options after its own in one getopt_long
 * table (trace_cli_options_join) and handing every option it does not know
 * to trace_cli_option:
 *
 *	struct trace_cli c;
 *	trace_cli_init(&c);
 *	struct option all[TRACE_CLI_N_OPTIONS + 8];
 *	trace_cli_options_join(mine, all, sizeof(all) / sizeof(all[0]));
 *	while ((opt = getopt_long(argc, argv, "", all, NULL)) != -1) {
 *		switch (opt) {
 *		case 'u': ...; break;           (the command's own)
 *		default:
 *			if (trace_cli_option(&c, opt, optarg) != 1)
 *				return 2;         (said why, or not a flag of ours)
 *		}
 *	}
 *	if (trace_cli_check(&c) < 0)
 *		return 2;
 *
 * Numbers are strict (the whole argument, in range); every refusal prints
 * one line on stderr, "ditto-bench: ..." naming the flag. */
#ifndef DITTO_BENCH_TRACE_CLI_H
#define DITTO_BENCH_TRACE_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "workload.h"

/* Room for a policy spec as given (the canonical one is shorter). */
#define TRACE_CLI_SPEC_SIZE 64
#define TRACE_CLI_MAX_POLICIES 16
/* The getopt values of the shared flags start here, above any character a
 * command uses for its own. */
#define TRACE_CLI_OPT_BASE 0x1000
/* Entries of trace_cli_options, the terminating zero entry included. */
#define TRACE_CLI_N_OPTIONS 17

struct trace_cli {
	const char *trace; /* --trace: a folder of 2019 files or a 2021 CSV */
	int day;           /* --day: 0 for the first day found */
	/* --functions, --sample, --seed, --start-minute, --minutes,
	 * --rate-scale, --time-scale, --target-cores, --uniform,
	 * --max-duration-ms; fit_cores is the command's to set. */
	struct workload_opts wl;
	/* --policies, in the order given; "elastic" when not given (after
	 * trace_cli_check). */
	char policies[TRACE_CLI_MAX_POLICIES][TRACE_CLI_SPEC_SIZE];
	size_t n_policies;
	bool json;         /* --json */
	const char *csv;   /* --csv FILE */
	const char *plots; /* --plots DIR */
};

/* The shared flags, ending with a zero entry. */
extern const struct option trace_cli_options[TRACE_CLI_N_OPTIONS];

/* The lines of --help describing the shared flags, each ending in '\n'. */
extern const char trace_cli_usage[];

/* Every flag at its default: no trace, day 0, all functions, seed 1, the
 * whole trace, unscaled, Poisson arrivals, no policies yet. */
void trace_cli_init(struct trace_cli *c);

/* Takes the option getopt_long returned (opt) with its argument. Returns 1
 * when it was a shared flag and is valid, -EINVAL after printing one line
 * when its value is not, 0 when opt is not a shared flag (nothing printed:
 * the caller says so). */
int trace_cli_option(struct trace_cli *c, int opt, const char *arg);

/* Checks the flags together (--trace given; --functions with --sample,
 * --rate-scale with --target-cores refused) and sets the default policy.
 * Returns 0, or -EINVAL after printing one line. */
int trace_cli_check(struct trace_cli *c);

/* Writes own's entries (up to its zero entry), then trace_cli_options with
 * its zero entry, into out (n entries). Returns 0, or -ENOSPC when out is too
 * small. */
int trace_cli_options_join(const struct option *own, struct option *out, size_t n);

#endif
