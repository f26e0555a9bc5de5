"""PIAP-DF (Tang, Zeng, Zhao, Zhang; ICCV 2021; paper 004): one AU model with switches.

Registered as ``piapdf``: an AU encoder (EfficientNet-B1, §3.1) with

- ``pi="pi2"`` - stage 2 of Pixel-Interested learning (§3.1): the PI Generator
  (:class:`~aulib.models.dwunet.DWUNet`, loaded from stage 1) maps the RGB face to 12 PI maps
  in [0, 1] ("before One-Hot encoding"); their Hadamard product with the greyscale face is the
  12-channel input of the encoder, whose first convolution takes 12 channels. The generator is
  trained by L_AU with the encoder; afterwards it is PI Generator 1 (:func:`export_generator`).
- ``pi="pi3"`` - stage 3 (§3.1, eq. 3): the encoder sees the RGB face; a decoder of depthwise
  convolutions and x2 up-sampling maps its last feature map (1280 x 7 x 7 at 224-256 px) to 12
  PI maps, trained by L_PI (eq. 1) against the fixed PI Generator 1's maps.
- ``ap=True`` - Anti Person-Specific learning (§3.2, eq. 4): Encoder P (same architecture,
  trained for face recognition, fixed) gives v_P; L_AP = -mean log(1 - |cos(v_P, v_AU)|).
- ``df="discrete" | "mpl"`` - Discrete-Feedback semi-supervised learning (§3.3, eqs. 7-11):
  a teacher and a student copy of the model (generator and Encoder P fixed), both started
  from ``init_weights`` (a trained PIAP run); see :class:`PIAPDF`.

The loss (eq. 6): L = w_AU L_AU + w_PI L_PI + w_AP L_AP with weights summing to 1:
``pi_weight`` and ``ap_weight`` where their part is on, L_AU taking the rest (eq. 3: alpha =
1 - pi_weight; eq. 5: beta = 1 - ap_weight). The paper gives no values; ours are 0.2 each.
L_AU is the masked multi-label BCE (eq. 2) with per-AU weights from the training base rates
(the trainer's ``weighted_bce``, as every model here; the paper's eq. 2 is unweighted). With
``balanced=True`` (not the paper's loss) each AU's positive term is also weighted by
``(1 - r) / r``, ``r`` the running base rate of the labelled training batches
(:class:`~aulib.models.common.RunningBaseRate`, as Shang & Yu's, DANN's and DRML's balanced
losses): short CPU runs otherwise learn "absent" for most AUs.

Also here: :class:`LandmarkRegressor` (``piapdf_landmarks``), the toy case of §3.2: a
ResNet-50 whose 1000-d output feeds a linear landmark head, trained by MSE.
"""
from __future__ import annotations

import copy
import math
import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .common import AUWeights, Backbone, RunningBaseRate, au_list, load_backbone_weights, weighted_bce
from .dwunet import BP4D_AUS, DWUNet, conv3x3
from .registry import register

GENERATOR_FORMAT = "aulib-pi-generator/1"
PI_MODES = ("off", "pi2", "pi3")
DF_MODES = ("off", "discrete", "mpl")


