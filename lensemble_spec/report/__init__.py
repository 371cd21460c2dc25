"""Compliance report: aggregation of test results per requirement, run records, HTML/Markdown.

Submodules (imported on demand so the pytest plugin stays cheap):

* :mod:`~lensemble_spec.report.aggregate` — test outcomes -> ``ComplianceReport`` (pure).
* :mod:`~lensemble_spec.report.runs` — read the per-round records of a run or comparison directory.
* :mod:`~lensemble_spec.report.plots` — per-round plots as inline SVG (matplotlib, lazily).
* :mod:`~lensemble_spec.report.render` — jinja2 templates -> ``report.html`` / ``report.md``.
* :mod:`~lensemble_spec.report.rfc_html` — the RFCs as HTML pages, one anchor per requirement id.
"""
