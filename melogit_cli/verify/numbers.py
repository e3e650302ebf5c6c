"""The numbers of an output block, each with a label that names it the same way in the
published log and in ours, and the kind of number it is (see :data:`KINDS`).

Tables (``label | numbers``): the label is the row (with the group row above it, such as
``children`` or ``district``, and the start of a label Stata wrapped) and the column
heading above the numbers (``Std. err.``, ``[95% conf. interval] lower``); the column is
the heading the number lies under.  Other lines: a number's label is the text before it,
back to the previous number or a gap of two spaces (``Number of obs``, ``Wald chi2(5)``,
``Iteration 3:  Log likelihood``, ``LR test vs. logistic model: chibar2(01)``).  A label
that occurs twice in a block is numbered (``Prob > chi2 #2``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

KINDS: dict[str, str] = {
    "b": "coefficients, odds ratios and other fixed-effects estimates (first table column)",
    "se": "standard errors",
    "z": "z (and t) statistics",
    "p": "p-values: P>|z|, Prob > chi2, Prob >= chibar2",
    "ci": "confidence limits",
    "var": "variance components: var(), cov(), sd(), corr() estimates",
    "ll": "log likelihoods",
    "chi2": "chi-squared statistics: Wald, LR test, lrtest",
    "n": "counts: observations, groups, group sizes, integration points, df",
    "iter": "iteration logs (compared only with --iterations)",
    "display": "results of display",
    "other": "any other number",
}

# a number standing on its own: after the start, a blank or '=', before a blank or the end
NUMBER_RE = re.compile(
    r"(?<![^\s=])(-?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:e[-+]\d+)?|\.)(?=\s|$)",
    re.IGNORECASE,
)
_RULE_RE = re.compile(r"^-{10,}$")
_SEP_RE = re.compile(r"^-+\+-+$")
_SEGMENT_RE = re.compile(r"\S+(?: \S+)*")
_GAP_RE = re.compile(r"\s{2,}")
_SECTION_RE = re.compile(r"^[A-Z][A-Za-z -]*:$")
_VARIANCE_RE = re.compile(r"(?:^|\s)(?:var|cov|sd|corr)\(")


@dataclass
class Number:
    """One printed number."""

    line: int
    label: str
    kind: str
    text: str
    start: int  # its columns on the line
    end: int
    row: str = ""  # table row (numbers of one row depend on each other)
    column: str = ""  # b, se, z, p, lo, hi in coefficient tables

    @property
    def value(self) -> float:
        return parse_number(self.text)

    @property
    def unit(self) -> float:
        """One unit in the last printed digit."""
        return last_digit_unit(self.text)


def parse_number(text: str) -> float:
    """The value of a printed number (``.`` is missing: NaN)."""
    if text == ".":
        return math.nan
    return float(text.replace(",", ""))


def last_digit_unit(text: str) -> float:
    """``0.0001`` for ``0.0000``, ``1`` for ``3,435``, ``1e-07`` for ``1.2e-06``."""
    if text == ".":
        return 0.0
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


@dataclass
class Extracted:
    """The numbers of a block, and whether it ends inside a table."""

    numbers: list[Number]
    open_table_line: int = 0  # the line the unfinished table started at (0: none)


def extract(lines: list[tuple[int, str]], command: str = "") -> Extracted:
    """The numbers printed in ``lines`` (one block's output)."""
    numbers: list[Number] = []
    word = command.split()[0] if command.split() else ""
    is_display = len(word) >= 2 and "display".startswith(word)
    header: list[tuple[str, int, int]] = []
    candidate: list[tuple[str, int, int]] = []
    in_table = False
    table_start = 0
    group = pending = section = ""
    for number, text in lines:
        stripped = text.strip()
        if _SECTION_RE.match(stripped):  # Fitting full model:
            section = stripped[:-1]
        if _RULE_RE.match(stripped):
            if in_table:
                in_table, header = False, []
            else:
                table_start = table_start or number
            continue
        if _SEP_RE.match(stripped):
            if not in_table:
                header = candidate
                table_start = table_start or number
            in_table, group, pending = True, "", ""
            continue
        if "|" in text and not in_table and not stripped.startswith(("Note", "(")):
            bar = text.index("|")
            candidate = [
                (m.group(0), bar + 1 + m.start(), bar + 1 + m.end())
                for m in _SEGMENT_RE.finditer(text[bar + 1 :])
            ]
            continue
        if in_table and "|" in text:
            group, pending = _table_row(numbers, number, text, header, group, pending)
            continue
        if not in_table:
            table_start = 0
        _free_line(numbers, number, text, is_display, section)
    _number_duplicates(numbers)
    return Extracted(numbers, table_start if in_table else 0)


def _table_row(
    numbers: list[Number],
    line: int,
    text: str,
    header: list[tuple[str, int, int]],
    group: str,
    pending: str,
) -> tuple[str, str]:
    """Add the numbers of one table row; returns the group and wrapped-label state."""
    bar = text.index("|")
    left = text[:bar].strip()
    found = [(m.group(1), bar + 1 + m.start(1), bar + 1 + m.end(1))
             for m in NUMBER_RE.finditer(text[bar + 1 :])]  # fmt: skip
    if not found:
        if not left:
            return "", ""
        if left.endswith(",") or left.count("(") > left.count(")"):
            return group, (pending + " " + left).strip()
        return left, ""
    row = (pending + " " + left).strip()
    full = f"{group} {row}".strip() if group else row
    groups_table = any(name in ("groups", "Minimum") for name, _, _ in header)
    used: dict[str, int] = {}
    for text_, start, end in found:
        name = _column(header, start, end)
        used[name] = used.get(name, 0) + 1
        role, kind, label = _role(name, used[name], full, groups_table)
        numbers.append(Number(line, f"{full}: {label}", kind, text_, start, end, full, role))
    return group, ""


def _column(header: list[tuple[str, int, int]], start: int, end: int) -> str:
    """The heading the number at ``start:end`` lies under (most overlap, else nearest)."""
    best, score = "", -math.inf
    for name, s, e in header:
        overlap = min(end, e) - max(start, s)
        value = overlap if overlap > 0 else -min(abs(s - end), abs(start - e))
        if value > score:
            best, score = name, value
    return best


def _role(name: str, occurrence: int, row: str, groups_table: bool) -> tuple[str, str, str]:
    """(column role, kind, label) of a table cell under heading ``name``."""
    if groups_table:
        return "", "n", name
    if "interval" in name:
        return ("lo", "ci", f"{name} lower") if occurrence == 1 else ("hi", "ci", f"{name} upper")
    suffix = f" #{occurrence}" if occurrence > 1 else ""
    if "err" in name.lower():
        return "se", "se", name + suffix
    if name in ("z", "t"):
        return "z", "z", name + suffix
    if name.startswith("P>"):
        return "p", "p", name + suffix
    kind = "var" if _VARIANCE_RE.search(row) else "b"
    return "b", kind, name + suffix


def _free_line(numbers: list[Number], line: int, text: str, is_display: bool, section: str) -> None:
    """Add the numbers of a line outside tables, labelled by the text before each (and an
    iteration by the phase of the fit it belongs to)."""
    previous = 0
    prefix = ""
    for m in NUMBER_RE.finditer(text):
        before = text[previous : m.start(1)].rstrip().rstrip("=:").rstrip()
        previous = m.end(1)
        parts = [p for p in _GAP_RE.split(before.strip()) if p]
        if len(parts) >= 2 and parts[-2].endswith(":") and not parts[-1].endswith(":"):
            label = f"{parts[-2]} {parts[-1]}"  # Iteration 3:  Log likelihood
        else:
            label = parts[-1] if parts else ""
        label = " ".join(label.split())
        if not label:
            label = "display" if is_display else "value"
        elif prefix and not label.startswith(prefix):
            label = f"{prefix}: {label}"
        if not prefix and ": " in label and label.startswith("LR test"):
            prefix = label.rsplit(": ", 1)[0]
        kind = "display" if is_display else _kind(label)
        if kind == "iter" and section:
            label = f"{section}: {label}"
        numbers.append(Number(line, label, kind, m.group(1), m.start(1), m.end(1)))


def _kind(label: str) -> str:
    low = label.lower()
    if low.startswith(("iteration", "grid node")):
        return "iter"
    if "log likelihood" in low:
        return "ll"
    if low.startswith("prob") or low.endswith(("prob > chi2", "prob >= chibar2")):
        return "p"
    if "chi2" in low or "chibar2" in low:
        return "chi2"
    if low.split(": ")[-1] in ("min", "avg", "max") or low.startswith(
        ("number of", "integration pts", "obs per group", "observations", "df")
    ):
        return "n"
    return "other"


def _number_duplicates(numbers: list[Number]) -> None:
    seen: dict[str, int] = {}
    for num in numbers:
        seen[num.label] = seen.get(num.label, 0) + 1
        if seen[num.label] > 1:
            num.label = f"{num.label} #{seen[num.label]}"
