"""The evaluation stage: every planned model answers the test split and is scored.

- :mod:`.generative`: answers generated through the shared generation interface
  (:mod:`cmoe.generation`) and read by the one answer extractor; ``scores.json`` per model;
- :mod:`.loglik`: MERA's ruMMLU protocol (log-likelihood of the answer letters, and its
  generative variant), as lm-evaluation-harness computes it;
- :mod:`.benchmarks`: lm-evaluation-harness tasks beyond ruMMLU, on every model;
- :mod:`.subsets`: the questions a model that serves a group of domains answers;
- :mod:`.settings` (the ``evaluation`` section) and :mod:`.checks` (the stage's config checks).

Intervals and labels are not computed here: they come from the tables (:mod:`cmoe.reporting`)
and the plan.
"""
