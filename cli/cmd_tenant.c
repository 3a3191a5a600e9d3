/* Tenants, keys and scaling: tenant create|list|get, key create|list|revoke, scale. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "encoding.h"
#include "policy.h"
#include "sealed.h"

/* POSTs body (NULL for none) to path, which makes a key, and prints the new
 * key alone on its line, so `KEY=$(ditto ...)` works, or the whole answer
 * with --json. Returns the exit code. */
static int make_key(struct cli *cli, const char *path, const json_t *body)
{
	json_t *o = NULL;
	int code = cli_call(cli, "POST", path, body, &o);
	if (code)
		return code;
	const char *key = field_str(o, "key");
	if (cli->json)
		code = cli_print_json(o);
	else if (!key)
		code = cli_fail(CLI_EXIT_API, "the controller's answer holds no key");
	else
		printf("%s\n", key);
	json_decref(o);
	return code;
}

static const char *scaling_text(const json_t *tenant, char *out, size_t size)
{
	const json_t *s = json_object_get(tenant, "scaling");
	snprintf(out, size, "min %lld, max %lld, mechanism %s, policy %s",
		 (long long)field_int(s, "min", 0), (long long)field_int(s, "max", 0),
		 or_dash(field_str(s, "mechanism")), or_dash(field_str(s, "policy")));
	return out;
}

/* "100": the tenant's concurrency, or "-" from a controller that sends
 * none. */
static const char *concurrency_text(const json_t *tenant, char *out, size_t size)
{
	const json_t *c = json_object_get(json_object_get(tenant, "scaling"), "concurrency");
	if (json_is_integer(c))
		snprintf(out, size, "%lld", (long long)json_integer_value(c));
	else
		snprintf(out, size, "-");
	return out;
}

/* Takes the value of --concurrency into *ret (the controller checks it
 * too). Returns 0, or CLI_EXIT_USAGE after printing that it is not a
 * whole number 1..10000. */
static int concurrency_opt(const struct cli_command *cmd, const char *s, long long *ret)
{
	uint64_t v;
	if (parse_u64(s, 1, 10000, &v) < 0)
		return cli_usage_error(
			cmd, "--concurrency must be a whole number 1..10000, got \"%s\"", s);
	*ret = (long long)v;
	return 0;
}

/* The help line of --concurrency. */
#define CONCURRENCY_HELP                                                                        \
	"  --concurrency N         the most invocations of the tenant's functions running at\n" \
	"                          once, sync and async together (1..10000, default 100)\n"

/* "sev-snp, attestation required": what a tenant's VMs are and whether an
 * invocation needs verified evidence (the defaults when a controller sends
 * neither). */
static const char *confidential_text(const json_t *tenant, char *out, size_t size)
{
	const char *c = field_str(tenant, "confidential"), *a = field_str(tenant, "attestation");
	snprintf(out, size, "%s, attestation %s", c ? c : "none", a ? a : "optional");
	return out;
}

/* ---- the confidentiality options of tenant create and scale ---------------------------- */

/* Takes the value of --confidential into *ret. Returns 0, or
 * CLI_EXIT_USAGE after printing that it is not none or sev-snp. */
static int confidential_opt(const struct cli_command *cmd, const char *s, const char **ret)
{
	if (strcmp(s, "none") != 0 && strcmp(s, "sev-snp") != 0)
		return cli_usage_error(cmd, "--confidential must be none or sev-snp, got \"%s\"",
				       s);
	*ret = s;
	return 0;
}

/* --e2e-key FILE and --host-data HEX: where the tenant's host_data (the
 * HOST_DATA its confidential VMs are launched with) comes from. */
struct host_data_opts {
	const char *key_file;
	char hex[2 * SNP_HOST_DATA_SIZE + 1]; /* --host-data, lower-cased; "" when not given */
};

/* Takes the value of --e2e-key (key true) or --host-data. Returns 0, or
 * CLI_EXIT_USAGE after printing why not: not 64 hex digits, or both given. */
