"""Domain-adversarial baselines of Shang & Yu's Table 1 (BP4D -> EmotioNet): DANN and ADDA.

- **DANN** (Ganin et al., JMLR 2016): a shared feature extractor, an AU head trained on
  labelled source images, and a domain classifier trained on source and target features
  through a gradient-reversal layer, so the features become domain-invariant. The reversal
  strength follows Ganin et al.'s schedule lambda(p) = 2 / (1 + exp(-10 p)) - 1 over the
  training progress p.
- **ADDA** (Tzeng et al., CVPR 2017): (1) a source encoder + AU head trained on source
  labels; (2) a target encoder initialised from the source encoder is trained so that a
  domain discriminator cannot tell its target features from the (frozen) source encoder's
  source features; the AU head is reused on target features. Here both stages run inside one
  ``fit``: the first ``source_fraction`` of training is stage 1; at the switch the target
  encoder is copied from the source encoder. Discriminator and target-encoder updates are
  taken in the same step (the encoder's GAN loss sees a detached copy of the discriminator),
  not alternated - a simplification to say beside its numbers.

Training batches carry target-domain images under ``target_image`` (see
``aulib.train.data.PairedDomains``); evaluation calls ``model(image)`` like any AU model.
The backbone is a torchvision ResNet (the papers do not fix one for these baselines).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .common import BP4D_AUS, AUWeights, Backbone, RunningBaseRate, au_list, masked_bce
from .registry import register


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lam):
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -ctx.lam * g, None


def grad_reverse(x, lam: float):
    """Identity forward; gradient multiplied by ``-lam`` backward (Ganin et al. 2016)."""
    return _GradReverse.apply(x, float(lam))


def _au_loss(model, logits, batch):
    """The AU term: masked BCE with the per-AU weights from the source base rates; with the model's
    ``balanced`` also each AU's positive term weighted by ``(1 - r) / r`` (``r`` the running base rate
    of the training batches, :class:`~aulib.models.common.RunningBaseRate`) - not the baselines'
    published loss: the same balancing Shang & Yu's ``tiny`` runs use, so a comparison with them
    is fair."""
    return masked_bce(logits, batch, model.au_weights, model.base_rate.pos_weight(batch["au"], batch.get("au_mask")))


def _mlp(d_in: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5), nn.Linear(hidden, 1))


class _Encoder(nn.Module):
    def __init__(self, arch, weights):
        super().__init__()
        self.backbone = Backbone(arch, weights)
        self.out_channels = self.backbone.out_channels

    def forward(self, x):
        return F.adaptive_avg_pool2d(self.backbone(x), 1).flatten(1)


class DANN(AUWeights):
    train_inputs = ("image", "target_image")

    def __init__(self, aus=BP4D_AUS, backbone: str = "resnet18", weights=None, domain_hidden: int = 256,
                 domain_weight: float = 1.0, input_size: int = 224, balanced: bool = False):
        super().__init__()
        self.aus = au_list(aus)
        self.input_size = int(input_size)
        self.encoder = _Encoder(backbone, weights)
        self.init = self.encoder.backbone.init
        self.head = nn.Linear(self.encoder.out_channels, len(self.aus))
        self.domain = _mlp(self.encoder.out_channels, domain_hidden)
        self.domain_weight = float(domain_weight)
        self.register_buffer("progress", torch.zeros(()))
        self._init_au_weights(len(self.aus))
        self.balanced, self.base_rate = bool(balanced), RunningBaseRate(len(self.aus), enabled=balanced)

    def set_progress(self, p: float) -> None:
        self.progress.fill_(float(p))

    def reversal(self) -> float:
        return 2.0 / (1.0 + math.exp(-10.0 * float(self.progress))) - 1.0

    def forward(self, x, x_target=None):
        f = self.encoder(x)
        logits = self.head(f)
        if x_target is None:
            return logits
        ft = self.encoder(x_target)
        d = self.domain(grad_reverse(torch.cat([f, ft]), self.reversal())).squeeze(-1)
        return {"logits": logits, "domain": d, "n_source": f.shape[0]}

    def decide(self, output):
        return torch.sigmoid((output["logits"] if isinstance(output, dict) else output).float())

    def loss(self, batch, output):
        if not isinstance(output, dict):
            return _au_loss(self, output, batch)
        au = _au_loss(self, output["logits"], batch)
        d = output["domain"].float()
        dom_label = torch.cat([torch.zeros(output["n_source"]), torch.ones(len(d) - output["n_source"])]).to(d.device)
        return au + self.domain_weight * F.binary_cross_entropy_with_logits(d, dom_label)


class ADDA(AUWeights):
    train_inputs = ("image", "target_image")
    ddp_find_unused_parameters = True

    def __init__(self, aus=BP4D_AUS, backbone: str = "resnet18", weights=None, disc_hidden: int = 256,
                 source_fraction: float = 0.5, input_size: int = 224, balanced: bool = False):
        super().__init__()
        if not 0.0 < source_fraction < 1.0:
            raise ValueError(f"source_fraction must be in (0, 1) (share of training spent on stage 1), "
                             f"found {source_fraction}")
        self.aus = au_list(aus)
        self.input_size = int(input_size)
        self.source_encoder = _Encoder(backbone, weights)
        self.target_encoder = _Encoder(backbone, None)
        self.init = self.source_encoder.backbone.init
        self.head = nn.Linear(self.source_encoder.out_channels, len(self.aus))
        self.disc = _mlp(self.source_encoder.out_channels, disc_hidden)
        self.source_fraction = float(source_fraction)
        self.register_buffer("adapted", torch.zeros((), dtype=torch.bool))
        self._init_au_weights(len(self.aus))
        self.balanced, self.base_rate = bool(balanced), RunningBaseRate(len(self.aus), enabled=balanced)

    def set_progress(self, p: float) -> None:
        if p >= self.source_fraction and not bool(self.adapted):
            self.target_encoder.load_state_dict(self.source_encoder.state_dict())
            self.adapted.fill_(True)

    def selectable(self) -> bool:
        """Only adapted epochs compete in model selection (stage-1 epochs are not ADDA yet)."""
        return bool(self.adapted)

    def forward(self, x, x_target=None):
        if x_target is None:   # evaluation: target encoder once adapted
            enc = self.target_encoder if bool(self.adapted) else self.source_encoder
            return self.head(enc(x))
        if not bool(self.adapted):   # stage 1: supervised source training
            return {"stage": "source", "logits": self.head(self.source_encoder(x))}
        self.source_encoder.eval()   # stage 2: source encoder and head are frozen
        with torch.no_grad():
            fs = self.source_encoder(x)
        ft = self.target_encoder(x_target)
        frozen = {k: v.detach() for k, v in self.disc.named_parameters()}
        return {"stage": "adapt", "d_src": self.disc(fs).squeeze(-1), "d_tgt": self.disc(ft.detach()).squeeze(-1),
                "g_tgt": torch.func.functional_call(self.disc, frozen, (ft,)).squeeze(-1)}

    def decide(self, output):
        return torch.sigmoid(output.float())

    def loss(self, batch, output):
        if not isinstance(output, dict) or output["stage"] == "source":
            logits = output["logits"] if isinstance(output, dict) else output
            return _au_loss(self, logits, batch)
        bce = F.binary_cross_entropy_with_logits
        ds, dt, gt = output["d_src"].float(), output["d_tgt"].float(), output["g_tgt"].float()
        disc = bce(ds, torch.ones_like(ds)) + bce(dt, torch.zeros_like(dt))
        return disc + bce(gt, torch.ones_like(gt))   # inverted-label GAN loss for the target encoder


_TINY = {"aus": ["AU1", "AU2", "AU12"], "backbone": "resnet18", "input_size": 64}


@register("dann", output="logits (B, n_aus)", paper="Ganin et al., JMLR 2016 (DANN)", tiny_kwargs=_TINY)
def dann(aus=BP4D_AUS,             # AU names predicted (source labels), in output order
         backbone: str = "resnet18",  # torchvision ResNet feature extractor
         weights=None,             # torchvision ImageNet file for the backbone; None = random init
         domain_hidden: int = 256,  # hidden size of the domain classifier
         domain_weight: float = 1.0,  # weight of the domain loss
         input_size: int = 224,    # declared input size
         balanced: bool = False):  # L_au also weighs each AU's positives by (1 - r) / r (not DANN's loss)
    return DANN(aus, backbone, weights, domain_hidden, domain_weight, input_size, balanced)


@register("adda", output="logits (B, n_aus)", paper="Tzeng et al., CVPR 2017 (ADDA)", tiny_kwargs=_TINY)
def adda(aus=BP4D_AUS,             # AU names predicted (source labels), in output order
         backbone: str = "resnet18",  # torchvision ResNet encoders
         weights=None,             # torchvision ImageNet file for the source encoder; None = random
         disc_hidden: int = 256,   # hidden size of the domain discriminator
         source_fraction: float = 0.5,  # share of training spent on stage 1 (source supervision)
         input_size: int = 224,    # declared input size
         balanced: bool = False):  # L_au also weighs each AU's positives by (1 - r) / r (not ADDA's loss)
    return ADDA(aus, backbone, weights, disc_hidden, source_fraction, input_size, balanced)
