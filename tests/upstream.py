"""The upstream documents tests check against, read from the repository's copies in docs/upstream/ (each
names its source in a header). Tests never read a file outside the repository: on a clean checkout they
must judge the same text."""

from __future__ import annotations

import re

from tests.helpers import REPO

DOCS = REPO / "docs" / "upstream"
GUIDE = DOCS / "pd-disagg-readme.md"          # vLLM's PD guide (the docs rendering: headings end in "¶")
PROTOCOL = DOCS / "vllm-router-protocol.md"   # vllm-router 0.1.17 <-> vLLM workers, with captures


def guide_section(heading: str) -> str:
    """The guide's text under `heading`, up to the next heading."""
    text = GUIDE.read_text()
    start = text.index(f"\n{heading}¶\n") + len(heading) + 3
    following = re.search(r"^.*¶$", text[start:], re.MULTILINE)
    return text[start:start + following.start()] if following else text[start:]


def guide_variable(name: str) -> list[str]:
    """The lines of the guide's shell variable `NAME="..."` (one argument per line, as the guide types them)."""
    match = re.search(rf'^{name}="\n(.*?)\n"$', GUIDE.read_text(), re.MULTILINE | re.DOTALL)
    assert match, f"{name} is not in {GUIDE}"
    return match.group(1).splitlines()


def protocol_blocks(appendix: str) -> list[str]:
    """The fenced code blocks of the protocol notes' `## Appendix <appendix>.`, in order, byte for byte."""
    text = PROTOCOL.read_text()
    start = text.index(f"\n## Appendix {appendix}.")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end != -1 else len(text)]
    return re.findall(r"^```[a-z]*\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
