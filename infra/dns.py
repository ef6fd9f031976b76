"""The app's DNS name: a Route53 alias record pointing at the ingress load balancer.

Example::

    Dns("prd", DnsArgs(domain="example.com", host="example-app.example.com",
                       target_hostname=ingress.hostname, region="eu-west-1"))

The record needs the NLB's hostname, which exists only once ingress-nginx's Service is provisioned;
taking it as an Output orders the record after the Service. Without the record neither
cert-manager's HTTP-01 challenge nor the smoke test can reach the app by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True, kw_only=True)
class DnsArgs:
    """Which name points where."""

    domain: str
    """Public hosted zone that holds the record."""
    host: str
    """Fully qualified name of the app."""
    target_hostname: pulumi.Input[str]
    """DNS name of the ingress's network load balancer."""
    region: str
    """Region of the load balancer (alias targets name the ELB zone of their region)."""


class Dns(pulumi.ComponentResource):
    """An alias A record from the app's host to the ingress NLB (free queries, follows the NLB's addresses)."""

    fqdn: pulumi.Output[str]

    def __init__(self, name: str, args: DnsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("example-app:infra:Dns", name, None, opts)
        invoke = pulumi.InvokeOptions(parent=self)
        zone = aws.route53.get_zone(name=args.domain, private_zone=False, opts=invoke)
        load_balancer_zone = aws.lb.get_hosted_zone_id(load_balancer_type="network", region=args.region, opts=invoke)
        record = aws.route53.Record(
            f"{name}-app",
            zone_id=zone.zone_id,
            name=args.host,
            type="A",
            aliases=[
                {
                    "name": args.target_hostname,
                    "zone_id": load_balancer_zone.id,
                    "evaluate_target_health": True,
                }
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.fqdn = record.fqdn
        self.register_outputs({"fqdn": self.fqdn})
