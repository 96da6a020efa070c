"""Bring your own schema (issue 16): read a live catalog, draft a model from it, check a model
against it. The catalog is the source of truth a team already has; seedc starts from it."""
