"""The design document stays the reference: every section the code cites exists."""

from __future__ import annotations

import re

from tests.conftest import ROOT

CITATION = re.compile(r'docs/design\.md, "([^"]+)"')


def test_every_cited_section_of_the_design_exists() -> None:
    headings = {
        line[3:].strip() for line in (ROOT / "docs/design.md").read_text().splitlines() if line.startswith("## ")
    }
    cited = {
        (path.relative_to(ROOT).as_posix(), name)
        for path in [*ROOT.glob("reconciler/**/*.py"), *ROOT.glob("cli/*.py"), *ROOT.glob("tests/**/*.py")]
        for name in CITATION.findall(path.read_text(encoding="utf-8"))
    }
    assert cited, "no module cites the design"
    assert sorted((path, name) for path, name in cited if name not in headings) == []
