"""What the doors take: JSON, less what Lineup cannot carry."""

import pytest

from queueapp import strict_json


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        '{"data": [1, Infinity]}',
        '{"data": [-Infinity]}',
        '["\\ud800"]',
        '{"\\udfff": 1}',
        '{"data": [[[{"deep": "x\\udc00y"}]]]}',
        b'["\\ud83d"]',
    ],
)
def test_what_no_part_of_lineup_can_carry_is_refused(text):
    with pytest.raises(strict_json.UnsafeJSON):
        strict_json.loads(text)


def test_json_itself_is_read_as_ever():
    text = '{"data": ["caf\\u00e9 \\ud83d\\ude00", 1.5, -2, null, true, {"k": []}]}'
    assert strict_json.loads(text) == {"data": ["café 😀", 1.5, -2, None, True, {"k": []}]}
    assert strict_json.loads(b'{"a": "\xc3\xa9"}') == {"a": "é"}
    with pytest.raises(ValueError):
        strict_json.loads("{not json")


def test_deep_values_are_walked_without_recursion():
    depth = 900  # as deep as the parser itself goes
    value = strict_json.loads("[" * depth + '"x"' + "]" * depth)
    for _ in range(depth):
        value = value[0]
    assert value == "x"
