"""A tiny TAP producer for the test files (what prove understands).

    import tap
    tap.plan(3)                    # or tap.plan(skip_all="reason"), or none
    tap.ok(cond, "name")
    tap.is_(got, expected, "name")
    tap.isnt(got, unexpected, "name")
    tap.like(text, r"regex", "name")   / tap.unlike(...)
    tap.skip("reason", count=1)
    tap.diag("message")  tap.note("message")
    tap.done_testing()             # prints the plan if none was given and
                                   # exits with the number of failures

Pure Python, no third-party imports: it also runs under the pyenv Pythons
(client scenarios run in a child interpreter and print through it).
`tap.BAIL_OUT(reason)` stops the whole prove run.
"""

import atexit
import re
import sys

_state = {"n": 0, "failed": 0, "planned": None, "done": False}


def _out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _clean(name):
    return str(name).replace("\n", " ").replace("#", "\\#")


def plan(count=None, skip_all=None):
    if skip_all is not None:
        _out("1..0 # SKIP %s" % _clean(skip_all))
        _state["done"] = True
        sys.exit(0)
    _state["planned"] = count
    _out("1..%d" % count)


def diag(msg):
    for line in str(msg).splitlines() or [""]:
        sys.stderr.write("# %s\n" % line)
    sys.stderr.flush()


def note(msg):
    for line in str(msg).splitlines() or [""]:
        _out("# %s" % line)


def ok(cond, name="", todo=None):
    _state["n"] += 1
    line = "%s %d - %s" % ("ok" if cond else "not ok", _state["n"],
                           _clean(name))
    if todo:
        line += " # TODO %s" % _clean(todo)
    _out(line)
    if not cond and not todo:
        _state["failed"] += 1
        try:
            frame = sys._getframe(1)
            while frame and frame.f_code.co_filename == __file__:
                frame = frame.f_back
            where = "%s line %d" % (frame.f_code.co_filename, frame.f_lineno)
        except Exception:
            where = "?"
        diag("  Failed test '%s'\n  at %s." % (name, where))
    return bool(cond)


def is_(got, expected, name=""):
    r = ok(got == expected, name)
    if not r:
        diag("         got: %r\n    expected: %r" % (got, expected))
    return r


def isnt(got, unexpected, name=""):
    r = ok(got != unexpected, name)
    if not r:
        diag("         got: %r\n    expected: anything else" % (got,))
    return r


def like(text, pattern, name=""):
    r = ok(text is not None and re.search(pattern, str(text)) is not None,
           name)
    if not r:
        diag("    %r\n    doesn't match %r" % (_short(text), pattern))
    return r


def unlike(text, pattern, name=""):
    r = ok(text is None or re.search(pattern, str(text)) is None, name)
    if not r:
        diag("    %r\n    matches %r" % (_short(text), pattern))
    return r


def _short(text, n=600):
    text = str(text)
    return text if len(text) <= n else text[:n] + "...(%d more)" % (
        len(text) - n)


def skip(reason, count=1):
    for _ in range(count):
        _state["n"] += 1
        _out("ok %d # skip %s" % (_state["n"], _clean(reason)))


def pass_(name=""):
    return ok(True, name)


def fail(name="", why=None):
    r = ok(False, name)
    if why:
        diag("    %s" % why)
    return r


def BAIL_OUT(reason):
    _out("Bail out!  %s" % _clean(reason))
    _state["done"] = True
    sys.exit(255)


def current():
    return _state["n"]


def failures():
    return _state["failed"]


def done_testing(exit=True):
    if _state["done"]:
        return
    _state["done"] = True
    if _state["planned"] is None:
        _out("1..%d" % _state["n"])
    elif _state["planned"] != _state["n"]:
        diag("Looks like you planned %d tests but ran %d."
             % (_state["planned"], _state["n"]))
    if _state["failed"]:
        diag("Looks like you failed %d test(s) of %d."
             % (_state["failed"], _state["n"]))
    if exit:
        sys.stdout.flush()
        sys.exit(min(_state["failed"], 254))


def _at_exit():
    # a test that dies after some tests still prints a plan, so prove
    # reports the failure count rather than a parse error
    if not _state["done"] and _state["n"] and _state["planned"] is None:
        _state["done"] = True
        _out("1..%d" % _state["n"])


atexit.register(_at_exit)
