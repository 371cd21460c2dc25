"""jepa: a small federated JEPA world model (numpy + torch functional), independent of lensemble_reference."""

__version__ = "0.3.0"
