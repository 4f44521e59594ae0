"""taskref's Ray bridge: the one process on the driver's side that talks to Ray.

A taskref runtime built with `Runtime::builder().ray(address)` runs this with
Ray's Python (`python -c <this file>`) and exchanges frames with it: requests
on its stdin, replies on its stdout. A frame is a u32 header length and a u32
payload length (both big-endian), a JSON header, then raw payload bytes. The
bridge holds Ray's ObjectRefs by the driver's task ids, so a ref passed to
another task goes to Ray as a ref and is resolved on the worker: its value
never comes through here unless the driver reads it.

On the workers, `_taskref_call` (a Ray task defined here, shipped by value:
nothing but `ray` is installed on the nodes) starts the driver's own binary --
put in Ray's object store by the bridge, written to each node's temp directory
once -- once per worker process with TASKREF_RAY_WORKER=1, and calls a
registered Rust function by name:
requests on the binary's stdin, replies on a pipe whose fd is in
TASKREF_RAY_REPLY_FD (so that what user code prints cannot corrupt them).
"""

import itertools
import json
import os
import queue
import struct
import sys
import threading
import time
from pathlib import Path

# Replies go to a private copy of fd 1; fd 1 itself becomes stderr, so that
# Ray's log lines and forwarded worker output never land between two frames.
_OUT = os.fdopen(os.dup(1), "wb", buffering=0)
os.dup2(2, 1)
_IN = os.fdopen(os.dup(0), "rb", buffering=0)

_HEAD = ">II"
_FRAME_LIMIT = 1 << 30  # bytes of values per reply frame (a frame carries < 4 GiB)  # a str: a struct.Struct would not pickle into the trampoline


