"""Shang & Yu (ICASSP 2024, arXiv 2310.05207; paper 003): AU domain separation and
reconstruction (ADLD) jointly learnt with facial landmark detection, and a contrastive
feature alignment - one model with switches, so that ADLD and the ablation models are this
model with parts switched off (Table 3: A = BL = ADLD, B = BL + ML, C = BL + ML + AS).

Parts (names as the paper's Fig. 1; modules as ADLD's ``network.py``, methods.md A.4):

- ``E_f`` (:class:`aulib.models.landmark_branch.Stem`): image -> feature ``F`` (S/4 x S/4).
- ``E_l`` (ADLD ``Land_Detect``): ``F`` -> 49 landmark response maps = the landmark-related
  features ``F_l``; each map soft-maxed over positions and summed gives the landmark attention.
- ``G_b`` (ADLD ``Texture_Enc``, on the detached ``F``): ``F`` -> background features ``F_b``.
- ``G_st`` (ADLD ``Generator``): [attention of ``F_l``, ``F_b``] -> a feature; across domains
  ``F_sltb = G_st(F_sl, F_tb)`` and ``F_sbtl = G_st(F_tl, F_sb)``; a second round separates the
  swapped features again (``E_l`` as a frozen copy, ``G_b`` on detached inputs, as ADLD) and
  recombines them into ``F_s'``, ``F_t'``.
- ``D_l`` (ADLD ``Land_Disc``): finds landmarks in ``F_b`` (minimax ``L_adl``); ``D_d`` (ADLD's
  two feature discriminators, LSGAN): tells swapped features from real ones (``L_adf``).
- ``E_au`` (ADLD ``AU_Detect``): one branch per AU on ``F_s`` and ``F_sltb`` (weighted
  multi-label BCE ``L_au``, weights from the source base rates, methods.md A.3).
- **ML** (``landmark_branch``): the landmark branch (:mod:`aulib.models.landmark_branch`)
  shares its first two parts with ``E_f`` (loaded from its pre-training, ``branch_weights``)
  and adds ``L_fl`` (eq. 1) on source faces.
- **AS** (``contrastive``): projectors ``P_ij`` and ``L_c`` (eq. 2): the L1 distance, summed
  over channels and averaged over positions, between each projected second-round feature and
  its first-round counterpart (``F_s'``/``F_s``, ``F_t'``/``F_t`` and the four intermediate
  supervisors ``F_sl'``/``F_sl``, ``F_sb'``/``F_sb``, ``F_tl'``/``F_tl``, ``F_tb'``/``F_tb``).
  Without AS the reconstruction is trained by ADLD's own terms: 40 x cross-cycle L1 and
  3 x self-reconstruction L1 (methods.md A.5).

Loss (eq. 3): ``L_all = l_c L_c + l_l L_l + l_adl L_adl + l_adf L_adf + l_au L_au + l_fl L_fl``
with the paper's weights 100, 0.6, 400, 1.2, 1, 0.1 (§3.1.2); the discriminators' own losses
are added with weight 1 on detached inputs, and the generators' adversarial terms see detached
copies of the discriminators, so one optimiser step trains both sides of each game (ADLD uses
two Adam optimisers - a deviation the notebooks list).

Readings of the paper that are ours (it prints no code): the projectors are two 1x1
convolutions with a PReLU between, applied to the second-round member of each pair (the
first-round member is detached, as ADLD's reconstruction targets, so nothing collapses);
``F_l`` compared by ``L_c`` are the 49 landmark response maps; ``L_l`` is ADLD's soft-max
landmark loss on both domains' features and on the swapped ones (labels of the landmark donor),
summed and halved; inference on any face reads ``E_au`` on the self-reconstructed feature
``G_st(F_l, F_b)`` (ADLD ``util.AU_detection_eval_tgt``; ``eval_on="feature"`` reads ``F``).
ADLD moves some landmarks to AU centres before building its landmark targets; not done here.
The feature discriminators end with a 1x1 convolution after three stride-2 layers (ADLD's last
4x4 layer does not fit the 16 x 16 maps of the ``tiny`` profile).

Every training step appends its loss terms (unweighted) to the buffer ``loss_trace`` (one row
per step, columns :data:`TERMS`), saved in checkpoints, so the notebooks plot the curves of
every term from a run's ``last.pt``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import AUWeights, RunningBaseRate, au_list, masked_bce
from .landmark_branch import N_LANDMARKS, LandmarkBranch, Stem, inner_landmarks, landmark_loss, load_branch
from .registry import register

#: the 6 AUs of the BP4D -> EmotioNet protocol (paper 003 §3.1.1)
SHANGYU_AUS = ("AU1", "AU2", "AU4", "AU6", "AU12", "AU17")
#: loss weights of eq. 3 (paper 003 §3.1.2)
PAPER_LAMBDAS = {"c": 100.0, "l": 0.6, "adf": 1.2, "adl": 400.0, "au": 1.0, "fl": 0.1}
#: ADLD's reconstruction weights (methods.md A.5), used when the contrastive alignment is off
ADLD_CYCLE, ADLD_SELF = 40.0, 3.0
#: the loss terms recorded per training step in ``loss_trace`` (unweighted values)
TERMS = ("total", "au", "land", "adl", "adf", "cycle", "self", "contrast", "fl", "disc_land", "disc_feat")


def _block(c_in, c_out, norm="in"):
    n = nn.InstanceNorm2d(c_out, affine=True) if norm == "in" else nn.BatchNorm2d(c_out)
    return [nn.Conv2d(c_in, c_out, 3, 1, 1), n, nn.PReLU()]


class AUDetector(nn.Module):
    """ADLD's ``AU_Detect``: per AU three [3x3 conv, BN, PReLU] + a 3x3 conv, global average
    pooling and a linear logit - the per-AU branches run as grouped convolutions (the same
    arithmetic as separate branches). (B, c, h, w) -> (B, n_aus) logits."""

    def __init__(self, c: int, n_aus: int):
        super().__init__()
        g, n = n_aus, n_aus * c
        self.body = nn.Sequential(
            nn.Conv2d(c, n, 3, 1, 1), nn.BatchNorm2d(n), nn.PReLU(),
            nn.Conv2d(n, n, 3, 1, 1, groups=g), nn.BatchNorm2d(n), nn.PReLU(),
            nn.Conv2d(n, n, 3, 1, 1, groups=g), nn.BatchNorm2d(n), nn.PReLU(),
            nn.Conv2d(n, n, 3, 1, 1, groups=g))
        self.logit = nn.Conv2d(n, n_aus, 1, groups=g)

    def forward(self, f):
        return self.logit(F.adaptive_avg_pool2d(self.body(f), 1)).flatten(1)


class FeatureDisc(nn.Module):
    """ADLD-style LSGAN feature discriminator: three 4x4 stride-2 convolutions (IN, PReLU),
    then a 1x1 convolution; per-patch scores flattened to (B, P)."""

    def __init__(self, c: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(c, c, 4, 2, 1), nn.InstanceNorm2d(c, affine=True), nn.PReLU(),
            nn.Conv2d(c, c, 4, 2, 1), nn.InstanceNorm2d(c, affine=True), nn.PReLU(),
            nn.Conv2d(c, 2 * c, 4, 2, 1), nn.InstanceNorm2d(2 * c, affine=True), nn.PReLU(),
            nn.Conv2d(2 * c, 1, 1))

    def forward(self, f):
        return self.net(f).flatten(1)


def _projector(ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(ch, ch, 1), nn.PReLU(), nn.Conv2d(ch, ch, 1))


def _frozen(module: nn.Module, x):
    """``module(x)`` with its parameters detached (gradients reach ``x``, not the module) -
    ADLD's frozen copy of the landmark detector, and the generator side of a GAN step."""
    params = {k: v.detach() for k, v in module.named_parameters()}
    return torch.func.functional_call(module, params, (x,))


