// Ditto's long-lived launcher for Node.js functions.
//
// Started once per worker vCPU and function version (the guest's persistent
// mode): loads the handler once, then serves one invocation per line.
//
//     node launcher.js SOURCE [HANDLER]
//
// SOURCE is the function's file, whatever its name (the guest names artifacts
// by digest): CommonJS is required, and an ES module that require refuses is
// imported through a .mjs copy in a private temporary folder; or a folder
// holding it and its node_modules; or a zip archive of such a folder,
// extracted once (here, in pure JS) into a private folder keyed by the zip's
// path. HANDLER is the exported function's name ("main" by default; for a
// file, the part after the last dot), or "file.function" for a folder or zip
// (file relative to it, without its extension; "index" by default).
//
// Protocol, one line each way per invocation (the same as the Python
// launcher's):
//   in:  the invocation's input, a JSON value, on one line ("args"; an empty
//        line is {})
//   out: {"result":<what the handler returned or resolved to>} (compact)
//        or {"error": {"type": "TypeError", "message": "...", "traceback": "..."}}
// The handler's console output goes to stderr, the invocation's log. A handler
// that cannot be loaded answers every line with the loading error.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { pathToFileURL } = require('url');
const util = require('util');
const zlib = require('zlib');

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

// ---- zip archives --------------------------------------------------------

function isZip(file) {
	const fd = fs.openSync(file, 'r');
	try {
		const head = Buffer.alloc(4);
		return fs.readSync(fd, head, 0, 4, 0) === 4 && head.readUInt32LE(0) === 0x04034b50;
	} finally {
		fs.closeSync(fd);
	}
}

// The central directory's entries: { name, method, csize, size, local }.
function zipEntries(buf) {
	let eocd = -1;
	for (let i = buf.length - 22; i >= 0 && i >= buf.length - 22 - 65535; i--)
		if (buf.readUInt32LE(i) === 0x06054b50) {
			eocd = i;
			break;
		}
	if (eocd < 0)
		throw new Error('not a zip archive: no end of central directory');
	const count = buf.readUInt16LE(eocd + 10);
	let off = buf.readUInt32LE(eocd + 16);
	const entries = [];
	for (let i = 0; i < count; i++) {
		if (off + 46 > buf.length || buf.readUInt32LE(off) !== 0x02014b50)
			throw new Error('zip: bad central directory');
		const nameLen = buf.readUInt16LE(off + 28);
		const extraLen = buf.readUInt16LE(off + 30), commentLen = buf.readUInt16LE(off + 32);
		entries.push({
			name: buf.toString('utf8', off + 46, off + 46 + nameLen),
			method: buf.readUInt16LE(off + 10),
			csize: buf.readUInt32LE(off + 20),
			size: buf.readUInt32LE(off + 24),
			local: buf.readUInt32LE(off + 42),
		});
		off += 46 + nameLen + extraLen + commentLen;
	}
	return entries;
}

// An entry's relative path, refusing what would land outside the folder.
function entryPath(name) {
	const parts = name.split('/');
	if (name.startsWith('/') || name.includes('\\') || parts.includes('..') ||
	    /^[A-Za-z]:/.test(name))
		throw new Error(`zip: refusing entry "${name}" (absolute or with ..)`);
	return parts.filter((p) => p && p !== '.').join('/');
}

function entryData(buf, e) {
	const at = e.local;
	if (at + 30 > buf.length || buf.readUInt32LE(at) !== 0x04034b50)
		throw new Error(`zip: bad local header for "${e.name}"`);
	const start = at + 30 + buf.readUInt16LE(at + 26) + buf.readUInt16LE(at + 28);
	const raw = buf.subarray(start, start + e.csize);
	if (raw.length !== e.csize)
		throw new Error(`zip: "${e.name}" is cut short`);
	if (e.method === 0)
		return raw;
	if (e.method === 8)
		return zlib.inflateRawSync(raw);
	throw new Error(`zip: "${e.name}" uses compression method ${e.method} (only stored and deflated)`);
}

function extractTo(buf, dir) {
	for (const e of zipEntries(buf)) {
		const rel = entryPath(e.name);
		if (!rel)
			continue;
		const dest = path.join(dir, rel);
		if (e.name.endsWith('/')) {
			fs.mkdirSync(dest, { recursive: true, mode: 0o700 });
			continue;
		}
		fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 });
		fs.writeFileSync(dest, entryData(buf, e), { mode: 0o600 });
	}
}

