"""Test fixtures that Ray workers run (importable as ``raynn_testing``: pytest puts ``tests/`` on ``sys.path``)."""
