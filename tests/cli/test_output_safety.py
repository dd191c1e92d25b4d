"""Output: terminal and markup injection (issue 14 item 7), YAML through a real emitter, tables that
never cut ids, the pager for streamed views."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kmscli.cli import render

# window title, conceal, clear screen + home, a one-byte CSI (C1), a bidi override
HOSTILE = "x\x1b]0;pwned\x07\x1b[8mhidden\x1b[2J\x1b[H\x9b31m\u202eevil"
MARKUP = "[/][green]Allowed[/green] [link=http://evil]click[/link]"
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _key(cli: Any, description: str = "k") -> str:
    res = cli("create-key", "--description", description)
    assert res.code == 0, res.err
    return str(res.json()["KeyMetadata"]["KeyId"])


def test_visible_escapes_terminal_controls_and_keeps_text() -> None:
    assert render.visible(HOSTILE) == ("x\\x1b]0;pwned\\x07\\x1b[8mhidden\\x1b[2J\\x1b[H\\x9b31m\\u202eevil")
    assert render.visible("tab\there\nnew") == "tab\\there\\nnew"
    assert render.visible("plain ünïcode ✓ s3://b/k=v") == "plain ünïcode ✓ s3://b/k=v"
    assert RAW.search(render.visible("".join(map(chr, range(0x200))))) is None


def test_description_reaches_the_terminal_escaped(cli: Any) -> None:
    key = _key(cli, HOSTILE + MARKUP)
    res = cli("describe-key", "--key-id", key, "--output", "table", "--color", "on")
    assert res.code == 0, res.err
    assert RAW.search(re.sub(r"\x1b\[[0-9;]*m", "", res.out)) is None
    flat = re.sub(r"[\s│┃|]", "", res.out)
    assert "\\x1b]0;pwned\\x07" in flat
    assert "[green]" in re.sub(r"\x1b\[[0-9;]*m", "", flat)  # markup shown, not interpreted


def test_text_output_is_exact_when_piped_and_escaped_on_a_terminal(cli: Any) -> None:
    """`--output text` is script data (`--query Policy --output text > policy.json` must stay valid
    JSON), so it is exact when piped; on a terminal, controls other than newline and tab are escaped."""
    key = _key(cli, HOSTILE)
    piped = cli("describe-key", "--key-id", key, "--query", "KeyMetadata.Description", "--output", "text")
    assert piped.out == HOSTILE + "\n"
    policy = cli("get-key-policy", "--key-id", key, "--query", "Policy", "--output", "text").out
    assert json.loads(policy)["Statement"]
    shown = render.render({"D": HOSTILE, "P": "a\nb\tc"}, "text", terminal=True)
    assert RAW.search(shown) is None and "\\x1b]0;pwned" in shown and "a\nb\tc" in shown


def test_json_and_yaml_stay_exact(cli: Any) -> None:
    key = _key(cli, HOSTILE + MARKUP)
    doc = cli("describe-key", "--key-id", key, "--output", "json").json()
    assert doc["KeyMetadata"]["Description"] == HOSTILE + MARKUP
    out = cli("describe-key", "--key-id", key, "--output", "yaml").out
    assert re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out) is None  # escaped in a double-quoted scalar
    assert yaml.safe_load(out)["KeyMetadata"]["Description"] == HOSTILE + MARKUP


def _story(cli: Any) -> str:
    key = _key(cli)
    res = cli(
        "encrypt",
        "--key-id",
        key,
        "--plaintext",
        "aGk=",
        "--encryption-context",
        json.dumps({"tenant": HOSTILE, "note": MARKUP}),
    )
    assert res.code == 0, res.err
    return key


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "--output", "table", "--color", "on"],
        ["audit", "--output", "text"],
        ["audit", "tail", "--output", "text"],
        ["audit", "tail", "--output", "table"],
        ["audit", "stats", "--output", "table", "--color", "on"],
        ["audit", "stats", "--output", "text"],
    ],
)
def test_audit_views_show_context_values_escaped(cli: Any, args: list[str]) -> None:
    """The attack: an encryption context carrying terminal escapes and rich markup, replayed to the
    auditor's screen by `kmscli audit` and `audit tail`. Every view shows them escaped and literal."""
    _story(cli)
    res = cli(*args)
    assert res.code == 0, res.err
    plain = re.sub(r"\x1b\[[0-9;]*m", "", res.out)  # rich's own colours (--color on) are fine
    assert RAW.search(plain) is None, repr(res.out[:500])
    if "stats" not in args:
        flat = re.sub(r"[\s│┃─━]", "", plain)
        assert "\\x1b]0;pwned\\x07" in flat
        assert "[/][green]Allowed[/green]" in flat


