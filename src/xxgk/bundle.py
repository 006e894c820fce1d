"""`xxgk bundle`: one zip that installs xxgk and its Excel add-in on a Windows PC without internet.

Built on a machine that reaches the package index: wheels for Windows x64 of xxgk (built from this
source tree) and of every runtime dependency, for CPython 3.11, 3.12 and 3.13; the add-in; the
installer scripts of installer/ under their Chinese names; a short 说明.txt.

pip evaluates environment markers against the machine it runs on even with `--platform`, so
`pip download` on Linux leaves out Windows-only dependencies (xlwings' `pywin32; platform_system ==
"Windows"`). The set is therefore closed here: every wheel's requirements are evaluated for Windows
and each Python version, and whatever is missing is downloaded too, until nothing is.

The zip's layout and encodings (see also README, 离线安装):
- everything under one ASCII top folder, so extracting never scatters files; the scripts refer to
  each other, the wheels and the add-in only by ASCII names, so an unzip tool that garbles the
  Chinese names (one that ignores the UTF-8 flag) still yields a working installer;
- member names are stored as UTF-8 with the zip's UTF-8 flag (bit 11), which Windows Explorer's
  "Extract all" (Windows 8.1 and later, where Python 3.11+ runs), 7-Zip and the usual Chinese unzip
  tools honour; no absolute names, no `..`;
- the .bat files are ASCII with CRLF line ends (cmd.exe reads them in the console's code page: 936 on
  Chinese Windows, but not everywhere); they start installer/*.ps1, UTF-8 with a byte order mark (the
  only way Windows PowerShell 5.1 reads UTF-8 in any code page), where all Chinese messages are;
- 说明.txt is UTF-8 with a byte order mark and CRLF, which every Notepad version opens correctly;
- members in sorted order with a fixed time stamp: the same wheels give the same zip, byte for byte.
"""

from __future__ import annotations

import email.parser
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import deque
from pathlib import Path
from typing import Callable

from . import __version__
from .errors import XxgkError
from .output import commit, temp_file

PYTHONS = ("3.11", "3.12", "3.13")
PLATFORM = "win_amd64"
TOP = f"xxgk-{__version__}-windows"
FIXED_TIME = (2021, 9, 26, 0, 0, 0)  # the zip's time stamps (as the add-in's): a rebuild is identical

# installer/ source file -> (name in the bundle, how its bytes are written)
SCRIPTS = {
    "install.bat": ("安装.bat", "bat"),
    "uninstall.bat": ("卸载.bat", "bat"),
    "readme.txt": ("说明.txt", "bom"),
    "install.ps1": ("installer/install.ps1", "bom"),
    "uninstall.ps1": ("installer/uninstall.ps1", "bom"),
}
WHEELS = "wheels"
ADDIN = "xxgk.xlam"

# what pip prints when it cannot reach the index (urllib3, DNS, proxy and TLS failures)
_UNREACHABLE = ("NewConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "Max retries exceeded",
                "Failed to establish a new connection", "Temporary failure in name resolution",
                "Name or service not known", "getaddrinfo failed", "nodename nor servname", "ProxyError",
                "SSLError", "Connection refused", "Network is unreachable")
_ROUNDS = 8  # closing the set: a dependency chain of Windows-only packages longer than this is an error

Progress = Callable[[str], None]


def shipped(text: str, kind: str) -> bytes:
    """A script's bytes as they go into the zip: CRLF line ends; ASCII for .bat, UTF-8 with BOM otherwise."""
    text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    if kind == "bat":
        return text.encode("ascii")  # a non-ASCII character in a .bat is a maintainer's error: fail loudly
    return b"\xef\xbb\xbf" + text.encode("utf-8")


def source_root() -> Path:
    """The source tree xxgk runs from: the bundle's xxgk wheel is built from it."""
    root = Path(__file__).resolve().parents[2]
    if not ((root / "pyproject.toml").is_file() and (root / "installer").is_dir()):
        raise XxgkError("xxgk bundle 要在 xxgk 的源代码目录中运行（用 pip install -e . 安装的 xxgk）："
                        "安装包中的 xxgk 由源代码生成")
    return root


