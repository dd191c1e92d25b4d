"""Parsing parameter values the way the AWS CLI v2 does.

Blobs take base64 text or ``fileb://PATH`` (raw bytes, ``fileb:///dev/stdin`` works); with
``--cli-binary-format raw-in-base64-out`` (``raw_blobs``) a blob given as text is those characters'
UTF-8 bytes, as in the AWS CLI v2. Any value takes ``file://PATH`` (text). Maps and structures take JSON or shorthand (``k1=v1,k2=v2``,
``Key={a=b}``, ``Key=[a,b]``); lists take JSON or space-separated values.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import sys
from typing import Any

from kmscli.clock import parse_time
from kmscli.errors import ParamValueError, UsageError, require_text
from kmscli.model import shape

#: Largest file a ``file://`` or ``fileb://`` parameter may name; refused before reading it whole.
MAX_PARAM_FILE = 1024 * 1024


def read_param_file(path: str, binary: bool, option: str) -> bytes | str:
    """Contents of a ``file://`` / ``fileb://`` parameter, bounded in size. ``~`` and ``$VAR`` in
    the path are expanded, as the AWS CLI expands them (``'fileb://~/key.bin'`` quoted still works);
    messages show the path as given, never an expanded variable's value."""
    given = ("fileb://" if binary else "file://") + path
    try:
        local = os.path.expandvars(os.path.expanduser(path))
        # `-` is a file of that name, as in the AWS CLI (which has no stdin shorthand)
        fh = sys.stdin.buffer if path == "/dev/stdin" else open(local, "rb")  # noqa: SIM115
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path (from --cli-input-json)
        # the AWS CLI's words (str() of the OSError), with the path as given in place of the expanded one
        errno = getattr(exc, "errno", None)
        reason = f"[Errno {errno}] {getattr(exc, 'strerror', '')}: {path!r}" if errno else "invalid path"
        raise UsageError(
            f"Error parsing parameter '{option}': Unable to load paramfile {given}: {reason}"
        ) from None
    try:
        if fh is not sys.stdin.buffer and os.fstat(fh.fileno()).st_size > MAX_PARAM_FILE:
            raise UsageError(
                f"Error parsing parameter '{option}': paramfile {path} is larger than {MAX_PARAM_FILE} bytes"
            )
        data = fh.read(MAX_PARAM_FILE + 1)
    except OSError as exc:
        raise UsageError(
            f"Error parsing parameter '{option}': Unable to load paramfile {path}: {exc.strerror}"
        ) from None
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()
    if len(data) > MAX_PARAM_FILE:
        raise UsageError(
            f"Error parsing parameter '{option}': paramfile {path} is larger than {MAX_PARAM_FILE} bytes"
        )
    if binary:
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            f"Error parsing parameter '{option}': Unable to load paramfile ({path}), text contents could "
            "not be decoded.  If this is a binary file, please use the fileb:// prefix instead of the "
            "file:// prefix."
        ) from None


def load_text(value: str, option: str) -> str:
    """Resolve ``file://`` on a text value."""
    if value.startswith("file://"):
        return str(read_param_file(value[7:], False, option))
    return value


def load_param(value: str, option: str) -> str | bytes:
    """A parameter's value with ``file://`` (text) or ``fileb://`` (bytes) resolved, as the AWS CLI
    v2 resolves both prefixes for every parameter: bytes given where the model asks for text reach
    botocore's check (``request.check_request``), which refuses them (exit 252) rather than take the
    words ``fileb://PATH`` as the value."""
    if value.startswith("fileb://"):
        return read_param_file(value[8:], True, option)
    return load_text(value, option)


# -- shorthand -------------------------------------------------------------------------------------


