"""GLEE-Net's Transformer classifier (Hu et al., AAAI 2023, §3.4 and §4.2).

Facts (paper 002): parallel MLP layers turn the joint representation F_exp into one feature
per AU ("multi-view AU features"), three Transformer encoders take them as a sequence, the
enhanced features pass through independent FC layers (the initial predictions) and a joint FC
layer fuses the initial predictions into the final ones; the input of the Transformer encoder
is "12 AU features of dimension 32" (§4.2). The loss (eq. 5) is applied to both predictions.

Choices left open (``aulib.papers.gleenet.deviation_table``): each parallel MLP is
Linear(F, hidden) -> ReLU -> Linear(hidden, 32); 4 attention heads, feed-forward width 64,
dropout 0.1, post-norm (PyTorch's default encoder layer), no positional encoding (each token's
own MLP already tells the AUs apart); the joint FC is Linear(n_aus, n_aus) on the initial logits.
The "w/o TC" ablation replaces it all by an MLP (F -> hidden -> n_aus).
"""
from __future__ import annotations

import torch
from torch import nn


class TransformerClassifier(nn.Module):
    """F_exp (B, F) -> (final logits (B, n_aus), initial logits (B, n_aus)).

    Args:
        in_features: size of F_exp.
        n_aus: number of AUs (tokens).
        token_dim: size of each AU token (paper 32).
        hidden: width of each parallel MLP's hidden layer.
        n_layers: Transformer encoder layers (paper 3).
        n_heads: attention heads.
        joint_fc: fuse the initial predictions with a joint FC (False: final = initial).
    """

    def __init__(self, in_features: int, n_aus: int, token_dim: int = 32, hidden: int = 64, n_layers: int = 3,
                 n_heads: int = 4, dropout: float = 0.1, joint_fc: bool = True):
        super().__init__()
        self.n_aus = int(n_aus)
        # the n_aus parallel MLPs as two batched weights (one slice per AU)
        self.w1 = nn.Parameter(torch.empty(n_aus, in_features, hidden))
        self.b1 = nn.Parameter(torch.zeros(n_aus, hidden))
        self.w2 = nn.Parameter(torch.empty(n_aus, hidden, token_dim))
        self.b2 = nn.Parameter(torch.zeros(n_aus, token_dim))
        for w in (self.w1, self.w2):
            for k in range(n_aus):
                nn.init.kaiming_uniform_(w.data[k].T, a=5 ** 0.5)
        layer = nn.TransformerEncoderLayer(token_dim, n_heads, dim_feedforward=2 * token_dim, dropout=dropout,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.au_w = nn.Parameter(torch.empty(n_aus, token_dim).uniform_(-token_dim ** -0.5, token_dim ** -0.5))
        self.au_b = nn.Parameter(torch.zeros(n_aus))
        self.joint = nn.Linear(n_aus, n_aus) if joint_fc else None

    def forward(self, f: torch.Tensor):
        h = torch.relu(torch.einsum("bf,afh->bah", f, self.w1) + self.b1)
        tokens = torch.einsum("bah,aht->bat", h, self.w2) + self.b2       # (B, n_aus, token_dim)
        z = self.encoder(tokens)
        initial = (z * self.au_w).sum(-1) + self.au_b                      # independent FC per AU
        return (self.joint(initial) if self.joint is not None else initial), initial


class MLPClassifier(nn.Module):
    """The "w/o TC" ablation: F_exp -> hidden -> n_aus logits (returned as both predictions)."""

    def __init__(self, in_features: int, n_aus: int, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, n_aus))

    def forward(self, f):
        out = self.net(f)
        return out, out
