/* The runtime disk: Python and Node.js scripts, run in process mode in a real
 * VM from the read-only runtime the agent attaches, read JSON on stdin and
 * print JSON. */
#include "agent.h"

#include <stdio.h>
#include <string.h>

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

/* Runs the script SRC with {"x":X,"y":40} and checks it printed the sum and
 * the runtime's name. */
static void expect_sum(const char *src, const char *runtime, int x)
{
	char digest[SHA256_HEX_SIZE], input[64];
	assert_int_equal(api_client_put_artifact(&S.c, src, strlen(src), digest), 201);
	snprintf(input, sizeof(input), "{\"x\":%d,\"y\":40}", x);
	json_t *r = invoke("rt", digest, "process", 1, 60000, input);
	expect_ran_on(r, 1);
	json_t *out = json_loads(json_string_value(json_object_get(r, "result")), 0, NULL);
	assert_non_null(out);
	assert_string_equal(json_string_value(json_object_get(out, "runtime")), runtime);
	assert_int_equal(json_integer_value(json_object_get(out, "sum")), x + 40);
	json_decref(out);
	json_decref(r);
}

void test_runtime_disk(void **state)
{
	start_vm("rt", "precreated", 1);
	json_decref(resize("rt", 1));
	expect_sum(python_src, "python3", 2);
	expect_sum(node_src, "node", 5);
	/* Again: the runtime stays mounted and readable across calls. */
	expect_sum(python_src, "python3", 11);
	stop_vm("rt");
}
