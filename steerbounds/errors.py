"""The one exception type for bad input anywhere in steerbounds, and the integer check
that raises it."""


class InputError(ValueError):
    """Raised for out-of-domain, NaN or otherwise invalid input.

    The message names the parameter and its allowed range. It is a
    :class:`ValueError`, so ``except ValueError`` catches it; the CLI turns it into
    one line on stderr and exit status 2.
    """


def check_int(name: str, value: object, low: int = 1) -> int:
    """``value`` if it is an int ≥ ``low`` (a bool is not), else an :class:`InputError`
    naming ``name`` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"{name}: expected an int ≥ {low}, got {value!r}")
    return value
