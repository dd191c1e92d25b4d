"""``kmscli policy``: show, simulate, who-can and lint key policies (beyond AWS).

The logic lives in ``kmscli.service.features.policy_inspect`` and ``kmscli.policy.analysis``; this module only
parses options and renders: a rich view on a terminal (or with ``--output table``), data otherwise
(``--output json`` and the other formats, ``--query``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from kmscli import jsonstrict
from kmscli.cli.globals import pop_globals, use_color, with_global_options
from kmscli.cli.listing import ListingGroup
from kmscli.cli.render import markup_value as v
from kmscli.cli.run import emit
from kmscli.errors import UsageError
from kmscli.invocation import Invocation


def _context(inv: Invocation) -> tuple[Any, Any]:
    from kmscli.cli.prompt import tty_prompt
    from kmscli.service.features.session import open_service

    if inv.options.get("endpoint_url"):  # these views need the key's grants and state, not in the API
        raise UsageError(
            "policy show, simulate and who-can read the local vault; with --endpoint-url, use "
            "`policy lint --key-id` or `get-key-policy` and `list-grants`"
        )
    settings = inv.settings
    return settings, open_service(settings, inv.sources, tty_prompt())


def _rich_wanted(inv: Invocation) -> bool:
    if inv.options.get("query"):
        return False
    fmt = inv.options.get("output")
    return fmt == "table" or (fmt is None and sys.stdout.isatty())


def _output(data: dict[str, Any], inv: Invocation, settings: Any, view: Any, title: str) -> None:
    if _rich_wanted(inv):
        import shutil

        from rich.console import Console

        from kmscli.cli.pager import paged_stdout

        color = use_color(inv)
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 120
        with paged_stdout(inv):
            view(Console(file=sys.stdout, force_terminal=color, no_color=not color, width=width), data)
    else:
        emit(data, inv, inv.output(), title)


def _parse_map(text: str, option: str) -> dict[str, str]:
    from kmscli.cli.params import load_text, parse_shorthand

    text = load_text(text, option)
    if text.lstrip().startswith("{"):
        try:
            value = jsonstrict.loads(text)  # nested too deeply for the parser: a ValueError here too
        except ValueError as exc:
            raise UsageError(f"Error parsing parameter '{option}': Invalid JSON: {exc}") from None
    else:
        value = parse_shorthand(text, option)
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise UsageError(f"Error parsing parameter '{option}': expected key=value pairs or a JSON object")
    return {str(k): v for k, v in value.items()}


# -- rich views --------------------------------------------------------------------------------------


def _cond_text(conds: list[dict[str, Any]]) -> str:
    if not conds:
        return "-"
    return "\n".join(
        f"{v(c['Operator'])} {v(c['Key'])} = {v(', '.join(map(str, c['Values'])))}" for c in conds
    )


def _who_text(who: list[dict[str, Any]]) -> str:
    lines = []
    for w in who:
        mark = "[bold red]ANYONE[/] " if w.get("Anyone") else ""
        lines.append(mark + v(w["Meaning"]))
    return "\n".join(lines)


ROLE_LABEL = {
    "KeyAdministrators": "key administrators",
    "KeyUsers": "key users",
    "AdministratorsAndUsers": "[yellow]administrators AND users[/]",
    "Deny": "[red]deny[/]",
    "Other": "other",
}


def _show_view(console: Any, data: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"Key policy of {v(data.get('KeyArn', ''))}", show_lines=True)
    for col in ("#", "Sid", "Effect", "Who", "What", "Conditions", "Role"):
        table.add_column(col, overflow="fold")
    for s in data["Statements"]:
        what = ", ".join(s.get("Actions", [])) or "all but " + ", ".join(s.get("NotActions", []))
        effect = "[green]Allow[/]" if s["Effect"] == "Allow" else "[red]Deny[/]"
        table.add_row(
            str(s["Index"]),
            v(s.get("Sid", "")),
            effect,
            _who_text(s["Who"]),
            v(what),
            _cond_text(s["Conditions"]),
            ROLE_LABEL.get(s["Role"], v(s["Role"])),
        )
    console.print(table)
    if data["Grants"]:
        grants = Table(title="Grants", show_lines=True)
        for col in ("GrantId", "Name", "Grantee", "Operations", "Constraints", "Retiring principal"):
            grants.add_column(col, overflow="fold")
        for g in data["Grants"]:
            grants.add_row(
                v(g["GrantId"]),
                v(g.get("Name", "")),
                _who_text(g["Who"]),
                v(", ".join(g["Operations"])),
                v(json.dumps(g["Constraints"], ensure_ascii=False)) if g["Constraints"] else "-",
                v(g.get("RetiringPrincipal", "-")),
            )
        console.print(grants)
    else:
        console.print("Grants: none")
    if data.get("Exportable"):
        console.print(
            "[bold yellow]Exportable:[/] this key's material can leave the vault with "
            "`kmscli export-key-material` (created with --exportable; irreversible)"
        )
    console.print(f"[bold]Key administrators:[/] {v(', '.join(data['KeyAdministrators'])) or 'none'}")
    console.print(f"[bold]Key users:[/] {v(', '.join(data['KeyUsers'])) or 'none'}")
    sep = data["Separation"]
    if sep["Separated"]:
        console.print(f"[green]Separation of duties:[/] {sep['Note']}")
    else:
        console.print(
            f"[yellow]No separation of duties:[/] {sep['Note']}: "
            + v(", ".join(sep["BothAdministratorAndUser"]))
        )


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def _simulate_view(console: Any, data: dict[str, Any]) -> None:
    colour = {"Allowed": "green", "ExplicitDeny": "red", "ImplicitDeny": "yellow"}[data["Decision"]]
    console.print(
        f"[bold {colour}]{data['Decision']}[/]: {v(data['Principal'])} -> {v(data['Action'])} on {v(data['KeyId'])}"
    )
    by = data.get("DecidedBy")
    if by and by["Type"] == "Grant":
        console.print(f"Decided by grant {v(by['GrantId'])}")
    elif by:
        console.print(
            f"Decided by statement #{by['Index']}" + (f" (Sid {v(repr(by['Sid']))})" if by.get("Sid") else "")
        )
    else:
        console.print("No statement or grant allows the call.")
    if data.get("Message"):
        console.print(v(data["Message"]))
    from rich.table import Table

    table = Table(title="Evaluated", show_lines=False)
    for col in ("Statement/grant", "Effect", "Principal", "Action", "Resource", "Conditions", "Applies"):
        table.add_column(col, overflow="fold")
    for t in data["Trace"]:
        name = t.get("GrantId", "") if t["Type"] == "Grant" else (t.get("Sid") or f"#{t['Index']}")
        conds = "\n".join(
            f"{'✓' if c['Result'] else '✗'} "
            + v(f"{c['Operator']} {c['Key']} {c['Values']} (request: {c['RequestValues']})")
            for c in t.get("Conditions", [])
        )
        if "Constraints" in t:
            conds = ("✓ " if t["Constraints"]["Result"] else "✗ ") + v(t["Constraints"]["Reason"])
        table.add_row(
            v(name),
            t.get("Effect", "grant"),
            _mark(t["PrincipalMatch"]),
            _mark(t["ActionMatch"]),
            _mark(t.get("ResourceMatch", True)),
            conds or "-",
            _mark(t["Applies"]),
        )
    console.print(table)


def _who_can_view(console: Any, data: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"Who can {v(data['Action'])} on {v(data.get('KeyArn', ''))}", show_lines=True)
    for col in ("Principal", "Via", "Must meet", "Note"):
        table.add_column(col, overflow="fold")

    def via(by: dict[str, Any]) -> str:
        return v(
            f"grant {by['GrantId']}"
            if by["Type"] == "Grant"
            else (by.get("Sid") or f"statement #{by['Index']}")
        )

    for e in data["Allowed"]:
        must = _cond_text(e["Conditions"])
        if e.get("Constraints"):
            must = v(json.dumps(e["Constraints"], ensure_ascii=False))
        note = "[bold red]ANYONE[/]" if e["Anyone"] else ""
        if e.get("OverriddenBy"):
            note += f" [red]but denied by {via(e['OverriddenBy'])}[/]"
        table.add_row(v(e["Meaning"]), via(e["Via"]), must, note.strip())
    console.print(table)
    if data["Denied"]:
        denied = Table(title="Explicitly denied", show_lines=True)
        for col in ("Principal", "Via", "When"):
            denied.add_column(col, overflow="fold")
        for e in data["Denied"]:
            denied.add_row(
                v(e["Meaning"]),
                via(e["Via"]),
                "always" if e["Unconditional"] else _cond_text(e["Conditions"]),
            )
        console.print(denied)


def _lint_view(console: Any, data: dict[str, Any]) -> None:
    if not data["Findings"]:
        console.print("[green]No findings.[/]")
        return
    from rich.table import Table

    table = Table(title="Policy lint", show_lines=True)
    for col in ("Level", "Code", "Statement", "Message"):
        table.add_column(col, overflow="fold")
    for f in data["Findings"]:
        level = "[red]error[/]" if f["Level"] == "error" else "[yellow]warning[/]"
        where = f.get("Sid") or (str(f["Statement"]) if "Statement" in f else "-")
        table.add_row(level, v(f["Code"]), v(where), v(f["Message"]))
    console.print(table)
    console.print(f"{data['Errors']} error(s), {data['Warnings']} warning(s)")


# -- commands ----------------------------------------------------------------------------------------


@click.group(cls=ListingGroup)
def policy() -> None:
    """Inspect key policies and grants: show, simulate, who-can, lint (beyond AWS)."""


@policy.command()
@click.option("--key-id", required=True, help="Key id, key ARN, alias name or alias ARN.")
@with_global_options
def show(key_id: str, **kwargs: Any) -> None:
    """Render a key's policy and grants: who, what, conditions, effect, administrators vs users."""
    from kmscli.service.features import policy_inspect

    inv = pop_globals(kwargs, remote=True)
    settings, ctx = _context(inv)
    _output(policy_inspect.show(ctx, key_id), inv, settings, _show_view, "Policy")


