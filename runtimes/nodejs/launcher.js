// Ditto's long-lived launcher for Node.js functions.
//
// Started once per worker vCPU and function version (the guest's persistent
// mode): loads the handler once, then serves one invocation per line.
//
//     node launcher.js SOURCE [HANDLER]
//
// SOURCE is the function's file (.js, CommonJS or ESM by Node's own rules;
// .mjs is ESM) or a folder holding it and its node_modules; HANDLER is the
// exported function's name ("main" by default), or "file.function" for a
// folder (file relative to it, without its extension).
//
// Protocol, one line each way per invocation (the same as the Python
// launcher's):
//   in:  the invocation's input, a JSON value, on one line ("args")
//   out: {"result": <what the handler returned or resolved to>}
//        or {"error": {"type": "TypeError", "message": "...", "traceback": "..."}}
// The handler's console output goes to stderr, the invocation's log. A handler
// that cannot be loaded answers every line with the loading error.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const { pathToFileURL } = require('url');
const util = require('util');

// Writes a whole line to fd 1, however many writes the pipe takes.
function writeLine(text) {
	const buf = Buffer.from(text);
	for (let off = 0; off < buf.length;)
		off += fs.writeSync(1, buf, off);
}

function errorReply(err) {
	const e = err instanceof Error ? err : new Error(String(err));
	return { error: { type: e.name || 'Error', message: e.message, traceback: e.stack || '' } };
}

function splitHandler(handler) {
	const dot = handler.lastIndexOf('.');
	return dot < 0 ? ['', handler] : [handler.slice(0, dot), handler.slice(dot + 1)];
}

async function load(source, handler) {
	const [file, name] = splitHandler(handler);
	let target = source;
	if (fs.statSync(source).isDirectory()) {
		if (!file)
			throw new Error(`a folder needs its handler as file.function, not "${handler}"`);
		target = require.resolve(path.resolve(source, file));
	}
	const mod = await import(pathToFileURL(path.resolve(target)).href);
	const fn = mod[name] ?? (mod.default && mod.default[name]);
	if (typeof fn !== 'function')
		throw new TypeError(`handler "${handler}": ${target} exports no function "${name}"`);
	return fn;
}

async function main(argv) {
	if (argv.length < 1 || argv.length > 2) {
		process.stderr.write('usage: launcher.js SOURCE [HANDLER]\n');
		return 2;
	}
	// The protocol owns file descriptor 1; the handler's console and
	// process.stdout go to stderr, the log.
	process.stdout.write = process.stderr.write.bind(process.stderr);
	for (const k of ['log', 'info', 'debug'])
		console[k] = (...a) => process.stderr.write(util.format(...a) + '\n');
	let fn = null, loadError = null;
	try {
		fn = await load(argv[0], argv[1] || 'main');
	} catch (err) {
		loadError = err;
	}
	const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
	for await (const line of rl) {
		let reply;
		try {
			if (loadError)
				throw loadError;
			reply = { result: await fn(JSON.parse(line)) };
			if (reply.result === undefined)
				reply.result = null;
		} catch (err) {
			reply = errorReply(err);
		}
		writeLine(JSON.stringify(reply) + '\n');
	}
	return 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