static int host_data_opt(const struct cli_command *cmd, struct host_data_opts *h, bool key,
			 const char *s)
{
	uint8_t b[SNP_HOST_DATA_SIZE];
	if (key)
		h->key_file = s;
	else if (hex_to_bytes(s, b, sizeof(b)) < 0)
		return cli_usage_error(cmd, "--host-data must be %d hex digits, got \"%s\"",
				       2 * SNP_HOST_DATA_SIZE, s);
	else
		bytes_to_hex(b, sizeof(b), h->hex);
	if (h->key_file && h->hex[0])
		return cli_usage_error(cmd, "give --e2e-key or --host-data, not both: host_data is "
					    "computed from the tenant secret, or given");
	return 0;
}

/* Sets body's "host_data" when the command sets it: --host-data as given,
 * else, for --confidential sev-snp or --e2e-key, e2e_host_data of the
 * tenant secret (--e2e-key FILE, $DITTO_E2E_KEY or
 * ~/.config/ditto/TENANT.e2e-key), created as deploy --encrypted does when
 * it does not exist. Returns an exit code. */
static int host_data_set(const struct cli_command *cmd, const char *tenant,
			 const char *confidential, const struct host_data_opts *h, json_t *body)
{
	char hex[2 * SNP_HOST_DATA_SIZE + 1];
	bool snp = confidential && strcmp(confidential, "sev-snp") == 0;
	if (h->hex[0])
		memcpy(hex, h->hex, sizeof(hex));
	else if (snp || h->key_file) {
		const struct sealed_opts so = { .key_file = h->key_file, .tenant = tenant };
		uint8_t hd[SNP_HOST_DATA_SIZE];
		int code = sealed_host_data(cmd, &so, true, hd);
		if (code)
			return code;
		bytes_to_hex(hd, sizeof(hd), hex);
	} else
		return CLI_EXIT_OK;
	if (json_object_set_new(body, "host_data", json_string(hex)) < 0)
		return cli_fail(CLI_EXIT_API, "out of memory");
	return CLI_EXIT_OK;
}

/* The help lines of --e2e-key and --host-data. */
#define HOST_DATA_HELP                                                                        \
	"  --e2e-key FILE          with sev-snp: the tenant secret whose commitment\n"        \
	"                          (host_data) the VMs are launched with, so they run only\n" \
	"                          requests carrying it (default: $DITTO_E2E_KEY, else\n"     \
	"                          ~/.config/ditto/TENANT.e2e-key; created when missing)\n"   \
	"  --host-data HEX         the commitment computed elsewhere (64 hex digits, see\n"   \
	"                          docs/security.md), instead of --e2e-key\n"

/* ---- tenant create, list, get ---------------------------------------------------------- */

static int run_tenant_create(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_CONFIDENTIAL = OPT_FIRST_COMMAND, O_REQUIRE, O_E2E_KEY, O_HOST_DATA, O_CONC };
	static const struct option opts[] = {
		{ "confidential", required_argument, NULL, O_CONFIDENTIAL },
		{ "concurrency", required_argument, NULL, O_CONC },
		{ "require-attestation", no_argument, NULL, O_REQUIRE },
		{ "e2e-key", required_argument, NULL, O_E2E_KEY },
		{ "host-data", required_argument, NULL, O_HOST_DATA },
		CLI_GLOBAL_OPTIONS,
	};
	const char *confidential = NULL;
	struct host_data_opts hd = { 0 };
	bool require = false;
	long long concurrency = 0;
	int c, code;
	while ((c = cli_getopt(cli, cmd, argc, argv, opts)) != -1) {
		switch (c) {
		case O_CONFIDENTIAL:
			if ((code = confidential_opt(cmd, optarg, &confidential)))
				return code;
			break;
		case O_CONC:
			if ((code = concurrency_opt(cmd, optarg, &concurrency)))
				return code;
			break;
		case O_REQUIRE: require = true; break;
		case O_E2E_KEY:
		case O_HOST_DATA:
			if ((code = host_data_opt(cmd, &hd, c == O_E2E_KEY, optarg)))
				return code;
			break;
		default: return cli_opt_default(cmd, c);
		}
	}
	if ((code = cli_need_args(cmd, argc, argv, 1, 1)))
		return code;
	/* Left out, the controller's defaults apply (none, optional); it
	 * refuses required attestation without sev-snp itself. */
	json_t *body = json_pack("{s:s}", "name", argv[optind]);
	if (!body)
		return cli_fail(CLI_EXIT_API, "out of memory");
	if (confidential)
		json_object_set_new(body, "confidential", json_string(confidential));
	if (require)
		json_object_set_new(body, "attestation", json_string("required"));
	if (concurrency)
		json_object_set_new(body, "concurrency", json_integer(concurrency));
	code = host_data_set(cmd, argv[optind], confidential, &hd, body);
	if (!code)
		code = make_key(cli, "/v1/tenants", body);
	json_decref(body);
	return code;
}

