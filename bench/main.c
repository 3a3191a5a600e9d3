/* ditto-bench: benchmarks and the end-to-end demo.
 *
 *   ditto-bench vcpu --mechanism hotplug|precreated --reps N [--mode M] [--json]
 *                    [--latencies-out FILE]
 *   ditto-bench mem --vms N [--json]
 *   ditto-bench invoke [--runtime python3|nodejs|binary] [--cold N] [--concurrency C]
 *                      [--rate R] [--duration S] [--warmup S] [--reps R] [--records N]
 *                      [--encrypted] [--agent-link http|stream]
 *                      [--store sqlite|postgres] [--controllers N]
 *                      [--url URL --key KEY] [--json]
 *   ditto-bench demo
 *   ditto-bench replay --trace PATH [trace, selection, scaling, policy and
 *                      output flags] (its own --help)
 *   ditto-bench simulate --trace PATH [the same flags] (bench/simulate.c)
 *   ditto-bench burst --tasks N --task-ms T --policies LIST (bench/burst.c)
 *   ditto-bench soak --minutes M [--rate R] [--sample-s S] (bench/soak.c)
 *   ditto-bench chaos [--faults N] [--kinds LIST] [--rate R] (bench/chaos.c)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "sim.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ditto-bench COMMAND [options]\n"
		"commands:\n"
		"  vcpu   boot a VM, grow and shrink one worker vCPU N times, print latencies\n"
		"  mem    boot N VMs, print the agent's and each QEMU's resident memory\n"
		"  demo   boot a VM, grow worker vCPUs, run the sample functions on them\n"
		"  invoke synchronous echo invocations through controller, agent and guest:\n"
		"         latency, throughput, errors and where the time goes, and the\n"
		"         runtime's cold start\n"
		"  replay an Azure Functions trace open-loop through the controller under\n"
		"         each scaling policy, side by side (ditto-bench replay --help)\n"
		"  simulate the same trace and policies in a discrete-event model at any scale\n"
		"         (ditto-bench simulate --help)\n"
		"  burst  N CPU-bound tasks at once on a tenant starting at 0 worker vCPUs:\n"
		"         completion time against the ideal per policy (ditto-bench burst --help)\n"
		"  soak   a steady load for M minutes: errors, and the memory and descriptors of\n"
		"         the controller, the agent and QEMU over time (ditto-bench soak --help)\n"
		"  chaos  a steady load while QEMU, the agent and the controller are killed and\n"
		"         the guest frozen, one fault at a time: what was lost, completed twice\n"
		"         or failed without a reason, and the time to recover (--help)\n"
		"options:\n"
		"  --build DIR          build folder (default build)\n"
		"  --data DIR           agent data folder, or the folder for the controller's and\n"
		"                       the agent's (invoke); default: a fresh one under /tmp\n"
		"  --mechanism M        hotplug or precreated (vcpu; default hotplug)\n"
		"  --reps N             grow/shrink cycles (vcpu; default 10) or timed runs\n"
		"                       (invoke; default 3)\n"
		"  --mode M             process or persistent: how the function on the new vCPU\n"
		"                       runs (vcpu; default process)\n"
		"  --boots N            VM boots to time (vcpu; default 5)\n"
		"  --latencies-out FILE write the grow, shrink, boot and call latency samples\n"
		"                       for ditto-bench simulate (vcpu; updates FILE's other\n"
		"                       mechanism's entry)\n"
		"  --vms N              VMs (mem; default 4)\n"
		"  --concurrency C      client threads, each with one kept-alive connection\n"
		"                       (invoke; 1..256, default 1); under --rate, the most\n"
		"                       calls outstanding\n"
		"  --rate R             open loop: R calls per second at fixed times, latency\n"
		"                       from each call's due time, calls due while C are\n"
		"                       outstanding dropped (invoke; default: closed loop)\n"
		"  --duration S         seconds per timed run (invoke; default 10)\n"
		"  --warmup S           seconds of untimed calls first (invoke; default 2)\n"
		"  --records N          store N async invocations first and report the\n"
		"                       controller's memory after (invoke; default 0)\n"
		"  --runtime R          echo's runtime: python3, nodejs or binary (invoke;\n"
		"                       default binary)\n"
		"  --cold N             deploy N fresh versions of echo after the timed runs and\n"
		"                       call each once: the cold start (invoke; default 5)\n"
		"  --encrypted          seal each call end to end to the attested VM key and\n"
		"                       open each result, as a tenant's client does (invoke)\n"
		"  --url URL --key KEY  use a running controller and its admin key instead of\n"
		"                       starting one with an agent (invoke)\n"
		"  --agent-link KIND    http or stream: how the controller started here reaches\n"
		"                       the agent (invoke; default: the controller's, stream)\n"
		"  --store KIND         sqlite or postgres: the store of the controllers started\n"
		"                       here; postgres starts a private PostgreSQL server\n"
		"                       (invoke; default sqlite)\n"
		"  --controllers N      controllers on the store, each with its own port, the\n"
		"                       agent reporting to all and the calls spread over them\n"
		"                       round robin (invoke; 1..4, default 1; >1 needs postgres)\n"
		"  --accel auto|kvm|tcg passed to the agent\n"
		"  --cores SPEC         agent core budget\n"
		"  --json               print one JSON object instead of a table\n");
}

/* Whether the options hold together; says what is wrong when not. */
static bool opts_valid(const struct bench_opts *o)
{
	if (strcmp(o->mechanism, "hotplug") != 0 && strcmp(o->mechanism, "precreated") != 0) {
		fprintf(stderr, "ditto-bench: --mechanism must be hotplug or precreated\n");
		return false;
	}
	if (strcmp(o->mode, "process") != 0 && strcmp(o->mode, "persistent") != 0) {
		fprintf(stderr, "ditto-bench: --mode must be process or persistent\n");
		return false;
	}
	if (o->reps < 1 || o->reps > 10000 || o->vms < 1 || o->vms > 64 || o->boots < 1 ||
	    o->boots > 1000) {
		fprintf(stderr,
			"ditto-bench: --reps must be 1..10000, --boots 1..1000, --vms 1..64\n");
		return false;
	}
	if (o->agent_link && strcmp(o->agent_link, "http") != 0 &&
	    strcmp(o->agent_link, "stream") != 0) {
		fprintf(stderr, "ditto-bench: --agent-link must be http or stream\n");
		return false;
	}
	if (o->agent_link && o->url) {
		fprintf(stderr, "ditto-bench: give --agent-link or --url, not both\n");
		return false;
	}
	char err[160];
	if (bench_invoke_opts_check(o, err, sizeof(err)) < 0) {
		fprintf(stderr, "ditto-bench: %s\n", err);
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *cmd = argv[1];
	/* Commands with their own flags. */
	if (strcmp(cmd, "replay") == 0)
		return bench_replay(argc - 1, argv + 1);
	if (strcmp(cmd, "simulate") == 0)
		return bench_simulate(argc - 1, argv + 1);
	if (strcmp(cmd, "burst") == 0)
		return bench_burst(argc - 1, argv + 1);
	if (strcmp(cmd, "soak") == 0)
		return bench_soak(argc - 1, argv + 1);
	if (strcmp(cmd, "chaos") == 0)
		return bench_chaos(argc - 1, argv + 1);
	struct bench_opts o = { .build = "build",
				.mechanism = "hotplug",
				.mode = "process",
				.reps = strcmp(cmd, "invoke") == 0 ? 3 : 10,
				.boots = 5,
				.vms = 4,
				.concurrency = 1,
				.duration_s = 10,
				.warmup_s = 2,
				.runtime = "binary",
				.cold = 5,
				.controllers = 1 };
	static const struct option opts[] = {
		{ "build", required_argument, NULL, 'b' },
		{ "data", required_argument, NULL, 'd' },
		{ "mechanism", required_argument, NULL, 'm' },
		{ "reps", required_argument, NULL, 'r' },
		{ "vms", required_argument, NULL, 'n' },
		{ "accel", required_argument, NULL, 'a' },
		{ "cores", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "mode", required_argument, NULL, 'M' },
		{ "boots", required_argument, NULL, 'B' },
		{ "latencies-out", required_argument, NULL, 'L' },
		{ "concurrency", required_argument, NULL, 'C' },
		{ "duration", required_argument, NULL, 'D' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "records", required_argument, NULL, 'R' },
		{ "url", required_argument, NULL, 'u' },
		{ "key", required_argument, NULL, 'k' },
		{ "encrypted", no_argument, NULL, 'E' },
		{ "runtime", required_argument, NULL, 'T' },
		{ "cold", required_argument, NULL, 'O' },
		{ "rate", required_argument, NULL, 'Q' },
		{ "agent-link", required_argument, NULL, 'K' },
		{ "store", required_argument, NULL, 'S' },
		{ "controllers", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': o.build = optarg; break;
		case 'd': o.data = optarg; break;
		case 'm': o.mechanism = optarg; break;
		case 'M': o.mode = optarg; break;
		case 'B': o.boots = atoi(optarg); break;
		case 'L': o.latencies_out = optarg; break;
		case 'r': o.reps = atoi(optarg); break;
		case 'n': o.vms = atoi(optarg); break;
		case 'a': o.accel = optarg; break;
		case 'c': o.cores = optarg; break;
		case 'C': o.concurrency = atoi(optarg); break;
		case 'D': o.duration_s = atoi(optarg); break;
		case 'W': o.warmup_s = atoi(optarg); break;
		case 'R': o.records = atoi(optarg); break;
		case 'u': o.url = optarg; break;
		case 'k': o.key = optarg; break;
		case 'E': o.encrypted = true; break;
		case 'T': o.runtime = optarg; break;
		case 'O': o.cold = atoi(optarg); break;
		case 'Q': o.rate = atoi(optarg) > 0 ? atoi(optarg) : -1; break;
		case 'K': o.agent_link = optarg; break;
		case 'S': o.store = optarg; break;
		case 'N': o.controllers = atoi(optarg); break;
		case 'j': o.json = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!opts_valid(&o))
		return 2;
	char tmp[] = "/tmp/ditto-bench.XXXXXX";
	if (!o.data && !o.url) {
		if (!mkdtemp(tmp)) {
			fprintf(stderr, "ditto-bench: cannot create a data folder: %s\n",
				strerror(errno));
			return 1;
		}
		o.data = tmp;
	}
	if (strcmp(cmd, "vcpu") == 0)
		return bench_vcpu(&o) < 0;
	if (strcmp(cmd, "mem") == 0)
		return bench_mem(&o) < 0;
	if (strcmp(cmd, "demo") == 0)
		return bench_demo(&o) < 0;
	if (strcmp(cmd, "invoke") == 0)
		return bench_invoke(&o) < 0;
	fprintf(stderr, "ditto-bench: unknown command \"%s\" (try --help)\n", cmd);
	return 2;
}