def test_audit_json_stays_exact(cli: Any) -> None:
    _story(cli)
    events = [json.loads(line) for line in cli("audit", "--output", "jsonl").out.splitlines()]
    contexts = [
        e["requestParameters"].get("encryptionContext") for e in events if e["eventName"] == "Encrypt"
    ]
    assert contexts == [{"tenant": HOSTILE, "note": MARKUP}]


def test_policy_views_escape_principals_and_values(cli: Any, tmp_path: Path) -> None:
    key = _key(cli)
    grant = cli(
        "create-grant",
        "--key-id",
        key,
        "--grantee-principal",
        "arn:aws:iam::111122223333:role/Worker",
        "--operations",
        "Encrypt",
        "--name",
        "g1",
        "--constraints",
        json.dumps({"EncryptionContextEquals": {"tenant": "[red]x\x1b[2J"}}),
    )
    assert grant.code == 0, grant.err
    for args in (
        ["policy", "show", "--key-id", key],
        ["policy", "who-can", "--key-id", key, "--action", "kms:Encrypt"],
    ):
        res = cli(*args, "--output", "table", "--color", "on")
        assert res.code == 0, res.err
        plain = re.sub(r"\x1b\[[0-9;]*m", "", res.out)
        assert RAW.search(plain) is None
        flat = re.sub(r"[\s│┃─━]", "", plain)
        assert "[red]x\\u001b[2J" in flat  # the constraint, as JSON, shown literally
        gid = grant.json()["GrantId"]  # shown whole (folded when narrow), never cut with an ellipsis
        assert "…" not in plain and gid[:16] in flat and gid[-16:] in flat


def test_tables_fold_ids_and_arns_never_cut(cli: Any) -> None:
    keys = [_key(cli) for _ in range(2)]
    for width in ("40", "60"):
        out = render.to_table(
            cli("list-keys", "--output", "json").json(), "ListKeys", color=False, width=int(width)
        )
        assert "…" not in out
        flat = re.sub(r"[\s│┃|]", "", out)
        for key in keys:
            assert f"arn:aws:kms:us-east-1:111122223333:key/{key}" in flat or key in flat


def test_yaml_is_the_libraries_and_reads_back() -> None:
    data = {
        "Keys": [{"KeyId": "1234", "KeyArn": "arn:aws:kms:x"}],
        "Truncated": False,
        "Note": "yes",
        "Count": 3,
        "Empty": [],
        "Map": {},
        "Text": "multi\nline: # not a comment",
        "Null": None,
    }
    out = render.render(data, "yaml")
    assert _yaml12_load(out) == data  # YAML 1.2, as the AWS CLI v2 writes it: `Note: yes` is text
    # keys sorted, as the AWS CLI's YAML sorts them; a numeric-looking string is quoted
    assert out.startswith("Count: 3\n") and "Keys:\n- KeyArn: arn:aws:kms:x\n  KeyId: '1234'\n" in out
    stream = render.render(data, "yaml-stream")
    assert stream.startswith("- Count: 3\n") and _yaml12_load(stream) == [data]


def _yaml12_load(text: str) -> Any:
    """PyYAML's safe loader reading plain scalars by YAML 1.2's rules (render's table of them)."""
    import re

    class Loader(yaml.SafeLoader):
        yaml_implicit_resolvers: dict[str, list[Any]] = {}

    for name, pattern, first in render._YAML12_IMPLICIT:
        starts = [*first, ""] if name == "null" else list(first)
        Loader.add_implicit_resolver(f"tag:yaml.org,2002:{name}", re.compile(pattern), starts)
    return yaml.load(text, Loader=Loader)


def test_yaml_stream_prints_one_item_per_page(cli: Any) -> None:
    keys = {_key(cli) for _ in range(3)}
    res = cli("list-keys", "--page-size", "1", "--output", "yaml-stream")
    assert res.code == 0, res.err
    pages = yaml.safe_load(res.out)
    assert len(pages) == 3 and all(len(p["Keys"]) == 1 for p in pages)
    assert {p["Keys"][0]["KeyId"] for p in pages} == keys
    assert res.out.count("\n- Keys:") + res.out.startswith("- Keys:") == 3
    cut = yaml.safe_load(
        cli("list-keys", "--page-size", "2", "--max-items", "1", "--output", "yaml-stream").out
    )
    # the AWS CLI's yaml-stream prints the service's pages and never the resume token
    assert len(cut) == 1 and len(cut[0]["Keys"]) == 1 and "NextToken" not in cut[0]
    queried = cli("list-keys", "--page-size", "1", "--output", "yaml-stream", "--query", "Keys[].KeyId")
    assert sorted(k for page in yaml.safe_load(queried.out) for k in page) == sorted(keys)


