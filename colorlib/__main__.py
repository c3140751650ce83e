"""Command line: ``python -m colorlib report|colorize|download|settings|cost`` (also installed as
``colorlib``).

`main` checks that PyTorch is installed, parses and validates every argument before any work
starts, then runs the subcommand. A user mistake (`colorlib.errors.UserError`, from the checks
here or from the library) is printed as one line, ``error: <message>``, with exit status 2; a
notebook that fails is exit status 1 with its message; anything else keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from colorlib.errors import USAGE_EXIT, UserError

# The torch stack, which pyproject.toml leaves to the user (pip must never resolve torch
# unpinned), as requirements.txt pins it (tests/test_cli.py checks that they agree).
TORCH_STACK = {"torch": "torch", "torchvision": "torchvision", "ignite": "pytorch-ignite"}
TORCH_MISSING = (
    "colorlib needs PyTorch ({missing} not installed): pip install torch==2.14.1 "
    "torchvision==0.29.1 'pytorch-ignite>=0.5,<0.7' (see README: Installing elsewhere)"
)
INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports Ctrl-C

DESCRIPTION = """\
colorlib: deep-learning image colorization. Run the course notebooks into one report,
colorize your own photos with a model the report trained, download a dataset, or see a
profile's settings (and where each comes from) and what a run costs."""
REPORT_DESCRIPTION = """\
Run the course notebooks (notebooks/NN_*.ipynb) with papermill, then assemble one report
that compares every method on the held-out test images."""
COLORIZE_DESCRIPTION = """\
Colorize photos (gray or colour, any size) with a model a notebook exported; each result
is written at the photo's full resolution."""
SETTINGS_DESCRIPTION = """\
Print every notebook's settings in a profile: the value, the gpu value, and where that comes
from (the source write-up that states it, or "ours" and why)."""
COST_DESCRIPTION = """\
Print what each notebook trains in a profile: optimiser steps, FLOPs per step (counted with
torch's FlopCounterMode on one step of the real networks at their batch and image size, on
the meta device) and the total, with an ESTIMATE of the minutes on stated GPUs."""
DOWNLOAD_DESCRIPTION = """\
Download a dataset that does not ship with colorlib, checking every file against its
SHA-256. (The report downloads it on first use, too.)"""
MAIN_EPILOG = """\
examples:
  python -m colorlib report                       # every notebook, cpu profile, Kodak24
  python -m colorlib colorize --checkpoint report/cpu-kodak24/05_pix2pix/pix2pix_lab/model.pt \\
      --input photo.jpg --output colorized/
  python -m colorlib download faces
  python -m colorlib settings --profile gpu --dataset faces
  python -m colorlib cost --profile gpu

Run "python -m colorlib <command> --help" for a command's options and where it writes.
exit status: 0 done; 1 a notebook failed; 2 something to fix on your side: the command line,
a file, a folder, a download (one line "error: ..."), or colorize skipped an unreadable input;
130 interrupted.
"""
REPORT_EPILOG = """\
examples:
  python -m colorlib report                                 # all six notebooks, cpu, Kodak24
  python -m colorlib report --profile smoke                 # seconds a notebook: does it run?
  python -m colorlib report --profile cpu --dataset faces   # the 750 faces (downloaded once)
  python -m colorlib report --only 05 --force               # rerun one notebook
  python -m colorlib report --dataset ~/photos              # a folder of your own images
  python -m colorlib report --assemble-only                 # rebuild README/HTML from results
  python -m colorlib report --profile gpu --device cuda     # the sources' settings, on a GPU
  python -m colorlib report --profile gpu --dry-run         # the same, one batch each, any CPU

where results go: <root>/<profile>-<dataset>/ (root: report/ of the colorlib checkout), e.g.
report/cpu-kodak24/README.md (the comparison, renders on GitHub) and report.html (one
self-contained page), comparison.csv, figures/, each executed notebook NN_*.ipynb, and per
notebook a folder with its metrics.json, figures, loss histories and exported model.pt files.
Notebooks whose outputs are up to date are skipped; an interrupted run resumes where it stopped.
A dry run goes to <root>/<profile>-<dataset>-dry-run/.
"""
TABLE_EPILOG = """\
examples:
  python -m colorlib {name} --profile gpu
  python -m colorlib {name} --profile gpu --dataset faces --markdown

where results go: printed on standard output (--markdown: tables for a README).
"""
COLORIZE_EPILOG = """\
examples:
  python -m colorlib colorize --checkpoint report/cpu-kodak24/05_pix2pix/pix2pix_lab/model.pt \\
      --input coffee.png --output colorized/
  python -m colorlib colorize --checkpoint model.pt --input photos/ old.jpg --output out/ \\
      --device cpu

where results go: <output>/<stem>_colorized.png for each input, at the input's full
resolution (colorized/coffee_colorized.png above). Inputs are never overwritten, nor are
earlier results unless --overwrite is given. A file that cannot be read is reported and
skipped, and the exit status is then 2. The models are the model.pt files that
"python -m colorlib report" exports under report/<profile>-<dataset>/.
"""
DOWNLOAD_EPILOG = """\
examples:
  python -m colorlib download faces
  python -m colorlib download faces --mirror /shared/datasets/faces   # copy, no network
  python -m colorlib download faces --dest /scratch/me/faces

where results go: data/<name>/ (data/faces/ above) unless --dest is given, with the
SHA256SUMS list beside the files. Every file is checked against its SHA-256; files already
there with the right checksum are kept, so rerunning finishes an interrupted download.
"""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Epilogs as written (their examples line up); option help wrapped as usual."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)


