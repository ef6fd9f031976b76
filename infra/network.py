"""The VPC: public and private subnets per availability zone, internet gateway, NAT and routes.

Example::

    network = Network("prd", NetworkArgs(cidr="10.22.0.0/16", zones=3, nat_per_zone=True,
                                         cluster_name="example-app-prd", tags=tags))
    network.private_subnet_ids  # where nodes go
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.cidr import split_vpc


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    """What the VPC looks like."""

    cidr: str
    """VPC range; split per zone by infra/cidr.py."""
    zones: int = 3
    """Availability zones to use (the region's first ones that need no opt-in)."""
    nat_per_zone: bool = True
    """A NAT gateway in every zone (a zone outage leaves the others online) or one shared."""
    cluster_name: str
    """EKS cluster whose load balancers may use these subnets (subnet tags)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every resource."""


class Network(pulumi.ComponentResource):
    """A VPC across several zones with EKS load-balancer subnet tags; nodes live in the private subnets."""

    vpc_id: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    zones: list[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("example-app:infra:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        available = aws.get_availability_zones(
            state="available",
            filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
            opts=pulumi.InvokeOptions(parent=self),
        ).names
        if len(available) < args.zones:
            raise pulumi.RunError(
                f"the region offers {len(available)} availability zones ({', '.join(available)}) but "
                f"availabilityZones is {args.zones}; lower it or pick another region"
            )
        self.zones = sorted(available)[: args.zones]

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_hostnames=True,  # EKS nodes and private endpoints need DNS names
            enable_dns_support=True,
            tags={**tags, "Name": f"{name}-vpc"},
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags={**tags, "Name": f"{name}-igw"}, opts=child
        )
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}],
            tags={**tags, "Name": f"{name}-public"},
            opts=child,
        )
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}
        self.public_subnet_ids = []
        self.private_subnet_ids = []
        nat_ids: list[pulumi.Output[str]] = []
        for zone, subnets in zip(self.zones, split_vpc(args.cidr, args.zones), strict=True):
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=str(subnets.public),
                availability_zone=zone,
                # Nothing launched here needs a public address by default; NAT and the NLB bring their own.
                map_public_ip_on_launch=False,
                tags={**tags, **cluster_tag, "Name": f"{name}-public-{zone}", "kubernetes.io/role/elb": "1"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}", subnet_id=public.id, route_table_id=public_routes.id, opts=child
            )
            self.public_subnet_ids.append(public.id)
            if args.nat_per_zone or not nat_ids:
                address = aws.ec2.Eip(
                    f"{name}-nat-{zone}", domain="vpc", tags={**tags, "Name": f"{name}-nat-{zone}"}, opts=child
                )
                nat = aws.ec2.NatGateway(
                    f"{name}-nat-{zone}",
                    allocation_id=address.id,
                    subnet_id=public.id,
                    tags={**tags, "Name": f"{name}-nat-{zone}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
                )
                nat_ids.append(nat.id)
            private = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=str(subnets.private),
                availability_zone=zone,
                tags={
                    **tags,
                    **cluster_tag,
                    "Name": f"{name}-private-{zone}",
                    "kubernetes.io/role/internal-elb": "1",
                },
                opts=child,
            )
            private_routes = aws.ec2.RouteTable(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                # Each zone leaves through its own NAT when there is one per zone, else the shared one.
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat_ids[-1]}],
                tags={**tags, "Name": f"{name}-private-{zone}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=private.id, route_table_id=private_routes.id, opts=child
            )
            self.private_subnet_ids.append(private.id)

        self.vpc_id = vpc.id
        self.register_outputs(
            {
                "vpcId": vpc.id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
            }
        )