def test_yaml_is_imported_only_when_asked(tmp_path: Path) -> None:
    import subprocess
    import sys

    probe = "import sys; from kmscli.cli import render; render.render({'a': 1}, 'json'); print('yaml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_streamed_views_go_through_the_pager(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """On a terminal, paged_stdout hands stdout to the pager for the block, then gives it back."""
    import io
    import sys

    from kmscli.cli import pager
    from kmscli.invocation import Invocation

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    seen = tmp_path / "paged.txt"
    paging = Invocation({}, {"KMSCLI_PAGER": f"tee {seen}"})
    tty = Tty()
    monkeypatch.setattr(sys, "stdout", tty)
    with pager.paged_stdout(paging):
        assert sys.stdout is not tty
        sys.stdout.write("row\n" * 500)
    assert sys.stdout is tty
    assert seen.read_text() == "row\n" * 500
    with pager.paged_stdout(Invocation({"no_cli_pager": True}, {"KMSCLI_PAGER": f"tee {seen}"})):
        assert sys.stdout is tty
    with pager.paged_stdout(Invocation({}, {"KMSCLI_PAGER": "/does/not/exist"})):  # cannot start: skipped
        assert sys.stdout is tty
    with pager.paged_stdout(Invocation({}, {"KMSCLI_PAGER": ""})):  # paging off
        assert sys.stdout is tty


@pytest.mark.parametrize("group", [[], ["vault"], ["audit"], ["policy"], ["artifact"], ["configure"]])
def test_help_lists_whole_first_sentences(group: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """No command description in a --help listing is cut (mid-word, or with '...')."""
    from click.testing import CliRunner

    from kmscli.cli.listing import first_sentence
    from kmscli.cli.main import cli as root

    monkeypatch.setenv("COLUMNS", "80")
    res = CliRunner().invoke(root, [*group, "--help"], terminal_width=80)
    assert res.exit_code == 0, res.output
    section = res.output.split("Commands:\n", 1)[1]
    flat = " ".join(section.split())
    cmd = root
    ctx = root.make_context("kmscli", [], resilient_parsing=True)
    for name in group:
        cmd = cmd.get_command(ctx, name)  # type: ignore[attr-defined]
    assert "..." not in section
    for name in cmd.list_commands(ctx):  # type: ignore[attr-defined]
        sub = cmd.get_command(ctx, name)  # type: ignore[attr-defined]
        if sub is None or sub.hidden:
            continue
        words = " ".join(first_sentence(sub.help or "").split())
        assert f"{name} {words}".replace("- ", "-") in flat.replace("- ", "-"), name


def _leaf_commands() -> dict[str, Any]:
    """Every command below kmscli beyond the KMS operations (those share one code path), by path."""
    import click

    from kmscli.cli.main import EXTRA_COMMANDS
    from kmscli.cli.main import cli as root

    ctx = click.Context(root)
    found: dict[str, Any] = {}

    def walk(cmd: Any, path: str) -> None:
        if isinstance(cmd, click.Group):
            if cmd.invoke_without_command:
                found[path] = cmd
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), f"{path} {name}")
        elif not cmd.hidden:
            found[path] = cmd

    for name in EXTRA_COMMANDS:
        cmd = root.get_command(ctx, name)
        if cmd is not None and not cmd.hidden:
            walk(cmd, name)
    return found


def test_output_formats_on_every_command(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--output yaml (and table) is honoured by every command, or its --help says why not."""
    key = _story(cli)
    sign_key = cli("create-key", "--key-spec", "ECC_NIST_P256", "--key-usage", "SIGN_VERIFY").json()
    sign_id = sign_key["KeyMetadata"]["KeyId"]
    (tmp_path / "f.txt").write_text("data")
    assert cli("artifact", "sign", str(tmp_path / "f.txt"), "--key-id", sign_id).code == 0
    pem = tmp_path / "pub.pem"
    assert cli("artifact", "public-key", "--key-id", sign_id, "--out", str(pem)).code == 0
    cheap = ["--kdf-memory-kib", "8", "--kdf-iterations", "1", "--kdf-parallelism", "1"]
    runs = {
        "vault status": ["vault", "status"],
        "vault init": ["--vault", str(tmp_path / "v2"), "vault", "init", *cheap],
        "vault backup": ["vault", "backup", "--outfile", str(tmp_path / "b.kmsbak")],
        "vault restore": ["--vault", str(tmp_path / "v3"), "vault", "restore", str(tmp_path / "b.kmsbak")],
        "vault export-key": [
            "vault",
            "export-key",
            "--key-id",
            key,
            "--outfile",
            str(tmp_path / "k.kmsv"),
            *cheap,
        ],
        "vault change-passphrase": ["vault", "change-passphrase", *cheap],
        "artifact sign": ["artifact", "sign", str(tmp_path / "f.txt"), "--key-id", sign_id],
        "artifact verify": [
            "artifact",
            "verify",
            str(tmp_path / "f.txt"),
            "--signature-file",
            str(tmp_path / "f.txt.sig"),
            "--public-key",
            str(pem),
        ],
        "configure list": ["configure", "list"],
        "policy show": ["policy", "show", "--key-id", key],
        "policy simulate": [
            "policy",
            "simulate",
            "--key-id",
            key,
            "--action",
            "kms:Decrypt",
            "--principal",
            "arn:aws:iam::111122223333:root",
        ],
        "policy who-can": ["policy", "who-can", "--key-id", key, "--action", "kms:Decrypt"],
        "policy lint": ["policy", "lint", "--key-id", key],
        "audit": ["audit"],
        "audit stats": ["audit", "stats"],
        "audit verify": ["audit", "verify"],
        "audit checkpoint": ["audit", "checkpoint"],
        "audit tail": ["audit", "tail"],
        "audit export": ["audit", "export", "--format", "cloudtrail", "--out", str(tmp_path / "export")],
        "audit reindex": ["audit", "reindex"],
        "lock": ["lock"],
        "credentials create": ["credentials", "create", "--principal", "arn:aws:iam::111122223333:role/App"],
        "credentials list": ["credentials", "list"],
    }
    monkeypatch.setenv("KMSCLI_NEW_PASSPHRASE", "another passphrase")
    commands = _leaf_commands()
    for path in sorted(commands, key=lambda p: p == "vault change-passphrase"):  # it changes the passphrase
        if path not in runs:
            assert "--output does not apply" in " ".join((commands[path].help or "").split()), (
                f"{path}: honour --output or say why"
            )
            continue
        for fmt in ("yaml", "table"):
            if path.startswith("vault") and fmt == "table":
                continue  # each of these changes the vault: once is enough
            res = cli(*runs[path], "--output", fmt)
            assert res.code == 0, (path, fmt, res.err)
            if fmt == "yaml":
                assert yaml.safe_load(res.out) not in (None, ""), (path, res.out)
            elif path in ("audit", "audit tail", "audit stats") or path.startswith("policy"):  # own views
                assert res.out.strip() and not res.out.lstrip().startswith(("{", "[", "-")), (path, res.out)
            else:  # the AWS CLI's table: a rule of dashes, then the title between bars
                lines = res.out.splitlines()
                assert set(lines[0]) == {"-"} and lines[1].startswith("|"), (path, res.out)


