"""Exact loan finance (Price, SAC, IOF, CET) in `decimal`, shared by compiler and runtime.

Everything is computed with Python's ``decimal`` at 40 digits and rounded explicitly to the
cent (ROUND_HALF_UP); no float enters any computation.

Official routine
----------------
The compiler quotes every loan with an *official routine*, a function of type

    QuoteRoutine = Callable[[LoanTerms], Quote]

where :class:`LoanTerms` is the frozen dataclass of the quote inputs (principal, rate in
percent a.m. or a.a., term, system, contract date, first due, borrower, IOF mode, fees,
day count, grace, carry). :func:`quote_terms` is the built-in routine; a product's own
routine with the same signature is registered as a plugin (:mod:`.routines`, entry-point group
``seedc.official_routines``) and compile checks every loan against it to the cent.

Conventions (details in each module's docstring): money ROUND_HALF_UP to the cent with the
residual absorbed by the last installment; SAC carries the rounded balance (``carry`` option,
``"exact"`` reproduces spreadsheet tables); ``30/360`` uses the monthly rate per period,
``actual/365`` compounds (1+i)^(days/30) over calendar days; grace capitalises interest; IOF
per Decreto 6.306/2007 art. 7º with the dated table ``iof_rates.json``; CET per Resolução CMN
4.881/2020 (formula of 3.517/2007) by exact days/365.
"""

from .calendar import add_months, due_dates
from .cet import cet_annual, cet_monthly, cet_percent, irr_annual
from .iof import IofBreakdown, IofRate, gross_up, iof_for_schedule, iof_rate_on, iof_rate_table
from .quote import (
    LoanTerms,
    Quote,
    QuoteRoutine,
    quote,
    quote_terms,
    quote_to_json,
)
from .schedule import Installment, price_schedule, sac_schedule

__all__ = [
    "Installment",
    "IofBreakdown",
    "IofRate",
    "LoanTerms",
    "Quote",
    "QuoteRoutine",
    "add_months",
    "cet_annual",
    "cet_monthly",
    "cet_percent",
    "due_dates",
    "gross_up",
    "iof_for_schedule",
    "iof_rate_on",
    "iof_rate_table",
    "irr_annual",
    "price_schedule",
    "quote",
    "quote_terms",
    "quote_to_json",
    "sac_schedule",
]