def _read_exact(f, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _read_frame(f):
    head = _read_exact(f, 8)
    if head is None:
        return None, None
    hlen, plen = struct.unpack(_HEAD, head)
    header = json.loads(_read_exact(f, hlen))
    payload = _read_exact(f, plen) if plen else b""
    return header, payload


def _frame(header, payload=b""):
    h = json.dumps(header).encode()
    return struct.pack(_HEAD, len(h), len(payload)) + h + payload


_write_lock = threading.Lock()


def _send(header, payload=b""):
    frame = _frame(header, payload)
    with _write_lock:
        _OUT.write(frame)


def _send_now(header, payload=b""):
    """Writes a frame at once (before the writer thread runs, or at exit)."""
    _OUT.write(_frame(header, payload))


# ray.init(address=...) with an explicit address does not turn token auth on
# by itself (only address=None/"auto" does): follow Ray's own rule for a
# found cluster and use the token when one is available and no mode was set.
if "RAY_AUTH_MODE" not in os.environ and (
    os.environ.get("RAY_AUTH_TOKEN")
    or os.environ.get("RAY_AUTH_TOKEN_PATH")
    or (Path.home() / ".ray" / "auth_token").exists()
):
    os.environ["RAY_AUTH_MODE"] = "token"

try:
    import ray
except Exception as e:  # noqa: BLE001 - said to the driver, which says it to the user
    _send_now({"op": "fatal", "message": f"`import ray` failed in {sys.executable}: {e} (pip install ray)"})
    sys.exit(1)


# ---------------------------------------------------------------- worker side


class TaskrefError(Exception):
    """A call that failed in the Rust binary: `kind` and `message` go back to
    the driver as they are."""

    def __init__(self, kind, message, at=None):
        super().__init__(f"{kind}: {message}")
        self.taskref_kind = kind
        self.taskref_message = message
        self.taskref_at = at

    def __reduce__(self):
        return (TaskrefError, (self.taskref_kind, self.taskref_message, self.taskref_at))


# The driver's programs on a node are files named with this prefix in its temp
# directory, one per build; one not started from for this long is removed.
_PROGRAM_PREFIX = "taskref-worker-"
_PROGRAM_UNUSED_SECONDS = 600


def _program(exe, build):
    """The driver's program on this node: written once per node and build
    from the object store (where the bridge put it), then reused by every
    worker process. Not Ray's runtime_env working_dir: two raylets on one
    machine share its unpacking directory and race on it."""
    import tempfile

    path = os.path.join(tempfile.gettempdir(), f"{_PROGRAM_PREFIX}{build}")
    try:
        os.utime(path)  # started from now: `_prune_programs` keeps it
        return path
    except FileNotFoundError:
        pass
    except OSError:
        # Another user's copy in a shared temp directory: the same build's
        # bytes, which this user may run but not touch.
        return path
    data = ray.get(exe[0])
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    _prune_programs(tempfile.gettempdir(), keep=path)
    return path


def _prune_programs(directory, keep):
    """Removes the programs of other builds that no worker started from for
    a while. Each rebuild of the user's binary is a new build, and a program
    is tens of megabytes: kept forever, a developer's edit-run loop fills the
    node's disk. Removing one that is still wanted costs only time: a driver
    still running that build writes it again when it next starts a worker."""
    now = time.time()
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if not name.startswith(_PROGRAM_PREFIX) or path == keep:
            continue
        try:
            if now - os.stat(path).st_mtime > _PROGRAM_UNUSED_SECONDS:
                os.remove(path)
        except OSError:  # removed meanwhile, or not ours to remove
            pass


def _worker_process(exe, build):
    """The user's binary in worker mode, one per Ray worker process (Ray
    reuses worker processes across tasks, so it is started once)."""
    import subprocess

    w = getattr(sys, "_taskref_worker", None)
    if w is not None and w[0].poll() is None:
        return w
    r, wfd = os.pipe()
    env = dict(os.environ)
    env["TASKREF_RAY_WORKER"] = "1"
    env["TASKREF_RAY_REPLY_FD"] = str(wfd)
    env["TASKREF_RAY_BUILD"] = build  # the file at `path` holds that build's bytes
    try:
        proc = subprocess.Popen(
            [_program(exe, build)], stdin=subprocess.PIPE, pass_fds=(wfd,), env=env
        )
    except FileNotFoundError:
        # Pruned by another build's worker between the check and the start
        # (it had been unused for minutes): written again, started once more.
        proc = subprocess.Popen(
            [_program(exe, build)], stdin=subprocess.PIPE, pass_fds=(wfd,), env=env
        )
    os.close(wfd)
    w = (proc, os.fdopen(r, "rb", buffering=0))
    sys._taskref_worker = w
    return w


def _forget_worker(proc):
    sys._taskref_worker = None
    try:
        proc.kill()
        proc.wait(timeout=5)
    except Exception:  # noqa: BLE001 - it is gone either way
        pass


def _taskref_call(exe, build, name, *args, actor=None):
    proc, replies = _worker_process(exe, build)
    header = {"fn": name, "build": build, "lens": [len(a) for a in args]}
    if actor is not None:
        header["actor"] = actor
    try:
        proc.stdin.write(_frame(header, b"".join(args)))
        proc.stdin.flush()
        reply, payload = _read_frame(replies)
    except (BrokenPipeError, OSError):
        reply = None
    except BaseException:
        # Interrupted mid-call (ray.cancel): the binary is still running the
        # call, and its reply would answer the next one. Start afresh.
        _forget_worker(proc)
        raise
    if reply is None:
        code = proc.wait()
        sys._taskref_worker = None
        raise TaskrefError(
            "worker_died", f"the worker process exited (status {code}) while running `{name}`"
        )
    if reply.get("ok"):
        return payload
    raise TaskrefError(reply["kind"], reply["message"], reply.get("at"))


class _TaskrefActor:
    """A Ray actor whose state lives in the program's binary, started for it
    in this actor's own worker process: the constructor runs there once (and
    again on each restart Ray makes), every method call after it, in the
    order this bridge submitted them."""

    def __init__(self, exe, build, constructor, *args):
        self._exe, self._build = exe, build
        _taskref_call(exe, build, constructor, *args, actor="new")

    def call(self, method, *args):
        return _taskref_call(self._exe, self._build, method, *args, actor="call")


_Actor = ray.remote(_TaskrefActor)
_actors = {}
_actor_errors = {}


def _job_call(exe, build):
    """The job's trampoline, with the program's ref and build id baked in:
    pickled (by value) once per job, so each call carries only the
    function's name and its arguments (Ray serializes every argument of
    every call: measured, three fixed arguments per call were a visible
    part of the bridge's per-task cost)."""

    def call(name, *args):
        return _taskref_call(exe, build, name, *args)

    call.__name__ = call.__qualname__ = "taskref_call"
    return ray.remote(call)




@ray.remote
def _py_double(x):
    return x * 2


# ---------------------------------------------------------------- driver side

_refs = {}
_bytes = {"to_driver": 0, "from_driver": 0}
_job = {}


def _error_of(e):
    """{kind, message[, at]} of a failed Ray future."""
    if isinstance(e, ray.exceptions.RayTaskError):
        cause = getattr(e, "cause", None)
        if hasattr(cause, "taskref_kind"):
            return {"kind": cause.taskref_kind, "message": cause.taskref_message,
                    "at": getattr(cause, "taskref_at", None)}
        if isinstance(cause, ray.exceptions.TaskCancelledError):
            return {"kind": "TaskCancelledError", "message": str(cause)}
        return {"kind": "task_error", "message": str(e)}
    return {"kind": type(e).__name__, "message": str(e) or f"Ray raised {type(e).__name__}"}


# Submitted calls whose end the driver has not been told yet: task id ->
# (attempt, ref). One thread watches them all with ray.wait, rather than a
# future callback per call: measured on 4,000 trivial tasks, the callbacks
# cost the bridge ~200 us of CPU per task (GIL hand-offs), which made the
# per-task cost 1.6x Python Ray's; without them it was 1.16x.
_pending = {}
_pending_cv = threading.Condition()


def _watch(task_id, attempt, ref):
    with _pending_cv:
        _pending[task_id] = (attempt, ref)
        _pending_cv.notify()


# How many pending calls one ray.wait looks at: ray.wait is O(n) in the refs
# it is given, and with 10,000 calls pending, waiting on all of them every
# round made the bridge's notices the bottleneck (C1 at 10,000 tasks: 1.55x
# Python Ray). Calls mostly end in the order they were submitted, so the
# window starts at the oldest; when nothing in it ended, the next round looks
# further on, so an early call that runs long cannot hide the ones after it.
_WINDOW = 512
# Values up to this size go to the driver with their call's end (Ray's own
# threshold for returning objects inline: max_direct_call_object_size).
_INLINE = 100 * 1024


def _notifier():
    offset = 0
    while True:
        with _pending_cv:
            while not _pending:
                _pending_cv.wait()
            if offset >= len(_pending):
                offset = 0
            items = list(itertools.islice(_pending.items(), offset, offset + _WINDOW))
        refs = [r for _, (_, r) in items]
        # All that are ready within 5 ms, without pulling values anywhere.
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0.005, fetch_local=False)
        if not ready:
            offset += _WINDOW
            continue
        offset = 0
        ready = set(ready)
        ended = [(t, a, r) for t, (a, r) in items if r in ready]
        with _pending_cv:
            for t, _, r in ended:
                if _pending.get(t, (None, None))[1] is r:
                    del _pending[t]
        # Which of them failed: one get of them all, one by one only if one
        # of them raised.
        failed = {}
        values = {}
        try:
            got = ray.get([r for _, _, r in ended])
            values = {t: v for (t, _, _), v in zip(ended, got)}
        except BaseException:  # noqa: BLE001
            for t, _, r in ended:
                try:
                    ray.get(r)
                except BaseException as e:  # noqa: BLE001 - every failure goes back
                    failed[t] = _error_of(e)
        for t, a, r in ended:
            if _refs.get(t) is not r:
                continue  # released or resubmitted meanwhile
            if t in failed:
                _send({"op": "failed", "id": t, "attempt": a, **failed[t]})
                continue
            v = values.get(t)
            if isinstance(v, (bytes, bytearray)) and len(v) <= _INLINE:
                # Small values go with the notice, as Ray returns small
                # objects to their owner directly: a get then costs no
                # second round trip.
                _bytes["to_driver"] += len(v)
                _send({"op": "done", "id": t, "attempt": a, "inline": True}, v)
            else:
                _send({"op": "done", "id": t, "attempt": a})


