"""`xxgk bundle`: the offline install zip for a Windows PC, tested up to the Windows boundary.

The zip is built once per session from the package index (as in CI); then, without the network: its
wheels resolve for win_amd64 and each Python version with pip itself, and every requirement of every
wheel, with the markers evaluated for Windows (pip on Linux ignores pywin32), is met by a wheel in the
zip; nothing else is in it; the scripts' bytes are in the encodings chosen for cmd.exe and Windows
PowerShell; and the scripts do each step (read here as text: no PowerShell on Linux).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.tags import compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from xxgk import __version__
from xxgk.addin import addin_path

from conftest import need_network, run_cli

VERSIONS = ("3.11", "3.12", "3.13")  # what the issue asks for; the scripts and the zip must agree with it
TOP = f"xxgk-{__version__}-windows/"
SCRIPTS = Path(__file__).resolve().parents[1] / "installer"
# pip without the network: an index where nothing listens, and no pip configuration (a machine's
# find-links or extra index must not supply a wheel the bundle lacks)
DEAD_INDEX = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "",
              "PIP_EXTRA_INDEX_URL": "", "PIP_CONSTRAINT": ""}


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    """The zip, built from the package index by the command itself."""
    need_network()
    out = tmp_path_factory.mktemp("bundle") / "xxgk-windows.zip"
    proc = run_cli("bundle", "-o", out, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "下载" in proc.stderr and "Python 3.13" in proc.stderr  # progress was shown
    assert f"已生成离线安装包：{out}" in proc.stdout
    return out


@pytest.fixture(scope="session")
def extracted(bundle, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("extracted")
    with zipfile.ZipFile(bundle) as z:
        z.extractall(folder)
    return folder / TOP.rstrip("/")


def member(bundle: Path, name: str) -> bytes:
    with zipfile.ZipFile(bundle) as z:
        return z.read(TOP + name)


# -- what is in the zip ---------------------------------------------------------------------------


def test_the_zip_holds_the_scripts_the_addin_and_wheels_only(bundle):
    with zipfile.ZipFile(bundle) as z:
        infos = z.infolist()
        names = [i.filename for i in infos]
        assert z.testzip() is None
    assert names == sorted(names), "members in a fixed order"
    assert all(n.startswith(TOP) for n in names), "one top folder: extracting never scatters files"
    inside = [n[len(TOP):] for n in names]
    others = sorted(n for n in inside if not n.startswith("wheels/"))
    assert others == sorted(["安装.bat", "卸载.bat", "说明.txt", "xxgk.xlam", "installer/install.ps1",
                             "installer/uninstall.ps1"])
    # only the three entry points have Chinese names: what the scripts open is found by its ASCII name even
    # where an unzip tool garbles Chinese names
    assert sorted(n for n in inside if not n.isascii()) == sorted(["安装.bat", "卸载.bat", "说明.txt"])
    wheels = [n.removeprefix("wheels/") for n in inside if n.startswith("wheels/")]
    assert wheels and all(w.endswith(".whl") and "/" not in w for w in wheels)
    own = [w for w in wheels if parse_wheel_filename(w)[0] == "xxgk"]
    assert len(own) == 1 and str(parse_wheel_filename(own[0])[1]) == __version__
    assert member(bundle, "xxgk.xlam") == addin_path().read_bytes()
    for info in infos:
        name = info.filename
        assert not name.startswith(("/", "\\")) and ".." not in name.split("/") and "\\" not in name
        assert not re.search(r'[<>:"|?*\x00-\x1f]', name), f"{name}: not a Windows file name"
        assert info.date_time == infos[0].date_time, "fixed time stamps: a rebuild is identical"
        if not name.isascii():
            assert info.flag_bits & 0x800, f"{name}: Chinese name without the zip's UTF-8 flag"


def _walk(folder: Path, version: str) -> tuple[set[Path], list[str]]:
    """Follow xxgk's requirements through the wheels in `folder` as pip would on 64-bit Windows with
    CPython `version`: markers evaluated for Windows, extras followed. Returns (wheels used, unmet)."""
    major, minor = map(int, version.split("."))
    supported = set(cpython_tags((major, minor), platforms=["win_amd64"]))
    supported |= set(compatible_tags((major, minor), f"cp{major}{minor}", platforms=["win_amd64"]))
    available: dict[str, list] = {}
    for whl in folder.glob("*.whl"):
        name, ver, _, tags = parse_wheel_filename(whl.name)
        if tags & supported:
            available.setdefault(name, []).append((ver, whl))
    env = {"os_name": "nt", "sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64",
           "python_version": version, "python_full_version": f"{version}.1", "implementation_name": "cpython",
           "platform_python_implementation": "CPython"}
    used: set[Path] = set()
    unmet: list[str] = []
    todo = [(Requirement("xxgk"), {""})]
    done = set()
    while todo:
        req, extras = todo.pop()
        if req.marker and not any(Marker(str(req.marker)).evaluate({**env, "extra": e}) for e in extras):
            continue
        fits = sorted(v for v in available.get(canonicalize_name(req.name), []) if v[0] in req.specifier)
        if not fits:
            unmet.append(f"{req.name}{req.specifier}")
            continue
        whl = fits[-1][1]
        key = (whl, frozenset(req.extras))
        if key in done:
            continue
        done.add(key)
        used.add(whl)
        with zipfile.ZipFile(whl) as z:
            meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
            lines = [line[len("Requires-Dist: "):] for line in z.read(meta).decode("utf-8").splitlines()
                     if line.startswith("Requires-Dist: ")]
        todo += [(Requirement(line), {""} | set(req.extras)) for line in lines]
    return used, unmet


def test_every_windows_requirement_is_met_and_nothing_is_extra(extracted):
    wheels = extracted / "wheels"
    used_by_any: set[Path] = set()
    for version in VERSIONS:
        used, unmet = _walk(wheels, version)
        assert not unmet, f"Python {version} on Windows needs {unmet}, not in the bundle"
        names = {parse_wheel_filename(w.name)[0] for w in used}
        assert {"xxgk", "xlwings", "pywin32", "openpyxl", "lxml"} <= names  # pywin32: Windows only
        used_by_any |= used
    extra = sorted(w.name for w in set(wheels.glob("*.whl")) - used_by_any)
    assert not extra, f"wheels no Windows Python 3.11-3.13 install needs: {extra}"


@pytest.mark.parametrize("version", VERSIONS)
def test_pip_resolves_the_wheels_offline_for_windows(extracted, tmp_path, version):
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--find-links", str(extracted / "wheels"),
         "--platform", "win_amd64", "--python-version", version, "--only-binary=:all:", "--target", str(tmp_path),
         "--disable-pip-version-check", "xxgk"],
        capture_output=True, text=True, env={**os.environ, **DEAD_INDEX}, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    would = re.search(r"Would install (.*)", proc.stdout)
    assert would and f"xxgk-{__version__}" in would.group(1).split()
    assert "xlwings-0.37.8" in would.group(1).split()


# -- the bytes of the scripts ----------------------------------------------------------------------


def _crlf_only(data: bytes) -> bool:
    return b"\n" in data and data.count(b"\n") == data.count(b"\r\n")


@pytest.mark.parametrize("name,source", [("安装.bat", "install.bat"), ("卸载.bat", "uninstall.bat")])
def test_the_bat_files_are_ascii_with_crlf(bundle, name, source):
    """cmd.exe reads a .bat in the console's code page: ASCII is read the same in every one of them."""
    data = member(bundle, name)
    assert data.isascii() and _crlf_only(data)
    assert data.decode("ascii").replace("\r\n", "\n") == (SCRIPTS / source).read_text(encoding="utf-8")


