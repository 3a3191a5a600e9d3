/* ditto: the command-line client of the Ditto controller. main parses the
 * global flags, finds the command (one word, or a noun and a verb) and runs
 * it; the commands live in cmd_*.c and up.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* In the order `ditto --help` lists them. */
static const struct cli_command *const commands[] = {
	&cmd_deploy,        &cmd_invoke,         &cmd_functions,
	&cmd_get,           &cmd_delete,         &cmd_invocations,
	&cmd_invocation,    &cmd_invocation_get, &cmd_logs,
	&cmd_tenant_create, &cmd_tenant_list,    &cmd_tenant_get,
	&cmd_key_create,    &cmd_key_list,       &cmd_key_revoke,
	&cmd_scale,         &cmd_hosts,          &cmd_hosts_drain,
	&cmd_hosts_undrain, &cmd_hosts_remove,   &cmd_artifacts_gc,
	&cmd_up,            &cmd_down,           &cmd_measure,
	&cmd_attest,
};

static void usage(void)
{
	printf("usage: ditto [global options] COMMAND [ARGS] [options]\n\n"
	       "The client of a Ditto controller: deploy and invoke functions, read invocation records,\n"
	       "manage tenants, keys, scaling and hosts, and start a local platform.\n\n"
	       "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("  %-17s %s\n", commands[i]->name, commands[i]->summary);
	printf("Run ditto COMMAND --help for a command's arguments and options.\n\n");
	cli_print_global_options(stdout);
	printf("\nconfiguration:\n"
	       "  DITTO_URL, DITTO_KEY  the controller and the API key; flags override them\n"
	       "  DITTO_ENV             when DITTO_KEY is unset, DITTO_URL= and DITTO_KEY= lines are read\n"
	       "                        from this file, else from ./data/ditto.env (written by ditto up)\n"
	       "\nexit codes:\n"
	       "  0  success\n"
	       "  1  the API refused the request (its error is printed), or a local failure\n"
	       "  2  usage error: a bad command line, or no key configured\n"
	       "  3  the controller cannot be reached\n"
	       "  4  the invocation failed: the function failed or timed out (function_error,\n"
	       "     function_timeout)\n"
	       "\nErrors are one line on stderr: ditto: <message> (<code>, HTTP <status>).\n");
}

/* Does the command's name start with word (followed by a blank or the end)? */
static bool name_has_noun(const char *name, const char *word)
{
	size_t n = strlen(word);
	return strncmp(name, word, n) == 0 && (name[n] == ' ' || name[n] == '\0');
}

/* Finds the command argv names: a noun and its verb first, so "hosts drain"
 * wins over "hosts". *ret_words says how many words it took. */
static const struct cli_command *find(int argc, char **argv, int *ret_words)
{
	for (int words = 2; words >= 1; words--) {
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
			const char *name = commands[i]->name, *space = strchr(name, ' ');
			bool match = words == 1
					     ? !space && strcmp(name, argv[0]) == 0
					     : space && argc > 1 && name_has_noun(name, argv[0]) &&
						       strcmp(space + 1, argv[1]) == 0;
			if (match) {
				*ret_words = words;
				return commands[i];
			}
		}
	}
	return NULL;
}

/* A noun without a known verb: lists its verbs for --help, else it is a
 * usage error. */
static int noun_only(const char *noun, const char *next)
{
	char verbs[256] = "";
	size_t n = 0;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const char *name = commands[i]->name;
		if (!name_has_noun(name, noun))
			continue;
		n++;
		if (next && (strcmp(next, "--help") == 0 || strcmp(next, "-h") == 0))
			printf("  ditto %s%s%s\n      %s\n", name, *commands[i]->args ? " " : "",
			       commands[i]->args, commands[i]->summary);
		else
			snprintf(verbs + strlen(verbs), sizeof(verbs) - strlen(verbs), "%s%s",
				 verbs[0] ? ", " : "", strchr(name, ' ') + 1);
	}
	if (n == 0)
		return cli_fail(CLI_EXIT_USAGE, "unknown command \"%s\" (see ditto --help)", noun);
	if (next && (strcmp(next, "--help") == 0 || strcmp(next, "-h") == 0))
		return CLI_EXIT_OK;
	if (!next)
		return cli_fail(CLI_EXIT_USAGE, "%s needs a subcommand: %s (see ditto %s --help)",
				noun, verbs, noun);
	return cli_fail(CLI_EXIT_USAGE,
			"unknown subcommand \"%s %s\"; %s takes %s (see ditto %s --help)", noun,
			next, noun, verbs, noun);
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	cli_config_load(&cli);

	/* The global flags may come before the command too; "+" stops at the
	 * command so its own options are left to it. */
	static const struct option opts[] = { CLI_GLOBAL_OPTIONS };
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_URL: cli.url = optarg; break;
		case OPT_KEY: cli.key = optarg; break;
		case OPT_JSON: cli.json = true; break;
		case 'h':
		case OPT_HELP: usage(); return CLI_EXIT_OK;
		case ':':
			return cli_fail(CLI_EXIT_USAGE, "%s needs a value (see ditto --help)",
					argv[optind - 1]);
		default:
			return cli_fail(CLI_EXIT_USAGE, "unknown option %s (see ditto --help)",
					argv[optind - 1]);
		}
	}
	if (optind == argc)
		return cli_fail(CLI_EXIT_USAGE, "no command given (see ditto --help)");

	char **args = argv + optind;
	int nargs = argc - optind, words;
	const struct cli_command *cmd = find(nargs, args, &words);
	if (!cmd)
		return noun_only(args[0], nargs > 1 ? args[1] : NULL);
	/* The command parses its own arguments from a fresh getopt state;
	 * its argv[0] is its last word. */
	optind = 0;
	int code = cmd->run(&cli, cmd, nargs - (words - 1), args + (words - 1));
	http_client_free(&cli.http);
	if (fflush(stdout) != 0 && code == CLI_EXIT_OK)
		code = cli_fail(CLI_EXIT_API, "cannot write the output");
	return code;
}
