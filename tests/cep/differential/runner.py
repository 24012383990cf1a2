"""Runs batches of cases through both engines and sorts the divergences into categories."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tests.cep.differential import compare, flink_nfa


@dataclass
class Divergence:
    """One case where the engines disagree, with both results."""

    category: str
    case: dict
    flink: dict
    emberwatch: dict


@dataclass
class Report:
    """What a batch gave: how many cases, how many agreed, the divergences by category."""

    cases: int = 0
    agreed: int = 0
    flink_rejected: int = 0
    both_rejected: int = 0
    divergences: list[Divergence] = field(default_factory=list)

    def by_category(self) -> Counter:
        return Counter(d.category for d in self.divergences)

    def add(self, other: Report) -> None:
        self.cases += other.cases
        self.agreed += other.agreed
        self.flink_rejected += other.flink_rejected
        self.both_rejected += other.both_rejected
        self.divergences += other.divergences


def run_batch(cases: list[dict]) -> Report:
    """Both engines on every case; divergences under a skip strategy are re-run without the skip
    (one more batch through Flink) to tell emission-order differences from the rest."""
    flink = flink_nfa.run_cases(cases)
    ember = [compare.run_emberwatch(case) for case in cases]
    report = Report(cases=len(cases))
    diverged: list[tuple[str, dict, dict, dict]] = []
    for case, f, e in zip(cases, flink, ember):
        if f.get("error", {}).get("stage") in ("build", "compile"):
            report.flink_rejected += 1
        kind = compare.verdict(e, f)
        if kind is None:
            report.agreed += 1
            report.both_rejected += "error" in f and f["error"]["stage"] in ("build", "compile")
        else:
            diverged.append((kind, case, f, e))
    recheck = [compare.with_skip(case, "no_skip") for kind, case, _f, _e in diverged
               if kind in ("matches", "timeouts") and case["skip"]["strategy"] != "no_skip"]  # fmt: skip
    plain_flink = dict(zip((c["id"] for c in recheck), flink_nfa.run_cases(recheck)))
    for kind, case, f, e in diverged:
        plain_id = f"{case['id']}@no_skip"
        agrees = None
        if plain_id in plain_flink:
            plain = compare.with_skip(case, "no_skip")
            agrees = compare.verdict(compare.run_emberwatch(plain), plain_flink[plain_id]) is None
        report.divergences.append(Divergence(compare.refine(kind, case, agrees), case, f, e))
    return report
