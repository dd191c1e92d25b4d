"""The fast path for audit queries (kmscli/cli/fastpath.py, ``_parse_audit``) against the Click group.

Differential, as tests/cli/test_fastpath.py does for operations: every command line in the table
goes through both paths. Where the fast path takes it, ``run_query`` must receive what the Click
callback hands it; end to end (indexed with a session, scanned with --log-file, every output
format, --query, bad input), stdout, stderr and the exit code must be identical.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kmscli.audit import index
from kmscli.audit.log import segments
from kmscli.cli import fastpath
from kmscli.cli import options as o
from tests.helpers import assert_both_paths_hand_over_alike, click_only, count_index_reads, run_cli, subst

#: (argv, does the fast path take it?); LOG stands for the vault's audit folder.
TABLE: list[tuple[list[str], bool]] = [
    (["audit"], True),
    (["audit", "--event-name", "Encrypt"], True),
    (["audit", "--event-name", "Encrypt", "--event-name", "Decrypt"], True),
    (["audit", "--event-name=Encrypt", "--encryption-context", "object=o1"], True),
    (["audit", "--encryption-context", "object=o1", "--encryption-context", "team=a"], True),
    (["audit", "--errors-only", "--principal", "root"], True),
    (["audit", "--key-id", "alias/fast"], True),
    (["audit", "--key-id", "KEY", "--start-time", "2000-01-01", "--end-time", "2999-01-01"], True),
    (["audit", "--start-time", "7d"], True),
    (["audit", "--access-key-id", "AKIAEXAMPLE", "--source-ip-address", "127.0.0.1"], True),
    (["audit", "--event-name", "Encrypt", "--max-items", "2"], True),
    (["audit", "--event-name", "Encrypt", "--max-items=1", "--output", "json"], True),
    (["audit", "--output", "jsonl", "--query", "eventName"], True),
    (["audit", "--output", "json", "--query", "requestParameters.encryptionContext"], True),
    (["audit", "--output", "yaml", "--event-name", "Encrypt"], True),
    (["audit", "--output", "yaml-stream", "--query", "eventName"], True),
    (["audit", "--output", "text", "--event-name", "Encrypt"], True),
    (["audit", "--output", "table", "--encryption-context", "object=o2"], True),
    (["audit", "--output", "table", "--event-name", "Nothing"], True),
    (["audit", "--output", "json", "--event-name", "Nothing"], True),
    (["audit", "--output", "yaml", "--event-name", "Nothing"], True),
    (["--output", "yaml", "audit", "--event-name", "Encrypt"], True),
    (["--output", "text", "audit", "--output", "jsonl"], True),
    (["--no-cli-pager", "audit", "--color", "off", "--output", "table"], True),
    (["audit", "--log-file", "LOG", "--encryption-context", "object=o1"], True),
    (["audit", "--log-file=LOG", "--output", "json", "--event-name", "Encrypt"], True),
    (["audit", "--ev", "Encrypt", "--encryption-c", "object=o1"], True),  # abbreviations
    (["audit", "--event-name", "Encrypt", "--debug"], True),
    # bad input: the query's own errors, identical on both paths
    (["audit", "--start-time", "yesterday-ish"], True),
    (["audit", "--start-time", "2026-12-01", "--end-time", "2026-01-01"], True),
    (["audit", "--encryption-context", "novalue"], True),
    (["audit", "--encryption-context", "=v"], True),
    (["audit", "--output", "text", "--query", "eventName"], True),
    (["audit", "--output", "table", "--query", "eventName"], True),
    (["audit", "--query", "[[["], True),
    (["--output", "json", "audit", "--query", "[[["], True),
    (["--vault", "/nonexistent/vault/dir", "audit", "--event-name", "Encrypt"], True),
    # left to Click: help, subcommands, its parameter errors, anything unusual
    (["audit", "--help"], False),
    (["audit", "--he"], False),
    (["audit", "-h"], False),
    (["audit", "verify"], False),
    (["audit", "stats", "--event-name", "Encrypt"], False),
    (["audit", "--event-name", "Encrypt", "tail"], False),
    (["audit", "--event-name", "Encrypt", "Decrypt"], False),
    (["audit", "--e", "x"], False),  # ambiguous
    (["audit", "--max-items", "0"], False),
    (["audit", "--max-items", "x"], False),
    (["audit", "--log-file", "/nonexistent/log"], False),
    (["audit", "--output", "xml"], False),
    (["--output", "jsonl", "audit"], False),  # the root's --output has no jsonl
    (["audit", "--bogus"], False),
    (["audit", "--errors-only=yes"], False),
    (["audit", "--event-name"], False),
    (["audit", "--event-name", "-x"], False),
    (["audit", "--", "--event-name", "Encrypt"], False),
    (["--endpoint-url", "http://127.0.0.1:9", "audit"], False),
    (["audit", "--endpoint-url", "http://127.0.0.1:9"], False),
]


@pytest.fixture
def logged(
    env: Path, vault: Path, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """A vault whose log spans sealed, indexed segments, and a session (so queries use the index)."""
    (tmp_path / "config.toml").write_text("[default]\naudit_segment_bytes = 4096\n")
    key = cli("create-key", "--query", "KeyMetadata.KeyId", "--output", "text").out.strip()
    assert cli("create-alias", "--alias-name", "alias/fast", "--target-key-id", key).code == 0
    for i in range(8):
        ctx = f"object=o{i % 3},team=a" if i % 2 else f"object=o{i % 3}"
        assert cli("encrypt", "--key-id", key, "--plaintext", "aGk=", "--encryption-context", ctx).code == 0
    assert cli("decrypt", "--ciphertext-blob", "bm90IGEgYmxvYg==").code == 254  # a refused call
    monkeypatch.setenv("KMSCLI_SESSION", cli("unlock", "--raw").out.strip())
    segs = segments(vault / "audit")
    assert len(segs) >= 3 and all(os.path.exists(index.index_path(s)) for s in segs[:-1])
    return {"KEY": key, "LOG": str(vault / "audit")}


@pytest.mark.parametrize(("argv", "fast"), TABLE, ids=[" ".join(a)[:60] for a, _ in TABLE])
def test_fast_path_takes_exactly_the_plain_audit_queries(argv: list[str], fast: bool, tmp_path: Path) -> None:
    parsed = fastpath.parse(subst(argv, {"KEY": "k", "LOG": str(tmp_path)}))
    assert (parsed is not None) is fast
    assert parsed is None or parsed.command == fastpath.AUDIT


def test_both_paths_hand_run_query_the_same_values(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wherever the fast path takes a command line, the Click callback calls run_query identically."""
    from kmscli.cli import audit_cmds, auditquery

    seen: list[tuple[Any, ...]] = []

    def record(inv: Any, found: dict[str, Any], max_items: int | None) -> None:
        seen.append((inv.options, found, max_items))

    monkeypatch.setattr(audit_cmds, "run_query", record)  # the Click callback's
    monkeypatch.setattr(auditquery, "run_query", record)  # the fast path's (imported when run)
    names = {"KEY": "1234abcd-12ab-34cd-56ef-1234567890ab", "LOG": str(tmp_path)}
    assert_both_paths_hand_over_alike(TABLE, names, seen)


