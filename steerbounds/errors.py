"""The one exception type for bad input anywhere in steerbounds."""


class InputError(ValueError):
    """Raised for out-of-domain, NaN or otherwise invalid input.

    The message names the parameter and its allowed range. It is a
    :class:`ValueError`, so ``except ValueError`` catches it; the CLI turns it into
    one line on stderr and exit status 2.
    """
