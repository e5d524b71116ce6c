"""In-sandbox execution server: one fresh forked process per request (stdlib only, python >= 3.8).

Runs as `python3 -c <this source> MODE [WORK_ROOT]` inside the sandbox (MODE is
`container` or `local`). It reads length-prefixed JSON requests on fd 0 and
writes length-prefixed JSON responses on fd 1 (4-byte big-endian length, then
UTF-8 JSON), one request at a time.

Why fork instead of `docker exec` / a new interpreter: the server has already
paid python's start-up, so a request costs one fork (about a millisecond)
instead of a new process tree set up by the container runtime (50-90 ms).

Per request the server:
  * writes the request's files into an empty work dir,
  * forks a child in its own process group with setrlimit applied
    (CPU, address space, file size, processes, open files, no core files),
  * captures stdout/stderr through pipes, cut at the output cap,
  * kills the whole group when the wall-clock limit passes, and, once the
    child is gone, every other process left in the sandbox (a child that
    called setsid() or outlived its parent is found through /proc),
  * reads back the requested files, empties the work dir, /tmp and /dev/shm,
  * reports the result, including whether the sandbox is still clean.

The server makes itself non-dumpable so the program it runs (same uid) can
neither ptrace it nor open /proc/<server>/fd/* to forge protocol frames.

Each execution's process is forked ahead of time (a "zygote", after the previous
reply went out): it sets up its stdio and warms the allocator while no request
waits, then receives the request on a pipe and becomes the program.

This is one file on purpose: it travels as a single `-c` argument, so it must
not import anything but the standard library, and must run on python 3.8+.
"""

import ast  # noqa: F401  (these and the block below are imported here so each forked child
import atexit  # noqa: F401  finds them ready: a fork is cheap, importing them in every child is not;
import builtins  # noqa: F401  the StepCoder harness's prelude needs ast, copy, string, ... each run)
import copy  # noqa: F401
import errno
import fcntl
import gc
import io  # noqa: F401
import itertools
import json
import linecache  # noqa: F401
import os
import resource
import select
import shutil
import signal
import string  # noqa: F401
import struct
import sys
import threading  # noqa: F401
import time
import traceback  # noqa: F401

MODE = sys.argv[1] if len(sys.argv) > 1 else "container"
WORK_ROOT = sys.argv[2] if len(sys.argv) > 2 else "/work"
SOCKET_PATH = sys.argv[3] if len(sys.argv) > 3 else None
"""When set, serve one connection on this unix socket instead of stdin/stdout."""
SCRUB_DIRS = ("/tmp", "/dev/shm") if MODE == "container" else ()
MAX_FRAME = 512 * 1024 * 1024
MAX_COVERAGE_BYTES = 64 * 1024 * 1024
PROTOCOL = 1


def _prctl(option, value):
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except Exception:
        return False


PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36


def read_exact(fd, n):
    chunks = []
    while n > 0:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


LAST_FRAME = [b""]
"""The raw body of the last frame read (forwarded to the zygote as is, not re-encoded)."""


def read_frame(fd):
    head = read_exact(fd, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">I", head)
    if size > MAX_FRAME:
        raise ValueError("frame too large")
    body = read_exact(fd, size)
    if body is None:
        return None
    LAST_FRAME[0] = body
    return json.loads(body.decode("utf-8"))


def write_frame(fd, obj):
    body = json.dumps(obj, separators=(",", ":")).encode("utf-8")
    write_all(fd, struct.pack(">I", len(body)) + body)


# ----------------------------------------------------------------------------- processes


def _ancestors():
    keep = {os.getpid()}
    pid = os.getppid()
    while pid > 0 and pid not in keep:
        keep.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return keep


def _descendants(root):
    """Pids whose parent chain leads to `root` (local mode: we are a subreaper, so orphans stay ours)."""
    parents = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                parents[int(name)] = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found = set()
    frontier = {root}
    while frontier:
        nxt = {p for p, pp in parents.items() if pp in frontier and p not in found}
        found |= nxt
        frontier = nxt
    return found


