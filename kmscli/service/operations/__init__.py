"""The KMS API operations, one module per family, AWS names and shapes in and out."""
