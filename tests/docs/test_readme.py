"""The README fits on a screen, and its links into the documentation reach a page and a heading."""

import re

from tests.docs.console import read_blocks
from tests.integration.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def slug(heading: str) -> str:
    """The anchor MkDocs gives a heading (toc's default slugify)."""
    text = re.sub(r"[`*]", "", heading).strip().lower()
    return re.sub(r"\s+", "-", re.sub(r"[^\w\- ]", "", text))


def test_the_readme_fits_on_a_screen():
    assert README.count("\n") <= 200


def test_write_your_own_model_is_linked_from_the_top():
    top = README[: README.index("## Quick start")]
    assert "(#write-your-own-model)" in top and "## Write your own model" in README


def test_every_link_into_the_docs_reaches_a_file_and_a_heading():
    links = re.findall(r"\]\(((?:docs|client)/[^)#]+)(?:#([\w-]+))?\)", README)
    assert len(links) >= 10
    for path, anchor in links:
        target = ROOT / path
        assert target.is_file(), path
        if anchor:
            headings = re.findall(r"^#+ (.*)$", target.read_text(encoding="utf-8"), re.MULTILINE)
            assert anchor in {slug(heading) for heading in headings}, f"{path}#{anchor}"


def test_the_readme_call_and_answer_are_a_tested_docs_example():
    """The README's curl call is run, with the answer it shows, by a console example of the docs."""
    command, answer = re.search(r"```sh\n(curl .*?)```\n\s*```text\n(.*?)```", README, re.DOTALL).groups()
    examples = [
        (" ".join(example.text.replace("\\\n", " ").split()), example.expected.strip())
        for page in (ROOT / "docs").glob("*.md")
        for block in read_blocks(page)
        for example in block
    ]
    assert (" ".join(command.replace("\\\n", " ").split()), answer.strip()) in examples