def _others():
    if MODE == "container":
        keep = _ancestors()
        return [int(n) for n in os.listdir("/proc") if n.isdigit() and int(n) not in keep]
    return sorted(_descendants(os.getpid()))


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_leftovers(skip=()):
    """SIGKILL every process the last program left behind; True when none survives.

    Pids in `skip` are killed too but not waited for (their reaping is deferred).
    """
    for _ in range(200):
        pids = [p for p in _others() if p not in skip]
        for pid in skip:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if not pids:
            return True
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap()
        time.sleep(0.001)
    return not [p for p in _others() if p not in skip]


# ----------------------------------------------------------------------------- files


def _safe_path(work, rel):
    path = os.path.realpath(os.path.join(work, rel))
    if path != work and not path.startswith(work + os.sep):
        raise ValueError(f"path {rel!r} leaves the work dir")
    return path


def write_files(work, files):
    for rel, text in files.items():
        path = _safe_path(work, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)


def collect_files(work, names, cap):
    out = {}
    for rel in names:
        try:
            path = _safe_path(work, rel)
            if not os.path.isfile(path) or os.path.islink(os.path.join(work, rel)):
                continue
            with open(path, "rb") as fh:
                out[rel] = fh.read(cap).decode("utf-8", "replace")
        except (OSError, ValueError):
            continue
    return out


def empty_dir(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        full = os.path.join(path, name)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                # A program may leave dirs without write/exec permission: restore, then remove.
                for root, dirs, _ in os.walk(full):
                    for d in dirs:
                        try:
                            os.chmod(os.path.join(root, d), 0o700)
                        except OSError:
                            pass
                os.chmod(full, 0o700)
                shutil.rmtree(full, ignore_errors=True)
            else:
                os.unlink(full)
        except OSError:
            pass


SCAN_MAX_ENTRIES = 10_000
"""At most this many directory entries are looked at for traces of a limit (a bound on a hostile tree)."""


def limit_traces(dirs, max_file_bytes):
    """Limits a program hit but survived: it caught `File too large` or `No space left on device`.

    Python ignores SIGXFSZ, so a program that catches EFBIG exits normally; what it leaves behind
    shows the limit: a file at the size limit (`file_size`), or a filesystem with no space left
    (`disk`). Called before the dirs are emptied.
    """
    hits = set()
    seen = 0
    for top in dirs:
        try:
            st = os.statvfs(top)
            if st.f_blocks > 0 and st.f_bavail == 0:
                hits.add("disk")
        except OSError:
            pass
        stack = [top]
        while stack and seen < SCAN_MAX_ENTRIES and "file_size" not in hits:
            try:
                entries = list(os.scandir(stack.pop()))
            except OSError:
                continue
            for entry in entries:
                seen += 1
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False) and entry.stat(
                        follow_symlinks=False
                    ).st_size >= (max_file_bytes):
                        hits.add("file_size")
                except OSError:
                    continue
    return hits


def is_empty(path):
    try:
        return not os.listdir(path)
    except OSError:
        return True


# ----------------------------------------------------------------------------- child


def _apply_limits(lim):
    cpu = int(lim["cpu_s"]) + (1 if lim["cpu_s"] % 1 else 0)
    settings = [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (lim["memory_mb"] << 20,) * 2),
        (resource.RLIMIT_FSIZE, (lim["max_file_size_mb"] << 20,) * 2),
        (resource.RLIMIT_NOFILE, (lim["max_open_files"],) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
    ]
    if lim.get("nproc"):
        settings.append((resource.RLIMIT_NPROC, (lim["nproc"],) * 2))
    for which, value in settings:
        try:
            resource.setrlimit(which, value)
        except (ValueError, OSError):
            # Never raise a limit above the hard limit we were given: keep the lower one.
            pass


