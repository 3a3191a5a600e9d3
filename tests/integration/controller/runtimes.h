/* What the Python and Node.js tests share: each runtime's test sources, and
 * the one tenant (one VM, one worker vCPU) all of them run in, so the suite
 * boots one VM for every runtime test. */
#ifndef DITTO_TESTS_CONTROLLER_RUNTIMES_H
#define DITTO_TESTS_CONTROLLER_RUNTIMES_H

#include "controller.h"

struct rt {
	const char *runtime;      /* ?runtime= */
	const char *prefix;       /* of the function names: "py", "js" */
	const char *dir, *ext;    /* the samples: BUILD/functions/DIR/NAME.EXT, DIR/NAME.zip */
	const char *probe;        /* counts its calls; raises, sleeps or allocates on request */
	const char *raise_type;   /* what the probe raises on {"raise": MESSAGE} */
	const char *syntax_error; /* a source that does not parse */
	const char *no_main;      /* a source without the default handler, main */
	const char *no_main_type; /* what loading no_main raises */
	const char *bad_handler;  /* a handler of the wrong syntax */
	const char *zip_missing;  /* a handler naming a module the sample zip lacks */
	const char *oom_type;     /* the exception of an allocation over the limit; NULL: none */
};

extern const struct rt RT_PYTHON, RT_NODEJS;

/* The key of the runtime tests' tenant, made (and its VM booted) by the
 * first call. */
const char *rt_tenant(void);

/* name = "<prefix>-<what>". */
void rt_name(const struct rt *rt, const char *what, char name[64]);

/* Deploys src as rt's function name with ?runtime= and the extra query
 * (NULL: none); it must answer 201. */
void rt_deploy_source(const struct rt *rt, const char *name, const char *src, const char *extra);

/* Checks a 502 function_error reply: its error object names the invocation
 * and the exception type (and message, when not NULL), never an exit code of
 * 127. Returns the finished record, with the same exception and a traceback,
 * which the caller frees. */
json_t *rt_expect_exception(const char *key, struct http_reply *r, const char *type,
			    const char *message);

#endif
