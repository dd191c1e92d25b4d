"""The command-line layer: parse, build a request, call the service, render. Never touches files or keys."""