def _prepare_stdio():
    """Fresh text streams over fds 0-2 (done by the zygote, before the request arrives)."""
    stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    stdout = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8", errors="strict"
    )
    stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )
    sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
    # The originals too, so code that restores sys.__stdout__ gets the fresh stream.
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = stdin, stdout, stderr  # type: ignore[misc]


WARM_UP_REQUEST = '{"op":"exec","code":"print(1)","argv":null,"stdin":"","files":{},"limits":{"timeout_s":1}}'
WARM_UP_SOURCE = "def _f(x):\n    return [str(i * 2) for i in range(x)]\nprint(_f(3))\n"


def _warm_up():
    """Parse and compile something small while no request waits.

    After the fork, the first allocations touch shared pages and each touch copies one: about a
    millisecond for the first compile. Done here, ahead of the request, the request's own JSON
    parsing and compile reuse those pages (measured in the container: compile 1 ms -> 0.05 ms).
    """
    try:
        json.loads(WARM_UP_REQUEST)
        compile(WARM_UP_SOURCE, "<warm-up>", "exec", dont_inherit=True)
    except Exception:
        pass


def _run_code(code, work, coverage, cov_fd):

    sys.argv = ["-c"]
    sys.path[0] = ""
    linecache.cache["<code>"] = (len(code), None, code.splitlines(True), "<code>")
    lines = {}
    tracer = None
    if coverage:
        prefix = work + os.sep

        def tracer(frame, event, arg):
            name = frame.f_code.co_filename
            if name == "<code>":
                key = name
            elif name.startswith(prefix):
                key = name[len(prefix) :]
            else:
                return None
            seen = lines.setdefault(key, set())

            def local(frame, event, arg):
                if event == "line":
                    seen.add(frame.f_lineno)
                return local

            return local

    rc = 0
    try:
        compiled = compile(code, "<code>", "exec", dont_inherit=True)
        if tracer is not None:
            import threading

            threading.settrace(tracer)
            sys.settrace(tracer)
        exec(compiled, {"__name__": "__main__", "__builtins__": builtins, "__doc__": None})
    except SystemExit as exc:
        rc = _exit_code(exc)
    except BaseException as exc:  # the program's failure, reported like python does
        tb = exc.__traceback__
        if not isinstance(exc, SyntaxError) and tb is not None:
            tb = tb.tb_next
        traceback.print_exception(type(exc), exc, tb)
        rc = 1
    try:
        import threading

        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()
        atexit._run_exitfuncs()
    except SystemExit as exc:
        rc = _exit_code(exc)
    except BaseException:
        pass
    sys.settrace(None)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            rc = rc or 120
    # Report through the status pipe, then close every pipe: the runner can answer as soon as it
    # sees them closed, while the kernel is still tearing this process down.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = {"rc": rc, "cpu": usage.ru_utime + usage.ru_stime}
    if coverage:
        report["coverage"] = {k: sorted(v) for k, v in lines.items()}
    try:
        write_all(cov_fd, json.dumps(report).encode())
    except (OSError, ValueError):
        pass
    for fd in (0, 1, 2, cov_fd):
        try:
            os.close(fd)
        except OSError:
            pass
    os._exit(rc)


def _exit_code(exc):
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write(str(code) + "\n")
    except BaseException:
        pass
    return 1


def _close_fds_from(low):
    # Not os.closerange(low, big): docker's default seccomp profile may refuse close_range(2),
    # and python then falls back to one close() per number, which costs ~10 ms.
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        os.closerange(low, 65536)
        return
    for fd in fds:
        if fd >= low:
            try:
                os.close(fd)
            except OSError:
                pass


CTL_FD = 4
"""In the zygote: the pipe the request arrives on (0-2 are stdio, 3 is the coverage pipe)."""


