"""Dependency floors match the fixed versions of known advisories for the parsers and the server."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.conftest import ROOT

#: package -> (first fixed version, the advisories it fixes). Parsers of untrusted
#: files and the web server: the code that strangers' input reaches.
ADVISORIES = {
    "gradio": ("6.16.0", "GHSA-j36p-7w88-g82j (FileExplorer path traversal); CVE-2026-28414 (fixed 6.7.0)"),
    "pypdf": (
        "6.16.1",
        "CVE-2026-84310/84311 (6.16.1); CVE-2026-71852/71870 (6.15.0); CVE-2026-59935..59938 (6.14.2); "
        "CVE-2026-31826 (6.8.0); CVE-2025-55197 (6.0.0) - crafted PDFs exhausting RAM or CPU",
    ),
    "lxml": ("6.1.0", "CVE-2026-41066 / GHSA-vfmq-68hx-4jfw (XXE through default parser settings)"),
}


def _floors() -> dict[str, SpecifierSet]:
    floors = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", line)
        if match:
            floors[match.group(1).lower()] = SpecifierSet(match.group(2))
    return floors


@pytest.mark.parametrize("package", sorted(ADVISORIES))
def test_requirement_floor_excludes_every_vulnerable_release(package: str):
    fixed, advisories = ADVISORIES[package]
    spec = _floors().get(package)
    assert spec is not None, f"{package} must be pinned in requirements.txt ({advisories})"
    lowest = min((Version(s.version) for s in spec if s.operator in (">=", "==", "~=")), default=None)
    assert lowest is not None and lowest >= Version(fixed), (
        f"{package}{spec} admits releases before {fixed}: {advisories}"
    )


@pytest.mark.parametrize("package", sorted(ADVISORIES))
def test_installed_version_is_a_fixed_one(package: str):
    assert Version(version(package)) >= Version(ADVISORIES[package][0])
