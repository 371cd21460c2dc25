"""The lensemble-spec conformance suite."""
