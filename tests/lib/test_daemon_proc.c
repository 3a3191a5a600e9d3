/* Daemons as children, against stand-in daemons: shell scripts in a
 * temporary build folder that take the same arguments, write their ready
 * file (or do not), exit early, or ignore SIGTERM. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon_proc.h"
#include "support/files.h"
#include "util.h"

/* Writes BUILD/NAME as an executable script. */
static void script(const char *build, const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", build, name);
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

/* The value that follows flag in the daemon's arguments, as the scripts
 * find it. */
#define ARG_OF \
	"arg() { while [ $# -gt 1 ]; do [ \"$1\" = \"$WANT\" ] && echo \"$2\"; shift; done; }\n"

static void test_start_and_stop(void **state)
{
	char build[] = "/tmp/ditto-dproc.XXXXXX";
	assert_non_null(mkdtemp(build));
	/* Listens (says so in its ready file), echoes its arguments to its
	 * log, and stops on SIGTERM with status 0. */
	script(build, "ditto-controller",
	       "#!/bin/sh\n" ARG_OF "echo \"args: $*\"\n"
	       "ready=$(WANT=--ready-file arg \"$@\")\nport=$(WANT=--port arg \"$@\")\n"
	       "trap 'exit 0' TERM\necho \"http://127.0.0.1:$port\" > \"$ready\"\n"
	       "while :; do sleep 0.05; done\n");
	char data[300];
	snprintf(data, sizeof(data), "%s/data/controller", build);
	const char *const extra[] = { "--log-level", "warn", NULL };
	struct daemon_args a = { .build_dir = build,
				 .data_dir = data,
				 .port = 4321,
				 .extra = extra,
				 .timeout_ms = 10000 };
	struct daemon_proc p;
	assert_int_equal(daemon_proc_start_controller(&p, &a), 0);
	assert_true(p.pid > 0);
	assert_string_equal(p.url, "http://127.0.0.1:4321");
	assert_int_equal(daemon_proc_port(&p), 4321);
	assert_int_equal(daemon_proc_stop(&p, SIGTERM, 10000), 0);
	assert_int_equal(p.pid, 0);
	assert_int_equal(daemon_proc_stop(&p, SIGTERM, 10000), -ECHILD);
	/* Its output went to DATA/controller.log, with the arguments given. */
	char log[8192];
	assert_true(file_read_text(p.log, log, sizeof(log)) > 0);
	assert_non_null(strstr(log, "--port 4321 --data "));
	assert_non_null(strstr(log, "/controller.url --log-level warn"));

	/* An agent also gets its guest image. */
	script(build, "ditto-agent", "#!/bin/sh\necho \"args: $*\"\nexit 3\n");
	snprintf(data, sizeof(data), "%s/data/agent", build);
	a = (struct daemon_args){ .build_dir = build, .data_dir = data, .timeout_ms = 10000 };
	assert_int_equal(daemon_proc_start_agent(&p, &a), -ECHILD);
	assert_int_equal(p.pid, 0);
	assert_true(file_read_text(p.log, log, sizeof(log)) > 0);
	char image[300];
	snprintf(image, sizeof(image), "--image %s/guest", build);
	assert_non_null(strstr(log, image));
	assert_int_equal(remove_tree(build), 0);
}

static void test_never_ready_and_stubborn(void **state)
{
	char build[] = "/tmp/ditto-dproc.XXXXXX";
	assert_non_null(mkdtemp(build));
	char data[300];
	snprintf(data, sizeof(data), "%s/data", build);
	/* Never writes its ready file: killed after the timeout. */
	script(build, "ditto-agent", "#!/bin/sh\nexec sleep 30\n");
	struct daemon_args a = { .build_dir = build, .data_dir = data, .timeout_ms = 200 };
	struct daemon_proc p;
	assert_int_equal(daemon_proc_start_agent(&p, &a), -ETIMEDOUT);
	assert_int_equal(p.pid, 0);

	/* Ignores SIGTERM: killed once the wait is over. */
	script(build, "ditto-agent",
	       "#!/bin/sh\n" ARG_OF "trap '' TERM\nready=$(WANT=--ready-file arg \"$@\")\n"
	       "echo http://127.0.0.1:1 > \"$ready\"\nwhile :; do sleep 0.05; done\n");
	a.timeout_ms = 10000;
	assert_int_equal(daemon_proc_start_agent(&p, &a), 0);
	pid_t pid = p.pid;
	assert_int_equal(daemon_proc_stop(&p, SIGTERM, 200), -ETIMEDOUT);
	assert_int_equal(kill(pid, 0), -1);

	/* A crash is told apart from a clean stop. */
	assert_int_equal(daemon_proc_start_agent(&p, &a), 0);
	assert_int_equal(daemon_proc_stop(&p, SIGKILL, 10000), 128 + SIGKILL);
	assert_int_equal(remove_tree(build), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_start_and_stop),
					    cmocka_unit_test(test_never_ready_and_stubborn) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
