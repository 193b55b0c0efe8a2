"""Dense passage vectors: a transformers encoder (`AutoModel`), mean-pooled over the attention
mask and L2-normalised (the E5 family's recipe; a tiny random model in the demo and tests)."""

from __future__ import annotations

import hashlib
from pathlib import Path


class Encoder:
    def __init__(
        self,
        path: str,
        max_length: int = 256,
        trust_remote_code: bool = False,
        revision: str | None = None,
    ):
        import torch
        from transformers import AutoModel

        from ....core.models import load_tokenizer

        self.path = path
        self.max_length = max_length
        self.tokenizer = load_tokenizer(path, trust_remote_code, "right", revision)
        self.model = AutoModel.from_pretrained(
            path,
            trust_remote_code=trust_remote_code,
            **({"revision": revision} if revision else {}),
        )
        self.model.eval()
        self._torch = torch

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def encode(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        torch = self._torch
        out = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            with torch.no_grad():
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out += torch.nn.functional.normalize(pooled, dim=-1).tolist()
        return out


def encoder_identity(path: str, revision: str | None = None) -> dict:
    """What identifies an encoder for the index digest: its path (a hub id: and its commit),
    and for a local folder the digest of its config and the sizes of its files (a retrained
    encoder rebuilds the index)."""
    folder = Path(path)
    if not folder.is_dir():
        return {"path": path, **({"revision": revision} if revision else {})}
    files = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()}
    config = folder / "config.json"
    text = config.read_text("utf-8") if config.exists() else ""
    return {
        "path": path,
        "config": hashlib.sha256(text.encode()).hexdigest()[:16],
        "files": files,
    }
