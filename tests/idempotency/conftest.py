"""The resolution tests' household, reused."""

from tests.resolution.conftest import household

__all__ = ["household"]
