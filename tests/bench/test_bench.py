"""The bench/ suite's logic, so it cannot rot between `make bench` runs (no benchmark runs here)."""

from __future__ import annotations

import importlib
import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import common, encrypt_profile, moto_peer, run_all, scale
from bench.common import BenchError, Comparison

BENCH_MODULES = ["startup", "encrypt_passphrase", "encrypt_session", "sign_session", "scale"]


@pytest.mark.parametrize("name", BENCH_MODULES)
def test_each_benchmark_module_declares_name_target_and_measure(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert isinstance(module.NAME, str) and module.NAME
    assert 0 < module.TARGET <= 3
    assert callable(module.measure)


def test_run_all_wires_every_benchmark_module() -> None:
    source = Path(run_all.__file__).read_text()
    for name in BENCH_MODULES:
        assert f"{name}.measure(" in source


# -- ratios and verdicts ---------------------------------------------------------------------------


def test_ratio_and_pass_at_the_target() -> None:
    row = Comparison("x", "a", "b", 0.5, ours_s=0.1, peer_s=0.2)
    assert row.ratio == pytest.approx(0.5)
    assert row.status == "PASS"  # the target is inclusive: <=


def test_fail_above_the_target() -> None:
    assert Comparison("x", "a", "b", 0.15, ours_s=0.2, peer_s=1.0).status == "FAIL"


def test_unmeasured_row_is_na_and_error_row_is_error() -> None:
    row = common.not_available("x", "a", "b", 0.15, "no sessions yet")
    assert row.ratio is None and row.status == "n/a" and row.note == "n/a (no sessions yet)"
    broken = Comparison("x", "a", "b", 1.0, ours_s=0.1, peer_s=0.2, error="boom")
    assert broken.status == "ERROR"


def test_zero_peer_time_gives_no_ratio() -> None:
    assert Comparison("x", "a", "b", 1.0, ours_s=0.1, peer_s=0.0).ratio is None


def test_reported_ratio_is_used_when_medians_are_unknown() -> None:
    row = Comparison("audit", "a", "b", 0.25, reported_ratio=0.3)
    assert row.ratio == 0.3 and row.status == "FAIL"


def test_median_of_odd_even_and_empty() -> None:
    assert common.median([3.0, 1.0, 2.0]) == 2.0
    assert common.median([1.0, 2.0, 3.0, 4.0]) == 2.5
    with pytest.raises(BenchError):
        common.median([])


# -- formatting ------------------------------------------------------------------------------------------


def test_format_seconds_and_ratio() -> None:
    assert common.format_seconds(None) == "-"
    assert common.format_seconds(0.0421) == "42.1 ms"
    assert common.format_seconds(12.5) == "12.50 s"
    assert common.format_ratio(None) == "-"
    assert common.format_ratio(0.14449) == "0.144"


def test_format_table_rows_verdicts_and_alignment() -> None:
    rows = [
        Comparison("start-up", "kmscli --version", "python -c pass", 3, ours_s=0.05, peer_s=0.04),
        Comparison("encrypt (session)", "kmscli encrypt", "aws", 0.15, ours_s=0.3, peer_s=1.0),
        common.not_available("sign", "kmscli sign", "aws", 0.15, "no sessions yet"),
        Comparison("scale", "10k", "10", 1.2, error="kmscli exited 253"),
    ]
    table = common.format_table(rows)
    lines = table.splitlines()
    assert len(lines) == 2 + len(rows)
    assert len({len(line) for line in lines}) == 1  # columns line up on a terminal
    assert lines[0].startswith("| benchmark")
    assert "| 1.250 " in lines[2] and "| PASS" in lines[2] and "<= 3 " in lines[2]
    assert "| 0.300 " in lines[3] and "| FAIL" in lines[3]
    assert "n/a (no sessions yet)" in lines[4]
    assert "ERROR: kmscli exited 253" in lines[5]


def test_replace_figures_replaces_only_the_marked_section() -> None:
    readme = (
        f"# Bench\n\nintro\n\n{common.FIGURES_START}\nold figures\n{common.FIGURES_END}\n\n## After\ntext\n"
    )
    block = common.figures_block("| t |", {"cpu": "X"}, ["note"])
    out = common.replace_figures(readme, block)
    assert "old figures" not in out
    assert out.startswith("# Bench\n\nintro\n\n") and out.endswith("\n\n## After\ntext\n")
    assert "- cpu: X" in out and "| t |" in out and "note" in out
    assert common.replace_figures(out, block) == out  # idempotent
    assert out.count(common.FIGURES_START) == 1


def test_replace_figures_appends_when_markers_are_missing() -> None:
    out = common.replace_figures("# Bench\n", common.figures_block("| t |", {}))
    assert out.startswith("# Bench\n\n## Latest figures\n\n" + common.FIGURES_START)
    assert out.rstrip().endswith(common.FIGURES_END)


def test_bench_readme_has_the_markers() -> None:
    text = common.README.read_text()
    assert text.count(common.FIGURES_START) == 1 and text.count(common.FIGURES_END) == 1


def test_machine_info_names_cpu_cores_python_and_date() -> None:
    info = common.machine_info({"kmscli": "9.9"})
    assert {"date", "cpu", "cores", "python", "kmscli"} <= set(info)
    assert info["python"].endswith(".".join(map(str, sys.version_info[:2])) + f".{sys.version_info[2]}")


# -- running commands ----------------------------------------------------------------------------------


def test_compare_times_both_sides_alternately() -> None:
    env = common.base_env()
    ours, peer = common.compare(
        [sys.executable, "-c", "pass"], env, [sys.executable, "-c", "pass"], env, runs=2, warmup=0
    )
    assert len(ours) == 2 and len(peer) == 2 and all(t > 0 for t in ours + peer)
    with pytest.raises(BenchError):
        common.compare(["true"], env, ["true"], env, runs=0)


def test_a_failing_command_is_a_bench_error_with_its_stderr() -> None:
    with pytest.raises(BenchError, match="exited 3: broken here"):
        common.run(
            [sys.executable, "-c", "import sys; sys.stderr.write('broken here'); sys.exit(3)"],
            common.base_env(),
        )
    with pytest.raises(BenchError):
        common.run(["/nonexistent/program"], common.base_env())


def test_check_json_output_refuses_an_empty_result() -> None:
    env = common.base_env()
    common.check_json_output([sys.executable, "-c", 'print(\'{"Signature": "AA=="}\')'], env, "Signature")
    with pytest.raises(BenchError):
        common.check_json_output([sys.executable, "-c", "print('{}')"], env, "Signature")
    with pytest.raises(BenchError):
        common.check_json_output([sys.executable, "-c", "print('oops')"], env, "Signature")


def test_base_env_drops_kmscli_aws_and_no_bytecode_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMSCLI_SESSION", "secret-token")
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = common.base_env()
    assert "KMSCLI_SESSION" not in env and "AWS_PROFILE" not in env and "PYTHONDONTWRITEBYTECODE" not in env


def _fake_kmscli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    script = tmp_path / "fake_kmscli.py"
    script.write_text(code)
    monkeypatch.setattr(common, "kmscli_argv", lambda: [sys.executable, str(script)])


def test_unlock_session_is_none_without_an_unlock_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_kmscli(
        tmp_path,
        monkeypatch,
        "import sys\nsys.stderr.write(\"Error: No such command 'unlock'.\")\nsys.exit(252)\n",
    )
    assert common.unlock_session({"KMSCLI_PASSPHRASE": "p"}) is None


def test_unlock_session_swaps_the_passphrase_for_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_kmscli(tmp_path, monkeypatch, "print('tok123')\n")
    env = common.unlock_session({"KMSCLI_PASSPHRASE": "p", "PATH": "/bin"})
    assert env == {"KMSCLI_SESSION": "tok123", "PATH": "/bin"}


def test_unlock_session_failure_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_kmscli(tmp_path, monkeypatch, "import sys\nsys.stderr.write('wrong passphrase')\nsys.exit(253)\n")
    with pytest.raises(BenchError, match="wrong passphrase"):
        common.unlock_session({"KMSCLI_PASSPHRASE": "p"})
    _fake_kmscli(tmp_path, monkeypatch, "print('export KMSCLI_SESSION=abc')\n")
    with pytest.raises(BenchError, match="bare token"):
        common.unlock_session({"KMSCLI_PASSPHRASE": "p"})


# -- the moto peer ----------------------------------------------------------------------------------


def test_free_port_is_bindable_on_loopback() -> None:
    port = moto_peer.free_port()
    with socket.socket() as sock:
        sock.bind((moto_peer.LOOPBACK, port))


def test_wait_for_port_gives_up() -> None:
    with pytest.raises(BenchError, match="nothing listens"):
        moto_peer.wait_for_port(moto_peer.LOOPBACK, moto_peer.free_port(), 0.2)


def test_moto_server_refuses_anything_but_loopback() -> None:
    with pytest.raises(BenchError, match="loopback"):
        moto_peer.MotoServer(host="0.0.0.0")


def _fake_venv(tmp_path: Path, body: str) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    server = venv / "bin" / "moto_server"
    server.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    server.chmod(0o755)
    return venv


def test_moto_server_starts_on_loopback_and_always_stops(tmp_path: Path) -> None:
    venv = _fake_venv(
        tmp_path,
        "import http.server\nhost, port = sys.argv[sys.argv.index('-H') + 1], int(sys.argv[sys.argv.index('-p') + 1])\n"
        "http.server.HTTPServer((host, port), http.server.BaseHTTPRequestHandler).serve_forever()",
    )
    server = moto_peer.MotoServer(venv, startup_timeout=20)
    with pytest.raises(RuntimeError, match="inside"), server:
        assert server.endpoint.startswith("http://127.0.0.1:")
        proc = server.proc
        assert proc is not None and proc.poll() is None
        raise RuntimeError("failure inside the block")
    assert proc.poll() is not None  # stopped despite the exception
    assert server.proc is None
    server.stop()  # stopping twice is harmless


def test_moto_server_that_dies_at_start_is_reported(tmp_path: Path) -> None:
    server = moto_peer.MotoServer(_fake_venv(tmp_path, "sys.exit(1)"), startup_timeout=20)
    with pytest.raises(BenchError, match="exited early"):
        server.start()
    assert server.proc is None


def test_aws_cli_uses_the_endpoint_and_dummy_credentials_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "prod")
    aws = moto_peer.AwsCli("http://127.0.0.1:5999")
    argv = aws.argv("encrypt", "--key-id", "k")
    assert argv[1:3] == ["--endpoint-url", "http://127.0.0.1:5999"] and argv[-3:] == [
        "encrypt",
        "--key-id",
        "k",
    ]
    assert aws.env["AWS_ACCESS_KEY_ID"] == "testing" and aws.env["AWS_DEFAULT_REGION"] == moto_peer.REGION
    assert "AWS_PROFILE" not in aws.env
    assert str(common.WORK_DIR) in aws.env["AWS_CONFIG_FILE"]