const struct cli_command cmd_tenant_create = {
	"tenant create",
	"NAME [--concurrency N] [--confidential none|sev-snp] [--require-attestation] "
	"[--e2e-key FILE | --host-data HEX]",
	"create a tenant (admin) and print its first key, which is shown only once",
	"NAME is [a-z0-9-]{1,63}.\n\n"
	"options:\n" CONCURRENCY_HELP
	"  --confidential C        none (default) or sev-snp: each VM an SEV-SNP guest whose\n"
	"                          memory the host cannot read (needs SNP hardware and the\n"
	"                          precreated mechanism; see docs/security.md)\n"
	"  --require-attestation   invocations run only on VMs whose hardware evidence the\n"
	"                          controller verified (needs --confidential sev-snp)\n" HOST_DATA_HELP,
	run_tenant_create,
};

static void tenant_row(struct table *t, const json_t *tn)
{
	const json_t *s = json_object_get(tn, "scaling");
	char age[32];
	table_add(t, "%s", or_dash(field_str(tn, "name")));
	table_add(t, "%lld", (long long)field_int(s, "min", 0));
	table_add(t, "%lld", (long long)field_int(s, "max", 0));
	table_add(t, "%s", or_dash(field_str(s, "mechanism")));
	table_add(t, "%s", or_dash(field_str(s, "policy")));
	table_add(t, "%s", fmt_age(field_int(tn, "created_ms", 0), age, sizeof(age)));
}

static int run_tenant_list(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	static const char *const header[] = { "NAME",   "MIN", "MAX", "MECHANISM",
					      "POLICY", "AGE", NULL };
	return cli_run_list(cli, cmd, argc, argv, "/v1/tenants", "tenants", header, tenant_row);
}

const struct cli_command cmd_tenant_list = {
	"tenant list", "", "list the tenants and their scaling (admin)", NULL, run_tenant_list,
};

/* One line per VM of the tenant: name, host, state, workers, in flight and
 * its vCPU-seconds. */
static void vms_rows(struct table *t, const json_t *o)
{
	const json_t *vms = json_object_get(o, "vms");
	size_t i;
	const json_t *vm;
	json_array_foreach(vms, i, vm)
	{
		const json_t *s = json_object_get(vm, "vcpu_s");
		table_add(t, "%s", i == 0 ? "VMs:" : "");
		table_add(t, "%s on %s, %s, %lld worker vCPUs, %lld in flight, %.1f/%.1f vCPU-s",
			  or_dash(field_str(vm, "name")), or_dash(field_str(vm, "host")),
			  or_dash(field_str(vm, "state")), (long long)field_int(vm, "workers", 0),
			  (long long)field_int(vm, "inflight", 0),
			  json_number_value(json_object_get(s, "allocated")),
			  json_number_value(json_object_get(s, "busy")));
	}
	if (i == 0)
		table_row(t, "VMs:", "none");
}

static void tenant_block(struct table *t, const json_t *o)
{
	char text[256];
	table_row(t, "Name:", field_str(o, "name"));
	table_when(t, "Created:", field_int(o, "created_ms", 0));
	table_row(t, "Scaling:", scaling_text(o, text, sizeof(text)));
	table_row(t, "Concurrency:", concurrency_text(o, text, sizeof(text)));
	table_row(t, "Confidential:", confidential_text(o, text, sizeof(text)));
	table_row(t, "Host data:", or_dash(field_str(o, "host_data")));
	const json_t *vm = json_object_get(o, "vm");
	table_add(t, "VM:");
	if (!json_is_object(vm))
		table_add(t, "none");
	else
		table_add(t, "on host %s, %s, %lld worker vCPUs (%lld..%lld, %s), %lld in flight",
			  or_dash(field_str(vm, "host")), or_dash(field_str(vm, "state")),
			  (long long)field_int(vm, "workers", 0),
			  (long long)field_int(vm, "min_workers", 0),
			  (long long)field_int(vm, "max_workers", 0),
			  or_dash(field_str(vm, "mechanism")),
			  (long long)field_int(vm, "inflight", 0));
	vms_rows(t, o);
	const json_t *s = json_object_get(o, "vcpu_s");
	table_add(t, "vCPU-seconds:");
	table_add(t, "%.1f allocated, %.1f busy",
		  json_number_value(json_object_get(s, "allocated")),
		  json_number_value(json_object_get(s, "busy")));
}

