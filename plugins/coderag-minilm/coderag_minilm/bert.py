"""A BERT encoder forward pass in plain torch, for sentence-transformers MiniLM folders.

Inference only: embeddings, N post-norm transformer layers, mean pooling.
Loading a folder needs ``config.json``, ``model.safetensors`` and
``tokenizer.json``; nothing is downloaded.  This avoids importing
``transformers`` and ``sentence_transformers`` (about 3 s per process on
top of torch's ~1 s), which every ``git coderag search`` would pay.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tokenizers import Tokenizer


class BertEncoder:
    """Token ids in, mean-pooled and L2-normalised sentence vectors out."""

    def __init__(self, folder: Path, max_length: int, threads: int = 0) -> None:
        config = json.loads((folder / "config.json").read_text())
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise ValueError(f"{folder} is not a BERT model with GELU activations")
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.hidden = int(config["hidden_size"])
        self.eps = float(config["layer_norm_eps"])
        self.max_length = min(max_length, int(config["max_position_embeddings"]))
        weights = load_file(str(folder / "model.safetensors"))
        # Some exports prefix every name with "bert.".
        self.w = {name.removeprefix("bert."): tensor.float() for name, tensor in weights.items()}
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_length)
        self.tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)), pad_token="[PAD]")
        if threads > 0:
            torch.set_num_threads(threads)

    def _norm(self, x: torch.Tensor, prefix: str) -> torch.Tensor:
        return F.layer_norm(x, (self.hidden,), self.w[prefix + ".weight"], self.w[prefix + ".bias"], self.eps)

    def _linear(self, x: torch.Tensor, prefix: str) -> torch.Tensor:
        return F.linear(x, self.w[prefix + ".weight"], self.w[prefix + ".bias"])

    @torch.inference_mode()
    def encode(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), hidden)`` float32 unit vectors (zero for a text of no tokens)."""
        encodings = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.bool)
        batch, length = ids.shape
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        attend = mask[:, None, None, :]  # padding is never attended to
        head_dim = self.hidden // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self._linear(x, p + f"attention.self.{n}").view(batch, length, self.heads, head_dim)
                       .transpose(1, 2) for n in ("query", "key", "value"))
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
            context = context.transpose(1, 2).reshape(batch, length, self.hidden)
            x = self._norm(x + self._linear(context, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = F.gelu(self._linear(x, p + "intermediate.dense"))
            x = self._norm(x + self._linear(h, p + "output.dense"), p + "output.LayerNorm")
        weights = mask.unsqueeze(-1).float()
        pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return F.normalize(pooled, dim=1).numpy().astype(np.float32, copy=False)
