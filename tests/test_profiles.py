"""Profiles: each notebook's settings, with checked overrides; every gpu setting's provenance
(a source that states it, found in that source's text, or our reason); dry runs; sizes that fit
the dataset."""

import os
import re
from pathlib import Path

import pytest

from colorlib import data, profiles
from colorlib.errors import UserError

REPO = Path(__file__).resolve().parents[1]
# The course's five source write-ups, beside the repository (shared/sources) as in CI.
SOURCES_DIR = Path(os.environ.get("COLORLIB_SOURCES") or REPO / ".." / "shared" / "sources")
DATASETS = (None, "kodak24", "faces", "/some/folder")


@pytest.mark.parametrize("notebook", profiles.NOTEBOOKS)
def test_every_notebook_has_the_same_settings_in_every_profile(notebook):
    keys = {p: set(profiles.settings(p, notebook)) for p in profiles.PROFILES}
    assert keys["smoke"] == keys["cpu"] == keys["gpu"]
    assert set(profiles.provenance(notebook)) == keys["gpu"]


def unexplained(given: profiles.Given) -> list[str]:
    """What is wrong with one gpu setting's provenance (nothing: [])."""
    problems = []
    if given.source is None:
        if len(given.note.split()) < 4:
            problems.append("ours, without a reason")
    elif given.source not in profiles.SOURCES:
        problems.append(f"cites {given.source!r}, not one of the sources")
    elif not given.evidence.strip():
        problems.append("cites a source without its words")
    return problems


@pytest.mark.parametrize("notebook", profiles.NOTEBOOKS)
@pytest.mark.parametrize("dataset", DATASETS)
def test_every_gpu_setting_says_where_it_comes_from(notebook, dataset):
    settings = profiles.provenance(notebook, dataset)
    bad = {name: unexplained(g) for name, g in settings.items() if unexplained(g)}
    assert bad == {}
    cfg = profiles.settings("gpu", notebook, dataset=dataset)
    assert cfg == {name: g.value for name, g in settings.items()}


def test_the_provenance_check_can_fail():
    assert unexplained(profiles.ours(3, "why")) == ["ours, without a reason"]
    assert unexplained(profiles.Given(3, "a-blog-post", "", "x")) == [
        "cites 'a-blog-post', not one of the sources"
    ]
    assert unexplained(profiles.Given(3, profiles.FACES, "note")) == [
        "cites a source without its words"
    ]
    assert unexplained(profiles.src(3, profiles.FACES, "Epoch 200")) == []


def normalised(text: str) -> str:
    return " ".join(text.split())


def source_texts() -> dict[str, str]:
    if not SOURCES_DIR.is_dir():
        pytest.skip(f"the source write-ups are not at {SOURCES_DIR} (set COLORLIB_SOURCES)")
    return {
        name: normalised((SOURCES_DIR / f"{name}.txt").read_text()) for name in profiles.SOURCES
    }


def misquoted(given: profiles.Given, texts: dict[str, str]) -> bool:
    return given.source is not None and normalised(given.evidence) not in texts[given.source]


def test_each_cited_source_states_the_words_quoted():
    texts = source_texts()
    wrong = {
        (nb, ds, name): (g.source, g.evidence)
        for nb in profiles.NOTEBOOKS
        for ds in DATASETS
        for name, g in profiles.provenance(nb, ds).items()
        if misquoted(g, texts)
    }
    assert wrong == {}
    # The check can fail: the tutorial does not give the Flickr1024 Pix2Pix's learning rate.
    assert misquoted(profiles.src(5e-4, profiles.TUTORIAL, "learning rate: 0.0005"), texts)


