"""Decimal helpers: one precision, one rounding rule, no floats anywhere.

Why a module of its own: every other finance module must round money the same way, and the
way must be stated once. Money is rounded to the cent with ``ROUND_HALF_UP`` (half away from
zero for the positive amounts we handle), which is what Excel's ``ROUND`` and the published
Brazilian tables we test against use. Intermediate values keep 40 significant digits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext

from seedc.errors import InvalidInput

__all__ = [
    "CENT",
    "MONEY_ROUNDING",
    "PRECISION",
    "ZERO",
    "exact",
    "growth",
    "parse_decimal",
    "round_money",
    "round_percent",
]

PRECISION = 40
MONEY_ROUNDING = ROUND_HALF_UP
CENT = Decimal("0.01")
ZERO = Decimal(0)
ONE = Decimal(1)

_CONTEXT = Context(prec=PRECISION, rounding=ROUND_HALF_EVEN)


@contextmanager
def exact() -> Iterator[Context]:
    """A 40-digit context for intermediate values, so results never depend on the caller's."""
    with localcontext(_CONTEXT) as ctx:
        yield ctx


def round_money(value: Decimal) -> Decimal:
    """Round to the cent with the one rounding rule of the package (ROUND_HALF_UP)."""
    return value.quantize(CENT, rounding=MONEY_ROUNDING)


def round_percent(fraction: Decimal) -> Decimal:
    """A rate given as a fraction, as a percentage with two decimals (ROUND_HALF_UP, BCB style)."""
    with exact():
        percent = (fraction * 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return percent.copy_abs() if percent == 0 else percent  # never print "-0.00"


def growth(monthly_rate: Decimal, months: Decimal) -> Decimal:
    """(1 + i)^months: integer powers stay exact-as-possible, fractional ones use Decimal pow.

    Decimal's non-integral power is correctly rounded to the context precision, so no float
    ever enters the computation.
    """
    with exact():
        base = ONE + monthly_rate
        if months == months.to_integral_value():
            return base ** int(months)
        return base**months


def parse_decimal(value: object, field: str, *, positive: bool = False) -> Decimal:
    """Turn user input (str, int or Decimal) into a finite Decimal or refuse it.

    Floats are refused on purpose: a binary float cannot carry 0.1 exactly, and the point of the
    package is exactness.
    """
    if isinstance(value, (bool, float)):
        raise InvalidInput(
            f"{field} must be a decimal string, int or Decimal, not {type(value).__name__}",
            rule="finance.exact-input",
            details=["pass e.g. Decimal('1.99') or '1.99'; floats are not exact"],
        )
    try:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, str):
            number = Decimal(value.strip().replace("_", ""))
        else:
            raise InvalidOperation
    except InvalidOperation:
        raise InvalidInput(
            f"{field} is not a number: {value!r}", rule="finance.exact-input"
        ) from None
    if not number.is_finite():
        raise InvalidInput(f"{field} must be finite, got {value!r}", rule="finance.exact-input")
    if positive and number <= 0:
        raise InvalidInput(f"{field} must be > 0, got {value!r}", rule="finance.exact-input")
    return number
