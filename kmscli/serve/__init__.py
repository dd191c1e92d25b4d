"""``kmscli serve``: the vault behind AWS KMS's JSON 1.1 wire protocol (docs/serve.md)."""
