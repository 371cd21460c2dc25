"""End-to-end checks of the conformance suite itself: the reference's own comparison passes it,
and the ART-025 pin-resolution check fails on the caches it must reject."""
