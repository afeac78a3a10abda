"""Training profiles. A profile is a flat dict; `--set key=value` overrides single entries."""
import copy
import json

ARCH_DEFAULT = {
    "unet_widths": [96, 160, 224],
    "vocoder_width": 160, "vocoder_blocks": 6,
    "ae_width": 32, "video_width": 16, "clf_width": 128, "eval_width": 128,
}
ARCH_TINY = {
    "unet_widths": [8, 16, 16],
    "vocoder_width": 32, "vocoder_blocks": 2,
    "ae_width": 8, "video_width": 8, "clf_width": 16, "eval_width": 16,
}

BASE = {
    "arch": ARCH_DEFAULT,
    "seed": 1234,
    "clip_seconds": 8.0,
    "train_codec_p": 0.0,  # share of training clips with JPEG-compressed frames (data.py)
    "train_clips": 5000, "val_clips": 200, "test_clips": 200,
    "ae_steps": 3000, "ae_batch": 64, "ae_lr": 1e-3,
    "vocoder_steps": 4000, "vocoder_batch": 32, "vocoder_lr": 1e-3,
    "cavp_steps": 3000, "cavp_batch": 128, "cavp_lr": 1e-3, "cavp_window": 32,
    "ldm_steps": 8000, "ldm_batch": 256, "ldm_lr": 5e-4, "ldm_window": 100,
    "cond_drop": 0.2, "split_merge_p": 0.5,
    "clf_steps": 3000, "clf_batch": 256, "clf_lr": 5e-4,
    "clf_min_shift": 4,  # frames: the alignment classifier's nearest shifted negative
    # The classifier's training crop in frames (0: ldm_window) and its largest noise timestep.
    # Guidance uses it per 32-frame window at t <= 600 (evaluate.GUIDANCE_CANDIDATES), but training it
    # that way was no better on val (session 9, models/README.md step 11), so both stay off.
    "clf_window": 0, "clf_max_timestep": 999,
    "distill_rounds": [32, 16, 8, 4], "distill_steps": 1500, "distill_lr": 2e-4,
    "eval_clf_steps": 2000, "eval_clf_batch": 256,
    "teacher_steps": 50, "student_steps": 4,
    "cfg_scale": 2.0, "cg_scale": 1.0,
    "eval_clips": 200,
    # Wall-clock caps per stage in seconds (0 = none); a capped stage logs the steps it did.
    "stage_seconds": {},
}

PROFILES = {
    # Whole chain on 2 CPU cores in minutes: a smoke test, not a model.
    "quick": {
        **BASE, "train_clips": 48, "val_clips": 8, "test_clips": 6, "eval_clips": 6, "clip_seconds": 4.0,
        "ae_steps": 30, "ae_batch": 4, "vocoder_steps": 30, "vocoder_batch": 4,
        "cavp_steps": 30, "cavp_batch": 8, "ldm_steps": 60, "ldm_batch": 8, "ldm_window": 32,
        "clf_steps": 30, "clf_batch": 16, "distill_rounds": [4], "distill_steps": 15,
        "eval_clf_steps": 30, "eval_clf_batch": 32, "teacher_steps": 8,
        "arch": {**ARCH_TINY, "unet_widths": [32, 48, 64], "eval_width": 32},
    },
    # The shipped model: what the GPU run does; on 2 CPU cores it takes days (same steps).
    "full": BASE,
    # The same, with time caps that fit one 10-minute GPU call (steps done are logged).
    "gpu": {**BASE, "train_clips": 4000,
            "stage_seconds": {"autoencoder": 50, "vocoder": 220, "cavp": 70, "eval_audio": 40,
                              "eval_align": 60, "ldm": 120, "ldm_e2e": 120, "align_clf": 50,
                              "align_clf_e2e": 50, "distill": 88}},
    "tiny": {**BASE, "arch": ARCH_TINY},
}

LIMITS = {
    "train_clips": (8, 10 ** 6), "val_clips": (2, 10 ** 5), "test_clips": (1, 10 ** 5), "eval_clips": (1, 10 ** 5),
    "clip_seconds": (2.0, 30.0), "ldm_window": (8, 200), "cavp_window": (8, 200),
    "cond_drop": (0.0, 0.9), "clf_min_shift": (1, 50), "clf_window": (0, 200), "clf_max_timestep": (1, 999), "train_codec_p": (0.0, 1.0), "split_merge_p": (0.0, 1.0), "student_steps": (1, 64), "teacher_steps": (1, 1000),
}


class ConfigError(ValueError):
    pass


def load_profile(name: str, overrides: list[str] | None = None) -> dict:
    if name not in PROFILES:
        raise ConfigError(f"unknown profile '{name}': choose one of {', '.join(PROFILES)}")
    cfg = copy.deepcopy(PROFILES[name])
    cfg["profile"] = name
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        target, leaf = cfg, key
        if "." in key:
            head, leaf = key.split(".", 1)
            if head not in cfg or not isinstance(cfg[head], dict):
                raise ConfigError(f"unknown config key '{key}'")
            target = cfg[head]
        if leaf not in target:
            raise ConfigError(f"unknown config key '{key}' (known: {', '.join(sorted(target))})")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(f"config key '{key}': '{raw}' is not a JSON value") from None
        if type(value) is not type(target[leaf]) and not (isinstance(value, int) and isinstance(target[leaf], float)):
            raise ConfigError(f"config key '{key}': expected {type(target[leaf]).__name__}, got {type(value).__name__}")
        target[leaf] = value
    validate(cfg)
    return cfg


def validate(cfg: dict) -> None:
    for key, (lo, hi) in LIMITS.items():
        v = cfg[key]
        if not lo <= v <= hi:
            raise ConfigError(f"config key '{key}' = {v} is outside [{lo}, {hi}]")
    for key in [k for k in cfg if k.endswith("_steps") or k.endswith("_batch")]:
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            raise ConfigError(f"config key '{key}' must be a positive integer, got {cfg[key]!r}")
    if cfg["ldm_window"] % 4:
        raise ConfigError(f"config key 'ldm_window' = {cfg['ldm_window']} must be a multiple of 4 (UNet depth)")
    for key in ("ldm_window", "clf_window"):
        if cfg[key] > cfg["clip_seconds"] * 25:
            raise ConfigError(f"config key '{key}' is longer than a clip")
    if 0 < cfg["clf_window"] <= cfg["clf_min_shift"]:
        raise ConfigError("config key 'clf_window' must exceed clf_min_shift")
    rounds = cfg["distill_rounds"]
    if not rounds or any(rounds[i] <= rounds[i + 1] for i in range(len(rounds) - 1)):
        raise ConfigError(f"config key 'distill_rounds' must be strictly decreasing, got {rounds}")
    if rounds[-1] != cfg["student_steps"]:
        raise ConfigError(f"the last distillation round ({rounds[-1]}) must equal student_steps ({cfg['student_steps']})")
    if len(cfg["arch"]["unet_widths"]) != 3:
        raise ConfigError("arch.unet_widths must list 3 widths (the latent time axis is divided by 4)")
