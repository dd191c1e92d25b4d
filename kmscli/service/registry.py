"""Importing this module registers every implemented operation (and installs the policy engine)."""

from kmscli.service import (  # noqa: F401
    aliases,
    asymmetric,
    export,
    grants,
    importing,
    keys,
    keystores,
    policies,
    regions,
    rotation,
    symmetric,
    tags,
    usage,
)
from kmscli.service.core import OPERATIONS, invoke

__all__ = ["OPERATIONS", "invoke"]
