"""PII: format-preserving encryption (FF1/FF3-1) and the Brazilian PII domains built on it.

The plan holds placeholders (domain + synthetic input); only the runtime, with the key from
Vault or the dev key file, turns them into values, batch by batch (seeds sessions 1, 3, 18).
"""
