"""Importing this module registers every implemented operation."""

import kmscli.service.export
import kmscli.service.importing
import kmscli.service.keystores
import kmscli.service.regions
import kmscli.service.rotation
import kmscli.service.usage  # noqa: F401  (registers operations; the kmscli name keeps the others used)
from kmscli.service import aliases, keys, symmetric, tags  # noqa: F401
from kmscli.service.core import OPERATIONS, invoke

__all__ = ["OPERATIONS", "invoke"]
