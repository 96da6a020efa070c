"""The compiler: manifests and models in, a deterministic hashed plan out.

Pure: no network, no database, no clock. Stages live in their own modules and are composed in
`pipeline.py`: source (YAML 1.2) → schema (JSON Schema) → manifest/model (typed checks) →
expressions (lark) → order (foreign keys) → render (jinja2 SQL) → build (the plan).
"""
