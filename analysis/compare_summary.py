"""The summary of a comparison (analysis.compare): verdict counts, geometric means, designs, runs a side and the
cases by minimum detectable effect, as the text, the report and compare mode's exit code read them."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analysis.case_samples import MEMORY_METRICS
from analysis.stats import geometric_mean
from analysis.verdicts import TEST_VERDICTS, VERDICTS

if TYPE_CHECKING:
    from analysis.compare import Comparison

MDE_BINS = (("<=5%", -1.0, 0.05), ("5-10%", 0.05, 0.10), ("10-20%", 0.10, 0.20), (">20%", 0.20, math.inf))
"""How the summary counts cases by their time test's minimum detectable effect."""


def summarize(comparison: Comparison, family_size: int) -> dict[str, Any]:
    cases, settings = comparison.cases, comparison.settings
    ratios = cases[cases["ratio"].notna() & cases["time_verdict"].notna()]
    finite_mde = cases["mde"][np.isfinite(cases["mde"].astype(float))]
    return {
        "threshold": settings.threshold, "correction": settings.correction, "alpha": settings.alpha,
        "early_alpha": settings.early_alpha,
        "cases": len(cases), "family_size": family_size,
        "verdicts": {v: int((cases["verdict"] == v).sum()) for v in VERDICTS if (cases["verdict"] == v).any()},
        "time_verdicts": {v: int((cases["time_verdict"] == v).sum()) for v in TEST_VERDICTS
                          if (cases["time_verdict"] == v).any()},
        "geomean_ratio": geometric_mean(list(ratios["ratio"])),
        "geomean_ratio_by_api": {str(api): geometric_mean(list(group["ratio"]))
                                 for api, group in ratios.groupby("api", sort=True)},
        "memory_verdicts": {m: {str(v): int(n) for v, n in cases[f"{m}_verdict"].dropna().value_counts().items()}
                            for m in MEMORY_METRICS},
        "flagged_regressions": len(comparison.flagged_regressions),
        "designs": {str(d): int(n) for d, n in cases["design"].dropna().value_counts().sort_index().items()},
        "runs_per_side": {"base": _most_common(cases["base_runs"]), "new": _most_common(cases["new_runs"])},
        "mde_median": float(finite_mde.median()) if len(finite_mde) else math.inf,
        "mde_counts": {label: int(((finite_mde > low) & (finite_mde <= high)).sum()) for label, low, high in MDE_BINS}
                      | {"untestable": int(len(cases) - len(finite_mde))},
    }


def _most_common(runs: pd.Series) -> int:
    """How many runs a side has for most cases (a case missing from a run has fewer)."""
    counted = runs[runs > 0]
    return int(counted.mode().max()) if len(counted) else 0
