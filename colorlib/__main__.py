"""Command line: ``python -m colorlib report|colorize|download``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _report(args: argparse.Namespace) -> int:
    from colorlib import report

    root = args.root or report.REPO / "report"
    if args.assemble_only:
        path = report.assemble(report.report_dir(args.profile, args.dataset, root))
    else:
        try:
            out = report.run(
                args.profile,
                args.dataset,
                root=root,
                only=args.only,
                force=args.force,
                seed=args.seed,
                progress=not args.quiet,
            )
        except report.NotebookFailed as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        path = out / "README.md"
    print(f"report: {path}")
    return 0


def _colorize(args: argparse.Namespace) -> int:
    from colorlib.colorize import colorize
    from colorlib.inference import CheckpointError

    try:
        outcomes = colorize(
            args.checkpoint, args.input, args.output, device=args.device, progress=not args.quiet
        )
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    done = [o for o in outcomes if o.output is not None]
    skipped = [o for o in outcomes if o.output is None]
    print(f"colorized {len(done)} image(s) into {args.output}; skipped {len(skipped)}")
    for o in skipped:
        print(f"  skipped {o.source}: {o.error}", file=sys.stderr)
    return 2 if skipped else 0  # 2: partial success, so scripts can tell


def _download(args: argparse.Namespace) -> int:
    from colorlib import data

    try:
        path = data.download_faces(args.dest, mirror=args.mirror, progress=not args.quiet)
    except (data.ChecksumError, data.DownloadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"faces ready in {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="colorlib", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("report", help="run the notebooks with papermill and assemble the report")
    r.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "gpu"])
    r.add_argument("--dataset", default="kodak24", help="kodak24, faces, or a folder of images")
    r.add_argument("--root", default=None, help="report folder root (default: report/)")
    r.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. 01 05")
    r.add_argument("--force", action="store_true", help="rerun notebooks even if up to date")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--assemble-only", action="store_true", help="only rebuild README/HTML")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=_report)

    c = sub.add_parser("colorize", help="colorize photos with a trained model")
    c.add_argument("--checkpoint", required=True, help="a model.pt exported by a notebook")
    c.add_argument("--input", required=True, nargs="+", help="image files or folders")
    c.add_argument("--output", required=True, help="folder for <name>_colorized.png")
    c.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA if present)")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=_colorize)

    d = sub.add_parser("download", help="fetch the 750-face course set (SHA-256 checked)")
    d.add_argument("dataset", choices=["faces"])
    d.add_argument("--dest", default="data/faces")
    d.add_argument("--mirror", default=None, help="a local folder to copy from instead of the web")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=_download)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
