"""keep_freed_memory: a training step's large tensors reuse freed memory instead of taking new
page faults each step (glibc only)."""
import subprocess
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[1]

# One step of the video encoder's input arithmetic on a batch of frames, as foley.finetune runs it.
PROBE = """
import resource, sys
import torch
from foley.allocator import keep_freed_memory
if sys.argv[1] == "keep" and not keep_freed_memory():
    print("no-mallopt"); sys.exit(0)
torch.set_num_threads(1)
frames = torch.randint(0, 256, (8, 50, 96, 96, 3), dtype=torch.uint8)
def step_faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = frames.float().permute(0, 1, 4, 2, 3) / 255.0
    y = torch.cat([x - 0.5, x * 4.0], dim=2)
    del x, y
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
step_faults()                         # warm-up: the heap grows to the step's peak
# The fewest of three steps: other processes on a busy machine add faults to some steps.
print(min(step_faults() for _ in range(3)))
"""


def faults(mode: str) -> int | str:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=TRAINING, capture_output=True, text=True,
                         check=True).stdout.strip()
    return out if out == "no-mallopt" else int(out)


def test_a_training_step_reuses_freed_memory_without_most_page_faults():
    kept = faults("keep")
    if kept == "no-mallopt":
        pytest.skip("this C library has no mallopt (not glibc)")
    default = faults("default")
    pages = (8 * 50 * 96 * 96 * 3 * 4) // 4096   # one float copy of the frames
    assert default > pages                 # glibc unmaps each freed block: its pages fault again
    assert kept * 4 < default
