"""The call pipeline every KMS operation goes through: validation, locking, due work, audit, commit."""
