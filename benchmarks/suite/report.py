"""Tables (rich) and the JSON file of a benchmark run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from suite.runners import Outcome

PEER_NAMES = {"glmm": "glmm", "glmer": "glmer", "glmmtmb": "glmmTMB"}


@dataclass
class CaseResult:
    """Every runner's outcome on one case."""

    name: str
    title: str
    command: str
    formula: str
    data: str
    nobs: int | None
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    note: str = ""

    def to_json(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "outcomes"}
        out["outcomes"] = {k: v.to_json() for k, v in self.outcomes.items()}
        return out


def _num(x: float | None, fmt: str) -> str:
    if x is None:
        return ""
    text = format(x, fmt)
    return text.replace("-", "+") if float(text) == 0 else text  # no "-0.0000"


def _secs(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def ratio_text(r: float) -> str:
    """A peer/ours ratio: '20x', '3.4x', '0.65x', '0.04x'."""
    return f"{r:.0f}x" if r >= 10 else f"{r:.1f}x" if r >= 0.95 else f"{r:.2f}x"


def _ratio(peer: float | None, ours: float | None) -> str:
    if peer is None or not ours:
        return ""
    return ratio_text(peer / ours) if peer / ours >= 0.95 else f"[red]{ratio_text(peer / ours)}[/]"


def same_method_base(res: CaseResult, o: Outcome) -> Outcome | None:
    """Our fit to compare a peer's with: ours by Laplace when the peer fitted by Laplace
    and ours did not, else our default fit."""
    ours, laplace = res.outcomes.get("ours"), res.outcomes.get("laplace")
    peer_laplace = o.method.lower() == "laplace"
    if peer_laplace and ours and ours.method != "laplace" and laplace and laplace.status == "ok":
        return laplace
    return ours if ours and ours.status == "ok" else None


def _status(o: Outcome) -> str:
    if o.status == "ok":
        return "" if o.converged is not False else "[yellow]not converged[/]"
    return {"timeout": "[red]timeout[/]", "error": "[red]error[/]"}.get(o.status, o.status)


def detail_table(results: list[CaseResult]) -> Table:
    """One row per runner per case."""
    t = Table(title="melogit_cli vs peers: seconds, log likelihood, peak memory", show_lines=False)
    for col, just in [
        ("case", "left"), ("runner", "left"), ("method", "left"), ("fit s", "right"),
        ("peer/ours", "right"), ("whole s", "right"), ("peer/ours", "right"),
        ("log likelihood", "right"), ("Δ ll", "right"), ("peak MB", "right"), ("note", "left"),
    ]:  # fmt: skip
        t.add_column(col, justify=just, overflow="fold")
    for res in results:
        ours, cmd = res.outcomes.get("ours"), res.outcomes.get("cmd")
        base_whole = cmd.seconds if cmd else None
        first = True
        for key in ("ours", "laplace", "glmm", "glmer", "glmmtmb"):
            o = res.outcomes.get(key)
            if o is None:
                continue
            is_ours = key in ("ours", "laplace")
            base = None if is_ours else same_method_base(res, o)
            whole = (cmd.seconds if cmd and key == "ours" else None) if is_ours else o.wall
            whole = whole if o.status == "ok" or is_ours else None
            note = " ".join(s for s in (_status(o), o.note) if s)
            if key == "ours" and cmd and cmd.status != "ok":
                note = "; ".join(s for s in (note, f"command: {cmd.status} {cmd.note}") if s)
            if base is not None and base is not ours:
                note = "; ".join(s for s in ("vs ours Laplace", note) if s)
            base_ll = base.ll if base else None
            dll = None if is_ours or o.ll is None or base_ll is None else o.ll - base_ll
            same_whole = base is ours
            t.add_row(
                res.name if first else "",
                {"ours": "ours", "laplace": "ours Laplace"}.get(key) or PEER_NAMES[key],
                o.method,
                _secs(o.seconds),
                "" if is_ours else _ratio(o.seconds, base.seconds if base else None),
                _secs(whole),
                ""
                if is_ours or not same_whole
                else _ratio(o.wall if o.status == "ok" else None, base_whole),
                _num(o.ll, ".4f"),
                _num(dll, "+.4f"),
                _num(o.peak_mb, ".0f"),
                note,
                end_section=key == "glmmtmb",
            )
            first = False
        if first:
            t.add_row(res.name, "", "", "", "", "", "", "", "", "", res.note, end_section=True)
    return t


def _cell(o: Outcome | None, base: float | None) -> str:
    if o is None:
        return ""
    if o.status != "ok":
        return {"timeout": "timeout", "missing": "n/a"}.get(o.status, o.status)
    ratio = f" ({ratio_text(o.seconds / base)})" if o.seconds is not None and base else ""
    return f"{_secs(o.seconds)}{ratio}"


def _peer_base(res: CaseResult, key: str) -> float | None:
    o = res.outcomes.get(key)
    base = same_method_base(res, o) if o else None
    return base.seconds if base else None


def summary_table(results: list[CaseResult]) -> Table:
    """One row per case: our seconds, each peer's seconds and peer/ours ratio (against
    ours by the same method: ours Laplace for a peer's Laplace fit where ours is not)."""
    t = Table(title="fit seconds (peer/ours in brackets, same method; > 1x means ours is faster)")
    cols = ("case", "ours method", "ours fit", "ours command", "ours Laplace", "glmm", "glmer",
            "glmmTMB")  # fmt: skip
    for col in cols:
        t.add_column(col, justify="left" if col in ("case", "ours method") else "right")
    for res in results:
        ours = res.outcomes.get("ours")
        t.add_row(
            res.name,
            ours.method if ours else res.note,
            _cell(ours, None),
            _cell(res.outcomes.get("cmd"), None),
            _cell(res.outcomes.get("laplace"), None),
            *(_cell(res.outcomes.get(p), _peer_base(res, p)) for p in ("glmm", "glmer", "glmmtmb")),
        )
    return t


def show(results: list[CaseResult], console: Console) -> None:
    console.print(detail_table(results))
    console.print(summary_table(results))


def write_json(path: Path, machine: dict, settings: dict, results: list[CaseResult]) -> None:
    doc = {"machine": machine, "settings": settings, "cases": [r.to_json() for r in results]}
    path.write_text(json.dumps(doc, indent=2) + "\n")


def load_json(path: Path) -> tuple[dict, list[CaseResult]]:
    """A results file back as (machine, case results)."""
    doc = json.loads(path.read_text())
    results = []
    for c in doc["cases"]:
        outcomes = {k: Outcome(**v) for k, v in c.pop("outcomes").items()}
        results.append(CaseResult(**c, outcomes=outcomes))
    return doc["machine"], results


def _md_time(o: Outcome | None, base: float | None) -> str:
    if o is None:
        return ""
    if o.status != "ok":
        return f"{o.status} {o.note}".strip()
    ratio = f" ({ratio_text(o.seconds / base)})" if base and o.seconds is not None else ""
    flag = " not converged" if o.converged is False else ""
    return f"{_secs(o.seconds)}{ratio}{flag}"


def markdown(machine: dict, results: list[CaseResult]) -> str:
    """Two Markdown tables (seconds; log likelihood and peak memory) for the README."""
    peers = ("glmm", "glmer", "glmmtmb")
    head = "| case | ours method | ours fit s | ours command s | ours Laplace s | " + " | ".join(
        f"{PEER_NAMES[p]} s (peer/ours)" for p in peers
    )
    lines = [
        f"Measured {machine.get('date', '?')} on {machine.get('cpu', '?')}, "
        f"{machine.get('cores', '?')} cores; melogit_cli {machine.get('melogit_cli', '?')}, "
        f"glmm {machine.get('glmm', '-')}, R {machine.get('R', '-')}, "
        f"lme4 {machine.get('lme4', '-')}, glmmTMB {machine.get('glmmTMB', '-')}.",
        "",
        head + " |",
        "|---|---|---:|---:|---:|" + "---:|" * len(peers),
    ]
    for r in results:
        ours, cmd = r.outcomes.get("ours"), r.outcomes.get("cmd")
        cells = [r.name, ours.method if ours else r.note, _md_time(ours, None)]
        cells += [_md_time(cmd, None), _md_time(r.outcomes.get("laplace"), None)]
        cells += [_md_time(r.outcomes.get(p), _peer_base(r, p)) for p in peers]
        lines.append("| " + " | ".join(cells) + " |")
    names = ["ours", "ours Laplace"] + [PEER_NAMES[p] for p in peers]
    lines += ["", "| case | " + " | ".join(names) + " |"]
    lines.append("|---|" + "---:|" * (2 + len(peers)))
    for r in results:
        cells = [r.name]
        for key in ("ours", "laplace", *peers):
            o = r.outcomes.get(key)
            if o is None or o.status != "ok":
                cells.append("")
                continue
            peak = f", {o.peak_mb:.0f} MB" if o.peak_mb is not None else ""
            cells.append(f"{o.method}: {o.ll:.4f}{peak}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
