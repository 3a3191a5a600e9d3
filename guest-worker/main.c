/* ditto-guest: the worker daemon inside a tenant VM. Parses options, opens
 * the agent channel and runs the daemon; everything else is in daemon.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "artifact.h"
#include "channel.h"
#include "daemon.h"
#include "log.h"
#include "runtime.h"
#include "util.h"
#include "verity.h"

/* How long to wait for the virtio port to appear: its driver may still be
 * probing when init starts the daemon. */
#define PORT_WAIT_MS 30000

static const char usage[] =
	"usage: ditto-guest [options]\n"
	"  --port PATH        channel to the agent: a device, FIFO or unix socket\n"
	"                     (default: the virtio-serial port named " CHANNEL_PORT_NAME ")\n"
	"  --port-fd N        channel to the agent: an inherited fd\n"
	"  --port-name NAME   virtio-serial port name to look for\n"
	"  --sysfs DIR        sysfs root (default /sys)\n"
	"  --artifacts DIR    artifact cache (default " ARTIFACT_DEFAULT_DIR ")\n"
	"  --launchers DIR    the python3 and nodejs launchers (default " RUNTIME_DEFAULT_LAUNCHERS
	")\n"
	"  --log-level LEVEL  error|warn|info|debug (default info)\n";

/* Keeps fds 0-2 open (on /dev/null if need be) so no pipe or socket the
 * daemon opens can land on them and be mistaken for stdio by a child. */
static void ensure_stdio(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int n = open("/dev/null", O_RDWR);
		if (n >= 0 && n != fd) {
			dup2(n, fd);
			close(n);
		}
	}
}

static int find_port(const char *name, char *path, size_t size)
{
	struct timespec pause = { .tv_nsec = 20 * 1000 * 1000 };
	int r = -ENOENT;
	for (int waited = 0; waited <= PORT_WAIT_MS; waited += 20) {
		r = channel_find_port("/sys", name, path, size);
		if (r == 0 && access(path, R_OK | W_OK) == 0)
			return 0;
		nanosleep(&pause, NULL);
	}
	return r < 0 ? r : -ENOENT;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "port-fd", required_argument, NULL, 'f' },
		{ "port-name", required_argument, NULL, 'n' },
		{ "sysfs", required_argument, NULL, 's' },
		{ "artifacts", required_argument, NULL, 'a' },
		{ "launchers", required_argument, NULL, 'L' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct daemon_config cfg;
	daemon_config_defaults(&cfg);
	const char *port = NULL, *port_name = CHANNEL_PORT_NAME;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': port = optarg; break;
		case 'f': cfg.port_fd = atoi(optarg); break;
		case 'n': port_name = optarg; break;
		case 's': cfg.sysfs_root = optarg; break;
		case 'a': cfg.artifact_dir = optarg; break;
		case 'L': cfg.launchers_dir = optarg; break;
		case 'l':
			if (log_level_parse(optarg, &log_threshold) < 0) {
				fprintf(stderr, "bad log level: %s\n%s", optarg, usage);
				return 2;
			}
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind < argc) {
		fputs(usage, stderr);
		return 2;
	}

	if (cfg.port_fd >= 0) {
		struct stat st;
		if (fstat(cfg.port_fd, &st) < 0) {
			log_error("port_fd_invalid fd=%d err=%s", cfg.port_fd, strerror(errno));
			return 1;
		}
		fcntl(cfg.port_fd, F_SETFD, FD_CLOEXEC);
		cfg.port_eof_ends = !S_ISCHR(st.st_mode);
	} else {
		char found[256];
		if (!port) {
			int r = find_port(port_name, found, sizeof(found));
			if (r < 0) {
				log_error("port_not_found name=%s err=%s", port_name, strerror(-r));
				return 1;
			}
			port = found;
		}
		int r = channel_open_path(port, &cfg.port_fd, &cfg.port_eof_ends);
		if (r < 0) {
			log_error("port_open_failed path=%s err=%s", port, strerror(-r));
			return 1;
		}
		log_info("port_opened path=%s", port);
	}
	return daemon_run(&cfg) < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	/* /init's helper for the runtime disk (verity.h), not the daemon. */
	if (argc > 1 && strcmp(argv[1], "verity-open") == 0)
		return verity_main(argc - 1, argv + 1);
	log_set_ident("ditto-guest");
	ensure_stdio();
	/* When the kernel handed over: the rest of HELLO's uptime is ours. */
	char up[64];
	if (file_read_text("/proc/uptime", up, sizeof(up)) > 0)
		log_info("starting uptime_ms=%.0f", strtod(up, NULL) * 1000.0);
	int code = run(argc, argv);
	/* As PID 1 (init execs it in the VM) exiting would panic the kernel:
	 * power the VM off instead, which the host sees as the VM ending. */
	if (getpid() == 1) {
		log_error("init_exiting code=%d action=poweroff", code);
		sync();
		reboot(RB_POWER_OFF);
	}
	return code;
}
