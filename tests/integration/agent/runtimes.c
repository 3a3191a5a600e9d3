/* The runtime disk: Python and Node.js scripts, run in process mode in a real
 * VM from the read-only runtime the agent attaches, read JSON on stdin and
 * print JSON. The test prints what a cold start costs (TCG) for the record:
 * the boot, each runtime's first call, QEMU's resident memory. It checks
 * what init sets up beside the disk (cgroup v2, the launchers, Python's
 * bytecode), and that a disk whose bytes are not the ones the image's root
 * hash names is not mounted. */
#include "agent.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/procs.h"
#include "util.h"

/* Python 3 and Node.js from the runtime disk, each adding two numbers. */
static const char python_src[] = "#!/usr/bin/python3\n"
				 "import json, sys\n"
				 "a = json.load(sys.stdin)\n"
				 "print(json.dumps({'runtime': 'python%d' % sys.version_info[0],\n"
				 "                  'sum': a['x'] + a['y']}))\n";
static const char node_src[] =
	"#!/usr/bin/node\n"
	"let s = '';\n"
	"process.stdin.on('data', (d) => { s += d; });\n"
	"process.stdin.on('end', () => {\n"
	"  const a = JSON.parse(s);\n"
	"  console.log(JSON.stringify({ runtime: 'node', sum: a.x + a.y }));\n"
	"});\n";

/* What init and the disk give the guest: cgroup v2 with the memory
 * controller for the root's children, the launchers on the disk, the
 * standard library's bytecode beside its sources. */
static const char layout_src[] =
	"#!/bin/sh\n"
	"has() { [ -f \"$1\" ] && echo true || echo false; }\n"
	"printf '{\"subtree\":\"%s\",\"py\":%s,\"js\":%s,\"pyc\":%s}\\n' "
	"\"$(cat /sys/fs/cgroup/cgroup.subtree_control)\" "
	"$(has /opt/runtime/ditto/python/launcher.py) $(has /opt/runtime/ditto/nodejs/launcher.js) "
	"$(has /usr/lib/python3.11/json/__pycache__/__init__.cpython-311.pyc)\n";

static void expect_layout(void)
{
	char digest[SHA256_HEX_SIZE];
	assert_int_equal(api_client_put_artifact(&S.c, layout_src, strlen(layout_src), digest), 201);
	json_t *r = invoke("rt", digest, "process", 1, 60000, "{}");
	expect_ran_on(r, 1);
	json_t *out = json_loads(json_string_value(json_object_get(r, "result")), 0, NULL);
	assert_non_null(out);
	const char *subtree = json_string_value(json_object_get(out, "subtree"));
	assert_non_null(subtree);
	assert_non_null(strstr(subtree, "memory"));
	assert_true(json_is_true(json_object_get(out, "py")));
	assert_true(json_is_true(json_object_get(out, "js")));
	assert_true(json_is_true(json_object_get(out, "pyc")));
	json_decref(out);
	json_decref(r);
}

/* Runs the script SRC with {"x":X,"y":40}, checks it printed the sum and
 * the runtime's name, and returns how long the call took in ms. */
static long long expect_sum(const char *src, const char *runtime, int x)
{
	char digest[SHA256_HEX_SIZE], input[64];
	assert_int_equal(api_client_put_artifact(&S.c, src, strlen(src), digest), 201);
	snprintf(input, sizeof(input), "{\"x\":%d,\"y\":40}", x);
	uint64_t t0 = time_now_us();
	json_t *r = invoke("rt", digest, "process", 1, 60000, input);
	long long ms = (long long)((time_now_us() - t0) / 1000);
	expect_ran_on(r, 1);
	/* Nothing but the function writes to its log: no interpreter warnings. */
	const char *log = json_string_value(json_object_get(r, "log"));
	if (!log || log[0])
		fail_msg("%s wrote to the log: %s", runtime, log ? log : "(none)");
	json_t *out = json_loads(json_string_value(json_object_get(r, "result")), 0, NULL);
	assert_non_null(out);
	assert_string_equal(json_string_value(json_object_get(out, "runtime")), runtime);
	assert_int_equal(json_integer_value(json_object_get(out, "sum")), x + 40);
	json_decref(out);
	json_decref(r);
	return ms;
}

