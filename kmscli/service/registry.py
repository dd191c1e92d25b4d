"""Importing this module registers every implemented operation."""

import kmscli.service.importing  # noqa: F401
import kmscli.service.keystores  # noqa: F401
import kmscli.service.rotation  # noqa: F401
from kmscli.service import aliases, keys, symmetric, tags  # noqa: F401
from kmscli.service.core import OPERATIONS, invoke

__all__ = ["OPERATIONS", "invoke"]
