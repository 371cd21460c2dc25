"""Mutant implementations: the reference with exactly one defect each (see ``_base.py``).

Each mutant is a factory ``module:function`` that ``--impl`` resolves (``mutants.federation:
flipped_sign``); ``tests/mutants/test_mutants.py`` runs the conformance suite against every one
of them and asserts the exact set of requirement ids it fails (``expectations.py``).
"""
