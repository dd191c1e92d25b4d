"""Key specs, algorithms and the ciphertext blob format."""
