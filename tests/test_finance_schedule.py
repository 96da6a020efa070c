"""Price and SAC schedules against published worked examples, to the cent.

Each test names its source. Where a source was built with the spreadsheet convention (exact
balances, every cell rounded on its own) we reproduce it with ``carry="exact"`` and say so;
where it keeps a ledger in cents we use the default ``carry="rounded"``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from seedc.errors import InvalidInput
from seedc.finance import due_dates, price_schedule, sac_schedule
from seedc.finance.schedule import Installment

D = Decimal
CONTRACT = date(2024, 1, 15)  # the published 30/360 examples do not depend on the date


def rows(schedule: list[Installment]) -> list[tuple[str, str, str, str, str]]:
    """(opening, interest, amortization, payment, balance) as strings, for compact tables."""
    return [
        (
            str(r.opening_balance),
            str(r.interest),
            str(r.amortization),
            str(r.payment),
            str(r.balance),
        )
        for r in schedule
    ]


def monthly(annual_percent: str) -> Decimal:
    return (1 + D(annual_percent) / 100) ** (D(1) / 12) - 1


# --------------------------------------------------------------------------- Price


def test_price_bcb_cet_faq_1000_at_12pct_year_5_months() -> None:
    """Banco Central do Brasil, "FAQ - Custo Efetivo Total (CET)" (abril 2014), item 3.

    "Valor Financiado R$ 1.000,00; Taxa de juros 12% ao ano ou 0,95% ao mês; Prazo 5 meses;
    Prestação mensal R$ 205,73". The payment follows from the annual rate (0.9489 % a.m.);
    the rounded 0.95 % a.m. would give 205.74, so the FAQ used the annual rate.
    """
    schedule = price_schedule(D(1000), monthly("12"), CONTRACT, due_dates(CONTRACT, 5))
    assert {r.payment for r in schedule[:-1]} == {D("205.73")}
    assert price_schedule(D(1000), D("0.0095"), CONTRACT, due_dates(CONTRACT, 5))[0].payment == D(
        "205.74"
    )


@pytest.mark.parametrize(
    ("principal", "rate_percent", "term", "payment", "last"),
    [
        # BCB Calculadora do Cidadão, "Financiamento com prestações fixas", screenshot
        # reproduced at pt.scribd.com/document/654722300 (20/05/2022): 42 meses, 0,629890 %,
        # valor financiado 25.000,00 -> prestação 679,30.
        ("25000.00", "0.629890", 42, "679.30", "679.50"),
        # Same calculator, epage.pub/doc/bcb-calculadora-do-cidadao-35622qnrew (21/07/2019):
        # 12 meses, 25,106880 %, valor financiado 1.320,75 -> prestação 355,80.
        ("1320.75", "25.106880", 12, "355.80", "355.77"),
    ],
)
def test_price_bcb_calculadora_do_cidadao(
    principal: str, rate_percent: str, term: int, payment: str, last: str
) -> None:
    """Banco Central's "Calculadora do Cidadão" payment for a given rate, term and principal.

    The calculator shows only the payment and n x payment (it assumes every installment is
    the rounded payment); our cent ledger makes the last installment absorb the residual of
    rounding the payment (679.3048 -> 679.30 leaves 0.20 after 42 months of interest), so
    rows 1..n-1 match the calculator and the last one is ours.
    """
    schedule = price_schedule(
        D(principal), D(rate_percent) / 100, CONTRACT, due_dates(CONTRACT, term)
    )
    assert {r.payment for r in schedule[:-1]} == {D(payment)}
    assert schedule[-1].payment == D(last)
    assert sum(r.amortization for r in schedule) == D(principal)


def test_price_excel_table_3000_at_2pct_6_months() -> None:
    """ "Sistema Francês de Amortização - Tabela Price" (Excel sheet, pt.scribd.com/document/
    460184374): PV 3.000, 6 períodos, 2 %, PMT 535,58, full table below.

    The sheet carries unrounded balances and rounds each cell (its amortizations add up to
    3,000.01), so it is matched with carry="exact". Our default cent ledger agrees on rows
    1-3 and then drifts by a cent: balance 4 is 1,039.85 instead of 1,039.86 and the last
    installment absorbs the residual (525.07 / 535.57).
    """
    published = [
        ("3000.00", "60.00", "475.58", "535.58", "2524.42"),
        ("2524.42", "50.49", "485.09", "535.58", "2039.33"),
        ("2039.33", "40.79", "494.79", "535.58", "1544.54"),
        ("1544.54", "30.89", "504.69", "535.58", "1039.86"),
        ("1039.86", "20.80", "514.78", "535.58", "525.08"),
        ("525.08", "10.50", "525.08", "535.58", "0.00"),
    ]
    dues = due_dates(CONTRACT, 6)
    assert rows(price_schedule(D(3000), D("0.02"), CONTRACT, dues, carry="exact")) == published
    ledger = price_schedule(D(3000), D("0.02"), CONTRACT, dues)
    assert rows(ledger)[:3] == published[:3]
    assert ledger[3].balance == D("1039.85")
    assert (ledger[-1].amortization, ledger[-1].payment) == (D("525.07"), D("535.57"))
    assert sum(r.amortization for r in ledger) == D("3000.00")


def test_price_excel_table_10000_at_10pct_4_months() -> None:
    """ "Tabelas Simulação Financiamento de Apartamento" (pt.scribd.com/document/622149570),
    "FINANCIAMENTO PRICE, taxa 10,0 % am, 4 meses": 10.000,00 -> 3.154,71 a month.

    Spreadsheet convention again (published amortizations add up to 10,000.01): carry="exact"
    reproduces every cell; the cent ledger differs only in the last row (2,867.91 balance).
    """
    published = [
        ("10000.00", "1000.00", "2154.71", "3154.71", "7845.29"),
        ("7845.29", "784.53", "2370.18", "3154.71", "5475.11"),
        ("5475.11", "547.51", "2607.20", "3154.71", "2867.92"),
        ("2867.92", "286.79", "2867.92", "3154.71", "0.00"),
    ]
    dues = due_dates(CONTRACT, 4)
    assert rows(price_schedule(D(10000), D("0.10"), CONTRACT, dues, carry="exact")) == published
    assert rows(price_schedule(D(10000), D("0.10"), CONTRACT, dues))[:2] == published[:2]


# --------------------------------------------------------------------------- SAC


def test_sac_brasil_escola_70000_at_2pct_120_months() -> None:
    """Brasil Escola, "Um empréstimo para comprar um imóvel de 70.000,00..." (brasilescola.uol.
    com.br/tire-duvidas/.../312005.html): amortização 583,33; juros 1.400,00, 1.388,33,
    1.376,67; saldos 69.416,67, 68.833,34, 68.250,01.

    The source carries the rounded balance (70,000.00 - 2 x 583.33 = 68,833.34): our default
    carry="rounded". The last installment absorbs 120 x 583.33 - 70,000 = -0.40.
    """
    schedule = sac_schedule(D(70000), D("0.02"), CONTRACT, due_dates(CONTRACT, 120))
    assert rows(schedule)[:3] == [
        ("70000.00", "1400.00", "583.33", "1983.33", "69416.67"),
        ("69416.67", "1388.33", "583.33", "1971.66", "68833.34"),
        ("68833.34", "1376.67", "583.33", "1960.00", "68250.01"),
    ]
    assert schedule[-1].amortization == D("583.73")
    assert sum(r.amortization for r in schedule) == D("70000.00")


def test_sac_trabalhosfeitos_120000_at_1_25pct_18_months() -> None:
    """ "Matemática financeira - Passo 1, SAC" (trabalhosfeitos.com/ensaios/Matematica-
    Financeira/682553.html): capital 120.000,00, 18 meses, 1,25 % a.m., full table.

    Rounded-balance ledger like ours for rows 1-16 (balance 99.999,99 after row 3). The
    source then prints 6.666,67 as balance 17 and amortizes 6.666,67 in row 18, so its
    amortizations add up to 120.000,06; we absorb that residual in the last row instead
    (balance 17 = 6,666.61, last amortization 6,666.61). Interest matches in every row.
    """
    published = [
        ("8166.67", "1500.00", "113333.33"),
        ("8083.34", "1416.67", "106666.66"),
        ("8000.00", "1333.33", "99999.99"),
        ("7916.67", "1250.00", "93333.32"),
        ("7833.34", "1166.67", "86666.65"),
        ("7750.00", "1083.33", "79999.98"),
        ("7666.67", "1000.00", "73333.31"),
        ("7583.34", "916.67", "66666.64"),
        ("7500.00", "833.33", "59999.97"),
        ("7416.67", "750.00", "53333.30"),
        ("7333.34", "666.67", "46666.63"),
        ("7250.00", "583.33", "39999.96"),
        ("7166.67", "500.00", "33333.29"),
        ("7083.34", "416.67", "26666.62"),
        ("7000.00", "333.33", "19999.95"),
        ("6916.67", "250.00", "13333.28"),
    ]
    schedule = sac_schedule(D(120000), D("0.0125"), CONTRACT, due_dates(CONTRACT, 18))
    ours = [(str(r.payment), str(r.interest), str(r.balance)) for r in schedule]
    assert ours[:16] == published
    assert {r.amortization for r in schedule[:-1]} == {D("6666.67")}
    assert [r.interest for r in schedule[16:]] == [D("166.67"), D("83.33")]
    assert (schedule[16].balance, schedule[17].amortization) == (D("6666.61"), D("6666.61"))


def test_sac_clube_dos_poupadores_300000_at_1pct_360_months() -> None:
    """ "Tabela SAC - Clube dos Poupadores" (pt.scribd.com/document/358662857): 300.000,00,
    360 meses, 1,000 % a.m.: 3.833,33, 3.825,00, 3.816,67 ... with balances 299.166,67,
    298.333,33, 297.500,00.

    The sheet carries the exact balance (300,000 x (1 - k/360)) and rounds each cell, i.e.
    carry="exact"; the cent ledger would show 298,333.34 as the second balance.
    """
    dues = due_dates(CONTRACT, 360)
    schedule = sac_schedule(D(300000), D("0.01"), CONTRACT, dues, carry="exact")
    assert [(str(r.opening_balance), str(r.interest), str(r.payment)) for r in schedule[:6]] == [
        ("300000.00", "3000.00", "3833.33"),
        ("299166.67", "2991.67", "3825.00"),
        ("298333.33", "2983.33", "3816.67"),
        ("297500.00", "2975.00", "3808.33"),
        ("296666.67", "2966.67", "3800.00"),
        ("295833.33", "2958.33", "3791.67"),
    ]
    assert {r.amortization for r in schedule} == {D("833.33")}
    ledger = sac_schedule(D(300000), D("0.01"), CONTRACT, dues)
    assert ledger[2].opening_balance == D("298333.34")


def test_sac_passei_direto_270000_at_0_8pct_150_months() -> None:
    """ "Tabela Price e SAC" (passeidireto.com/arquivo/92812089): SAC row 150 "R$ 1,800.00 |
    R$ 14.40 | R$ 1,814.40", total interest "R$ 163,080.00" (amortization 1,800 a month
    for 150 months = 270,000 at 0.8 % a.m.). Exact in cents under either carry.
    """
    schedule = sac_schedule(D(270000), D("0.008"), CONTRACT, due_dates(CONTRACT, 150))
    last = schedule[-1]
    assert (last.amortization, last.interest, last.payment, last.balance) == (
        D("1800.00"),
        D("14.40"),
        D("1814.40"),
        D("0.00"),
    )
    assert sum(r.interest for r in schedule) == D("163080.00")


def test_sac_oestudo_10000_at_2pct_5_months() -> None:
    """oestudo.com/p/...-47298841, "empréstimo de $10.000,00 ... SAC ... 5 prestações, 2 %":
    prestações 2.200, 2.160, 2.120, 2.080, 2.040; juros 200, 160, 120, 80, 40."""
    schedule = sac_schedule(D(10000), D("0.02"), CONTRACT, due_dates(CONTRACT, 5))
    assert [r.payment for r in schedule] == [D(x) for x in ("2200", "2160", "2120", "2080", "2040")]
    assert [r.interest for r in schedule] == [D(x) for x in ("200", "160", "120", "80", "40")]


# --------------------------------------------------------------------------- conventions


def test_zero_rate_splits_principal_evenly() -> None:
    for build in (price_schedule, sac_schedule):
        schedule = build(D("100.00"), D(0), CONTRACT, due_dates(CONTRACT, 3))
        assert [r.amortization for r in schedule] == [D("33.33"), D("33.33"), D("33.34")]
        assert all(r.interest == 0 for r in schedule)


def test_grace_capitalises_interest_into_the_first_balance() -> None:
    """Two months of grace at 2 %: the loan opens at 10,000 x 1.02^2 = 10,404.00."""
    dues = due_dates(CONTRACT, 12, grace_months=2)
    assert dues[0] == date(2024, 4, 15)
    for build in (price_schedule, sac_schedule):
        schedule = build(D(10000), D("0.02"), CONTRACT, dues, grace_months=2)
        assert schedule[0].opening_balance == D("10404.00")
        assert schedule[0].interest == D("208.08")
        assert sum(r.amortization for r in schedule) == D("10404.00")


def test_actual_days_compound_the_monthly_rate_per_day() -> None:
    """actual/365: a 31-day period at 3 % a.m. costs (1.03)^(31/30) - 1 = 3.10154 %."""
    schedule = price_schedule(
        D(1000), D("0.03"), date(2024, 1, 1), [date(2024, 2, 1)], day_count="actual/365"
    )
    assert schedule[0].interest == D("31.02")  # 1000 x 0.03101535... = 31.0154
    feb = price_schedule(
        D(1000), D("0.03"), date(2024, 2, 1), [date(2024, 3, 1)], day_count="actual/365"
    )
    assert feb[0].interest == D("28.99")  # 29 days: 1000 x ((1.03)^(29/30) - 1) = 28.9856


def test_bad_inputs_raise_invalid_input() -> None:
    dues = due_dates(CONTRACT, 3)
    with pytest.raises(InvalidInput):
        price_schedule(D(0), D("0.01"), CONTRACT, dues)
    with pytest.raises(InvalidInput):
        sac_schedule(D(100), D("-0.01"), CONTRACT, dues)
    with pytest.raises(InvalidInput):
        price_schedule(D(100), D("0.01"), CONTRACT, dues, carry="banker")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        price_schedule(D(100), D("0.01"), CONTRACT, list(reversed(dues)))


def test_extreme_rate_and_term_keep_the_ledger_identities() -> None:
    """13.39 % a.m. over 97 months by actual days: a fixed payment in cents drifts below zero
    (cent errors grow by 1.13^97), so the ledger is re-anchored on the exact balances."""
    contract = date(2018, 1, 3)
    dues = due_dates(contract, 97)
    schedule = price_schedule(D("299.46"), D("0.133897"), contract, dues, day_count="actual/365")
    assert sum(r.amortization for r in schedule) == D("299.46")
    assert schedule[-1].balance == 0
    for row in schedule:
        assert row.balance >= 0
        assert row.opening_balance - row.amortization == row.balance
        assert row.interest + row.amortization == row.payment
