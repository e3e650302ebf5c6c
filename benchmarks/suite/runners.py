"""One function per runner; each returns an ``Outcome`` and never raises."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from suite import process
from suite.cases import Case, method_label

HERE = Path(__file__).resolve().parent
LL_LINE = re.compile(r"Log likelihood\s*=\s*(-?[0-9.]+(?:e[-+]?[0-9]+)?)")


@dataclass
class Outcome:
    """One runner on one case. ``seconds`` is the fastest in-process fit (for ``cmd``, the
    wall time of the whole command); ``wall`` the child process's wall time."""

    runner: str
    status: str  # ok | timeout | error | missing | skipped
    method: str = ""
    seconds: float | None = None
    times: list[float] = field(default_factory=list)
    wall: float | None = None
    ll: float | None = None
    converged: bool | None = None
    peak_mb: float | None = None
    version: str = ""
    load: float | None = None  # 1-minute load average when the child started
    note: str = ""

    def to_json(self) -> dict:
        return asdict(self)


REPEAT_BELOW = 10.0  # seconds: a job slower than this runs in one process only


def worth_repeating(first: Outcome) -> bool:
    """Whether a job is run again in a fresh process: it worked, and quickly enough that
    one process's timing is mostly noise."""
    return first.status == "ok" and (first.wall or 0.0) < REPEAT_BELOW


