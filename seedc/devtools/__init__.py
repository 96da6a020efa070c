"""Dev tooling outside the runtime: the embedded PostgreSQL server and `seedc demo`.

Nothing here runs in a pipeline; it makes a fresh machine able to try seedc in one command.
"""
