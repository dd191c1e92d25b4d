"""Vault storage: on-disk layout, locking, atomic writes, root key derivation and wrapping."""