static int run_tenant_get(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	return cli_show(cli, cmd, argc, argv, "/v1/tenants/%s", "NAME", tenant_block);
}

const struct cli_command cmd_tenant_get = {
	"tenant get",
	"NAME",
	"show a tenant, its scaling, where its VMs run and what they used (admin, or its own key)",
	NULL,
	run_tenant_get,
};

/* ---- key create ------------------------------------------------------------------------ */

static int run_key_create(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	int code = cli_parse_plain(cli, cmd, argc, argv, 0, 1);
	if (code >= 0)
		return code;
	/* A key does not say which tenant it belongs to, so the tenant comes
	 * from the argument or from DITTO_TENANT. */
	const char *tenant = optind < argc ? argv[optind] : getenv("DITTO_TENANT");
	if (!tenant || !*tenant)
		return cli_usage_error(cmd, "name the TENANT (or set DITTO_TENANT)");
	char path[CLI_PATH_SIZE];
	if ((code = cli_path(cmd, "/v1/tenants/%s/keys", "TENANT", tenant, path)))
		return code;
	return make_key(cli, path, NULL);
}

const struct cli_command cmd_key_create = {
	"key create",
	"[TENANT]",
	"make a new key for a tenant and print it (admin, or its own key)",
	"TENANT defaults to $DITTO_TENANT: the key in use does not name its tenant.\n",
	run_key_create,
};

/* ---- scale ----------------------------------------------------------------------------- */

/* Is p a policy the API takes: any lib/policy parses but manual, which
 * only an agent's operator sets? */
static bool policy_ok(const char *p)
{
	struct policy pol;
	return policy_parse(p, &pol) == 0 && !policy_is_manual(&pol);
}

/* PUTs body to path and prints the tenant's new scaling, and its
 * confidentiality, host_data and concurrency when body changes them. Returns an exit
 * code. */
static int scale_send(struct cli *cli, const char *path, const json_t *body)
{
	json_t *o = NULL;
	int code = cli_call(cli, "PUT", path, body, &o);
	if (code)
		return code;
	const char *name = or_dash(field_str(o, "name"));
	char text[256];
	code = cli_print_result(cli, o, "tenant %s: %s\n", name,
				scaling_text(o, text, sizeof(text)));
	if (code == CLI_EXIT_OK && !cli->json &&
	    (json_object_get(body, "confidential") || json_object_get(body, "attestation")))
		printf("tenant %s: %s\n", name, confidential_text(o, text, sizeof(text)));
	if (code == CLI_EXIT_OK && !cli->json && json_object_get(body, "host_data"))
		printf("tenant %s: host_data %s\n", name, or_dash(field_str(o, "host_data")));
	if (code == CLI_EXIT_OK && !cli->json && json_object_get(body, "concurrency"))
		printf("tenant %s: concurrency %s\n", name,
		       concurrency_text(o, text, sizeof(text)));
	json_decref(o);
	return code;
}