# --- report ---------------------------------------------------------------------------------------


def _check_folder_target(path: Path, option: str) -> None:
    """`path` is a folder or can become one: neither it nor an existing parent is a file."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                where = "" if candidate == path else f" ({candidate} is a file)"
                raise UserError(f"{option} {path} is not a folder{where}; give a folder")
            return


def _check_report(args: argparse.Namespace) -> None:
    from colorlib import report

    root = Path(args.root).expanduser() if args.root else report.REPO / "report"
    _check_folder_target(root, "--root")
    args.root = root
    if args.assemble_only:
        if args.only or args.force:
            raise UserError(
                "--assemble-only runs no notebook: leave out --only and --force, or --assemble-only"
            )
        return  # assemble itself says so, before writing anything, when there are no results
    report.check_dataset(args.dataset)
    report.choose(args.only, dataset=args.dataset)
    report.check_device(args.profile, args.device, args.dry_run)


def _report(args: argparse.Namespace) -> int:
    from colorlib import report

    if args.assemble_only:
        path = report.assemble(
            report.report_dir(args.profile, args.dataset, args.root, args.dry_run)
        )
    else:
        try:
            out = report.run(
                args.profile,
                args.dataset,
                root=args.root,
                only=args.only,
                force=args.force,
                seed=args.seed,
                progress=not args.quiet,
                dry_run=args.dry_run,
                device=args.device or "",
            )
        except report.NotebookFailed as err:  # a fault in a notebook, not a user mistake
            print(f"error: {_one_line(err)}", file=sys.stderr)
            return 1
        path = out / "README.md"
    print(f"report: {path} and {path.with_name('report.html')}")
    return 0


# --- colorize -------------------------------------------------------------------------------------


def _check_colorize(args: argparse.Namespace) -> None:
    from colorlib.devices import pick_device

    # A device this machine lacks is a UserError before the model loads; colorize checks the
    # inputs, the checkpoint and the output folder itself, before any work.
    pick_device(args.device)


def _colorize(args: argparse.Namespace) -> int:
    from colorlib.colorize import colorize

    outcomes = colorize(
        args.checkpoint,
        args.input,
        args.output,
        device=args.device,
        progress=not args.quiet,
        overwrite=args.overwrite,
    )
    done = [o for o in outcomes if o.output is not None]
    skipped = [o for o in outcomes if o.output is None]
    print(f"colorized {len(done)} image(s) into {args.output}; skipped {len(skipped)}")
    for o in skipped:
        print(f"  skipped {o.source}: {o.error}", file=sys.stderr)
    return 2 if skipped else 0  # 2: partial success, so scripts can tell


# --- download -------------------------------------------------------------------------------------


def _download(args: argparse.Namespace) -> int:
    from colorlib import data

    # data.download checks dest and mirror itself (UserError, one line).
    folder = data.download(
        args.dataset, dest=args.dest, mirror=args.mirror, progress=not args.quiet
    )
    spec = data.DATASETS[args.dataset]
    print(f"{args.dataset}: {spec.count} images ready in {folder} (SHA-256 checked)")
    return 0


# --- settings and cost ----------------------------------------------------------------------------


def _check_table(args: argparse.Namespace) -> None:
    from colorlib import report

    args.dataset = report.check_dataset(args.dataset)


def _settings(args: argparse.Namespace) -> int:
    from colorlib import cost

    print(cost.settings_text(args.profile, args.dataset, markdown=args.markdown))
    return 0


def _cost(args: argparse.Namespace) -> int:
    from colorlib import cost

    print(cost.cost_text(args.profile, args.dataset, args.train_images, markdown=args.markdown))
    return 0


# --- the parser -----------------------------------------------------------------------------------


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 2**32 - 1")
    return value


def parser() -> argparse.ArgumentParser:
    """The command line (imports the dataset registry, hence torch: check torch first)."""
    from colorlib import data

    datasets = ", ".join(
        f"{n} ({'ships in data/' if s.embedded else 'downloaded on first use'})"
        for n, s in data.DATASETS.items()
    )
    downloadable = [n for n, s in data.DATASETS.items() if s.downloadable]

    p = argparse.ArgumentParser(
        prog="python -m colorlib",
        description=DESCRIPTION,
        epilog=MAIN_EPILOG,
        formatter_class=_HelpFormatter,
    )
    sub = p.add_subparsers(
        dest="command", required=True, metavar="{report,colorize,download,settings,cost}"
    )

    r = sub.add_parser(
        "report",
        help="run the notebooks with papermill and assemble the report",
        description=REPORT_DESCRIPTION,
        epilog=REPORT_EPILOG,
        formatter_class=_HelpFormatter,
    )
    r.add_argument(
        "--profile",
        default="cpu",
        choices=["smoke", "cpu", "gpu"],
        help="smoke: seconds a notebook, proves it runs; cpu: minutes a notebook, real results "
        "on a laptop; gpu: the source write-ups' settings, for a CUDA machine "
        "(default: %(default)s)",
    )
    r.add_argument(
        "--dataset",
        default="kodak24",
        metavar="NAME_OR_FOLDER",
        help=f"{datasets}, or a folder of images (default: %(default)s)",
    )
    r.add_argument(
        "--root",
        default=None,
        metavar="FOLDER",
        help="where the <profile>-<dataset> report folder goes (default: report/ of the "
        "colorlib checkout)",
    )
    r.add_argument(
        "--only",
        nargs="+",
        metavar="PREFIX",
        help="run only the notebooks whose names start with these, e.g. 01 05 (default: all)",
    )
    r.add_argument(
        "--force",
        action="store_true",
        help="rerun notebooks even when their outputs are up to date",
    )
    r.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed for Python, NumPy and torch: the same seed and profile give the same numbers "
        "on the same machine (default: %(default)s)",
    )
    r.add_argument(
        "--assemble-only",
        action="store_true",
        help="run no notebook: rebuild README.md, report.html and the figures from the results "
        "already in the report folder",
    )
    r.add_argument("--dry-run", action="store_true",
                   help="the profile's sizes, widths and batch sizes, but one batch per "
                   "method and a few test images: proves the settings run, in minutes on a "
                   "CPU")  # fmt: skip
    r.add_argument("--device", default=None,
                   help="DEVICE of every notebook: cpu, cuda, cuda:N or mps (default: CUDA when "
                   "present, else CPU; --profile gpu stops without CUDA unless --device or "
                   "--dry-run is given)")  # fmt: skip
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=_report, check=_check_report)

    c = sub.add_parser(
        "colorize",
        help="colorize photos with a trained model",
        description=COLORIZE_DESCRIPTION,
        epilog=COLORIZE_EPILOG,
        formatter_class=_HelpFormatter,
    )
    c.add_argument(
        "--checkpoint",
        required=True,
        metavar="MODEL_PT",
        help="a model.pt that a notebook exported (under report/<profile>-<dataset>/)",
    )
    c.add_argument(
        "--input", required=True, nargs="+", metavar="PATH", help="image files and/or folders"
    )
    c.add_argument(
        "--output",
        required=True,
        metavar="FOLDER",
        help="folder for the <stem>_colorized.png files (created if missing)",
    )
    c.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, cuda:N or mps (default: CUDA when present, else CPU)",
    )
    c.add_argument(
        "--overwrite", action="store_true", help="replace results that are already in --output"
    )
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=_colorize, check=_check_colorize)

    d = sub.add_parser(
        "download",
        help="fetch a dataset, each file SHA-256 checked",
        description=DOWNLOAD_DESCRIPTION,
        epilog=DOWNLOAD_EPILOG,
        formatter_class=_HelpFormatter,
    )
    d.add_argument("dataset", choices=downloadable, help="the dataset: %(choices)s")
    d.add_argument(
        "--dest", default=None, metavar="FOLDER", help="where the files go (default: data/<name>/)"
    )
    d.add_argument(
        "--mirror",
        default=None,
        metavar="FOLDER",
        help="copy from this local folder instead of the web (default: $COLORLIB_FACES_MIRROR "
        "if set, else the web)",
    )
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=_download, check=lambda args: None)

    for name, about, description, func in (
        ("settings", "every setting and where it comes from", SETTINGS_DESCRIPTION, _settings),
        ("cost", "steps, FLOPs and estimated GPU time of a run", COST_DESCRIPTION, _cost),
    ):
        t = sub.add_parser(name, help=about, description=description,
                           epilog=TABLE_EPILOG.format(name=name),
                           formatter_class=_HelpFormatter)  # fmt: skip
        t.add_argument("--profile", default="gpu", choices=["smoke", "cpu", "gpu"],
                       help="the profile (default: %(default)s)")  # fmt: skip
        t.add_argument("--dataset", default="kodak24", metavar="NAME_OR_FOLDER",
                       help=f"{datasets}, or a folder (default: %(default)s)")  # fmt: skip
        t.add_argument("--markdown", action="store_true", help="print Markdown tables")
        if name == "cost":
            t.add_argument("--train-images", type=_seed, default=None, metavar="N",
                           help="count steps for N training images (default: the dataset's "
                           "own split, loading the dataset once)")  # fmt: skip
        t.set_defaults(func=func, check=_check_table)
    return p


# --- main -----------------------------------------------------------------------------------------


def _one_line(err: BaseException) -> str:
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return text or type(err).__name__


def _require_torch() -> None:
    missing = [
        dist for module, dist in TORCH_STACK.items() if importlib.util.find_spec(module) is None
    ]
    if missing:
        raise UserError(TORCH_MISSING.format(missing=", ".join(missing)))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0, 1, 2 or 130, see ``--help``)."""
    try:
        _require_torch()
        args = parser().parse_args(argv)  # a bad option: argparse's usage message, status 2
        args.check(args)  # every argument checked before any work starts
        return args.func(args)
    except UserError as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return USAGE_EXIT
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to go on", file=sys.stderr)
        return INTERRUPTED_EXIT


if __name__ == "__main__":
    sys.exit(main())
