"""lensemble-spec: conformance harness and metrics for federated JEPA world models."""
__version__ = "0.2.0"
