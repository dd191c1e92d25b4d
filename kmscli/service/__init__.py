"""The service layer: one function per KMS operation, AWS names and shapes in and out."""
