"""Report charts, one module per report domain (``crmkit.render.charts.sales``, ...).

Every chart uses the theme and palette of :mod:`crmkit.render.blocks`, has a title, labelled axes
with units, and is returned as a self-contained HTML block (an embedded PNG).
"""

# Before any chart module imports seaborn: load it the quick way (see crmkit.render.plotting).
import crmkit.render.plotting  # noqa: E402,F401
