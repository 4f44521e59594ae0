"""taskref's Ray bridge: the only process on the driver's side that talks to Ray.

The Rust driver runs this with Ray's Python and exchanges frames with it over
stdin (requests) and stdout (replies). A frame is a u32 header length, a u32
payload length (both big-endian), a JSON header, then raw payload bytes. The
bridge holds the Ray ObjectRefs in a dict keyed by ids the driver picks, so a
ref passed to another task goes to Ray as a ref and is resolved on the worker.

On the workers, `_taskref_call` (a Ray task defined here and shipped by value)
starts the user's binary -- the same program as the driver, shipped through the
job's runtime_env working_dir -- once per worker process with
TASKREF_RAY_WORKER=1, and calls a registered Rust function by name: requests on
the binary's stdin, replies on a pipe whose fd is in TASKREF_RAY_REPLY_FD (so
that anything the user's code prints on stdout cannot corrupt the replies).
"""

import json
import os
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

# ray.init(address=...) with an explicit address does not turn token auth on
# by itself (only address=None/"auto" does): follow Ray's own rule for a
# found cluster and use the token when one is available and no mode was set.
if "RAY_AUTH_MODE" not in os.environ and (
    os.environ.get("RAY_AUTH_TOKEN")
    or os.environ.get("RAY_AUTH_TOKEN_PATH")
    or (Path.home() / ".ray" / "auth_token").exists()
):
    os.environ["RAY_AUTH_MODE"] = "token"

import ray  # noqa: E402
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

_HEAD = ">II"  # a str: a struct.Struct would not pickle into the trampoline


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


# ---------------------------------------------------------------- worker side


class TaskrefError(Exception):
    """A call that failed in the Rust binary: `kind` and `message` go back to
    the driver as they are."""

    def __init__(self, kind, message):
        super().__init__(f"{kind}: {message}")
        self.taskref_kind = kind
        self.taskref_message = message

    def __reduce__(self):
        return (TaskrefError, (self.taskref_kind, self.taskref_message))


def _worker_process(exe):
    """The user's binary in worker mode, one per Ray worker process (Ray
    reuses worker processes across tasks, so it is started once)."""
    import subprocess

    w = getattr(sys, "_taskref_worker", None)
    if w is not None and w[0].poll() is None:
        return w
    path = os.path.join(os.getcwd(), exe)  # the job's working_dir
    r, wfd = os.pipe()
    env = dict(os.environ)
    env["TASKREF_RAY_WORKER"] = "1"
    env["TASKREF_RAY_REPLY_FD"] = str(wfd)
    env["TASKREF_RAY_NODE_ID"] = ray.get_runtime_context().get_node_id()
    proc = subprocess.Popen([path], stdin=subprocess.PIPE, pass_fds=(wfd,), env=env)
    os.close(wfd)
    w = (proc, os.fdopen(r, "rb", buffering=0))
    sys._taskref_worker = w
    return w


def _taskref_call(exe, name, *args):
    proc, replies = _worker_process(exe)
    header = {"fn": name, "lens": [len(a) for a in args]}
    try:
        proc.stdin.write(_frame(header, b"".join(args)))
        proc.stdin.flush()
        reply, payload = _read_frame(replies)
    except (BrokenPipeError, OSError):
        reply = None
    if reply is None:
        code = proc.wait()
        sys._taskref_worker = None
        raise TaskrefError(
            "worker_died", f"the worker binary exited (status {code}) while running `{name}`"
        )
    if reply.get("ok"):
        return payload
    raise TaskrefError(reply["kind"], reply["message"])


_call = ray.remote(_taskref_call)


@ray.remote
def _py_double(x):
    return x * 2


# ---------------------------------------------------------------- driver side

_refs = {}
_write_lock = threading.Lock()
_bytes = {"to_driver": 0, "from_driver": 0}
_exe = None


def _send(header, payload=b""):
    with _write_lock:
        # Counted before the write: the driver may ask for the count as soon
        # as it has the frame.
        _bytes["to_driver"] += len(payload)
        _OUT.write(_frame(header, payload))


class _Failed:
    def __init__(self, kind, message):
        self.kind, self.message = kind, message


def _error_of(e):
    """(kind, message) of a failed Ray future."""
    if isinstance(e, ray.exceptions.RayTaskError):
        cause = getattr(e, "cause", None)
        if hasattr(cause, "taskref_kind"):
            return cause.taskref_kind, cause.taskref_message
        return "task_error", str(e)
    return type(e).__name__, str(e) or f"Ray raised {type(e).__name__}"


