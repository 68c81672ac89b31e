"""The one home of argument checks, for the cells, the tasks, the configs and the CLI.

Every check returns the value it accepted and raises `UsageError` (a `ValueError`, as Keras
layers are expected to raise) with one line that names the argument, the value received and
what is allowed. The CLI prints that line and exits 2. Importing this module imports nothing
heavy, so the dataset generators and the record readers can use it without TensorFlow.
"""

import difflib
import numbers


class UsageError(ValueError):
    """Bad input from a user: the CLI prints it as one line and exits with code 2."""


class Failed(Exception):
    """A command ran but some of its work did not: the CLI exits 1 with this line."""


def check_int(name, value, low=1):
    """An integer (Python or NumPy, never a bool) >= `low`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise UsageError(f"{name} must be an integer >= {low}, received {name}={value!r}")
    return value


def check_number(name, value, low=0.0, strict=True):
    """A real number > `low` (or >= `low` with `strict=False`), never a bool."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and (value > low if strict else value >= low)
    if not ok:
        raise UsageError(f"{name} must be a number {'>' if strict else '>='} {low:g}, received {name}={value!r}")
    return value


def check_bool(name, value):
    if not isinstance(value, bool):
        raise UsageError(f"{name} must be true or false, received {name}={value!r}")
    return value


def check_choice(name, value, allowed):
    """One of `allowed` (any container of names); the error lists them."""
    if value not in allowed:
        raise UsageError(f"unknown {name} {value!r}; allowed: {', '.join(map(str, allowed))}")
    return value


def check_keys(values, allowed, what="config key"):
    """Every key of `values` is in `allowed`; a mistyped key gets a close-match suggestion."""
    for key in values:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"unknown {what} {key!r}{hint}; allowed: {', '.join(allowed)}")
    return values
