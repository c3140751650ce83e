"""Profiles: each notebook's settings, with checked overrides."""

import pytest

from colorlib import profiles
from colorlib.errors import UserError


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
    assert profiles.settings("cpu", "colornet", {"epochs": 3})["epochs"] == 3
    with pytest.raises(UserError, match=r"^OVERRIDES: 'epoch' is not a setting of 'colornet'"):
        profiles.settings("cpu", "colornet", epoch=3)
    with pytest.raises(UserError, match=r"OVERRIDES: 'epoch', 'lrr' are not settings of"):
        profiles.settings("cpu", "colornet", {"epoch": 3, "lrr": 1})
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        profiles.settings("fast", "colornet")
    with pytest.raises(ValueError, match="unknown notebook"):
        profiles.settings("cpu", "colornetz")


def test_overrides_may_be_a_json_object_string_as_papermill_passes_them():
    # papermill -p OVERRIDES '{"epochs": 3}' injects the string, not a dict.
    cfg = profiles.settings("smoke", "pix2pix", '{"epochs": 3, "lr": 0.001, "size": 48}')
    assert (cfg["epochs"], cfg["lr"], cfg["size"]) == (3, 0.001, 48)
    assert profiles.settings("smoke", "pix2pix", "") == profiles.settings("smoke", "pix2pix")
    assert profiles.settings("smoke", "pix2pix", None) == profiles.settings("smoke", "pix2pix")
    assert profiles.settings("smoke", "pix2pix", "{}") == profiles.settings("smoke", "pix2pix")


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("{epochs: 3}", r"OVERRIDES is not valid JSON \(Expecting property name"),
        ('{"epochs": 3', r"OVERRIDES is not valid JSON"),
        ("[3]", r"OVERRIDES must be a JSON object such as .*got '\[3\]'"),
        ("3", r"OVERRIDES must be a JSON object"),
        (["epochs", 3], r"OVERRIDES must be a dict or a JSON object string, got list"),
        (3, r"OVERRIDES must be a dict or a JSON object string, got int 3"),
        ('{"epoch": 3}', r"OVERRIDES: 'epoch' is not a setting of 'pix2pix'; it has .*epochs"),
    ],
)
def test_bad_overrides_are_user_errors_naming_overrides(given, says):
    with pytest.raises(UserError, match=says) as info:
        profiles.settings("smoke", "pix2pix", given)
    assert "\n" not in str(info.value)


def test_parse_overrides_returns_a_copy():
    given = {"epochs": 3}
    parsed = profiles.parse_overrides(given)
    parsed["epochs"] = 4
    assert given == {"epochs": 3}
