"""MLPerf Inference submission trees: build (``harness submission``) and check
(``harness check-submission``) the open-division layout of round v6.1.

- :mod:`.rules`: the rules and constants, after mlcommons/inference
  ``tools/submission/submission_checker/`` (constants.py and checks/).
- :mod:`.systems`: ``systems/<system>.json`` from the machine plus a user file.
- :mod:`.truncate`: the accuracy log cut to its first and last 4096 bytes.
- :mod:`.build`: the tree from run directories; :mod:`.checker`: the checks.
"""
