"""The one exception type for bad input anywhere in steerbounds, and the integer check
that raises it."""


class InputError(ValueError):
    """Raised for out-of-domain, NaN or otherwise invalid input.

    The message names the parameter and its allowed range. It is a
    :class:`ValueError`, so ``except ValueError`` catches it; the CLI turns it into
    one line on stderr and exit status 2.
    """


def check_int(name: str, value: object, low: int = 1, high: int | None = None) -> int:
    """``value`` if it is an int in [``low``, ``high``] (no upper end when ``high`` is
    None; a bool is not an int here), else an :class:`InputError` naming ``name`` and the
    allowed range."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        allowed = f"≥ {low}" if high is None else f"in [{low}, {high}]"
        raise InputError(f"{name}: expected an int {allowed}, got {value!r}")
    return value
