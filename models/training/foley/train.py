"""Training stages. Each stage reads earlier checkpoints from the run folder, writes its own
`<stage>.pt` atomically, and is skipped when that file exists (so a run resumes)."""
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import data as data_mod
from . import nets
from .audio import MelFrontend, multi_resolution_stft_loss
from .diffusion import Schedule, distill_loss

MEL_PER_FRAME = 4
SAMPLES_PER_FRAME = 640


def log(stage: str, msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {stage}: {msg}", flush=True)


def save(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def replace_text(path: Path, text: str) -> None:
    """A new file in the old one's place: never half written, and a bundle copied with hard links
    (cp -rl) keeps its original's file."""
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text)
    tmp.replace(path)


def build_models(cfg: dict) -> dict:
    a = cfg["arch"]
    return {
        "ae": lambda: nets.LatentAutoencoder(a["ae_width"]),
        "vocoder": lambda: nets.Vocoder(a["vocoder_width"], a["vocoder_blocks"]),
        "cavp": lambda: nets.Cavp(nets.FEATURE_DIM, a["video_width"]),
        "unet": lambda: nets.UNet(tuple(a["unet_widths"])),
        "video": lambda: nets.VideoEncoder(nets.FEATURE_DIM, a["video_width"]),
        "clf": lambda: nets.AlignClassifier(a["clf_width"]),
        "eval_audio": lambda: nets.EvalAudioClassifier(10, a.get("eval_width", 128)),
        "eval_align": lambda: nets.EvalAlignClassifier(),
    }


class Store:
    """One data set held for training: mel and audio as tensors, frames on the device when they fit."""

    def __init__(self, folder: Path, device: torch.device):
        self.set = data_mod.ClipSet(folder)
        self.device = device
        self.n, self.t = self.set.count, self.set.frames_per_clip
        mel_path = self.set.cached("mel.f32")
        shape = (self.n, 64, self.t * MEL_PER_FRAME)
        if not mel_path.exists():
            front = MelFrontend().to(device)
            out = np.memmap(mel_path.with_suffix(".tmp"), dtype=np.float32, mode="w+", shape=shape)
            with torch.no_grad():
                for i in range(0, self.n, 64):
                    a = torch.from_numpy(np.asarray(self.set.audio[i: i + 64])).to(device)
                    out[i: i + 64] = front(a).cpu().numpy()
            out.flush()
            os.replace(mel_path.with_suffix(".tmp"), mel_path)
        self.mel = torch.from_numpy(np.array(np.memmap(mel_path, dtype=np.float32, mode="r", shape=shape))).to(device)
        self.audio = torch.from_numpy(np.asarray(self.set.audio)).to(device)
        self._frames = None

    @property
    def frames(self):
        """uint8 frames: on the GPU when they fit (loaded at first use), else the memory map."""
        if self._frames is None:
            self._frames, self.frames_on_device = self.set.frames, False
            if self.device.type == "cuda":
                free, _ = torch.cuda.mem_get_info(self.device)
                if self.set.frames.nbytes * 1.6 < free:
                    gpu = torch.empty(self.set.frames.shape, dtype=torch.uint8, device=self.device)
                    for i in range(0, self.n, 256):
                        gpu[i: i + 256] = torch.from_numpy(np.asarray(self.set.frames[i: i + 256])).to(self.device)
                    self._frames, self.frames_on_device = gpu, True
        return self._frames

    def starts(self, b: int, w: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, self.n, (b,), generator=gen)
        start = torch.randint(0, self.t - w + 1, (b,), generator=gen)
        return idx, start

    def frames_at(self, idx, start, w):
        frames = self.frames
        if self.frames_on_device:
            tt = start.to(self.device)[:, None] + torch.arange(w, device=self.device)
            return frames[idx.to(self.device)[:, None], tt]
        out = np.stack([frames[i, s: s + w] for i, s in zip(idx.tolist(), start.tolist())])
        return torch.from_numpy(out).to(self.device)

    def mel_at(self, idx, start, w):
        tt = start.to(self.device)[:, None] * MEL_PER_FRAME + torch.arange(w * MEL_PER_FRAME, device=self.device)
        return self.mel[idx.to(self.device)[:, None, None], torch.arange(64, device=self.device)[None, :, None], tt[:, None, :]]

    def audio_at(self, idx, start, w):
        tt = start.to(self.device)[:, None] * SAMPLES_PER_FRAME + torch.arange(w * SAMPLES_PER_FRAME, device=self.device)
        return self.audio[idx.to(self.device)[:, None], tt]


class Ctx:
    def __init__(self, cfg: dict, run: Path, device: str, data_root: Path | None = None):
        self.cfg, self.run, self.device = cfg, Path(run), torch.device(device)
        self.data_root = Path(data_root) if data_root is not None else self.run / "data"
        self.models = build_models(cfg)
        self._stores: dict = {}

    def store(self, split: str) -> Store:
        if split not in self._stores:
            self._stores[split] = Store(self.data_root / split, self.device)
        return self._stores[split]

    def ckpt(self, name: str) -> Path:
        return self.run / f"{name}.pt"

    def load(self, name: str, kind: str | None = None):
        path = self.ckpt(name)
        if not path.exists():
            raise FileNotFoundError(f"checkpoint {path} is missing: run stage '{name}' first")
        m = self.models[kind or name]()
        m.load_state_dict(torch.load(path, map_location="cpu")["state"])
        return m.to(self.device).eval()

    def generator(self, stage: str) -> torch.Generator:
        return torch.Generator().manual_seed(self.cfg["seed"] + sum(map(ord, stage)))


def train_loop(ctx: Ctx, stage: str, params, steps: int, lr: float, step_fn, log_every: int = 100):
    limit = ctx.cfg["stage_seconds"].get(stage.split("[")[0], 0)
    if "[" in stage and limit:
        limit = limit / len(ctx.cfg["distill_rounds"])
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    t0 = time.time()  # after the optimizer: its first construction can take seconds

    def progress(s: int) -> float:
        # Under a time cap the schedule follows whichever of steps and seconds runs out first,
        # so a capped stage still warms up and anneals to zero (an unknown GPU's step rate).
        by_time = (time.time() - t0) / limit if limit else 0.0
        return min(1.0, max(s / steps, by_time))

    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (progress(s) + 1 / steps) / 0.05) * 0.5 * (1 + math.cos(math.pi * progress(s))))
    ema = None
    for step in range(steps):
        loss, extra = step_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
        opt.step()
        sched.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % log_every == 0 or step == steps - 1:
            log(stage, f"step {step + 1}/{steps} loss {ema:.4f} {extra} ({time.time() - t0:.0f}s)")
        if limit and time.time() - t0 > limit:
            log(stage, f"stopped at step {step + 1} of {steps}: its time cap of {limit:.0f}s was reached")
            break
    return {"steps_done": step + 1, "seconds": time.time() - t0, "final_loss": ema}