// The folder a zip is extracted to, once: keyed by the zip's path (the
// guest's artifacts are named by digest), made whole under a temporary name
// and renamed into place.
function unzipped(file) {
	const key = crypto.createHash('sha256').update(path.resolve(file)).digest('hex');
	const root = path.join(os.tmpdir(), `ditto-node-${process.getuid()}`);
	fs.mkdirSync(root, { recursive: true, mode: 0o700 });
	const dir = path.join(root, key.slice(0, 32));
	if (fs.existsSync(dir))
		return dir;
	const tmp = fs.mkdtempSync(path.join(root, 'tmp-'));
	try {
		extractTo(fs.readFileSync(file), tmp);
		fs.renameSync(tmp, dir);
	} catch (err) {
		fs.rmSync(tmp, { recursive: true, force: true });
		if (!fs.existsSync(dir)) // another launcher got there first
			throw err;
	}
	return dir;
}

// ---- loading ---------------------------------------------------------------

function splitHandler(handler) {
	const dot = handler.lastIndexOf('.');
	return dot < 0 ? ['', handler] : [handler.slice(0, dot), handler.slice(dot + 1)];
}

// Whether require failed because the file is an ES module.
function isEsmError(err) {
	return err && (err.code === 'ERR_REQUIRE_ESM' || err.code === 'ERR_REQUIRE_ASYNC_MODULE' ||
		       (err.name === 'SyntaxError' &&
			/\bimport\b|\bexport\b|await is only valid/.test(err.message)));
}

// An ES module that is not named .mjs, imported through a .mjs copy of it in
// a private folder (a symbolic link would be resolved back to its name).
async function importAsEsm(file) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ditto-esm-'));
	const link = path.join(dir, 'function.mjs');
	try {
		try {
			fs.linkSync(file, link);
		} catch (err) {
			fs.copyFileSync(file, link); // another file system
		}
		return await import(pathToFileURL(link).href);
	} finally {
		fs.rmSync(dir, { recursive: true, force: true }); // loaded: no longer needed
	}
}

async function loadFile(file) {
	if (file.endsWith('.mjs'))
		return import(pathToFileURL(file).href);
	try {
		return require(file);
	} catch (err) {
		if (!isEsmError(err))
			throw err;
		if (err.code === 'ERR_REQUIRE_ESM') // Node knows it for ESM by its name
			return import(pathToFileURL(file).href);
	}
	return importAsEsm(file);
}

// The file a folder's handler names: file.js, file.mjs, file.cjs, or what
// require finds for file (file/index.js, file/package.json).
function folderTarget(dir, file) {
	const base = path.resolve(dir, file);
	for (const ext of ['.js', '.mjs', '.cjs'])
		if (fs.existsSync(base + ext))
			return base + ext;
	return require.resolve(base);
}

async function load(source, handler) {
	const [file, name] = splitHandler(handler);
	let target = path.resolve(source);
	if (!fs.statSync(target).isDirectory() && isZip(target))
		target = unzipped(target);
	if (fs.statSync(target).isDirectory())
		target = folderTarget(target, file || 'index');
	const mod = await loadFile(target);
	const fn = mod && (mod[name] ?? (mod.default && mod.default[name]));
	if (typeof fn !== 'function')
		throw new TypeError(`handler "${handler}": ${target} exports no function "${name}"`);
	return fn;
}

function resultLine(result) {
	// undefined (and what JSON has no form for) is null.
	return '{"result":' + (JSON.stringify(result) ?? 'null') + '}';
}

// Answers the lines of stdin one at a time, in order. A handler that returns
// no promise is answered without a turn of the event loop: the warm path.
function serve(fn, loadError) {
	const lines = [];
	let pending = '', busy = false;
	const pump = () => {
		while (!busy && lines.length) {
			const line = lines.shift();
			let result;
			try {
				if (loadError)
					throw loadError;
				result = fn(line.trim() ? JSON.parse(line) : {});
			} catch (err) {
				writeLine(JSON.stringify(errorReply(err)) + '\n');
				continue;
			}
			if (!result || typeof result.then !== 'function') {
				writeLine(safeLine(() => resultLine(result)) + '\n');
				continue;
			}
			busy = true;
			Promise.resolve(result).then(
				(v) => safeLine(() => resultLine(v)),
				(err) => JSON.stringify(errorReply(err))).then((text) => {
				writeLine(text + '\n');
				busy = false;
				pump();
			});
		}
	};
	process.stdin.setEncoding('utf8');
	process.stdin.on('data', (chunk) => {
		pending += chunk;
		for (let nl; (nl = pending.indexOf('\n')) >= 0;) {
			lines.push(pending.slice(0, nl).replace(/\r$/, ''));
			pending = pending.slice(nl + 1);
		}
		pump();
	});
	process.stdin.on('end', () => {
		if (pending)
			lines.push(pending);
		pending = '';
		pump();
	});
}

// A reply line, or the error making it raised (a BigInt, a cycle).
function safeLine(make) {
	try {
		return make();
	} catch (err) {
		return JSON.stringify(errorReply(err));
	}
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
	serve(fn, loadError);
	return 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
