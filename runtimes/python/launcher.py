"""Ditto's long-lived launcher for Python functions.

Started once per worker vCPU and function version (the guest's persistent
mode): loads the handler once, then serves one invocation per line.

    python3 launcher.py SOURCE HANDLER

SOURCE is the function's file (Python source, whatever its name: the guest
names artifacts by digest) or a folder or zip archive holding its modules;
HANDLER is "function" (in SOURCE's own module, for a file; the part after
the last dot) or "module.function" for a folder or zip (OpenWhisk's
convention; "main" means "__main__.main" when there is a __main__.py).

Protocol, one line each way per invocation:
  in:  the invocation's input, a JSON value, on one line ("args"; an empty
       line is {})
  out: {"result":<what the handler returned>} (compact, on one line)
       or {"error": {"type": "ValueError", "message": "...", "traceback": "..."}}
The handler's own output (print, sys.stdout, sys.stderr) goes to stderr, the
invocation's log, so it can never corrupt the protocol. A handler that cannot
be loaded answers every line with the loading error, type and all, so each
invocation fails with the reason. Standard library only.
"""
import importlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import types
import zipimport

MAIN_NAME = "__function_main__"


def _error(exc, skip=0):
    """The error reply; skip drops the launcher's own frames from the top."""
    import traceback  # only on failures: it is slow to import on a cold start

    tb = exc.__traceback__
    for _ in range(skip):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    return {
        "error": {
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": "".join(traceback.format_exception(type(exc), exc, tb)),
        }
    }


def _split_handler(handler, default_module):
    module, _, function = handler.rpartition(".")
    return (module or default_module), (function or "main")


def _exec_spec(spec):
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_main(source):
    """A folder's or zip's __main__.py as a module of another name (so its
    "if __name__ == '__main__'" part does not run), or None."""
    if os.path.isdir(source):
        path = os.path.join(source, "__main__.py")
        if not os.path.isfile(path):
            return None
        loader = importlib.machinery.SourceFileLoader(MAIN_NAME, path)
        return _exec_spec(importlib.util.spec_from_loader(MAIN_NAME, loader))
    try:
        code = zipimport.zipimporter(source).get_code("__main__")
    except zipimport.ZipImportError:
        return None
    module = types.ModuleType(MAIN_NAME)
    module.__file__ = os.path.join(source, "__main__.py")
    exec(code, module.__dict__)
    return module


def _load_package(source, handler):
    sys.path.insert(0, source)
    module_name, function = _split_handler(handler, "")
    # "__main__" names the archive's __main__.py, never the launcher (which
    # is the interpreter's own __main__ module).
    if module_name in ("", "__main__"):
        # OpenWhisk's convention: the function in __main__.py.
        module = _load_main(source)
        if module is None:
            raise ImportError(
                "a folder or zip archive without __main__.py needs its handler as "
                "module.function, not %r" % handler
            )
        return module, function
    return importlib.import_module(module_name), function


def _is_zip(path):
    """A zip archive by its first bytes (zipfile is slow to import)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
    except OSError:
        return False


def load(source, handler):
    """Returns the handler's callable; raises what loading raised."""
    if os.path.isdir(source) or _is_zip(source):
        module, function = _load_package(source, handler)
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(source)))
        _, function = _split_handler(handler, "")
        # Explicitly source: the file's name (a digest) has no .py.
        loader = importlib.machinery.SourceFileLoader("function", source)
        module = _exec_spec(importlib.util.spec_from_loader("function", loader))
    fn = getattr(module, function, None)
    if not callable(fn):
        raise AttributeError(
            "handler %r: module %r has no function %r" % (handler, module.__name__, function)
        )
    return fn


def _call(fn, args):
    """One invocation's reply line: the result, or the handler's error with
    the traceback from the handler's frame down."""
    try:
        result = fn(args)
    except Exception as exc:  # every failure is the invocation's, with its reason
        return _dumps(_error(exc, skip=1))
    try:
        return _dumps({"result": result})
    except (TypeError, ValueError) as exc:  # not JSON, NaN included
        return _dumps(_error(exc))


def _dumps(reply):
    return json.dumps(reply, separators=(",", ":"), allow_nan=False)


def serve(fn, load_error, rd, wr):
    for line in rd:
        if load_error is not None:
            text = _dumps(_error(load_error))
        else:
            try:
                args = json.loads(line) if line.strip() else {}
            except ValueError as exc:
                text = _dumps(_error(exc))
            else:
                text = _call(fn, args)
        wr.write(text + "\n")
        wr.flush()


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write("usage: launcher.py SOURCE [HANDLER]\n")
        return 2
    handler = argv[2] if len(argv) == 3 else "main"
    # The protocol owns the real stdout; the handler's prints go to the log.
    wr = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr
    fn, load_error = None, None
    try:
        fn = load(argv[1], handler)
    except BaseException as exc:  # SyntaxError, ImportError, SystemExit in module code...
        load_error = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
    serve(fn, load_error, sys.stdin, wr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
