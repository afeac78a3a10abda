import pytest

from foley.config import ConfigError, load_profile


def test_profiles_load():
    for name in ("quick", "full", "gpu", "tiny"):
        assert load_profile(name)["profile"] == name


@pytest.mark.parametrize("override, message", [
    (["ldm_window=30"], "multiple of 4"),
    (["cond_drop=1.5"], "outside"),
    (["nonsense=1"], "unknown config key"),
    (["ldm_steps=abc"], "not a JSON value"),
    (["ldm_steps=0"], "positive integer"),
    (["distill_rounds=[4, 8]"], "strictly decreasing"),
    (["student_steps=2"], "last distillation round"),
    (["ldm_window"], "key=value"),
])
def test_invalid_configs_get_a_clear_message(override, message):
    with pytest.raises(ConfigError, match=message):
        load_profile("quick", override)


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="quick"):
        load_profile("huge")
