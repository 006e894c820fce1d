"""A PDF of the published report: the Word document converted by LibreOffice (headless), when installed.

LibreOffice replaces a font it does not have by a face of its own choosing (often a sans face for the
title and the body alike); before converting, each font the document names that this machine lacks is
renamed to the first of its fallbacks (`publish.FONT_FALLBACKS`) that is installed, as fontconfig lists
them. Where fontconfig is absent (Windows), the names stay and LibreOffice's own substitution applies.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from .errors import XxgkError

TIMEOUT = 300  # seconds for one conversion

_WINDOWS_PLACES = (r"C:\Program Files\LibreOffice\program\soffice.exe",
                   r"C:\Program Files (x86)\LibreOffice\program\soffice.exe")


def find_soffice() -> str:
    """The LibreOffice program, or an error (exit 2) saying how to get a PDF without it."""
    found = os.environ.get("XXGK_SOFFICE") or shutil.which("soffice") or shutil.which("libreoffice")
    if not found and os.name == "nt":
        found = next((p for p in _WINDOWS_PLACES if os.path.isfile(p)), None)
    if not found:
        raise XxgkError("生成 PDF 需要安装 LibreOffice（未找到 soffice 程序）。请安装 LibreOffice 后重试，"
                        "或输出为 .docx（-o 报告.docx），用 Word 或 WPS 打开后另存为 PDF")
    return found


def installed_fonts() -> set[str] | None:
    """The font family names fontconfig knows on this machine, or None without fontconfig."""
    found = shutil.which("fc-list")
    if not found:
        return None
    try:
        proc = subprocess.run([found, ":", "family"], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = proc.stdout.decode("utf-8", "replace").replace("\\-", "-").split("\n")
    return {name.strip() for line in names for name in line.split(",") if name.strip()}


def with_fallbacks(docx: bytes, installed: set[str] | None) -> bytes:
    """The document with each missing font renamed to its first installed fallback (see module doc)."""
    from .publish import FONT_FALLBACKS

    if installed is None:
        return docx
    renamed = {}
    for name, fallbacks in FONT_FALLBACKS.items():
        if name not in installed:
            chosen = next((f for f in fallbacks if f in installed), None)
            if chosen:
                renamed[name] = chosen
    if not renamed:
        return docx
    pattern = re.compile(r'(w:(?:eastAsia|ascii|hAnsi|cs)=")(' + "|".join(map(re.escape, renamed)) + r')"')
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.startswith("word/") and info.filename.endswith(".xml"):
                text = data.decode("utf-8")
                data = pattern.sub(lambda m: m.group(1) + renamed[m.group(2)] + '"', text).encode("utf-8")
            dst.writestr(info, data)
    return out.getvalue()


def docx_to_pdf(docx: bytes, office: str | None = None, fallbacks: bool = True) -> bytes:
    """Convert a .docx (bytes) to PDF bytes in a temporary folder, with a profile of its own (a LibreOffice
    the user has open is not disturbed). `fallbacks=False` converts the document as given, as a body
    converting it with its own LibreOffice would."""
    office = office or find_soffice()
    with tempfile.TemporaryDirectory(prefix="xxgk-pdf-") as tmp:
        folder = Path(tmp)
        source = folder / "report.docx"
        source.write_bytes(with_fallbacks(docx, installed_fonts()) if fallbacks else docx)
        profile = (folder / "profile").resolve().as_uri()
        try:
            proc = subprocess.run([office, "--headless", "--norestore", f"-env:UserInstallation={profile}",
                                   "--convert-to", "pdf", "--outdir", str(folder / "out"), str(source)],
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise XxgkError(f"LibreOffice 在 {TIMEOUT} 秒内未完成 PDF 转换，未写入") from None
        except OSError as exc:
            raise XxgkError(f"无法启动 LibreOffice（{exc.strerror}），未写入 PDF", path=office) from None
        pdf = folder / "out" / "report.pdf"
        if not pdf.is_file() or not pdf.read_bytes().startswith(b"%PDF"):
            detail = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()[-300:]
            raise XxgkError(f"LibreOffice 未能生成 PDF（退出码 {proc.returncode}{'：' + detail if detail else ''}），未写入")
        return pdf.read_bytes()
