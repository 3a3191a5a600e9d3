/* Invoking python3 and nodejs functions through the real controller against
 * a canned agent on loopback: what the agent is told (runtime, handler),
 * a raised exception in the synchronous error reply and in the record, and
 * an agent whose guest image lacks the runtime. */
#include <pthread.h>

#include <microhttpd.h>

#include "api_fixture.h"
#include "canned_agent.h"

#define UNSUPPORTED \
	"runtime nodejs is not in this host's guest image (image.json has no runtime disk)"
#define EXCEPTION                                                                        \
	"{\"type\":\"ValueError\",\"message\":\"boom\",\"traceback\":\"Traceback (most " \
	"recent call last):\\nValueError: boom\\n\"}"

/* An agent that holds every artifact, has the tenant's VM ready, and
 * answers each invoke with the reply the test set, noting what it was
 * asked. */
struct agent {
	struct MHD_Daemon *d;
	char url[64];
	pthread_mutex_t lock;
	unsigned status;   /* the invoke's reply */
	const char *reply; /* JSON */
	int invokes;
	char vm[64], runtime[16], handler[256]; /* the last invoke's */
	bool has_runtime, has_handler;
};

static void note_invoke(struct agent *a, struct MHD_Connection *conn, const char *url)
{
	const char *rt = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "runtime");
	const char *h = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "handler");
	a->invokes++;
	sscanf(url, "/v1/vms/%63[^/]", a->vm);
	a->has_runtime = rt != NULL;
	a->has_handler = h != NULL;
	snprintf(a->runtime, sizeof(a->runtime), "%s", rt ? rt : "");
	snprintf(a->handler, sizeof(a->handler), "%s", h ? h : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct agent *a = cls;
	enum MHD_Result done;
	if (canned_request(conn, url, method, upload_size, con_cls, a, 4242, &done))
		return done;
	size_t n = strlen(url);
	if (!strcmp(method, "POST") && n > 7 && !strcmp(url + n - 7, "/invoke")) {
		pthread_mutex_lock(&a->lock);
		note_invoke(a, conn, url);
		unsigned status = a->status;
		char reply[1024];
		snprintf(reply, sizeof(reply), "%s", a->reply);
		pthread_mutex_unlock(&a->lock);
		return answer(conn, status, reply);
	}
	return canned_not_found(conn);
}

static void agent_start(struct agent *a)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	a->d = canned_start(MHD_USE_INTERNAL_POLLING_THREAD, on_request, a, a->url);
}

static void agent_stop(struct agent *a)
{
	MHD_stop_daemon(a->d);
	pthread_mutex_destroy(&a->lock);
}