# ---------------------------------------------------------------- stages ---

def stage_data(ctx: Ctx):
    cfg = ctx.cfg
    workers = int(os.environ.get("FOLEY_WORKERS", data_mod.default_workers()))
    for split, count in (("train", cfg["train_clips"]), ("val", cfg["val_clips"])):
        t0 = time.time()
        codec_p = cfg["train_codec_p"] if split == "train" else 0.0  # val stays as generated
        data_mod.build_set(ctx.data_root / split, split, count, cfg["clip_seconds"], workers, codec_p)
        ctx.store(split)  # computes the mel cache
        log("data", f"{split}: {count} clips ready ({time.time() - t0:.0f}s)")
    return {"train_clips": cfg["train_clips"], "val_clips": cfg["val_clips"]}


def stage_autoencoder(ctx: Ctx):
    cfg, st, gen = ctx.cfg, ctx.store("train"), ctx.generator("ae")
    ae = ctx.models["ae"]().to(ctx.device).train()
    w = 32

    def step(_):
        return autoencoder_loss(ae, st.mel_at(*st.starts(cfg["ae_batch"], w, gen), w))

    info = train_loop(ctx, "autoencoder", list(ae.parameters()), cfg["ae_steps"], cfg["ae_lr"], step)
    ae.eval()
    with torch.no_grad():
        mel = val_mel_windows(ctx.store("val"), w)
        z = ae.enc(mel.transpose(1, 2)[:, None])
        ae.scale.fill_(1.0 / float(z.std()))
        info["val_l1"] = float(F.l1_loss(ae.decode(ae.encode(mel)), mel))
    log("autoencoder", f"latent scale {float(ae.scale):.4f}, val L1 {info['val_l1']:.4f}")
    return ae, info