_remote_fns = {}


def _remote_fn(key):
    """`_call` with the options whose JSON text is `key`, made once per
    distinct options (`.options()` builds a new wrapper each time: measurable
    at thousands of tasks). The driver sends the same text for the same
    options, so the text itself is the cache key."""
    fn = _remote_fns.get(key)
    if fn is None:
        o = json.loads(key)
        opts = {"num_cpus": o.get("num_cpus", 1), "max_retries": o.get("max_retries", 0),
                "retry_exceptions": o.get("retry_exceptions", False)}
        if o.get("resources"):
            opts["resources"] = o["resources"]
        if o.get("name"):
            opts["name"] = o["name"]
        fn = _remote_fns[key] = _job["call"].options(**opts)
    return fn


def _call_args(h, payload):
    """A call's arguments: each spec is {"len": n} (the next n bytes of the
    payload) or {"ref": id} (a task's Ray ref). Raises KeyError naming a ref
    the bridge does not hold."""
    args, at = [], 0
    for a in h["args"]:
        if "ref" in a:
            ref = _refs.get(a["ref"])
            if ref is None:
                raise KeyError(f"argument ref {a['ref']} is unknown to the bridge")
            args.append(ref)
        else:
            args.append(payload[at: at + a["len"]])
            at += a["len"]
    return args


