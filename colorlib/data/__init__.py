"""Image sets for colorization: registry, verified downloads, decoding with a disk cache, splits,
augmentation and a batched loader.

One module per concern; each says in its docstring what it holds and what it may touch:

    registry   DATASETS, DatasetSpec: the named sets, and resolving a name or path to a folder
    fetch      SHA-256 checksum lists; download(name): a registered set fetched file by file
    decode     decode_image (PIL/OpenCV, 16-bit, EXIF); list_folder (recursive)
    cache      load_images -> ImageSet, with the decode cache keyed on file contents
    store      the disk-backed decode cache (StoredImages) for sets larger than memory
    splits     split -> Split: train / validation / test, by image or by group
    crops      crop geometry and rendering (random and centre squares, centre_square)
    augment    Augment (batched flips, rotation, darkening); offline_augment
    loader     BatchLoader; augment_examples
    samples    sample_photos: scikit-image's photos, for the out-of-domain check

The names below are the package's public interface (`from colorlib import data; data.X`).
"""

from colorlib.data.augment import Augment, offline_augment
from colorlib.data.cache import ImageSet, load_images
from colorlib.data.crops import centre_square
from colorlib.data.decode import (
    IMAGE_EXTENSIONS,
    DataWarning,
    DecodedImage,
    ImageDecodeError,
    decode_image,
    list_folder,
)
from colorlib.data.fetch import (
    ChecksumError,
    DownloadError,
    download,
    download_faces,
    read_checksums,
    verify_checksums,
)
from colorlib.data.loader import BatchLoader, augment_examples
from colorlib.data.registry import (
    DATASETS,
    FACES_MIRROR_ENV,
    FACES_URL,
    DatasetError,
    DatasetSpec,
)
from colorlib.data.samples import sample_photos
from colorlib.data.splits import Split, split
from colorlib.data.store import StoredImages

__all__ = [
    "DATASETS",
    "FACES_MIRROR_ENV",
    "FACES_URL",
    "IMAGE_EXTENSIONS",
    "Augment",
    "BatchLoader",
    "ChecksumError",
    "DataWarning",
    "DatasetError",
    "DatasetSpec",
    "DecodedImage",
    "DownloadError",
    "ImageDecodeError",
    "ImageSet",
    "Split",
    "StoredImages",
    "augment_examples",
    "centre_square",
    "decode_image",
    "download",
    "download_faces",
    "list_folder",
    "load_images",
    "offline_augment",
    "read_checksums",
    "sample_photos",
    "split",
    "verify_checksums",
]
