"""Pinned word lists and places, loaded from package data and fingerprinted.

Generated values must not change when a dependency is upgraded, so names, streets and cities
are files in this package (first names and surnames copied once from Faker 40.63's pt_BR
provider, places from Correios CEP ranges and Anatel area codes). Their digest goes into the
plan header: a changed list shows up as a plan diff.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

__all__ = ["DATA_FILES", "Places", "data_version", "places", "vocabulary", "word_list"]

DATA_FILES = (
    "addresses_br.json",
    "first_names_pt_br.txt",
    "last_names_pt_br.txt",
    "vocabulary_pt_br.json",
)


def _read(name: str) -> bytes:
    return resources.files("seedc.program").joinpath("data", name).read_bytes()


@cache
def data_version() -> dict[str, str]:
    """sha256 of every pinned data file, recorded in the plan header."""
    return {name: "sha256:" + hashlib.sha256(_read(name)).hexdigest() for name in DATA_FILES}


@cache
def word_list(name: str) -> np.ndarray:
    """A pinned list of words as an object array, for vectorised picks."""
    words = [w for w in _read(name).decode("utf-8").splitlines() if w]
    arr = np.empty(len(words), dtype=object)
    arr[:] = words
    return arr


@cache
def vocabulary(key: str) -> np.ndarray:
    """One list of the pinned vocabulary (company names, transaction descriptions…)."""
    raw: dict[str, Any] = json.loads(_read("vocabulary_pt_br.json"))
    arr = np.empty(len(raw[key]), dtype=object)
    arr[:] = raw[key]
    return arr


class Places:
    """Cities with their state, CEP range and area code, so a row's address is coherent."""

    def __init__(self, raw: dict[str, Any]) -> None:
        cities = raw["cities"]
        self.city = np.array([c["city"] for c in cities], dtype=object)
        self.uf = np.array([c["uf"] for c in cities], dtype=object)
        self.cep_from = np.array([c["cep_from"] for c in cities], dtype=np.int64)
        self.cep_to = np.array([c["cep_to"] for c in cities], dtype=np.int64)
        self.ddd = np.array([c["ddd"] for c in cities], dtype=np.int64)
        self.street_prefixes = np.array(raw["street_prefixes"], dtype=object)
        self.neighborhoods = np.array(raw["neighborhoods"], dtype=object)

    def __len__(self) -> int:
        return len(self.city)


@cache
def places() -> Places:
    return Places(json.loads(_read("addresses_br.json")))