/* The field key ("VmRSS:", "RssAnon:") of process pid's status, in KiB, or -1. */
static long status_kib(long pid, const char *key)
{
	char path[64], text[4096];
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if (file_read_text(path, text, sizeof(text)) < 0)
		return -1;
	const char *p = strstr(text, key);
	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

void test_runtime_disk(void **state)
{
	json_t *vm = start_vm_spec("rt", "{\"mechanism\":\"precreated\",\"max_workers\":1,"
					 "\"memory_mib\":256}");
	long long boot_ms = int_field(vm, "boot_ms");
	long pid = (long)int_field(vm, "pid");
	json_decref(vm);
	json_decref(resize("rt", 1));
	long rss_idle = status_kib(pid, "VmRSS:"), anon_idle = status_kib(pid, "RssAnon:");
	long long py_ms = expect_sum(python_src, "python3", 2);
	long long node_ms = expect_sum(node_src, "node", 5);
	/* Again: the runtime stays mounted and readable across calls. */
	long long py_again_ms = expect_sum(python_src, "python3", 11);
	long long node_again_ms = expect_sum(node_src, "node", 7);
	long rss_after = status_kib(pid, "VmRSS:"), anon_after = status_kib(pid, "RssAnon:");
	expect_layout();
	char disk[512];
	struct stat st;
	snprintf(disk, sizeof(disk), "%s/guest/runtime.img", test_build_dir());
	long long disk_bytes = stat(disk, &st) == 0 ? (long long)st.st_size : -1;
	printf("runtime figures: boot_ms=%lld python_first_ms=%lld node_first_ms=%lld "
	       "python_again_ms=%lld node_again_ms=%lld qemu_rss_idle_kib=%ld "
	       "qemu_rss_after_kib=%ld qemu_anon_idle_kib=%ld qemu_anon_after_kib=%ld "
	       "disk_bytes=%lld\n",
	       boot_ms, py_ms, node_ms, py_again_ms, node_again_ms, rss_idle, rss_after,
	       anon_idle, anon_after, disk_bytes);
	stop_vm("rt");
}

/* Links or copies the image file name from the suite's image into dir. */
static void image_file(const char *dir, const char *name, bool copy)
{
	char from[PATH_MAX + 64], to[512], build[PATH_MAX];
	/* A link made from a relative build folder would point nowhere. */
	assert_non_null(realpath(test_build_dir(), build));
	snprintf(from, sizeof(from), "%s/guest/%s", build, name);
	snprintf(to, sizeof(to), "%s/%s", dir, name);
	if (!copy) {
		assert_int_equal(symlink(from, to), 0);
		return;
	}
	void *buf;
	size_t len;
	assert_int_equal(file_read_all(from, &buf, &len), 0);
	FILE *f = fopen(to, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(buf);
}

/* An agent on a copy of the image whose runtime disk has one byte changed
 * in its first block (the squashfs superblock): the root hash on the kernel
 * command line no longer matches, so the guest's dm-verity fails the read,
 * init says so on the console and does not mount the disk, and a Python
 * function does not run. */
void test_runtime_disk_tampered(void **state)
{
	char dir[] = "/tmp/ditto-tamper.XXXXXX", img[64], path[128];
	assert_non_null(mkdtemp(dir));
	snprintf(img, sizeof(img), "%s/guest", dir);
	assert_int_equal(mkdir(img, 0755), 0);
	image_file(img, "vmlinux", false);
	image_file(img, "initramfs.cpio.gz", false);
	image_file(img, "image.json", true);
	image_file(img, "runtime.img", true);
	snprintf(path, sizeof(path), "%s/runtime.img", img);
	FILE *f = fopen(path, "r+");
	assert_non_null(f);
	assert_int_equal(fseek(f, 1000, SEEK_SET), 0);
	int c = fgetc(f);
	assert_int_equal(fseek(f, 1000, SEEK_SET), 0);
	assert_int_not_equal(fputc(c ^ 0x01, f), EOF);
	assert_int_equal(fclose(f), 0);

	struct daemon_proc a;
	const char *extra[] = { "--image", img, NULL };
	assert_int_equal(proc_start_agent(&a, dir, extra), 0);
	struct api_client ac;
	api_client_init(&ac, a.url);
	static const char spec[] = "{\"mechanism\":\"precreated\",\"max_workers\":1,"
				   "\"memory_mib\":256}";
	json_t *r = NULL;
	assert_int_equal(api_client_call(&ac, "PUT", "/v1/vms/rt", spec, strlen(spec), STEP_MS, &r),
			 201);
	json_decref(r);
	assert_int_equal(api_client_call(&ac, "PUT", "/v1/vms/rt/workers", "{\"count\":1}", 11,
					 STEP_MS, &r),
			 200);
	json_decref(r);
	char digest[SHA256_HEX_SIZE];
	assert_int_equal(api_client_put_artifact(&ac, python_src, strlen(python_src), digest), 201);
	char q[200];
	snprintf(q, sizeof(q), "/v1/vms/rt/invoke?artifact=%s&mode=process&timeout_ms=60000&cpu=1",
		 digest);
	assert_int_equal(api_client_call(&ac, "POST", q, "{\"x\":1,\"y\":2}", 13, STEP_MS, &r), 200);
	assert_string_not_equal(json_string_value(json_object_get(r, "status")), "ok");
	json_decref(r);

	snprintf(path, sizeof(path), "%s/vms/rt/console.log", dir);
	assert_true(count_in_file(path, "failed its dm-verity check") == 1);
	assert_true(count_in_file(path, "is corrupted") >= 1);
	api_client_free(&ac);
	assert_int_equal(daemon_proc_stop(&a, SIGTERM, STATE_MS), 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}
