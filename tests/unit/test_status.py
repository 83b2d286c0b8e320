"""`tools.status`: what a user reads about each host, from cert-manager's objects."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tools import status

READY_CERT = {
    "metadata": {"namespace": "default", "name": "www-example-com"},
    "spec": {"dnsNames": ["www.example.com", "example.com"], "issuerRef": {"name": "letsencrypt-prod"}},
    "status": {"conditions": [{"type": "Ready", "status": "True"}], "notAfter": "2027-02-25T10:00:00Z"},
}
PENDING_CERT = {
    "metadata": {"namespace": "blog", "name": "blog-example-org"},
    "spec": {"dnsNames": ["blog.example.org"], "issuerRef": {"name": "letsencrypt-staging"}},
    "status": {
        "conditions": [{"type": "Ready", "status": "False", "reason": "DoesNotExist", "message": "Issuing"}]
    },
}
ISSUERS = [
    {"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    for name in ("letsencrypt-staging", "letsencrypt-prod")
]
CHALLENGE = {
    "metadata": {"namespace": "blog", "name": "blog-example-org-1-2-3"},
    "spec": {"dnsName": "blog.example.org"},
    "status": {"state": "pending", "reason": "Waiting for HTTP-01 challenge propagation: connection refused"},
}


class FakeCustomObjects:
    def __init__(self, **plurals: list[dict[str, Any]]) -> None:
        self.plurals = plurals
        self.selectors: dict[str, str | None] = {}

    def list_cluster_custom_object(self, group: str, version: str, plural: str, **kw: Any) -> dict[str, Any]:
        self.selectors[plural] = kw.get("label_selector")
        return {"items": self.plurals.get(plural, [])}


def test_every_host_of_every_certificate_with_issuer_and_expiry() -> None:
    api = FakeCustomObjects(certificates=[READY_CERT])
    rows = status.statuses(api)
    assert [(r.host, r.ready, r.issuer, r.not_after) for r in rows] == [
        ("www.example.com", True, "letsencrypt-prod", "2027-02-25T10:00:00Z"),
        ("example.com", True, "letsencrypt-prod", "2027-02-25T10:00:00Z"),
    ]
    assert api.selectors["certificates"] == "app.kubernetes.io/part-of=multisite"


def test_a_pending_host_shows_its_challenge_reason() -> None:
    (row,) = status.statuses(
        FakeCustomObjects(certificates=[PENDING_CERT], challenges=[CHALLENGE], clusterissuers=ISSUERS)
    )
    assert not row.ready
    assert row.reason == "challenge pending: Waiting for HTTP-01 challenge propagation: connection refused"


def test_without_a_challenge_the_failed_order_or_the_ready_condition_explains() -> None:
    order = {
        "metadata": {"namespace": "blog", "name": "blog-example-org-1-123"},
        "status": {"state": "errored", "reason": "Failed to create Order: account does not exist"},
    }
    (row,) = status.statuses(
        FakeCustomObjects(certificates=[PENDING_CERT], orders=[order], clusterissuers=ISSUERS)
    )
    assert row.reason == "order errored: Failed to create Order: account does not exist"
    (row,) = status.statuses(FakeCustomObjects(certificates=[PENDING_CERT], clusterissuers=ISSUERS))
    assert row.reason == "DoesNotExist: Issuing"


def test_an_issuer_that_is_not_ready_is_the_reason_before_anything_else() -> None:
    broken = {
        "metadata": {"name": "letsencrypt-staging"},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ErrRegisterACMEAccount",
                    "message": "Failed to register ACME account: connection refused",
                }
            ]
        },
    }
    api = FakeCustomObjects(certificates=[PENDING_CERT], challenges=[CHALLENGE], clusterissuers=[broken])
    (row,) = status.statuses(api)
    assert (
        row.reason
        == "issuer letsencrypt-staging not Ready: Failed to register ACME account: connection refused"
    )
    (row,) = status.statuses(FakeCustomObjects(certificates=[PENDING_CERT]))
    assert row.reason == "issuer letsencrypt-staging: no such ClusterIssuer"


@pytest.mark.parametrize(
    ("addresses", "shown", "healthy"),
    [
        (("34.1.2.3",), "-> 34.1.2.3", True),
        (("34.9.9.9",), "NOT 34.1.2.3: 34.9.9.9", False),
        ((), "no A record", False),
    ],
)
def test_dns_column_says_whether_the_name_points_at_the_stack(
    addresses: tuple[str, ...], shown: str, healthy: bool
) -> None:
    one_name = {
        **READY_CERT,
        "spec": {"dnsNames": ["www.example.com"], "issuerRef": {"name": "letsencrypt-prod"}},
    }
    (row,) = status.statuses(FakeCustomObjects(certificates=[one_name]))
    row = dataclasses.replace(row, addresses=addresses)
    assert row.points_at("34.1.2.3") is healthy
    assert shown in status.render([row], "34.1.2.3").splitlines()[1]


def test_request_columns_appear_only_when_asked_and_a_failed_answer_is_not_serving() -> None:
    (row,) = status.statuses(FakeCustomObjects(certificates=[READY_CERT], clusterissuers=ISSUERS))[:1]
    assert "HTTPS" not in status.render([row], None)
    asked = dataclasses.replace(
        row, http="308 -> https://www.example.com/", https="200, R11, until Feb 25 2027", serving=True
    )
    broken = dataclasses.replace(
        row, http="200 (no redirect)", https="failed: certificate verify failed", serving=False
    )
    header, first, second = status.render([asked, broken], None).splitlines()
    assert header.split()[5:7] == ["HTTP", "HTTPS"]
    assert "308 -> https://www.example.com/" in first and "200, R11, until Feb 25 2027" in first
    assert "200 (no redirect)" in second and "failed: certificate verify failed" in second


def test_each_name_knows_its_sites_host_where_a_redirect_name_may_send_http() -> None:
    rows = status.statuses(FakeCustomObjects(certificates=[READY_CERT, PENDING_CERT], clusterissuers=ISSUERS))
    assert [(r.host, r.site) for r in rows] == [
        ("blog.example.org", "blog.example.org"),
        ("www.example.com", "www.example.com"),
        ("example.com", "www.example.com"),
    ]


@pytest.mark.parametrize(
    ("location", "serving"),
    [
        ("https://old.example.com/", True),  # its own HTTPS
        ("https://www.example.com/", True),  # its site's host: a redirect name
        ("https://elsewhere.example.com/", False),
    ],
)
def test_http_may_redirect_to_the_name_itself_or_to_its_sites_host(
    location: str, serving: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    def request(url: str, address: str, cafile: str | None = None) -> dict[str, Any]:
        if url.startswith("http://"):
            return {"status": 308, "location": location}
        return {"status": 308, "certificate": {"issuer": "commonName=R1", "not_after": "Feb 25 2027"}}

    monkeypatch.setattr("tools.probe.request", request)
    http, https, ok = status.answered("old.example.com", "34.1.2.3", None, "www.example.com")
    assert (http, https, ok) == (f"308 -> {location}", "308, R1, until Feb 25 2027", serving)