@pytest.mark.parametrize("name,source", [("installer/install.ps1", "install.ps1"),
                                         ("installer/uninstall.ps1", "uninstall.ps1"), ("说明.txt", "readme.txt")])
def test_the_chinese_texts_are_utf8_with_bom_and_crlf(bundle, name, source):
    """Windows PowerShell 5.1 reads a script as UTF-8 only with a BOM; Notepad opens UTF-8 with a BOM everywhere."""
    data = member(bundle, name)
    assert data.startswith(b"\xef\xbb\xbf") and _crlf_only(data)
    text = data[3:].decode("utf-8")
    assert text.replace("\r\n", "\n") == (SCRIPTS / source).read_text(encoding="utf-8")
    assert re.search(r"[\u4e00-\u9fff]", text)
    with pytest.raises(UnicodeDecodeError):  # what a BOM-less read in the ANSI code page would get wrong
        assert data[3:].decode("ascii")


# -- the scripts, read step by step ----------------------------------------------------------------


def _script(name: str) -> str:
    return (SCRIPTS / name).read_text(encoding="utf-8")


def _code(text: str) -> str:
    """PowerShell source with comments and string contents blanked (braces in messages do not count);
    a string left open is an error. Strings: '...' ('' inside), "..." (` escapes; $( ) kept as code)."""
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif ch == "'":
            end = i + 1
            while True:
                end = text.index("'", end)  # ValueError: an unterminated string
                if text[end + 1:end + 2] != "'":
                    break
                end += 2
            out.append("''")
            i = end + 1
        elif ch == '"':
            i += 1
            out.append('"')
            while text[i] != '"':  # IndexError: an unterminated string
                if text[i] == "`":
                    i += 2
                elif text.startswith("$(", i):  # a subexpression: code, up to its closing parenthesis
                    depth, start = 0, i + 1
                    while True:
                        depth += (text[i] == "(") - (text[i] == ")")
                        i += 1
                        if depth == 0 and text[i - 1] == ")":
                            break
                    out.append(_code(text[start:i]))
                else:
                    i += 1
            out.append('"')
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _assigned(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\s*\$(\w+) = (.+)$", text, re.M)}


@pytest.mark.parametrize("name", ["install.ps1", "uninstall.ps1"])
def test_powershell_scripts_are_balanced_and_exit_with_chinese_messages(name):
    text = _script(name)
    code = _code(text)
    for open_, close in ("{}", "()", "[]"):
        depth = 0
        for ch in code:
            depth += (ch == open_) - (ch == close)
            assert depth >= 0, f"{name}: unbalanced {open_}{close}"
        assert depth == 0, f"{name}: unbalanced {open_}{close}"
    fail = re.search(r"function Fail\(\[string\]\$Text\) \{(.*?)\n\}", text, re.S).group(1)
    assert "exit 1" in fail and re.search(r"[\u4e00-\u9fff]", fail)  # the failure path: Chinese, exit 1
    calls = re.findall(r"Fail (?:\(|'|\")(.+)", text)
    assert calls and all(re.search(r"[\u4e00-\u9fff]", c) for c in calls), "every failure explained in Chinese"
    assert "catch {\n    Fail" in text, "an unexpected error is explained too, not a red PowerShell error"
    assert "exit 0" in text


def test_install_finds_a_64_bit_python_of_the_bundled_versions():
    text = _script("install.ps1")
    listed = re.search(r"^\$Versions = @\((.*)\)", text, re.M).group(1)
    assert sorted(re.findall(r"'(3\.\d+)'", listed)) == list(VERSIONS)
    suitable = re.search(r"function Suitable\(\$p\) \{(.*)\}", text).group(1)
    assert "$p.Bits -eq 64" in suitable and "$p.Major -eq 3" in suitable
    assert "$p.Platform -eq 'win-amd64'" in suitable  # the wheels' platform, as Python names it
    low, high = (int(n) for n in re.findall(r"\$p\.Minor -[lg]e (\d+)", suitable))
    assert [f"3.{n}" for n in range(low, high + 1)] == list(VERSIONS)
    probe = re.search(r"\$code = \"(.*)\"", text).group(1)
    assert "struct.calcsize('P') * 8" in probe and "sys.version_info" in probe and '"' not in probe
    assert "sysconfig.get_platform()" in probe
    for where in ('py.exe', '"-$v-64"', r"Software\Python\PythonCore\$v\InstallPath", "'python.exe' -CommandType",
                  r'Programs\Python\$folder\python.exe', r'$env:ProgramFiles "$folder\python.exe"'):
        assert where in text, f"no Python looked for at {where}"
    none = re.search(r"if \(-not \$python\) \{(.*?)\n    \}", text, re.S).group(1)
    for words in ("64 位", "3.11", "3.12", "3.13", "信息技术部门", "32 位", "安装.bat"):
        assert words in none


def test_the_python_probe_answers_what_the_script_matches():
    """The probe's Python code, run by a real Python, prints one line the script's pattern reads."""
    text = _script("install.ps1")
    code = re.search(r"\$code = \"(.*)\"", text).group(1)
    pattern = re.search(r"if \(\$line -match '([^']*)'\)", text).group(1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    major, minor, bits, platform = re.match(pattern, out.strip()).groups()
    assert (int(major), int(minor)) == sys.version_info[:2] and int(bits) == 64 and platform == sysconfig.get_platform()


def test_install_steps_in_order():
    text = _script("install.ps1")
    paths = _assigned(text)
    assert paths["XxgkHome"] == "Join-Path $env:USERPROFILE '.xxgk'"
    assert paths["Venv"] == "Join-Path $XxgkHome 'venv'"  # under the user's profile
    assert paths["Bundle"] == "Split-Path -Parent $PSScriptRoot" and paths["Wheels"] == "Join-Path $Bundle 'wheels'"
    assert paths["Startup"] == r"Join-Path $env:APPDATA 'Microsoft\Excel\XLSTART'"
    assert paths["VenvPython"] == r"Join-Path $Venv 'Scripts\python.exe'"
    assert paths["XxgkExe"] == r"Join-Path $Venv 'Scripts\xxgk.exe'"
    steps = [
        "if (-not (Test-Path -LiteralPath $Wheels) -or -not (Test-Path -LiteralPath $Addin))",  # extracted?
        "Get-Process -Name 'EXCEL'",
        "$all = Find-Pythons",
        "Remove-Item -LiteralPath $Venv -Recurse",  # a rerun replaces the environment
        "& $python.Exe @($python.Prefix) -m venv $Venv",
        "& $VenvPython -m pip install --no-index --find-links $Wheels ",
        '& "$XxgkExe" addin config --python "$VenvPython"',
        "Copy-Item -LiteralPath $Addin -Destination $InstalledAddin",
        "Unblock-File -LiteralPath $InstalledAddin",  # Office blocks macros of a file marked as downloaded
        '& "$XxgkExe" --version',
    ]
    at = [text.find(step) for step in steps]
    assert -1 not in at, [s for s, i in zip(steps, at) if i < 0]
    assert at == sorted(at), "steps out of order"
    # the old environment is only removed when it is one (a pyvenv.cfg), never some other folder
    guard = text.find("(Join-Path $Venv 'pyvenv.cfg')")
    assert -1 < guard < at[3]
    # every native program's result is checked before the next step
    for step in steps[4:7]:
        after = text[text.find(step):]
        assert re.match(r"[^\n]*\n\s*(\$\w+ = [^\n]*\n\s*)?if \(\$LASTEXITCODE -ne 0", after), step
    pip_line = text[at[5]:text.find("\n", at[5])]
    assert "--index-url" not in pip_line and "http" not in pip_line


def test_uninstall_removes_what_install_creates():
    install, uninstall = _script("install.ps1"), _script("uninstall.ps1")
    shared = ("XxgkHome", "Venv", "Conf", "ConfBackup", "Startup", "InstalledAddin")
    a, b = _assigned(install), _assigned(uninstall)
    assert {k: a[k] for k in shared} == {k: b[k] for k in shared}, "both scripts mean the same paths"
    mark = re.search(r"Set-Content -LiteralPath \(Join-Path \$XxgkHome '(\w+)'\)", install).group(1)
    assert b["Mark"] == f"Join-Path $XxgkHome '{mark}'"
    created = {"Venv": "-m venv $Venv", "InstalledAddin": "-Destination $InstalledAddin",
               "ConfBackup": "-Destination $ConfBackup", "Mark": f"(Join-Path $XxgkHome '{mark}')",
               "Conf": "addin config"}
    for variable, how in created.items():
        assert how in install, f"install.ps1 no longer creates ${variable} this way"
        assert re.search(rf"(Remove-Item|Move-Item) -LiteralPath \${variable}\b", uninstall), f"${variable} left behind"
    # the user's own setting from before the first install comes back; the folder goes only when empty
    assert "Move-Item -LiteralPath $ConfBackup -Destination $Conf" in uninstall
    assert "-not (Get-ChildItem -LiteralPath $XxgkHome -Force)" in uninstall
    assert "(Join-Path $Venv 'pyvenv.cfg')" in uninstall


@pytest.mark.parametrize("source,script", [("install.bat", "install.ps1"), ("uninstall.bat", "uninstall.ps1")])
def test_the_bat_starts_its_powershell_script_or_says_why_not(source, script):
    text = _script(source)
    assert f'set "SCRIPT=%~dp0installer\\{script}"' in text  # beside the .bat, whatever its own name became
    assert '"%PS%" -NoLogo -NoProfile -ExecutionPolicy Bypass -File "%SCRIPT%"' in text
    assert 'if not exist "%SCRIPT%" goto missing' in text and "\n:missing\n" in text
    assert 'set "RC=%ERRORLEVEL%"\npause\nexit /b %RC%' in text  # the window stays; the exit code is kept
    escaped = re.search(r"Unescape\('([^']*)'\)", text).group(1)
    message = escaped.encode("ascii").decode("unicode_escape")
    assert "解压" in message and ("安装.bat" in message or "卸载.bat" in message)


def test_the_readme_txt_tells_the_bat_files_apart_by_size():
    assert "较大的一个是安装" in _script("readme.txt")
    assert len(_script("install.bat")) > len(_script("uninstall.bat"))


# -- the command -----------------------------------------------------------------------------------


def test_an_existing_output_needs_force(tmp_path):
    out = tmp_path / "xxgk-windows.zip"
    out.write_bytes(b"a zip someone keeps")
    proc = run_cli("bundle", "-o", out, env=DEAD_INDEX)
    assert proc.returncode == 2 and "--force" in proc.stderr
    assert out.read_bytes() == b"a zip someone keeps"


def test_an_unreachable_index_is_a_chinese_error(tmp_path):
    out = tmp_path / "xxgk-windows.zip"
    proc = run_cli("bundle", "-o", out, "-q", env=DEAD_INDEX, timeout=600)
    assert proc.returncode == 2, proc.stderr
    assert "无法连接软件包索引" in proc.stderr and "--wheels" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == [], "no zip and no temporary file left"


@pytest.fixture(scope="session")
def offline_wheels(extracted, tmp_path_factory) -> Path:
    """The bundle's dependency wheels and the build backend (to build xxgk's wheel offline)."""
    folder = tmp_path_factory.mktemp("offline") / "wheels"
    folder.mkdir()
    for whl in (extracted / "wheels").glob("*.whl"):
        if parse_wheel_filename(whl.name)[0] != "xxgk":  # xxgk itself is built from the source again
            (folder / whl.name).write_bytes(whl.read_bytes())
    need_network()
    backend = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(folder), "hatchling"],
                             capture_output=True, text=True, timeout=600)
    assert backend.returncode == 0, backend.stderr
    return folder