# ------------------------------------------------------------------ PI generator files
def export_generator(generator: DWUNet, path, source: str) -> Path:
    """Write a PI generator as ``{format, kwargs, source, state_dict}`` (what ``piapdf``'s
    ``generator_weights`` reads). Returns the path (written atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kw = dict(aus=list(generator.aus), base=generator.base, depth=generator.depth, depthwise=generator.depthwise, input_size=generator.input_size)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"format": GENERATOR_FORMAT, "kwargs": kw, "source": source,
                "state_dict": {k: v.detach().cpu() for k, v in generator.state_dict().items()}}, tmp)
    os.replace(tmp, path)
    return path


def load_generator(path) -> tuple[DWUNet, str]:
    """A PI generator from a file of :func:`export_generator`; returns (network, source).

    Raises FileNotFoundError (with what to run) or ValueError for another kind of file."""
    p = Path(os.fspath(path)).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"PI generator file {p} not found. Expected an '{GENERATOR_FORMAT}' file "
                                "written by aulib.papers.piapdf (stage 1: notebooks/piapdf/00_pi_generator_encoder_p; "
                                "PI Generator 1: a pi='pi2' run)")
    obj = torch.load(p, map_location="cpu", weights_only=True)
    if not isinstance(obj, dict) or obj.get("format") != GENERATOR_FORMAT:
        found = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(f"{p} is not a PI generator file (expected format {GENERATOR_FORMAT!r}, found {found!r})")
    net = DWUNet(**obj["kwargs"])
    net.load_state_dict(obj["state_dict"])
    return net, str(obj.get("source", p.name))


def _adapt_first_conv(body: nn.Module, channels: int) -> None:
    """Give the first convolution of ``body`` ``channels`` inputs. Its RGB kernels (ImageNet
    or random) are averaged and scaled by 3 / channels, so a grey image spread over the
    channels gives the response the RGB network gave (our choice; the paper only says "with
    the number of input channels changed to 12")."""
    for parent in body.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                new = nn.Conv2d(channels, child.out_channels, child.kernel_size, child.stride, child.padding,
                                bias=child.bias is not None)
                with torch.no_grad():
                    new.weight.copy_(child.weight.mean(1, keepdim=True).expand_as(new.weight) * (3.0 / channels))
                    if child.bias is not None:
                        new.bias.copy_(child.bias)
                setattr(parent, name, new)
                return


class PIDecoder(nn.Module):
    """Stage-3 decoder (§3.1): feature map (B, C, h, w) -> PI-map logits (B, n, S, S) by
    x2 bilinear up-sampling + depthwise-separable conv blocks until at least S/2... S, then a
    1x1 convolution and a final resize to S (7 -> 224 -> 256 at the paper's size). Widths halve
    from ``width`` down to 16 (our choice; the paper: "DWConv layers and upsampling layers")."""

    def __init__(self, in_channels: int, n_maps: int, width: int = 256, n_up: int = 5):
        super().__init__()
        blocks, c = [conv3x3(in_channels, width, True)], width
        for _ in range(n_up):
            blocks += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                       conv3x3(c, max(16, c // 2), True)]
            c = max(16, c // 2)
        self.body = nn.Sequential(*blocks)
        self.out = nn.Conv2d(c, n_maps, 1)

    def forward(self, f, size: int):
        return F.interpolate(self.out(self.body(f)), size=(size, size), mode="bilinear", align_corners=False)


def _grey(x):
    """Luma (ITU-R BT.601) of a normalised RGB batch (B, 3, H, W) -> (B, 1, H, W)."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


class PIAP(AUWeights):
    """The PIAP model (see the module docstring). ``forward(x)``: in eval mode AU logits
    (B, n_aus) from the AU encoder alone (plus the generator for ``pi2``, whose maps are the
    encoder's input); in training mode a dict of what the loss needs. ``loss(batch, out)``:
    eq. 6 with the switched-on terms."""

    def __init__(self, aus=BP4D_AUS, arch: str = "efficientnet_b1", weights=None, pi: str = "off",
                 ap: bool = False, generator_weights=None, encoder_p_weights=None, pi_weight: float = 0.2,
                 ap_weight: float = 0.2, dropout: float = 0.2, input_size: int = 256, decoder_width: int = 256,
                 init_weights=None, balanced: bool = False):
        super().__init__()
        if pi not in PI_MODES:
            raise ValueError(f"pi must be one of {PI_MODES}, found {pi!r}")
        self.aus = au_list(aus)
        self.pi, self.ap, self.input_size = pi, bool(ap), int(input_size)
        self._init_au_weights(len(self.aus))
        # balanced L_AU only; the estimate is a non-persistent buffer (checkpoints keep one layout)
        self.balanced, self.base_rate = bool(balanced), RunningBaseRate(len(self.aus), enabled=balanced)
        used = (pi_weight if pi == "pi3" else 0.0) + (ap_weight if ap else 0.0)
        if not 0 <= used < 1:
            raise ValueError(f"pi_weight + ap_weight must lie in [0, 1) (L_AU takes the rest, eq. 6), found {used}")
        self.w_au, self.w_pi, self.w_ap = 1.0 - used, (pi_weight if pi == "pi3" else 0.0), (ap_weight if ap else 0.0)
        self.encoder = Backbone(arch, weights)
        self.init = self.encoder.init
        self.generator, self.generator_source = None, ""
        if pi != "off":
            if not generator_weights:
                raise ValueError(f"pi={pi!r} needs generator_weights: the PI generator file of stage 1 "
                                 "(PI Generator 0, for pi2) or of a pi2 run (PI Generator 1, for pi3)")
            # one map per AU the generator draws (BP4D's 12), also when the model predicts
            # another AU set (Table 2: DISFA's 8 AUs fine-tuned from the BP4D model)
            self.generator, self.generator_source = load_generator(generator_weights)
        n_maps = len(self.generator.aus) if self.generator is not None else 0
        if pi == "pi2":
            _adapt_first_conv(self.encoder.body, n_maps)
        else:
            self._freeze(self.generator)
        c = self.encoder.out_channels
        self.decoder = PIDecoder(c, n_maps, decoder_width, n_up=max(1, round(math.log2(self.input_size / 8))))\
            if pi == "pi3" else None
        self.encoder_p, self.encoder_p_source = None, ""
        if ap:
            if not encoder_p_weights:
                raise ValueError("ap=True needs encoder_p_weights: the face-recognition backbone file of Encoder P "
                                 "(aulib.train.identity; notebook piapdf/00_pi_generator_encoder_p)")
            self.encoder_p = Backbone(arch, None)
            self.encoder_p_source = load_backbone_weights(self.encoder_p, encoder_p_weights)
            self._freeze(self.encoder_p)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c, len(self.aus))
        if init_weights:
            self.init = _load_piap_state(self, init_weights)

    @staticmethod
    def _freeze(m):
        if m is not None:
            for p in m.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        for m in (self.encoder_p, self.generator if self.pi == "pi3" or getattr(self, "_generator_fixed", False)
                  else None):
            if m is not None:
                m.eval()       # fixed parts keep their BN statistics
        return self

    def fix_generator(self):
        """Freeze the generator (DF: "PIAP with PI Generator and Encoder P fixed", §3.4)."""
        self._generator_fixed = True
        self._freeze(self.generator)
        if self.generator is not None:
            self.generator.eval()

    def pi_maps(self, x):
        """The generator's PI maps in [0, 1] (B, n_aus, S, S)."""
        return self.generator.maps(x)

    def encode(self, x):
        """(feature map, pooled AU feature v_AU, PI maps or None) of a normalised RGB batch."""
        maps = None
        if self.pi == "pi2":
            maps = self.pi_maps(x)
            x = maps * _grey(x)
        f = self.encoder(x)
        return f, self.pool(f).flatten(1), maps

    def forward(self, x):
        f, v, _ = self.encode(x)
        logits = self.head(self.dropout(v))
        if not self.training:
            return logits
        out = {"logits": logits, "v_au": v}
        if self.pi == "pi3":
            out["pi_pred"] = self.decoder(f, x.shape[-1])
            with torch.no_grad():
                out["pi_target"] = self.pi_maps(x)
        if self.ap:
            with torch.no_grad():
                out["v_p"] = self.pool(self.encoder_p(x)).flatten(1)
        return out

    def decide(self, output):
        return torch.sigmoid((output["logits"] if isinstance(output, dict) else output).float())

    def au_pos_weight(self, labels, mask=None):
        """The per-AU weights of L_AU's positive terms for a labelled training batch: ``None``
        (eq. 2) unless ``balanced``, then ``(1 - r) / r`` of the running base rate, which this
        call updates in training mode (call it once per step, with the true labels)."""
        return self.base_rate.pos_weight(labels, mask)

    def terms(self, out, labels, mask=None, pos_weight=None) -> dict:
        """Each loss term of eq. 6 (tensors) and ``total`` for the given AU labels; ``pos_weight``
        (:meth:`au_pos_weight`) weighs L_AU's positive terms."""
        t = {"au": weighted_bce(out["logits"], labels, self.au_weights, mask, pos_weight=pos_weight)}
        total = self.w_au * t["au"]
        if self.pi == "pi3":
            t["pi"] = F.binary_cross_entropy_with_logits(out["pi_pred"].float(), out["pi_target"].float())
            total = total + self.w_pi * t["pi"]
        if self.ap:
            t["ap"] = ap_loss(out["v_au"], out["v_p"])
            total = total + self.w_ap * t["ap"]
        t["total"] = total
        return t

    def loss(self, batch, out):
        y, m = batch["au"], batch.get("au_mask")
        return self.terms(out, y, m, self.au_pos_weight(y, m))["total"]


def ap_loss(v_au, v_p, eps: float = 1e-6):
    """Eq. 4: -mean_n log(1 - |<v_P, v_AU>| / (||v_P|| ||v_AU||)) (B,) feature pairs -> scalar."""
    cos = F.cosine_similarity(v_au.float(), v_p.float(), dim=1, eps=1e-8).abs()
    return -torch.log((1 - cos).clamp_min(eps)).mean()


def feedback_value(dot: float, mode: str, lr: float, enabled: bool, negative: float = -0.1) -> float:
    """The teacher's feedback from the student's gradient product ``dot`` = g_{xi',l}^T g_{xi,u}.

    ``discrete`` (eq. 10): sigma * h(dot), h = 1 if dot > 0 else ``negative`` (-0.1), sigma = 0
    when disabled (probability 5 %) else 1. ``mpl``: the continuous first-order Meta Pseudo
    Labels feedback lr * dot (eq. 14 without discretisation; methods.md C.3)."""
    if mode == "discrete":
        return (1.0 if dot > 0 else negative) if enabled else 0.0
    if mode == "mpl":
        return lr * dot
    raise ValueError(f"feedback mode must be 'discrete' or 'mpl', found {mode!r}")


class PIAPDF(nn.Module):
    """Discrete-Feedback semi-supervised learning (§3.3-3.4): teacher f_theta and student f_xi,
    copies of a trained PIAP (``init_weights``) with the generator and Encoder P fixed (and
    shared). Eval-mode ``forward(x)`` is the student's AU logits (the final model, §3.4).

    Training batches carry a labelled face ``image`` (x_l, labels G_l) and an unlabelled face
    ``target_image`` (x_u). One step (our order of eqs. 7-11):

    1. the teacher labels x_u: Y_p = 1[sigmoid(f_theta(x_u)) > 0.5] (hard pseudo labels);
    2. g_{xi,u} = grad_xi L_PIAP(f_xi(x_u), G_p); the student steps xi' = xi - lr g_{xi,u}
       (plain SGD, eq. 8, done here);
    3. g_{xi',l} = grad L_PIAP(f_xi'(x_l), G_l); fb = g_{xi',l}^T g_{xi,u} (eq. 10);
    4. the returned loss is fb_D L_PIAP(f_theta(x_u), G_p) + L_PIAP(f_theta(x_l), G_l), whose
       gradient is eq. 11's fb_D g_{theta,u} + g_{theta,l} (the trainer's optimiser steps the
       teacher; with plain SGD at ``student_lr`` this is eq. 11 exactly).

With ``balanced`` every L_AU term of the step (pseudo-labelled and labelled) uses the same
positive weights, from the teacher's running base rate of the labelled batches.

    Buffers ``fb_steps``, ``fb_positive``, ``fb_disabled`` and ``fb_sum`` count the feedback
    over training (stored in every checkpoint; :meth:`feedback_stats`).
    """

    train_inputs = ("image", "target_image")

    def __init__(self, student_lr: float = 0.01, feedback: str = "discrete", disable_p: float = 0.05,
                 negative: float = -0.1, init_weights=None, **piap_kwargs):
        super().__init__()
        if feedback not in ("discrete", "mpl"):
            raise ValueError(f"feedback must be 'discrete' or 'mpl', found {feedback!r}")
        self.teacher = PIAP(init_weights=init_weights, **piap_kwargs)
        self.init = self.teacher.init
        self.teacher.fix_generator()
        self.student = copy.deepcopy(self.teacher)
        # fixed parts are shared, not copied (one generator / Encoder P in memory and in files)
        self.student.generator, self.student.encoder_p = self.teacher.generator, self.teacher.encoder_p
        self.aus = self.teacher.aus
        self.feedback, self.student_lr = feedback, float(student_lr)
        self.disable_p, self.negative = float(disable_p), float(negative)
        for name in ("fb_steps", "fb_positive", "fb_disabled"):
            self.register_buffer(name, torch.zeros((), dtype=torch.long))
        self.register_buffer("fb_sum", torch.zeros((), dtype=torch.float64))

    def set_au_weights(self, w):
        self.teacher.set_au_weights(w)
        self.student.set_au_weights(w)

    def _student_params(self):
        return [p for p in self.student.parameters() if p.requires_grad]

    def forward(self, x, x_u=None):
        if not self.training or x_u is None:
            return self.student(x) if not self.training else self.teacher(x)
        return {"x_l": x, "x_u": x_u}

    def decide(self, output):
        return self.student.decide(output)

    def loss(self, batch, out):
        x_l, x_u = out["x_l"], out["x_u"]
        y_l, m_l = batch["au"], batch.get("au_mask")
        t_u = self.teacher(x_u)
        y_p = (torch.sigmoid(t_u["logits"].detach()) > 0.5).float()
        # balanced L_AU: one positive weighting per step, from the labelled batch's base rates
        pw = self.teacher.au_pos_weight(y_l, m_l)
        params = self._student_params()
        # (7)-(8): the student's step on the pseudo labels
        l_su = self.student.terms(self.student(x_u), y_p, pos_weight=pw)["total"]
        g_u = torch.autograd.grad(l_su, params)
        with torch.no_grad():
            for p, g in zip(params, g_u):
                p.sub_(self.student_lr * g)
        # (9)-(10): the student's gradient on labelled data after the step, and the feedback
        l_sl = self.student.terms(self.student(x_l), y_l, m_l, pw)["total"]
        g_l = torch.autograd.grad(l_sl, params)
        dot = float(sum((a.double() * b.double()).sum() for a, b in zip(g_l, g_u)))
        enabled = bool(torch.rand(()) >= self.disable_p) if self.feedback == "discrete" else True
        fb = feedback_value(dot, self.feedback, self.student_lr, enabled, self.negative)
        with torch.no_grad():
            self.fb_steps += 1
            self.fb_positive += int(dot > 0)
            self.fb_disabled += int(not enabled)
            self.fb_sum += dot
        # (11): teacher loss whose gradient is fb_D g_{theta,u} + g_{theta,l}
        l_tu = self.teacher.terms(t_u, y_p, pos_weight=pw)["total"]
        l_tl = self.teacher.terms(self.teacher(x_l), y_l, m_l, pw)["total"]
        return fb * l_tu + l_tl

    def feedback_stats(self) -> dict:
        """Steps, share of positive feedback (the sign rate), share disabled, mean g^T g."""
        n = int(self.fb_steps)
        return {"steps": n, "positive_rate": float(self.fb_positive) / n if n else float("nan"),
                "disabled_rate": float(self.fb_disabled) / n if n else float("nan"),
                "mean_dot": float(self.fb_sum) / n if n else float("nan")}


def _load_piap_state(model: PIAP, path) -> str:
    """Load a trained PIAP run's weights (an aulib checkpoint, e.g. ``<run>/best.pt``)."""
    p = Path(os.fspath(path)).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"DF starts from a trained PIAP run: {p} not found (expected <run_dir>/best.pt "
                                "of a piapdf run with the same switches)")
    obj = torch.load(p, map_location="cpu", weights_only=True)
    state = obj.get("state_dict") if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{p} is not an aulib checkpoint with a state_dict")
    own = model.state_dict()
    # a new AU set (Table 2, §4.1.2: "reconnect it to an 8-dimension output") gets a new head
    new_head = [k for k in ("head.weight", "head.bias", "au_weights") if k in state and state[k].shape != own[k].shape]
    state = {k: v for k, v in state.items() if k not in new_head}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in new_head]
    if missing or unexpected:
        raise ValueError(f"{p} does not fit this PIAP model (other switches?): missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]}")
    return f"piap run {p.parent.name}" + (" (new AU head)" if new_head else "")


@register("piapdf", output="AU logits [B, n_aus] in eval mode; in training a dict of the loss inputs (logits, v_AU, PI maps, v_P)",
          paper="Tang et al., ICCV 2021 (PIAP-DF): EfficientNet-B1 + PI / AP / DF switches",
          tiny_kwargs={"aus": ["AU1", "AU2", "AU12"], "arch": "efficientnet_b1", "input_size": 64})
def piapdf(aus=BP4D_AUS,                 # AU names predicted, in output order
           arch: str = "efficientnet_b1",  # AU encoder (paper: EfficientNet-B1); Encoder P has the same
           weights=None,                 # torchvision ImageNet file of arch; None = random init
           pi: str = "off",              # off | pi2 (maps x grey as input) | pi3 (decoder + L_PI)
           ap: bool = False,             # Anti Person-Specific loss with Encoder P
           df: str = "off",              # off | discrete (DF, eq. 10) | mpl (continuous feedback)
           generator_weights=None,       # PI generator file (pi2: stage 1's; pi3: a pi2 run's)
           encoder_p_weights=None,       # Encoder P backbone file (face recognition)
           init_weights=None,            # best.pt of a trained PIAP run to start from (DF; Table 2's fine-tuning)
           pi_weight: float = 0.2,       # weight of L_PI when pi3 (eq. 3: alpha = 1 - pi_weight)
           ap_weight: float = 0.2,       # weight of L_AP when ap (eq. 5: beta = 1 - ap_weight)
           student_lr: float = 0.01,     # DF: the student's SGD step eta (eq. 8)
           disable_p: float = 0.05,      # DF: probability that sigma disables the feedback (eq. 10)
           dropout: float = 0.2,         # before the AU layer (torchvision's B1 classifier dropout)
           input_size: int = 256,        # face size (paper 256)
           decoder_width: int = 256,     # first width of the stage-3 decoder
           balanced: bool = False):      # L_AU also weighs each AU's positives by (1 - r) / r (not the paper's eq. 2)
    kw = dict(aus=aus, arch=arch, weights=weights, pi=pi, ap=ap, generator_weights=generator_weights,
              encoder_p_weights=encoder_p_weights, pi_weight=pi_weight, ap_weight=ap_weight, dropout=dropout,
              input_size=input_size, decoder_width=decoder_width, balanced=balanced)
    if df == "off":
        return PIAP(init_weights=init_weights, **kw)
    if df not in DF_MODES:
        raise ValueError(f"df must be one of {DF_MODES}, found {df!r}")
    return PIAPDF(student_lr=student_lr, feedback=df, disable_p=disable_p, init_weights=init_weights, **kw)


# --------------------------------------------------------------------------- toy case
class LandmarkRegressor(nn.Module):
    """§3.2's toy case: torchvision ResNet-50 (its 1000-d output is "the 1000-dimension vector
    before the last fully-connected layer") + Linear(1000, 136) regressing the 68 landmarks,
    normalised to [0, 1] by the face size; loss MSE. ``features(x)``: the 1000-d vector."""

    def __init__(self, arch: str = "resnet50", weights=None, input_size: int = 256):
        super().__init__()
        import torchvision.models as tvm

        from .common import load_torchvision_weights

        self.net = getattr(tvm, arch)(weights=None)
        self.init = "random"
        if weights:
            self.init = load_torchvision_weights(self.net, arch, weights)
        self.head = nn.Linear(self.net.fc.out_features, 136)
        self.input_size = int(input_size)

    def features(self, x):
        return self.net(x)

    def forward(self, x):
        return self.head(self.features(x)).view(-1, 68, 2)

    def decide(self, output):
        return output.flatten(1)

    def loss(self, batch, output):
        target = batch["landmarks"].float() / float(batch["image"].shape[-1])
        return F.mse_loss(output.float(), target)


@register("piapdf_landmarks", output="landmarks (B, 68, 2) in [0, 1] of the face size",
          paper="Tang et al., ICCV 2021 (PIAP-DF) §3.2 toy case: ResNet-50 landmark regressor",
          tiny_kwargs={"arch": "resnet18", "input_size": 64})
def piapdf_landmarks(arch: str = "resnet50",  # torchvision ResNet (paper: ResNet-50)
                     weights=None,            # torchvision ImageNet file; None = random init
                     input_size: int = 256):  # declared input size
    return LandmarkRegressor(arch, weights, input_size)
