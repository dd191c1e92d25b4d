"""The AWS wire formats kmscli speaks (the server in kmscli.serve, and clients that reuse it)."""
