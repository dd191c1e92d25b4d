"""Fuzz parameter parsing (shorthand, JSON, base64, file references, timestamps): only UsageError (252)
or, where the AWS CLI stops with 255, ParamValueError."""

from __future__ import annotations

from _common import run

TARGETS = [
    ("EncryptionContextType", False),
    ("TagList", True),
    ("GrantTokenList", True),
    ("CiphertextType", False),
    ("PlaintextType", False),
    ("NumberOfBytesType", False),
    ("BooleanType", False),
    ("DateType", False),
    ("GrantConstraints", False),
]


def test_one_input(data: bytes) -> None:
    import atheris

    from kmscli.cli import params
    from kmscli.errors import ParamValueError, UsageError

    fdp = atheris.FuzzedDataProvider(data)
    shape_name, is_list = TARGETS[fdp.ConsumeIntInRange(0, len(TARGETS) - 1)]
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    if text.startswith(("file://", "fileb://")):
        return  # the file system is not the target; file references have their own tests
    try:
        params.parse_value(shape_name, (text,) if is_list else text, "--fuzz")
        params.parse_shorthand(text, "--fuzz")
    except (UsageError, ParamValueError):
        pass


if __name__ == "__main__":
    run(test_one_input)
