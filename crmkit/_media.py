"""Media types of the outputs a report notebook emits for the runner.

``application/vnd.crmkit.report+json`` carries a report's JSON twin: the notebook emits it
as JSON text (:func:`crmkit.render.blocks.publish`), the runner saves it beside the page
(:func:`crmkit.publish.export.extract_json`, which also takes the object a custom
notebook may emit instead).

``application/vnd.crmkit.chart+pickle`` carries a chart that a kernel crmkit started hands
to the process running its notebook, to be drawn there while the kernel goes on with the
next cells (:meth:`crmkit.render.figures.ChartFigure._repr_mimebundle_`,
:mod:`crmkit.publish.drawing`): only a kernel started with :data:`CHARTS_HANDED_OVER` set
hands them over, and only the runs of standard reports draw them.
"""

JSON_MIMETYPE = "application/vnd.crmkit.report+json"

CHART_MIMETYPE = "application/vnd.crmkit.chart+pickle"

#: The kernel environment variable that makes its charts handed over ("1").
CHARTS_HANDED_OVER = "CRMKIT_CHARTS_HANDED_OVER"
