/* ditto-controller: the HTTP API developers and operators use. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "controller.h"
#include "log.h"
#include "store.h"
#include "store_migrate.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ditto-controller [options]\n"
		"       ditto-controller migrate --from URI --to URI (copy a store into an empty one)\n"
		"  --listen ADDR       IPv4 address to listen on (default 127.0.0.1)\n"
		"  --port N            port, 0 for any free one (default 8080)\n"
		"  --data DIR          database, admin key and artifacts (default data/controller)\n"
		"  --store URI         sqlite:PATH or postgres:CONNINFO (libpq's key=value or\n"
		"                      postgresql:// URI; default sqlite:DIR/ditto.db)\n"
		"  --max-artifact N    largest artifact in bytes (default 50331648)\n"
		"  --host-timeout-ms N a host silent this long is down (default 5000)\n"
		"  --vm-memory-mib N   memory of each tenant VM (default 512)\n"
		"  --async-workers N   threads running async invocations (default 16)\n"
		"  --max-connections N concurrent client connections (default 1024)\n"
		"  --retain N          invocation records kept per tenant, 0 for all (default 10000)\n"
		"  --retain-days N     days invocation records are kept, 0 for ever (default 7)\n"
		"  --agent-link KIND   how invocations reach the agents: http, a request each,\n"
		"                      or stream, one persistent stream per host (default stream)\n"
		"  --id NAME           this controller's id among those sharing a PostgreSQL store,\n"
		"                      [a-z0-9-]{1,63} (default ctl-<8 random hex digits>)\n"
		"  --advertise URL     the URL other controllers reach this one at\n"
		"                      (default http://LISTEN:PORT)\n"
		"  --peer-timeout-ms N a controller silent this long is dead (default 3000)\n"
		"  --ready-file PATH   write the API URL here once listening\n"
		"  --log-level LEVEL   error, warn, info or debug (default info)\n"
		"  --help\n");
}

/* Writes the URL through a temporary file, so a reader never sees half a
 * line. */
static int write_ready_file(const char *path, const char *addr, int port)
{
	char text[128];
	snprintf(text, sizeof(text), "http://%s:%d\n", addr, port);
	return file_replace_text(path, text, 0666, false);
}

/* Sets the config's field for option c (one of the numeric options below)
 * from arg. Returns 0, or -EINVAL having said why on stderr. */
static int number_option(int c, const char *arg, struct controller_config *cfg)
{
	static const struct {
		int opt;
		const char *name;
		uint64_t lo, hi;
	} ranges[] = {
		{ 'p', "port", 0, 65535 },
		{ 'T', "host-timeout-ms", 100, 3600000 },
		{ 'M', "vm-memory-mib", 64, 65536 },
		{ 'A', "async-workers", 1, 1024 },
		{ 'C', "max-connections", 4, 100000 },
		{ 'R', "retain", 0, 100000000 },
		{ 'D', "retain-days", 0, 36500 },
		{ 'P', "peer-timeout-ms", CLUSTER_PEER_TIMEOUT_MIN_MS, CLUSTER_PEER_TIMEOUT_MAX_MS },
	};
	uint64_t v = 0;
	for (size_t i = 0; i < ARRAY_SIZE(ranges); i++) {
		if (ranges[i].opt == c && parse_u64(arg, ranges[i].lo, ranges[i].hi, &v) < 0) {
			fprintf(stderr, "ditto-controller: --%s must be %llu..%llu, got \"%s\"\n",
				ranges[i].name, (unsigned long long)ranges[i].lo,
				(unsigned long long)ranges[i].hi, arg);
			return -EINVAL;
		}
	}
	switch (c) {
	case 'p': cfg->port = (int)v; break;
	case 'T': cfg->host_timeout_ms = (int)v; break;
	case 'M': cfg->vm_memory_mib = (int)v; break;
	case 'A': cfg->async_workers = (unsigned)v; break;
	case 'C': cfg->max_connections = (unsigned)v; break;
	case 'R': cfg->retain = (unsigned)v; break;
	case 'P': cfg->peer_timeout_ms = (int)v; break;
	default: cfg->retain_days = (unsigned)v; break;
	}
	return 0;
}

/* Whether url can be advertised: http:// or https://, a host, no spaces. */
static bool advertise_ok(const char *url)
{
	size_t n = strlen(url);
	size_t scheme = !strncmp(url, "http://", 7) ? 7 : !strncmp(url, "https://", 8) ? 8 : 0;
	if (!scheme || n <= scheme || n >= STORE_ADDRESS_SIZE)
		return false;
	for (size_t i = 0; i < n; i++)
		if (url[i] <= ' ' || url[i] > '~')
			return false;
	return true;
}

