"""Make the README's colorize example from a finished report, and rewrite its README block.

    .venv/bin/python scripts/colorize_example.py       # after make report (report/cpu-kodak24)

The example uses the method with the lowest mean CIEDE2000 on the report's test images (its
comparison table's best learned method, not a hand-picked one) and scikit-image's `coffee`, a
photo unlike the training set that may be shown. It writes ``report/colorize_example.jpg`` (gray
input, result, original, each labelled, at half size) and the text between the README's
``<!-- colorize:start -->`` and ``<!-- colorize:end -->`` lines: the command, the picture and a
caption whose numbers are measured here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from colorlib import comparison, inference, metrics
from colorlib.data.samples import sample_photos
from colorlib.modelfile import load_model

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "report" / "cpu-kodak24"
PICTURE = REPO / "report" / "colorize_example.jpg"
START, END = "<!-- colorize:start -->", "<!-- colorize:end -->"
LABEL_ROWS = 22  # pixels of caption strip under each panel


def best_method(runs: dict) -> tuple[str, str, dict]:
    """(notebook, method, entry) of the compared method with the lowest mean test CIEDE2000."""
    rows = [r for r in comparison.compared(runs) if "variant_of" not in r[2]]
    return min(rows, key=lambda r: r[2]["metrics"]["ciede2000"])


def panel(image: torch.Tensor, label: str) -> Image.Image:
    """`image` at half size with `label` written under it."""
    picture = Image.fromarray(image.permute(1, 2, 0).numpy())
    picture = picture.resize((picture.width // 2, picture.height // 2), Image.LANCZOS)
    out = Image.new("RGB", (picture.width, picture.height + LABEL_ROWS), "white")
    out.paste(picture, (0, 0))
    ImageDraw.Draw(out).text((4, picture.height + 5), label, fill="black")
    return out


def main() -> int:
    from skimage import data as samples

    runs = comparison.load_runs(REPORT)
    notebook, method, entry = best_method(runs)
    checkpoint = REPORT / notebook / entry["checkpoint"]
    model, spec = load_model(checkpoint)
    photo = torch.from_numpy(samples.coffee()).permute(2, 0, 1).contiguous()
    result = inference.predict(model, spec, photo)
    gray = metrics.gray_prediction(photo)
    ours, plain = metrics.ciede2000(result, photo), metrics.ciede2000(gray, photo)
    elsewhere = len(sample_photos()[0])
    panels = [
        panel(gray, "gray input"),
        panel(result, f"{entry['title']}: CIEDE2000 {ours:.1f}"),
        panel(photo, "original"),
    ]
    gap = 5
    width = sum(p.width for p in panels) + gap * (len(panels) - 1)
    sheet = Image.new("RGB", (width, panels[0].height), "white")
    x = 0
    for p in panels:
        sheet.paste(p, (x, 0))
        x += p.width + gap
    sheet.save(PICTURE, quality=90)

    relative = checkpoint.relative_to(REPO).as_posix()
    verdict = "better" if ours < plain else "worse"
    block = "\n".join(
        [
            START,
            "```bash",
            '.venv/bin/python -c "from skimage import data, io; '
            "io.imsave('coffee.png', data.coffee())\"",
            ".venv/bin/python -m colorlib colorize \\",
            f"    --checkpoint {relative} \\",
            "    --input coffee.png --output colorized/",
            "```",
            "",
            f"![gray input, colorized by the Kodak24 {entry['title']} model, original]"
            "(report/colorize_example.jpg)",
            "",
            f"*scikit-image's `coffee` ({photo.shape[2]}x{photo.shape[1]}): the gray input, "
            f"the result of the commands above with the `cpu`-profile {entry['title']} model "
            f"(the report's lowest mean CIEDE2000 on Kodak24's test photographs, "
            f"{entry['metrics']['ciede2000']:.2f}), trained on Kodak24's "
            f"{len(runs[notebook]['split']['train'])} photographs, and the original, at half "
            f"size. On this photo its CIEDE2000 is {ours:.1f} against {plain:.1f} for leaving "
            f"it gray ({verdict}): a few CPU minutes on a handful of photographs teach little "
            "colour that carries over to other scenes (the report's \"photos unlike the training "
            f'set" section measures this on {elsewhere} such photos). The command is the same '
            "for a model trained longer on more images (the `gpu` profile, or your own folder).*",
            END,
        ]
    )
    readme = REPO / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        print(f"README.md lacks the {START} / {END} lines", file=sys.stderr)
        return 2
    head, rest = text.split(START, 1)
    readme.write_text(head + block + rest.split(END, 1)[1])
    print(
        f"{PICTURE.relative_to(REPO)}: {entry['title']} ({method}), CIEDE2000 {ours:.2f} "
        f"against gray {plain:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
