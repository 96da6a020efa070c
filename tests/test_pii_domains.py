"""PII domains: validity under python-stdnum, E.164 shape, uniqueness, determinism, hygiene."""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable

import numpy as np
import pytest
from stdnum.br import cnpj as stdnum_cnpj
from stdnum.br import cpf as stdnum_cpf

from seedc.runtime.pii.domains import (
    DOMAINS,
    EMAIL_DOMAIN,
    VALID_DDD,
    Algorithm,
    PiiResolver,
    tweak_for,
    validate_input,
)
from seedc.runtime.pii.fpe import ALPHABET, FF1, FF3_1, numerals_to_strings

KEY = bytes.fromhex("8f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff1")
OTHER_KEY = bytes(32)
ALGORITHMS: list[Algorithm] = ["FF1", "FF3-1"]

# Brazilian E.164 (ITU-T E.164 with Anatel's numbering plan): +55, a two-digit area code
# without zeros, then 9 + 8 digits for mobiles or [2-5] + 7 digits for landlines.
MOBILE_RE = re.compile(r"^\+55[1-9][1-9]9\d{8}$")
LANDLINE_RE = re.compile(r"^\+55[1-9][1-9][2-5]\d{7}$")
# RFC 5322 dot-atom local part and a hostname domain (the usual practical subset).
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$"
)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.digits, k=n))


def _bases(rng: random.Random, count: int, n: int, alphabet: str = string.digits) -> list[str]:
    """Random bases, skipping the repeated-character ones the domains refuse."""
    out = []
    while len(out) < count:
        s = "".join(rng.choices(alphabet, k=n))
        if s != s[0] * n:
            out.append(s)
    return out


def _strided(count: int, modulus: int, width: int) -> list[str]:
    """``count`` distinct zero-padded numbers (a prime stride through the domain)."""
    numbers = (np.arange(count, dtype=np.int64) * 999_999_937 + 424_242) % modulus
    return [f"{x:0{width}d}" for x in numbers.tolist()]


# -- constants and tweaks -------------------------------------------------------------------


def test_domains_and_area_codes() -> None:
    assert {"cpf", "cnpj", "cnpj_alnum", "phone_mobile", "phone_landline", "email"} == DOMAINS
    expected = [
        *range(11, 20),
        *(21, 22, 24, 27, 28),
        *range(31, 36),
        *(37, 38),
        *range(41, 50),
        *(51, 53, 54, 55),
        *range(61, 70),
        *(71, 73, 74, 75, 77, 79),
        *range(81, 90),
        *range(91, 100),
    ]
    assert [int(d) for d in VALID_DDD] == expected
    assert len(VALID_DDD) == 67
    assert all(len(d) == 2 for d in VALID_DDD)


def test_tweak_for_is_deterministic_and_column_specific() -> None:
    assert len(tweak_for("cpf", "clientes.cpf", "FF3-1")) == 7
    assert len(tweak_for("cpf", "clientes.cpf", "FF1")) >= 8
    assert tweak_for("cpf", "clientes.cpf", "FF1") == tweak_for("cpf", "clientes.cpf", "FF1")
    tweaks = {
        tweak_for(domain, column, "FF1")
        for domain in DOMAINS
        for column in ("a.b", "a.c", "x.b", "ab.", "a.bc")
    }
    assert len(tweaks) == len(DOMAINS) * 5
    with pytest.raises(ValueError, match="algorithm"):
        tweak_for("cpf", "c", "FF3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'nope'"):
        tweak_for("nope", "c", "FF1")


