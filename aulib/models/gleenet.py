"""GLEE-Net (Hu, Zhang, Li, Ding, Chen, Deng, Yu; AAAI 2023; paper 002): AU detection from a
global-local expression embedding, 3DMM expression coefficients and a Transformer classifier.

Parts, one module each: :mod:`aulib.models.facenet` (the global branch's two siamese
Inception-ResNet-v1 networks), :mod:`aulib.models.gleenet_local` (16 crops), 
:mod:`aulib.face.morphable` (the 3D global branch's fit, done once per frame outside the
network) and :mod:`aulib.models.gleenet_classifier`. This module assembles them (§3):

- global branch (§3.1): ``V_exp = V_face - V_id`` (eq. 1) with the identity network frozen
  (BatchNorm included) and the face network trained, both initialised from a face-recognition
  FaceNet; a linear layer -> G_exp;
- local branch (§3.2) -> L_exp; ``E_exp = G_exp + L_exp`` (16-d; L2-normalised for the triplet
  loss, eq. 4);
- 3D global branch (§3.3): f_exp, concatenated with E_exp -> F_exp;
- Transformer classifier (§3.4); loss eq. 5 (weighted BCE, weights from training base rates) on
  the initial and the final predictions; an AU is present when p > 0.5.

Input: the trainer and ``predict`` call ``model(x)`` with one tensor, so the 3DMM coefficients
travel with the image as a fourth plane (:func:`pack_inputs`: (B, 3, S, S) RGB + (B, K)
coefficients -> (B, 4, S, S), the coefficients in the first K values of plane 4). A model with
``n_exp3d = 0`` (w/o 3DGB) takes plain RGB. ``aulib.papers.gleenet.With3D`` packs dataset items.

Table 5's ablation rows are constructor switches: ``branches`` ("gb_lb" full, "gb" w/o LB,
"resnet" w. ResNet, "none" w/o GB & LB), ``n_exp3d=0`` (w/o 3DGB), ``freeze_branches`` (w. fixed
GB & LB), ``classifier="mlp"`` (w/o TC), ``joint_fc=False`` (w/o joint FC); "w/o pretrain" is
the full model without ``embedding_weights``.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .common import AUWeights, Backbone, RunningBaseRate, au_list, masked_bce
from .facenet import InceptionResnetV1, load_facenet_weights, read_state_dict
from .gleenet_classifier import MLPClassifier, TransformerClassifier
from .gleenet_local import LocalBranch
from .registry import register

BRANCHES = ("gb_lb", "gb", "resnet", "none")
EMBEDDING_FORMAT = "aulib-gleenet-embedding/1"
FACENET_FORMAT = "aulib-facenet/1"
#: the paper's reported size (§4.2): parameters (millions) and GFLOPs
PAPER_PARAMS_M, PAPER_GFLOPS = 56.6, 8.72


def pack_inputs(image: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) images and (B, K) 3DMM coefficients -> (B, 4, S, S): the coefficients fill
    the first K values of the fourth plane (row-major), the rest is 0. Needs K <= S * S."""
    b, _, h, w = image.shape
    coeffs = coeffs.reshape(b, -1).to(image)
    if coeffs.shape[1] > h * w:
        raise ValueError(f"{coeffs.shape[1]} coefficients do not fit a {h}x{w} plane")
    plane = torch.zeros(b, h * w, dtype=image.dtype, device=image.device)
    plane[:, :coeffs.shape[1]] = coeffs
    return torch.cat([image, plane.view(b, 1, h, w)], 1)