@policy.command()
@click.option("--key-id", required=True, help="Key id, key ARN, alias name or alias ARN.")
@click.option("--principal", required=True, help="The caller to simulate (an IAM principal ARN).")
@click.option("--action", required=True, help="The KMS action, e.g. kms:Decrypt.")
@click.option("--encryption-context", help="Encryption context: k1=v1,k2=v2 or JSON.")
@click.option("--grant-tokens", multiple=True, help="Grant tokens (space-separated or repeated).")
@click.option("--signing-algorithm", help="kms:SigningAlgorithm of the simulated call.")
@click.option("--encryption-algorithm", help="kms:EncryptionAlgorithm (default SYMMETRIC_DEFAULT).")
@click.option(
    "--condition",
    "condition_keys",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other condition key of the call, e.g. kms:RequestAlias=alias/app (repeatable).",
)
@with_global_options
def simulate(
    key_id: str,
    principal: str,
    action: str,
    encryption_context: str | None,
    grant_tokens: tuple[str, ...],
    signing_algorithm: str | None,
    encryption_algorithm: str | None,
    condition_keys: tuple[str, ...],
    **kwargs: Any,
) -> None:
    """Decide a call exactly as kmscli would, without making it. Exit 0 allowed, 1 denied."""
    from kmscli.service.features import policy_inspect

    inv = pop_globals(kwargs, remote=True)
    context = _parse_map(encryption_context, "--encryption-context") if encryption_context else None
    extra: dict[str, str] = {}
    for item in condition_keys:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"Error parsing parameter '--condition': expected KEY=VALUE, got {item!r}")
        extra[key] = value
    settings, ctx = _context(inv)
    data = policy_inspect.simulate(
        ctx,
        key_id,
        principal,
        action,
        encryption_context=context,
        grant_tokens=list(grant_tokens),
        signing_algorithm=signing_algorithm,
        encryption_algorithm=encryption_algorithm,
        conditions=extra,
    )
    _output(data, inv, settings, _simulate_view, "Simulation")
    if data["Decision"] != "Allowed":
        raise click.exceptions.Exit(1)


