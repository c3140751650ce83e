"""colorlib.data.fetch: checksum lists, verified downloads from a mirror or a URL, their one-line
errors; and the real course faces and BSDS500 photos from their local mirrors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from colorlib.data import (
    FACES_MIRROR_ENV,
    ChecksumError,
    DownloadError,
    ImageSet,
    decode_image,
    download,
    download_faces,
    load_images,
    read_checksums,
    split,
    verify_checksums,
)
from colorlib.data.registry import BSDS500_MIRROR_ENV
from colorlib.errors import UserError

REPO = Path(__file__).resolve().parents[1]
KODAK = REPO / "data" / "kodak24"
TINY = ["image00000.jpg", "image00001.jpg", "image00002.jpg"]


def write_sums(folder: Path, names: list[str], path: Path) -> Path:
    lines = [f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}" for n in names]
    path.write_text("\n".join(lines) + "\n")
    return path


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# --- checksums ------------------------------------------------------------------------------------


def test_verify_checksums_accepts_kodak24():
    assert verify_checksums(KODAK) == [f"kodim{i:02d}.png" for i in range(1, 25)]


def test_verify_checksums_names_bad_and_missing_files(tmp_path, make_photo):
    for seed, name in enumerate(("a.png", "b.png")):
        make_photo(tmp_path / name, size=(8, 8), seed=seed)
    write_sums(tmp_path, ["a.png", "b.png"], tmp_path / "SHA256SUMS")
    assert verify_checksums(tmp_path) == ["a.png", "b.png"]
    with open(tmp_path / "a.png", "ab") as f:
        f.write(b"x")
    with pytest.raises(ChecksumError, match=r"a\.png \(SHA-256 mismatch\)"):
        verify_checksums(tmp_path)
    (tmp_path / "b.png").unlink()
    with pytest.raises(ChecksumError, match=r"b\.png \(missing\)"):
        verify_checksums(tmp_path)


def test_read_checksums_rejects_malformed_line(tmp_path):
    sums = tmp_path / "bad.sha256"
    sums.write_text("not-a-hash  file.jpg\n")
    with pytest.raises(ValueError, match="line 1"):
        read_checksums(sums)


def test_read_checksums_drops_a_leading_dot_slash(tmp_path):
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(f"{'a' * 64}  ./train/1.jpg\n{'b' * 64}  val/2.jpg\n")
    assert read_checksums(sums) == {"train/1.jpg": "a" * 64, "val/2.jpg": "b" * 64}


def test_errors_are_user_errors_and_keep_their_old_bases():
    assert issubclass(ChecksumError, UserError) and issubclass(ChecksumError, ValueError)
    assert issubclass(DownloadError, UserError) and issubclass(DownloadError, RuntimeError)


# --- downloads ------------------------------------------------------------------------------------


@pytest.fixture
def tiny_mirror(tmp_path: Path, make_photo) -> tuple[Path, Path]:
    """Three face-like JPEGs with subject comments, and their checksum list."""
    mirror = tmp_path / "mirror"
    for i, (name, subject) in enumerate(zip(TINY, (b"s1", b"s1", b"s2"), strict=True)):
        make_photo(mirror / name, size=(24, 24), seed=10 + i, comment=subject)
    return mirror, write_sums(mirror, TINY, tmp_path / "tiny.sha256")


def test_download_faces_from_mirror(tiny_mirror, tmp_path):
    mirror, sums = tiny_mirror
    dest = tmp_path / "faces"
    paths = download_faces(dest, mirror=mirror, checksums=sums, progress=False)
    assert paths == [dest / name for name in TINY]
    for name in TINY:
        assert (dest / name).read_bytes() == (mirror / name).read_bytes()
    assert (dest / "SHA256SUMS").read_bytes() == sums.read_bytes()
    assert decode_image(dest / "image00002.jpg").comment == "s2"
    # Valid files are kept: a second call needs nothing from the (now emptied) mirror.
    for p in mirror.iterdir():
        p.unlink()
    download_faces(dest, mirror=mirror, checksums=sums, progress=False)
    assert verify_checksums(dest) == TINY


def test_download_by_registry_name_summarises_in_one_line(tiny_mirror, tmp_path, capsys):
    mirror, sums = tiny_mirror
    dest = tmp_path / "faces"
    assert download("faces", dest, mirror, progress=True, checksums=sums) == dest
    captured = capsys.readouterr()
    assert f"faces: 3 files verified in {dest} (3 fetched)" in captured.err
    assert not any(name in captured.out + captured.err for name in TINY)  # no file list
    download("faces", dest, mirror, progress=True, checksums=sums)
    assert "verified" not in capsys.readouterr().err  # nothing fetched: nothing to say


@pytest.mark.parametrize("name", ["kodak24", "imagenet"])
def test_download_refuses_what_it_cannot_fetch(name, tmp_path):
    with pytest.raises(
        DownloadError, match=f"^{name} .*: the datasets to download are bsds500, faces$"
    ):
        download(name, tmp_path / "x", progress=False)


def test_download_faces_rejects_corrupted_mirror_file(tiny_mirror, tmp_path):
    mirror, sums = tiny_mirror
    with open(mirror / "image00001.jpg", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    dest = tmp_path / "faces"
    with pytest.raises(ChecksumError, match=r"image00001\.jpg: SHA-256 mismatch") as err:
        download_faces(dest, mirror=mirror, checksums=sums, progress=False)
    assert str(mirror / "image00001.jpg") in one_line(err)
    assert not (dest / "image00001.jpg").exists()
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]  # no temporary left over


def test_download_with_a_missing_mirror_folder(tiny_mirror, tmp_path):
    _, sums = tiny_mirror
    nowhere = tmp_path / "nowhere"
    with pytest.raises(DownloadError, match="does not exist") as err:
        download_faces(tmp_path / "faces", mirror=nowhere, checksums=sums, progress=False)
    assert str(nowhere) in one_line(err)
    with pytest.raises(DownloadError, match="empty path"):
        download_faces(tmp_path / "faces", mirror="", checksums=sums, progress=False)


def test_download_with_an_empty_or_incomplete_mirror_folder(tiny_mirror, tmp_path):
    mirror, sums = tiny_mirror
    empty = tmp_path / "empty"
    empty.mkdir()
    dest = tmp_path / "faces"
    with pytest.raises(DownloadError, match="holds none of the 3 faces files") as err:
        download_faces(dest, mirror=empty, checksums=sums, progress=False)
    assert str(empty) in one_line(err)
    (mirror / "image00002.jpg").unlink()
    with pytest.raises(DownloadError, match=r"lacks 1 of the 3 .* image00002\.jpg"):
        download_faces(dest, mirror=mirror, checksums=sums, progress=False)
    assert not list(dest.glob("*.jpg"))  # checked before copying anything


def test_download_to_a_destination_that_is_a_file(tiny_mirror, tmp_path):
    mirror, sums = tiny_mirror
    dest = tmp_path / "faces.txt"
    dest.write_text("not a folder")
    with pytest.raises(DownloadError, match="is an existing file, not a folder") as err:
        download_faces(dest, mirror=mirror, checksums=sums, progress=False)
    assert str(dest) in one_line(err)
    with pytest.raises(DownloadError, match=r"faces\.txt/faces is under .*faces\.txt, a file"):
        download_faces(dest / "faces", mirror=mirror, checksums=sums, progress=False)


def test_download_faces_replaces_a_bad_local_file(tiny_mirror, tmp_path):
    mirror, sums = tiny_mirror
    dest = tmp_path / "faces"
    dest.mkdir()
    (dest / "image00000.jpg").write_bytes(b"truncated")
    download_faces(dest, mirror=mirror, checksums=sums, progress=False)
    assert (dest / "image00000.jpg").read_bytes() == (mirror / "image00000.jpg").read_bytes()


def test_download_faces_over_url(tiny_mirror, tmp_path, monkeypatch):
    monkeypatch.delenv(FACES_MIRROR_ENV, raising=False)
    mirror, sums = tiny_mirror
    dest = tmp_path / "faces"
    download_faces(dest, checksums=sums, base_url=mirror.as_uri(), progress=False)
    assert verify_checksums(dest, sums) == TINY
    with pytest.raises(DownloadError, match=r"could not download image00000\.jpg") as err:
        download_faces(tmp_path / "other", checksums=sums, base_url=(tmp_path / "no").as_uri())
    one_line(err)


def test_download_faces_uses_mirror_from_environment(tiny_mirror, tmp_path, monkeypatch):
    mirror, sums = tiny_mirror
    monkeypatch.setenv(FACES_MIRROR_ENV, str(mirror))
    dest = tmp_path / "faces"
    nowhere = (tmp_path / "nowhere").as_uri()
    download_faces(dest, checksums=sums, base_url=nowhere, progress=False)
    assert len(verify_checksums(dest)) == 3


def test_download_faces_defaults_to_packaged_list(tiny_mirror, tmp_path):
    # The packaged list names 750 files, of which the tiny mirror has 3 (and they are not the
    # real faces).
    mirror, _ = tiny_mirror
    with pytest.raises(DownloadError, match=r"lacks 747 of the 750 faces files"):
        download_faces(tmp_path / "faces", mirror=mirror, progress=False)
    packaged = read_checksums(REPO / "colorlib" / "checksums" / "faces.sha256")
    assert len(packaged) == 750


# --- the course faces, from the local mirror ------------------------------------------------------


@pytest.fixture(scope="module")
def faces(tmp_path_factory, faces_mirror) -> ImageSet:
    root = tmp_path_factory.mktemp("data")
    return load_images("faces", root=root, mirror=faces_mirror, progress=False)


@pytest.mark.slow
def test_faces_load_with_subjects(faces):
    assert faces.source == "faces" and len(faces) == 750
    assert all(im.shape == (3, 128, 128) for im in faces.images)
    subjects = sorted(set(faces.groups), key=lambda s: int(s[1:]))
    assert subjects == [f"s{i}" for i in range(1, 51)]
    assert all(faces.groups.count(s) == 15 for s in subjects)


@pytest.mark.slow
def test_faces_split_by_subject(faces):
    parts = split(faces, seed=0)
    held = parts.val + parts.test
    assert len(parts.train) == 675 and len(held) == 75
    assert sorted(parts.train + held) == list(range(750))
    train_subjects = {faces.groups[i] for i in parts.train}
    val_subjects = {faces.groups[i] for i in parts.val}
    test_subjects = {faces.groups[i] for i in parts.test}
    assert not train_subjects & (val_subjects | test_subjects)
    assert not val_subjects & test_subjects and len(val_subjects | test_subjects) == 5
    assert split(faces, seed=0) == parts
    assert split(faces, seed=1).train != parts.train


# --- BSDS500, from the local mirror ---------------------------------------------------------------


def test_bsds500_packaged_list_is_the_mirrors(bsds500_mirror):
    packaged = read_checksums(REPO / "colorlib" / "checksums" / "bsds500.sha256")
    assert packaged == read_checksums(bsds500_mirror / "SHA256SUMS")
    folders = [name.split("/")[0] for name in packaged]
    assert [folders.count(f) for f in ("train", "val", "test")] == [200, 100, 200]


def test_download_bsds500_from_the_mirror_in_the_environment(bsds500_mirror, tmp_path, monkeypatch):
    monkeypatch.setenv(BSDS500_MIRROR_ENV, str(bsds500_mirror))
    dest = tmp_path / "bsds500"
    nowhere = (tmp_path / "nowhere").as_uri()
    assert download("bsds500", dest, progress=False, base_url=nowhere) == dest
    assert len(verify_checksums(dest)) == 500
    assert (dest / "val" / "101085.jpg").read_bytes() == (
        bsds500_mirror / "val" / "101085.jpg"
    ).read_bytes()


def test_download_bsds500_rejects_a_corrupted_mirror_file_then_resumes(
    bsds500_mirror, tmp_path, capsys
):
    # Links to the real files, but for one damaged copy: the last in the list, so that the
    # 499 before it are fetched and a rerun has only it left to do.
    names = list(read_checksums(REPO / "colorlib" / "checksums" / "bsds500.sha256"))
    damaged = tmp_path / "mirror" / names[-1]
    for name in names:
        (tmp_path / "mirror" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "mirror" / name).symlink_to(bsds500_mirror / name)
    damaged.unlink()
    data = bytearray((bsds500_mirror / names[-1]).read_bytes())
    data[1000:1003] = b"\x00\x01\x02"
    damaged.write_bytes(bytes(data))
    dest = tmp_path / "bsds500"
    with pytest.raises(ChecksumError, match="SHA-256 mismatch") as err:
        download("bsds500", dest, tmp_path / "mirror", progress=False)
    assert one_line(err).startswith(f"{damaged}: ")
    assert not (dest / names[-1]).exists()
    download("bsds500", dest, bsds500_mirror, progress=True)
    assert f"bsds500: 500 files verified in {dest} (1 fetched)" in capsys.readouterr().err
