"""Runs inside the sandbox (its source is passed to `python3 -c`): limits first, then the program, then its tests.

Standard library only, and nothing imported from this package: the sandbox sees no
checkout. The parent sends (version, nonce, rlimits, program, tests) as marshal data on
stdin. Before any untrusted code runs the runner sets the hard rlimits, points stdin at
/dev/null and keeps a private copy of stdout. Its verdict goes there as the last line,
tagged with the nonce, and in the exit status as well, so a program that closes stdout or
calls sys.exit / os._exit cannot pass for one whose tests ran.

Outcomes: the program failing to compile, or raising in its top-level code, is `error`;
its tests raising (assertion or anything else) is `failed`; MemoryError or an OSError
meaning a limit was hit (EMFILE, ENFILE, EFBIG, ENOSPC, EDQUOT, ENOMEM, EAGAIN), in either
phase, is `resource_limit`.
"""

import errno
import marshal
import os
import resource
import sys

PROTOCOL = 1
EXIT = {"passed": 0, "failed": 111, "error": 112, "resource_limit": 113, "sandbox_error": 114}
RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.EFBIG, errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.EAGAIN}
PROGRAM, TESTS = "program.py", "tests.py"


def set_limits(rlimits):
    for name, soft, hard in rlimits:
        which = getattr(resource, name)
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:  # already stricter outside: keep it
            hard, soft = min(hard, current_hard), min(soft, current_hard)
        resource.setrlimit(which, (soft, hard))


def is_resource_error(exc):
    return isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS)


def describe(exc):
    try:
        text = "%s: %s" % (type(exc).__name__, exc) if str(exc) else type(exc).__name__
    except BaseException:  # a hostile __str__
        text = type(exc).__name__
    return " ".join(text.split())[:300]


def show_traceback(exc, sources):
    try:
        import linecache
        import traceback

        for name, text in sources.items():
            lines = text.splitlines(True)
            linecache.cache[name] = (len(text), None, lines, name)
        tb = exc.__traceback__
        if tb is not None and tb.tb_frame.f_code.co_filename == "<string>":  # the runner's own frame
            tb = tb.tb_next
        traceback.print_exception(type(exc), exc, tb)
    except BaseException:
        try:
            os.write(2, ("%s\n" % describe(exc)).encode("utf-8", "replace"))
        except BaseException:
            pass


def main():
    owner = os.getpid()
    try:
        version, nonce, rlimits, program, tests = marshal.loads(sys.stdin.buffer.read())
        if version != PROTOCOL:
            raise ValueError("runner protocol %r, parent sent %r" % (PROTOCOL, version))
        set_limits(rlimits)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        verdict_fd = os.dup(1)  # not inheritable: the program's children do not get it
        os.write(verdict_fd, ("%s start\n" % nonce).encode())
    except BaseException as exc:
        os.write(2, ("modeleval sandbox runner could not start: %s\n" % describe(exc)).encode())
        os._exit(EXIT["sandbox_error"])

    def finish(outcome, message=""):
        if os.getpid() != owner:  # a forked child returning here: only the runner gives the verdict
            os._exit(EXIT[outcome])
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        try:
            os.write(verdict_fd, ("\n%s %s %s\n" % (nonce, outcome, message)).encode("utf-8", "replace"))
        except BaseException:
            pass
        os._exit(EXIT[outcome])  # no atexit handlers of the program after the verdict

    sys.argv = [PROGRAM]
    main_module = type(sys)("__main__")  # a real __main__, so pickle (multiprocessing) finds the program's names
    main_module.__file__ = PROGRAM
    sys.modules["__main__"] = main_module
    namespace = main_module.__dict__
    sources = {PROGRAM: program, TESTS: tests}
    phase = "error"
    try:
        code = compile(program, PROGRAM, "exec")
        exec(code, namespace)
        phase = "failed"
        exec(compile(tests, TESTS, "exec"), namespace)
    except SystemExit as exc:
        if phase == "error" and exc.code in (None, 0) and not tests.strip():
            finish("passed")  # a script without tests that exits normally
        where = "before its tests finished" if phase == "failed" else "before its tests ran"
        show_traceback(exc, sources)
        finish("failed", "the program called sys.exit(%r) %s" % (exc.code, where))
    except BaseException as exc:
        show_traceback(exc, sources)
        finish("resource_limit" if is_resource_error(exc) else phase, describe(exc))
    finish("passed")


main()
