"""Publishing: run report notebooks and publish their pages, one run or a preset at a time.

- :mod:`~crmkit.publish.notebooks`: the notebooks folder, the available reports, a report's
  own parameters;
- :mod:`~crmkit.publish.kernel`: the fixed ``crmkit`` Jupyter kernel, kept warm;
- :mod:`~crmkit.publish.export`: the JSON twin and the HTML page of an executed notebook;
- :mod:`~crmkit.publish.runner`: one report run, published atomically;
- :mod:`~crmkit.publish.presets` and :mod:`~crmkit.publish.batch`: scheduled runs;
- :mod:`~crmkit.publish.site`: ``output/index.html``;
- :mod:`~crmkit.publish.scaffold`: ``crmkit new-report``.
"""
