"""The generator program: the meaning of a plan's column expressions.

The compiler lowers expressions into this program form and the runtime executes it to
regenerate the rows of large plans; both import this package, neither needs the other.
It never imports lark or jinja2. Generators live in `generators/`, one module per family,
gathered in one place, `registry`; values that could not be stored are refused here.
"""
