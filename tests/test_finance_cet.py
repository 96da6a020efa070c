"""CET (Resolução CMN 4.881/2020, formula of 3.517/2007) against published examples.

The CET equation is sum FC_j / (1 + CET)^t_j = FC_0. Banks use t_j = calendar days / 365;
the BCB FAQ and spreadsheet examples that assume whole months use t_j = j / 12, which
``irr_annual`` accepts directly. Results are compared to 0.01 percentage point, as disclosed.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from seedc.errors import InvalidInput
from seedc.finance import (
    cet_annual,
    cet_percent,
    due_dates,
    irr_annual,
    quote,
    sac_schedule,
)

D = Decimal


def periodic(n: int) -> list[Decimal]:
    return [D(j) / 12 for j in range(1, n + 1)]


def discounted(annual: Decimal, release: date, flows: list[tuple[date, Decimal]]) -> float:
    """Independent of seedc: sum FC_j / (1 + CET)^(days_j / 365), in binary floating point
    (Resolução CMN 4.881/2020: t_j in calendar days / 365)."""
    return sum(float(amount) / (1 + float(annual)) ** ((due - release).days / 365)
               for due, amount in flows)


def test_bcb_faq_cet_example() -> None:
    """Banco Central do Brasil, "FAQ - Custo Efetivo Total (CET)" (última atualização abril
    2014, item 3; also reproduced at bomlero.blogspot.com/2013/02): R$ 1.000,00 at 12 % a.a.
    in 5 monthly payments of R$ 205,73, with a R$ 50,00 cadastro fee and R$ 10,00 IOF paid
    up front, so FC0 = R$ 940,00 and FCj = R$ 205,73: "CET = 43,93 % ao ano ou 3,08 % ao mês".

    The FAQ says the payments are "pagas a períodos fixos", so t_j = j/12. With real calendar
    days the same flows give 43.62-44.08 % depending on the month the loan starts.
    """
    annual = irr_annual(D("940.00"), periodic(5), [D("205.73")] * 5)
    assert cet_percent(annual) == (D("43.93"), D("3.08"))


def test_bank_cet_worksheet_2013() -> None:
    """A bank's "Planilha Utilizada para Cálculo de Custo Efetivo Total (CET)" reproduced in
    "Empréstimo bancário para financiamento de veículo" (trabalhosfeitos.com/ensaios/
    Empréstimo-Bancário-Para-Financiamento-De-Veículo/53245169.html): credit released
    22/04/2013, valor entregue R$ 10.000,00 (IOF of R$ 123,07 financed, no fees), 12 parcelas
    of R$ 932,45, first due 22/05/2013, then every 22nd: "CET 23,41 % ao ano".

    Exact days / 365 gives 23.41 %. The sheet's "1,44 % ao mês" is not the monthly
    equivalent of its own annual figure ((1.2341)^(1/12) - 1 = 1.77 %), so we do not
    reproduce that number; we report 1.77.
    """
    released_on = date(2013, 4, 22)
    flows = [(date(2013 + (4 + k) // 12, (4 + k) % 12 + 1, 22), D("932.45")) for k in range(12)]
    assert (flows[0][0], flows[-1][0]) == (date(2013, 5, 22), date(2014, 4, 22))
    annual = cet_annual(D("10000.00"), released_on, flows)
    assert cet_percent(annual) == (D("23.41"), D("1.77"))


def test_clube_dos_poupadores_sac_cet() -> None:
    """ "Tabela SAC - Clube dos Poupadores" (pt.scribd.com/document/358662857): R$ 300.000,00,
    360 meses, 1,000 % a.m., "Taxa Anual (C.E.T.) 12,68 %". No fees or IOF in the sheet, so
    the CET of its (exact-carry) payments over whole months is (1.01)^12 - 1 = 12.68 %.
    """
    contract = date(2024, 1, 15)
    schedule = sac_schedule(D(300000), D("0.01"), contract, due_dates(contract, 360), carry="exact")
    annual = irr_annual(D(300000), periodic(360), [r.payment for r in schedule])
    assert cet_percent(annual) == (D("12.68"), D("1.00"))


def test_quote_cet_counts_upfront_iof_and_fees() -> None:
    """Released amount = principal - upfront IOF - fees; the CET discounts to that amount."""
    q = quote(
        "5000.00",
        term=10,
        contract_date="2025-03-10",
        rate_monthly="3",
        iof="upfront",
        fees=["150.00", "50.00"],
    )
    assert q.released_amount == D("5000.00") - q.iof_total - D("200.00")
    flows = [(r.due_date, r.payment) for r in q.installments]
    assert abs(discounted(q.cet_annual, date(2025, 3, 10), flows) - float(q.released_amount)) \
        < 1e-8
    plain = quote("5000.00", term=10, contract_date="2025-03-10", rate_monthly="3", iof="none")
    assert q.cet_annual > plain.cet_annual


def test_cet_refuses_impossible_flows() -> None:
    with pytest.raises(InvalidInput):
        cet_annual(D(0), date(2025, 1, 1), [(date(2025, 2, 1), D(10))])
    with pytest.raises(InvalidInput):
        cet_annual(D(100), date(2025, 1, 1), [(date(2024, 12, 1), D(110))])
    with pytest.raises(InvalidInput):
        quote("1000.00", term=3, contract_date="2025-01-01", rate_monthly="1", fees=["1000.00"])


def test_zero_rate_without_costs_has_zero_cet() -> None:
    q = quote("1200.00", term=12, contract_date="2025-01-10", rate_monthly="0", iof="none")
    assert (q.cet_annual_percent, q.cet_monthly_percent) == (D("0.00"), D("0.00"))
    assert str(q.cet_annual_percent) == "0.00"
