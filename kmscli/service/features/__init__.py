"""What kmscli adds beyond the KMS API: artifacts, audit ops, configure, policy inspection, portability, sessions, vault ops."""
