"""The runner's reading of console blocks and its comparison: what it forgives and what it does not."""

from tests.docs.console import matches, parse_block


def test_commands_continuations_heredocs_and_output_are_told_apart():
    block = "$ curl -s x \\\n    -d '{}'\n{\"a\":1}\n$ cat > f <<'EOF'\n$ not a command\nEOF\n$ echo done\ndone\n"
    commands = parse_block(block, first_line=10)
    assert [c.text for c in commands] == [
        "curl -s x \\\n    -d '{}'",
        "cat > f <<'EOF'\n$ not a command\nEOF",
        "echo done",
    ]
    assert [c.expected for c in commands] == ['{"a":1}\n', "", "done\n"]
    assert [c.line for c in commands] == [10, 13, 16]


def test_request_ids_dates_and_ellipses_are_forgiven():
    shown = 'Date: Mon, 23 Nov 2026 19:47:52 GMT\n{"error":"bad","request_id":"40f905a3dadb611a-9"} ...'
    printed = 'Date: Wed, 02 Dec 2026 06:00:00 GMT\n{"error":"bad","request_id":"0123456789abcdef-1"} and more'
    assert matches(shown, printed)


def test_a_changed_value_is_not_forgiven():
    assert not matches('{"data":[1.2,3.6,0.65]}', '{"data":[1.2,3.6,0.66]}')
    assert not matches("ok   fold v1: 2 layers", "ok   fold v1: 2 layers\nok   extra v1: 1 layer")
