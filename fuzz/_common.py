"""Shared set-up for the atheris harnesses (not part of the test suite; see README.md)."""

from __future__ import annotations

import os
import sys

# run from a checkout without installing: make ``kmscli`` importable
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

try:
    import atheris
except ImportError:  # pragma: no cover - documented in README.md
    sys.exit("atheris is not installed: pip install atheris (see fuzz/README.md)")


def run(test_one_input, setup=None) -> None:  # type: ignore[no-untyped-def]
    """Instrument kmscli, then hand ``test_one_input`` to libFuzzer with the command-line options."""
    with atheris.instrument_imports(include=["kmscli"]):
        import kmscli.cli.params  # noqa: F401
        import kmscli.crypto.blob  # noqa: F401
        import kmscli.policy.document  # noqa: F401
        import kmscli.policy.evaluate  # noqa: F401
        import kmscli.service.operations.importing  # noqa: F401
        import kmscli.service.pipeline.validate  # noqa: F401
    if setup is not None:
        setup()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