def autoencoder_loss(ae: nets.LatentAutoencoder, mel: torch.Tensor):
    """(loss, log text): the mel's L1 through encoder and decoder, plus a small latent L2."""
    z = ae.enc(mel.transpose(1, 2)[:, None])
    rec = ae.dec(z)[:, 0].transpose(1, 2)
    l1 = F.l1_loss(rec, mel)
    return l1 + 1e-4 * (z ** 2).mean(), f"l1 {l1.item():.4f}"


def val_mel_windows(val: Store, w: int, count: int = 64) -> torch.Tensor:
    """The fixed val windows the autoencoder's latent scale and val L1 are measured on."""
    return val.mel_at(*val.starts(count, w, torch.Generator().manual_seed(0)), w)


def stage_vocoder(ctx: Ctx):
    cfg, st, gen = ctx.cfg, ctx.store("train"), ctx.generator("vocoder")
    voc = ctx.models["vocoder"]().to(ctx.device).train()
    front = MelFrontend().to(ctx.device)
    w, margin = 24, 4  # latent-frame units: 24 frames = 96 mel frames; loss on the inner part

    def step(_):
        idx, start = st.starts(cfg["vocoder_batch"], w, gen)
        mel, audio = st.mel_at(idx, start, w), st.audio_at(idx, start, w)
        pred = voc(mel)
        lo, hi = margin * SAMPLES_PER_FRAME, (w - margin) * SAMPLES_PER_FRAME
        p, t = pred[:, lo:hi], audio[:, lo:hi]
        stft = multi_resolution_stft_loss(p, t)
        mel_l1 = F.l1_loss(front(p), front(t))
        return stft + mel_l1, f"stft {stft.item():.3f} mel {mel_l1.item():.3f}"

    info = train_loop(ctx, "vocoder", list(voc.parameters()), cfg["vocoder_steps"], cfg["vocoder_lr"], step)
    return voc, info


def stage_cavp(ctx: Ctx):
    cfg, st, gen = ctx.cfg, ctx.store("train"), ctx.generator("cavp")
    model = ctx.models["cavp"]().to(ctx.device).train()
    w = cfg["cavp_window"]

    def step(_):
        idx, start = st.starts(cfg["cavp_batch"], w, gen)
        loss, ls, lt = nets.cavp_loss(model, st.frames_at(idx, start, w), st.mel_at(idx, start, w))
        return loss, f"L_S {ls.item():.3f} L_T {lt.item():.3f}"

    info = train_loop(ctx, "cavp", list(model.parameters()), cfg["cavp_steps"], cfg["cavp_lr"], step)
    return model, info


@torch.no_grad()
def compute_features(video: torch.nn.Module, st: Store, chunk: int = 16) -> torch.Tensor:
    out = torch.empty(st.n, st.t, nets.FEATURE_DIM, device=st.device)
    for i in range(0, st.n, chunk):
        idx = torch.arange(i, min(st.n, i + chunk))
        out[i: i + len(idx)] = video.clip_features(st.frames_at(idx, torch.zeros(len(idx), dtype=torch.long), st.t))
    return out