def test_error_messages_show_caller_values_escaped(cli: Any) -> None:
    res = cli("describe-key", "--key-id", "alias/x\x1b]0;pwned\x07\x1b[2J")
    assert res.code in (252, 254)
    assert "\x1b" not in res.err and "\x07" not in res.err
    assert "\\x1b]0;pwned\\x07" in res.err


@pytest.mark.parametrize("args", [["audit"], ["policy", "show", "--key-id", "KEY"], ["audit", "stats"]])
def test_long_audit_and_policy_views_page_on_a_terminal(
    cli: Any, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end on a pseudo-terminal: the views go through KMSCLI_PAGER, as the other commands do."""
    import os
    import pty
    import subprocess
    import sys

    key = _story(cli)
    seen = tmp_path / "paged.txt"
    monkeypatch.setenv("KMSCLI_PAGER", f"tee {seen}")
    monkeypatch.setenv("COLUMNS", "100")
    import threading

    master, slave = pty.openpty()

    def drain() -> None:  # the terminal's side: read everything, so no write ever blocks
        try:
            while os.read(master, 65536):
                pass
        except OSError:
            pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        argv = [sys.executable, "-m", "kmscli", *(key if a == "KEY" else a for a in args)]
        proc = subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(slave)
        reader.join(timeout=5)
        os.close(master)
    assert proc.returncode == 0, proc.stderr
    shown = seen.read_text()
    assert shown.strip(), "nothing went through the pager"
    assert "\x1b]0;" not in shown
