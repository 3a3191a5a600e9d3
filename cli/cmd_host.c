/* Hosts (admin): hosts, hosts drain, hosts undrain, hosts remove. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli.h"

static void host_row(struct table *t, const json_t *h)
{
	char seen[32];
	table_add(t, "%s", or_dash(field_str(h, "id")));
	table_add(t, "%s", or_dash(field_str(h, "state")));
	table_add(t, "%s", or_dash(field_str(h, "address")));
	table_add(t, "%lld", (long long)field_int(h, "cores", 0));
	table_add(t, "%lld", (long long)field_int(h, "cores_used", 0));
	table_add(t, "%zu", json_array_size(json_object_get(h, "vms")));
	table_add(t, "%s", or_dash(field_str(h, "accel")));
	/* The spec's epoch time, or the span some controllers send. */
	int64_t at = field_int(h, "last_seen_ms", 0), ago = field_int(h, "last_seen_ms_ago", -1);
	if (at > 0)
		table_add(t, "%s ago", fmt_age(at, seen, sizeof(seen)));
	else if (ago >= 0)
		table_add(t, "%s ago", fmt_elapsed(ago, seen, sizeof(seen)));
	else
		table_add(t, "-");
}

static int run_hosts(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	static const char *const header[] = {
		"ID", "STATE", "ADDRESS", "CORES", "USED", "VMS", "ACCEL", "LAST SEEN", NULL,
	};
	/* Any word left is a mistaken subcommand, which gets its own message. */
	int code = cli_parse_plain(cli, cmd, argc, argv, 0, INT_MAX);
	if (code >= 0)
		return code;
	if (optind < argc)
		return cli_usage_error(cmd,
				       "unknown subcommand \"%s\": hosts takes drain, undrain or remove",
				       argv[optind]);
	return cli_list(cli, "/v1/hosts", "hosts", header, host_row);
}

const struct cli_command cmd_hosts = {
	"hosts",
	"[drain|undrain|remove ID]",
	"list the hosts and their state (admin)",
	"  ditto hosts drain ID     move the host's VMs away and place no new VM on it\n"
	"  ditto hosts undrain ID   end a drain\n"
	"  ditto hosts remove ID    forget a host that runs no VM (--force: treat it as lost)\n",
	run_hosts,
};

/* POST (drain) or DELETE (undrain) /v1/hosts/ID/drain. */
static int drain(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
		 const char *method)
{
	json_t *o = NULL;
	int code = cli_call_arg(cli, cmd, argc, argv, method, "/v1/hosts/%s/drain", "ID", &o);
	if (code || !o)
		return code;
	code = cli_print_result(cli, o, "host %s: %s\n", or_dash(field_str(o, "id")),
				or_dash(field_str(o, "state")));
	json_decref(o);
	return code;
}

static int run_drain(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	return drain(cli, cmd, argc, argv, "POST");
}

static int run_undrain(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	return drain(cli, cmd, argc, argv, "DELETE");
}

const struct cli_command cmd_hosts_drain = {
	"hosts drain",
	"ID",
	"drain a host: place no new VM there and move its VMs away (admin)",
	NULL,
	run_drain,
};

const struct cli_command cmd_hosts_undrain = {
	"hosts undrain", "ID", "end a host's drain (admin)", NULL, run_undrain,
};

/* DELETE /v1/hosts/ID[?force=true]. */
static int run_remove(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_FORCE = OPT_FIRST_COMMAND };
	static const struct option opts[] = {
		{ "force", no_argument, NULL, O_FORCE },
		CLI_GLOBAL_OPTIONS,
	};
	bool force = false;
	int c, code;
	while ((c = cli_getopt(cli, cmd, argc, argv, opts)) != -1) {
		if (c == O_FORCE)
			force = true;
		else
			return cli_opt_default(cmd, c);
	}
	char path[CLI_PATH_SIZE];
	if ((code = cli_path_args(cmd, argc, argv, 1, "/v1/hosts/%s", "ID", path)))
		return code;
	if (force)
		cli_query_add(path, "force", "true");
	json_t *o = NULL;
	if ((code = cli_call(cli, "DELETE", path, NULL, &o)) == 0)
		code = cli_print_result(cli, o, "removed host %s (%lld VMs lost)\n",
					or_dash(field_str(o, "id")),
					(long long)field_int(o, "vms_lost", 0));
	json_decref(o);
	return code;
}

const struct cli_command cmd_hosts_remove = {
	"hosts remove",
	"ID [--force]",
	"forget a host: refused while it has VMs unless --force, which treats it as lost (admin)",
	"  --force   remove it even with VMs: calls to it fail as on a lost host, its VMs\n"
	"            are placed again elsewhere, and asynchronous invocations run again\n"
	"Drain it first (ditto hosts drain ID) and wait until ditto hosts shows no VMs on it.\n"
	"A removed host's heartbeats are refused; an agent still running registers again.\n",
	run_remove,
};