def features_for(ctx: Ctx, encoder_ckpt: str, split: str) -> torch.Tensor:
    """CAVP (or ablation) video features of a whole split, cached in the run folder."""
    path = ctx.run / f"features_{encoder_ckpt}_{split}.pt"
    if path.exists():
        return torch.load(path, map_location=ctx.device)
    if encoder_ckpt == "cavp":
        video = ctx.load("cavp").video
    else:
        video = ctx.models["video"]()
        video.load_state_dict(torch.load(ctx.ckpt(encoder_ckpt), map_location="cpu")["video"])
        video = video.to(ctx.device).eval()
    feats = compute_features(video, ctx.store(split))
    save(path, feats)
    return feats


def stage_features(ctx: Ctx):
    return {"shape": list(features_for(ctx, "cavp", "train").shape)}


def stage_features_e2e(ctx: Ctx):
    return {"shape": list(features_for(ctx, "ldm_e2e", "train").shape)}


@torch.no_grad()
def encode_latents(ae: torch.nn.Module, st: Store, chunk: int = 8) -> torch.Tensor:
    """Latents [n, C, T, M] of a Store's whole clips, encoded `chunk` clips at a time."""
    return torch.cat([ae.encode(st.mel[i: i + chunk]) for i in range(0, st.n, chunk)])


@torch.no_grad()
def latents_for(ctx: Ctx, split: str, chunk: int = 8) -> torch.Tensor:
    """Latents [n, C, T, M] of whole clips, cached in the run folder. Encoding each batch's
    mel instead made the autoencoder about 96% of an LDM step on the CPU (models/README.md)."""
    path = ctx.run / f"latents_{split}.pt"
    if path.exists():
        return torch.load(path, map_location=ctx.device)
    st, ae = ctx.store(split), ctx.load("autoencoder", "ae")
    lat = encode_latents(ae, st, chunk)
    save(path, lat)
    return lat


def latent_windows(lat: torch.Tensor, src_idx: torch.Tensor, src_t: torch.Tensor) -> torch.Tensor:
    """z0 [b, C, w, M]: frame src_t[k, j] of clip src_idx[k, j] of the cached latents, per window k."""
    dev = lat.device
    return lat[src_idx.to(dev), :, src_t.to(dev)].permute(0, 2, 1, 3)  # [b, w, C, M] -> [b, C, w, M]


