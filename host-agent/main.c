/* ditto-agent: the host agent. Starts tenant VMs, grows and shrinks their
 * worker vCPUs, relays invocations; operated over HTTP on loopback. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "snp_image.h"
#include "uplink.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ditto-agent [options]\n"
		"  --listen ADDR        operator API address (default 127.0.0.1)\n"
		"  --port N             operator API port, 0 for any free one (default 7070)\n"
		"  --data DIR           VM run folders and artifact store (default data/agent)\n"
		"  --image DIR          guest image from `make guest` (default build/guest)\n"
		"  --qemu PATH          QEMU binary (default qemu-system-x86_64)\n"
		"  --cores SPEC         core budget: all or a list like 0-3,6 (default all)\n"
		"  --accel auto|kvm|tcg accelerator (default auto: KVM only where usable)\n"
		"  --ready-file PATH    write the API URL here once listening\n"
		"  --ping-interval-ms N how often to check that each guest answers (default 2000)\n"
		"  --ping-timeout-ms N  a guest silent this long is unresponsive (default 15000)\n"
		"  --max-inflight N     invocations per VM in flight at once (default 1024)\n"
		"  --token-file PATH    require \"Authorization: Bearer <token>\" with the token in\n"
		"                       PATH on every route but /healthz\n"
		"  --controller URL     register with this controller and send it heartbeats; the\n"
		"                       API then requires a token made at each start and written\n"
		"                       to DATA/agent.token (unless --token-file gives one);\n"
		"                       repeat it (up to 8) for several controllers, each sent\n"
		"                       its own heartbeats\n"
		"  --controller-key-file PATH  the key sent to the controller as Bearer\n"
		"  --host-id ID         this host's name at the controller (default: hostname)\n"
		"  --advertise URL      the address the controller calls (default http://LISTEN:PORT)\n"
		"  --heartbeat-ms N     how often to send a heartbeat (default 1000)\n"
		"  --ovmf-amdsev PATH   the AmdSev OVMF build for sev-snp VMs (default\n"
		"                       $DITTO_OVMF_AMDSEV; without one no sev-snp VM runs here)\n"
		"  --snp-policy HEX     SEV-SNP guest policy (default 0x30000)\n"
		"  --snp-vcpu-model NAME  QEMU CPU model of sev-snp VMs (default %s)\n"
		"  --guest-ports single|per-cpu  how invocations reach a VM: single sends all\n"
		"                       through the guest's control port; per-cpu adds a port per\n"
		"                       worker vCPU and sends warm invocations straight to the\n"
		"                       one that runs them (default %s)\n"
		"  --wire-capture DIR   debugging aid: append the bytes sent to and read from each\n"
		"                       VM's guest channel to DIR/VM.to-guest and DIR/VM.from-guest\n"
		"  --log-level LEVEL    error, warn, info or debug (default info)\n"
		"  --help\n",
		SNP_VCPU_MODEL_DEFAULT, guest_ports_name(GUEST_PORTS_DEFAULT));
}

/* An SNP guest policy in hex ("0x30000"): bit 17 is reserved and must be
 * one (SEV-SNP ABI). Returns 0 or -EINVAL. */
static int parse_policy(const char *s, uint64_t *ret)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 16);
	if (errno || end == s || *end || s[0] == '-' || !(v & (1ull << 17)))
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Takes --snp-policy ('S') or --snp-vcpu-model ('M'); -EINVAL (said on
 * stderr) when the value cannot be used. */
static int snp_option(int c, const char *arg, struct agent_config *cfg)
{
	uint32_t sig;
	if (c == 'S' && parse_policy(arg, &cfg->snp_policy) < 0) {
		fprintf(stderr, "ditto-agent: --snp-policy must be a hex guest policy with bit 17 "
				"set, like 0x30000\n");
		return -EINVAL;
	}
	if (c == 'M' && snp_vcpu_model_signature(arg, &sig) < 0) {
		fprintf(stderr,
			"ditto-agent: --snp-vcpu-model \"%s\" is not an EPYC model (EPYC-v4, "
			"EPYC-Milan, EPYC-Genoa...)\n",
			arg);
		return -EINVAL;
	}
	if (c == 'M')
		cfg->snp_vcpu_model = arg;
	return 0;
}

/* Checks what one option cannot, then runs the agent until it is told to
 * stop. Returns main's exit status. */
static int run(const struct agent_config *cfg)
{
	if (!cfg->n_controllers && (cfg->controller_key_file || cfg->host_id || cfg->advertise)) {
		fprintf(stderr,
			"ditto-agent: --controller-key-file, --host-id and --advertise need "
			"--controller\n");
		return 2;
	}
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct agent agent;
	char err[512];
	int r = agent_init(&agent, &loop, cfg, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "ditto-agent: %s\n", err);
	else
		agent_run(&agent);
	agent_free(&agent);
	uv_loop_close(&loop);
	if (r < 0)
		return 1;
	log_info("agent_stopped");
	return 0;
}

