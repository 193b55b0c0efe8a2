"""The reporting stage: what a run concludes, from the evaluated models' files.

- :mod:`.tables`, :mod:`.markdown`, :mod:`.comparison` and :mod:`.paired`: the score table (one
  row per evaluated model), the comparisons the methods planned, and paired differences with
  their intervals and tests;
- :mod:`.costs`: a method's chain of jobs, device-hours summed and its critical path;
- :mod:`.benchmarks`: the lm-evaluation-harness tasks' table;
- :mod:`.study` and :mod:`.claims`: the run beside the study it reproduces, and the study's
  claims judged on the run;
- :mod:`.golden`: the data card and the teacher economics table;
- :mod:`.plots`: the report's figures; :mod:`.summary`: the HTML report's opening page.

Logging the tables to wandb is :mod:`cmoe.core.tracking`'s.
"""