/* Runs the controller until SIGTERM or SIGINT. Returns the exit status. */
static int serve(const struct controller_config *cfg, const char *ready_file)
{
	/* Block the stop signals before the server thread starts, so it inherits
	 * the mask and only sigwait below sees them. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct controller *ctl;
	char err[512];
	if (controller_start(cfg, &ctl, err, sizeof(err)) < 0) {
		fprintf(stderr, "ditto-controller: %s\n", err);
		return 1;
	}
	log_info("controller_listening addr=%s port=%d data=%s", cfg->listen_addr,
		 controller_port(ctl), cfg->data_dir);
	if (ready_file) {
		int r = write_ready_file(ready_file, cfg->listen_addr, controller_port(ctl));
		if (r < 0) {
			fprintf(stderr, "ditto-controller: cannot write %s: %s\n", ready_file,
				strerror(-r));
			controller_stop(ctl);
			return 1;
		}
	}
	int sig = 0;
	sigwait(&stop, &sig);
	log_info("controller_stopping signal=%d", sig);
	controller_stop(ctl);
	log_info("controller_stopped");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "migrate") == 0)
		return store_migrate_main(argc - 1, argv + 1);
	log_set_ident("ditto-controller");
	struct controller_config cfg;
	controller_config_defaults(&cfg);
	const char *ready_file = NULL;
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "data", required_argument, NULL, 'd' },
		{ "max-artifact", required_argument, NULL, 'm' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "host-timeout-ms", required_argument, NULL, 'T' },
		{ "vm-memory-mib", required_argument, NULL, 'M' },
		{ "async-workers", required_argument, NULL, 'A' },
		{ "max-connections", required_argument, NULL, 'C' },
		{ "retain", required_argument, NULL, 'R' },
		{ "retain-days", required_argument, NULL, 'D' },
		{ "agent-link", required_argument, NULL, 'L' },
		{ "store", required_argument, NULL, 'S' },
		{ "id", required_argument, NULL, 'I' },
		{ "advertise", required_argument, NULL, 'U' },
		{ "peer-timeout-ms", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': cfg.listen_addr = optarg; break;
		case 'd': cfg.data_dir = optarg; break;
		case 'm':
			if (parse_u64(optarg, 1, 1ull << 40, &cfg.max_artifact) < 0) {
				fprintf(stderr,
					"ditto-controller: --max-artifact must be 1..%llu bytes\n",
					1ull << 40);
				return 2;
			}
			break;
		case 'r': ready_file = optarg; break;
		case 'S': {
			const char *engine, *target;
			if (store_uri_parse(optarg, &engine, &target) < 0) {
				fprintf(stderr,
					"ditto-controller: --store must be sqlite:PATH or "
					"postgres:CONNINFO\n");
				return 2;
			}
			cfg.store = optarg;
			break;
		}
		case 'L':
			if (strcmp(optarg, "http") != 0 && strcmp(optarg, "stream") != 0) {
				fprintf(stderr,
					"ditto-controller: --agent-link must be http or stream, got "
					"\"%s\"\n",
					optarg);
				return 2;
			}
			cfg.agent_stream = strcmp(optarg, "stream") == 0;
			break;
		case 'I':
			if (!cluster_id_is_valid(optarg)) {
				fprintf(stderr,
					"ditto-controller: --id must be [a-z0-9-]{1,63}, got \"%s\"\n",
					optarg);
				return 2;
			}
			cfg.id = optarg;
			break;
		case 'U':
			if (!advertise_ok(optarg)) {
				fprintf(stderr,
					"ditto-controller: --advertise must be an http:// or https:// "
					"URL of at most 255 characters, got \"%s\"\n",
					optarg);
				return 2;
			}
			cfg.advertise = optarg;
			break;
		case 'p':
		case 'P':
		case 'T':
		case 'M':
		case 'A':
		case 'C':
		case 'R':
		case 'D':
			if (number_option(c, optarg, &cfg) < 0)
				return 2;
			break;
		case 'v':
			if (log_level_parse(optarg, &log_threshold) < 0) {
				fprintf(stderr, "ditto-controller: bad --log-level \"%s\"\n",
					optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ditto-controller: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}

	return serve(&cfg, ready_file);
}
