"""Generated artefacts from the Click tree: shell completions and man pages (`make completions`, `make man`)."""