int main(int argc, char **argv)
{
	log_set_ident("ditto-agent");
	struct agent_config cfg;
	agent_config_defaults(&cfg);
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "data", required_argument, NULL, 'd' },
		{ "image", required_argument, NULL, 'i' },
		{ "qemu", required_argument, NULL, 'q' },
		{ "cores", required_argument, NULL, 'c' },
		{ "accel", required_argument, NULL, 'a' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "ping-interval-ms", required_argument, NULL, 'P' },
		{ "ping-timeout-ms", required_argument, NULL, 'T' },
		{ "max-inflight", required_argument, NULL, 'I' },
		{ "token-file", required_argument, NULL, 't' },
		{ "controller", required_argument, NULL, 'C' },
		{ "controller-key-file", required_argument, NULL, 'K' },
		{ "host-id", required_argument, NULL, 'H' },
		{ "advertise", required_argument, NULL, 'A' },
		{ "heartbeat-ms", required_argument, NULL, 'B' },
		{ "ovmf-amdsev", required_argument, NULL, 'O' },
		{ "snp-policy", required_argument, NULL, 'S' },
		{ "snp-vcpu-model", required_argument, NULL, 'M' },
		{ "wire-capture", required_argument, NULL, 'W' },
		{ "guest-ports", required_argument, NULL, 'G' },
		{ NULL, 0, NULL, 0 },
	};
	cfg.ovmf_amdsev = getenv("DITTO_OVMF_AMDSEV");
	if (cfg.ovmf_amdsev && !cfg.ovmf_amdsev[0])
		cfg.ovmf_amdsev = NULL;
	int c;
	int64_t port, ms;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': cfg.listen_addr = optarg; break;
		case 'p':
			if (parse_i64(optarg, 0, 65535, &port) < 0) {
				fprintf(stderr,
					"ditto-agent: --port must be 0..65535, got \"%s\"\n",
					optarg);
				return 2;
			}
			cfg.port = (int)port;
			break;
		case 'd': cfg.data_dir = optarg; break;
		case 'i': cfg.image_dir = optarg; break;
		case 'q': cfg.qemu = optarg; break;
		case 'c': cfg.cores = optarg; break;
		case 'a':
			if (accel_parse(optarg, &cfg.accel) < 0) {
				fprintf(stderr, "ditto-agent: --accel must be auto, kvm or tcg\n");
				return 2;
			}
			break;
		case 'r': cfg.ready_file = optarg; break;
		case 'I':
			if (parse_i64(optarg, 1, 1000000, &ms) < 0) {
				fprintf(stderr, "ditto-agent: --max-inflight must be 1..1000000\n");
				return 2;
			}
			cfg.max_inflight = (unsigned)ms;
			break;
		case 'P':
		case 'T':
			if (parse_i64(optarg, 10, 3600000, &ms) < 0) {
				fprintf(stderr, "ditto-agent: --%s must be 10..3600000\n",
					c == 'P' ? "ping-interval-ms" : "ping-timeout-ms");
				return 2;
			}
			*(c == 'P' ? &cfg.ping_interval_ms : &cfg.ping_timeout_ms) = (int)ms;
			break;
		case 't': cfg.token_file = optarg; break;
		case 'C':
			if (cfg.n_controllers == AGENT_CONTROLLERS_MAX) {
				fprintf(stderr, "ditto-agent: at most %d --controller\n",
					AGENT_CONTROLLERS_MAX);
				return 2;
			}
			if (!uplink_url_is_valid(optarg)) {
				fprintf(stderr,
					"ditto-agent: --controller must be an http:// or https:// "
					"URL, got \"%.200s\"\n",
					optarg);
				return 2;
			}
			cfg.controllers[cfg.n_controllers++] = optarg;
			break;
		case 'K': cfg.controller_key_file = optarg; break;
		case 'H': cfg.host_id = optarg; break;
		case 'A': cfg.advertise = optarg; break;
		case 'B':
			if (parse_i64(optarg, 10, 3600000, &ms) < 0) {
				fprintf(stderr,
					"ditto-agent: --heartbeat-ms must be 10..3600000\n");
				return 2;
			}
			cfg.heartbeat_ms = (int)ms;
			break;
		case 'O': cfg.ovmf_amdsev = optarg; break;
		case 'S':
		case 'M':
			if (snp_option(c, optarg, &cfg) < 0)
				return 2;
			break;
		case 'W': cfg.wire_capture = optarg; break;
		case 'G':
			if (guest_ports_parse(optarg, &cfg.guest_ports) < 0) {
				fprintf(stderr,
					"ditto-agent: --guest-ports must be single or per-cpu\n");
				return 2;
			}
			break;
		case 'v':
			if (log_level_parse(optarg, &log_threshold) < 0) {
				fprintf(stderr, "ditto-agent: bad --log-level \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ditto-agent: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	return run(&cfg);
}
