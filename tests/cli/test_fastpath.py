"""The Click-free fast path (kmscli/cli/fastpath.py) against the Click commands it stands in for.

Differential: every command line in a broad table goes through both paths. Where the fast path
accepts it, the request handed to run_operation must be the one Click builds; end to end, stdout,
stderr and the exit code must be identical whichever path runs.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from kmscli.__main__ import main
from kmscli.cli import fastpath
from tests.helpers import assert_both_paths_hand_over_alike, assert_output_shape, click_only, run_cli, subst

B64 = base64.b64encode(b"hello").decode()

#: (argv, does the fast path take it?) with KEY standing for a key id. Bad ones included.
TABLE: list[tuple[list[str], bool]] = [
    (["encrypt", "--key-id", "KEY", "--plaintext", B64], True),
    (["encrypt", "--key-id=KEY", f"--plaintext={B64}"], True),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--encryption-context", "a=1,b=2"], True),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--encryption-context", '{"a":"1"}'], True),
    (["--output", "text", "encrypt", "--key-id", "KEY", "--plaintext", B64, "--query", "KeyId"], True),
    (["--output=json", "--debug", "encrypt", "--key-id", "KEY", "--plaintext", B64], True),
    (["--output", "text", "encrypt", "--key-id", "KEY", "--plaintext", B64, "--output", "json"], True),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--grant-tokens", "t1", "t2", "t3"], True),
    (
        ["encrypt", "--key-id", "KEY", "--grant-tokens", "t1", "--plaintext", B64, "--grant-tokens", "t2"],
        True,
    ),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--grant-tokens=t1"], True),
    (
        ["encrypt", "--key-id", "KEY", "--plaintext", B64, "--grant-tokens", "a", "b", "--grant-tokens", "c"],
        True,
    ),
    (
        ["encrypt", "--key-id", "KEY", "--plaintext", B64, "--grant-t", "a", "--grant-tokens=c", "--dry-run"],
        True,
    ),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--dry-run"], True),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--dry-run", "--no-dry-run"], True),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--no-cli-pager", "--color", "off"], True),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--encryption-algorithm", "SYMMETRIC_DEFAULT"], True),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--encryption-algorithm", "NOPE"], True),
    (["encrypt", "--key-id", "KEY", "--plaintext", "not base64!"], True),
    (["encrypt", "--key-id", "KEY"], True),  # missing --plaintext: build_request's error, both paths
    (["encrypt"], True),
    (["encrypt", "--key-id", "KEY", "--plaintext="], True),
    (["list-keys", "--max-items", "0"], True),
    (["list-keys", "--max-items", "007"], True),
    (["get-public-key", "--key-id", "KEY"], True),
    (["encrypt", "--key-id", "", "--plaintext", B64], True),
    (["encrypt", "--key-id", "alias/none", "--plaintext", B64], True),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--query", "[[["], True),
    (["encrypt", "--key-id", "KEY", "--plaintext", "fileb:///nonexistent/file"], True),
    (["encrypt", "--cli-input-json", '{"KeyId": "KEY", "Plaintext": "aGk="}'], True),
    (["encrypt", "--cli-input-json", '{"KeyId": "KEY", "Nope": 1}'], True),
    (["encrypt", "--cli-input-json", "{not json"], True),
    (["encrypt", "--generate-cli-skeleton"], True),
    (["encrypt", "--generate-cli-skeleton", "input"], True),
    (["encrypt", "--generate-cli-skeleton=output", "--key-id", "KEY", "--plaintext", B64], True),
    (["encrypt", "--generate-cli-skeleton", "--key-id", "KEY"], True),
    (["describe-key", "--key-id", "KEY"], True),
    (["describe-key", "--key-id", "KEY", "--output", "yaml"], True),
    (["describe-key", "--key-id", "KEY", "--output", "table"], True),
    (["describe-key", "--key-id", "nope-not-a-key"], True),
    (["list-keys"], True),
    (["list-keys", "--max-items", "1"], True),
    (["list-keys", "--page-size", "1", "--max-items", "2", "--query", "Keys[].KeyId"], True),
    (["list-keys", "--no-paginate", "--limit", "1"], True),
    (["list-keys", "--starting-token", "garbage"], True),
    (["list-aliases", "--key-id", "KEY"], True),
    (["get-key-policy", "--key-id", "KEY", "--policy-name", "default", "--output", "text"], True),
    (["generate-random", "--number-of-bytes", "0"], True),
    (["generate-random", "--number-of-bytes", "abc"], True),
    (["disable-key", "--key-id", "DISABLED"], True),
    (["encrypt", "--key-id", "DISABLED", "--plaintext", B64], True),
    (["--region", "eu-west-1", "list-keys"], True),
    (["--vault", "/nonexistent/vault/dir", "list-keys"], True),
    # left to Click: its help, errors and anything unusual
    (["encrypt", "--help"], False),
    (["-h"], False),
    (["--version"], False),
    ([], False),
    (["--output", "json"], False),
    (["encrypt", "--key-id"], False),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "extra"], False),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--bogus"], False),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--dry-run=yes"], False),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--output", "xml"], False),
    (["--output", "xml", "encrypt", "--key-id", "KEY", "--plaintext", B64], False),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--generate-cli-skeleton", "bad"], False),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--generate-cli-skeleton=bad"], False),
    (["encrypt", "--key-id", "-x", "--plaintext", B64], False),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--grant-tokens", "a", "-b"], False),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "-h"], False),
    (["encrypt", "--key-id", "KEY", "--", "--plaintext", B64], False),
    # abbreviations (argparse's rule), the AWS CLI v2 globals, --no-paginate before the command
    (["encrypt", "--key", "KEY", "--plain", B64, "--encryption-c", "a=1"], True),
    (["--out", "text", "--que", "KeyId", "encrypt", "--key-id=KEY", f"--plaintext={B64}"], True),
    (
        ["encrypt", "--key-id", "KEY", "--plaintext", "hi there", "--cli-binary-format", "raw-in-base64-out"],
        True,
    ),
    (["encrypt", "--key-id", "KEY", "--plaintext", "hi", "--cli-binary-format", "raw"], False),
    (["--no-paginate", "list-keys", "--page-size", "1"], True),
    (["--no-sign-request", "--no-cli-auto-prompt", "--cli-read-timeout", "3", "list-keys"], True),
    (["--endpoint-url", "http://127.0.0.1:9", "list-keys"], True),
    (["encrypt", "--key-id", "KEY", "--plaintext", B64, "--encryption", "x"], False),
    (["--no", "list-keys"], False),
    (["list-keys", "--max-items", "-1"], False),
    (["list-keys", "--max-items", "x"], False),
    (["--bogus", "list-keys"], False),
    (["no-such-command"], False),
    (["vault", "status"], False),
    (["audit", "verify"], False),
    (["export-key-material", "--key-id", "KEY", "--outfile", "/tmp/x"], False),
]


def _setup(cli: Any) -> dict[str, str]:
    key = cli("create-key", "--description", "fast").json()["KeyMetadata"]["KeyId"]
    disabled = cli("create-key").json()["KeyMetadata"]["KeyId"]
    assert cli("disable-key", "--key-id", disabled).code == 0
    assert cli("create-alias", "--alias-name", "alias/fast", "--target-key-id", key).code == 0
    return {"KEY": key, "DISABLED": disabled}


@pytest.mark.parametrize(("argv", "fast"), TABLE, ids=[" ".join(a)[:60] or "(empty)" for a, _ in TABLE])
def test_fast_path_takes_exactly_the_plain_command_lines(argv: list[str], fast: bool) -> None:
    assert (fastpath.parse(subst(argv, {"KEY": "k", "DISABLED": "d"})) is not None) is fast


def test_both_paths_hand_run_operation_the_same_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wherever the fast path accepts a command line, Click would call run_operation identically."""
    import kmscli.cli.run as run_module

    seen: list[tuple[Any, ...]] = []
    # the Click callback hands over an Invocation; the fast path builds it from parsed.opts
    monkeypatch.setattr(
        run_module, "run_operation", lambda op, v, e, inv: seen.append((op, v, e, inv.options))
    )
    assert_both_paths_hand_over_alike(
        TABLE, {"KEY": "1234abcd-12ab-34cd-56ef-1234567890ab", "DISABLED": "d"}, seen
    )


