"""The ```console blocks of the documentation: commands after `$ `, the output they print below.

A command continues on the next line after a trailing backslash, and a here-document
(`<<'EOF'`) takes the lines up to its terminator. In the expected output, `...` stands for any
text, and request ids, dates, times and pids are normalised on both sides before comparing.
"""

import re
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)
# A page asks for the server its examples talk to: <!-- console-server: LAYERSERVE_X=y ... -->
SERVER_DIRECTIVE = re.compile(r"<!-- console-server:(.*?)-->")
HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?")


@dataclass
class Command:
    line: int  # in the page, for the failure message
    text: str
    expected: str


def read_blocks(page: Path) -> list[list[Command]]:
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        first_line = text.count("\n", 0, match.start(1)) + 1
        blocks.append(parse_block(match.group(1), first_line))
    return blocks


def parse_block(block: str, first_line: int) -> list[Command]:
    commands: list[Command] = []
    lines = block.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.startswith("$ "):
            if not commands:
                raise ValueError(f"line {first_line + index}: output before any command: {line!r}")
            commands[-1].expected += line + "\n"
            index += 1
            continue
        start = index
        text = line[2:]
        while text.endswith("\\") and index + 1 < len(lines):
            index += 1
            text += "\n" + lines[index]
        heredoc = HEREDOC.search(text)
        if heredoc:
            while index + 1 < len(lines):
                index += 1
                text += "\n" + lines[index]
                if lines[index] == heredoc.group(1):
                    break
        commands.append(Command(first_line + start, text, ""))
        index += 1
    return commands


def server_environment(page: Path) -> dict[str, str] | None:
    """The page's server settings, or None when its examples need no server."""
    text = page.read_text(encoding="utf-8")
    if "localhost:8000" not in text and "layerserve predict" not in text:
        return None
    directive = SERVER_DIRECTIVE.search(text)
    pairs = directive.group(1).split() if directive else []
    return dict(pair.split("=", 1) for pair in pairs)


_NORMALISE = [
    (re.compile(r"\b[0-9a-f]{16}-[0-9a-f]+\b"), "<request-id>"),  # prefix, then a hex counter
    (re.compile(r"^Date: .*$", re.MULTILINE), "Date: <date>"),
    (re.compile(r'"ts":[0-9.]+'), '"ts":<time>'),
    (re.compile(r'"pid":\d+'), '"pid":<pid>'),
    (re.compile(r'"latency_ms":[0-9.]+'), '"latency_ms":<ms>'),
    (re.compile(r"worker \d+"), "worker <pid>"),
]


def normalise(text: str) -> str:
    for pattern, replacement in _NORMALISE:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def matches(expected: str, actual: str) -> bool:
    """Equal after normalising, where `...` in the expected text stands for any text."""
    parts = [re.escape(part) for part in normalise(expected).split("...")]
    return re.fullmatch(".*?".join(parts), normalise(actual), re.DOTALL) is not None
