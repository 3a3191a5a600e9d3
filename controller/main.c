/* ditto-controller: the HTTP API developers and operators use. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "log.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ditto-controller [options]\n"
		   "  --listen ADDR       IPv4 address to listen on (default 127.0.0.1)\n"
		   "  --port N            port, 0 for any free one (default 8080)\n"
		   "  --data DIR          database, admin key and artifacts (default data/controller)\n"
		   "  --max-artifact N    largest artifact in bytes (default 50331648)\n"
		   "  --ready-file PATH   write the API URL here once listening\n"
		   "  --log-level LEVEL   error, warn, info or debug (default info)\n"
		   "  --help\n");
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *ret)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || *s == '-' || errno || v < lo || v > hi)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Writes the URL to a temporary file and renames it, so a reader never sees
 * half a line. */
static int write_ready_file(const char *path, const char *addr, int port)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	FILE *f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "http://%s:%d\n", addr, port);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	log_set_ident("ditto-controller");
	struct api_config cfg = { "127.0.0.1", 8080, "data/controller", 48ull << 20 };
	const char *ready_file = NULL;
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },	  { "port", required_argument, NULL, 'p' },
		{ "data", required_argument, NULL, 'd' },	  { "max-artifact", required_argument, NULL, 'm' },
		{ "ready-file", required_argument, NULL, 'r' }, { "log-level", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },		  { NULL, 0, NULL, 0 },
	};
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': cfg.listen_addr = optarg; break;
		case 'p':
			if (parse_u64(optarg, 0, 65535, &v) < 0) {
				fprintf(stderr, "ditto-controller: --port must be 0..65535, got \"%s\"\n", optarg);
				return 2;
			}
			cfg.port = (int)v;
			break;
		case 'd': cfg.data_dir = optarg; break;
		case 'm':
			if (parse_u64(optarg, 1, 1ull << 40, &cfg.max_artifact) < 0) {
				fprintf(stderr, "ditto-controller: --max-artifact must be 1..%llu bytes\n", 1ull << 40);
				return 2;
			}
			break;
		case 'r': ready_file = optarg; break;
		case 'v':
			if (log_level_parse(optarg, &log_threshold) < 0) {
				fprintf(stderr, "ditto-controller: bad --log-level \"%s\"\n", optarg);
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

	/* Block the stop signals before the server thread starts, so it inherits
	 * the mask and only sigwait below sees them. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct api *api;
	char err[512];
	if (api_start(&cfg, &api, err, sizeof(err)) < 0) {
		fprintf(stderr, "ditto-controller: %s\n", err);
		return 1;
	}
	log_info("controller_listening addr=%s port=%d data=%s", cfg.listen_addr, api_port(api), cfg.data_dir);
	if (ready_file) {
		int r = write_ready_file(ready_file, cfg.listen_addr, api_port(api));
		if (r < 0) {
			fprintf(stderr, "ditto-controller: cannot write %s: %s\n", ready_file, strerror(-r));
			api_stop(api);
			return 1;
		}
	}
	int sig = 0;
	sigwait(&stop, &sig);
	log_info("controller_stopping signal=%d", sig);
	api_stop(api);
	log_info("controller_stopped");
	return 0;
}