def test_a_rebuild_from_the_wheels_folder_is_offline_and_identical(bundle, offline_wheels, tmp_path):
    """--wheels: the same zip, byte for byte, without the index (which is made unreachable here)."""
    out = tmp_path / "again.zip"
    proc = run_cli("bundle", "-o", out, "--wheels", offline_wheels, env=DEAD_INDEX, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.read_bytes() == bundle.read_bytes()
    proc = run_cli("bundle", "-o", out, "--wheels", offline_wheels, "--force", "-q", env=DEAD_INDEX, timeout=900)
    assert proc.returncode == 0 and out.read_bytes() == bundle.read_bytes()


def test_a_missing_windows_only_wheel_is_named(offline_wheels, tmp_path):
    """Without pywin32 (which pip on Linux never asks for), the build stops and says which wheel is missing."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    for whl in offline_wheels.glob("*.whl"):
        if parse_wheel_filename(whl.name)[0] != "pywin32":
            (folder / whl.name).write_bytes(whl.read_bytes())
    out = tmp_path / "out" / "xxgk-windows.zip"
    proc = run_cli("bundle", "-o", out, "--wheels", folder, "-q", env=DEAD_INDEX, timeout=900)
    assert proc.returncode == 2, proc.stderr
    assert "pywin32" in proc.stderr and "Windows 64 位" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() and list(out.parent.iterdir()) == []
