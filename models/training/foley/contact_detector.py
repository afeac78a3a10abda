"""A contact detector that sees motion only, for the bundle's contact gate (manifest
`contactGate.source: "detector"`, applied by the engine's dsp/contact-gate.ts).

The CAVP video features key on what the training world looks like: a linear probe on them finds
contacts in the project's world but not in unseen ones (docs/experiments.md, sections 12 and 16).
This network gets no picture, only grey frame differences (first and second order, scaled by the
local motion), so what it learns is how motion starts and stops. It is trained on clips' event
times (a generated set's events.json) or, where a set has none, on its own audio's onsets.

    python -m foley.contact_detector --data ../../data/family --out ../../runs/contact/detector.pt --steps 4000
    python -m foley.contact_detector --bundle ../../models/default --weights ../../runs/contact/detector.pt

The second form exports `contact_detector.onnx` into the bundle and sets its contactGate
(DETECTOR_GATE_SHAPE); with `--rest-like OLD.onnx --rest-knee P` its reads under P are moved
so that a still picture reads what OLD reads (a bundle's contact-reading student learned OLD's
column, and a still picture's read is where it learned silence). Output frame t sees input
frames t-3 .. t+2, the video encoder's reach, so the engine runs both on the same frame windows.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .allocator import keep_freed_memory
from .contact_gate import GATE_SHAPE, write_gate
from .data import ClipSet
from .finetune import frame_labels, onset_labels
from .train import replace_text

# GATE_SHAPE, but 25 dB down instead of 40: a deeper gate mutes the sounds of the events the
# detector misses, and the class accuracy falls (the world's val split, docs/experiments.md section 19).
# Opened at 0.9: the val splits' choice for the default's contact-reading student (section 25).
DETECTOR_GATE_SHAPE = {**GATE_SHAPE, "threshold": 0.9, "depthDb": -25.0}
CROP = 32
HISTORY_MAX = 16
# Each place of the CNN's last map (6x6) sees a square of the 48x48 motion maps this wide: "wide"
# (31 pixels) or "narrow" (15: the last convolution 1x1), so the pooled vector gathers small
# motions rather than a scene's layout.
REACHES = {"wide": 31, "narrow": 15}
STAB_RADIUS_MAX = 4      # the match holds (2R + 1)^2 shifted copies of every frame
FLOW_RADIUS, FLOW_BOX = 2, 3     # block matching at 24x24 and 12x12: up to 2 pixels there, 3x3 blocks
FLOW_X = [1, 3]                  # the x channels of _block_flow's four (a mirrored crop negates them)
FLOW_STEP = 1 / 30               # training keeps the flow maps as int8 in these steps
POS_WEIGHT = 8.0
MODEL_KEY = "contact_detector"
FILE = "contact_detector.onnx"


def _delayed(x: torch.Tensor) -> torch.Tensor:
    """[B, T, ...] -> each frame's previous one along T, the first repeated."""
    return torch.cat([x[:, :1], x[:, :-1]], 1)


def _taps(padded: torch.Tensor, t: int) -> torch.Tensor:
    """[B, T + 3, C, ...] (one frame before the T, two after) -> [B, T, 4C, ...]: frame t's
    channels are those of t-1 .. t+2."""
    return torch.cat([padded[:, k:k + t] for k in range(MotionContactDetector.FUSED)], 2)


def _shifts(r: int) -> list[tuple[int, int]]:
    """Every (dy, dx) within r pixels each way."""
    return [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]


def _shifted_copies(x: torch.Tensor, r: int) -> torch.Tensor:
    """[N, S, S] -> [N, K, S, S]: x read at each of _shifts(r) (its edges repeated past them)."""
    s = x.shape[-1]
    padded = F.pad(x[:, None], (r, r, r, r), mode="replicate")
    return torch.cat([padded[:, :, r + dy:r + dy + s, r + dx:r + dx + s] for dy, dx in _shifts(r)], 1)


