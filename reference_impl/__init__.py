"""Reference federated JEPA trainer."""