def _on_done(req, fut):
    try:
        value = fut.result()
    except BaseException as e:  # noqa: BLE001 - every failure goes back
        kind, message = _error_of(e)
        _send({"op": "error", "req": req, "kind": kind, "message": message})
        return
    _send({"op": "value", "req": req}, value)


_remote_fns = {}


def _remote_fn(o):
    """`_call` with options `o`, made once per distinct options (`.options()`
    builds a new wrapper each time: measurable at thousands of tasks)."""
    key = json.dumps(o, sort_keys=True)
    fn = _remote_fns.get(key)
    if fn is None:
        fn = _remote_fns[key] = _call.options(**_options(o))
    return fn


def _options(o):
    opts = {"num_cpus": o.get("num_cpus", 1)}
    if o.get("resources"):
        opts["resources"] = o["resources"]
    if o.get("node_id"):
        opts["scheduling_strategy"] = NodeAffinitySchedulingStrategy(o["node_id"], soft=False)
    if "max_retries" in o:
        opts["max_retries"] = o["max_retries"]
    return opts


def _submit(h, payload):
    args, at = [], 0
    for a in h["args"]:
        if "ref" in a:
            ref = _refs.get(a["ref"])
            if not isinstance(ref, ray.ObjectRef):
                _refs[h["id"]] = _Failed("bad_ref", f"argument ref {a['ref']} is unknown or failed")
                return
            args.append(ref)
        else:
            args.append(payload[at : at + a["len"]])
            at += a["len"]
    try:
        _refs[h["id"]] = _remote_fn(h.get("options", {})).remote(_exe, h["fn"], *args)
    except Exception as e:  # noqa: BLE001 - e.g. invalid options
        _refs[h["id"]] = _Failed("submit", str(e))


def _get(h):
    ref = _refs.get(h["id"])
    if isinstance(ref, _Failed):
        _send({"op": "error", "req": h["req"], "kind": ref.kind, "message": ref.message})
    elif ref is None:
        _send({"op": "error", "req": h["req"], "kind": "bad_ref", "message": f"no ref {h['id']}"})
    else:
        ref.future().add_done_callback(lambda fut, req=h["req"]: _on_done(req, fut))


def _get_many(h):
    """Gather: one ray.get of all the refs (on a thread, so the reader goes
    on), answered in one frame with the values' lengths in the header."""
    refs = [_refs.get(i) for i in h["ids"]]
    bad = next((r for r in refs if not isinstance(r, ray.ObjectRef)), False)
    if bad is not False:
        kind, message = (bad.kind, bad.message) if isinstance(bad, _Failed) else ("bad_ref", "unknown ref")
        _send({"op": "error", "req": h["req"], "kind": kind, "message": message})
        return

    def run():
        try:
            values = ray.get(refs)
        except BaseException as e:  # noqa: BLE001
            kind, message = _error_of(e)
            _send({"op": "error", "req": h["req"], "kind": kind, "message": message})
            return
        _send({"op": "values", "req": h["req"], "lens": [len(v) for v in values]}, b"".join(values))

    threading.Thread(target=run, daemon=True).start()


def _init(h):
    global _exe
    _exe = h["exe"]
    ray.init(
        address=h["address"],
        runtime_env={"working_dir": h["working_dir"]},
        logging_level="WARNING",
        namespace="taskref",
    )
    nodes = [
        {"id": n["NodeID"], "resources": n["Resources"]} for n in ray.nodes() if n["Alive"]
    ]
    _send(
        {
            "op": "ready",
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "nodes": nodes,
        }
    )


def main():
    while True:
        h, payload = _read_frame(_IN)
        if h is None or h["op"] == "shutdown":
            break
        _bytes["from_driver"] += len(payload)
        op = h["op"]
        if op == "submit":
            _submit(h, payload)
        elif op == "get":
            _get(h)
        elif op == "get_many":
            _get_many(h)
        elif op == "release":
            _refs.pop(h["id"], None)
        elif op == "cancel":
            ref = _refs.get(h["id"])
            if isinstance(ref, ray.ObjectRef):
                ray.cancel(ref, force=h.get("force", False))
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
                _send({"op": "fatal", "message": f"{type(e).__name__}: {e}"})
                return
    ray.shutdown()


if __name__ == "__main__":
    main()
