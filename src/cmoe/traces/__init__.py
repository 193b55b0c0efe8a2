"""The traces stage: teachers' generated traces, and instruction data from outside the study,
turned into training data (generating the traces is :mod:`cmoe.generation.runner`'s job).

- :mod:`.curation`: the ordered chain of steps (``correct``, ``length``, ``language``,
  ``dedup``, ``decontaminate``, ``select``), counting what each step removed;
- :mod:`.contamination`: word n-grams shared between training text and the test split or an
  evaluation benchmark;
- :mod:`.extra_sources`: ``data.extra_sources``, outside rows mapped onto chats and curated
  together with the traces;
- :mod:`.checks`: the stage's checks of a schema-valid config.
"""