static int run_scale(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum {
		O_MIN = OPT_FIRST_COMMAND,
		O_MAX,
		O_MECHANISM,
		O_POLICY,
		O_CONFIDENTIAL,
		O_REQUIRE,
		O_NO_REQUIRE,
		O_E2E_KEY,
		O_HOST_DATA,
		O_CONC
	};
	static const struct option opts[] = {
		{ "min", required_argument, NULL, O_MIN },
		{ "max", required_argument, NULL, O_MAX },
		{ "mechanism", required_argument, NULL, O_MECHANISM },
		{ "policy", required_argument, NULL, O_POLICY },
		{ "concurrency", required_argument, NULL, O_CONC },
		{ "confidential", required_argument, NULL, O_CONFIDENTIAL },
		{ "require-attestation", no_argument, NULL, O_REQUIRE },
		{ "no-require-attestation", no_argument, NULL, O_NO_REQUIRE },
		{ "e2e-key", required_argument, NULL, O_E2E_KEY },
		{ "host-data", required_argument, NULL, O_HOST_DATA },
		CLI_GLOBAL_OPTIONS,
	};
	struct host_data_opts hd = { 0 };
	long long min = -1, max = -1, concurrency = 0;
	const char *mechanism = NULL, *policy = NULL, *confidential = NULL, *attestation = NULL;
	uint64_t v;
	int c, code;
	while ((c = cli_getopt(cli, cmd, argc, argv, opts)) != -1) {
		switch (c) {
		case O_MIN:
		case O_MAX:
			/* The controller checks 0 <= min <= max <= its limit. */
			if (parse_u64(optarg, 0, INT_MAX, &v) < 0)
				return cli_usage_error(
					cmd, "%s must be a number of worker vCPUs, got \"%s\"",
					c == O_MIN ? "--min" : "--max", optarg);
			*(c == O_MIN ? &min : &max) = (long long)v;
			break;
		case O_MECHANISM:
			if (strcmp(optarg, "hotplug") != 0 && strcmp(optarg, "precreated") != 0)
				return cli_usage_error(
					cmd,
					"--mechanism must be hotplug or precreated, got \"%s\"",
					optarg);
			mechanism = optarg;
			break;
		case O_POLICY:
			if (!policy_ok(optarg))
				return cli_usage_error(
					cmd,
					"--policy must be elastic[:MS][:hold=MS][:standby=N], "
					"periodic:MS, fixed:N, fixed:max or scale-out[:MS], got "
					"\"%s\"",
					optarg);
			policy = optarg;
			break;
		case O_CONC:
			if ((code = concurrency_opt(cmd, optarg, &concurrency)))
				return code;
			break;
		case O_CONFIDENTIAL:
			if ((code = confidential_opt(cmd, optarg, &confidential)))
				return code;
			break;
		case O_REQUIRE:
		case O_NO_REQUIRE:
			if (attestation)
				return cli_usage_error(cmd, "give --require-attestation or "
							    "--no-require-attestation once");
			attestation = c == O_REQUIRE ? "required" : "optional";
			break;
		case O_E2E_KEY:
		case O_HOST_DATA:
			if ((code = host_data_opt(cmd, &hd, c == O_E2E_KEY, optarg)))
				return code;
			break;
		default: return cli_opt_default(cmd, c);
		}
	}
	char path[CLI_PATH_SIZE];
	if ((code = cli_path_args(cmd, argc, argv, 1, "/v1/tenants/%s/scaling", "TENANT", path)))
		return code;
	if (min < 0 && max < 0 && !mechanism && !policy && !concurrency && !confidential &&
	    !attestation && !hd.key_file && !hd.hex[0])
		return cli_usage_error(cmd, "nothing to change: give --min, --max, --mechanism, "
					    "--policy, --concurrency, --confidential, "
					    "--[no-]require-attestation, --e2e-key or --host-data");
	/* Only the fields given are sent: the others keep their values. */
	json_t *body = json_pack("{s:s*, s:s*, s:s*, s:s*}", "mechanism", mechanism, "policy",
				 policy, "confidential", confidential, "attestation", attestation);
	if (body && min >= 0)
		json_object_set_new(body, "min", json_integer(min));
	if (body && max >= 0)
		json_object_set_new(body, "max", json_integer(max));
	if (body && concurrency)
		json_object_set_new(body, "concurrency", json_integer(concurrency));
	if (!body)
		return cli_fail(CLI_EXIT_API, "out of memory");
	code = host_data_set(cmd, argv[optind], confidential, &hd, body);
	if (!code)
		code = scale_send(cli, path, body);
	json_decref(body);
	return code;
}

