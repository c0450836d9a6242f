"""One exception hierarchy for everything Headroom raises on purpose."""

from __future__ import annotations


class HeadroomError(Exception):
    """Base class of every error Headroom raises deliberately."""


class ConfigError(HeadroomError, ValueError):
    """An option or an environment setting has an unusable value."""


class StoreError(HeadroomError):
    """The retrieval store could not be opened or written."""


class MissingExtraError(HeadroomError, ImportError):
    """An optional dependency is not installed; the message names the pip command."""

    def __init__(self, extra: str, module: str) -> None:
        self.extra = extra
        self.module = module
        super().__init__(
            f"{module} is needed for this feature and is not installed. "
            f'Install it with: pip install ".[{extra}]" (from a checkout of this repository)'
        )
