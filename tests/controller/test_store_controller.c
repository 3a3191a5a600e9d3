/* ditto-controller --store: two controllers, one after the other, each with
 * a folder of its own, share what the store named by one URI holds; a URI
 * that names no store, or a server that cannot be reached, stops it at the
 * start with one line on stderr that never shows the conninfo. */
#include <signal.h>
#include <sys/stat.h>

#include "store_fixture.h"
#include "support/http.h"
#include "support/procs.h"
#include "support/run.h"

/* Starts a controller on f's store with its folder in dir. */
static void start(struct fixture *f, struct daemon_proc *p, const char *dir, char admin[128])
{
	const char *const extra[] = { "--store", f->uri, NULL };
	assert_int_equal(proc_start_controller(p, dir, 0, extra, admin), 0);
}

static void test_controllers_share_the_store(void **state)
{
	struct fixture *f = *state;
	char dir[64], a_dir[128], b_dir[128], admin[128], path[200];
	assert_int_equal(scratch_dir(dir, sizeof(dir), "ctlstore"), 0);
	snprintf(a_dir, sizeof(a_dir), "%s/a", dir);
	snprintf(b_dir, sizeof(b_dir), "%s/b", dir);
	struct daemon_proc a = { 0 }, b = { 0 };
	struct http_reply r;
	start(f, &a, a_dir, admin);
	assert_int_equal(
		http_call(a.url, admin, "POST", "/v1/tenants", "{\"name\":\"acme\"}", 15, &r), 201);
	http_reply_free(&r);
	assert_int_equal(daemon_proc_stop(&a, SIGTERM, 10000), 0);

	start(f, &b, b_dir, admin);
	assert_int_equal(http_call(b.url, admin, "GET", "/v1/tenants/acme", NULL, 0, &r), 200);
	http_reply_free(&r);
	assert_int_equal(daemon_proc_stop(&b, SIGTERM, 10000), 0);
	/* Neither made a database of its own. */
	struct stat st;
	snprintf(path, sizeof(path), "%s/ditto.db", b_dir);
	assert_int_not_equal(stat(path, &st), 0);
	struct store_tenant t;
	assert_int_equal(store_tenant_get(f->s, "acme", &t), 0);
	remove_tree(dir);
}

/* Runs the controller with store, expecting status and one line on stderr
 * that holds want and not hidden. */
static void refused(const char *dir, const char *store, int status, const char *want,
		    const char *hidden)
{
	char exe[300];
	snprintf(exe, sizeof(exe), "%s/ditto-controller", test_build_dir());
	const char *const argv[] = { exe, "--data", dir, "--port", "0", "--store", store, NULL };
	struct run_out o;
	run_program(&o, dir, NULL, argv);
	assert_int_equal(o.status, status);
	assert_non_null(strstr(o.err, want));
	assert_null(strstr(o.err, hidden));
	char *nl = strchr(o.err, '\n');
	assert_non_null(nl);
	assert_string_equal(nl + 1, "");
	run_out_free(&o);
}

static void test_bad_store(void **state)
{
	char dir[64];
	assert_int_equal(scratch_dir(dir, sizeof(dir), "ctlbad"), 0);
	refused(dir, "mysql:host=db", 2, "--store must be", "usage");
	refused(dir, "", 2, "--store must be", "usage");
	refused(dir, "postgres:host=/nonexistent/pg port=5999 dbname=ditto password=s3cret", 1,
		"cannot open store postgres: ", "s3cret");
	refused(dir, "postgres:password=s3cret this is no conninfo", 1,
		"cannot open store postgres: ", "s3cret");
	remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest both[] = { cmocka_unit_test(test_controllers_share_the_store) };
	const struct CMUnitTest lite[] = { cmocka_unit_test(test_bad_store) };
	return STORE_RUN(both, lite);
}