# -- validity of each domain ----------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_cpf_valid_under_stdnum(algorithm: Algorithm) -> None:
    rng = random.Random(11)
    count = 100_000 if algorithm == "FF1" else 20_000
    inputs = _bases(rng, count, 9)
    out = PiiResolver(KEY, algorithm).resolve_many("cpf", "clientes.cpf", inputs)
    assert all(len(v) == 11 and v.isdigit() for v in out)
    assert all(stdnum_cpf.is_valid(v) for v in out)
    assert not any(v[:9] == v[0] * 9 for v in out)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_cnpj_valid_under_stdnum(algorithm: Algorithm) -> None:
    rng = random.Random(12)
    count = 100_000 if algorithm == "FF1" else 20_000
    inputs = _bases(rng, count, 12)
    out = PiiResolver(KEY, algorithm).resolve_many("cnpj", "empresas.cnpj", inputs)
    assert all(len(v) == 14 and v.isdigit() for v in out)
    assert all(stdnum_cnpj.is_valid(v) for v in out)
    assert not any(v[:12] == v[0] * 12 for v in out)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_cnpj_alnum_valid_under_stdnum(algorithm: Algorithm) -> None:
    rng = random.Random(13)
    inputs = _bases(rng, 50_000, 12, ALPHABET)
    out = PiiResolver(KEY, algorithm).resolve_many("cnpj_alnum", "empresas.cnpj", inputs)
    shape = re.compile(r"^[0-9A-Z]{12}[0-9]{2}$")
    assert all(shape.match(v) for v in out)
    assert all(stdnum_cnpj.is_valid(v) for v in out)
    assert all(stdnum_cnpj.calc_check_digits(v[:12]) == v[12:] for v in out[:5_000])
    assert any(any(c.isalpha() for c in v[:12]) for v in out)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_phones_match_brazilian_e164(algorithm: Algorithm) -> None:
    rng = random.Random(14)
    resolver = PiiResolver(KEY, algorithm)
    mobiles = [rng.choice(VALID_DDD) + "9" + _digits(rng, 8) for _ in range(50_000)]
    out = resolver.resolve_many("phone_mobile", "clientes.celular", mobiles)
    for given, got in zip(mobiles, out, strict=True):
        assert MOBILE_RE.match(got)
        assert got[3:5] in VALID_DDD
        assert got[3:6] == given[:3]  # area code and the leading 9 are kept
    assert sum(a[3:] != b[6:] for a, b in zip(mobiles, out, strict=True)) > 49_000

    landlines = [
        rng.choice(VALID_DDD) + rng.choice("2345") + _digits(rng, 7) for _ in range(50_000)
    ]
    out = resolver.resolve_many("phone_landline", "clientes.fixo", landlines)
    for given, got in zip(landlines, out, strict=True):
        assert LANDLINE_RE.match(got)
        assert got[3:5] in VALID_DDD
        assert got[3:6] == given[:3]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_emails(algorithm: Algorithm) -> None:
    rng = random.Random(15)
    inputs = ["".join(rng.choices(ALPHABET, k=rng.randint(6, 32))) for _ in range(30_000)]
    resolver = PiiResolver(KEY, algorithm)
    out = resolver.resolve_many("email", "clientes.email", inputs)
    suffix = "@" + EMAIL_DOMAIN
    for given, got in zip(inputs, out, strict=True):
        assert EMAIL_RE.match(got)
        assert got.endswith("@example.com")
        local = got.removesuffix(suffix)
        assert len(local) == len(given)
        assert set(local) <= set(ALPHABET)
    # Mixed lengths are grouped internally; order and per-value results are unchanged.
    assert [resolver.resolve("email", "clientes.email", v) for v in inputs[:50]] == out[:50]


# -- uniqueness over a million values (FF1) -------------------------------------------------


@pytest.mark.slow
def test_cpf_unique_and_valid_over_one_million() -> None:
    inputs = _strided(1_000_000, 10**9, 9)
    inputs = [s for s in inputs if s != s[0] * 9]
    assert len(set(inputs)) == len(inputs)
    out = PiiResolver(KEY).resolve_many("cpf", "clientes.cpf", inputs)
    assert len(set(out)) == len(inputs)
    assert all(map(stdnum_cpf.is_valid, out))


@pytest.mark.slow
def test_cnpj_unique_and_valid_over_one_million() -> None:
    inputs = _strided(1_000_000, 10**12, 12)
    inputs = [s for s in inputs if s != s[0] * 12]
    assert len(set(inputs)) == len(inputs)
    out = PiiResolver(KEY).resolve_many("cnpj", "empresas.cnpj", inputs)
    assert len(set(out)) == len(inputs)
    assert all(map(stdnum_cnpj.is_valid, out))


