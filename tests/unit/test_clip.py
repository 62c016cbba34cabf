"""clip and cut: what a message may quote of a client's value."""

import pytest

from service.errors import CLIP_CHARS, MAX_MESSAGE_CHARS, BadRequest, clip, cut, join_clipped


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("FP32", "'FP32'"),
        ([1, 2, 3], "[1, 2, 3]"),
        ([[1, 2], "x"], "[[1, 2], 'x']"),
        (None, "None"),
        (12, "12"),
    ],
)
def test_short_values_are_quoted_as_repr_would(value, quoted):
    assert clip(value) == quoted


def test_a_long_string_keeps_its_start_and_says_its_size_in_bytes():
    quoted = clip("é" * 1_000_000)
    assert quoted.startswith("'" + "é" * CLIP_CHARS + "'…")
    assert quoted.endswith("(2,000,000 bytes)")
    assert len(quoted) < 2 * CLIP_CHARS


def test_a_long_list_keeps_its_first_items_and_says_how_many():
    quoted = clip([7] * 100_000)
    assert quoted == "[7, 7, 7, 7, 7, 7, 7, 7, …] (100,000 items)"


def test_a_list_of_long_strings_is_cut_item_by_item():
    assert len(clip(["x" * 10_000] * 3)) < 4 * CLIP_CHARS


def test_cut_leaves_short_text_alone_and_cuts_long_text():
    assert cut("abc") == "abc"
    assert cut("a" * 500, 10) == "aaaaaaaaaa… (500 bytes)"


def test_join_clipped_shows_the_first_problems_and_counts_them_all():
    joined = join_clipped([f"field{i}: Unknown field." for i in range(1000)])
    assert joined.count("Unknown field.") == 8
    assert joined.endswith("(1,000 problems in all)")


def test_every_service_error_message_is_bounded():
    assert len(BadRequest("x" * 10_000_000).message) < MAX_MESSAGE_CHARS + 50
