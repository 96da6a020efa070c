"""Fixtures of the fault-injection suite (see test_faults.py)."""
