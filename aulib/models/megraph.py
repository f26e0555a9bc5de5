"""ME-GraphAU-style baseline (Luo et al., IJCAI 2022), stage 1 (ANFL), and its expression
pre-training head for the "+ FFHQ pre-train" variant of FG-Net's Tables 1-2 and Figure 6.

Facts from methods.md section E.1-E.2 (read from CVI-SZU/ME-GraphAU): the backbone's last
feature map becomes a token sequence, projected C -> C/4 by a LinearBlock (Linear + BN +
ReLU); one LinearBlock per AU (AFG) gives AU-specific tokens whose mean is that AU's node
feature; a graph is built per sample from the detached node features (dot-product
similarity, top-K neighbours, K = 4 for BP4D and 3 for DISFA), degree-normalised
D^-1/2 A D^-1/2, and one GCN layer X' = ReLU(X + BN(A V(X) + U(X))); the AU probability is
the cosine between the ReLU'd node feature and a learned per-AU class vector (already in
[0, 1], threshold 0.5). Loss: weighted asymmetric loss with inverse-base-rate weights.

Not implemented: stage 2 (MEFL, multi-dimensional edge features and gated GCN); this is
the stage-1 model, which the README reports a little below the full method - say so beside
its numbers. FFHQ pre-training (FG-Net section 4, Table 1): the backbone is first trained on
the face set's expression labels (:class:`ExpressionPretrainNet`, driven by
``aulib.train.pretrain.pretrain_backbone``), then ``megraph(backbone_weights=<file>)``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .common import (BP4D_AUS, AUWeights, Backbone, au_list, load_backbone_weights, masked_bce,
                     weighted_asymmetric_loss)
from .registry import register


class LinearBlock(nn.Module):
    """Linear -> BatchNorm over features (tokens as the batch) -> ReLU; weights N(0, sqrt(2/out))."""

    def __init__(self, d_in: int, d_out: int, dropout: float = 0.0):
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)
        self.bn = nn.BatchNorm1d(d_out)
        self.drop = nn.Dropout(dropout)
        nn.init.normal_(self.fc.weight, 0, math.sqrt(2.0 / d_out))
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):  # (B, N, d_in)
        x = self.drop(x)
        return F.relu(self.bn(self.fc(x).transpose(1, 2)).transpose(1, 2))


class FactorGraphLayer(nn.Module):
    """ANFL's GCN: top-K dot-product graph from detached node features, symmetric degree
    normalisation, X' = ReLU(X + BN(A V(X) + U(X))) with BN over the node axis."""

    def __init__(self, dim: int, n_nodes: int, neighbours: int):
        super().__init__()
        self.k = max(1, min(int(neighbours), n_nodes))
        self.U, self.V = nn.Linear(dim, dim, bias=False), nn.Linear(dim, dim, bias=False)
        self.bn = nn.BatchNorm1d(n_nodes)
        for lin in (self.U, self.V):
            nn.init.normal_(lin.weight, 0, math.sqrt(2.0 / dim))

    def adjacency(self, x):
        with torch.no_grad():
            xd = x.detach().float()
            sim = xd @ xd.transpose(1, 2)                           # (B, N, N)
            kth = sim.topk(self.k, dim=-1).values[..., -1:]
            adj = (sim >= kth).float()
            deg = adj.sum(-1).clamp_min(1.0).pow(-0.5)
            return deg.unsqueeze(-1) * adj * deg.unsqueeze(-2)

    def forward(self, x):  # (B, N, dim)
        a = self.adjacency(x).to(x.dtype)
        return F.relu(x + self.bn(a @ self.V(x) + self.U(x)))


