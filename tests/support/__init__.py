"""Test scaffolding that is no part of the cmoe package: a fault-injecting OpenAI-compatible
server and the lm-evaluation-harness task export (also used by the benchmarks)."""