def build(output: Path, *, wheels: Path | None = None, index_url: str | None = None,
          progress: Progress | None = None) -> dict:
    """Write the bundle to `output` (atomically); return what went in: {"wheels": [...], "bytes": n}."""
    from .addin import addin_path

    say = progress or (lambda text: None)
    root = source_root()
    if importlib.util.find_spec("pip") is None:
        raise XxgkError("当前的 Python 没有 pip，无法下载依赖；请先运行 python -m ensurepip")
    addin = addin_path()
    if not addin.is_file():
        raise XxgkError("没有找到加载项文件 xxgk.xlam（请先用 xxgk addin build 生成）")
    if wheels is not None:
        if not wheels.is_dir():
            raise XxgkError("--wheels 应是一个存放 wheel 文件的文件夹", path=str(wheels))
        source = ["--no-index", "--find-links", str(wheels)]
    else:
        source = ["--index-url", index_url] if index_url else []
    with tempfile.TemporaryDirectory(prefix="xxgk-bundle-") as tmp:
        folder = Path(tmp) / WHEELS
        folder.mkdir()
        say("[1/3] 由源代码生成 xxgk 的 wheel……")
        own = _own_wheel(root, folder, source, say)
        for n, version in enumerate(PYTHONS, 1):
            say(f"[2/3] 下载 Windows 64 位、Python {version} 的依赖（{n}/{len(PYTHONS)}）……")
            _download(folder, version, [str(own)], source, say)
            for _ in range(_ROUNDS):
                missing = missing_requirements(folder, version)
                if not missing:
                    break
                say(f"      只在 Windows 上需要的依赖：{'、'.join(missing)}")
                _download(folder, version, missing, source, say)
            else:
                missing = missing_requirements(folder, version)
                if missing:
                    raise XxgkError(f"Python {version} 的依赖在 {_ROUNDS} 轮下载后仍不完整：{'、'.join(missing)}")
        say("[3/3] 写入安装包……")
        members = {f"{WHEELS}/{whl.name}": whl.read_bytes() for whl in sorted(folder.glob("*.whl"))}
        members[ADDIN] = addin.read_bytes()
        for source_name, (name, kind) in SCRIPTS.items():
            members[name] = shipped((root / "installer" / source_name).read_text(encoding="utf-8"), kind)
        size = write_zip(output, members)
        return {"wheels": sorted(Path(n).name for n in members if n.startswith(WHEELS + "/")), "bytes": size}


def write_zip(output: Path, members: dict[str, bytes]) -> int:
    """The zip, members sorted under the top folder with fixed times, written beside `output` and renamed
    over it (a reader never sees half a zip). Returns its size."""
    with temp_file(output) as (fh, tmp):
        with zipfile.ZipFile(fh, "w") as z:
            for name in sorted(members):
                info = zipfile.ZipInfo(f"{TOP}/{name}", date_time=FIXED_TIME)
                info.external_attr = 0o644 << 16
                # wheels and the add-in are zips already: stored, not compressed again
                info.compress_type = zipfile.ZIP_STORED if name.endswith((".whl", ".xlam")) else zipfile.ZIP_DEFLATED
                z.writestr(info, members[name])
        size = fh.tell()
    commit(tmp, output)
    return size


# -- pip ------------------------------------------------------------------------------------------


def _own_wheel(root: Path, folder: Path, source: list[str], say: Progress) -> Path:
    """xxgk's wheel from the source tree. With hatchling installed, pip builds it here without
    network; otherwise pip fetches the build backend from the same place as the dependencies."""
    args = ["wheel", "--no-deps", "-w", str(folder), str(root)]
    if importlib.util.find_spec("hatchling") is not None:
        args.insert(1, "--no-build-isolation")
    else:
        args += source
    try:
        _pip(args, say, "生成 xxgk 的安装文件（wheel）", windows=False)
    except XxgkError as exc:
        if "--no-build-isolation" in args or "--no-index" not in source:
            raise
        raise XxgkError(f"{exc.message}。不连网生成时，打包工具 hatchling 要在 --wheels 的文件夹中，"
                        "或先安装到当前的 Python（pip install hatchling）") from None
    built = sorted(folder.glob("xxgk-*.whl"))
    if len(built) != 1:
        raise XxgkError("生成 xxgk 的安装文件（wheel）失败：pip 没有写出 wheel 文件")
    return built[0]


def _download(folder: Path, version: str, requirements: list[str], source: list[str], say: Progress) -> None:
    _pip(["download", "--only-binary=:all:", "--platform", PLATFORM, "--python-version", version,
          "--implementation", "cp", "-d", str(folder), *source, *requirements], say, f"下载 Python {version} 的依赖")


# pip's lines naming a wheel as it arrives; a wheel whose metadata came first is only "Saved" at the end
_SHOWN = re.compile(r"^\s*(Downloading|Using cached|Saved|File was already downloaded)\s+(\S+)(.*)$")


