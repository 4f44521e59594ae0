"""Keeps a local two-node Ray cluster alive for `scripts/ray-cluster`.

Usage: python ray_cluster.py ADDRESS_FILE

Starts two raylets on this machine with `ray.cluster_utils.Cluster` (one CPU
each; the second node has the custom resource `node2`, so a task can be forced
onto it and values really cross object stores), writes the cluster's address to
ADDRESS_FILE once both nodes are up, then waits. On SIGTERM, SIGINT or SIGHUP,
or when its parent process goes away, it shuts the cluster down (its own
processes only: no `ray stop`, which would stop every Ray on the machine).
"""

import os
import signal
import sys
import threading

# `ray.cluster_utils` starts nodes without the auth set-up `ray.init()` and `ray
# start` do, so ask for token authentication explicitly (the token itself is
# ~/.ray/auth_token, which the caller makes sure exists).
os.environ.setdefault("RAY_AUTH_MODE", "token")
# Each node installs a SIGTERM handler that first asks the GCS to drain the node
# for up to 30 s (meant for Kubernetes pods); here it only delays the shutdown.
os.environ.setdefault("RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S", "0")

import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

OBJECT_STORE = int(os.environ.get("TASKREF_RAY_OBJECT_STORE_MB", "200")) * 1024 * 1024


def main():
    address_file = sys.argv[1]
    parent = os.getppid()
    stop = threading.Event()

    common = dict(num_cpus=1, object_store_memory=OBJECT_STORE, include_dashboard=False)
    cluster = Cluster(initialize_head=True, head_node_args=common)
    try:
        cluster.add_node(resources={"node2": 1}, **common)
        cluster.wait_for_nodes()
        # Installed after the nodes, whose own SIGTERM handlers they replace:
        # a signal now only ends the wait below, and `finally` shuts down.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: stop.set())
        tmp = address_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(cluster.address)
        os.replace(tmp, address_file)
        while not stop.wait(0.5):
            if os.getppid() != parent:
                break
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