def median_of(outcomes: list[Outcome]) -> Outcome:
    """One outcome for a job run in several processes: the median time (the upper median
    of an even count), every time kept, the largest peak memory; a failure wins."""
    failed = [o for o in outcomes if o.status != "ok"]
    if failed or len(outcomes) == 1:
        return failed[0] if failed else outcomes[0]
    by_time = sorted(outcomes, key=lambda o: o.seconds or 0.0)
    middle = by_time[len(by_time) // 2]
    combined = Outcome(**middle.to_json())
    combined.times = [t for o in outcomes for t in o.times]
    combined.peak_mb = max(o.peak_mb or 0.0 for o in outcomes)
    combined.note = "; ".join(filter(None, [f"median of {len(outcomes)} processes", middle.note]))
    return combined


def _child_json(done: process.Finished) -> dict:
    """The last JSON line a child printed."""
    for line in reversed(done.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON on stdout")


def _failed(runner: str, method: str, done: process.Finished, timeout: float) -> Outcome | None:
    """The outcome of a child that timed out or failed, or None if it succeeded."""
    if done.timed_out:
        return Outcome(runner, "timeout", method, wall=done.wall, note=f"> {timeout:g} s")
    if done.returncode != 0:
        note = _error_tail(done.stderr) or _error_tail(done.stdout) or f"exit {done.returncode}"
        return Outcome(runner, "error", method, wall=done.wall, note=note)
    return None


def _error_tail(text: str) -> str:
    """The message at the end of a failed child's output: from R's last 'Error' line (its
    'Execution halted' and 'Calls:' lines left out), or Stata's message and 'r(#);'."""
    lines = [ln.strip() for ln in text.strip().splitlines()]
    lines = [ln for ln in lines if ln and ln != "Execution halted" and not ln.startswith("Calls:")]
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Error")]
    if starts:
        keep = lines[starts[-1] :]
    else:
        stata_rc = bool(lines) and re.fullmatch(r"r\(\d+\);", lines[-1]) is not None
        keep = lines[-2:] if stata_rc else lines[-1:]
    return " ".join(keep)[:200]


def _method(res: dict, method: str, dims: int) -> str:
    """The method the child reports it used (a peer may fall back to Laplace)."""
    if "intmethod" in res:
        return ours_label(res["intmethod"], res.get("n_quad", ""), dims)
    if "nagq" in res:
        return method_label(int(res["nagq"]), dims if res["nagq"] > 1 else 1)
    return method


def _from_child(
    runner: str, method: str, done: process.Finished, timeout: float, dims: int
) -> Outcome:
    failed = _failed(runner, method, done, timeout)
    if failed:
        return failed
    try:
        res = _child_json(done)
        times = [float(t) for t in res["seconds"]]
    except (ValueError, KeyError, TypeError) as exc:
        return Outcome(runner, "error", method, wall=done.wall, note=f"bad child output: {exc}")
    notes = list(res.get("warnings", []))
    return Outcome(
        runner,
        "ok",
        _method(res, method, dims),
        seconds=min(times),
        times=times,
        wall=done.wall,
        ll=float(res["ll"]),
        converged=res.get("converged"),
        peak_mb=max(res.get("peak_kb", 0), done.peak_kb) / 1024,
        version=res.get("version", ""),
        note="; ".join(notes)[:300],
    )


def _run(runner: str, method: str, cmd: list[str], timeout: float, dims: int = 1) -> Outcome:
    try:
        done = process.run(cmd, timeout)
    except OSError as exc:
        return Outcome(runner, "error", method, note=str(exc))
    return _from_child(runner, method, done, timeout, dims)


def ours(case: Case, csv: Path, timeout: float, repeat: int, laplace: bool = False) -> Outcome:
    """``fit(command, data)`` timed in a child Python process (by Laplace if asked)."""
    command = case.laplace_command if laplace else case.command
    assert command is not None
    cmd = [sys.executable, str(HERE / "child_ours.py"), str(csv), command, str(repeat)]
    return _run("laplace" if laplace else "ours", "", cmd, timeout, case.dims)


def ours_label(intmethod: str, n_quad: str, dims: int) -> str:
    """Our method as e(intmethod) and e(n_quad) name it, e.g. 'mvaghermite 7x7'."""
    if intmethod in ("laplace", "pclaplace") or not n_quad:
        return intmethod or "?"
    return f"{intmethod} " + "x".join([n_quad] * dims)


def melogit_script() -> str | None:
    """The ``melogit`` script of the running interpreter's environment (beside
    ``sys.executable``), else the one on PATH.  A version manager's PATH entry may be a
    shell shim that starts another process first, which would be timed with the command."""
    scripts = Path(sys.executable).parent
    for name in ("melogit", "melogit.exe"):
        candidate = scripts / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("melogit")


def command(case: Case, csv: Path, timeout: float) -> Outcome:
    """The whole ``melogit --data CSV "command"`` run, start-up included."""
    exe = melogit_script()
    if exe is None:
        return Outcome("cmd", "missing", note="melogit not on PATH")
    try:
        done = process.run([exe, "--data", str(csv), case.command], timeout)
    except OSError as exc:
        return Outcome("cmd", "error", note=str(exc))
    failed = _failed("cmd", "", done, timeout)
    if failed:
        return failed
    found = LL_LINE.findall(done.stdout)
    return Outcome(
        "cmd",
        "ok",
        seconds=done.wall,
        times=[done.wall],
        wall=done.wall,
        ll=float(found[-1]) if found else None,
        peak_mb=done.peak_kb / 1024,
    )


def have_glmm() -> bool:
    return importlib.util.find_spec("glmm") is not None


def glmm(case: Case, csv: Path, timeout: float, repeat: int) -> Outcome:
    """``glmm.fit(df, formula, "binomial", nagq=k)`` in a child Python process."""
    k = case.nagq["glmm"]
    method = method_label(k, case.dims)
    if not have_glmm():
        return Outcome("glmm", "missing", method, note="pip install glmm")
    factors = ",".join(case.factors)
    cmd = [sys.executable, str(HERE / "child_glmm.py"), str(csv), case.formula, str(k), factors]
    return _run("glmm", method, cmd + [str(repeat)], timeout, case.dims)


def r_packages() -> dict[str, str]:
    """Installed versions of R, lme4 and glmmTMB ({} without Rscript)."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return {}
    probe = (
        'v <- c(R = paste(R.version$major, R.version$minor, sep = "."));'
        'for (p in c("lme4", "glmmTMB")) if (requireNamespace(p, quietly = TRUE))'
        " v[p] <- as.character(packageVersion(p));"
        'cat(paste(names(v), v, sep = "=", collapse = "\\n"))'
    )
    try:
        done = process.run([rscript, "--vanilla", "-e", probe], 120)
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return {name: version for name, version in pairs}


def r_peer(
    peer: str, case: Case, csv: Path, timeout: float, repeat: int, installed: dict[str, str]
) -> Outcome:
    """glmer (lme4) or glmmTMB fitted by ``Rscript peer.R``."""
    k = case.nagq[peer]
    method = method_label(k, 1)
    package = "lme4" if peer == "glmer" else "glmmTMB"
    if package not in installed:
        why = "Rscript not found" if not installed else f"R package {package} not installed"
        return Outcome(peer, "missing", method, note=why)
    r_name = "glmer" if peer == "glmer" else "glmmTMB"
    cmd = [shutil.which("Rscript") or "Rscript", "--vanilla", str(HERE / "peer.R"), r_name]
    cmd += [str(csv), case.formula, str(k), ",".join(case.factors), str(repeat)]
    return _run(peer, method, cmd, timeout)
