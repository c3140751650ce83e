"""The report: run every notebook with papermill, then assemble one comparison.

``run(profile, dataset)`` checks its arguments, then executes ``notebooks/NN_*.ipynb`` into
``report/<profile>-<dataset>/`` (each notebook's outputs in a folder of its own), skipping
notebooks whose outputs are up to date, and stops with the notebook and cell named when one
fails. `colorlib.assemble` then writes the pages from the notebooks' records.

``dry_run=True`` passes ``OVERRIDES={"dry_run": true}`` (`colorlib.profiles`): every size, width
and batch size of the profile, one batch per method, into ``<profile>-<dataset>-dry-run/``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path

from colorlib import data, profiles
from colorlib.assemble import assemble, keep_photos_private, photos_shareable
from colorlib.errors import UserError
from colorlib.runs import RunFolder, write_json

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
PACKAGE_DIR = Path(__file__).resolve().parent


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names it, the cell, and the partly executed copy."""


def notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise UserError(
            f"no notebooks in {folder}: the report runs from a clone of the repository, not "
            "from an installed package"
        )
    return found


def report_dir(
    profile: str, dataset: str, root: str | Path = REPO / "report", dry_run: bool = False
) -> Path:
    return Path(root) / f"{profile}-{Path(dataset).name}{'-dry-run' if dry_run else ''}"


def stamp(notebook: Path, parameters: dict) -> str:
    """Changes when the notebook, colorlib's code or the parameters change."""
    h = hashlib.sha256(notebook.read_bytes())
    for src in sorted(PACKAGE_DIR.rglob("*.py")):
        h.update(src.relative_to(PACKAGE_DIR).as_posix().encode())
        h.update(src.read_bytes())
    h.update(json.dumps(parameters, sort_keys=True).encode())
    return h.hexdigest()


def up_to_date(notebook: Path, out: Path, parameters: dict) -> bool:
    """True when this notebook ran to the end with these inputs and its models are still here."""
    folder = RunFolder(out / notebook.stem)
    return (
        folder.stamp_file.exists()
        and folder.stamp_file.read_text().strip() == stamp(notebook, parameters)
        and folder.metrics_file.exists()
        and (out / notebook.name).exists()
        and all(folder.model_file(m).exists() for m in folder.read_metrics().get("methods", {}))
    )


def check_dataset(dataset: str) -> str:
    """A registry name, or the absolute path of a folder holding images (the notebooks run in
    notebooks/, so a relative path must not stay relative); a one-line error otherwise."""
    if dataset in data.DATASETS:
        return dataset
    if not dataset or not Path(dataset).is_dir():
        raise UserError(
            f"--dataset {dataset!r} is neither a known dataset ({', '.join(data.DATASETS)}) nor "
            "a folder of images"
        )
    if not data.list_folder(dataset)[0]:
        raise UserError(f"--dataset {dataset}: the folder holds no image files")
    return str(Path(dataset).resolve())


def check_device(profile: str, device: str | None, dry_run: bool = False) -> None:
    """`device` exists here; and the gpu profile, unless a dry run or given a device, has CUDA:
    a one-line error before any notebook runs, not hours of training on the CPU."""
    import torch

    from colorlib.devices import pick_device

    if device:
        pick_device(device)
    elif profile == "gpu" and not dry_run and not torch.cuda.is_available():
        raise UserError(
            "--profile gpu trains on a CUDA GPU, but PyTorch sees none: run it on a GPU machine, "
            "add --device cpu to run it on the CPU anyway, or --dry-run to try the settings in "
            "minutes"
        )


def datasets_of(notebook: Path) -> list[str] | None:
    """The datasets `notebook` runs on, from its metadata ``colorlib.datasets``; None: any.

    Notebook 07 trains on the faces and BSDS500 whatever the report's dataset, so only a report
    on one of those runs it."""
    metadata = json.loads(notebook.read_text()).get("metadata", {})
    found = metadata.get("colorlib", {}).get("datasets")
    return list(found) if found else None


def runs_on(notebook: Path, dataset: str) -> bool:
    declared = datasets_of(notebook)
    return declared is None or dataset in declared