@policy.command("who-can")
@click.option("--key-id", required=True, help="Key id, key ARN, alias name or alias ARN.")
@click.option("--action", required=True, help="The KMS action, e.g. kms:Decrypt.")
@with_global_options
def who_can(key_id: str, action: str, **kwargs: Any) -> None:
    """List every principal the policy and grants allow an action for, and who is explicitly denied."""
    from kmscli.service.features import policy_inspect

    inv = pop_globals(kwargs, remote=True)
    settings, ctx = _context(inv)
    _output(policy_inspect.who_can(ctx, key_id, action), inv, settings, _who_can_view, "WhoCan")


@policy.command()
@click.option("--key-id", help="Lint this key's current policy.")
@click.option("--policy", "policy_doc", help="Lint a policy document (file://p.json or JSON text).")
@with_global_options
def lint(key_id: str | None, policy_doc: str | None, **kwargs: Any) -> None:
    """Report risky or broken policy patterns; exit 1 when there is an error-level finding."""
    from kmscli.cli.params import load_text
    from kmscli.service.features import policy_inspect

    inv = pop_globals(kwargs, remote=True)
    if (key_id is None) == (policy_doc is None):
        raise UsageError("give exactly one of --key-id and --policy")
    if key_id is not None and inv.options.get("endpoint_url"):  # the policy comes over the wire
        from kmscli.cli.run import caller_for

        settings = inv.settings
        policy = caller_for(inv)("GetKeyPolicy", {"KeyId": key_id, "PolicyName": "default"})["Policy"]
        data = policy_inspect.lint_text(policy)
    elif key_id is not None:
        settings, ctx = _context(inv)
        data = policy_inspect.lint_key(ctx, key_id)
    else:
        settings = inv.settings
        data = policy_inspect.lint_text(load_text(str(policy_doc), "--policy"))
    _output(data, inv, settings, _lint_view, "Lint")
    if data["Errors"]:
        raise click.exceptions.Exit(1)
