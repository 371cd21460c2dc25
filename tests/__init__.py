"""The project's own tests (a regular package, so ``tests.foreign.adapter`` imports from a checkout
even where another distribution installs a top-level ``tests`` package)."""
