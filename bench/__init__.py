"""kmscli benchmarks: each module measures kmscli against a peer in the same run (see bench/README.md)."""
