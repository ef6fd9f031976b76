"""The node group: which nodes exist, cordon, `drain NODE`, and a node-group update — across every control loop.

Each Deployment's control loop binds, evicts and drains its own pods (localenv/control/drain.py); this
module owns the node list they share and runs the steps that span them:

- `drain`: cordon the node, start a drain in every loop (kubectl evicts all pods at once, retrying a
  refusal every 5 s), wait for all to finish or the global timeout. On timeout every loop stops
  evicting: pods not evicted keep running, the node stays cordoned, and the error names them.
- `update`: a managed node group update as EKS does it (EKS User Guide, "Understand each phase of node
  updates", docs.aws.amazon.com/eks/latest/userguide/managed-node-update-behavior.html): scale up —
  new nodes launched in the zones of the nodes being replaced and Ready first, then the old nodes
  marked unschedulable; upgrade — old nodes drained `max_unavailable` at a time (default 1) through the
  eviction API, each removed once drained; a drain that cannot finish fails the update (EKS:
  PodEvictionFailure) and leaves the remaining old nodes cordoned and serving.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence

from localenv.control.events import NodeEvent, NodeStep
from localenv.control.scheduling import Node
from localenv.controller import Controller
from localenv.errors import LocalEnvError
from localenv.events import EventLog

POLL_S = 0.05


class NodeGroup:
    """The nodes every control loop schedules onto, and the disruptions that span the loops."""

    def __init__(
        self,
        nodes: Sequence[Node],
        *,
        controllers: Callable[[], list[Controller]],
        events: EventLog,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self._nodes = list(nodes)
        self._controllers = controllers
        self._events = events
        self._pause = pause
        self._created = len(self._nodes)
        self._lock = threading.Lock()

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The nodes right now."""
        return tuple(self._nodes)

    def node(self, name: str) -> Node:
        """The node called `name`; a clear error naming the nodes there are when there is none."""
        found = next((n for n in self._nodes if n.name == name), None)
        if found is None:
            names = ", ".join(n.name for n in self._nodes)
            raise LocalEnvError(f"there is no node {name!r}; the nodes are {names} (see `python -m localenv nodes`)")
        return found

    def publish(self) -> None:
        """Hand the node list to every control loop."""
        for controller in self._controllers():
            controller.set_nodes(self._nodes)

    def set_unschedulable(self, name: str, unschedulable: bool) -> None:
        """Cordon (or uncordon) `name`: the scheduler stops (or starts again) binding new pods to it."""
        node = self.node(name)
        self._nodes = [dataclasses.replace(n, unschedulable=unschedulable) if n is node else n for n in self._nodes]
        self.publish()
        step = NodeStep.CORDONED if unschedulable else NodeStep.UNCORDONED
        self._events.emit(NodeEvent(step=step, node=name, zone=node.zone))

    def add(self, zone: str) -> Node:
        """Launch a new node in `zone` (Ready at once: no kubelet to boot locally)."""
        self._created += 1
        node = Node(name=f"node-{self._created}", zone=zone)
        self._nodes.append(node)
        self.publish()
        self._events.emit(NodeEvent(step=NodeStep.ADDED, node=node.name, zone=zone))
        return node

    def remove(self, name: str) -> None:
        """Terminate a drained node; a node that still runs pods is refused."""
        node = self.node(name)
        left = [p for c in self._controllers() for p in c.pods_on(name)]
        if left:
            raise LocalEnvError(f"{name} still runs {', '.join(left)}; drain it first")
        self._nodes.remove(node)
        self.publish()
        self._events.emit(NodeEvent(step=NodeStep.REMOVED, node=name, zone=node.zone))

    def drain(self, name: str, timeout: float) -> float:
        """`kubectl drain NAME --timeout`: cordon, evict every pod through its budget; seconds it took."""
        if timeout <= 0:
            raise LocalEnvError(f"drain timeout must be > 0 seconds, got {timeout:g}")
        with self._lock:
            node = self.node(name)
            started = time.monotonic()
            if not node.unschedulable:
                self.set_unschedulable(name, True)
            self._events.emit(NodeEvent(step=NodeStep.DRAIN_STARTED, node=name, zone=node.zone))
            controllers = self._controllers()
            for controller in controllers:
                controller.start_drain(name, timeout)
            while True:
                states = [c.drain_state(name) for c in controllers]
                failed = [why for _, why, _ in states if why]
                if failed:
                    for controller in controllers:
                        controller.cancel_drain(name, failed[0])
                    raise LocalEnvError(failed[0])
                if all(done for done, _, _ in states):
                    return round(time.monotonic() - started, 3)
                self._pause(POLL_S)

    def update(self, timeout: float) -> list[str]:
        """Replace every node (new ones first, then old ones drained one at a time and removed); steps done."""
        old = list(self._nodes)
        self._events.emit(
            NodeEvent(step=NodeStep.UPDATE_STARTED, node=",".join(n.name for n in old), message="scale up")
        )
        steps: list[str] = []
        try:
            for node in old:
                steps.append(f"launched {self.add(node.zone).name} in {node.zone}")
            for node in old:
                if not self.node(node.name).unschedulable:
                    self.set_unschedulable(node.name, True)
            for node in old:
                seconds = self.drain(node.name, timeout)
                self.remove(node.name)
                steps.append(f"drained {node.name} in {seconds:.2f} s and removed it")
        except LocalEnvError as error:
            message = f"node-group update failed (PodEvictionFailure): {error}"
            self._events.emit(
                NodeEvent(step=NodeStep.UPDATE_FAILED, node=",".join(n.name for n in old), message=message)
            )
            raise LocalEnvError(message) from None
        self._events.emit(
            NodeEvent(
                step=NodeStep.UPDATE_COMPLETE, node=",".join(n.name for n in self._nodes), message="; ".join(steps)
            )
        )
        return steps
