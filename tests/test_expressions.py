"""The expression grammar: a table of bad inputs and their messages, tested entry by entry."""

from __future__ import annotations

import pytest

from seedc.compiler.expressions import ExpressionError, parse_expression

BAD = [
    # (expression, message fragment, line, column)
    ("money(1,", "ends too early", 1, 9),
    ("1 +* 2", "unexpected '*'", 1, 4),
    ("x $ 2", "unexpected character '$'", 1, 3),
    ("fake()", "unknown generator 'fake'", 1, 1),
    ("money(1)", "money() takes 2 arguments, got 1", 1, 1),
    ("int_range(1, 2, 3)", "int_range() takes 2 arguments, got 3", 1, 1),
    ("row", "`row` needs a field", 1, 1),
    ("tenant.secret", "tenant has no field 'secret'", 1, 8),
    ("amount * 2", "unknown name 'amount'", 1, 1),
    ('d"2025-02-30"', "not a valid date", 1, 1),
    ("if(true, 1)", "if(condition, then, else) takes 3 arguments", 1, 1),
    ("pick_row(x)", "unknown name 'x'", 1, 10),
    ('"unterminated', "unexpected character", 1, 1),
    ("money(1, 2) money(3, 4)", "unexpected 'money'", 1, 13),
    ("seq(start=1, start=2)", "given twice", 1, 14),
    ("", "empty expression", 1, 1),
    ("1 +\n  * 2", "unexpected '*'", 2, 3),
    # hostile inputs are bounded with a message, never a RecursionError (issue 9)
    ("-" * 1000 + "1", "nests deeper than 40 levels", 1, 41),
    ("not " * 400 + "true", "nests deeper than 40 levels", 1, 161),
    ("[" * 100 + "]" * 100, "nests deeper than 40 levels", 1, 41),
    ("+".join(["1"] * 10_000), "19,999 characters, above the limit of 2000", 1, 1),
    ("full_name()\t", "a tab (U+0009)", 1, 12),
    ("1 +\n\r 2", "a carriage return (U+000D)", 2, 1),
    ("upper(\x00)", "a control character (U+0000)", 1, 7),
    ("text(\u2028)", "unexpected character", 1, 6),
    ("9223372036854775808", "integer literal: 9223372036854775808 is outside the 64-bit", 1, 1),
    ("99999999999999999999", "is outside the 64-bit integer range", 1, 1),
    ("0.0000000000000000001", "has more than 18 digits", 1, 1),
]


@pytest.mark.parametrize(("text", "message", "line", "column"), BAD,
                         ids=[b[0][:40] for b in BAD])
def test_bad_expression_message_and_position(text: str, message: str, line: int,
                                             column: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_expression(text)
    assert message in caught.value.message
    assert (caught.value.line, caught.value.column) == (line, column)


GOOD = [
    ("money(10.00, 500)", ["call", "money", [["lit", "dec", "10.00"], ["lit", "int", 500]], {}, 1]),
    ("row.a + 2 * 3", ["bin", "+", ["col", "a"],
                       ["bin", "*", ["lit", "int", 2], ["lit", "int", 3]]]),
    ("parent.parent.id", ["get", ["parent_of", ["parent"]], "id"]),
    ('pick_row("categories").id',
     ["get", ["call", "pick_row", [["lit", "str", "categories"]], {}, 1], "id"]),
    ("not (1 < 2) or false", ["bin", "or", ["unary", "not", ["bin", "<", ["lit", "int", 1],
                                                               ["lit", "int", 2]]],
                              ["lit", "bool", False]]),
    ('d"2025-01-31" + months(1)', ["bin", "+", ["lit", "date", "2025-01-31"],
                                   ["call", "months", [["lit", "int", 1]], {}, 1]]),
]


@pytest.mark.parametrize(("text", "program"), GOOD, ids=[g[0] for g in GOOD])
def test_expressions_lower_to_program(text: str, program: object) -> None:
    assert parse_expression(text).program == program


def test_call_sites_are_numbered_so_two_calls_draw_independently() -> None:
    lowered = parse_expression("int_range(1, 6) + int_range(1, 6)").program
    assert lowered[2][4] != lowered[3][4]


def test_no_python_eval_reachable() -> None:
    with pytest.raises(ExpressionError):
        parse_expression("__import__('os').system('true')")


def test_the_deepest_allowed_expression_still_lowers() -> None:
    """The bound is not off by a lot: 38 nested negations (40 levels with the literal) pass."""
    assert parse_expression("-" * 38 + "1").program[0] == "unary"
    with pytest.raises(ExpressionError, match="nests deeper"):
        parse_expression("-" * 40 + "1")