def unpack_inputs(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`pack_inputs`: (B, 4, S, S) -> (images (B, 3, S, S), coefficients (B, k))."""
    return x[:, :3], x[:, 3].flatten(1)[:, :k]


def save_facenet(net: InceptionResnetV1, path, kwargs: dict, source: str) -> Path:
    """Write a FaceNet trained here (e.g. identity pre-training on synth-faces) as
    ``{format, kwargs, source, state_dict}`` for :func:`load_any_facenet`."""
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    torch.save({"format": FACENET_FORMAT, "kwargs": dict(kwargs), "source": source, "state_dict": net.state_dict()}, tmp)
    os.replace(tmp, path)
    return path


def load_any_facenet(net: InceptionResnetV1, path) -> str:
    """Initialise ``net`` from facenet-pytorch's published file (strict, its key layout) or from
    a file :func:`save_facenet` wrote (its constructor arguments must match). Returns the note."""
    p = Path(os.fspath(path)).expanduser()
    if p.is_file():
        obj = torch.load(p, map_location="cpu", weights_only=True)
        if isinstance(obj, dict) and obj.get("format") == FACENET_FORMAT:
            mine = {"width": net.width, "repeats": list(net.repeats), "embedding_size": net.embedding_size}
            theirs = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in obj["kwargs"].items() if k in mine}
            if any(theirs.get(k) != v for k, v in mine.items()):
                raise ValueError(f"{p} holds a FaceNet with {theirs}; this model's FaceNet has {mine}")
            state = {k: v for k, v in obj["state_dict"].items() if not k.startswith("logits.")}
            net.load_state_dict(state, strict=False)
            missing = [k for k in net.state_dict() if k not in state]
            if missing:
                raise ValueError(f"{p} lacks {len(missing)} FaceNet key(s): {missing[:8]}")
            net.init = f"{obj.get('source', 'identity pre-training')}:{p.name}"
            return net.init
    read_state_dict(p)  # FileNotFoundError / ValueError with the expected file named
    load_facenet_weights(net, p)
    return net.init


class GLEENet(AUWeights, nn.Module):
    """GLEE-Net; see the module docstring. forward(x) -> final logits (B, n_aus); in training the
    initial logits are kept for :meth:`loss`.

    Args:
        aus: AU names in output order.
        input_size: side of the aligned face (paper: FaceNet's 160).
        facenet: keyword arguments of both FaceNets (width, repeats, embedding_size).
        facenet_weights: file of a face-recognition FaceNet for both (published VGGFace2 file,
            or our identity pre-training); None = random init (the identity net is still frozen).
        embed_dim: size of G_exp, L_exp and E_exp (paper 16).
        local: keyword arguments of :class:`LocalBranch` (crop_size, channels, strides, pool, hidden).
        n_exp3d: number of 3DMM expression coefficients packed with the image (paper 51; 0 = w/o 3DGB).
        branches: "gb_lb" | "gb" | "resnet" | "none" (see module docstring).
        resnet: torchvision arch of the "w. ResNet" row.
        freeze_branches: keep the (pre-trained) global and local branches fixed.
        classifier: "transformer" | "mlp".
        joint_fc: the classifier's joint FC layer.
        token_dim, n_layers, hidden: classifier sizes (paper: 32-d tokens, 3 layers).
        embedding_weights: file written by the triplet pre-training (global + local branch).
        balanced: eq. 5 with each AU's positive term also weighted by ``(1 - r) / r`` (``r`` the
            running base rate of the training batches, :class:`~aulib.models.common.RunningBaseRate`,
            as Shang & Yu's and DRML's balanced losses) - not the paper's loss; a short run then
            does not settle on "absent" for every AU. Off by default (the paper's eq. 5).
    """

    def __init__(self, aus=("AU1", "AU2", "AU4"), input_size: int = 160, facenet: dict | None = None,
                 facenet_weights=None, embed_dim: int = 16, local: dict | None = None, n_exp3d: int = 51,
                 branches: str = "gb_lb", resnet: str = "resnet18", freeze_branches: bool = False,
                 classifier: str = "transformer", joint_fc: bool = True, token_dim: int = 32, n_layers: int = 3,
                 hidden: int = 64, embedding_weights=None, balanced: bool = False):
        super().__init__()
        if branches not in BRANCHES:
            raise ValueError(f"branches must be one of {BRANCHES}, got {branches!r}")
        if classifier not in ("transformer", "mlp"):
            raise ValueError(f"classifier must be 'transformer' or 'mlp', got {classifier!r}")
        if branches == "none" and not n_exp3d:
            raise ValueError("branches='none' (w/o GB & LB) needs the 3D branch (n_exp3d > 0): nothing would be left")
        self.aus = au_list(aus)
        self._init_au_weights(len(self.aus))
        self.balanced = bool(balanced)
        self.base_rate = RunningBaseRate(len(self.aus), enabled=self.balanced)   # non-persistent buffer
        self.input_size, self.embed_dim, self.n_exp3d = int(input_size), int(embed_dim), int(n_exp3d)
        self.branches, self.freeze_branches = branches, bool(freeze_branches)
        self.init = "random"
        fkw = dict(facenet or {})
        if branches in ("gb_lb", "gb"):
            self.face_net = InceptionResnetV1(**fkw)
            self.id_net = InceptionResnetV1(**fkw)
            if facenet_weights:
                note = load_any_facenet(self.face_net, facenet_weights)
                load_any_facenet(self.id_net, facenet_weights)
                self.init = note
            for p in self.id_net.parameters():
                p.requires_grad_(False)
            self.g_proj = nn.Linear(self.face_net.embedding_size, embed_dim)
        if branches == "gb_lb":
            self.local = LocalBranch(embed_dim=embed_dim, **dict(local or {}))
        if branches == "resnet":
            self.resnet = Backbone(resnet, None)
            self.r_proj = nn.Linear(self.resnet.out_channels, embed_dim)
        n_in = (embed_dim if branches != "none" else 0) + self.n_exp3d
        self.classifier = (TransformerClassifier(n_in, len(self.aus), token_dim, hidden, n_layers, joint_fc=joint_fc)
                           if classifier == "transformer" else MLPClassifier(n_in, len(self.aus), hidden * 4))
        self.joint_fc = bool(joint_fc) and classifier == "transformer"
        if embedding_weights:
            self.load_embedding(embedding_weights)
        if self.freeze_branches:
            for p in self.branch_parameters():
                p.requires_grad_(False)
        self._initial = None

    # -- parts ----------------------------------------------------------------------------
    def branch_parameters(self):
        """Parameters of the 2D branches (global + local, or the ResNet); the identity net is always fixed."""
        for name in ("face_net", "g_proj", "local", "resnet", "r_proj"):
            if hasattr(self, name):
                yield from getattr(self, name).parameters()

    def train(self, mode: bool = True):
        super().train(mode)
        if hasattr(self, "id_net"):
            self.id_net.eval()            # frozen: BatchNorm statistics stay those of face recognition
        if self.freeze_branches:
            for name in ("face_net", "g_proj", "local", "resnet", "r_proj"):
                if hasattr(self, name):
                    getattr(self, name).eval()
        return self

    def embedding(self, image: torch.Tensor) -> torch.Tensor:
        """E_exp (B, embed_dim), not normalised: G_exp + L_exp (or the ResNet's, or G_exp alone)."""
        image = image[:, :3]
        if self.branches == "resnet":
            return self.r_proj(F.adaptive_avg_pool2d(self.resnet(image), 1).flatten(1))
        if self.branches == "none":
            raise ValueError("this GLEE-Net has no 2D branches (branches='none')")
        with torch.no_grad():
            v_id = self.id_net(image)
        g = self.g_proj(self.face_net(image) - v_id)                      # eq. 1, then the linear layer
        return g + self.local(image) if self.branches == "gb_lb" else g

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """F_exp (B, F): E_exp concatenated with the 3DMM coefficients (what the classifier reads)."""
        parts = []
        if self.branches != "none":
            parts.append(self.embedding(x))
        if self.n_exp3d:
            if x.shape[1] != 4:
                raise ValueError(f"this GLEE-Net reads {self.n_exp3d} 3DMM coefficients packed with the image "
                                 f"(4 planes, aulib.models.gleenet.pack_inputs); got {x.shape[1]} planes - wrap the "
                                 "dataset in aulib.papers.gleenet.With3D, or build it with n_exp3d=0 (w/o 3DGB)")
            parts.append(unpack_inputs(x, self.n_exp3d)[1])
        return torch.cat(parts, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        final, initial = self.classifier(self.representation(x))
        self._initial = initial if self.training else None
        return final

    def loss(self, batch: dict, output: torch.Tensor) -> torch.Tensor:
        """Eq. 5 on the final predictions and (with the joint FC) on the initial ones; per-AU
        weights from the training base rates (``set_au_weights``), unknown labels masked. With
        ``balanced`` each AU's positive term is also weighted by ``(1 - r) / r`` (the running base
        rate, updated once per training step for both predictions) - not the paper's loss."""
        w = self.au_weights
        pw = self.base_rate.pos_weight(batch["au"], batch.get("au_mask"))
        total = masked_bce(output, batch, w, pw)
        if self.joint_fc and self._initial is not None:
            total = total + masked_bce(self._initial, batch, w, pw)
        return total

    # -- pre-trained embedding --------------------------------------------------------------
    def embedding_state(self) -> dict:
        """State of the parts the triplet pre-training trains (global + local branch)."""
        return {k: v for k, v in self.state_dict().items() if k.split(".")[0] in ("face_net", "id_net", "g_proj", "local")}

    def load_embedding(self, path) -> None:
        """Load the global + local branches from a triplet pre-training file (``EMBEDDING_FORMAT``);
        every key of the parts this model has must be there with its shape."""
        p = Path(os.fspath(path)).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"expression-embedding file not found at {p}; it is written by "
                                    "aulib.train.triplets.pretrain_embedding (notebook gleenet/00_pretraining)")
        obj = torch.load(p, map_location="cpu", weights_only=True)
        if not isinstance(obj, dict) or obj.get("format") != EMBEDDING_FORMAT:
            raise ValueError(f"{p} is not a GLEE-Net expression-embedding file (format {EMBEDDING_FORMAT})")
        own = self.embedding_state()
        state = obj["state_dict"]
        missing = [k for k in own if k not in state]
        shaped = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}" for k, v in own.items()
                  if k in state and state[k].shape != v.shape]
        if missing or shaped:
            raise ValueError(f"{p} does not fit this GLEE-Net's branches: missing {missing[:6]}, mis-shaped {shaped[:4]}")
        self.load_state_dict({k: state[k] for k in own}, strict=False)
        self.init = f"expression embedding:{p.parent.name}/{p.name}"


#: paper sizes of the parts (§3, §4.2); smaller ones for the CPU profiles are in aulib.papers.gleenet
TINY_KWARGS = dict(aus=["AU1", "AU2", "AU12"], input_size=96, facenet=dict(width=0.125, repeats=(1, 1, 1),
                   embedding_size=32), local=dict(crop_size=24, channels=(8, 8, 8, 8), pool=2, hidden=32),
                   n_exp3d=0, token_dim=8, n_layers=1, hidden=16)


@register("gleenet", output="logits (B, n_aus)", paper="Hu et al., AAAI 2023 (GLEE-Net)", tiny_kwargs=TINY_KWARGS)
def gleenet(**kwargs) -> GLEENet:
    return GLEENet(**kwargs)
