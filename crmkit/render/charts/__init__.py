"""Report charts, one module per report domain (``crmkit.render.charts.sales``, ...).

Every chart uses the theme of :mod:`crmkit.render.plotting` and the palette of
:mod:`crmkit.render.formatting`, has a title, labelled axes with units, and is returned as a
self-contained HTML block (an embedded PNG, see :func:`crmkit.render.blocks.chart`).
"""

# Before any chart module imports seaborn: load it the quick way (see crmkit.render.plotting).
import crmkit.render.plotting  # noqa: E402,F401
