"""The generators callable from column expressions, one module per family.

Each module fills its own `GENERATORS` set and registers nothing globally; the one place that
gathers them is `seedc.program.registry`, which imports every module explicitly, so what a
name means never depends on which modules happened to be imported first.
"""
