"""factory_boy factories for the demo schema: the `create_batch` seeding command baseline.

This is the approach the spec started from: one factory per table, Faker providers (pt_BR) for
the values, and a `_create` that INSERTs one row per object, as an ORM's `session.add` +
flush would. Rows are plain dicts tagged with their table (the "model"); the connection is
bound once with `bind(conn)`. Only the tables `bench_apply.py` seeds this way are modelled:
transactions and the minimal parents it needs.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import factory
import psycopg

__all__ = [
    "POOLS",
    "AccountTypeFactory",
    "BankAccountFactory",
    "CategoryFactory",
    "ConsultantFactory",
    "CustomerFactory",
    "TenantFactory",
    "TransactionFactory",
    "bind",
]

REFERENCE = datetime(2025, 1, 1, tzinfo=UTC)
_CONN: list[psycopg.Connection[Any]] = []
#: Ids of created parents, picked by children (filled as parents are created).
POOLS: dict[str, list[str]] = {
    "tenants": [], "consultants": [], "customers": [], "account_types": [],
    "categories": [], "bank_accounts": [],
}


def bind(conn: psycopg.Connection[Any]) -> None:
    """Use `conn` for every INSERT (the caller sets the tenant context and transactions)."""
    _CONN[:] = [conn]


def _pick(pool: str) -> factory.LazyFunction:
    return factory.LazyFunction(lambda: random.choice(POOLS[pool]))


def _tenant() -> factory.LazyFunction:
    return factory.LazyFunction(lambda: POOLS["tenants"][0])


class Row(dict[str, Any]):
    """An ORM-like model: a row and the table it goes to."""

    table: ClassVar[str] = ""


class TenantRow(Row):
    table = "app.tenants"


class ConsultantRow(Row):
    table = "app.consultants"


class CustomerRow(Row):
    table = "app.customers"


class AccountTypeRow(Row):
    table = "app.account_types"


class CategoryRow(Row):
    table = "app.categories"


class BankAccountRow(Row):
    table = "app.bank_accounts"


class TransactionRow(Row):
    table = "app.transactions"


class SqlFactory(factory.Factory):
    """`create()` INSERTs the object's row, one statement per object."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class: type[Row], *args: Any, **kwargs: Any) -> Row:
        row = model_class(**kwargs)
        cols = ", ".join(row)
        marks = ", ".join(["%s"] * len(row))
        _CONN[0].execute(f"INSERT INTO {model_class.table} ({cols}) VALUES ({marks})",  # noqa: S608
                         list(row.values()))
        pool = model_class.table.removeprefix("app.")
        if pool in POOLS and pool != "tenants":
            POOLS[pool].append(row["id"])
        return row


class TenantFactory(SqlFactory):
    class Meta:
        model = TenantRow

    id = factory.Faker("uuid4")
    slug = factory.Sequence(lambda n: f"bench-{n}")
    name = factory.Faker("company", locale="pt_BR")
    environment = "staging"
    created_at = REFERENCE - timedelta(days=730)


class ConsultantFactory(SqlFactory):
    class Meta:
        model = ConsultantRow

    id = factory.Faker("uuid4")
    tenant_id = _tenant()
    full_name = factory.Faker("name", locale="pt_BR")
    cpf = factory.Sequence(lambda n: f"{n:011d}")
    email = factory.Faker("email", locale="pt_BR")
    phone = factory.Faker("msisdn", locale="pt_BR")
    region = factory.Faker("estado_sigla", locale="pt_BR")
    hired_on = factory.Faker("date_between", start_date="-10y", end_date="-60d")


class CustomerFactory(SqlFactory):
    class Meta:
        model = CustomerRow

    id = factory.Faker("uuid4")
    tenant_id = _tenant()
    consultant_id = _pick("consultants")
    full_name = factory.Faker("name", locale="pt_BR")
    cpf = factory.Sequence(lambda n: f"{n:011d}")
    email = factory.Sequence(lambda n: f"cliente{n}@example.com")
    phone = factory.Faker("msisdn", locale="pt_BR")
    birth_date = factory.Faker("date_of_birth", minimum_age=18, maximum_age=80)
    monthly_income = factory.Faker("pydecimal", left_digits=5, right_digits=2, positive=True,
                                   min_value=1412, max_value=45000)
    status = factory.Faker("random_element", elements=["active", "blocked", "defaulted"])
    created_at = factory.Faker("date_time_between", start_date="-700d", tzinfo=UTC)


class AccountTypeFactory(SqlFactory):
    class Meta:
        model = AccountTypeRow

    id = factory.Faker("uuid4")
    tenant_id = _tenant()
    code = factory.Iterator(["checking", "savings", "payment", "salary"])
    name = factory.Iterator(["Conta Corrente", "Conta Poupança", "Conta de Pagamento",
                             "Conta Salário"])


class CategoryFactory(SqlFactory):
    class Meta:
        model = CategoryRow

    id = factory.Faker("uuid4")
    tenant_id = _tenant()
    code = factory.Iterator(["salary", "rent", "utilities", "groceries", "transport", "health",
                             "education", "leisure"])
    name = factory.Iterator(["Salário", "Aluguel", "Contas de consumo", "Supermercado",
                             "Transporte", "Saúde", "Educação", "Lazer"])


class BankAccountFactory(SqlFactory):
    class Meta:
        model = BankAccountRow

    id = factory.Faker("uuid4")
    tenant_id = _tenant()
    customer_id = _pick("customers")
    account_type_id = _pick("account_types")
    branch = "0001"
    number = factory.Sequence(lambda n: f"{n + 1:010d}")
    balance = factory.Faker("pydecimal", left_digits=5, right_digits=2, positive=True,
                            max_value=25000)
    status = factory.Faker("random_element", elements=["active", "blocked", "closed"])
    opened_on = factory.Faker("date_between", start_date="-1500d", end_date="-1d")


class TransactionFactory(SqlFactory):
    class Meta:
        model = TransactionRow

    id = factory.Faker("uuid4")
    tenant_id = _tenant()
    bank_account_id = _pick("bank_accounts")
    category_id = _pick("categories")
    direction = factory.Faker("random_element", elements=["credit", "debit"])
    amount = factory.Faker("pydecimal", left_digits=4, right_digits=2, positive=True,
                           min_value=1, max_value=5000)
    description = factory.Faker("sentence", nb_words=3, locale="pt_BR")
    occurred_at = factory.Faker("date_time_between", start_date=REFERENCE - timedelta(days=180),
                                end_date=REFERENCE, tzinfo=UTC)
