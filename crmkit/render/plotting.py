"""The charting stack, loaded once for every report: matplotlib drawing off-screen (charts
are embedded as PNG images) and seaborn.

seaborn imports ``scipy.stats`` as it loads, only for its kernel density estimate, and
falls back to the copy of that estimator it ships when ``scipy.stats`` cannot be imported.
Importing ``scipy.stats`` costs about a second (it rewrites hundreds of docstrings), which
is a sixth of a single report run and is spent again in every new kernel, while the reports
draw no density estimate. So seaborn is imported here with ``scipy.stats`` hidden for that
moment; afterwards ``import scipy.stats`` works as usual. The one difference for a custom
report is that seaborn's KDE plots use seaborn's own estimator (same results), and a
cumulative KDE (``kdeplot(cumulative=True)``) needs ``import scipy.stats`` before
``import crmkit``.
"""

from __future__ import annotations

import sys
from types import ModuleType

import matplotlib

matplotlib.use("Agg")


def _import_seaborn() -> ModuleType:
    if "seaborn" in sys.modules or "scipy.stats" in sys.modules:
        import seaborn

        return seaborn
    sys.modules["scipy.stats"] = None  # type: ignore[assignment]  # seaborn: use own KDE
    try:
        import seaborn
    finally:
        if sys.modules.get("scipy.stats", ...) is None:
            del sys.modules["scipy.stats"]
    return seaborn


sns = _import_seaborn()

import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plt", "sns"]
