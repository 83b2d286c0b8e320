"""StaticIp: the one regional external address every site shares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_gcp as gcp

from components.fields import NAMESPACE, GcpName, GcpRegion, KeysRule, Model, PublicIPv4

NetworkTier = Literal["PREMIUM", "STANDARD"]


class StaticIpConfig(Model):
    """The one external IP every site shares: by default a regional EXTERNAL address the
    stack reserves and protects."""

    enabled: bool = True
    """False: the load balancer takes an ephemeral IP (`ingressIp` is then not exported, and
    `dns` cannot be used)."""
    name: GcpName | None = None
    """GCP name of the address the stack reserves (default `multisite-<stack>-ingress`)."""
    region: GcpRegion | None = None
    """Region of that address (default `gcp:region`): a load balancer takes a regional address only."""
    network_tier: NetworkTier = "PREMIUM"
    """Network tier of that address; it must match the load balancer's (GKE's default is PREMIUM)."""
    address: PublicIPv4 | None = None
    """A public IPv4 address you reserved yourself: nothing is created in GCP."""

    @classmethod
    def shape_problems(cls, given: Mapping[str, Any]) -> list[KeysRule]:
        problems = []
        if "address" in given and "name" in given:
            problems.append(
                KeysRule(
                    ("address", "name"),
                    "expected either 'address' (an IP you reserved) or 'name' (an IP we reserve), not both",
                )
            )
        reserving = tuple(k for k in ("address", "name", "region") if k in given)
        if given.get("enabled") is False and reserving:
            problems.append(
                KeysRule(
                    ("enabled", *reserving), "expected no address, name or region when 'enabled' is false"
                )
            )
        return problems

    @property
    def reserves(self) -> bool:
        """True when the program reserves the address (not given, not ephemeral)."""
        return self.enabled and self.address is None


def default_static_ip_name(stack: str) -> str:
    """The GCP name of the address a stack reserves when `staticIp.name` is not set."""
    return f"{NAMESPACE}-{stack}-ingress"


@dataclass(frozen=True)
class StaticIpArgs:
    """The address to reserve: the stack's `multisite:staticIp`, whole."""

    config: StaticIpConfig
    """With `name` and `region` filled in from the stack (`settings.load_settings`)."""
    project: str | None = None
    """The stack's `gcp:project`."""


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
        config = args.config
        reserved = gcp.compute.Address(
            f"{name}-address",
            name=config.input(config.name),
            region=config.input(config.region),
            project=args.project,
            address_type="EXTERNAL",
            # Must match the tier of the load balancer (GKE's default is PREMIUM).
            network_tier=config.input(config.network_tier),
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