def choose(
    only: Sequence[str] | None, notebook_dir: Path = NOTEBOOK_DIR, dataset: str | None = None
) -> list[Path]:
    """The notebooks whose names start with one of `only` (all when `only` is empty); with
    `dataset`, only those that run on it (`runs_on`), and an error when none of `only` does."""
    available = notebooks(notebook_dir)
    chosen = [nb for nb in available if not only or nb.name.startswith(tuple(only))]
    unmatched = [p for p in only or [] if not any(nb.name.startswith(p) for nb in available)]
    if unmatched or not chosen:
        raise UserError(
            f"--only {' '.join(unmatched or only or [])}: no such notebook; there are "
            f"{', '.join(nb.stem for nb in available)}"
        )
    if dataset is None:
        return chosen
    kept = [nb for nb in chosen if runs_on(nb, dataset)]
    if not kept:
        needs = "; ".join(f"{nb.stem} runs on {', '.join(datasets_of(nb) or [])}" for nb in chosen)
        raise UserError(f"--only {' '.join(only or [])}: {needs}, not on {dataset}")
    return kept


def run(
    profile: str,
    dataset: str = "kodak24",
    *,
    root: str | Path = REPO / "report",
    only: Sequence[str] | None = None,
    force: bool = False,
    seed: int = 0,
    progress: bool = True,
    notebook_dir: Path = NOTEBOOK_DIR,
    log=print,
    dry_run: bool = False,
    device: str = "",
) -> Path:
    """Execute the notebooks (all, or those whose names start with one of `only`); `device`
    (cpu, cuda, ...) is their DEVICE parameter when given, `dry_run` see above."""
    if profile not in profiles.PROFILES:
        raise UserError(f"--profile {profile!r}: choose one of {', '.join(profiles.PROFILES)}")
    dataset = check_dataset(dataset)
    check_device(profile, device, dry_run)
    chosen = choose(only, notebook_dir, dataset)
    for nb in choose(only, notebook_dir):
        if nb not in chosen:
            log(f"{nb.stem}: skipped, it runs only on {', '.join(datasets_of(nb) or [])}")
    out = report_dir(profile, dataset, root, dry_run)
    for folder in (out, *out.parents):
        if folder.exists() and not folder.is_dir():
            raise UserError(f"{folder} is a file; the report needs a folder there (see --root)")
    out.mkdir(parents=True, exist_ok=True)
    if not photos_shareable(dataset):
        keep_photos_private(out)  # before any notebook writes a photo there
    started = time.perf_counter()
    timings: dict[str, float] = {}
    for i, nb in enumerate(chosen, 1):
        params = {
            "PROGRESS": False,  # tqdm updates would flood the executed notebooks
            "PROFILE": profile,
            "DATASET": dataset,
            "SEED": seed,
            "OUT_DIR": str((out / nb.stem).resolve()),
            # Only when set, so that the stamps of earlier runs stay valid.
            **({"DEVICE": device} if device else {}),
            **({"OVERRIDES": json.dumps({"dry_run": True})} if dry_run else {}),
        }
        tag = f"[{i}/{len(chosen)}] {nb.stem}"
        if not force and up_to_date(nb, out, params):
            log(f"{tag}: up to date, skipped")
            continue
        log(f"{tag}: running ({profile}{', dry run' if dry_run else ''}, {dataset})")
        t0 = time.perf_counter()
        import papermill  # here: assembling and checking need none of the kernel machinery
        from papermill.exceptions import PapermillExecutionError

        try:
            papermill.execute_notebook(
                str(nb),
                str(out / nb.name),
                parameters=params,
                cwd=str(NOTEBOOK_DIR),
                kernel_name="python3",
                progress_bar=progress,
            )
        except PapermillExecutionError as err:
            if err.ename == "UserError":  # a mistake in the parameters, not in the notebook
                raise UserError(f"{nb.name}: {err.evalue}") from err
            raise NotebookFailed(
                # The cell as numbered in the executed copy (papermill's parameters cell counts).
                f"{nb.name} failed at cell In [{err.exec_count}] ({err.ename}: {err.evalue}). "
                f"The partly executed notebook is {out / nb.name}; fix the cause and rerun: "
                "finished notebooks are skipped and training resumes from its checkpoint."
            ) from err
        timings[nb.stem] = round(time.perf_counter() - t0, 1)
        RunFolder(out / nb.stem).stamp_file.write_text(stamp(nb, params) + "\n")
        log(f"{tag}: done in {timings[nb.stem]:.0f} s")
    total = round(time.perf_counter() - started, 1)
    if timings:
        # Merge, so rerunning one notebook keeps the others' times: the sum stays the time a
        # full run of these notebooks took.
        record = out / "run.json"
        seconds = json.loads(record.read_text())["notebook_seconds"] if record.exists() else {}
        seconds.update(timings)
        write_json(
            record,
            {
                "profile": profile,
                "dataset": dataset,
                "seed": seed,
                "notebook_seconds": seconds,
                "total_seconds": round(sum(seconds.values()), 1),
            },
        )
    log(f"notebooks finished in {total:.0f} s; assembling {out / 'README.md'}")
    assemble(out)
    return out
