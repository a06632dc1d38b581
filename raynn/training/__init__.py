"""The training loop (``loop``), where it runs (``local``: this process; ``distributed``: Ray Train workers),
its checkpoints (``checkpoint``) and how a step computes (``precision``)."""