@pytest.mark.slow
def test_phone_mobile_unique_over_one_million() -> None:
    count = 1_000_000
    ddd_idx = np.arange(count) % len(VALID_DDD)
    subscriber = (np.arange(count) // len(VALID_DDD) * 7_919 + 31) % 10**8
    inputs = [
        f"{VALID_DDD[d]}9{s:08d}"
        for d, s in zip(ddd_idx.tolist(), subscriber.tolist(), strict=True)
    ]
    assert len(set(inputs)) == count
    out = PiiResolver(KEY).resolve_many("phone_mobile", "clientes.celular", inputs)
    assert len(set(out)) == count
    assert all(map(MOBILE_RE.match, out))


@pytest.mark.slow
def test_email_unique_over_one_million() -> None:
    rng = np.random.default_rng(16)
    raw = numerals_to_strings(rng.integers(0, 36, size=(1_000_000, 12), dtype=np.uint8), 36)
    cuts = rng.integers(6, 13, size=len(raw)).tolist()
    inputs = list(dict.fromkeys(s[:c] for s, c in zip(raw, cuts, strict=True)))
    assert len(inputs) > 999_000
    out = PiiResolver(KEY).resolve_many("email", "clientes.email", inputs)
    assert len(set(out)) == len(inputs)
    assert all(v.endswith("@example.com") for v in out)


# -- cycle-walking ----------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize(("domain", "n", "radix"), [("cpf", 9, 10), ("cnpj", 12, 10)])
def test_cycle_walking_skips_repeated_digit_bases(
    algorithm: Algorithm, domain: str, n: int, radix: int
) -> None:
    column = "t.doc"
    tweak = tweak_for(domain, column, algorithm)
    cipher = FF1(KEY, tweak, radix) if algorithm == "FF1" else FF3_1(KEY, tweak, radix)
    resolver = PiiResolver(KEY, algorithm)
    for digit in "0123456789":
        bad = digit * n
        source = cipher.decrypt(bad)  # this input's first encryption is the forbidden base
        if source == source[0] * n:
            continue
        expected = cipher.encrypt(bad)  # so the walk takes one more step
        while expected == expected[0] * n:
            expected = cipher.encrypt(expected)
        single = resolver.resolve(domain, column, source)
        batch = resolver.resolve_many(domain, column, [source] * 40)
        assert single[:n] == expected
        assert batch == [single] * 40


# -- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_determinism_and_key_sensitivity(algorithm: Algorithm) -> None:
    rng = random.Random(17)
    inputs = _bases(rng, 2_000, 9)
    first = PiiResolver(KEY, algorithm).resolve_many("cpf", "clientes.cpf", inputs)
    again = PiiResolver(KEY, algorithm).resolve_many("cpf", "clientes.cpf", inputs)
    other_key = PiiResolver(OTHER_KEY, algorithm).resolve_many("cpf", "clientes.cpf", inputs)
    other_col = PiiResolver(KEY, algorithm).resolve_many("cpf", "socios.cpf", inputs)
    assert first == again
    assert sum(a != b for a, b in zip(first, other_key, strict=True)) > 1_990
    assert sum(a != b for a, b in zip(first, other_col, strict=True)) > 1_990


def test_algorithms_differ_and_cache_is_reused() -> None:
    inputs = ["123456789", "987654321"] * 20
    ff1 = PiiResolver(KEY, "FF1")
    ff3 = PiiResolver(KEY, "FF3-1")
    assert ff1.resolve_many("cpf", "c.cpf", inputs) != ff3.resolve_many("cpf", "c.cpf", inputs)
    assert ff1.algorithm == "FF1"
    assert ff3.algorithm == "FF3-1"
    ff1.resolve_many("cpf", "c.cpf", inputs)
    ff1.resolve_many("cpf", "d.cpf", inputs)
    assert len(ff1._ciphers) == 2


def test_empty_batch() -> None:
    assert PiiResolver(KEY).resolve_many("cpf", "c", []) == []


# -- validation and key hygiene ---------------------------------------------------------------

BAD_INPUTS = [
    ("cpf", "12345678", "length 8"),
    ("cpf", "1234567890", "length 10"),
    ("cpf", "12345678a", "outside"),
    ("cpf", "１２３４５６７８９", "outside"),
    ("cpf", "555555555", "repeated"),
    ("cnpj", "12345678901", "length 11"),
    ("cnpj", "00000000000000", "length 14"),
    ("cnpj", "000000000000", "repeated"),
    ("cnpj_alnum", "12ABC3456789", "outside"),
    ("cnpj_alnum", "zzzzzzzzzzzz", "repeated"),
    ("phone_mobile", "10987654321", "area code"),
    ("phone_mobile", "23987654321", "area code"),
    ("phone_mobile", "11887654321", "9 after"),
    ("phone_mobile", "1198765432", "length 10"),
    ("phone_landline", "1162345678", "2, 3, 4 or 5"),
    ("phone_landline", "2012345678", "area code"),
    ("email", "abc12", "length 5"),
    ("email", "a" * 33, "length 33"),
    ("email", "john.doe", "outside"),
    ("email", "JohnDoe", "outside"),
    ("email", "joão123", "outside"),
]


def _assert_no_key(text: str) -> None:
    for form in (KEY.hex(), KEY.hex().upper(), repr(KEY), str(list(KEY)), KEY.hex()[:16]):
        assert form not in text


@pytest.mark.parametrize(("domain", "value", "fragment"), BAD_INPUTS)
def test_malformed_inputs_name_domain_and_column(domain: str, value: str, fragment: str) -> None:
    resolver = PiiResolver(KEY)
    calls: list[Callable[[], object]] = [
        lambda: resolver.resolve_many(domain, "clientes.doc", [value]),
        lambda: resolver.resolve(domain, "clientes.doc", value),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=fragment) as info:
            call()
        message = str(info.value)
        assert repr(domain) in message
        assert "'clientes.doc'" in message
        assert value not in message
        _assert_no_key(message)
    with pytest.raises(ValueError, match=fragment) as info:
        validate_input(domain, value)
    assert value not in str(info.value)


def test_error_points_at_the_offending_index_in_a_batch() -> None:
    good = ["123456789"] * 500
    batch = [*good[:321], "12345678x", *good[321:]]
    with pytest.raises(ValueError, match=r"input #321 ") as info:
        PiiResolver(KEY).resolve_many("cpf", "clientes.cpf", batch)
    assert "12345678x" not in str(info.value)
    emails = ["abcdef"] * 10 + ["abcdefghij"] * 10 + ["abcdeF"]
    with pytest.raises(ValueError, match=r"input #20 "):
        PiiResolver(KEY).resolve_many("email", "clientes.email", emails)


def test_unknown_domain_names_domain_and_column() -> None:
    with pytest.raises(ValueError, match=r"'rg'.*'clientes\.rg'") as info:
        PiiResolver(KEY).resolve_many("rg", "clientes.rg", ["123456789"])
    _assert_no_key(str(info.value))
    with pytest.raises(ValueError, match="'rg'"):
        validate_input("rg", "123")


def test_non_string_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="strings"):
        PiiResolver(KEY).resolve_many("cpf", "c", [123456789])  # type: ignore[list-item]