# -- scale vault, encrypt profile, audit query row ---------------------------------------------------------


def test_scale_vault_is_built_in_process_and_cached(tmp_path: Path) -> None:
    folder = tmp_path / "keys-3"
    vault, key_id = scale.cached_vault(folder, 3)
    files = sorted(p.stem for p in (vault / "keys").rglob("*.json"))
    assert len(files) == 3 and key_id in files
    stamp = json.loads((folder / scale.STAMP).read_text())
    assert stamp["keys"] == 3 and stamp["key_id"] == key_id
    assert scale.cached_vault(folder, 3) == (vault, key_id)  # cached: not rebuilt
    stamp["format"] = -1
    (folder / scale.STAMP).write_text(json.dumps(stamp))
    _, rebuilt = scale.cached_vault(folder, 3)  # stale stamp: rebuilt
    assert rebuilt != key_id


IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |   _io
import time:      2000 |       2500 |     re
import time:       500 |       3000 |   click.core
import time:       300 |       3300 | click
import time:      1000 |       1000 | kmscli.settings
import time:        50 |         50 | __editable___kmscli_0_1_0_finder
some other stderr line
"""


def test_parse_importtime_and_groupings() -> None:
    recs = encrypt_profile.parse_importtime(IMPORTTIME)
    assert [(r.module, r.depth) for r in recs][:4] == [("_io", 1), ("re", 2), ("click.core", 1), ("click", 0)]
    groups = dict(encrypt_profile.by_group(recs))
    assert groups == {"stdlib": 2.1, "click": 0.8, "kmscli": 1.0, "site (venv start-up hooks)": 0.05}
    assert encrypt_profile.top_level(recs, 2) == [("click", 3.3), ("kmscli.settings", 1.0)]
    assert encrypt_profile.top_modules(recs, 1) == [("re", 2.0)]
    statement = encrypt_profile.import_statement(recs)
    assert statement == "import click; import kmscli.settings; import __editable___kmscli_0_1_0_finder"


def test_audit_row_is_na_until_the_script_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "BENCH_DIR", tmp_path)
    row, output = run_all.audit_query_row()
    assert row.status == "n/a" and "not written yet" in row.note and output == ""


@pytest.mark.parametrize(
    ("text", "ratio"),
    [
        ("kmscli 1.2 s, jq 6.0 s\nratio: 0.200\n", 0.2),
        ("Ratio kmscli/jq = 0.31 (target 0.25)", 0.31),
        ("first ratio 1.5\nfinal ratio 0.12", 0.12),
        ("no figures here", None),
    ],
)
def test_parse_reported_ratio(text: str, ratio: Any) -> None:
    assert run_all.parse_reported_ratio(text) == ratio


def test_interleave_rotates_the_order_every_round(tmp_path: Path) -> None:
    log = tmp_path / "order.txt"
    env = common.base_env()
    commands = [([sys.executable, "-c", f"open({str(log)!r}, 'a').write({c!r})"], env) for c in "ABC"]
    samples = common.interleave(commands, runs=3, warmup=1)
    assert [len(s) for s in samples] == [3, 3, 3]
    assert log.read_text() == "ABC" + "ABCBCACAB"  # one warm-up round, then rotated rounds


def _with_audit_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: Any) -> None:
    (tmp_path / "audit_query.py").write_text("# stand-in\n")
    monkeypatch.setattr(common, "BENCH_DIR", tmp_path)
    monkeypatch.setitem(sys.modules, "bench.audit_query", module)


def test_audit_row_uses_the_scripts_measure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    fake = types.ModuleType("bench.audit_query")
    row = Comparison("audit query vs jq", "kmscli", "jq", 0.25, ours_s=1.0, peer_s=5.0)
    setattr(fake, "measure", lambda: row)  # noqa: B010
    _with_audit_script(tmp_path, monkeypatch, fake)
    got, output = run_all.audit_query_row()
    assert got is row and row.ratio == pytest.approx(0.2) and row.status == "PASS" and output == ""


def test_audit_row_reads_the_printed_ratio_otherwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import types

    _with_audit_script(tmp_path, monkeypatch, types.ModuleType("bench.audit_query"))
    printed = "kmscli median 2.0 s, jq median 6.0 s\nratio 0.333 (target 0.25)\n"
    monkeypatch.setattr(common, "run", lambda *a, **k: subprocess.CompletedProcess(a[0], 0, printed, ""))
    row, output = run_all.audit_query_row()
    assert row.reported_ratio == pytest.approx(0.333) and row.status == "FAIL" and "jq median" in output
    monkeypatch.setattr(common, "run", lambda *a, **k: subprocess.CompletedProcess(a[0], 0, "done\n", ""))
    row, _ = run_all.audit_query_row()
    assert row.status == "ERROR"


def test_call_after_imports_times_one_real_call() -> None:
    records = [encrypt_profile.ImportRecord(10, 10, 0, "json"), encrypt_profile.ImportRecord(5, 5, 1, "re")]
    program = encrypt_profile.call_after_imports(records, ["--version"])
    assert program.startswith("import json\n")  # only what the traced program imported at depth 0
    proc = common.run([sys.executable, "-c", program], common.base_env())
    assert proc.stdout.startswith("kmscli ")
    assert 0 < encrypt_profile.parse_call_time(proc.stderr) < 10
    with pytest.raises(BenchError):
        encrypt_profile.parse_call_time("Traceback ...\n")
    failing = encrypt_profile.call_after_imports(records, ["describe-key"])  # missing --key-id: exit 252
    with pytest.raises(BenchError, match="exited 252"):
        common.run([sys.executable, "-c", failing], common.base_env())


def test_a_bench_run_writes_an_untracked_file_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make bench` leaves the tracked bench/README.md alone; `make bench-readme` updates it."""
    readme, latest = tmp_path / "README.md", tmp_path / "latest.md"
    readme.write_text(f"# Bench\n\n{common.FIGURES_START}\nold\n{common.FIGURES_END}\n")
    monkeypatch.setattr(common, "README", readme)
    monkeypatch.setattr(common, "LATEST", latest)
    block = common.figures_block("| new |", {})
    assert run_all.write_figures(block, update_readme=False) == latest
    assert "old" in readme.read_text() and "| new |" in latest.read_text()
    assert run_all.write_figures(block, update_readme=True) == readme
    assert "old" not in readme.read_text() and "| new |" in readme.read_text()
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().split()
    assert "bench/latest.md" in ignored


