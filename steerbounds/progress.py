"""Progress bars, and the one switch that turns them all off (``--no-progress``).

Our bars are tqdm's (:func:`bar`); the model loaders draw their own (transformers'
"Loading weights", the GGUF conversion's de-quantisation, huggingface_hub's
downloads). :func:`disable` turns off all of them: ours through the flag read by
:func:`bar`, the libraries' through their own switches (``TQDM_DISABLE`` and
``HF_HUB_DISABLE_PROGRESS_BARS``, read when tqdm and transformers are imported,
and transformers' ``disable_progress_bar`` where it is imported already).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

_enabled = True


def enabled() -> bool:
    """False after :func:`disable`."""
    return _enabled


def disable() -> None:
    """No progress bar from here on in this process (ours and the libraries')."""
    global _enabled
    _enabled = False
    os.environ["TQDM_DISABLE"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def bar(iterable: Iterable[Any] | None = None, *, show: bool | None = None, **kwargs: Any) -> Any:
    """A tqdm bar on stderr. ``show``: True draws it, None draws it only on a terminal,
    False never; after :func:`disable` it is never drawn."""
    from tqdm.auto import tqdm

    disable: bool | None = None if show is None else not show
    return tqdm(iterable, disable=True if not _enabled else disable, **kwargs)
