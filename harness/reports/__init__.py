"""Comparison reports: gather runs into one table (collect), draw plots (plots), write a
Markdown report (markdown); ``harness report`` (cli) and ``harness sweep`` (sweep)."""
