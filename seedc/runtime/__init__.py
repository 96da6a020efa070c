"""The runtime: applies a plan to PostgreSQL under lease, SERIALIZABLE batches and checkpoints.

It reads plans only, never manifests, and never imports the compiler, lark or jinja2.
"""
