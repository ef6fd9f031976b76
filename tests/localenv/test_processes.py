"""free_port: ports handed out in a row never repeat, even before anyone has bound them."""

from __future__ import annotations

import socket

from localenv.processes import LOOPBACK, free_port


def test_ports_handed_out_in_a_row_are_distinct_and_bindable() -> None:
    ports = [free_port() for _ in range(200)]  # none of them is bound in between
    assert len(set(ports)) == len(ports)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, ports[-1]))