static void agent_answer(struct agent *a, unsigned status, const char *reply)
{
	pthread_mutex_lock(&a->lock);
	a->status = status;
	a->reply = reply;
	pthread_mutex_unlock(&a->lock);
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Starts the agent, registers it as host h1, makes tenant acme (its key
 * in key) and deploys source with put (a PUT's path). */
static void platform(struct fixture *f, struct agent *a, char key[128], const char *put,
		     const char *source)
{
	agent_start(a);
	make_tenant(f, "acme", key);
	char body[256];
	snprintf(body, sizeof(body),
		 "{\"id\":\"h1\",\"address\":\"%s\",\"cores\":4,\"token\":\"t\","
		 "\"boot_id\":\"b1\",\"status\":{\"vms\":[]}}",
		 a->url);
	assert_int_equal(call(f, f->admin, "POST", "/v1/hosts", body, 0, NULL), 201);
	assert_int_equal(call(f, key, "PUT", put, source, 0, NULL), 201);
}

/* Invokes fn, the agent answering agent_status and agent_reply, checks
 * the status and returns the invocation's record (the caller frees both);
 * ret_reply gets the reply's JSON. */
static json_t *invoke(struct fixture *f, struct agent *a, const char *key, const char *fn,
		      unsigned agent_status, const char *agent_reply, int status,
		      json_t **ret_reply)
{
	agent_answer(a, agent_status, agent_reply);
	char path[128];
	snprintf(path, sizeof(path), "/v1/functions/%s/invoke", fn);
	assert_int_equal(call(f, key, "POST", path, "{}", 0, ret_reply), status);
	const char *id = str(json_object_get(*ret_reply, "error"), "invocation");
	assert_non_null(id);
	snprintf(path, sizeof(path), "/v1/invocations/%s", id);
	json_t *rec;
	assert_int_equal(call(f, key, "GET", path, NULL, 0, &rec), 200);
	return rec;
}

static void test_exception(void **state)
{
	struct fixture *f = *state;
	struct agent a;
	char key[128];
	platform(f, &a, key, "/v1/functions/py?runtime=python3&handler=mod.go",
		 "def go(a): raise ValueError('boom')\n");
	json_t *reply, *rec = invoke(f, &a, key, "py", 200,
				     "{\"status\":\"error\",\"error\":\"ValueError: boom\","
				     "\"log\":\"printed\\n\",\"exception\":" EXCEPTION "}",
				     502, &reply);
	/* The agent was told how to run it. */
	assert_int_equal(a.invokes, 1);
	assert_string_equal(a.vm, "acme");
	assert_string_equal(a.runtime, "python3");
	assert_string_equal(a.handler, "mod.go");
	/* The reply names the exception's type and message, beside the id. */
	json_t *err = json_object_get(reply, "error");
	assert_string_equal(str(err, "code"), "function_error");
	assert_string_equal(str(err, "message"), "the function failed: ValueError: boom");
	json_t *exc = json_object_get(err, "exception");
	assert_int_equal(json_object_size(exc), 2);
	assert_string_equal(str(exc, "type"), "ValueError");
	assert_string_equal(str(exc, "message"), "boom");
	/* The record keeps it whole, traceback too, with the log. */
	assert_string_equal(str(rec, "status"), "error");
	assert_string_equal(str(rec, "error"), "the function failed: ValueError: boom");
	assert_string_equal(str(rec, "log"), "printed\n");
	json_t *want = json_loads(EXCEPTION, 0, NULL);
	assert_true(json_equal(json_object_get(rec, "exception"), want));
	json_decref(want);
	json_decref(reply);
	json_decref(rec);

	/* A call that returns has no exception anywhere. */
	agent_answer(&a, 200, "{\"status\":\"ok\",\"result\":\"{\\\"x\\\":1}\"}");
	assert_int_equal(call(f, key, "POST", "/v1/functions/py/invoke", "{}", 0, NULL), 200);
	/* Nor does a failure that raised none (an exit code, say). */
	rec = invoke(f, &a, key, "py", 200, "{\"status\":\"error\",\"error\":\"exit status 3\"}",
		     502, &reply);
	assert_null(json_object_get(json_object_get(reply, "error"), "exception"));
	assert_null(json_object_get(rec, "exception"));
	assert_string_equal(str(rec, "error"), "the function failed: exit status 3");
	json_decref(reply);
	json_decref(rec);
	agent_stop(&a);
}

static void test_runtime_missing_on_host(void **state)
{
	struct fixture *f = *state;
	struct agent a;
	char key[128];
	platform(f, &a, key, "/v1/functions/js?runtime=nodejs&handler=lib/a.$run",
		 "exports.$run = () => 1;\n");
	json_t *reply,
		*rec = invoke(f, &a, key, "js", 409,
			      "{\"error\":{\"code\":\"unsupported\",\"message\":\"" UNSUPPORTED
			      "\"}}",
			      502, &reply);
	assert_string_equal(a.runtime, "nodejs");
	assert_string_equal(a.handler, "lib/a.$run");
	json_t *err = json_object_get(reply, "error");
	assert_string_equal(str(err, "code"), "function_error");
	assert_string_equal(str(err, "message"), "host h1 cannot run the function: " UNSUPPORTED);
	assert_null(json_object_get(err, "exception"));
	assert_string_equal(str(rec, "status"), "error");
	assert_string_equal(str(rec, "error"), "host h1 cannot run the function: " UNSUPPORTED);
	json_decref(reply);
	json_decref(rec);

	/* A binary is called as it always was: no runtime, no handler. */
	static const char elf[] = "\177ELF\2\1\1\0";
	assert_int_equal(call(f, key, "PUT", "/v1/functions/bin", elf, sizeof(elf), NULL), 201);
	agent_answer(&a, 200, "{\"status\":\"ok\",\"result\":\"{}\"}");
	assert_int_equal(call(f, key, "POST", "/v1/functions/bin/invoke", "{}", 0, NULL), 200);
	assert_int_equal(a.invokes, 2);
	assert_false(a.has_runtime);
	assert_false(a.has_handler);
	agent_stop(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_exception),
		FIXTURE_TEST(test_runtime_missing_on_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
