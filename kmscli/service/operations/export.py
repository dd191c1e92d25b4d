"""ExportKeyMaterial (kmscli only): the way out of one machine into real AWS KMS.

The user runs ``aws kms create-key --origin EXTERNAL`` (same KeySpec and KeyUsage) and
``aws kms get-parameters-for-import`` in AWS, passes the PublicKey here, and gives AWS's
``import-key-material`` the output together with AWS's own ImportToken (docs/migrate-to-aws.md).

Export is off by default: only keys created with ``Exportable`` (``create-key --exportable``), an
irreversible choice recorded in the key and shown as ``KmscliExportable`` by DescribeKey, can be
exported, and only by a caller that opened the vault with its passphrase (a session cannot: what
it exports outlives the session). Every export is audited (the wrapped material itself never is:
blobs are not logged).
"""

from __future__ import annotations

from kmscli import errors
from kmscli.crypto import keywrap
from kmscli.service.operations.common import current_material, require_enabled
from kmscli.service.pipeline.core import Call, Response, operation


@operation("ExportKeyMaterial", read_only=False)
def export_key_material(call: Call) -> Response:
    """Wrap the current material of an exportable key for AWS KMS's ImportKeyMaterial."""
    req = call.request
    record = call.resolve(req["KeyId"])
    algorithm = req["WrappingAlgorithm"]
    call.authorize("kms:ExportKeyMaterial", record, {"kms:WrappingAlgorithm": algorithm})
    if not record.get("Exportable"):
        raise errors.UnsupportedOperationException(
            f"{record['Arn']} is not exportable: only keys created with --exportable (an irreversible "
            "choice made at creation) can export their key material."
        )
    if call.ctx.session:
        raise errors.AccessDeniedException(
            "ExportKeyMaterial needs the vault passphrase: a session (KMSCLI_SESSION) cannot export key "
            "material, since what it exports outlives the session. Unset KMSCLI_SESSION and give the "
            "passphrase (docs/security.md)."
        )
    require_enabled(record)
    if algorithm not in keywrap.ALGORITHMS:
        raise errors.ValidationException(
            f"WrappingAlgorithm {algorithm} is not supported; use one of {', '.join(keywrap.ALGORITHMS)}."
        )
    try:
        public_key = keywrap.load_public_key(req["WrappingPublicKey"])
    except keywrap.WrapError as exc:
        raise errors.ValidationException(f"WrappingPublicKey is not usable: {exc}.") from None
    call.dry_run()
    mid, raw = current_material(call, record)
    try:
        wrapped = keywrap.wrap(public_key, algorithm, raw, call.ctx.random(32))
    except keywrap.WrapError as exc:
        raise errors.ValidationException(f"The key material cannot be wrapped: {exc}.") from None
    call.audit_extra["exportedKeyMaterialId"] = mid
    return {
        "KeyId": record["Arn"],
        "KeyMaterialId": mid,
        "KeySpec": record["KeySpec"],
        "KeyUsage": record["KeyUsage"],
        "WrappingAlgorithm": algorithm,
        "EncryptedKeyMaterial": wrapped,
    }
