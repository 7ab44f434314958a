"""Test fakes shared by the tests and a few benchmarks: small shapes with one known change
(``shapes``), a real run directory written without the detectors (``runs``) and a pair-record
factory (``records``). Not part of the installed package (pyproject ships ``miscomp*`` only)."""
