"""Claim verdicts: a paper's claim, tested on this run's numbers.

Every notebook ends with the claims of its paper that it tests. A verdict is computed from
numbers the notebook produced in the same run (never typed in): ``holds``, ``does not
hold``, or ``not testable here`` (with the reason). The runner collects them per paper in
``results/<profile>/<paper>/claims.json``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

VERDICTS = ("holds", "does not hold", "not testable here")


@dataclass
class Claim:
    """One claim of a paper and the verdict this run gives it."""

    claim: str                      # the paper's claim, paraphrased
    verdict: str                    # one of VERDICTS
    evidence: str                   # the numbers behind the verdict, from this run
    source: str = ""                # where the paper makes the claim (section/table)
    numbers: dict = field(default_factory=dict)  # machine-readable evidence

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def verdict(holds: bool | None) -> str:
    """Map a computed truth value to a verdict string (None -> not testable here)."""
    if holds is None:
        return "not testable here"
    return "holds" if bool(holds) else "does not hold"
