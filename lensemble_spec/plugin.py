"""pytest plugin for the lensemble-spec conformance suite (options, markers, per-requirement results)."""