def test_artifact_bench_finds_kmscli_or_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`python bench/artifact_sign.py` without .venv/bin on PATH: this checkout's kmscli, or a message."""
    from bench import artifact_sign

    assert artifact_sign.find_kmscli(str(tmp_path / "nope")) is None
    monkeypatch.setenv("PATH", str(tmp_path))
    found = artifact_sign.find_kmscli(None)
    assert found is None or found.endswith("/kmscli")
    monkeypatch.setattr(artifact_sign, "find_kmscli", lambda given: None)
    monkeypatch.setattr("sys.argv", ["artifact_sign.py"])
    assert artifact_sign.main() == 2


def test_audit_scale_generator_writes_a_verifiable_realistic_log(tmp_path: Path) -> None:
    from bench import audit_scale
    from kmscli.audit import index
    from kmscli.audit.log import segments
    from kmscli.audit.query import Filters, scan
    from kmscli.audit.verify import verify_log

    key = b"a" * 32
    values = audit_scale.generate(tmp_path, 400, key, segment_bytes=100_000)
    paths = segments(tmp_path)
    assert len(paths) >= 3 and verify_log(tmp_path, key).ok
    events = [e for _r, e in scan(paths, Filters())]
    assert len(events) == 400
    assert len({e["userIdentity"]["arn"] for e in events}) > 20
    assert all(e["userIdentity"]["accessKeyId"].startswith("AKIA") for e in events)
    assert 0 < sum(1 for e in events if e.get("errorCode")) < 40
    assert values["key"].startswith("arn:aws:kms:") and values["object"].startswith("s3://")
    assert set(audit_scale.queries(values)) == {
        "Q1 Decrypt + context",
        "Q2 key + 7 days",
        "Q3 errors + principal",
    }
    index.reindex(segments(tmp_path), key)
    assert index.check(segments(tmp_path), key) == []
    assert "audit_scale.measure(" in Path(run_all.__file__).read_text()