class MEGraphAU(AUWeights):
    def __init__(self, aus=BP4D_AUS, backbone: str = "resnet50", weights=None, backbone_weights=None,
                 neighbours: int = 4, reduction: int = 4, input_size: int = 224):
        super().__init__()
        self.aus = au_list(aus)
        self.input_size = int(input_size)
        self.backbone = Backbone(backbone, weights)
        self.init = self.backbone.init
        if backbone_weights:
            self.init = load_backbone_weights(self.backbone, backbone_weights)
        c = self.backbone.out_channels
        d = max(8, c // reduction)
        n = len(self.aus)
        self.proj = LinearBlock(c, d)
        self.afg = nn.ModuleList(LinearBlock(d, d) for _ in range(n))
        self.gnn = FactorGraphLayer(d, n, neighbours)
        self.class_vectors = nn.Parameter(torch.empty(n, d))
        nn.init.xavier_uniform_(self.class_vectors)
        self._init_au_weights(n)

    def node_features(self, x):
        f = self.backbone(x)                                   # (B, C, h, w)
        tokens = self.proj(f.flatten(2).transpose(1, 2))       # (B, hw, d)
        nodes = torch.stack([blk(tokens).mean(1) for blk in self.afg], dim=1)  # (B, n, d)
        return self.gnn(nodes)

    def forward(self, x):
        v = F.normalize(F.relu(self.node_features(x)).float(), dim=-1)
        s = F.normalize(F.relu(self.class_vectors).float(), dim=-1)
        return (v * s).sum(-1)                                 # probabilities in [0, 1]

    def decide(self, output):
        return output.float().clamp(0, 1)

    def loss(self, batch, output):
        return weighted_asymmetric_loss(output, batch["au"], self.au_weights, batch.get("au_mask"))


@register("megraph", output="probabilities (B, n_aus)",
          paper="Luo et al., IJCAI 2022 (ME-GraphAU, stage-1 ANFL re-implementation)",
          tiny_kwargs={"aus": ["AU1", "AU2", "AU4", "AU12"], "backbone": "resnet18", "neighbours": 2,
                       "input_size": 64})
def megraph(aus=BP4D_AUS,            # AU names predicted, in output order
            backbone: str = "resnet50",  # resnet18 | resnet50 (ME-GraphAU's ResNet-50 by default)
            weights=None,            # torchvision ImageNet file for the backbone; None = random init
            backbone_weights=None,   # aulib-backbone file from expression pre-training ("+ pre-train")
            neighbours: int = 4,     # top-K graph neighbours (4 BP4D, 3 DISFA)
            reduction: int = 4,      # node feature size = backbone channels / reduction
            input_size: int = 224):  # declared input size (224 in ME-GraphAU)
    return MEGraphAU(aus, backbone, weights, backbone_weights, neighbours, reduction, input_size)


class ExpressionPretrainNet(nn.Module):
    """A backbone with a linear head on expression targets (FG-Net's "ME-GraphAU + FFHQ
    pre-train": the backbone is pre-trained on the face set's expression labels).

    ``kind``: ``multiclass`` (``batch[target]`` a class index; cross-entropy), ``multilabel``
    (0/1 vector; BCE) or ``regression`` (float vector, e.g. expression coefficients; MSE).
    """

    def __init__(self, backbone: str = "resnet50", n_outputs: int = 7, kind: str = "multiclass",
                 target: str = "expression", weights=None, input_size: int = 224):
        super().__init__()
        if kind not in ("multiclass", "multilabel", "regression"):
            raise ValueError(f"kind must be multiclass, multilabel or regression, found {kind!r}")
        self.kind, self.target, self.input_size = kind, target, int(input_size)
        self.backbone = Backbone(backbone, weights)
        self.init = self.backbone.init
        self.head = nn.Linear(self.backbone.out_channels, int(n_outputs))

    def forward(self, x):
        return self.head(F.adaptive_avg_pool2d(self.backbone(x), 1).flatten(1))

    def loss(self, batch, output):
        if self.target not in batch:
            raise KeyError(f"pre-training needs the target {self.target!r} in every dataset item; "
                           f"the items have {sorted(batch)}")
        y = batch[self.target]
        if self.kind == "multiclass":
            return F.cross_entropy(output.float(), y.long().view(-1))
        if self.kind == "multilabel":
            return masked_bce(output, {"au": y.float(), "au_mask": batch.get(self.target + "_mask")})
        return F.mse_loss(output.float(), y.float())

    def decide(self, output):
        return output.float().softmax(-1) if self.kind == "multiclass" else (
            torch.sigmoid(output.float()) if self.kind == "multilabel" else output.float())


@register("expression_pretrain", output="expression logits (B, n_outputs)",
          paper="FG-Net (Yin et al., WACV 2024) section 4: backbone pre-training on FFHQ expressions",
          tiny_kwargs={"backbone": "resnet18", "n_outputs": 5, "input_size": 64})
def expression_pretrain(backbone: str = "resnet50",  # backbone to pre-train (the one megraph uses)
                        n_outputs: int = 7,          # number of expression classes / targets
                        kind: str = "multiclass",    # multiclass | multilabel | regression
                        target: str = "expression",  # dataset item key holding the target
                        weights=None,                # torchvision ImageNet file to start from; None = random
                        input_size: int = 224):      # declared input size
    return ExpressionPretrainNet(backbone, n_outputs, kind, target, weights, input_size)
