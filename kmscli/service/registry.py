"""Importing this module registers every implemented operation."""

from kmscli.service import aliases, asymmetric, keys, symmetric, tags  # noqa: F401
from kmscli.service.core import OPERATIONS, invoke

__all__ = ["OPERATIONS", "invoke"]