# -- bench/serve.py: alternating slices -------------------------------------------------------------


def test_serve_measurements_alternate_in_slices_and_merge_exactly() -> None:
    from bench import serve

    order: list[tuple[str, float]] = []

    def run(name: str, latency: float) -> Any:
        def load(seconds: float) -> dict[str, Any]:
            order.append((name, seconds))
            count = int(seconds * 10)
            return {"latencies": [latency] * count, "errors": 1}

        return load

    merged = serve.alternate({"kmscli": run("kmscli", 0.002), "moto": run("moto", 0.004)}, 10.0, slices=4)
    assert order == [
        ("kmscli", 2.5),
        ("moto", 2.5),
        ("moto", 2.5),
        ("kmscli", 2.5),
        ("kmscli", 2.5),
        ("moto", 2.5),
        ("moto", 2.5),
        ("kmscli", 2.5),
    ]
    assert merged["kmscli"]["requests"] == 100 and merged["kmscli"]["requests_per_s"] == 10.0
    assert merged["kmscli"]["errors"] == 4 and merged["moto"]["p99_s"] == 0.004


def test_serve_merge_takes_percentiles_over_every_slice() -> None:
    from bench import serve

    fast = {"latencies": [0.001] * 90, "errors": 0}
    slow = {"latencies": [0.010] * 10, "errors": 0}
    merged = serve.merge([fast, slow], 10.0)
    assert merged["p50_s"] == 0.001 and merged["p99_s"] == 0.010 and merged["requests_per_s"] == 10.0
    with pytest.raises(BenchError, match="no successful request"):
        serve.merge([{"latencies": [], "errors": 3}], 10.0)