const struct cli_command cmd_scale = {
	"scale",
	"TENANT [--min N] [--max N] [--mechanism hotplug|precreated] [--policy P] "
	"[--concurrency N] [--confidential none|sev-snp] "
	"[--require-attestation|--no-require-attestation] [--e2e-key FILE | --host-data HEX]",
	"change a tenant's worker vCPU limits, mechanism, policy, concurrency or confidentiality "
	"(admin)",
	"Options left out keep their values. A running VM takes new limits and policy at once; a\n"
	"new mechanism, confidentiality or host_data (or a max above the VM's size) restarts it\n"
	"when nothing is in flight. A new concurrency applies from the next invocation on.\n\n"
	"options:\n"
	"  --min N                 worker vCPUs always kept\n"
	"  --max N                 worker vCPUs at most\n"
	"  --mechanism M           hotplug (QMP device_add/del) or precreated (all exist from\n"
	"                          boot)\n"
	"  --policy P              elastic[:MS][:hold=MS][:standby=N] (grow on demand, release\n"
	"                          after a keep-alive, 2 s by default), periodic:MS (sample\n"
	"                          every MS ms, one step toward demand), fixed:N, fixed:max\n"
	"                          (always N or max worker vCPUs), or scale-out[:MS] (one-worker\n"
	"                          VMs, up to max, booted when all are busy and stopped after\n"
	"                          MS ms idle, 60 s by default)\n" CONCURRENCY_HELP
	"  --confidential C        none or sev-snp (SEV-SNP guests; needs the precreated\n"
	"                          mechanism)\n"
	"  --require-attestation, --no-require-attestation\n"
	"                          whether invocations run only on VMs with verified evidence\n" HOST_DATA_HELP,
	run_scale,
};

/* ---- key list, key revoke -------------------------------------------------------------- */

/* The tenant a key command acts on: the argument, else DITTO_TENANT. */
static const char *key_tenant(const char *arg)
{
	const char *tenant = arg ? arg : getenv("DITTO_TENANT");
	return tenant && *tenant ? tenant : NULL;
}

static void key_row(struct table *t, const json_t *k)
{
	char age[32];
	table_add(t, "%s", or_dash(field_str(k, "key_id")));
	table_add(t, "%s ago", fmt_age(field_int(k, "created_ms", 0), age, sizeof(age)));
}

static int run_key_list(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	static const char *const header[] = { "KEY ID", "CREATED", NULL };
	int code = cli_parse_plain(cli, cmd, argc, argv, 0, 1);
	if (code >= 0)
		return code;
	const char *tenant = key_tenant(optind < argc ? argv[optind] : NULL);
	if (!tenant)
		return cli_usage_error(cmd, "name the TENANT (or set DITTO_TENANT)");
	char path[CLI_PATH_SIZE];
	if ((code = cli_path(cmd, "/v1/tenants/%s/keys", "TENANT", tenant, path)))
		return code;
	return cli_list(cli, path, "keys", header, key_row);
}

const struct cli_command cmd_key_list = {
	"key list",
	"[TENANT]",
	"list a tenant's live keys by id and age, never their secrets (admin, or its own key)",
	"TENANT defaults to $DITTO_TENANT.\n",
	run_key_list,
};

static int run_key_revoke(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	int code = cli_parse_plain(cli, cmd, argc, argv, 1, 2);
	if (code >= 0)
		return code;
	const char *tenant = key_tenant(argc - optind == 2 ? argv[optind] : NULL);
	const char *key_id = argv[argc - 1];
	if (!tenant)
		return cli_usage_error(cmd, "name the TENANT (or set DITTO_TENANT)");
	char path[CLI_PATH_SIZE], id[CLI_ESC_SIZE];
	if ((code = cli_path(cmd, "/v1/tenants/%s/keys/", "TENANT", tenant, path)) ||
	    (code = cli_escape(cmd, "KEY_ID", key_id, id)))
		return code;
	if (strlen(path) + strlen(id) >= sizeof(path))
		return cli_usage_error(cmd, "KEY_ID is too long");
	strcat(path, id);
	json_t *o = NULL;
	if ((code = cli_call(cli, "DELETE", path, NULL, &o)) == 0)
		code = cli_print_result(cli, o, "revoked key %s of tenant %s\n",
					or_dash(field_str(o, "key_id")),
					or_dash(field_str(o, "tenant")));
	json_decref(o);
	return code;
}

const struct cli_command cmd_key_revoke = {
	"key revoke",
	"[TENANT] KEY_ID",
	"revoke a tenant's key: it is refused (401) from the next request on (admin, or its own key)",
	"KEY_ID is the key's first 15 characters (dk_ and 12 hex digits), as key create and\n"
	"key list show it. TENANT defaults to $DITTO_TENANT.\n",
	run_key_revoke,
};
