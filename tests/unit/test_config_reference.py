"""The configuration reference's key table (docs/configuration.md) says what the config model
accepts, no more and no less."""

from __future__ import annotations

import re

import pytest

from components.cert_manager import CHART_VERSION as CERT_MANAGER_VERSION
from components.edge import CONTROLLERS
from components.settings import _SECTIONS, KNOWN_KEYS
from tests.support import ROOT

REFERENCE = ROOT / "docs" / "configuration.md"


def config_table() -> dict[str, str]:
    """`multisite:<key>` -> the rest of its row, from docs/configuration.md "## Keys"."""
    text = REFERENCE.read_text()
    section = text.split("\n## Keys\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = line.split(" | ")
        found = re.findall(r"`multisite:(\w+)`", cells[0]) if line.startswith("| `") else []
        for key in found:
            rows[key] = " | ".join(cells[1:])
    return rows


def test_every_key_is_documented_and_every_documented_key_exists() -> None:
    assert set(config_table()) == set(KNOWN_KEYS)


@pytest.mark.parametrize("section", sorted(_SECTIONS))
def test_every_field_of_a_section_is_in_its_row(section: str) -> None:
    row = config_table()[section]
    fields = _SECTIONS[section][0].keys()  # the model's camelCase keys
    missing = [key for key in fields if not re.search(rf"\b{key}\b", row)]
    assert missing == [], f"docs/configuration.md's row for multisite:{section} does not mention {missing}"


def test_the_documented_chart_pins_are_the_pins() -> None:
    rows = config_table()
    assert f'version?: "{CONTROLLERS["traefik"].version}"' in rows["traefik"]
    assert f'version?: "{CONTROLLERS["ingress-nginx"].version}"' in rows["ingressNginx"]
    assert f'version?: "{CERT_MANAGER_VERSION}"' in rows["certManager"]


def test_the_table_reader_sees_a_missing_row() -> None:
    # The check above is only as good as this parser.
    rows = config_table()
    assert "edge" in rows and "sites" in rows and "project" not in rows
