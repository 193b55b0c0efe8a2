"""What the logit-distillation methods (direct-kd, cmoe-kd) share: the `kd` section, the
teacher-scoring job kind (its rule and subcommand), the KD student and the vocabulary check.
Not a method itself: the two methods name it in their ``uses``."""
