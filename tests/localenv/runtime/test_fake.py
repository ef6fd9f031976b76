"""The fake runtime keeps the promises the loop's tables rely on: scripted exits, signals, answers, a manual clock."""

from __future__ import annotations

import signal

from localenv.control.actions import (
    ContainerStarted,
    ContainerStartFailed,
    EndpointsPushFailed,
    RunProbe,
    StartContainer,
)
from localenv.control.objects import EndpointsPush, ProbeKind
from localenv.runtime.fake import FakeRuntime
from localenv.spec import PodTemplate, Probe

TEMPLATE = PodTemplate(
    image="example-app:v1",
    env=(),
    startup_probe=None,
    readiness_probe=None,
    liveness_probe=None,
    pre_stop_sleep=0.0,
    termination_grace=30.0,
)
PROBE = Probe(path="/readyz", initial_delay=0, period=1, timeout=1, success_threshold=1, failure_threshold=3)


def start(fake: FakeRuntime, container: str = "p/1", address: str | None = None) -> ContainerStarted:
    started = fake.start_container(StartContainer(pod="p", container=container, template=TEMPLATE, address=address))
    assert isinstance(started, ContainerStarted)
    return started


def test_containers_exit_when_scripted_signalled_or_crashed() -> None:
    fake = FakeRuntime(lifetime=lambda request: 2.0)
    first = start(fake)
    assert fake.pid(first.container) == first.pid and fake.exits() == {}
    fake.clock.advance(2.0)
    assert fake.exits() == {"p/1": 1} and fake.exits() == {}  # reported once
    again = start(fake, "p/2", first.address)
    assert again.address == first.address  # a pod keeps its address
    fake.send_signal("p/2", signal.SIGTERM)
    assert fake.exits() == {"p/2": 0}


def test_a_container_that_ignores_sigterm_goes_at_sigkill() -> None:
    fake = FakeRuntime(sigterm_exit_after=lambda request: None)
    start(fake)
    fake.send_signal("p/1", signal.SIGTERM)
    fake.clock.advance(60)
    assert fake.exits() == {}
    fake.kill("p/1")
    assert fake.exits() == {"p/1": -signal.SIGKILL}
    assert [(s.signum, s.group) for s in fake.signals] == [(signal.SIGTERM, False), (signal.SIGKILL, True)]


def test_probe_answers_arrive_at_the_next_look_and_starts_can_be_refused() -> None:
    fake = FakeRuntime(probe_answer=lambda request, template: (False, "503"))
    start(fake)
    fake.run_probe(RunProbe(container="p/1", kind=ProbeKind.READINESS, address="127.0.0.1:1", probe=PROBE))
    fake.run_probe(RunProbe(container="gone/1", kind=ProbeKind.READINESS, address="127.0.0.1:2", probe=PROBE))
    answers = fake.probe_answers()
    assert [(a.ok, a.detail) for a in answers] == [(False, "503"), (False, "ConnectionRefusedError")]
    assert fake.probe_answers() == []
    fake.start_error = lambda request: "no such image"
    refused = fake.start_container(StartContainer(pod="p", container="p/1", template=TEMPLATE, address=None))
    assert isinstance(refused, ContainerStartFailed) and refused.error == "no such image"


def test_the_ingress_refuses_pushes_while_down() -> None:
    fake = FakeRuntime(ingress_up=False)
    push = EndpointsPush(due=0.0, names=("p",), addresses=("127.0.0.1:1",))
    refused = fake.push_endpoints(push)
    assert isinstance(refused, EndpointsPushFailed) and not refused.ingress_alive and fake.pushes == []
    fake.ingress_up = True
    fake.push_endpoints(push)
    assert fake.pushes == [(fake.now(), ("127.0.0.1:1",))]
