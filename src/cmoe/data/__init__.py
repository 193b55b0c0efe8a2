"""The data stage: multiple-choice questions in, a leak-free seeded train/test split out.

- :mod:`.questions`: ruMMLU rows in MERA's schema -> validated question records ->
  deduplicated, seeded split (and MERA's few-shot pool in a file of its own);
- :mod:`.hub`: loading a split of a hub dataset, from the hub or from a local copy laid out
  as the hub's;
- :mod:`.tiny`: tiny random models of the study's families, with tokenizers trained on the
  corpus, loaded with ``from_pretrained`` like the real ones;
- :mod:`.checks`: the stage's checks of a schema-valid config.
"""