def test_serve_budget_is_each_target_less_the_http_layer_beside_kmscli_s_work() -> None:
    from bench import serve

    per_s = {
        "moto c=1": 250.0,  # 4 ms: the target allows 2 ms
        "moto c=8": 300.0,  # 3.33 ms: the target allows 1.11 ms
        "HTTP layer alone c=1": 1000.0,  # 1 ms
        "HTTP layer alone c=8": 2000.0,  # 0.5 ms
        "kmscli c=1": 400.0,  # 2.5 ms
        "kmscli c=8": 500.0,  # 2 ms
        "kmscli c=8, fsync +5 ms, group commit": 400.0,  # 2.5 ms; the target allows 1.25 ms
    }
    header, c1, c8, group = serve.budget(per_s)
    assert "left for the work" in header
    assert c1.split() == ["c=1", "2.00", "ms", "1.00", "ms", "1.00", "ms", "1.50", "ms"]
    assert c8.split() == ["c=8", "1.11", "ms", "0.50", "ms", "0.61", "ms", "1.50", "ms"]
    assert group.split()[-8:] == ["1.25", "ms", "0.50", "ms", "0.75", "ms", "2.00", "ms"]


def test_serve_budget_goes_negative_when_the_http_layer_alone_misses_the_target() -> None:
    from bench import serve

    per_s = {
        "moto c=1": 1000.0,  # 1 ms: the target allows 0.5 ms, under the HTTP layer's 1 ms
        "moto c=8": 1000.0,
        "HTTP layer alone c=1": 1000.0,
        "HTTP layer alone c=8": 1000.0,
        "kmscli c=1": 500.0,
        "kmscli c=8": 500.0,
        "kmscli c=8, fsync +5 ms, group commit": 500.0,
    }
    assert serve.budget(per_s)[1].split()[5] == "-0.50"
