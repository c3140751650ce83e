"""The named image sets (`DATASETS`) and how a name or a path becomes a folder.

Holds only descriptions: where each set lives under the data root, whether it ships with the
repository or is downloaded (and from where, checked against which packaged checksum list), and
how it is split by default. Touches no files beyond checking that a folder exists; fetching is
`colorlib.data.download`, reading is `colorlib.data.cache`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from colorlib.errors import UserError

# The repository's own data folder: the embedded set is found there from any working directory.
REPO_DATA = Path(__file__).resolve().parents[2] / "data"


class DatasetError(UserError, ValueError):
    """A dataset name or folder that cannot be used: unknown, missing, empty, nothing usable."""


@dataclass(frozen=True)
class DatasetSpec:
    """A named image set: where it lives under the data root and how it is split by default.

    A downloadable set (`embedded` False) also names its source: `url`, the base URL each file
    name is appended to; `checksums`, the file in colorlib/checksums/ listing the files and their
    SHA-256; `mirror_env`, an environment variable that may name a local folder to copy from.
    Adding one is a registry entry here plus its checksum file.

    `split_by_folder`: the set comes with its own split, one top-level folder per part
    (`SPLIT_FOLDERS`: train/, val/, test/); `data.split` then follows it and ignores
    `test_fraction` and `by_group`.
    """

    name: str
    folder: str
    description: str
    embedded: bool
    groups_from_comment: bool
    test_fraction: float
    by_group: bool
    count: int
    url: str | None = None
    checksums: str | None = None
    mirror_env: str | None = None
    split_by_folder: bool = False

    @property
    def downloadable(self) -> bool:
        """Fetched on demand (with its checksum list) rather than shipped with the repository."""
        return self.checksums is not None


FACES_URL = "https://raw.githubusercontent.com/2014mchidamb/DeepColorization/master/face_images/"
FACES_MIRROR_ENV = "COLORLIB_FACES_MIRROR"
# Pinned to a commit, so the files cannot change under their packaged checksums.
BSDS500_URL = (
    "https://raw.githubusercontent.com/Sisso16/ssn_pytorch/"
    "c4f9ac8c43397cbacbf2e2ba1505efafa769435d/BSR/BSDS500/data/images/"
)
BSDS500_MIRROR_ENV = "COLORLIB_BSDS500_MIRROR"
# The parts of a split, each the top-level folder of that name in a `split_by_folder` set.
SPLIT_FOLDERS = ("train", "val", "test")

DATASETS: dict[str, DatasetSpec] = {
    "kodak24": DatasetSpec(
        name="kodak24",
        folder="kodak24",
        description="Kodak Lossless True Color Image Suite: 24 PNG photos, 768x512 and 512x768 "
        "(shipped in data/kodak24)",
        embedded=True,
        groups_from_comment=False,
        test_fraction=1 / 3,
        by_group=False,
        count=24,
    ),
    "faces": DatasetSpec(
        name="faces",
        folder="faces",
        description="Georgia Tech faces of the DeepColorization course assignment: 750 JPEG "
        "128x128, 50 subjects x 15 (downloaded on demand to data/faces)",
        embedded=False,
        groups_from_comment=True,
        test_fraction=0.1,
        by_group=True,
        count=750,
        url=FACES_URL,
        checksums="faces.sha256",
        mirror_env=FACES_MIRROR_ENV,
    ),
    "bsds500": DatasetSpec(
        name="bsds500",
        folder="bsds500",
        description="Berkeley Segmentation Data Set 500: natural scenes, 500 JPEG 481x321 or "
        "321x481, in its own train/val/test split 200/100/200 (downloaded on demand to "
        "data/bsds500)",
        embedded=False,
        groups_from_comment=False,
        # Unused: the set's own folders are its split.
        test_fraction=0.6,
        by_group=False,
        count=500,
        url=BSDS500_URL,
        checksums="bsds500.sha256",
        mirror_env=BSDS500_MIRROR_ENV,
        split_by_folder=True,
    ),
}


def resolve(name_or_path: str | Path, root: str | Path = "data") -> tuple[DatasetSpec | None, Path]:
    """(registry entry or None, folder) for a registered name or the path of a folder of images.

    A registered set lives in `root/<folder>`; the embedded one falls back to the repository's
    copy. Raises DatasetError for a file or an unknown name that is not a folder.
    """
    key = str(name_or_path)
    if key in DATASETS:
        spec = DATASETS[key]
        folder = Path(root) / spec.folder
        if spec.embedded and not folder.is_dir() and (REPO_DATA / spec.folder).is_dir():
            folder = REPO_DATA / spec.folder
        return spec, folder
    path = Path(name_or_path)
    if path.is_dir():
        return None, path
    if path.exists():
        raise DatasetError(
            f"{path} is a file; give a folder of images or one of {sorted(DATASETS)}"
        )
    raise DatasetError(
        f"unknown dataset {key!r}: known datasets are {', '.join(sorted(DATASETS))}, "
        "or give the path of a folder of images"
    )
