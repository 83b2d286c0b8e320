"""docs/configuration.md's key reference is what the config models say: generated from their
field docstrings (scripts/config_reference.py, `make docs`), never edited by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from components.cert_manager import CHART_VERSION as CERT_MANAGER_VERSION
from components.edge import CONTROLLERS
from components.fields import Model
from components.settings import KNOWN_KEYS, SECTIONS
from scripts import config_reference
from tests.support import ROOT

REFERENCE = ROOT / "docs" / "configuration.md"


def test_the_committed_reference_is_what_the_models_generate() -> None:
    text = REFERENCE.read_text()
    assert config_reference.rendered(text) == text, "docs/configuration.md is stale: run `make docs`"


def test_check_fails_on_a_stale_reference_and_passes_on_a_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "configuration.md"
    monkeypatch.setattr(config_reference, "REFERENCE", copy)
    copy.write_text(REFERENCE.read_text().replace("| `ttl` |", "| `timeToLive` |"))
    assert config_reference.main(["--check"]) == 1
    assert config_reference.main([]) == 0  # writes it anew
    assert copy.read_text() == REFERENCE.read_text()
    assert config_reference.main(["--check"]) == 0


def test_a_field_without_a_docstring_cannot_be_documented() -> None:
    class Undocumented(Model):
        """A section."""

        documented: int = 1
        """Has one."""
        bare: int = 2

    with pytest.raises(ValueError, match=r"Undocumented\.bare has no docstring"):
        config_reference.field_table(Undocumented)


def key_table() -> dict[str, str]:
    """`multisite:<key>` -> the rest of its row, from the "## Keys" table."""
    section = REFERENCE.read_text().split("\n## Keys\n", 1)[1].split("\n### ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = line.split(" | ")
        for key in re.findall(r"`multisite:(\w+)`", cells[0]) if line.startswith("| `") else []:
            rows[key] = " | ".join(cells[1:])
    return rows


def field_rows(key: str) -> dict[str, list[str]]:
    """The field table under `### multisite:<key>`: field -> [type, default, meaning]."""
    text = REFERENCE.read_text()
    section = text.split(f"\n### `multisite:{key}`\n", 1)[1].split("\n### ", 1)[0].split("\n<!--", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if line.startswith("| `"):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_every_key_is_documented_and_every_documented_key_exists() -> None:
    assert set(key_table()) == set(KNOWN_KEYS)


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_field_of_a_section_has_a_row(section: str) -> None:
    assert sorted(field_rows(section)) == SECTIONS[section][0].keys()


def test_the_documented_chart_pins_are_the_pins() -> None:
    assert field_rows("traefik")["version"][1] == f"`{CONTROLLERS['traefik'].version}`"
    assert field_rows("ingressNginx")["version"][1] == f"`{CONTROLLERS['ingress-nginx'].version}`"
    assert field_rows("certManager")["version"][1] == f"`{CERT_MANAGER_VERSION}`"


def test_required_keys_and_defaults_are_shown_as_a_user_writes_them() -> None:
    # acme.issuer must be set; sites default to port 80 and namespace default; a boolean
    # default is YAML's `false`, not Python's.
    assert key_table()["acme"].startswith("required |")
    assert field_rows("acme")["issuer"][:2] == ["`staging` or `prod`", "required"]
    assert field_rows("sites")["port"][:2] == ["integer 1-65535", "`80`"]
    assert field_rows("sites")["namespace"][1] == "`default`"
    assert field_rows("acme")["waitForCertificates"][:2] == ["boolean", "`false`"]
    assert field_rows("staticIp")["region"][0] == "GCP region"


def test_the_table_reader_sees_a_missing_row() -> None:
    # The checks above are only as good as these parsers.
    rows = key_table()
    assert "edge" in rows and "sites" in rows and "project" not in rows
    assert "ttl" in field_rows("dns") and "ttl" not in field_rows("sites")
