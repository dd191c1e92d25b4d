"""Key policies and grants: IAM grammar, validation, evaluation with explanations, inspection.

Nothing here depends on the CLI or on the vault: the service layer (``service/operations/policies.py``,
``service/operations/grants.py``) feeds records and request contexts in, and renders nothing.
"""
