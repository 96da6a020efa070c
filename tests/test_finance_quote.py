"""quote(): composition, JSON shape and validation."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from seedc.errors import ExitCode, InvalidInput
from seedc.finance import (
    quote,
    quote_to_json,
)

D = Decimal


def test_quote_matches_the_bcb_faq_when_iof_and_fee_are_given() -> None:
    """BCB FAQ CET example (see test_finance_cet): R$ 1.000 at 12 % a.a., 5 months, R$ 50 fee
    and R$ 10 IOF paid up front. Passing the IOF as a fee (iof="none") gives the FAQ's
    FC0 = 940 and five installments of 205.73 (no rounding residual is left here)."""
    q = quote(
        "1000.00",
        term=5,
        contract_date="2024-01-15",
        rate_annual="12",
        iof="none",
        fees=["50.00", "10.00"],
    )
    assert q.released_amount == D("940.00")
    assert [r.payment for r in q.installments] == [D("205.73")] * 5
    assert q.iof_total == 0
    assert q.iof_citation == ""


def test_iof_modes_and_released_amount() -> None:
    common = {"term": 12, "contract_date": "2025-08-01", "rate_monthly": "1.99"}
    none = quote("10000.00", iof="none", **common)  # type: ignore[arg-type]
    upfront = quote("10000.00", iof="upfront", **common)  # type: ignore[arg-type]
    financed = quote("10000.00", iof="financed", **common)  # type: ignore[arg-type]
    assert none.financed_principal == upfront.financed_principal == D("10000.00")
    assert upfront.released_amount == D("10000.00") - upfront.iof_total
    assert financed.released_amount == D("10000.00")
    assert financed.financed_principal - financed.iof_total == D("10000.00")
    assert financed.payment > upfront.payment == none.payment
    assert none.cet_annual_percent < upfront.cet_annual_percent


def test_pj_2025_decrees_change_the_quote() -> None:
    """Same PJ loan before Decreto 12.466/2025 and after the STF restored Decreto 12.499."""
    before = quote(
        "50000.00",
        term=12,
        contract_date="2025-05-20",
        rate_monthly="2",
        borrower="pj",
        iof="upfront",
    )
    after = quote(
        "50000.00",
        term=12,
        contract_date="2025-08-20",
        rate_monthly="2",
        borrower="pj",
        iof="upfront",
    )
    assert before.iof_additional == after.iof_additional == D("190.00")
    assert after.iof_daily > before.iof_daily * D("1.99")
    assert "12.499/2025" in after.iof_citation


def test_annual_rate_is_converted_to_its_monthly_equivalent() -> None:
    a = quote("1000.00", term=12, contract_date="2025-01-10", rate_annual="26.824179456")
    m = quote("1000.00", term=12, contract_date="2025-01-10", rate_monthly="2")
    assert a.payment == m.payment  # (1.02)^12 - 1 = 26.824179456 %
    plain = quote("1000.00", term=12, contract_date="2025-01-10", rate_monthly="2", iof="none")
    assert plain.payment == D("94.56")  # Price: 1000 x 0.02 / (1 - 1.02^-12) = 94.5596


def test_quote_to_json_shape() -> None:
    q = quote("3000.00", term=3, contract_date="2025-01-31", rate_monthly="2", system="sac")
    data = quote_to_json(q)
    json.dumps(data)  # serialisable as is
    for key in ("released_amount", "iof_total", "cet_annual_percent", "cet_monthly_percent"):
        assert isinstance(data[key], str)
    installments = data["installments"]
    assert isinstance(installments, list)
    assert installments[0] == {
        "number": 1,
        "due_date": "2025-02-28",
        "opening_balance": str(q.installments[0].opening_balance),
        "payment": str(q.installments[0].payment),
        "interest": str(q.installments[0].interest),
        "amortization": str(q.installments[0].amortization),
        "balance": str(q.installments[0].balance),
    }
    assert [i["due_date"] for i in installments] == ["2025-02-28", "2025-03-31", "2025-04-30"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_monthly": "1", "rate_annual": "12"},
        {},
        {"rate_monthly": "-1"},
        {"rate_monthly": 1.5},
        {"rate_monthly": "1", "system": "german"},
        {"rate_monthly": "1", "borrower": "mei"},
        {"rate_monthly": "1", "iof": "later"},
        {"rate_monthly": "1", "day_count": "actual/360"},
        {"rate_monthly": "1", "fees": ["-1"]},
        {"rate_monthly": "1", "term": 0},
        {"rate_monthly": "1", "contract_date": "31/01/2025"},
        {"rate_monthly": "1", "first_due": "2024-12-01"},
        {"rate_monthly": "1", "grace_months": 1, "first_due": "2025-03-01"},
        {"rate_monthly": "abc"},
    ],
)
def test_invalid_input_is_refused_with_exit_code_2(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"term": 12, "contract_date": "2025-01-31"}
    args.update(kwargs)
    with pytest.raises(InvalidInput) as err:
        quote("1000.00", **args)  # type: ignore[arg-type]
    assert err.value.exit_code == ExitCode.INVALID_INPUT == 2


def test_principal_must_be_in_cents_and_positive() -> None:
    with pytest.raises(InvalidInput):
        quote("1000.001", term=3, contract_date="2025-01-01", rate_monthly="1")
    with pytest.raises(InvalidInput):
        quote("0", term=3, contract_date="2025-01-01", rate_monthly="1")


def test_contracts_before_the_iof_table_are_refused_unless_iof_none() -> None:
    with pytest.raises(InvalidInput):
        quote("1000.00", term=3, contract_date="2010-01-01", rate_monthly="1")
    q = quote("1000.00", term=3, contract_date="2010-01-01", rate_monthly="1", iof="none")
    assert q.iof_total == 0