def _pip(args: list[str], say: Progress, what: str, windows: bool = True) -> None:
    """Run pip in this Python; show each wheel as it is downloaded; a failure becomes a Chinese error."""
    command = [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input",
               "--progress-bar", "off", "--retries", "2", "--timeout", "30"]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PIP_NO_COLOR": "1"}
    tail: deque[str] = deque(maxlen=400)
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                encoding="utf-8", errors="replace", env=env)
    except OSError as exc:
        raise XxgkError(f"无法运行 pip（{exc.strerror}）") from None
    named: set[str] = set()
    with proc:
        for line in proc.stdout:
            line = line.rstrip()
            tail.append(line)
            shown = _SHOWN.match(line)
            name = Path(shown.group(2)).name.split("#")[0] if shown else ""
            if not name.endswith(".whl") or name in named:
                continue
            named.add(name)
            size = re.search(r"\(([\d.]+ [kMG]?B)\)", shown.group(3))
            verb = "已有" if shown.group(1) == "File was already downloaded" else "下载"
            say(f"      {verb} {name}" + (f"（{size.group(1)}）" if size else ""))
    if proc.returncode != 0:
        raise _pip_error(list(tail), what, windows, "--wheels 指定的文件夹" if "--no-index" in args else "软件包索引")


def _pip_error(lines: list[str], what: str, windows: bool, where: str) -> XxgkError:
    text = "\n".join(lines)
    errors = [line.removeprefix("ERROR: ").strip() for line in lines if line.startswith("ERROR:")]
    if any(mark in text for mark in _UNREACHABLE):
        return XxgkError("无法连接软件包索引（pypi.org，或 pip 设置中的镜像）。请检查这台电脑能否上网、是否需要代理"
                         "（可设置环境变量 HTTPS_PROXY），或用 --index-url 换一个能访问的镜像；"
                         "已有下载好的 wheel 时，用 --wheels 指定它们所在的文件夹")
    missing = re.search(r"No matching distribution found for (\S+)", text)
    if missing:
        if windows:
            return XxgkError(f"{what}失败：{where}中没有 {missing.group(1)} 适用于 Windows 64 位的 wheel"
                             "（离线安装包只能放已编译好的 wheel）")
        return XxgkError(f"{what}失败：{where}中没有 {missing.group(1)}")
    detail = errors[-1] if errors else (lines[-1] if lines else "")
    return XxgkError(f"{what}失败（pip：{detail[:300]}）")


# -- closing the set for Windows ------------------------------------------------------------------


def _packaging():
    try:
        from packaging import markers, requirements, tags, utils
    except ImportError:  # pip always carries its own copy
        from pip._vendor.packaging import markers, requirements, tags, utils  # type: ignore[no-redef]
    return markers, requirements, tags, utils


def windows_environment(version: str) -> dict[str, str]:
    """The marker environment of CPython `version` on 64-bit Windows."""
    return {"os_name": "nt", "sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64",
            "platform_release": "10", "platform_version": "10.0.19045", "python_version": version,
            "python_full_version": f"{version}.0", "implementation_name": "cpython",
            "implementation_version": f"{version}.0", "platform_python_implementation": "CPython", "extra": ""}


def wheel_requirements(path: Path) -> list[str]:
    """The Requires-Dist lines of a wheel's METADATA."""
    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        metadata = email.parser.BytesParser().parsebytes(z.read(name), headersonly=True)
    return metadata.get_all("Requires-Dist") or []


def missing_requirements(folder: Path, version: str, root: str = "xxgk") -> list[str]:
    """The requirements (without markers) that no wheel in `folder` satisfies for CPython `version` on
    64-bit Windows, following `root`'s requirements transitively with Windows markers and extras."""
    markers, requirements, tags, utils = _packaging()
    major, minor = (int(n) for n in version.split("."))
    supported = set(tags.cpython_tags((major, minor), platforms=[PLATFORM]))
    supported |= set(tags.compatible_tags((major, minor), f"cp{major}{minor}", platforms=[PLATFORM]))
    available: dict[str, list[tuple[object, Path]]] = {}
    for whl in folder.glob("*.whl"):
        name, wheel_version, _, wheel_tags = utils.parse_wheel_filename(whl.name)
        if wheel_tags & supported:
            available.setdefault(name, []).append((wheel_version, whl))
    environment = windows_environment(version)
    missing: list[str] = []
    seen: set[tuple[Path, frozenset[str]]] = set()
    queue = [(requirements.Requirement(root), frozenset({""}))]
    while queue:
        requirement, extras = queue.pop()
        if requirement.marker and not any(requirement.marker.evaluate({**environment, "extra": e}) for e in extras):
            continue
        name = utils.canonicalize_name(requirement.name)
        fitting = [(v, whl) for v, whl in available.get(name, []) if requirement.specifier.contains(v, prereleases=True)]
        if not fitting:
            shown = f"{requirement.name}{requirement.specifier}"
            if shown not in missing:
                missing.append(shown)
            continue
        _, whl = max(fitting)
        wanted = frozenset({""} | set(requirement.extras))
        if (whl, wanted) in seen:
            continue
        seen.add((whl, wanted))
        queue += [(requirements.Requirement(line), wanted) for line in wheel_requirements(whl)]
    return sorted(missing)
