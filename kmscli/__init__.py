"""kmscli: a local, offline twin of ``aws kms`` over a file-backed key vault."""

__version__ = "0.1.0"