class _Shorthand:
    """A small parser for the AWS CLI shorthand syntax."""

    def __init__(self, text: str, option: str) -> None:
        self.text, self.pos, self.option = text, 0, option
        self.from_files = False

    def error(self, why: str, received: str = "EOF") -> UsageError:
        """The AWS CLI v2's syntax error: what was expected, what was found (``received`` at the
        end of the input), and the input (after one space, as v2 prints it) with a caret."""
        return UsageError(
            f"Error parsing parameter '{self.option}': Expected: {why}, received: "
            f"'{self.text[self.pos : self.pos + 1] or received}' for input:\n {self.text}\n{' ' * self.pos}^"
        )

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def parse(self) -> Any:
        value = self.keyvals(top=True)
        if self.pos != len(self.text):
            raise self.error("',' or end of input")
        return value

    def keyvals(self, top: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while True:
            start = self.pos
            key = self.key()
            self.skip_spaces()
            self.from_files = self.peek() == "@"  # `key@=file://PATH`: the value is the file's
            if self.from_files:
                self.pos += 1
                self.skip_spaces()
            if self.peek() != "=":
                raise self.error("'='")
            if top and key in out:  # the AWS CLI refuses it rather than keep one of the two
                raise UsageError(
                    f"Error parsing parameter '{self.option}': Second instance of key \"{key}\" "
                    f"encountered for input:\n{self.text}\n{' ' * start}^\n"
                    'This is often because there is a preceding "," instead of a space.'
                )
            self.pos += 1
            self.skip_spaces()
            out[key] = self.value(top)
            if self.peek() != ",":
                return out
            self.pos += 1

    #: What a key may hold, as the AWS CLI's shorthand grammar says (``[a-zA-Z0-9-_.#/:]``).
    KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.#/:")

    def key(self) -> str:
        """A key: the characters the AWS CLI's grammar allows (so ``my key=v`` fails at the space,
        as in the AWS CLI), possibly none (``=v`` is the empty key, as there)."""
        self.skip_spaces()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in self.KEY_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def resolved(self, value: str) -> Any:
        """A scalar after ``key@=``: ``file://PATH`` is the file's text, ``fileb://PATH`` its bytes."""
        if self.from_files and value.startswith(("file://", "fileb://")):
            binary = value.startswith("fileb://")
            return read_param_file(value[8 if binary else 7 :], binary, self.option)
        return value

    def _next_is_key(self) -> bool:
        """After a comma: does a ``key=`` follow (a new pair) or a bare value (list continuation)?"""
        depth_chars = "{}[]\"'"
        i = self.pos
        while i < len(self.text) and self.text[i] not in ",=" and self.text[i] not in depth_chars:
            i += 1
        return i < len(self.text) and self.text[i] == "="

    def value(self, top: bool) -> Any:
        ch = self.peek()
        if ch == "{":
            self.pos += 1
            self.skip_spaces()
            if self.peek() == "}":
                self.pos += 1
                return {}
            inner = self.keyvals()
            if self.peek() != "}":
                raise self.error("'}'")
            self.pos += 1
            return inner
        if ch == "[":
            self.pos += 1
            self.skip_spaces()
            items: list[Any] = []
            while self.peek() != "]":
                items.append(self.value(False) if self.peek() in "{[" else self.scalar("],"))
                self.skip_spaces()
                if self.peek() == ",":
                    self.pos += 1
                    self.skip_spaces()
                elif self.peek() != "]":
                    raise self.error("',' or ']'")
            self.pos += 1
            return items
        first = self.scalar(",}]" if not top else ",")
        values = [first]
        while self.peek() == "," and top:
            save = self.pos
            self.pos += 1
            self.skip_spaces()
            if self.pos == len(self.text):  # `a=b,`: the AWS CLI wants a value after the comma
                raise self.error("'<second>'", received="<none>")
            if self._next_is_key():
                self.pos = save
                break
            values.append(self.scalar(","))
        return values if len(values) > 1 else first

    def scalar(self, stops: str) -> Any:
        """A quoted value (``\\"`` in double quotes and ``\\'`` in single quotes are the quote
        itself, ``\\\\`` a backslash) or a bare one up to a stop (``\\,`` is a comma in it),
        as the AWS CLI's shorthand reads them."""
        ch = self.peek()
        if ch in ("'", '"'):
            end = self.pos + 1
            while end < len(self.text) and self.text[end] != ch:
                end += 2 if self.text[end : end + 2] == "\\" + ch else 1
            if end >= len(self.text):  # no bare quote: the last escaped one closes it, as AWS's regex does
                end = self.text.rfind(ch, self.pos + 1)
                if end == -1:
                    raise self.error(f"closing {ch}")
            value = self.text[self.pos + 1 : end].replace("\\" + ch, ch).replace("\\\\", "\\")
            self.pos = end + 1
            self.skip_spaces()
            return self.resolved(value)
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in stops:
            self.pos += 2 if self.text[self.pos : self.pos + 2] == "\\," else 1
        return self.resolved(self.text[start : self.pos].replace("\\,", ",").strip())


def parse_shorthand(text: str, option: str) -> Any:
    """Parse AWS CLI shorthand into nested dicts, lists and strings."""
    return _Shorthand(text, option).parse()


# -- typed conversion ----------------------------------------------------------------------------------


def _is_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[", '"')


def _json(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(
            f"Error parsing parameter '{option}': Invalid JSON: {exc}\nJSON received: {text}"
        ) from None


def decode_blob(value: str, option: str, raw_blobs: bool = False) -> bytes:
    """A blob given as text: ``fileb://`` raw bytes, else base64 (``file://`` reads the base64 text);
    with ``raw_blobs`` the text itself (UTF-8)."""
    if value.startswith("fileb://"):
        data = read_param_file(value[8:], True, option)
        assert isinstance(data, bytes)
        return data
    if raw_blobs:
        return _text(load_text(value, option), option).encode("utf-8")
    return base64_blob(load_text(value, option), option)


def base64_blob(text: str, option: str) -> bytes:
    """Blob text read as the AWS CLI v2 reads it (Python's lenient ``b64decode``: characters outside
    the alphabet, such as the line breaks of ``base64``'s wrapped output, are dropped). Text that is
    still not base64 stops the call with exit 255, as the AWS CLI's ``InvalidBase64Error`` does when it
    decodes blobs just before sending (``at_send``), but the value is not echoed: it may be a plaintext."""
    try:
        return base64.b64decode(text)
    except (binascii.Error, ValueError):
        raise ParamValueError(
            f"Error parsing parameter '{option}': Invalid base64 (the value is not shown; "
            "use base64 text or fileb://PATH for raw bytes)",
            at_send=True,
        ) from None


def epoch_out_of_range(value: float | int | str) -> bool:
    """Whether botocore gives up on ``value`` as a timestamp with a ``RuntimeError`` (the AWS CLI's
    exit 255) rather than calling it an invalid timestamp (252): a number, or text ``float()`` reads,
    that neither ``datetime.fromtimestamp`` nor the epoch plus that many seconds can represent
    (``99999999999999999``, ``1e400``). A number ``fromtimestamp`` refuses with ``ValueError`` (a
    year below 1, NaN) is an invalid timestamp there, as here."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return False
    try:
        dt.datetime.fromtimestamp(seconds, dt.UTC)
        return False
    except ValueError:
        return False
    except (OverflowError, OSError):
        pass
    try:
        dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
        return False
    except (OverflowError, OSError, ValueError):
        return True


def timestamp_out_of_range(value: Any, option: str) -> ParamValueError:
    """botocore's words for a timestamp :func:`epoch_out_of_range` (found when the call is checked)."""
    return ParamValueError(
        f"Error parsing parameter '{option}': Unable to calculate correct timezone offset for \"{value}\"",
        at_send=True,
    )


def parse_timestamp(value: str, option: str) -> dt.datetime:
    """ISO 8601 or epoch seconds."""
    when = parse_time(value)
    if when is None:
        if epoch_out_of_range(value):
            raise timestamp_out_of_range(value, option)
        raise UsageError(f"Error parsing parameter '{option}': Invalid timestamp value: {value}")
    return when


def coerce(shape_name: str, value: Any, option: str, raw_blobs: bool = False) -> Any:
    """Convert a parsed (JSON or shorthand) value to the types the shape asks for, as the AWS CLI's
    shorthand visitor does (text to integers and booleans, a scalar to a one-item list, blob text
    decoded). A value of the wrong type otherwise (a list, map or number where text is asked, a
    member the structure does not have) is kept as it is, so that botocore's check
    (``request.check_request``) refuses it in its words (exit 252), as the AWS CLI does: it is never
    made into text (``a=b,c`` is a list, not the context value ``["b", "c"]``)."""
    if value is None:  # botocore: "Invalid type for parameter ..., value: None" (e.g. a skeleton's blob)
        raise UsageError(f"Error parsing parameter '{option}': invalid type for {shape_name}, value: None")
    sh = shape(shape_name)
    kind = sh["type"]
    if kind == "structure":
        if not isinstance(value, dict):
            return value
        members = sh["members"]
        return {
            key: coerce(members[key]["shape"], item, option, raw_blobs) if key in members else item
            for key, item in value.items()
        }
    if kind == "list":
        items = value if isinstance(value, list) else [value]
        return [coerce(sh["member"], item, option, raw_blobs) for item in items]
    if kind == "map":
        if not isinstance(value, dict):
            return value
        return {_text(str(k), option): coerce(sh["value"], v, option, raw_blobs) for k, v in value.items()}
    if kind == "integer":  # the AWS CLI reads it with int() and stops on its ValueError: exit 255
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ParamValueError(f"Error parsing parameter '{option}': {exc}") from None
    if kind == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return value  # a bool already, or a value botocore refuses
    if kind == "blob":
        if isinstance(value, bytes):
            return value
        return decode_blob(value, option, raw_blobs) if isinstance(value, str) else value
    if kind == "timestamp":
        return parse_timestamp(value, option) if isinstance(value, str) else value
    return _text(value, option) if isinstance(value, str) else value


def _text(value: str, option: str) -> str:
    """Refuse text that is not valid Unicode (undecodable argv bytes, JSON lone surrogates)."""
    return require_text(value, option)


def parse_value(shape_name: str, raw: str | tuple[str, ...], option: str, raw_blobs: bool = False) -> Any:
    """Turn one option's command-line text into a request value of ``shape_name``."""
    sh = shape(shape_name)
    kind = sh["type"]
    if kind == "list":
        tokens = list(raw) if isinstance(raw, tuple) else [raw]
        if len(tokens) == 1:  # the AWS CLI resolves file:// and fileb:// for a list given one value
            loaded = load_param(tokens[0], option)
            if isinstance(loaded, bytes):
                return coerce(shape_name, [loaded], option, raw_blobs)
            if loaded.lstrip().startswith("["):
                return coerce(shape_name, _json(loaded, option), option, raw_blobs)
            tokens = [loaded]
        member = shape(sh["member"])
        if member["type"] == "structure":
            items = [_json(t, option) if _is_json(t) else parse_shorthand(t, option) for t in tokens]
            return coerce(shape_name, items, option, raw_blobs)
        return coerce(shape_name, tokens, option, raw_blobs)
    assert isinstance(raw, str)
    if kind == "blob":
        return decode_blob(raw, option, raw_blobs)
    loaded = load_param(raw, option)
    if isinstance(loaded, str) and kind in ("map", "structure"):
        if loaded.lstrip().startswith("["):  # JSON, but not an object: the AWS CLI's words
            raise UsageError(f"Error parsing parameter '{option}': Invalid JSON:\n{loaded}")
        parsed = _json(loaded, option) if _is_json(loaded) else parse_shorthand(loaded, option)
        return coerce(shape_name, parsed, option, raw_blobs)
    return coerce(shape_name, loaded, option, raw_blobs)
