/* Hosts (admin): hosts, hosts drain, hosts undrain. */
#include <limits.h>
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
				       "unknown subcommand \"%s\": hosts takes drain or undrain",
				       argv[optind]);
	return cli_list(cli, "/v1/hosts", "hosts", header, host_row);
}

const struct cli_command cmd_hosts = {
	"hosts",
	"[drain|undrain ID]",
	"list the hosts and their state (admin)",
	"  ditto hosts drain ID     move the host's VMs away and place no new VM on it\n"
	"  ditto hosts undrain ID   end a drain\n",
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