def _block_flow(g: torch.Tensor, r: int, box: int) -> torch.Tensor:
    """grey [B, T, S, S] -> [B, T, 4, S, S]: each place's displacement since the previous frame
    (y, x; block matching over the shifts within r pixels, costs averaged over box x box
    places, soft argmin), weighted by the match's confidence (0 where no shift matches better than
    another: flat or untextured places), less the picture's median (the camera's own motion), and
    weighted by the confidence again (a place's reading counts by its confidence squared);
    then its change since the previous frame (a stop or a bounce is a jump there). In units of r
    pixels. A still picture reads zeros whatever it shows."""
    b, t, s = g.shape[0], g.shape[1], g.shape[-1]
    disp = torch.tensor(_shifts(r), dtype=g.dtype)
    cost = (_shifted_copies(_delayed(g).reshape(b * t, s, s), r) - g.reshape(b * t, 1, s, s)).abs()
    cost = F.avg_pool2d(cost, box, stride=1, padding=box // 2, count_include_pad=False)
    mean = cost.mean(1, keepdim=True)
    # ties (a uniform patch matches several shifts) go to the smaller shift
    cost = cost + 0.1 * mean * disp.abs().sum(1)[None, :, None, None]
    lo = cost.amin(1, keepdim=True)
    conf = (mean - lo).clamp(min=0) / (mean + 1e-3)
    w = torch.softmax(-(cost - lo) / (0.05 * (mean - lo).clamp(min=0) + 1e-4), 1)
    # content that moved by v matches the previous frame shifted by -v
    flow = -(w[:, :, None] * disp[None, :, :, None, None]).sum(1) / r          # [BT, 2, S, S]: y, x
    flow = flow * conf
    # The camera's own motion: the median over places (mean of the middle two: mirror-symmetric).
    # On a plain background a lone moving object sets neither it nor a weighted mean's worth.
    middle = flow.flatten(2).topk(s * s // 2 + 1, dim=2).values[:, :, -2:]
    camera = middle.mean(2)[:, :, None, None] if s * s % 2 == 0 else middle[:, :, -1:, None]
    flow = ((flow - camera) * conf).reshape(b, t, 2, s, s)
    return torch.cat([flow, flow - _delayed(flow)], 2)


class MotionContactDetector(nn.Module):
    """uint8 RGB frames [B, T, 96, 96, 3] -> per-frame contact probability [B, T].

    `fusion` (early fusion): output frame t's CNN sees the motion maps of frames t-1 .. t+2
    stacked as channels, so it can relate where something moved to where it stopped or turned.
    Without it (the first version) each frame's maps are pooled over the picture first and only
    the pooled vectors meet across time.

    `full_res`: the motion maps at the frames' 96x96 instead of 48x48, with one more stride-2
    layer in front, so objects a few pixels wide (far ones in a perspective view) are not
    averaged away before the CNN sees them.

    `space_to_depth`: the motion maps at 96x96, each 2x2 block packed into channels at 48x48
    (12 channels, 48 with fusion), so the detail full_res keeps reaches the CNN at about the
    48x48 cost.

    `stabilize` (a radius in grey pixels, 0 = off): frame t-1 is shifted by the whole-picture
    translation within the radius that best matches frame t before the difference is taken, so a
    shaking or panning camera's motion drops out of the maps and an object's stays.
    `stabilize_min_change`: a frame whose mean change at no shift is under it keeps no shift (a
    translated noise pattern, not the scene, is what lines up there).

    `local_temporal`: each place of the CNN's last map (6x6) is mixed with the same place at
    t-1 .. t+2 before the picture is pooled, so a motion that stops where it was heading is told
    from one that goes on, and from motion elsewhere.

    `colour`: the motion maps of two opponent-colour planes (red against green, blue against
    yellow) beside the grey one's, all scaled by the grey plane's motion, so an object that
    differs from its background in hue more than in brightness still shows its motion.

    `flow`: beside the motion maps, each place's displacement found by block matching (at two
    scales, less the camera's own) and its change since the last frame, both weighted by how
    clearly the match holds: a contact stops or turns a motion, and a displacement does not depend
    on the object's contrast."""

    context_frames = 3
    right_context_frames = 2
    FUSED = 4    # motion maps t-1 .. t+2; each reaches 2 frames back, so t-3 .. t+2 in all

    def __init__(self, width: int = 16, fusion: bool = False, full_res: bool = False, space_to_depth: bool = False,
                 stabilize: int = 0, stabilize_min_change: float = 0.0, local_temporal: bool = False,
                 colour: bool = False, flow: bool = False, history: int = 0, reach: str = "wide"):
        super().__init__()
        if not 0 <= history <= HISTORY_MAX:
            raise ValueError(f"history is a number of frames, 0 to {HISTORY_MAX}, got {history}")
        self.history = history
        if reach not in REACHES:
            raise ValueError(f"reach is one of {', '.join(REACHES)}, got {reach!r}")
        self.reach = reach
        self.context_frames = MotionContactDetector.context_frames + history
        if flow and (colour or fusion or stabilize or full_res or space_to_depth):
            raise ValueError("flow is made for the grey 48x48 motion maps: not with colour, fusion, stabilize, "
                             "full_res or space_to_depth")
        if colour and (stabilize or full_res or space_to_depth):
            raise ValueError("colour is made for the 48x48 motion maps without stabilize")
        if fusion and local_temporal:
            raise ValueError("fusion and local_temporal both relate frames before pooling; choose one")
        if full_res and space_to_depth:
            raise ValueError("full_res and space_to_depth are two ways to the same detail; choose one")
        if not 0 <= stabilize <= STAB_RADIUS_MAX:
            raise ValueError(f"stabilize is a radius in pixels, 0 to {STAB_RADIUS_MAX}, got {stabilize}")
        w = width
        self.fusion, self.full_res, self.space_to_depth, self.stabilize = fusion, full_res, space_to_depth, stabilize
        shifts = _shifts(stabilize)
        self.shifts = shifts
        # Ties and near-ties go to the smaller shift: a still camera's noise must not pick one.
        # Not saved with the weights (they follow from the config), so files from before them load.
        self.register_buffer("shift_cost", torch.tensor([1 + 0.01 * (abs(dy) + abs(dx)) for dy, dx in shifts]),
                             persistent=False)
        self.stabilize_min_change = stabilize_min_change
        self.register_buffer("no_shift", torch.tensor([float(dy == dx == 0) for dy, dx in shifts]), persistent=False)
        self.colour = colour
        c_in = (3 * self.FUSED if fusion else 3) * (4 if space_to_depth else 1) * self.planes
        self.flow = flow
        if flow:
            c_in += 8
        front = [nn.Conv2d(c_in, w, 3, stride=2, padding=1), nn.SiLU()] if full_res else []
        self.cnn = nn.Sequential(
            *front,
            nn.Conv2d(w if full_res else c_in, w, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(w, w * 2, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(w * 2, w * 2, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(w * 2, w * 4, 1 if reach == "narrow" else 3, padding=0 if reach == "narrow" else 1), nn.SiLU(),
        )
        # Each place's CNN vector beside its own at t-1 .. t+2, mixed before pooling.
        self.local = nn.Sequential(nn.Conv2d(w * 4 * self.FUSED, w * 4, 1), nn.SiLU()) if local_temporal else None
        self.proj = nn.Linear(w * 8, 64)
        # Each frame's pooled vector beside those of the `history` frames before it: a contact ends
        # an approach (a fall, a swing), which takes longer than the maps' own reach.
        self.past = nn.Sequential(nn.ConstantPad1d((history, 0), 0.0), nn.Conv1d(64, 64, history + 1),
                                  nn.SiLU()) if history else None
        if fusion or local_temporal:     # the reach is before pooling; the head only mixes each frame's vector
            self.temporal = nn.Sequential(nn.Conv1d(64, 64, 1), nn.SiLU(), nn.Conv1d(64, 1, 1))
        else:          # taps t-1 .. t+2; the inputs reach 2 frames further back: t-3 .. t+2 in all
            self.temporal = nn.Sequential(nn.ConstantPad1d((1, 2), 0.0), nn.Conv1d(64, 64, 4), nn.SiLU(),
                                          nn.Conv1d(64, 64, 1), nn.SiLU(), nn.Conv1d(64, 1, 1))
        self.register_buffer("luma", torch.tensor([0.299, 0.587, 0.114]) / 255.0)
        # grey, red - green, blue - yellow; each chroma plane within -0.5 .. 0.5
        self.register_buffer("opponent", torch.tensor([[0.299, 0.5, -0.25], [0.587, -0.5, -0.25],
                                                       [0.114, 0.0, 0.5]]) / 255.0, persistent=False)

    @property
    def planes(self) -> int:
        return 3 if self.colour else 1

    @property
    def local_temporal(self) -> bool:
        return self.local is not None

    @property
    def grey_size(self) -> int:
        """The grey frames' side: 96 where the motion maps keep the frames' detail, else 48."""
        return 96 if self.full_res or self.space_to_depth else 48

    def grey(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 RGB [B, T, 96, 96, 3] -> grey [B, T, S, S] in 0..1 (S: 48, or 96 with full_res or
        space_to_depth); with colour [B, T, 3, 48, 48]: grey, then the two chroma planes."""
        b, t = frames.shape[:2]
        if self.colour:
            g = (frames.float() @ self.opponent).permute(0, 1, 4, 2, 3)
            return F.avg_pool2d(g.reshape(b * t * 3, 1, 96, 96), 2).reshape(b, t, 3, 48, 48)
        # a MatMul (ORT's broadcast Mul over 3 channels is slow), then a Squeeze (a Gather of the
        # last axis was the detector's third-costliest node)
        g = (frames.float() @ self.luma[:, None]).squeeze(-1)
        if self.grey_size == 96:
            return g
        return F.avg_pool2d(g.reshape(b * t, 1, 96, 96), 2).reshape(b, t, 48, 48)

    def previous(self, g: torch.Tensor) -> torch.Tensor:
        """grey [B, T, S, S] -> each frame's previous one (the first repeated), shifted by the
        camera's translation when `stabilize` is on."""
        prev = _delayed(g)
        r = self.stabilize
        if not r:
            return prev
        b, t, s = g.shape[:3]
        cand = _shifted_copies(prev.reshape(b * t, s, s), r).reshape(b, t, -1, s, s)
        # Matched away from the border, where the padding would favour no shift.
        sad = (cand[..., r:s - r, r:s - r] - g[:, :, None, r:s - r, r:s - r]).abs().mean((-2, -1)) * self.shift_cost
        best = (sad == sad.amin(2, keepdim=True)).float()     # one-hot (ties split): exports as plain ops
        best = best / best.sum(2, keepdim=True)
        if self.stabilize_min_change:
            still = (sad[..., self.shifts.index((0, 0))] < self.stabilize_min_change).float()[..., None]
            best = still * self.no_shift + (1 - still) * best
        return (best[..., None, None] * cand).sum(2)

    def motion(self, g: torch.Tensor) -> torch.Tensor:
        """grey [B, T, S, S] -> [B, T, 3, S, S]: the frame difference d1, |d1| and the second
        difference d2, divided by the mean |d1| of the frame and the one before (a local scale:
        contrast and lighting drop out). With colour ([B, T, 3, S, S] in) each plane's three maps
        in turn, [B, T, 9, S, S], all divided by the grey plane's scale."""
        d1 = g - self.previous(g)       # stabilize (grey only) reads [B, T, S, S]
        if not self.colour:
            d1 = d1[:, :, None]
        d2 = d1 - _delayed(d1)
        m = d1[:, :, :1].abs().mean((2, 3, 4), keepdim=True)
        scale = 0.5 * (m + _delayed(m)) + 1e-3
        maps = torch.stack([d1, d1.abs(), d2], 3) / scale.unsqueeze(2)
        return maps.flatten(2, 3).clamp(-20, 20) / 4

    def flow_maps(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """grey [B, T, 48, 48] -> _block_flow at 24x24 and at 12x12 ([B, T, 4, 24, 24] and
        [B, T, 4, 12, 12]): shifts of up to 4 and 8 pixels at 48x48, a fall's last frames."""
        b, t, s = g.shape[:3]
        half = F.avg_pool2d(g.reshape(b * t, 1, s, s), 2)
        quarter = F.avg_pool2d(half, 2)
        return (_block_flow(half.reshape(b, t, s // 2, s // 2), FLOW_RADIUS, FLOW_BOX),
                _block_flow(quarter.reshape(b, t, s // 4, s // 4), FLOW_RADIUS, FLOW_BOX))

    @staticmethod
    def flow_channels(fine: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        """flow_maps' two scales repeated up to 48x48 and stacked: [B, T, 8, 48, 48]."""
        b, t = fine.shape[:2]
        up = [F.interpolate(m.flatten(0, 1), scale_factor=k, mode="nearest") for m, k in ((fine, 2), (coarse, 4))]
        return torch.cat(up, 1).reshape(b, t, 8, *up[0].shape[-2:])

    def fused_motion(self, g: torch.Tensor) -> torch.Tensor:
        """grey [B, T, S, S] -> [B, T, 12, S, S] (36 with colour): frame t's channels are the motion maps of
        t-1 .. t+2. The clip's first and last frames are repeated past its ends, as a picture frozen
        there (what the live path's missing look-ahead frames are)."""
        t = g.shape[1]
        m = self.motion(torch.cat([g[:, :1]] * 3 + [g] + [g[:, -1:]] * 2, 1))
        return _taps(m[:, 2:], t)

    def logits(self, g: torch.Tensor, flow: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Contact logits [B, T] of grey frames [B, T, S, S]; with `flow`, flow_maps(g) found before
        (training reads them from a store)."""
        b, t = g.shape[:2]
        x = self.fused_motion(g) if self.fusion else self.motion(g)
        if self.flow:
            x = torch.cat([x, self.flow_channels(*(flow if flow is not None else self.flow_maps(g)))], 2)
        x = x.flatten(0, 1)
        h = self.cnn(F.pixel_unshuffle(x, 2) if self.space_to_depth else x)
        if self.local is not None:     # zeros past the ends, as the pooled head's padding
            c, s = h.shape[1], h.shape[-1]
            h = h.view(b, t, c, s, s)
            h = torch.cat([h.new_zeros(b, 1, c, s, s), h, h.new_zeros(b, 2, c, s, s)], 1)
            h = self.local(_taps(h, t).flatten(0, 1))
        h = torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1)
        h = self.proj(h).view(b, t, -1).transpose(1, 2)
        if self.past is not None:
            h = h + self.past(h)
        return self.temporal(h)[:, 0]

    def probs(self, g: torch.Tensor) -> torch.Tensor:
        """Contact probabilities [B, T] of grey frames (as an ensemble answers, for a teacher)."""
        return torch.sigmoid(self.logits(g))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.probs(self.grey(frames))


def zoomed_out(crop: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """grey crop [T, S, S] shrunk by 0.4-0.9 onto a canvas of its edge colour at a random place:
    the same motion as a camera further away sees it (objects a few pixels wide)."""
    t, size = crop.shape[0], crop.shape[-1]
    k = max(8, int(size * (0.4 + 0.5 * float(torch.rand(1, generator=gen)))))
    small = F.interpolate(crop[:, None], size=(k, k), mode="area")[:, 0]
    y0, x0 = (int(v) for v in torch.randint(0, size - k + 1, (2,), generator=gen))
    edge = torch.cat([crop[:, 0], crop[:, -1], crop[:, :, 0], crop[:, :, -1]], 1).mean(1)
    out = edge[:, None, None].expand(t, size, size).clone()
    out[:, y0:y0 + k, x0:x0 + k] = small
    return out


def set_labels(folder: Path, clips: ClipSet) -> tuple[torch.Tensor, str]:
    """Per-frame labels [n, T] from the set's event times, or from its audio's onsets."""
    events = json.loads((folder / "events.json").read_text()) if (folder / "events.json").exists() else None
    if events and any(len(e) for e in events):
        return torch.stack([frame_labels([e["time"] for e in ev], clips.frames_per_clip) for ev in events]), "events"
    from .train import Store
    return onset_labels(Store(folder, torch.device("cpu"))), "audio onsets"


class SetsDiffer(ValueError):
    """Training sets whose clips differ in length (their crops could not be pooled)."""


class DetectorsDiffer(ValueError):
    """Detectors that read different inputs, asked to share them (an ensemble, a teacher)."""


def train(folders: list[Path], steps: int, batch: int = 16, lr: float = 2e-3, seed: int = 0, log=print,
          width: int = 16, fusion: bool = False, freeze_share: float = 0.0, full_res: bool = False,
          zoom_out: float = 0.0, space_to_depth: bool = False, stabilize: int = 0,
          stabilize_min_change: float = 0.0, local_temporal: bool = False,
          colour: bool = False, flow: bool = False, teacher: nn.Module | None = None,
          init: MotionContactDetector | None = None, history: int = 0, reach: str = "wide") -> MotionContactDetector:
    """Random CROP-frame crops of the clips of one or more ClipSets (of one clip length), mirrored,
    with random gain and sensor noise; the loss is taken away from the crops' edges, where each
    output sees only real frames.

    freeze_share: the share of crops whose picture freezes after a random present frame u, as
    the live path's low-latency preset sees its look-ahead; their loss is taken up to u only, so
    the frames at the present learn what the past alone says about a contact.

    teacher (distillation): the loss is taken against the teacher's probabilities on the same
    crops instead of the labels, so one net learns what an ensemble reads at one net's cost.
    init: start from these weights (the net's configuration is theirs)."""
    torch.manual_seed(seed)
    sets = [ClipSet(f) for f in folders]
    if len({c.frames_per_clip for c in sets}) != 1:
        raise SetsDiffer("[data] the sets' clips differ in length: "
                         + ", ".join(f"{f}: {c.frames_per_clip} frames" for f, c in zip(folders, sets)))
    labelled = [set_labels(f, c) for f, c in zip(folders, sets)]
    labels, source = torch.cat([lab for lab, _ in labelled]), " and ".join(sorted({src for _, src in labelled}))
    n, t = sum(c.count for c in sets), sets[0].frames_per_clip
    if colour and zoom_out:
        raise ValueError("zoom_out shrinks grey crops; it is not made for colour")
    net = init.train() if init is not None else MotionContactDetector(
        width, fusion, full_res, space_to_depth, stabilize, stabilize_min_change, local_temporal, colour, flow, history, reach)
    if teacher is not None:
        reads_like(teacher, net)
    # Grey once: a step then reads grey halves, not RGB bytes; 96x96 grey and the colour planes
    # as bytes (half the memory; the crops' sensor noise is larger than the rounding). Chroma
    # planes (-0.5 .. 0.5) are kept shifted by 0.5.
    size = net.grey_size
    as_bytes = size == 96 or colour
    chroma = torch.tensor([0.0, 0.5, 0.5])[:, None, None] if colour else torch.zeros(())
    plane_shape = (3, size, size) if colour else (size, size)
    grey = torch.empty(n, t, *plane_shape, dtype=torch.uint8 if as_bytes else torch.half)
    with torch.no_grad():      # filled in place: a list and its concatenation would hold it twice
        row = 0
        for c in sets:
            for i in range(0, c.count, 8):
                part = net.grey(torch.from_numpy(np.array(c.frames[i:i + 8]))) + chroma
                part = (part * 255).round().to(torch.uint8) if as_bytes else part.half()
                grey[row:row + len(part)] = part
                row += len(part)
    if flow:     # found once from the clean frames: a step then only reads them
        if zoom_out or freeze_share:
            raise ValueError("flow maps are found once before training: not with zoom_out or freeze_share")
        flow_store = [torch.empty(n, t, 4, size // k, size // k, dtype=torch.int8) for k in (2, 4)]
        with torch.no_grad():
            for i in range(0, n, 8):
                for store, m in zip(flow_store, net.flow_maps(grey[i:i + 8].float())):
                    store[i:i + 8] = (m / FLOW_STEP).round().clamp(-127, 127).to(torch.int8)
        mirror = torch.ones(4)
        mirror[FLOW_X] = -1
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(steps, 2), pct_start=0.05)
    gen = torch.Generator().manual_seed(seed)
    log(f"[contact-detector] {n} clips of {t} frames, labels from {source}, {steps} steps")
    t0, avg = time.time(), 0.0
    crop = CROP + net.history     # a history net's loss starts that much later in the crop
    lo, hi = net.context_frames, crop - net.right_context_frames
    lo_clip = -chroma     # each plane's range after the shift back: 0..1 grey, -0.5..0.5 chroma
    for step in range(steps):
        idx = torch.randint(0, n, (batch,), generator=gen).tolist()
        start = torch.randint(0, t - crop + 1, (batch,), generator=gen).tolist()
        x = torch.stack([grey[i, s:s + crop] for i, s in zip(idx, start)]).float()
        if as_bytes:
            x = x / 255
        if colour:
            x = x - chroma
        flip = torch.rand(batch, generator=gen) < 0.5
        x[flip] = x[flip].flip(-1)
        flow_maps = None
        if flow:
            flow_maps = [torch.stack([store[i, s:s + crop] for i, s in zip(idx, start)]).float() * FLOW_STEP
                         for store in flow_store]
            for m in flow_maps:
                m[flip] = m[flip].flip(-1) * mirror[:, None, None]
        for b in (torch.rand(batch, generator=gen) < zoom_out).nonzero()[:, 0].tolist() if zoom_out else []:
            x[b] = zoomed_out(x[b], gen)
        per_crop = (batch,) + (1,) * (x.dim() - 1)
        x = x * (0.5 + torch.rand(per_crop, generator=gen))
        x = x + 0.01 * torch.rand(per_crop, generator=gen) * torch.randn(x.shape, generator=gen)
        y = torch.stack([labels[i, s:s + crop] for i, s in zip(idx, start)])
        x, keep = x.clamp(lo_clip, lo_clip + 1), torch.ones(batch, crop)
        frozen = (torch.rand(batch, generator=gen) < freeze_share).nonzero()[:, 0].tolist() if freeze_share else []
        for b, u in zip(frozen, torch.randint(lo, hi, (len(frozen),), generator=gen).tolist()):
            x[b, u + 1:] = x[b, u]
            keep[b, u + 1:] = 0.0
        if teacher is not None:     # its probabilities already carry the labels' positive weight
            with torch.no_grad():
                y, pos_weight = teacher.probs(x), None
        else:
            pos_weight = torch.tensor(POS_WEIGHT)
        loss = F.binary_cross_entropy_with_logits(net.logits(x, flow_maps)[:, lo:hi], y[:, lo:hi], weight=keep[:, lo:hi],
                                                  pos_weight=pos_weight, reduction="sum") / keep[:, lo:hi].sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        avg = 0.98 * avg + 0.02 * float(loss.detach())
        if step % 250 == 0 or step == steps - 1:
            log(f"[contact-detector] step {step} loss {avg / (1 - 0.98 ** (step + 1)):.4f} {time.time() - t0:.0f} s")
    return net.eval()


def config_of(net: MotionContactDetector) -> dict:
    """The constructor's arguments that build net's shape again."""
    return {"width": net.cnn[0].out_channels, "fusion": net.fusion, "full_res": net.full_res,
            "space_to_depth": net.space_to_depth, "stabilize": net.stabilize,
            "stabilize_min_change": net.stabilize_min_change, "local_temporal": net.local_temporal,
            "colour": net.colour, "flow": net.flow, "history": net.history, "reach": net.reach}


def save(net: MotionContactDetector, path: Path) -> None:
    torch.save({"config": config_of(net), "state": net.state_dict()}, path)


def load(path: Path) -> MotionContactDetector:
    saved = torch.load(path)
    if "state" not in saved:       # the first version's files: the bare state of a width-16 net
        saved = {"config": {}, "state": saved}
    net = MotionContactDetector(**saved["config"])
    net.load_state_dict(saved["state"])
    return net.eval()


class DetectorEnsemble(nn.Module):
    """Detectors trained apart, read as one: the mean of their probabilities. Runs differ more
    in their false peaks than in their true ones, so the mean keeps the contacts and thins the rest."""

    context_frames = MotionContactDetector.context_frames
    right_context_frames = MotionContactDetector.right_context_frames

    def __init__(self, nets: list[MotionContactDetector]):
        super().__init__()
        for net in nets[1:]:
            reads_like(net, nets[0])
        self.nets = nn.ModuleList(nets)

    def probs(self, g: torch.Tensor) -> torch.Tensor:
        """The mean probability [B, T] of grey frames (as MotionContactDetector.grey makes them)."""
        return torch.stack([torch.sigmoid(net.logits(g)) for net in self.nets]).mean(0)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.probs(self.nets[0].grey(frames))     # one grey for all: the members read the same


def reads_like(a: nn.Module, b: MotionContactDetector) -> None:
    """Raises unless detector `a` (a net or an ensemble) reads the grey frames `b` reads: what a
    shared grey (an ensemble) or a teacher's targets on `b`'s crops need."""
    for net in a.nets if isinstance(a, DetectorEnsemble) else [a]:
        if (net.grey_size, net.colour) != (b.grey_size, b.colour):
            raise DetectorsDiffer("[weights] detectors read different grey frames (48x48 or 96x96, grey or "
                                  "colour): they cannot share them")


def logit(q: float) -> float:
    return float(np.log(q) - np.log1p(-q))


class RestMoved(nn.Module):
    """A detector whose low reads are moved so that a still picture reads `rest` where it read
    `still` (--rest-like): the logit moves by logit(rest) - logit(still) up to the still read, by
    less and less from there to `knee`, and not at all above it. The reads keep their order, and
    the gate's thresholds (above the knee) open where they did; what moves is the quiet end of the
    column a contact-reading student gets."""

    context_frames = MotionContactDetector.context_frames
    right_context_frames = MotionContactDetector.right_context_frames

    def __init__(self, net: nn.Module, still: float, rest: float, knee: float):
        super().__init__()
        self.net, self.shift, self.top = net, logit(rest) - logit(still), logit(knee)
        self.per = 1.0 / (self.top - logit(still))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        p = self.net(frames).clamp(1e-7, 1 - 1e-7)
        lg = torch.log(p) - torch.log1p(-p)
        return torch.sigmoid(lg + self.shift * ((self.top - lg) * self.per).clamp(0, 1))


@torch.no_grad()
def still_read(net) -> float:
    """What a detector reads on a still picture (any picture reads the same: it sees motion only)."""
    frames = torch.zeros(1, 12, 96, 96, 3, dtype=torch.uint8)
    return float(net(frames)[0, 6])


def load_detector(paths: list[Path]) -> nn.Module:
    """One trained detector, or the ensemble of several."""
    nets = [load(p) for p in paths]
    return nets[0] if len(nets) == 1 else DetectorEnsemble(nets).eval()


class NotRecoverable(ValueError):
    """An exported detector whose weights cannot be read back into MotionContactDetector nets."""


def recover_members(onnx_path: Path) -> list[MotionContactDetector]:
    """The nets of an exported contact_detector.onnx (one, or an ensemble's members), from its
    initializers, which keep the state dicts' names (a RestMoved wrapper adds no weights). Grey
    nets only (48x48, or 96x96 packed by space_to_depth), with or without local_temporal; a
    stabilized net has no weights of its own to tell it by and comes back unstabilized."""
    import re
    import onnx
    from onnx import numpy_helper
    try:
        graph = onnx.load(str(onnx_path)).graph
    except Exception as e:        # protobuf's DecodeError, a missing file: named, not a traceback
        raise NotRecoverable(f"[weights:{onnx_path}] not a readable ONNX file ({type(e).__name__}: {e})") from e
    groups: dict[int, dict[str, torch.Tensor]] = {}
    for init in graph.initializer:
        m = re.fullmatch(r"(?:net\.)?(?:nets\.(\d+)\.)?((?:cnn|local|proj|temporal|past)\..+)", init.name)
        if m:
            groups.setdefault(int(m.group(1) or 0), {})[m.group(2)] = torch.from_numpy(numpy_helper.to_array(init).copy())
    if not groups:
        raise NotRecoverable(f"[weights:{onnx_path}] no contact detector weights among its initializers")
    nets = []
    for k in sorted(groups):
        state = groups[k]
        first = state.get("cnn.0.weight")
        fusion = "local.0.weight" not in state and "temporal.0.weight" in state    # its head has no taps
        if first is None or first.shape[1] not in (3, 12) or "cnn.8.weight" in state or fusion:
            raise NotRecoverable(f"[weights:{onnx_path}] member {k} is not a grey detector this code can rebuild "
                                 "(colour, flow, fusion and full_res nets are not)")
        past = state.get("past.1.weight")
        net = MotionContactDetector(first.shape[0], space_to_depth=first.shape[1] == 12,
                                    local_temporal="local.0.weight" in state,
                                    history=past.shape[-1] - 1 if past is not None else 0,
                                    reach="narrow" if state["cnn.6.weight"].shape[-1] == 1 else "wide")
        missing, unexpected = net.load_state_dict(state, strict=False)
        missing = [m for m in missing if m != "luma"]      # a constant, folded into the graph's MatMul
        if missing or unexpected:
            raise NotRecoverable(f"[weights:{onnx_path}] member {k}: missing {missing}, unexpected {unexpected}")
        nets.append(net.eval())
    return nets


def as_space_to_depth(net: MotionContactDetector) -> MotionContactDetector:
    """A 48x48 grey net rebuilt to read the 96x96 motion maps packed 2x2 (space_to_depth), its
    first convolution spread evenly over each 2x2 block: at the start it reads about what the
    48x48 net read (a frame difference's 2x2 mean is the difference of the 2x2 means), and
    training can then use the detail."""
    if net.space_to_depth or net.full_res or net.colour or net.flow or net.fusion or net.stabilize:
        raise ValueError("as_space_to_depth takes a plain 48x48 grey net")
    out = MotionContactDetector(**{**config_of(net), "space_to_depth": True})
    state = net.state_dict()
    # pixel_unshuffle puts input channel c's 2x2 block at channels 4c .. 4c + 3
    state["cnn.0.weight"] = state["cnn.0.weight"].repeat_interleave(4, dim=1) / 4
    out.load_state_dict(state)
    return out.eval()


def with_history(net: MotionContactDetector, history: int) -> MotionContactDetector:
    """net with a `history` reach added, its new layer zero so that it reads exactly what net read
    until training moves it."""
    if net.history:
        raise ValueError(f"the net already has a history of {net.history} frames")
    out = MotionContactDetector(**{**config_of(net), "history": history})
    out.load_state_dict(net.state_dict(), strict=False)
    with torch.no_grad():
        for p in out.past.parameters():
            p.zero_()
    return out.eval()


def behind_reach(net) -> int:
    """How many frames behind the present a detector reads (an ensemble: its widest member; an
    exported graph, which does not say: the shipped reach)."""
    if not isinstance(net, nn.Module):
        return MotionContactDetector.context_frames
    return max((m.context_frames for m in net.modules() if isinstance(m, MotionContactDetector)),
               default=MotionContactDetector.context_frames)


class OnnxDetector:
    """An exported detector (a bundle's contact_detector.onnx), called as the module is."""

    def __init__(self, path: Path):
        import onnxruntime as ort
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(["contact"], {"frames": frames.numpy()})[0])


@torch.no_grad()
def score(net, folders: list[Path], thresholds=(0.5, 0.7, 0.8, 0.9), frozen_ahead: bool = False) -> dict:
    """The detector's own peaks against each clip folder's events (video.mp4, events.json), as
    foley.probe scores a probe: onset F1 at ±50 ms (mean over clips) and onsets per event.
    frozen_ahead: each frame t is read with the picture frozen after t, as the live path's
    low-latency preset reads a chunk's last frame."""
    from .generalization import decode_frames, event_times
    from .probe import threshold_scores
    probs = []
    for f in folders:
        frames = torch.from_numpy(decode_frames(f / "video.mp4").copy())[None]
        if frozen_ahead:
            t, c = frames.shape[1], behind_reach(net)
            reach = list(range(-c, 1)) + [0] * MotionContactDetector.right_context_frames
            prob = net(frames[0][(torch.arange(t)[:, None] + torch.tensor(reach)).clamp(0, t - 1)])[:, c]
        else:
            prob = net(frames)[0]
        probs.append(prob.numpy())
    refs = [event_times(f) for f in folders]
    return {str(th): {"f1": round(f1, 4), "onsets_per_event": round(per_event, 3)}
            for th, (f1, per_event) in threshold_scores(probs, refs, thresholds).items()}


def export_to_bundle(net: MotionContactDetector, bundle: Path) -> dict:
    """Writes contact_detector.onnx (checked against PyTorch), its manifest entry and the gate."""
    from .export import PARITY_TOL, ParityError
    import onnxruntime as ort
    net = net.eval()
    spec = {"inputs": {"frames": {"dtype": "uint8", "shape": ["batch", "frames", 96, 96, 3]}},
            "outputs": {"contact": {"dtype": "float32", "shape": ["batch", "frames"]}}}
    gen = torch.Generator().manual_seed(1)
    path = bundle / FILE
    tmp = path.with_suffix(".onnx.partial")
    example = torch.randint(0, 256, (1, 12, 96, 96, 3), generator=gen, dtype=torch.uint8)
    torch.onnx.export(net, (example,), str(tmp), input_names=["frames"], output_names=["contact"],
                      dynamic_axes={"frames": {0: "batch", 1: "frames"}, "contact": {0: "batch", 1: "frames"}},
                      opset_version=18, dynamo=False)
    from .conv_matmul import rewrite_in_place
    rewrite_in_place(tmp)               # as every bundle's graphs; the parity below checks it
    sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    for frames, batch in ((12, 1), (20, 2)):
        x = torch.randint(0, 256, (batch, frames, 96, 96, 3), generator=gen, dtype=torch.uint8)
        with torch.no_grad():
            ref = net(x).numpy()
        got = sess.run(["contact"], {"frames": x.numpy()})[0]
        err = float(np.abs(ref - got).max() / (np.abs(ref).max() + 1e-12))
        if not err < PARITY_TOL:
            tmp.unlink()
            raise ParityError(f"[bundle:{MODEL_KEY}, output:contact] relative error {err:.2e} >= {PARITY_TOL:g}")
    tmp.replace(path)
    man_path = bundle / "manifest.json"
    man = json.loads(man_path.read_text())
    # The engine hands the detector the features' frames: they must reach as far back as it reads.
    behind = behind_reach(net)
    feats = man["features"]
    if behind > feats["contextFrames"]:
        feats["rightContextFrames"] = feats.get("rightContextFrames", feats["contextFrames"])
        feats["contextFrames"] = behind
    man["models"][MODEL_KEY] = {"file": FILE, **{side: [{"name": k, **v} for k, v in spec[side].items()]
                                                  for side in ("inputs", "outputs")}}
    replace_text(man_path, json.dumps(man, indent=1))
    gate = {"source": "detector", **DETECTOR_GATE_SHAPE}
    write_gate(bundle, gate)
    return gate


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="foley.contact_detector", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", metavar="DIR",
                   help="ClipSets to train on, one or more (events.json event times, else their audio's onsets)")
    p.add_argument("--out", help="where the trained weights (.pt) go")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--seed", type=int, default=0, help="the run's seed (runs of other seeds make an ensemble)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--bundle", help="export --weights into this bundle and set its contact gate")
    p.add_argument("--weights", nargs="+", metavar="PT",
                   help="trained weights (.pt) to export or score; several are read as one ensemble (mean probability)")
    p.add_argument("--random", action="store_true", help="export random weights instead (engine tests)")
    p.add_argument("--rest-like", metavar="ONNX",
                   help="with --bundle: move the exported detector's low reads so that a still picture reads what this "
                        "detector reads there (the one the bundle's contact-reading student learned), up to --rest-knee")
    p.add_argument("--rest-knee", type=float, metavar="P",
                   help="with --rest-like: the read above which nothing moves (above the still read, under the gate's thresholds)")
    p.add_argument("--width", type=int, default=32, help="the CNN's width (training or --random; the shipped detector: 32)")
    p.add_argument("--fusion", action="store_true", help="early fusion: each frame's CNN sees the motion of t-1 .. t+2")
    p.add_argument("--full-res", action="store_true", help="motion maps at 96x96 instead of 48x48 (one more CNN layer)")
    p.add_argument("--space-to-depth", action="store_true",
                   help="motion maps at 96x96 packed 2x2 into channels at 48x48 (full detail at about the 48x48 cost)")
    p.add_argument("--freeze-share", type=float, default=0.0,
                   help="share of training crops whose picture freezes after a random present frame (the low-latency preset's view)")
    p.add_argument("--zoom-out", type=float, default=0.0,
                   help="share of training crops shrunk onto a plain canvas (a camera further away)")
    p.add_argument("--stabilize", type=int, default=0, metavar="R",
                   help="take each frame difference after the camera's translation within R grey pixels (0: off)")
    p.add_argument("--stabilize-min-change", type=float, default=0.0, metavar="D",
                   help="with --stabilize: keep frames whose mean change (grey, 0..1) is under D unshifted")
    p.add_argument("--local-temporal", action="store_true",
                   help="relate each place's CNN vectors across the reach before pooling the picture")
    p.add_argument("--colour", action="store_true",
                   help="add the motion of two opponent-colour planes to the grey one's (48x48, no --stabilize or --zoom-out)")
    p.add_argument("--flow", action="store_true",
                   help="add block-matching displacement maps and their change (48x48 grey; not with --colour, --fusion, "
                        "--stabilize, --full-res, --space-to-depth, --zoom-out or --freeze-share)")
    p.add_argument("--history", type=int, default=0, metavar="N",
                   help=f"each frame's pooled vector also sees those of the N frames before it (0 to {HISTORY_MAX}; "
                        "the export widens the bundle's features.contextFrames to that reach)")
    p.add_argument("--reach", choices=list(REACHES), default="wide",
                   help="how wide a square of the 48x48 motion maps each place of the CNN's last map sees: "
                        + ", ".join(f"{k} ({v} pixels)" for k, v in REACHES.items()) + "; the shipped: wide")
    p.add_argument("--teacher", nargs="+", metavar="PT",
                   help="with --data: learn these detectors' probabilities (an ensemble's mean) instead of the labels")
    p.add_argument("--init", metavar="PT|ONNX",
                   help="with --data: start from these weights (their configuration, not --width etc.): a .pt, or a "
                        "bundle's contact_detector.onnx (--member picks an ensemble's net; with --space-to-depth a "
                        "48x48 net is rebuilt to read the 96x96 maps)")
    p.add_argument("--member", type=int, help="with --init ONNX: which of the ensemble's nets (from 0; default 0)")
    p.add_argument("--lr", type=float, default=2e-3, help="with --data: the peak learning rate")
    p.add_argument("--score", nargs="+", metavar="DIR", help="score --weights on folders of clip folders (video.mp4, events.json)")
    p.add_argument("--count", type=int, default=60, help="with --score: clips per folder")
    p.add_argument("--frozen-ahead", action="store_true", help="with --score: read each frame with the picture frozen after it")
    args = p.parse_args(argv)
    if args.colour and (args.full_res or args.space_to_depth or args.stabilize or args.zoom_out):
        print("error: [args] --colour is made for the 48x48 motion maps: not with --full-res, --space-to-depth, "
              "--stabilize or --zoom-out", file=sys.stderr)
        return 2
    if args.flow and (args.colour or args.fusion or args.stabilize or args.full_res or args.space_to_depth
                      or args.zoom_out or args.freeze_share):
        print("error: [args] --flow is made for the grey 48x48 motion maps, found once before training: not with "
              "--colour, --fusion, --stabilize, --full-res, --space-to-depth, --zoom-out or --freeze-share", file=sys.stderr)
        return 2
    if args.member is not None and not (args.init and args.data):
        print("error: [args] --member picks a net of --init's ONNX file to train from: give --data and --init", file=sys.stderr)
        return 2
    if (args.rest_like or args.rest_knee is not None) and not args.bundle:
        print("error: [args] --rest-like and --rest-knee go with --bundle (an export)", file=sys.stderr)
        return 2
    if args.full_res and args.space_to_depth:
        print("error: [args] --full-res and --space-to-depth are two ways to the same detail; give one", file=sys.stderr)
        return 2
    if not (0 <= args.freeze_share <= 1 and 0 <= args.zoom_out <= 1) or args.steps < 1 or args.width < 1 \
            or not 0 <= args.stabilize <= STAB_RADIUS_MAX or not 0 <= args.history <= HISTORY_MAX:
        print("error: [args] --freeze-share and --zoom-out must be in 0..1, --steps and --width at least 1, "
              f"--stabilize 0 to {STAB_RADIUS_MAX}, --history 0 to {HISTORY_MAX}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.score:
        if not args.weights or not all(Path(w).is_file() for w in args.weights):
            p.error("--score needs --weights, existing files")
        from .generalization import clip_folders
        if any(w.endswith(".onnx") for w in args.weights):
            if len(args.weights) > 1:
                p.error("--weights: an exported .onnx detector is scored alone, not in an ensemble")
            net = OnnxDetector(Path(args.weights[0]))
        else:
            net = load_detector([Path(w) for w in args.weights])
        for d in args.score:
            scores = score(net, clip_folders(Path(d), args.count), frozen_ahead=args.frozen_ahead)
            print(json.dumps({"set": d, "frozen_ahead": args.frozen_ahead, **scores}), flush=True)
        return 0
    if args.bundle:
        bundle = Path(args.bundle)
        if not (bundle / "manifest.json").is_file():
            print(f"[bundle:{bundle}] has no manifest.json", file=sys.stderr)
            return 4
        if args.random:
            torch.manual_seed(0)
            net = MotionContactDetector(args.width, args.fusion, args.full_res, args.space_to_depth, args.stabilize,
                                        args.stabilize_min_change, args.local_temporal, args.colour, args.flow,
                                        args.history, args.reach)
        else:
            if not args.weights or not all(Path(w).is_file() for w in args.weights):
                p.error("--bundle needs --weights, files written by --data ... --out (or --random)")
            net = load_detector([Path(w) for w in args.weights])
        moved = {}
        if args.rest_like:
            if not Path(args.rest_like).is_file():
                print(f"[rest-like:{args.rest_like}] no such file", file=sys.stderr)
                return 4
            still, rest = still_read(net), still_read(OnnxDetector(Path(args.rest_like)))
            if args.rest_knee is None or not max(still, rest) < args.rest_knee < 1:
                print(f"error: [args] --rest-like needs --rest-knee above the still reads ({still:.4f}, {rest:.4f}) "
                      "and under 1", file=sys.stderr)
                return 2
            net = RestMoved(net, still, rest, args.rest_knee).eval()
            moved = {"stillReadBefore": still, "stillRead": still_read(net), "restKnee": args.rest_knee}
        gate = export_to_bundle(net, bundle)
        print(json.dumps({"bundle": str(bundle), "contactGate": gate, **moved}))
        return 0
    if not args.data or not args.out:
        p.error("give --data and --out to train, or --bundle and --weights to export")
    for d in args.data:
        if not (Path(d) / "meta.json").is_file():
            print(f"[data:{d}] is not a complete ClipSet (no meta.json)", file=sys.stderr)
            return 4
    for w in (args.teacher or []) + ([args.init] if args.init else []):
        if not Path(w).is_file():
            print(f"[weights:{w}] no such file", file=sys.stderr)
            return 4
    keep_freed_memory()    # each step frees and re-allocates the same large activations
    init = None
    if args.init:
        try:
            init = recover_members(Path(args.init)) if args.init.endswith(".onnx") else [load(Path(args.init))]
        except NotRecoverable as e:
            print(e, file=sys.stderr)
            return 4
        member = args.member or 0
        if not 0 <= member < len(init):
            print(f"error: [args] --member {member}: {args.init} holds {len(init)} net(s)", file=sys.stderr)
            return 2
        init = init[member]
        if args.space_to_depth and not init.space_to_depth:
            try:
                init = as_space_to_depth(init)
            except ValueError as e:
                print(f"error: [args] --space-to-depth with --init {args.init}: {e}", file=sys.stderr)
                return 2
        if args.history and init.history != args.history:
            try:
                init = with_history(init, args.history)
            except ValueError as e:
                print(f"error: [args] --history with --init {args.init}: {e}", file=sys.stderr)
                return 2
    try:
        net = train([Path(d) for d in args.data], args.steps, seed=args.seed, log=lambda s: print(s, flush=True),
                    width=args.width,
                    fusion=args.fusion, freeze_share=args.freeze_share, full_res=args.full_res, zoom_out=args.zoom_out,
                    space_to_depth=args.space_to_depth, stabilize=args.stabilize,
                    stabilize_min_change=args.stabilize_min_change, local_temporal=args.local_temporal,
                    colour=args.colour, flow=args.flow, lr=args.lr,
                    teacher=load_detector([Path(w) for w in args.teacher]) if args.teacher else None,
                    init=init, history=args.history, reach=args.reach)
    except (SetsDiffer, DetectorsDiffer) as e:
        print(e, file=sys.stderr)
        return 4
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save(net, Path(args.out))
    print(json.dumps({"weights": args.out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