def _submit(h, payload):
    task_id = h["id"]
    try:
        args = _call_args(h, payload)
    except KeyError as e:
        _send({"op": "failed", "id": task_id, "attempt": h.get("attempt", 0), "kind": "bad_ref",
               "message": e.args[0]})
        return
    try:
        if "actor" in h:
            actor = _actors.get(h["actor"])
            if actor is None:
                why = _actor_errors.get(h["actor"], "it was released or killed")
                raise ValueError(f"the actor could not be reached: {why}")
            ref = actor.call.remote(h["fn"], *args)
        else:
            ref = _remote_fn(h.get("options", "{}")).remote(h["fn"], *args)
    except Exception as e:  # noqa: BLE001 - e.g. invalid options
        _send({"op": "failed", "id": task_id, "attempt": h.get("attempt", 0), "kind": "submit",
               "message": f"{type(e).__name__}: {e}"})
        return
    _refs[task_id] = ref
    attempt = h.get("attempt", 0)
    _watch(task_id, attempt, ref)


_fetches = queue.Queue()


def _fetcher():
    """Brings values to the driver, one batch (one ray.get) at a time, off the
    reader thread so that submissions go on meanwhile."""
    while True:
        ids = _fetches.get()
        # Everything asked for meanwhile goes into the same ray.get: a gather
        # of many refs finishing one by one becomes a few large gets instead
        # of thousands of small ones (each of which waits for the GIL).
        while True:
            try:
                ids.extend(_fetches.get_nowait())
            except queue.Empty:
                break
        try:
            _fetch(ids)
        except BaseException as e:  # noqa: BLE001 - the thread must live on
            _send({"op": "values", "ids": [], "lens": [],
                   "errors": {str(i): {"kind": "fetch", "message": f"{type(e).__name__}: {e}"}
                              for i in ids}})


def _fetch(ids):
    """One ray.get of the ids' values, answered in frames under the 4 GiB
    frame limit; a failed value is answered as its error."""
    found = [(i, _refs.get(i)) for i in ids]
    known = [(i, r) for i, r in found if r is not None]
    errors = {str(i): {"kind": "bad_ref", "message": f"ref {i} was released"}
              for i, r in found if r is None}
    try:
        values = ray.get([r for _, r in known])
        pairs = list(zip([i for i, _ in known], values))
    except BaseException:  # noqa: BLE001 - find which one failed
        pairs = []
        for i, r in known:
            try:
                pairs.append((i, ray.get(r)))
            except BaseException as e:  # noqa: BLE001
                errors[str(i)] = _error_of(e)
    good = [(i, v) for i, v in pairs if isinstance(v, (bytes, bytearray))]
    for i, v in pairs:
        if not isinstance(v, (bytes, bytearray)):
            errors[str(i)] = {"kind": "protocol",
                              "message": f"ref {i} holds a {type(v).__name__}, not bytes"}
    chunk, size = [], 0
    for item in good + [None]:
        if item is None or (chunk and size + len(item[1]) > _FRAME_LIMIT):
            payload = b"".join(v for _, v in chunk)
            _bytes["to_driver"] += len(payload)
            _send({"op": "values", "ids": [i for i, _ in chunk], "lens": [len(v) for _, v in chunk],
                   "errors": errors if item is None else {}}, payload)
            chunk, size = [], 0
        if item is not None:
            chunk.append(item)
            size += len(item[1])


