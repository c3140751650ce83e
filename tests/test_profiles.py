"""Profiles: each notebook's settings, with checked overrides."""

import pytest

from colorlib import profiles


@pytest.mark.parametrize("notebook", profiles.NOTEBOOKS)
def test_every_notebook_has_the_same_settings_in_every_profile(notebook):
    keys = {p: set(profiles.settings(p, notebook)) for p in profiles.PROFILES}
    assert keys["smoke"] == keys["cpu"] == keys["gpu"]


def test_gpu_profile_uses_the_sources_settings():
    assert profiles.settings("gpu", "regressor")["epochs"] == 200
    assert profiles.settings("gpu", "colornet")["epochs"] == 20
    assert profiles.settings("gpu", "colornet")["patience"] == 5
    assert profiles.settings("gpu", "pix2pix")["size"] == 256
    assert profiles.settings("gpu", "pix2pix")["ngf"] == 64
    assert profiles.settings("gpu", "sagan")["lambda_perceptual"] == 10.0


def test_overrides_replace_by_name_and_typos_fail():
    assert profiles.settings("cpu", "colornet", epochs=3)["epochs"] == 3
    with pytest.raises(ValueError, match=r"override\(s\) \['epoch'\] are not settings of"):
        profiles.settings("cpu", "colornet", epoch=3)
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        profiles.settings("fast", "colornet")
    with pytest.raises(ValueError, match="unknown notebook"):
        profiles.settings("cpu", "colornetz")