def numbers(text: str) -> set[float]:
    return {float(n) for n in re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", text)}


def unsupported(given: profiles.Given) -> bool:
    """A number cited bare must be among the numbers the source's words give; a value derived
    from them (a range's pick, a count) must say how in its note."""
    value = given.value
    if given.source is None or isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return float(value) not in numbers(given.evidence) and not given.note


def test_each_number_cited_is_the_sources_or_says_how_it_follows():
    cited = [(nb, n, g) for nb in profiles.NOTEBOOKS for n, g in profiles.provenance(nb).items()]
    assert [(nb, name) for nb, name, g in cited if unsupported(g)] == []
    assert unsupported(profiles.src(3e-4, profiles.TUTORIAL, "lr_G=2e-4"))
    assert not unsupported(profiles.src(2e-4, profiles.TUTORIAL, "lr_G=2e-4"))


def test_the_gpu_sizes_fit_the_dataset():
    # The faces are 128x128: no notebook may ask for more (the loader never upsamples).
    for nb in profiles.NOTEBOOKS:
        assert profiles.settings("gpu", nb, dataset="faces")["size"] <= 128, nb
        assert profiles.provenance(nb, "faces")["size"].note


def test_smoke_and_cpu_augment_as_each_source_does():
    """The flips and rotations of each notebook's source (its gpu value), crops of half to all
    of the short side; no profile darkens, since no source does."""
    for nb in profiles.NOTEBOOKS:
        gpu = profiles.settings("gpu", nb)
        for profile in ("smoke", "cpu"):
            cfg = profiles.settings(profile, nb)
            for key in ("augment", "augment_rgb"):
                if key in gpu:
                    assert cfg[key] == gpu[key] != "flip-rotate-darken", (nb, profile, key)
            assert cfg["crop_min_frac"] == 0.5


def test_every_named_augmentation_builds():
    for name, kwargs in profiles.AUGMENTATIONS.items():
        assert kwargs is None or data.Augment(**kwargs), name
    hflip = data.Augment(**profiles.AUGMENTATIONS["hflip"])
    assert hflip.hflip and not hflip.vflip and hflip.max_rotation_deg == 0 and not hflip.brightness


def test_a_dry_run_keeps_sizes_widths_and_batch_sizes():
    for nb in profiles.NOTEBOOKS:
        real = profiles.settings("gpu", nb)
        dry = profiles.settings("gpu", nb, {"dry_run": True})
        changed = {k for k in real if real[k] != dry[k]}
        assert changed <= {"dry_run", *profiles.DRY_RUN}, nb
        for k in set(profiles.DRY_RUN) & set(real):
            assert dry[k] == profiles.DRY_RUN[k]
    # What OVERRIDES set explicitly wins over the dry run's caps.
    assert profiles.settings("gpu", "pix2pix", {"dry_run": True, "epochs": 2})["epochs"] == 2


def test_samples_per_epoch_counts_or_multiples_of_the_training_images():
    assert profiles.samples_per_epoch(160, 16) == 160
    assert profiles.samples_per_epoch("10x", 675) == 6750
    assert profiles.samples_per_epoch("1x", 16) == 16
    for bad in ("0x", "x", "10", 0, 1.5, True, None):
        with pytest.raises(UserError, match="samples_per_epoch"):
            profiles.samples_per_epoch(bad, 16)
    with pytest.raises(UserError, match="OVERRIDES: samples_per_epoch 'ten'"):
        profiles.settings("gpu", "colornet", {"samples_per_epoch": "ten"})
    with pytest.raises(UserError, match="OVERRIDES: augment 'blur' is not an augmentation"):
        profiles.settings("cpu", "pix2pix", augment="blur")
    with pytest.raises(UserError, match="augment_rgb"):
        profiles.settings("cpu", "pix2pix", augment_rgb="rotate")


def test_describe_shows_each_setting_with_its_gpu_value_and_origin():
    rows = profiles.describe("cpu", "labgan", {"epochs": 3}, dataset="faces")
    by_name = {r["setting"]: r for r in rows}
    assert set(by_name) == set(profiles.settings("cpu", "labgan"))
    assert by_name["epochs"]["value"] == 3 and by_name["epochs"]["overridden"]
    assert by_name["size"]["gpu value"] == profiles.provenance("labgan", "faces")["size"].value
    for row in rows:
        assert row["from"] in (*profiles.SOURCES, "ours") and row["why / where"]


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
    assert profiles.settings("gpu", "sagan", '{"dry_run": true}')["dry_run"] is True


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
        ('{"store": "yes"}', r"OVERRIDES: store 'yes' must be true or false"),
        ('{"dry_run": 1}', r"OVERRIDES: dry_run 1 must be true or false"),
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
