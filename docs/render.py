"""Render the pictures of README's publishing sections from the bundled examples.

    python docs/render.py

Needs LibreOffice (the PDF), poppler's pdftoppm (pages as images), Chromium (the consolidation page)
and Pillow (cropping and a 64-colour palette, to keep the images small).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

import xxgk
from xxgk.consolidate import consolidate
from xxgk.htmlreport import html_bytes as consolidation_html
from xxgk.pdfout import docx_to_pdf
from xxgk.publish import docx_bytes

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def save(image: Image.Image, name: str) -> None:
    image.convert("RGB").quantize(64).save(HERE / name, optimize=True)
    print(name, (HERE / name).stat().st_size, "bytes")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pdf = folder / "report.pdf"
        pdf.write_bytes(docx_to_pdf(docx_bytes(xxgk.from_document(example("lushan-2021")))))
        subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(folder / "page")], check=True)
        pages = sorted(folder.glob("page*.png"))
        save(Image.open(pages[0]), "publish-page-1.png")
        table = next(p for p in pages if Image.open(p).width > Image.open(p).height)  # the first landscape page
        save(Image.open(table), "publish-table-3.png")

        inputs = []
        for n, name in enumerate(("lushan-2021", "made-up-qingfeng-2021")):
            path = folder / f"{n}.xlsx"
            path.write_bytes(xxgk.fill(xxgk.from_document(example(name))))
            inputs.append(path)
        page = folder / "total.html"
        page.write_bytes(consolidation_html(consolidate(inputs, agency="某区（虚构）")))
        shot = folder / "shot.png"
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={folder / 'p'}",
                        f"--screenshot={shot}", "--window-size=1100,4200", page.as_uri()],
                       check=True, capture_output=True)
        image = Image.open(shot)
        top = table_four_top(image)
        save(image.crop((0, top, 1100, top + 200)), "consolidation-table-4.png")
    return 0


def table_four_top(image: Image.Image) -> int:
    """A little above table 四's header: the third block of header fill (the unit table's, table 三's, 四's;
    table 二 has no header rows)."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    fill = (238, 243, 248)  # thead th background of the consolidation page
    runs = [y for y in range(height) if sum(1 for x in range(0, width, 10) if rgb.getpixel((x, y)) == fill) > 20]
    starts = [y for i, y in enumerate(runs) if i == 0 or runs[i - 1] != y - 1]
    return max(starts[2] - 60, 0) if len(starts) > 2 else 0


if __name__ == "__main__":
    sys.exit(main())
