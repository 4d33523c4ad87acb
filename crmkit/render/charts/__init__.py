"""Report charts and tables, one module per report domain (``crmkit.render.charts.sales``, ...).

Every chart uses the theme of :mod:`crmkit.render.plotting` and the palette of
:mod:`crmkit.render.formatting`, has a title, labelled axes with units, and is returned as
its figure, which a notebook shows as a self-contained HTML block (an embedded PNG, see
:func:`crmkit.render.blocks.chart`); every table as a pandas ``Styler`` of its frame
(:class:`crmkit.render.tables.Table`). A
quantity is shown in the unit of its metric in the catalogue (the unit of its KPI card),
identifier-like values in words (:func:`crmkit.render.labels.label`), teams by name, and a
view of a cohort (deals or leads *created* in the period) says so in its title.

With nothing to draw, a function says so in one sentence, except on a page whose period and
team have no data at all: its keyword ``empty`` (``ctx.coverage.empty``) is then True, the
page header has already said why, and the function shows nothing.
"""