def ldm_batch(ctx: Ctx, st: Store, gen, feats, lat, b: int, w: int, split_merge_p: float, video=None, sources: bool = False):
    """z0 (gathered from whole-clip latents `lat`, latents_for) and video features for a batch,
    with temporal split & merge (eq. 6) for part of it. sources: also the clip and frame each
    window frame came from ([b, w] each)."""
    idx, start = st.starts(b, w, gen)
    idx2, start2 = st.starts(b, w, gen)
    cut = torch.randint(w // 4, 3 * w // 4 + 1, (b,), generator=gen)
    merged = torch.rand(b, generator=gen) < split_merge_p
    # Merged: frames [0, cut) from clip A, [cut, w) from clip B (its own start).
    tt = torch.arange(w)[None]
    src_idx = torch.where(merged[:, None] & (tt >= cut[:, None]), idx2[:, None], idx[:, None])
    src_t = torch.where(merged[:, None] & (tt >= cut[:, None]), start2[:, None] + tt - cut[:, None], start[:, None] + tt)
    dev = ctx.device
    z0 = latent_windows(lat, src_idx, src_t)
    if video is None:
        fv = feats[src_idx.to(dev), src_t.to(dev)]
    else:
        frames_all = st.frames  # loads them (to the GPU when they fit) on first use
        if st.frames_on_device:
            frames = frames_all[src_idx.to(dev), src_t.to(dev)]
        else:
            frames = torch.from_numpy(np.stack([frames_all[i, t] for i, t in zip(src_idx.numpy(), src_t.numpy())])).to(dev)
        fv = video(frames)
    return (z0, fv, src_idx, src_t) if sources else (z0, fv)


def _train_ldm(ctx: Ctx, stage: str, video=None):
    cfg = ctx.cfg
    st, gen = ctx.store("train"), ctx.generator(stage)
    feats = features_for(ctx, "cavp", "train") if video is None else None
    lat = latents_for(ctx, "train")
    unet = ctx.models["unet"]()
    init = os.environ.get("FOLEY_INIT_DIR")
    if init and video is None and (Path(init) / f"{stage}.pt").exists():
        # Continuation of an earlier run's weights (a second GPU call); recorded in the info.
        unet.load_state_dict(torch.load(Path(init) / f"{stage}.pt", map_location="cpu")["state"])
        log(stage, f"continuing from {init}/{stage}.pt")
    unet = unet.to(ctx.device).train()
    sched = Schedule(ctx.device)
    params = list(unet.parameters()) + (list(video.parameters()) if video is not None else [])
    w, b = cfg["ldm_window"], cfg["ldm_batch"]

    def step(_):
        z0, fv = ldm_batch(ctx, st, gen, feats, lat, b, w, cfg["split_merge_p"], video)
        keep = (torch.rand(b, generator=gen) >= cfg["cond_drop"]).to(ctx.device).float()[:, None, None]
        fv = fv * keep  # dropped condition = zeros (the ∅ of eq. 7)
        t = torch.randint(0, 1000, (b,), generator=gen).to(ctx.device)
        noise = torch.randn_like(z0)
        pred = unet(sched.q_sample(z0, t, noise), t.float(), fv)
        return F.mse_loss(pred, noise), ""

    info = train_loop(ctx, stage, params, cfg["ldm_steps"], cfg["ldm_lr"], step)
    if init and video is None and (Path(init) / f"{stage}.pt").exists():
        earlier = torch.load(Path(init) / f"{stage}.pt", map_location="cpu").get("info", {})
        info["continued_from"] = {"steps_done": earlier.get("steps_done"), "seconds": earlier.get("seconds")}
    return unet, info


def stage_ldm(ctx: Ctx):
    return _train_ldm(ctx, "ldm")


def stage_ldm_e2e(ctx: Ctx):
    video = ctx.models["video"]().to(ctx.device).train()
    unet, info = _train_ldm(ctx, "ldm_e2e", video)
    return {"state": unet.state_dict(), "video": video.state_dict(), "info": info}


def _train_clf(ctx: Ctx, stage: str, encoder: str):
    cfg = ctx.cfg
    st, gen = ctx.store("train"), ctx.generator(stage)
    feats = features_for(ctx, encoder, "train")
    lat = latents_for(ctx, "train")
    clf = ctx.models["clf"]().to(ctx.device).train()
    sched = Schedule(ctx.device)
    w, b = cfg["clf_window"] or cfg["ldm_window"], cfg["clf_batch"]
    dev = ctx.device

    def step(_):
        idx, start = st.starts(b, w, gen)
        z0 = latent_windows(lat, idx[:, None].expand(-1, w), start[:, None] + torch.arange(w))
        kind = torch.rand(b, generator=gen)
        # 50% true pairs, 25% the same clip shifted by >= clf_min_shift frames, 25% another clip.
        m = cfg["clf_min_shift"]
        shift = torch.randint(m, max(m + 1, st.t - w), (b,), generator=gen)
        f_start = torch.where(kind < 0.75, start, torch.randint(0, st.t - w + 1, (b,), generator=gen))
        shifted = (start + shift) % (st.t - w + 1)
        too_close = (shifted - start).abs() < m
        shifted = torch.where(too_close, (start + st.t // 2) % (st.t - w + 1), shifted)
        f_start = torch.where((kind >= 0.5) & (kind < 0.75), shifted, f_start)
        f_idx = torch.where(kind >= 0.75, (idx + torch.randint(1, st.n, (b,), generator=gen)) % st.n, idx)
        tt = f_start[:, None] + torch.arange(w)
        fv = feats[f_idx.to(dev)[:, None], tt.to(dev)]
        label = (kind < 0.5).float().to(dev)
        t = torch.randint(0, cfg["clf_max_timestep"] + 1, (b,), generator=gen).to(dev)
        logit = clf(sched.q_sample(z0, t, torch.randn_like(z0)), t.float(), fv)
        loss = F.binary_cross_entropy_with_logits(logit, label)
        acc = ((logit > 0).float() == label).float().mean()
        return loss, f"acc {acc.item():.3f}"

    return clf, train_loop(ctx, stage, list(clf.parameters()), cfg["clf_steps"], cfg["clf_lr"], step)


def stage_align_clf(ctx: Ctx):
    return _train_clf(ctx, "align_clf", "cavp")


def stage_align_clf_e2e(ctx: Ctx):
    return _train_clf(ctx, "align_clf_e2e", "ldm_e2e")


def stage_distill(ctx: Ctx):
    cfg = ctx.cfg
    st, gen = ctx.store("train"), ctx.generator("distill")
    feats = features_for(ctx, "cavp", "train")
    lat = latents_for(ctx, "train")
    teacher = ctx.load("ldm", "unet")
    sched = Schedule(ctx.device)
    w, b = cfg["ldm_window"], cfg["ldm_batch"]
    infos = []
    for n in cfg["distill_rounds"]:
        student = ctx.models["unet"]().to(ctx.device)
        student.load_state_dict(teacher.state_dict())
        student.train()

        def step(_):
            z0, fv = ldm_batch(ctx, st, gen, feats, lat, b, w, 0.0)
            keep = (torch.rand(b, generator=gen) >= cfg["cond_drop"]).to(ctx.device).float()[:, None, None]
            return distill_loss(student, teacher, z0, fv * keep, n, sched), f"steps {2 * n}->{n}"

        infos.append(train_loop(ctx, f"distill[{n}]", list(student.parameters()), cfg["distill_steps"], cfg["distill_lr"], step))
        teacher = student.eval()
    return teacher, {"rounds": cfg["distill_rounds"], "per_round": infos}


def _event_crops(st: Store, gen, b: int, jitter: int = 1):
    """GT-audio mel crops [b, 64, 32] starting 2 frames before a random event, and its class."""
    from .world import CLASSES
    pairs = [(i, e) for i, evs in enumerate(st.set.events) for e in evs]
    pick = torch.randint(0, len(pairs), (b,), generator=gen).tolist()
    idx = torch.tensor([pairs[p][0] for p in pick])
    onset = torch.tensor([round((pairs[p][1]["time"] * 16000 - 80) / 160) for p in pick])
    start = onset - 2 + torch.randint(-jitter, jitter + 1, (b,), generator=gen)
    tt = (start[:, None] + torch.arange(32)).clamp(0, st.mel.shape[-1] - 1).to(st.device)
    mel = st.mel[idx.to(st.device)[:, None, None], torch.arange(64, device=st.device)[None, :, None], tt[:, None, :]]
    label = torch.tensor([CLASSES.index(pairs[p][1]["class"]) for p in pick], device=st.device)
    return mel, label


def stage_eval_audio(ctx: Ctx):
    cfg, st, gen = ctx.cfg, ctx.store("train"), ctx.generator("eval_audio")
    model = ctx.models["eval_audio"]().to(ctx.device).train()

    def step(_):
        mel, label = _event_crops(st, gen, cfg["eval_clf_batch"])
        logits, _ = model(mel + 0.05 * torch.randn_like(mel))
        acc = (logits.argmax(1) == label).float().mean()
        return F.cross_entropy(logits, label), f"acc {acc.item():.3f}"

    info = train_loop(ctx, "eval_audio", list(model.parameters()), cfg["eval_clf_steps"], 1e-3, step)
    model.eval()
    val = ctx.store("val")
    with torch.no_grad():
        mel, label = _event_crops(val, torch.Generator().manual_seed(1), 512, jitter=0)
        info["val_acc"] = float((model(mel)[0].argmax(1) == label).float().mean())
    log("eval_audio", f"val accuracy {info['val_acc']:.3f}")
    return model, info


def stage_eval_align(ctx: Ctx):
    cfg, st, gen = ctx.cfg, ctx.store("train"), ctx.generator("eval_align")
    model = ctx.models["eval_align"]().to(ctx.device).train()
    w = 32

    def batch(s: Store, g, b):
        idx, start = s.starts(b, w, g)
        kind = torch.rand(b, generator=g)
        shift = torch.randint(4, s.t - w, (b,), generator=g)
        a_start = torch.where(kind < 0.5, start, (start + shift) % (s.t - w + 1))
        a_start = torch.where(((a_start - start).abs() < 4) & (kind >= 0.5), (start + s.t // 2) % (s.t - w + 1), a_start)
        a_idx = torch.where(kind >= 0.75, (idx + torch.randint(1, s.n, (b,), generator=g)) % s.n, idx)
        return s.mel_at(a_idx, a_start, w), s.frames_at(idx, start, w), (kind < 0.5).float().to(ctx.device)

    def step(_):
        mel, frames, label = batch(st, gen, cfg["eval_clf_batch"] // 2)
        logit = model(mel, frames)
        acc = ((logit > 0).float() == label).float().mean()
        return F.binary_cross_entropy_with_logits(logit, label), f"acc {acc.item():.3f}"

    info = train_loop(ctx, "eval_align", list(model.parameters()), cfg["eval_clf_steps"], 1e-3, step)
    model.eval()
    with torch.no_grad():
        mel, frames, label = batch(ctx.store("val"), torch.Generator().manual_seed(1), 128)
        info["val_acc"] = float(((model(mel, frames) > 0).float() == label).float().mean())
    log("eval_align", f"val accuracy {info['val_acc']:.3f}")
    return model, info


# Listed critical path first: the scheduler starts ready stages in this order.
STAGES = {
    "data": (stage_data, []),
    "autoencoder": (stage_autoencoder, ["data"]),
    "cavp": (stage_cavp, ["data"]),
    "features": (stage_features, ["cavp"]),
    "ldm": (stage_ldm, ["autoencoder", "features"]),
    "distill": (stage_distill, ["ldm", "features"]),
    "vocoder": (stage_vocoder, ["data"]),
    "ldm_e2e": (stage_ldm_e2e, ["autoencoder"]),
    "align_clf": (stage_align_clf, ["autoencoder", "features"]),
    "features_e2e": (stage_features_e2e, ["ldm_e2e"]),
    "align_clf_e2e": (stage_align_clf_e2e, ["autoencoder", "features_e2e"]),
    "eval_audio": (stage_eval_audio, ["data"]),
    "eval_align": (stage_eval_align, ["data"]),
}


def run_stage(name: str, cfg: dict, run: Path, device: str) -> None:
    ctx = Ctx(cfg, run, device)
    path = ctx.ckpt(name)
    if path.exists():
        log(name, "done already (checkpoint exists)")
        return
    torch.manual_seed(cfg["seed"])
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    fn, _ = STAGES[name]
    t0 = time.time()
    result = fn(ctx)
    if isinstance(result, tuple):
        model, info = result
        obj = {"state": model.state_dict(), "info": info}
    else:
        obj = result if "state" in (result or {}) else {"state": {}, "info": result}
    obj["info"] = {**(obj.get("info") or {}), "wall_seconds": time.time() - t0, "device": device}
    save(path, obj)
    (run / f"{name}.json").write_text(json.dumps(obj["info"], indent=1, default=float))
    log(name, f"saved {path.name} ({time.time() - t0:.0f}s)")