def test_both_paths_print_and_exit_alike(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """stdout, stderr and the exit code are identical with and without the fast path."""
    names = _setup(cli)
    for argv, _fast in TABLE:
        if "--help" in argv or argv[:1] == ["disable-key"]:
            continue  # help text is Click's on both paths; disable-key is done in _setup
        args = subst(argv, names)
        fast = run_cli(args)
        slow = click_only(args, monkeypatch)
        if args[:1] == ["generate-random"] or ("encrypt" in args and "KeyId" not in args):
            # random output: compare everything but the random bytes
            assert (fast.code, fast.err) == (slow.code, slow.err), args
            if fast.code == 0 and fast.out.startswith("{") and not any("skeleton" in a for a in args):
                assert json.loads(fast.out).keys() == json.loads(slow.out).keys()
            continue
        assert (fast.code, fast.out, fast.err) == (slow.code, slow.out, slow.err), args


def test_fast_path_encrypt_decrypt_round_trip(cli: Any, tmp_path: Path) -> None:
    names = _setup(cli)
    payload = tmp_path / "p.bin"
    payload.write_bytes(b"\x00secret\xff")
    enc = cli(
        "encrypt",
        "--key-id",
        "alias/fast",
        "--plaintext",
        f"fileb://{payload}",
        "--encryption-context",
        "purpose=test",
    )
    assert enc.code == 0, enc.err
    assert_output_shape("Encrypt", enc.json())
    blob = enc.json()["CiphertextBlob"]
    dec = cli("decrypt", "--ciphertext-blob", blob, "--encryption-context", "purpose=test")
    assert dec.code == 0, dec.err
    assert_output_shape("Decrypt", dec.json())
    assert base64.b64decode(dec.json()["Plaintext"]) == b"\x00secret\xff"
    assert dec.json()["KeyId"].endswith(names["KEY"])
    wrong = cli("decrypt", "--ciphertext-blob", blob, "--encryption-context", "purpose=other")
    assert wrong.code == 254
    assert "InvalidCiphertextException" in wrong.err
    tampered = base64.b64decode(blob)
    tampered = tampered[:-1] + bytes([tampered[-1] ^ 1])
    bad = cli("decrypt", "--ciphertext-blob", base64.b64encode(tampered).decode())
    assert bad.code == 254
    assert "InvalidCiphertextException" in bad.err
    assert "Traceback" not in bad.err


def test_fast_path_sign_and_wrong_key_usage(cli: Any) -> None:
    names = _setup(cli)
    ec = cli("create-key", "--key-spec", "ECC_NIST_P256", "--key-usage", "SIGN_VERIFY").json()
    ec_id = ec["KeyMetadata"]["KeyId"]
    msg = ["--message", B64, "--message-type", "RAW", "--signing-algorithm", "ECDSA_SHA_256"]
    sig = cli("sign", "--key-id", ec_id, *msg)
    assert sig.code == 0, sig.err
    assert_output_shape("Sign", sig.json())
    ok = cli("verify", "--key-id", ec_id, *msg, "--signature", sig.json()["Signature"])
    assert ok.code == 0 and ok.json()["SignatureValid"] is True
    wrong = cli("sign", "--key-id", names["KEY"], *msg)
    assert wrong.code == 254
    assert "InvalidKeyUsageException" in wrong.err


def test_fast_path_does_not_import_click(cli: Any) -> None:
    """The point of the fast path: an operation command runs without Click (checked in a child)."""
    import subprocess

    names = _setup(cli)
    code = (
        "import sys; from kmscli.__main__ import main; "
        f"rc = main(['encrypt', '--key-id', {names['KEY']!r}, '--plaintext', {B64!r}]); "
        "assert rc == 0, rc; assert 'click' not in sys.modules, 'click imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["KeyId"].endswith(names["KEY"])


def test_option_table_matches_the_click_commands() -> None:
    """Every option the fast path knows is one the generated Click command has, with the same kind."""
    from click import Option

    from kmscli.cli.opcommand import build_command
    from kmscli.service.pipeline.registry import OPERATION_MODULES

    for op in OPERATION_MODULES:
        built = fastpath.option_table(op)
        command = build_command(op)
        click_opts: dict[str, Option] = {}
        for param in command.params:
            assert isinstance(param, Option)
            for name in [*param.opts, *param.secondary_opts]:
                click_opts[name] = param
        if built is None:
            assert "--outfile" in click_opts, op
            continue
        table, takes, _, _ = built
        assert set(table) == set(click_opts), op
        for name, (spec, _const) in table.items():
            param = click_opts[name]
            assert (spec.kind in ("flag", "bool")) == (param.is_flag and not param._flag_needs_value), (
                op,
                name,
            )
            assert (spec.kind == "list") == param.multiple, (op, name)
            assert takes[name] == (not param.is_flag and not param._flag_needs_value), (op, name)
            choices = getattr(param.type, "choices", None)
            if spec.choices is not None:
                assert tuple(choices or ()) == spec.choices, (op, name)


def test_cyclic_gc_is_back_on_after_any_command(cli: Any) -> None:
    """The fast path pauses the cyclic collector while it runs; it must be on again afterwards,
    after a success, a KMS error and a fallback to Click alike."""
    import gc

    names = _setup(cli)
    assert cli("describe-key", "--key-id", names["KEY"]).code == 0
    assert gc.isenabled()
    assert cli("describe-key", "--key-id", "alias/missing").code == 254
    assert gc.isenabled()
    assert cli("describe-key", "--bogus").code == 252
    assert gc.isenabled()


@pytest.mark.parametrize(
    "failure",
    [KeyboardInterrupt(), EOFError(), BrokenPipeError(32, "Broken pipe"), OSError(5, "I/O error")],
    ids=["interrupt", "eof", "broken-pipe", "other-oserror"],
)
def test_interrupts_and_broken_pipes_end_alike(
    cli: Any, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    """What click.Command.main does around the callback, the fast path does around run_operation."""
    import kmscli.cli.run as run_module

    names = _setup(cli)
    args = ["describe-key", "--key-id", names["KEY"]]
    assert fastpath.parse(args) is not None

    def boom(*_args: Any) -> None:
        raise failure

    def run(disable_fast: bool) -> tuple[Any, str, str]:
        with monkeypatch.context() as m:
            m.setattr(run_module, "run_operation", boom)
            m.setattr(sys, "stdout", sys.stdout)  # Click may wrap them: undo afterwards
            m.setattr(sys, "stderr", sys.stderr)
            if disable_fast:
                m.setattr(fastpath, "parse", lambda _args: None)
            try:
                result = run_cli(args)
            except SystemExit as exc:
                return ("exit", exc.code), "", ""
            return result.code, result.out, result.err

    assert run(False) == run(True)
    if isinstance(failure, KeyboardInterrupt | EOFError):  # as the AWS CLI v2: the newline on stdout
        assert run(False) == (130, "\n", "")


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), EOFError()], ids=["interrupt", "eof"])
def test_an_interrupt_in_a_click_command_ends_as_the_aws_cli_ends_it(
    cli: Any, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    """Click would write its newline to stderr; the AWS CLI writes it to stdout (errorhandler.py,
    InterruptExceptionHandler), and so does kmscli, once."""
    import click

    from kmscli.service.features import vaultops

    def boom(*_args: Any) -> None:
        raise failure

    monkeypatch.setattr(vaultops, "status", boom)
    res = cli("vault", "status")
    assert (res.code, res.out, res.err) == (130, "\n", "")

    def prompt(*_args: Any, **_kwargs: Any) -> None:
        raise click.Abort  # what click.prompt raises on Ctrl-C, after ending the prompt's line

    monkeypatch.setattr(vaultops, "status", prompt)
    res = cli("vault", "status")
    assert (res.code, res.out, res.err) == (130, "\n", "")


def test_shell_completion_requests_go_to_click(monkeypatch: pytest.MonkeyPatch) -> None:
    """With Click's completion variable set, Click must answer (it completes instead of running)."""
    args = ["encrypt", "--key-id", "k", "--plaintext", B64]
    assert fastpath.parse(args) is not None
    monkeypatch.setenv(fastpath.COMPLETE_VAR, "bash_complete")
    assert fastpath.parse(args) is None
    monkeypatch.setenv("COMP_WORDS", "kmscli list-k")
    monkeypatch.setenv("COMP_CWORD", "1")
    out = io.TextIOWrapper(io.BytesIO())
    with redirect_stdout(out), pytest.raises(SystemExit):
        main(["list-keys"])  # parses as a plain command line: still Click's completion answers
    out.flush()
    assert b"list-keys" in out.buffer.getvalue()  # type: ignore[attr-defined]


def test_command_groups_fall_back_without_loading_the_service_core() -> None:
    """`kmscli vault ...` and friends pay nothing for the fast path's attempt (checked in a child)."""
    import subprocess

    code = (
        "import sys; from kmscli.cli import fastpath; "
        "assert fastpath.parse(['vault', 'status']) is None; "
        "assert fastpath.parse(['--output', 'json', 'audit', 'verify']) is None; "
        "assert 'kmscli.service.pipeline.core' not in sys.modules, 'core imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_every_registered_operation_is_a_fast_command() -> None:
    """The fast path knows every command cli/main.py builds from the registry."""
    from kmscli.cli.request import command_name
    from kmscli.service.pipeline.registry import OPERATION_MODULES

    for op in OPERATION_MODULES:
        if fastpath.option_table(op) is not None:
            assert fastpath.parse([command_name(op), "--generate-cli-skeleton"]) is not None, op
