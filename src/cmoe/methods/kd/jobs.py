"""The job kind the KD methods share: a teacher scores training traces once."""

from __future__ import annotations

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
