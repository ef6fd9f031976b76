"""CIDR splitting, tested as plain arithmetic without Pulumi."""

from __future__ import annotations

import ipaddress
import itertools

import pytest

from infra.cidr import MAX_ZONES, cidr_problems, overlaps, split_vpc


def test_a_slash_16_gives_large_private_and_smaller_public_subnets() -> None:
    zones = split_vpc("10.20.0.0/16", 3)
    assert [str(z.private) for z in zones] == ["10.20.0.0/19", "10.20.32.0/19", "10.20.64.0/19"]
    assert [str(z.public) for z in zones] == ["10.20.128.0/20", "10.20.144.0/20", "10.20.160.0/20"]


@pytest.mark.parametrize("cidr", ["10.20.0.0/16", "172.16.0.0/18", "192.168.0.0/20"])
@pytest.mark.parametrize("zones", [2, 3, 4])
def test_subnets_lie_inside_the_vpc_and_never_overlap(cidr: str, zones: int) -> None:
    vpc = ipaddress.IPv4Network(cidr)
    subnets = [net for z in split_vpc(cidr, zones) for net in (z.public, z.private)]
    assert len(subnets) == 2 * zones
    assert all(net.subnet_of(vpc) for net in subnets)
    assert not any(a.overlaps(b) for a, b in itertools.combinations(subnets, 2))


def test_adding_a_zone_never_moves_an_existing_subnet() -> None:
    # Moving a subnet replaces it and every node in it; the slots are fixed for MAX_ZONES zones.
    two, three = split_vpc("10.20.0.0/16", 2), split_vpc("10.20.0.0/16", MAX_ZONES - 1)
    assert three[:2] == two


@pytest.mark.parametrize(
    ("cidr", "fragment"),
    [
        ("10.20.0.0", "between /16 and /20"),  # a single address is a /32
        ("10.0.0.0/8", "between /16 and /20"),
        ("10.20.0.0/24", "between /16 and /20"),
        ("10.20.1.0/16", "not a CIDR block"),  # host bits set
        ("8.8.0.0/16", "private range"),
        ("fd00::/48", "IPv4"),
        ("ten.twenty/16", "not a CIDR block"),
    ],
)
def test_bad_ranges_are_named_with_their_problem(cidr: str, fragment: str) -> None:
    problems = cidr_problems("example-app:vpcCidr", cidr)
    assert problems and all("example-app:vpcCidr" in p for p in problems)
    assert any(fragment in p for p in problems), problems


def test_split_refuses_bad_input_instead_of_guessing() -> None:
    with pytest.raises(ValueError, match="zones must be 2–4"):
        split_vpc("10.20.0.0/16", 1)
    with pytest.raises(ValueError, match="private range"):
        split_vpc("8.8.0.0/16", 2)


def test_overlap_detection() -> None:
    assert overlaps("10.20.0.0/16", "10.20.128.0/17")
    assert not overlaps("10.20.0.0/16", "172.20.0.0/16")