def zygote_main(work, ctl_r, out_w, err_w, cov_w):
    """A child forked ahead of time: set up everything request-independent, then wait for the request."""
    try:
        os.setpgid(0, 0)
        # Lift the pipe ends above the target slots first: one may already sit on 3 or 4.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 16) for fd in (out_w, err_w, cov_w, ctl_r)]
        for i, target in enumerate((1, 2, 3, CTL_FD)):
            os.dup2(high[i], target)
        _close_fds_from(CTL_FD + 1)
        os.chdir(work)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _prepare_stdio()
        _warm_up()
        chunks = []
        while True:
            chunk = os.read(CTL_FD, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(CTL_FD)
        if not chunks:
            os._exit(0)  # the runner discarded this zygote
        req = json.loads(b"".join(chunks).decode("utf-8"))
        stdin_fd = _stdin_fd(req.get("stdin") or "")
        os.dup2(stdin_fd, 0)
        os.close(stdin_fd)
        env = dict(req.get("base_env") or {})
        env.update(req.get("env") or {})
        env.setdefault("HOME", work)
        env.setdefault("TMPDIR", "/tmp" if MODE == "container" else work)
        os.environ.clear()
        os.environ.update(env)
        _apply_limits(req["limits"])
        if req.get("argv"):
            # Restore what a freshly exec'd program expects (python ignores these two).
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
            os.close(3)
            argv = req["argv"]
            try:
                os.execvpe(argv[0], argv, env)
            except OSError as exc:
                os.write(2, (f"cannot run {argv[0]!r}: {exc.strerror}\n").encode())
                os._exit(127)
        code = req["code"]
        _run_code(code, work, bool(req.get("coverage")), 3)
    except BaseException as exc:
        try:
            os.write(2, (f"sandbox child set-up failed: {exc!r}\n").encode())
        except BaseException:
            pass
    os._exit(126)


class Zygote:
    """The next execution's process, forked in advance (after the previous reply was sent)."""

    def __init__(self, seq):
        self.work = _work_dir(next(_RUN_IDS))
        ctl_r, self.ctl_w = os.pipe()
        self.out_r, out_w = os.pipe()
        self.err_r, err_w = os.pipe()
        self.cov_r, cov_w = os.pipe()
        # Objects the child only reads must not be touched by its collector: each touch copies a page.
        gc.freeze()
        self.oom_before = oom_kills()  # read now, off the next request's path
        self.pid = os.fork()
        if self.pid == 0:
            zygote_main(self.work, ctl_r, out_w, err_w, cov_w)
        try:
            os.setpgid(self.pid, self.pid)
        except OSError:
            pass
        for fd in (ctl_r, out_w, err_w, cov_w):
            os.close(fd)

    def alive(self):
        try:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        return pid == 0

    def discard(self):
        for fd in (self.ctl_w, self.out_r, self.err_r, self.cov_r):
            try:
                os.close(fd)
            except OSError:
                pass
        _kill_group(self.pid)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        if MODE != "container":
            shutil.rmtree(self.work, ignore_errors=True)


ZYGOTE = None
_RUN_IDS = itertools.count(1)


def take_zygote(seq):
    global ZYGOTE
    z, ZYGOTE = ZYGOTE, None
    if z is not None and z.alive():
        return z
    if z is not None:
        z.discard()
    return Zygote(seq)


def prepare_zygote(seq):
    global ZYGOTE
    if ZYGOTE is None:
        ZYGOTE = Zygote(seq)


def drop_zygote():
    global ZYGOTE
    if ZYGOTE is not None:
        ZYGOTE.discard()
        ZYGOTE = None


_RUN_IDS = itertools.count(1)


# ----------------------------------------------------------------------------- one execution


def _stdin_fd(data):
    raw = data.encode("utf-8")
    try:
        fd = os.memfd_create("stdin")
    except (AttributeError, OSError):
        import tempfile

        fd, path = tempfile.mkstemp()
        os.unlink(path)
    write_all(fd, raw)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _work_dir(seq):
    if MODE == "container":
        empty_dir(WORK_ROOT)
        return WORK_ROOT
    path = os.path.join(WORK_ROOT, f"run-{os.getpid()}-{seq}")
    os.makedirs(path, mode=0o700)
    return path


LIMIT_MARKERS = (
    ("memory", "MemoryError"),
    ("memory", "Cannot allocate memory"),
    ("memory", "std::bad_alloc"),
    ("processes", "Resource temporarily unavailable"),
    ("file_size", "File too large"),
    ("disk", "No space left on device"),
    ("files", "Too many open files"),
)


class _Capture:
    """The program's pipes as they are read: stdout and stderr up to the output cap, and the status
    pipe (exit report and coverage) up to its own bound."""

    def __init__(self, z, cap):
        self.out_r, self.err_r, self.cov_r = z.out_r, z.err_r, z.cov_r
        self.cap = cap
        self.bufs = {z.out_r: bytearray(), z.err_r: bytearray(), z.cov_r: bytearray()}
        self.truncated = {z.out_r: False, z.err_r: False}
        self.open_fds = set(self.bufs)

    def read(self, fd):
        """Read what `fd` holds; returns True when stdout or stderr went past the cap."""
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:
            chunk = b""
        if not chunk:
            self.open_fds.discard(fd)
            return False
        buf = self.bufs[fd]
        limit = MAX_COVERAGE_BYTES if fd == self.cov_r else self.cap
        room = limit - len(buf)
        if room > 0:
            buf += chunk[:room]
        if len(chunk) > room and fd != self.cov_r:
            self.truncated[fd] = True
            return True
        return False

    def drain_and_close(self):
        """Read what is left in the pipes once the program is gone, then close them."""
        for fd in list(self.bufs):
            try:
                while fd in self.open_fds:
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:
                        break
                    room = self.cap - len(self.bufs[fd])
                    if fd == self.cov_r:
                        self.bufs[fd] += chunk
                    elif room > 0:
                        self.bufs[fd] += chunk[:room]
                        self.truncated[fd] = self.truncated[fd] or len(chunk) > room
                    elif chunk:
                        self.truncated[fd] = True
            except OSError:
                pass
            os.close(fd)

    def text(self, fd):
        return self.bufs[fd].decode("utf-8", "replace")


class _Watch:
    """How the program ended: its wait status (or its own exit report), and which limit we enforced."""

    def __init__(self):
        self.status = None
        self.rusage = None
        self.report = None
        self.timed_out = False
        self.output_cap_hit = False
        self.wall = 0.0


def _watch(pid, capture, timeout, start):
    """Read the program's pipes until it is gone (or has reported and is only exiting), killing it
    at the wall-clock limit or when its output passes the cap."""
    run = _Watch()
    poller = select.poll()
    for fd in capture.bufs:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    pidfd = None
    try:
        pidfd = os.pidfd_open(pid)
        poller.register(pidfd, select.POLLIN)
    except (AttributeError, OSError):
        pass
    exited_at = None
    while True:
        now = time.monotonic()
        if run.status is None and now - start >= timeout:
            run.timed_out = True
            _kill_group(pid)
        if run.status is not None and (not capture.open_fds or now - exited_at > 0.05):
            # The program is gone; anything still holding its pipes is a leftover process.
            break
        if run.status is None and not capture.open_fds:
            run.report = _parse_report(capture.bufs[capture.cov_r])
            if run.report is not None:
                # The program reported its exit code and closed its pipes: it is only exiting now.
                break
        if run.status is not None:
            wait_ms = 10
        else:
            wait_ms = max(1, int((start + timeout - now) * 1000) + 1)
            if pidfd is None:
                wait_ms = min(wait_ms, 20)
        for fd, _ev in poller.poll(wait_ms):
            if fd == pidfd:
                continue
            over_cap = capture.read(fd)
            if fd not in capture.open_fds:
                poller.unregister(fd)
            elif over_cap and not run.output_cap_hit and run.status is None:
                # Past the cap: stop the program instead of draining (a flood could be GBs).
                run.output_cap_hit = True
                _kill_group(pid)
        if run.status is None:
            try:
                wpid, wstatus, ru = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:
                wpid, wstatus, ru = pid, 0, None
            if wpid == pid:
                run.status, run.rusage, exited_at = wstatus, ru, time.monotonic()
    run.wall = time.monotonic() - start
    if pidfd is not None:
        os.close(pidfd)
    return run


def _scrub(work):
    """Empty the work dir and the scratch dirs for the next program; True when they are empty."""
    if MODE != "container":
        shutil.rmtree(work, ignore_errors=True)
        return True
    empty_dir(work)
    for path in SCRUB_DIRS:
        empty_dir(path)
    return is_empty(work) and all(is_empty(p) for p in SCRUB_DIRS)


def execute(req, seq):
    """Run one request in a fresh forked process; returns the result (the host's `ExecResult`)."""
    lim = req["limits"]
    z = take_zygote(seq)
    write_files(z.work, req.get("files") or {})
    start = time.monotonic()
    try:
        write_all(z.ctl_w, LAST_FRAME[0])
    except OSError:
        pass  # the zygote died: its exit status tells what happened
    os.close(z.ctl_w)
    capture = _Capture(z, int(lim["max_output_bytes"]))
    run = _watch(z.pid, capture, float(lim["timeout_s"]), start)
    if run.status is None and run.report is not None:
        _kill_group(z.pid)
        PENDING.append(z.pid)  # reaped (and checked gone) after the reply is sent
        clean = kill_leftovers(skip=(z.pid,))
    else:
        run.report = _parse_report(capture.bufs[capture.cov_r])
        clean = kill_leftovers()
    capture.drain_and_close()
    files = collect_files(z.work, req.get("collect") or [], capture.cap)
    traces = limit_traces((z.work,) + SCRUB_DIRS, int(lim["max_file_size_mb"]) << 20)
    clean = _scrub(z.work) and clean
    _reap()
    return {**_outcome(req, run, capture, traces, z.oom_before), "files": files, "healthy": clean}


def _outcome(req, run, capture, traces, oom_before):
    """Exit code or signal, CPU time, output, and every limit the program ran into."""
    lim = req["limits"]
    exit_code = sig = None
    if run.status is not None:
        if os.WIFSIGNALED(run.status):
            sig = os.WTERMSIG(run.status)
        else:
            exit_code = os.WEXITSTATUS(run.status)
    elif run.report is not None:
        exit_code = int(run.report.get("rc", 1)) & 0xFF
    stderr_text = capture.text(capture.err_r)
    tail = stderr_text[-2000:]
    hits = {kind for kind, marker in LIMIT_MARKERS if marker in tail and exit_code != 0} | traces
    timed_out = run.timed_out or sig == signal.SIGXCPU
    if run.rusage is not None:
        cpu = run.rusage.ru_utime + run.rusage.ru_stime
    else:
        cpu = float(run.report.get("cpu", 0.0)) if run.report is not None else 0.0
    if sig == signal.SIGKILL and not timed_out and not run.output_cap_hit:
        # A SIGKILL we did not send: the CPU hard limit, the cgroup OOM killer, or the program itself.
        if cpu >= float(lim["cpu_s"]) - 0.05:
            timed_out = True
        oom_after = oom_kills()
        if oom_before is not None and oom_after is not None and oom_after > oom_before:
            hits.add("memory")
    if sig == signal.SIGXFSZ:
        hits.add("file_size")
    coverage = None
    if req.get("coverage") and not req.get("argv"):
        coverage = (run.report or {}).get("coverage") or {}
    return {
        "stdout": capture.text(capture.out_r),
        "stderr": stderr_text,
        "exit_code": exit_code,
        "signal": sig,
        "timed_out": timed_out,
        "memory_exceeded": "memory" in hits,
        "limit_hit": bool(timed_out or run.output_cap_hit or hits),
        "limits_hit": sorted(
            hits | ({"time"} if timed_out else set()) | ({"output"} if run.output_cap_hit else set())
        ),
        "stdout_truncated": capture.truncated[capture.out_r],
        "stderr_truncated": capture.truncated[capture.err_r],
        "wall_s": round(run.wall, 6),
        "cpu_s": round(cpu, 6),
        "coverage": coverage,
    }


def _parse_report(raw):
    """The program's exit report from the status pipe, or None when it wrote none (crash, exec, kill)."""
    try:
        report = json.loads(bytes(raw).decode("utf-8"))
    except ValueError:
        return None
    return report if isinstance(report, dict) and isinstance(report.get("rc"), int) else None


PENDING: list = []
"""Programs that reported and were killed but not yet reaped (done after the reply is sent)."""
UNCLEAN: list = []


def finish_pending():
    """Reap reported programs and check nothing survived; a survivor marks the sandbox unclean."""
    while PENDING:
        pid = PENDING.pop()
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    if not kill_leftovers():
        UNCLEAN.append(True)


def oom_kills():
    """The container's cgroup OOM-kill counter (v1 or v2); None when it cannot be read (local mode)."""
    if MODE != "container":
        return None
    for path in ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"):
        try:
            with open(path) as fh:
                for line in fh:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return None


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


# ----------------------------------------------------------------------------- main loop


def preload(names):
    """Import modules once here so every forked child finds them loaded (numpy costs ~1 s per import)."""
    import importlib

    done = []
    for name in names:
        try:
            importlib.import_module(name)
            done.append(name)
        except Exception:
            continue
    gc.collect()
    gc.freeze()
    return done


def _accept_one(path):
    """Accept exactly one connection on a fresh unix socket, then remove the socket file."""
    import socket

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(path)
    except OSError:
        pass
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(120)
    conn, _ = listener.accept()
    listener.close()
    try:
        os.unlink(path)
    except OSError:
        pass
    conn.setblocking(True)
    return conn.detach()


def main():
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    # Keep the protocol on private fds; 0/1 point at /dev/null so no stray write corrupts a frame.
    if SOCKET_PATH:
        proto_in = proto_out = _accept_one(SOCKET_PATH)
    else:
        proto_in = os.dup(0)
        proto_out = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if MODE == "local":
        os.makedirs(WORK_ROOT, exist_ok=True)
    seq = 0
    while True:
        try:
            req = read_frame(proto_in)
        except (ValueError, OSError):
            return 2
        if req is None:
            return 0
        op = req.get("op")
        seq += 1
        try:
            if op == "hello":
                # A hello checks that the sandbox holds no process but the runner.
                drop_zygote()
                preloaded = preload(req.get("preload") or [])
                reply = {
                    "preloaded": preloaded,
                    "protocol": PROTOCOL,
                    "python": list(sys.version_info[:3]),
                    "pid": os.getpid(),
                    "uid": os.getuid(),
                    "healthy": kill_leftovers() and is_empty(WORK_ROOT),
                }
            elif op == "ping":
                reply = {"pong": True}
            elif op == "exec":
                if UNCLEAN and not kill_leftovers():
                    reply = {
                        "error": "a previous program's process survived SIGKILL",
                        "retry": True,
                        "healthy": False,
                    }
                else:
                    del UNCLEAN[:]
                    reply = execute(req, seq)
            else:
                reply = {"error": f"unknown op {op!r}"}
        except Exception as exc:  # a bad request, never the program: report, keep serving
            reply = {"error": f"{type(exc).__name__}: {exc}", "healthy": kill_leftovers()}
        reply["id"] = req.get("id")
        try:
            write_frame(proto_out, reply)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                return 0
            raise
        finish_pending()
        if reply.get("healthy", True) and not UNCLEAN:
            # Fork the next execution's process now, while the host reads this reply.
            try:
                prepare_zygote(seq)
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(main())
