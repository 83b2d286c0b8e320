"""StaticIp: the one regional external address every site shares."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp


@dataclass(frozen=True)
class StaticIpArgs:
    """Where and how to reserve the address."""

    name: pulumi.Input[str]
    """GCP resource name of the address, e.g. `multisite-prod-ingress`."""
    region: pulumi.Input[str]
    """The cluster's region: a load balancer Service can only use a regional address."""
    network_tier: pulumi.Input[str] = "PREMIUM"
    """Must match the tier of the load balancer (GKE's default is PREMIUM)."""
    project: str | None = None


class StaticIp(pulumi.ComponentResource):
    """A reserved, protected, regional EXTERNAL IPv4 address that the stack never releases.

    Losing it would change every site's IP at once. It is protected on every
    stack, so `pulumi destroy` and a change of `staticIp` mode refuse until it
    is unprotected on purpose (`pulumi state unprotect`), and even then it is
    only dropped from the stack (`retain_on_delete`), never released in GCP:
    the same IP can be brought back as `staticIp.address`, or released by hand
    with `gcloud compute addresses delete`.
    """

    address: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(self, name: str, args: StaticIpArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multisite:static_ip:StaticIp", name, None, opts)
        reserved = gcp.compute.Address(
            f"{name}-address",
            name=args.name,
            region=args.region,
            project=args.project,
            address_type="EXTERNAL",
            network_tier=args.network_tier,
            description="multisite: the edge's load balancer for every site",
            # An address's description cannot change in place: GCP would have to
            # release it. Addresses reserved when it named ingress-nginx keep theirs.
            opts=pulumi.ResourceOptions(
                parent=self, protect=True, retain_on_delete=True, ignore_changes=["description"]
            ),
        )
        self.address = reserved.address
        self.name = reserved.name
        self.register_outputs({"address": self.address, "name": self.name})
