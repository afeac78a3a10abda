import shutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
torch.set_num_threads(2)


TINY = Path(__file__).resolve().parents[3] / "models" / "tiny-random"


@pytest.fixture(scope="module")
def start(tmp_path_factory) -> Path:
    """The tiny bundle with a (random) audio encoder in train/, as --refit leaves one: a start
    bundle for foley.finetune and foley.window_distill."""
    from foley import weights
    bundle = tmp_path_factory.mktemp("start") / "tiny"
    shutil.copytree(TINY, bundle)
    mods, _ = weights.recover_modules(bundle, check=False)
    weights.save_refit_part(bundle / weights.REFIT_DIR, "ae_encoder", mods["latent_decoder"].ae.enc.state_dict(), {})
    return bundle
