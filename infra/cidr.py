"""Split a VPC's address range into one public and one private subnet per availability zone.

Pure Python (no Pulumi) so the arithmetic is tested directly, e.g.::

    >>> [str(z.private) for z in split_vpc("10.20.0.0/16", 2)]
    ['10.20.0.0/19', '10.20.32.0/19']

Layout of a VPC (/16 shown): the first half holds private subnets, one per zone slot (/19, 8 190
addresses: with the VPC CNI every pod takes a VPC address, so private subnets are the big ones); the
next quarter holds public subnets (/20, load balancers and NAT gateways only); the last quarter is
left free for later use. There are always MAX_ZONES slots, so adding a zone later never moves an
existing subnet (moving a subnet would replace it, and every node in it).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

MAX_ZONES = 4
"""Zone slots carved out of every VPC; a region rarely offers more usable zones."""
MIN_ZONES = 2
"""EKS requires subnets in at least two zones."""
LARGEST_VPC_PREFIX = 16
"""AWS allows a VPC of at most /16."""
SMALLEST_VPC_PREFIX = 20
"""A /20 VPC leaves /23 private subnets (510 pod and node addresses per zone); smaller runs out of pod IPs."""

_PRIVATE_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


@dataclass(frozen=True, kw_only=True)
class ZoneSubnets:
    """The two subnets of one availability zone."""

    zone_index: int
    """Position of the zone (0 = first zone), which fixes its slot in the VPC."""
    public: ipaddress.IPv4Network
    """Internet-facing: load balancers and the NAT gateway."""
    private: ipaddress.IPv4Network
    """Nodes and pods; reaches the internet through NAT only."""


def cidr_problems(key: str, cidr: str) -> list[str]:
    """Reasons `cidr` cannot be a VPC range, each naming `key`; empty when it can."""
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except (ValueError, TypeError) as error:
        return [f"{key} {cidr!r} is not a CIDR block like 10.20.0.0/16 ({error})"]
    if not isinstance(network, ipaddress.IPv4Network):
        return [f"{key} {cidr!r} must be an IPv4 range"]
    found = []
    if not LARGEST_VPC_PREFIX <= network.prefixlen <= SMALLEST_VPC_PREFIX:
        found.append(f"{key} {cidr!r} must be between /{LARGEST_VPC_PREFIX} and /{SMALLEST_VPC_PREFIX}")
    if not any(network.subnet_of(private) for private in _PRIVATE_RANGES):
        found.append(f"{key} {cidr!r} must lie in a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)")
    return found


def overlaps(first: str, second: str) -> bool:
    """True when two valid CIDR blocks share any address."""
    return ipaddress.ip_network(first).overlaps(ipaddress.ip_network(second))


def split_vpc(cidr: str, zones: int) -> list[ZoneSubnets]:
    """Public and private subnets for the first `zones` zone slots of the VPC range `cidr`."""
    problems = cidr_problems("cidr", cidr)
    if problems:
        raise ValueError("; ".join(problems))
    if not MIN_ZONES <= zones <= MAX_ZONES:
        raise ValueError(f"zones must be {MIN_ZONES}–{MAX_ZONES}, got {zones}")
    vpc = ipaddress.IPv4Network(cidr)
    private_half, rest = vpc.subnets(prefixlen_diff=1)
    public_quarter, _spare = rest.subnets(prefixlen_diff=1)
    slot_bits = (MAX_ZONES - 1).bit_length()
    private = list(private_half.subnets(prefixlen_diff=slot_bits))
    public = list(public_quarter.subnets(prefixlen_diff=slot_bits))
    return [ZoneSubnets(zone_index=i, public=public[i], private=private[i]) for i in range(zones)]
