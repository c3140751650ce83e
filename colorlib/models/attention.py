"""SAGAN self-attention layer (Zhang et al. 2018), used by the self-attention cGAN source."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SelfAttention(nn.Module):
    """Self-attention over all spatial positions, added to the input through a learned gate.

    Query and key are 1x1 convolutions to ``channels // 8`` channels, value a 1x1 convolution to
    ``channels``; attention weights are a softmax over positions. ``gamma`` starts at 0, so a new
    layer is the identity and the network learns how much non-local evidence to mix in.

    Set ``keep_attention = True`` to keep the last attention map in ``last_attention``
    (B, N, N), row i = weights that output position i gives to every position (N = H * W).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"SelfAttention: channels must be positive, got {channels}")
        inner = max(channels // 8, 1)
        self.config = {"channels": int(channels)}
        self.query = nn.Conv2d(channels, inner, kernel_size=1)
        self.key = nn.Conv2d(channels, inner, kernel_size=1)
        self.value = nn.Conv2d(channels, channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.keep_attention = False
        self.last_attention: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2)  # (B, C', N)
        k = self.key(x).flatten(2)  # (B, C', N)
        v = self.value(x).flatten(2)  # (B, C, N)
        attention = torch.softmax(torch.bmm(q.transpose(1, 2), k), dim=-1)  # (B, N, N)
        out = torch.bmm(v, attention.transpose(1, 2)).view(b, c, h, w)
        self.last_attention = attention.detach() if self.keep_attention else None
        return self.gamma * out + x