def test_validate_input_accepts_well_formed_values() -> None:
    for domain, value in [
        ("cpf", "123456789"),
        ("cnpj", "123456780001"),
        ("cnpj_alnum", "12abc3450001"),
        ("phone_mobile", "11987654321"),
        ("phone_landline", "1132345678"),
        ("email", "maria1984"),
    ]:
        validate_input(domain, value, column="x.y")


def test_key_never_in_repr_str_or_errors() -> None:
    resolver = PiiResolver(KEY, "FF3-1")
    resolver.resolve_many("cpf", "clientes.cpf", ["123456789"] * 30)
    text = repr(resolver) + str(resolver) + f"{resolver}" + repr(resolver._ciphers)
    _assert_no_key(text)
    assert "redacted" in text
    for bad_key in (KEY[:15], KEY + b"\x00"):
        with pytest.raises(ValueError, match="bytes") as info:
            PiiResolver(bad_key)
        _assert_no_key(str(info.value))
        assert bad_key.hex() not in str(info.value)
    with pytest.raises(TypeError) as type_info:
        PiiResolver(KEY.hex())  # type: ignore[arg-type]
    _assert_no_key(str(type_info.value))
    with pytest.raises(ValueError, match="algorithm"):
        PiiResolver(KEY, "AES")  # type: ignore[arg-type]
