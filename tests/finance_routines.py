"""Stand-ins for a product's official finance routine, for the cross-validation tests.

`agreeing` is the product using the same calculation; `off_by_one_cent` differs by one cent on
the payment of the single loan whose principal is in $SEEDC_TEST_WRONG_PRINCIPAL.
"""

from __future__ import annotations

import dataclasses
import os
from decimal import Decimal

from seedc.finance import LoanTerms, Quote, quote_terms


def agreeing(terms: LoanTerms) -> Quote:
    return quote_terms(terms)


def off_by_one_cent(terms: LoanTerms) -> Quote:
    quote = quote_terms(terms)
    if terms.principal == Decimal(os.environ.get("SEEDC_TEST_WRONG_PRINCIPAL", "-1")):
        return dataclasses.replace(quote, payment=quote.payment + Decimal("0.01"))
    return quote
