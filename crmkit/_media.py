"""Media types of the outputs a report notebook emits for the runner.

``application/vnd.crmkit.report+json`` carries a report's JSON twin: the notebook emits it
as JSON text (:func:`crmkit.render.blocks.publish`), the runner saves it beside the page
(:func:`crmkit.publish.export.extract_json`, which also takes the object a custom
notebook may emit instead).
"""

JSON_MIMETYPE = "application/vnd.crmkit.report+json"
