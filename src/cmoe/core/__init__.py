"""The bottom layer: what the stages, the methods and the plan all share. It imports nothing
above it, and importing the package loads nothing heavy.

- :mod:`.errors` (the one-line errors a user can fix) and :mod:`.settings` (typed settings
  from plain mappings, the one way a config section or a job's JSON becomes a dataclass);
- :mod:`.io`: atomic output, and line-numbered JSONL and CSV input;
- :mod:`.paths` (where everything lives under ``results/``), :mod:`.jobs` (the jobs, rows and
  comparisons a plan is made of) and :mod:`.resources` (how a job runs, never what it computes);
- :mod:`.commands`: the registry of the ``cmoe`` subcommands and the argument types they share;
- :mod:`.domains`, :mod:`.prompting`, :mod:`.answers` and :mod:`.scoring`: the study's domains,
  the one prompt builder, the one answer extractor and accuracy per domain;
- :mod:`.models` (loading models, tokenizers and LoRA adapters), :mod:`.stats` (bootstrap
  intervals and paired tests), :mod:`.provenance` (versions and commit of a run) and
  :mod:`.tracking` (wandb).
"""
