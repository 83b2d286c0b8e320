"""Cloud DNS: an A record per host, in the stack's managed zone, pointing at the static IP."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Protocol

import pulumi
import pulumi_gcp as gcp
from pydantic import AfterValidator, Field

from components.fields import GCP_NAME, NAMESPACE, GcpProjectId, Model, Pattern

ZoneName = Annotated[
    str,
    AfterValidator(
        Pattern(
            GCP_NAME,
            "expected the name of a Cloud DNS managed zone, e.g. 'example-com' (a letter first, then"
            " a-z, 0-9 or '-', at most 63 characters; the name, not the DNS name)",
            name="Cloud DNS zone name",
        )
    ),
]


class DnsConfig(Model):
    """Cloud DNS: an A record per host and alias in this managed zone."""

    zone: ZoneName
    """Name of the Cloud DNS managed zone (the name, not the DNS name); it gets an A record per
    host and alias, pointing at the static IP."""
    project: GcpProjectId | None = None
    """The zone's project, when it is not `gcp:project`."""
    ttl: int = Field(default=300, ge=30, le=86400)
    """Time to live of the records, in seconds."""


class SiteNames(Protocol):
    """A site (`SiteConfig`), as the zone check reads its names."""

    def keyed_names(self) -> list[tuple[str, str]]: ...


def zone_dns_name(config: DnsConfig, project: str | None) -> str:
    """The DNS name of the managed zone `config.zone` (`example.com.`), read from Cloud DNS;
    `project` is the stack's `gcp:project`, for a section that names no project of its own."""
    return gcp.dns.get_managed_zone(name=config.zone, project=config.project or project).dns_name


def names_outside_zone(dns_name: str, sites: Sequence[SiteNames]) -> str | None:
    """The problem when a host, alias or redirect does not lie in the zone whose DNS name is `dns_name`
    (Cloud DNS refuses a record outside its zone), naming every such name; else None."""
    zone = dns_name.rstrip(".")
    outside = [
        f"{NAMESPACE}:sites[{i}].{key} = {name!r}"
        for i, site in enumerate(sites)
        for key, name in site.keyed_names()
        if name != zone and not name.endswith(f".{zone}")
    ]
    if not outside:
        return None
    return (
        f"{NAMESPACE}:dns.zone: expected every name of every site (host, aliases, redirects) under"
        f" the zone's DNS name {dns_name!r}"
        f" (Cloud DNS keeps only records inside it); outside it: {', '.join(outside)}"
    )


@dataclass(frozen=True)
class DnsRecords:
    """Where a site's A records go: the stack's `multisite:dns`, whole, and what they point at."""

    config: DnsConfig
    ip: pulumi.Input[str]
    """The static IP."""
    project: str | None = None
    """The stack's `gcp:project`, for a section that names no project of its own."""

    def a_record(self, host: str, *, site: str, parent: pulumi.Resource) -> gcp.dns.RecordSet:
        """The A record of `host`, a name of the site `site`."""
        config = self.config
        # Named after the host alone, which is unique across sites. The old
        # `<site>-dns-<host>` could repeat (a.com + c.com-dns-d.com vs
        # a.com-dns-c.com + d.com): a duplicate URN stops the engine half-way.
        # The alias keeps records made under the old name in place.
        return gcp.dns.RecordSet(
            f"{host}-dns",
            name=f"{host}.",
            type="A",
            ttl=config.input(config.ttl),
            managed_zone=config.input(config.zone),
            project=config.input(config.project) if config.project else self.project,
            rrdatas=[self.ip],
            opts=pulumi.ResourceOptions(parent=parent, aliases=[pulumi.Alias(name=f"{site}-dns-{host}")]),
        )