def test_both_paths_print_and_exit_alike(logged: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """stdout, stderr and the exit code are identical with and without the fast path, indexed (a
    session) and scanned (--log-file), in every output format and for every error."""
    answered = 0
    for argv, _fast in TABLE:
        if any(a in ("--help", "--he", "-h") for a in argv):
            continue  # help text is Click's on both paths
        args = subst(argv, logged)
        fast = run_cli(args)
        slow = click_only(args, monkeypatch)
        assert (fast.code, fast.out, fast.err) == (slow.code, slow.out, slow.err), args
        answered += fast.code == 0 and bool(fast.out.strip())
    assert answered >= 20  # the table is not a list of failures


def test_every_format_answers_from_the_index_as_a_scan(
    logged: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path's indexed answer in each format is the scan's (--log-file) and Click's."""
    from kmscli.cli import auditquery

    used = count_index_reads(monkeypatch)
    for fmt in o.AUDIT_QUERY_FORMATS:
        args = ["audit", "--encryption-context", "object=o1", "--output", fmt]
        used.clear()
        indexed = run_cli(args)
        assert indexed.code == 0 and used, fmt  # the fast path used the index
        assert indexed.out.count("o1") >= 3, fmt
        if fmt in auditquery.DATA_FORMATS:  # the views show aliases, which --log-file does not know
            assert indexed.out == run_cli([*args, "--log-file", logged["LOG"]]).out, fmt
        assert click_only(args, monkeypatch).out == indexed.out, fmt


def test_a_query_that_fails_after_parsing_is_reported_as_on_the_click_path(
    logged: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupt or a closed pipe while printing: exit 130 with a newline, or exit 1 quietly."""
    from kmscli.cli import auditquery

    def interrupted(*_args: Any) -> None:
        raise KeyboardInterrupt

    def broken(*_args: Any) -> None:
        import errno

        raise OSError(errno.EPIPE, "Broken pipe")

    def run(args: list[str], slow: bool) -> tuple[int, str]:
        try:
            res = click_only(args, monkeypatch) if slow else run_cli(args)
        except SystemExit as exc:  # a broken pipe exits through sys.exit, as Click's main does
            return int(str(exc.code)), ""
        return res.code, res.err

    from kmscli.cli import audit_cmds

    for failure, expected in ((interrupted, 130), (broken, 1)):
        with monkeypatch.context() as m:
            m.setattr(auditquery, "run_query", failure)
            m.setattr(audit_cmds, "run_query", failure)
            slow = run(["audit", "--event-name", "Encrypt"], True)
            fast = run(["audit", "--event-name", "Encrypt"], False)
        assert fast == slow and fast[0] == expected


def test_the_audit_options_are_declared_once_and_do_not_clash() -> None:
    """Click's audit group is built from the same declarations the fast path reads."""
    from kmscli.cli.audit_cmds import audit

    table, takes, defaults = fastpath.audit_table()
    click_names = {name for p in audit.params for name in (*p.opts, *p.secondary_opts)}
    assert set(table) == click_names - {"--help"} and takes["--help"] is False
    assert set(defaults) == {opt.dest for opt in (*o.AUDIT_FILTER_OPTIONS, *o.AUDIT_QUERY_OPTIONS)}


def test_alias_names_are_read_only_for_the_views_that_show_them(
    logged: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records print as stored in JSON, JSON lines and YAML: the alias files are not read for them."""
    from kmscli.service.features import auditops

    calls: list[str] = []
    original = auditops.alias_names
    monkeypatch.setattr(auditops, "alias_names", lambda settings: calls.append("read") or original(settings))
    for fmt in o.AUDIT_QUERY_FORMATS:
        calls.clear()
        res = run_cli(["audit", "--key-id", "alias/fast", "--output", fmt])
        assert res.code == 0 and res.out.strip(), fmt
        assert calls == (["read"] if fmt in ("text", "table") else []), fmt
        if fmt == "text":  # the key column shows the alias of the 8 Encrypt events' key
            assert sum("\tEncrypt\talias/fast\t" in line for line in res.out.splitlines()) == 8
