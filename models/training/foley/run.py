"""One command from nothing to a bundle: generate, train, distill, export, evaluate.

    python -m foley.run --quick | --profile quick|full|gpu|tiny [--name NAME] [--device cpu|cuda] [--jobs N]
                        [--set key=value ...] [--until train|export|eval] [--stage NAME]

Resumable: every stage writes a checkpoint under runs/<name>/ and is skipped when it exists.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .allocator import keep_freed_memory
from .config import ConfigError, load_profile
from .train import STAGES, log, run_stage

ROOT = Path(__file__).resolve().parents[3]


def parse(argv=None):
    p = argparse.ArgumentParser(prog="foley.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="quick")
    p.add_argument("--quick", action="store_const", const="quick", dest="profile",
                   help="same as --profile quick: the whole chain on 2 CPU cores as a smoke test")
    p.add_argument("--name", default=None, help="run and bundle name (default: the profile's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--jobs", type=int, default=1, help="stages trained at once (GPU: 3-4)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--until", choices=["train", "export", "eval"], default="eval")
    p.add_argument("--stage", default=None, help="run one training stage only (used by the scheduler)")
    p.add_argument("--stages", default=None, help="comma-separated subset to schedule (their other inputs must exist)")
    p.add_argument("--runs-dir", default=str(ROOT / "runs"))
    p.add_argument("--bundle-dir", default=None, help="where to export (default models/<name>)")
    return p.parse_args(argv)


def prepare_run(args) -> tuple[dict, Path]:
    cfg = load_profile(args.profile, args.set)
    name = args.name or args.profile
    run = Path(args.runs_dir) / name
    run.mkdir(parents=True, exist_ok=True)
    cfg_path = run / "config.json"
    if cfg_path.exists():
        old = json.loads(cfg_path.read_text())
        # A key added to the profiles after this folder was made, left at its default, changes nothing.
        base = load_profile(args.profile)
        old = {**{k: v for k, v in cfg.items() if k not in old and v == base.get(k)}, **old}
        if old != cfg:
            diff = sorted(k for k in set(old) | set(cfg) if old.get(k) != cfg.get(k))
            raise ConfigError(f"run folder {run} was made with a different config (keys: {', '.join(diff)}); "
                              f"use another --name or delete the folder")
    else:
        cfg_path.write_text(json.dumps(cfg, indent=1))
    return cfg, run


def schedule(args, cfg: dict, run: Path) -> None:
    """Runs the stage graph, up to --jobs stages at once, each in its own process."""
    wanted = args.stages.split(",") if args.stages else list(STAGES)
    unknown = [s for s in wanted if s not in STAGES]
    if unknown:
        raise SystemExit(f"unknown stage(s) {', '.join(unknown)} (stages: {', '.join(STAGES)})")
    done = {s for s in STAGES if (run / f"{s}.pt").exists() or s not in wanted}
    running: dict = {}
    base = [sys.executable, "-m", "foley.run", "--profile", args.profile, "--name", run.name,
            "--device", args.device, "--runs-dir", str(args.runs_dir)] + sum((["--set", s] for s in args.set), [])
    t0 = time.time()

    def stop(signum, _frame):
        for p in running.values():
            p.terminate()
        raise SystemExit(f"stopped by signal {signum}; finished stages keep their checkpoints")

    signal.signal(signal.SIGTERM, stop)
    while len(done) < len(STAGES):
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                del running[name]
                if proc.returncode != 0:
                    for p in running.values():
                        p.terminate()
                    raise SystemExit(f"stage '{name}' failed (exit {proc.returncode}); see its log above")
                done.add(name)
        ready = [s for s, (_, deps) in STAGES.items()
                 if s not in done and s not in running and all(d in done for d in deps)]
        # Data generation uses every core: nothing runs beside it.
        for name in ready:
            if len(running) >= args.jobs or "data" in running or (name == "data" and running):
                break
            log("run", f"starting stage {name}")
            running[name] = subprocess.Popen(base + ["--stage", name], cwd=Path(__file__).resolve().parents[1])
        time.sleep(0.5)
    log("run", f"all training stages done ({time.time() - t0:.0f}s)")


def main(argv=None) -> int:
    args = parse(argv)
    keep_freed_memory()
    try:
        cfg, run = prepare_run(args)
    except ConfigError as err:
        print(f"foley.run: invalid config: {err}", file=sys.stderr)
        return 2
    if args.stage:
        if args.stage not in STAGES:
            print(f"foley.run: unknown stage '{args.stage}' (stages: {', '.join(STAGES)})", file=sys.stderr)
            return 2
        if args.device == "cpu":
            import torch
            torch.set_num_threads(max(1, (os.cpu_count() or 2) // max(1, args.jobs)))
        run_stage(args.stage, cfg, run, args.device)
        return 0
    schedule(args, cfg, run)
    if args.until == "train":
        return 0
    from .evaluate import tune_guidance
    from .export import export_bundle
    bundle = Path(args.bundle_dir) if args.bundle_dir else ROOT / "models" / run.name
    tune_guidance(cfg, run)  # ω and γ by measurement on the val split; the manifest records them
    export_bundle(cfg, run, bundle)
    if args.until == "export":
        return 0
    from .evaluate import evaluate_bundle
    evaluate_bundle(cfg, run, bundle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
