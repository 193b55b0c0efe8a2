"""cmoe: cascade mixture-of-experts reasoning distillation, one stage per module."""

__version__ = "0.1.0"
