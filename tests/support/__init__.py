"""Test scaffolding that is no part of the cmoe package: a fault-injecting OpenAI-compatible
server, the lm-evaluation-harness task export (also used by the benchmarks), a question source
parsed without writing a split, and byte spans from character offsets (the second route the
cross-vocabulary spans are checked against)."""