def _actor_new(h, payload):
    """Starts an actor. A failure (a constructor that panics, options Ray
    refuses) shows as its calls' errors, as in Ray."""
    try:
        args = _call_args(h, payload)
    except KeyError as e:
        _actor_errors[h["actor"]] = e.args[0]
        return
    o = json.loads(h.get("options", "{}"))
    opts = {"num_cpus": o.get("num_cpus", 0), "max_restarts": o.get("max_restarts", 0)}
    if o.get("resources"):
        opts["resources"] = o["resources"]
    if o.get("max_task_retries"):
        # Calls queued or running when the actor's process dies are run
        # again on the restarted actor (Ray's own retry, not the driver's).
        opts["max_task_retries"] = o["max_task_retries"]
    try:
        _actors[h["actor"]] = _Actor.options(**opts).remote(
            _job["exe"], _job["build"], h["fn"], *args
        )
    except Exception as e:  # noqa: BLE001 - its calls will say why
        _actor_errors[h["actor"]] = f"{type(e).__name__}: {e}"


def _init(h):
    _job["build"] = h["build"]
    ray.init(
        address=h["address"],
        logging_level="WARNING",
        namespace=h.get("namespace") or "taskref",
    )
    with open(h["exe"], "rb") as f:
        # In a list: Ray resolves a ref argument before the call, a nested
        # one only when the trampoline asks (once per node and build).
        _job["exe"] = [ray.put(f.read())]
    _job["call"] = _job_call(_job["exe"], _job["build"])
    nodes = [
        {"id": n["NodeID"], "resources": n["Resources"]} for n in ray.nodes() if n["Alive"]
    ]
    _send({"op": "ready", "pid": os.getpid(), "nodes": nodes, "ray": ray.__version__})


def main():
    threading.Thread(target=_fetcher, daemon=True).start()
    threading.Thread(target=_notifier, daemon=True).start()
    while True:
        h, payload = _read_frame(_IN)
        if h is None or h["op"] == "shutdown":
            break
        _bytes["from_driver"] += len(payload)
        op = h["op"]
        if op == "submit":
            _submit(h, payload)
        elif op == "fetch":
            _fetches.put(h["ids"])
        elif op == "actor_new":
            _actor_new(h, payload)
        elif op == "actor_kill":
            if h.get("restart"):
                # Ray restarts it if its max_restarts allows; the handle stays.
                actor = _actors.get(h["actor"])
                if actor is not None:
                    ray.kill(actor, no_restart=False)
            else:
                actor = _actors.pop(h["actor"], None)
                if actor is not None:
                    ray.kill(actor, no_restart=True)
        elif op == "actor_release":
            _actors.pop(h["actor"], None)
        elif op == "release":
            for i in h["ids"]:
                _refs.pop(i, None)
        elif op == "cancel":
            ref = _refs.get(h["id"])
            if ref is not None:
                # force: a running call is in the worker binary, which Ray's
                # KeyboardInterrupt does not reach (checked on Ray 2.60: the
                # call ran to its end); killing the worker process ends it,
                # and the binary with it (its stdin closes). The driver has
                # already failed the ref with Cancelled or TaskTimedOut.
                try:
                    ray.cancel(ref, force=True, recursive=True)
                except Exception:  # noqa: BLE001 - finished meanwhile
                    pass
        elif op == "stats":
            _send({"op": "stats", "req": h["req"], **_bytes})
        elif op == "bench_python":
            t0 = time.perf_counter()
            ray.get([_py_double.remote(i) for i in range(h["n"])])
            _send({"op": "bench", "req": h["req"], "seconds": time.perf_counter() - t0})
        elif op == "init":
            try:
                _init(h)
            except Exception as e:  # noqa: BLE001
                _send_now({"op": "fatal", "message": f"{type(e).__name__}: {e}"})
                return
    ray.shutdown()


if __name__ == "__main__":
    main()
