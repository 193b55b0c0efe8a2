"""The job kind the KD methods share: a teacher scores training traces once."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from ...core.jobs import Model


@dataclass(frozen=True)
class ScoreJob:
    key: str  # results/<key>/: the stored scores, and results/<key>.cost.json
    model: Model  # the teacher that scores
    data: tuple[str, ...]  # trace files
    prompt: dict
    settings: dict  # ScoreSettings
    resources: dict
    # a student of another vocabulary: the rows are written in its chat format and the scores
    # stored in the teacher's vocabulary with byte spans (None: the student's own vocabulary)
    student: Model | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        """What the job reads besides its traces: the teacher, and the student's tokenizer."""
        return self.model.inputs + (self.student.inputs if self.student else ())

    @property
    def score_flags(self) -> str:
        """The teacher's `models` key (for the scores' manifest) and, across vocabularies, the
        student whose chat format the rows are written in."""
        flags = f"--teacher {shlex.quote(self.model.name)}"
        if self.student is None:
            return flags
        flags += f" --student {shlex.quote(self.student.path)}"
        if self.student.revision:
            flags += f" --student-revision {shlex.quote(self.student.revision)}"
        return flags + (" --student-trust-remote-code" if self.student.trust_remote_code else "")
