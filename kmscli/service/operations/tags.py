"""Tag operations: TagResource, UntagResource, ListResourceTags."""

from __future__ import annotations

from kmscli.service.operations.common import check_tags, require_not_pending_deletion
from kmscli.service.pipeline.core import Call, Response, operation
from kmscli.service.pipeline.paging import page


@operation("TagResource", mutating=True)
def tag_resource(call: Call) -> Response:
    """TagResource: add or overwrite tags."""
    record = call.resolve(call.request["KeyId"], allow_alias=False)
    new = call.request["Tags"]
    call.authorize(
        "kms:TagResource",
        record,
        {
            "aws:TagKeys": [t["TagKey"] for t in new],
            "aws:RequestTag": {t["TagKey"]: t["TagValue"] for t in new},
        },
    )
    require_not_pending_deletion(record)
    merged = check_tags(new, record.get("Tags", []))
    call.dry_run()
    record["Tags"] = merged
    call.save(record)
    return {}


@operation("UntagResource", mutating=True)
def untag_resource(call: Call) -> Response:
    """UntagResource: remove tags by key (absent keys are ignored, as AWS does)."""
    record = call.resolve(call.request["KeyId"], allow_alias=False)
    keys = set(call.request["TagKeys"])
    call.authorize("kms:UntagResource", record, {"aws:TagKeys": sorted(keys)})
    require_not_pending_deletion(record)
    call.dry_run()
    record["Tags"] = [t for t in record.get("Tags", []) if t["TagKey"] not in keys]
    call.save(record)
    return {}


@operation("ListResourceTags")
def list_resource_tags(call: Call) -> Response:
    """ListResourceTags, sorted by tag key and paged."""
    record = call.resolve(call.request["KeyId"], allow_alias=False)
    call.authorize("kms:ListResourceTags", record)
    tags = sorted(record.get("Tags", []), key=lambda t: t["TagKey"])
    items, extra = page(tags, call.request, key=lambda t: t["TagKey"], operation=call.op.name)
    return {"Tags": items, **extra}
