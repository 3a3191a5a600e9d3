"""Ditto's long-lived launcher for Python functions.

Started once per worker vCPU and function version (the guest's persistent
mode): loads the handler once, then serves one invocation per line.

    python3 launcher.py SOURCE HANDLER

SOURCE is the function's file (a .py) or a folder or zip archive holding its
modules; HANDLER is "function" (in SOURCE's own module, for a file) or
"module.function" (OpenWhisk's convention; the default is "main").

Protocol, one line each way per invocation:
  in:  the invocation's input, a JSON value, on one line ("args")
  out: {"result": <what the handler returned>}
       or {"error": {"type": "ValueError", "message": "...", "traceback": "..."}}
The handler's own output (print, sys.stdout, sys.stderr) goes to stderr, the
invocation's log, so it can never corrupt the protocol. A handler that cannot
be loaded answers every line with the loading error, type and all, so each
invocation fails with the reason. Standard library only.
"""
import importlib
import importlib.util
import json
import os
import sys
import traceback
import zipfile


def _error(exc, skip=0):
    """The error reply; skip drops the launcher's own frames from the top."""
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


def load(source, handler):
    """Returns the handler's callable; raises what loading raised."""
    if os.path.isdir(source) or zipfile.is_zipfile(source):
        sys.path.insert(0, source)
        module_name, function = _split_handler(handler, "")
        if not module_name:
            raise ImportError(
                "a folder or zip archive needs its handler as module.function, not %r" % handler
            )
        module = importlib.import_module(module_name)
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(source)))
        _, function = _split_handler(handler, "")
        spec = importlib.util.spec_from_file_location("function", source)
        if spec is None:
            raise ImportError("cannot load %s as Python source" % source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
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
        return json.dumps(_error(exc, skip=1), separators=(",", ":"))
    try:
        return json.dumps({"result": result}, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        return json.dumps(_error(exc), separators=(",", ":"))


def serve(fn, load_error, rd, wr):
    for line in rd:
        if load_error is not None:
            text = json.dumps(_error(load_error), separators=(",", ":"))
        else:
            try:
                args = json.loads(line)
            except ValueError as exc:
                text = json.dumps(_error(exc), separators=(",", ":"))
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