def attention(maps: torch.Tensor) -> torch.Tensor:
    """ADLD's landmark attention: each of the (B, L, h, w) maps soft-maxed over its positions,
    summed over landmarks -> (B, 1, h, w)."""
    b, n, h, w = maps.shape
    return F.softmax(maps.float().view(b, n, h * w), -1).sum(1).view(b, 1, h, w).to(maps.dtype)


def landmark_targets(landmarks68: torch.Tensor, size: int, h: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Position index (B, 49) of each inner landmark on an h x h map of a ``size`` px input
    (coordinates divided by the stride, rounded, clamped; ADLD ``pre_process.land_transform``)
    and its validity mask (B, 49)."""
    y = inner_landmarks(landmarks68.float())
    ok = torch.isfinite(y).all(-1)
    q = torch.round(torch.nan_to_num(y) * (h / size)).long().clamp(0, h - 1)
    return q[..., 1] * h + q[..., 0], ok


def _map_ce(maps, idx, ok):
    b, n, h, w = maps.shape
    ce = F.cross_entropy(maps.float().reshape(b * n, h * w), idx.reshape(-1), reduction="none")
    m = ok.reshape(-1).float()
    return (ce * m).sum() / m.sum().clamp_min(1.0)


def _l1_eq2(a, b):
    """Eq. 2's term: L1 norm over channels, averaged over positions (and the batch)."""
    return (a.float() - b.float()).abs().sum(1).mean()


class ShangYu(AUWeights):
    """See the module docstring. ``forward(image)`` returns (B, n_aus) logits; in training
    ``forward(image, target_image, landmarks, target_landmarks)`` (source only:
    ``forward(image, landmarks)``, see ``train_inputs``) returns a dict :meth:`loss` reads."""

    train_inputs = ("image", "target_image", "landmarks", "target_landmarks")
    ddp_find_unused_parameters = True

    def __init__(self, aus=SHANGYU_AUS, input_size: int = 176, widths=(32, 64, 128, 128, 128), hidden: int = 512,
                 separation: bool = True, landmark_branch: bool = True, contrastive: bool = True,
                 branch_weights=None, lambdas: dict | None = None, eval_on: str = "recon",
                 n_landmarks: int = N_LANDMARKS, balanced: bool = False):
        super().__init__()
        if eval_on not in ("recon", "feature"):
            raise ValueError(f"eval_on must be 'recon' (E_au on G_st(F_l, F_b), ADLD) or 'feature' (E_au on F); "
                             f"found {eval_on!r}")
        unknown = set(lambdas or {}) - set(PAPER_LAMBDAS)
        if unknown:
            raise ValueError(f"unknown loss weights {sorted(unknown)}; eq. 3 has {sorted(PAPER_LAMBDAS)}")
        if contrastive and not separation:
            raise ValueError("contrastive=True aligns the reconstructed features, which need separation=True")
        self.aus = au_list(aus)
        self.input_size, self.widths = int(input_size), tuple(int(w) for w in widths)
        self.separation, self.landmark_branch, self.contrastive = bool(separation), bool(landmark_branch), bool(contrastive)
        self.lambdas = dict(PAPER_LAMBDAS, **(lambdas or {}))
        self.eval_on, self.n_landmarks = eval_on, int(n_landmarks)
        self.balanced = bool(balanced)
        self.init = "random"
        if self.landmark_branch:
            self.branch = LandmarkBranch(self.input_size, self.widths, hidden, self.n_landmarks)
            if branch_weights:
                self.init = load_branch(self.branch, branch_weights)
            self.stem = self.branch.stem          # E_f: the branch's first two parts, shared
        else:
            if branch_weights:
                raise ValueError("branch_weights initialise the landmark branch; set landmark_branch=True")
            self.stem = Stem(self.widths[:2])
        c, L = self.widths[1], self.n_landmarks
        self.au_head = AUDetector(c, len(self.aus))
        if self.separation:
            self.land_enc = nn.Sequential(*sum([_block(c, c) for _ in range(4)], []), nn.Tanh(), nn.Conv2d(c, L, 3, 1, 1))
            self.back_gen = nn.Sequential(*sum([_block(c, c) for _ in range(4)], []), nn.Tanh())
            self.recon_gen = nn.Sequential(*_block(c + 1, 2 * c), *_block(2 * c, 2 * c), *_block(2 * c, c),
                                           *_block(c, c), *_block(c, c), nn.Tanh())
            self.land_disc = nn.Sequential(*sum([_block(c, c) for _ in range(4)], []), nn.Conv2d(c, L, 3, 1, 1))
            self.disc_src, self.disc_tgt = FeatureDisc(c), FeatureDisc(c)
        if self.contrastive:   # P_ij: pairs F', F_t', F_sl', F_sb', F_tl', F_tb'
            self.projectors = nn.ModuleDict({k: _projector(L if k.endswith("l") else c)
                                             for k in ("s", "t", "sl", "sb", "tl", "tb")})
        if not self.separation:    # source only: no target batch
            self.train_inputs = ("image", "landmarks")
        self.register_buffer("loss_trace", torch.zeros(0, len(TERMS)))
        self._init_au_weights(len(self.aus))
        self.base_rate = RunningBaseRate(len(self.aus), enabled=self.balanced)

    # -- loss trace: a buffer that grows by one row per training step ------------------------
    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "loss_trace"
        if key in state_dict:
            self.loss_trace = torch.zeros_like(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -- parts -------------------------------------------------------------------------------
    def separate(self, f):
        """(F_l: (B, 49, h, w) landmark maps, F_b: (B, c, h, w) background) of a feature."""
        return self.land_enc(f), self.back_gen(f.detach())

    def combine(self, maps, back):
        """G_st([attention of the landmark maps, background]) -> a feature (B, c, h, w)."""
        return self.recon_gen(torch.cat([attention(maps), back], 1))

    def features_for_au(self, x):
        """The feature E_au reads at inference (module docstring)."""
        f = self.stem(x)
        if self.separation and self.eval_on == "recon":
            f = self.combine(*self.separate(f))
        return f

    def landmarks(self, x):
        """(B, 49, 2) landmarks of the landmark branch (ML only)."""
        if not self.landmark_branch:
            raise ValueError("this model has no landmark branch (landmark_branch=False)")
        return self.branch.head(self.stem(x))

    # -- forward -----------------------------------------------------------------------------
    def forward(self, x, *extra):
        """``forward(image)``: logits. Training: ``forward(image, *[batch[k] for k in
        train_inputs[1:]])`` (target image and both landmark sets; source only: landmarks)."""
        if not extra:
            return self.au_head(self.features_for_au(x))
        named = dict(zip(self.train_inputs[1:], extra))
        fs = self.stem(x)
        out = {"logits_s": self.au_head(fs), "n": x.shape[0]}
        if self.landmark_branch:
            out["fl_pred"] = self.branch.head(fs)
        if not self.separation:        # source only: E_f + E_au (+ the landmark branch)
            return out
        ft = self.stem(named["target_image"])
        ls, bs = self.separate(fs)
        lt, bt = self.separate(ft)
        f_sltb, f_sbtl = self.combine(ls, bt), self.combine(lt, bs)
        # second round: E_l as a frozen copy, G_b on detached inputs (ADLD)
        ls2, bt2 = _frozen(self.land_enc, f_sltb), self.back_gen(f_sltb.detach())
        lt2, bs2 = _frozen(self.land_enc, f_sbtl), self.back_gen(f_sbtl.detach())
        out.update(fs=fs, ft=ft, ls=ls, lt=lt, bs=bs, bt=bt, f_sltb=f_sltb, f_sbtl=f_sbtl, ls2=ls2, lt2=lt2,
                   bs2=bs2, bt2=bt2, fs2=self.combine(ls2, bs2), ft2=self.combine(lt2, bt2),
                   logits_sltb=self.au_head(f_sltb),
                   # discriminators: own step on detached inputs; generator step through frozen copies
                   dl_s=self.land_disc(bs.detach()), dl_t=self.land_disc(bt.detach()),
                   gl_s=_frozen(self.land_disc, bs), gl_t=_frozen(self.land_disc, bt),
                   dd_real_s=self.disc_src(fs.detach()), dd_fake_s=self.disc_src(f_sbtl.detach()),
                   dd_real_t=self.disc_tgt(ft.detach()), dd_fake_t=self.disc_tgt(f_sltb.detach()),
                   gd_s=_frozen(self.disc_src, f_sbtl), gd_t=_frozen(self.disc_tgt, f_sltb))
        if not self.contrastive:
            out.update(fs_self=self.combine(ls, bs), ft_self=self.combine(lt, bt))
        return out

    def decide(self, output):
        return torch.sigmoid((output["logits_s"] if isinstance(output, dict) else output).float())

    # -- loss --------------------------------------------------------------------------------
    def _au_loss(self, batch):
        """``L_au`` as a function of logits: ADLD's weighted BCE (:func:`masked_bce` with the
        per-AU weights from the source base rates), or with ``balanced`` also each AU's positive
        term weighted by ``(1 - r) / r`` (``r`` the running base rate of the training batches,
        :class:`~aulib.models.common.RunningBaseRate`, as DRML's and FG-Net's balanced losses) -
        not the paper's loss: it keeps a short run from learning "absent" for every AU. The
        rate is updated once per training step, however many logits the step scores."""
        pw = self.base_rate.pos_weight(batch["au"], batch.get("au_mask"))
        return lambda logits: masked_bce(logits, batch, self.au_weights, pw)

    def terms(self, batch, o) -> dict:
        """Every loss term of one training step (unweighted, scalar tensors)."""
        z = o["logits_s"].sum() * 0.0
        t = dict.fromkeys(TERMS[1:], z)
        au_loss = self._au_loss(batch)
        if not self.separation:
            t["au"] = au_loss(o["logits_s"])
        else:
            t["au"] = 0.5 * (au_loss(o["logits_s"]) + au_loss(o["logits_sltb"]))
            h = o["ls"].shape[-1]
            idx_s, ok_s = landmark_targets(batch["landmarks"], self.input_size, h)
            idx_t, ok_t = landmark_targets(batch["target_landmarks"], self.input_size, h)
            t["land"] = 0.5 * (_map_ce(o["ls"], idx_s, ok_s) + _map_ce(o["lt"], idx_t, ok_t)
                               + _map_ce(o["ls2"], idx_s, ok_s) + _map_ce(o["lt2"], idx_t, ok_t))

            def onehot(idx, ok):
                return F.one_hot(idx, h * h).float() * ok.unsqueeze(-1).float()

            flat = lambda m: m.float().flatten(2)  # noqa: E731
            uniform = 1.0 / (h * h)
            t["disc_land"] = 0.5 * (F.mse_loss(flat(o["dl_s"]), onehot(idx_s, ok_s))
                                    + F.mse_loss(flat(o["dl_t"]), onehot(idx_t, ok_t)))
            t["adl"] = 0.5 * (F.mse_loss(flat(o["gl_s"]), torch.full_like(flat(o["gl_s"]), uniform))
                              + F.mse_loss(flat(o["gl_t"]), torch.full_like(flat(o["gl_t"]), uniform)))
            ones, zeros = torch.ones_like, torch.zeros_like
            t["disc_feat"] = 0.25 * sum(F.mse_loss(o[k].float(), f(o[k].float())) for k, f in
                                        (("dd_real_s", ones), ("dd_fake_s", zeros), ("dd_real_t", ones), ("dd_fake_t", zeros)))
            t["adf"] = 0.5 * (F.mse_loss(o["gd_s"].float(), ones(o["gd_s"].float()))
                              + F.mse_loss(o["gd_t"].float(), ones(o["gd_t"].float())))
            fs, ft = o["fs"].detach(), o["ft"].detach()
            if self.contrastive:
                P = self.projectors
                pairs = (("s", o["fs2"], fs), ("t", o["ft2"], ft), ("sl", o["ls2"], o["ls"].detach()),
                         ("sb", o["bs2"], o["bs"].detach()), ("tl", o["lt2"], o["lt"].detach()),
                         ("tb", o["bt2"], o["bt"].detach()))
                t["contrast"] = sum(_l1_eq2(P[k](a), b) for k, a, b in pairs)
            else:
                t["cycle"] = 0.5 * (F.l1_loss(o["fs2"].float(), fs.float()) + F.l1_loss(o["ft2"].float(), ft.float()))
                t["self"] = 0.5 * (F.l1_loss(o["fs_self"].float(), fs.float())
                                   + F.l1_loss(o["ft_self"].float(), ft.float()))
        if self.landmark_branch:
            t["fl"] = landmark_loss(o["fl_pred"], batch["landmarks"])
        return t

    def loss(self, batch, output):
        if not isinstance(output, dict):     # evaluation-style output: the AU loss alone
            return self._au_loss(batch)(output)
        t = self.terms(batch, output)
        lam = self.lambdas
        total = (lam["au"] * t["au"] + lam["l"] * t["land"] + lam["adl"] * t["adl"] + lam["adf"] * t["adf"]
                 + lam["c"] * t["contrast"] + ADLD_CYCLE * t["cycle"] + ADLD_SELF * t["self"]
                 + lam["fl"] * t["fl"] + t["disc_land"] + t["disc_feat"])
        if self.training:
            row = torch.stack([total.detach().float()] + [t[k].detach().float() for k in TERMS[1:]]).cpu()
            self.loss_trace = torch.cat([self.loss_trace, row.view(1, -1).to(self.loss_trace)])
        return total


def _build(aus, input_size, widths, hidden, separation, landmark_branch, contrastive, branch_weights, lambdas,
           eval_on, n_landmarks, balanced=False):
    return ShangYu(aus, input_size, widths, hidden, separation, landmark_branch, contrastive, branch_weights,
                   lambdas, eval_on, n_landmarks, balanced)


_TINY = {"aus": ["AU1", "AU2", "AU12"], "input_size": 64, "widths": (8, 16, 16, 16, 16), "hidden": 32}


@register("shangyu", output="logits (B, n_aus)", tiny_kwargs=_TINY,
          paper="Shang & Yu, ICASSP 2024 (arXiv 2310.05207): ADLD + landmark branch (ML) + contrastive alignment (AS)")
def shangyu(aus=SHANGYU_AUS,                      # AU names predicted (source labels), in output order
            input_size: int = 176,                # side of the face crop (paper: 200 aligned, 176 crop)
            widths=(32, 64, 128, 128, 128),       # channels of the landmark branch's five parts; E_f = the first two
            hidden: int = 512,                    # first FC layer of the landmark branch
            separation: bool = True,              # ADLD's separation and reconstruction (False: source-only E_f + E_au)
            landmark_branch: bool = True,         # ML: the landmark branch shares E_f, adds L_fl
            contrastive: bool = True,             # AS: projectors + L_c (eq. 2) instead of ADLD's L1 terms
            branch_weights=None,                  # best.pt of a pre-trained shangyu_landmarks run (ML)
            lambdas: dict | None = None,          # overrides of eq. 3's weights (keys c, l, adf, adl, au, fl)
            eval_on: str = "recon",               # recon (E_au on G_st(F_l, F_b), ADLD) | feature (E_au on F)
            n_landmarks: int = N_LANDMARKS,       # inner landmarks (paper 49)
            balanced: bool = False):              # L_au also weighs each AU's positives by (1 - r) / r (not the paper's)
    return _build(aus, input_size, widths, hidden, separation, landmark_branch, contrastive, branch_weights,
                  lambdas, eval_on, n_landmarks, balanced)


@register("adld", output="logits (B, n_aus)", tiny_kwargs=_TINY,
          paper="Shao et al., TAC 2022 (ADLD) as Shang & Yu's baseline: shangyu with ML and AS off")
def adld(aus=SHANGYU_AUS,                         # AU names predicted, in output order
         input_size: int = 176,                   # side of the face crop
         widths=(32, 64, 128, 128, 128),          # E_f = the first two widths (ADLD: 32, 64)
         hidden: int = 512,                       # unused without the landmark branch (kept for one signature)
         lambdas: dict | None = None,             # overrides of the shared loss weights
         eval_on: str = "recon",                  # recon (ADLD) | feature
         balanced: bool = False):                 # L_au also weighs each AU's positives by (1 - r) / r (not ADLD's)
    return _build(aus, input_size, widths, hidden, True, False, False, None, lambdas, eval_on, N_LANDMARKS, balanced)
