"""The add-in's Python setting: the file xlwings' VBA reads for an add-in named xxgk, in the bytes it reads.

What is checked against xlwings itself is read from the VBA inside the committed add-in (the same
pinned xlwings version): where the user's config file is, in which order the places are searched, and
how a line is parsed (`Input #` reading `"key","value"` pairs, as its own `Write #` writes them).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from oletools.olevba import VBA_Parser

from xxgk.addin import INTERPRETER_KEY, addin_path, user_config_path, write_interpreter
from xxgk.cli import main
from xxgk.errors import XxgkError


@pytest.fixture(scope="module")
def xlwings_vba() -> str:
    parser = VBA_Parser(str(addin_path()))
    try:
        return next(code for _, _, name, code in parser.extract_macros() if name == "xlwings.bas").replace("\r\n", "\n")
    finally:
        parser.close()


def _function(code: str, name: str) -> str:
    return re.search(rf"^Function {name}\(.*?^End Function", code, re.M | re.S).group(0)


def fake_python(folder: Path, name: str = "python.exe") -> Path:
    """A file standing where a virtual environment's interpreter stands (only its path matters here)."""
    path = folder / "Scripts" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"MZ")
    return path


def read_as_vba(data: bytes, codec: str) -> dict[str, str]:
    """The settings as VBA's `Input #f, name, value` loop sees them: quoted fields, two per record,
    separated by commas or line ends; lookup by lower-cased name, first match wins."""
    fields = re.findall(r'"([^"]*)"', data.decode(codec))
    assert len(fields) % 2 == 0
    settings: dict[str, str] = {}
    for name, value in zip(fields[::2], fields[1::2]):
        settings.setdefault(name.lower(), value)
    return settings


def test_the_default_file_is_the_one_xlwings_reads_for_this_addin(xlwings_vba, monkeypatch):
    (project,) = re.findall(r'PROJECT_NAME As String = "(\w+)"', xlwings_vba)
    windows = re.search(r"#Else\s+GetConfigFilePath = (.*?)\n", _function(xlwings_vba, "GetConfigFilePath")).group(1)
    assert windows == 'Environ("USERPROFILE") & "\\." & PROJECT_NAME & "\\" & PROJECT_NAME & ".conf"'
    monkeypatch.setenv("USERPROFILE", "C:\\Users\\张三")
    expected = "C:\\Users\\张三" + "\\." + project + "\\" + project + ".conf"  # the VBA expression, evaluated
    assert expected == "C:\\Users\\张三\\.xxgk\\xxgk.conf"
    assert str(user_config_path()).replace("/", "\\") == expected


def test_the_user_file_is_reached_only_past_the_sheets(xlwings_vba):
    """GetConfig's order: the workbook's sheet, the add-in's sheet, the workbook's folder, the user's file.
    (That the add-in's sheet holds no interpreter key is checked in test_addin.)"""
    body = _function(xlwings_vba, "GetConfig")
    order = [body.index(marker) for marker in ("SheetExists(ActiveWorkbook", "SheetExists(ThisWorkbook",
                                               "GetDirectoryConfigFilePath()", "GetConfigFilePath()")]
    assert order == sorted(order)
    reader = _function(xlwings_vba, "GetConfigFromFile")
    assert "Input #iFileNum, sVarName, sVarValue" in reader and "LCase(sVarName) = LCase(sName)" in reader
    assert "Write #iFileNumB, sName, sValue" in _function(xlwings_vba, "SaveConfigToFile")


def test_a_chinese_path_is_written_in_the_ansi_code_page(tmp_path):
    python = fake_python(tmp_path / "张三的文件" / "xxgk")
    conf = tmp_path / "conf" / "xxgk.conf"
    written, interpreter = write_interpreter(python, conf, codec="cp936")
    assert written == conf and interpreter == python
    data = conf.read_bytes()
    assert data == b'"Interpreter_Win","' + str(python).encode("cp936") + b'"\r\n'
    assert "张三".encode("cp936") == b"\xd5\xc5\xc8\xfd" and b"\xd5\xc5\xc8\xfd" in data  # GBK, not UTF-8
    assert "张三".encode("utf-8") not in data
    assert read_as_vba(data, "cp936") == {"interpreter_win": str(python)}


def test_other_settings_are_kept_and_the_old_interpreter_replaced(tmp_path):
    python = fake_python(tmp_path / "env")
    conf = tmp_path / "xxgk.conf"
    before = (b'"PYTHONPATH","D:\\\xb9\xab\xbf\xaa"\r\n'  # 公开, in GBK: bytes of other lines are left alone
              b'\r\n'
              b'"interpreter_win","C:\\old\\python.exe"\n'
              b'"Show Console","False"\r\n'
              b'"INTERPRETER_WIN","C:\\older\\python.exe"\r\n')
    conf.write_bytes(before)
    write_interpreter(python, conf, codec="cp936")
    data = conf.read_bytes()
    assert data == (b'"PYTHONPATH","D:\\\xb9\xab\xbf\xaa"\r\n'
                    b'"Interpreter_Win","' + str(python).encode("cp936") + b'"\r\n'
                    b'"Show Console","False"\r\n')
    assert read_as_vba(data, "cp936") == {"pythonpath": "D:\\公开", "interpreter_win": str(python),
                                          "show console": "False"}
    # run again: the same bytes (the installer may run twice)
    write_interpreter(python, conf, codec="cp936")
    assert conf.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env", "xxgk.conf"]  # no temporary file left


def test_a_file_notepad_saved_as_utf8_is_converted(tmp_path):
    python = fake_python(tmp_path / "环境")
    conf = tmp_path / "xxgk.conf"
    conf.write_bytes(b"\xef\xbb\xbf" + '"PYTHONPATH","D:\\公开"\r\n"Interpreter_Win","D:\\乱码\\python.exe"\r\n'.encode())
    write_interpreter(python, conf, codec="cp936")
    assert conf.read_bytes() == ('"PYTHONPATH","D:\\公开"\r\n"Interpreter_Win","' + str(python) + '"\r\n').encode("cp936")


def test_pythonw_is_replaced_by_python_beside_it(tmp_path):
    fake_python(tmp_path)
    pythonw = fake_python(tmp_path, "pythonw.exe")
    conf = tmp_path / "xxgk.conf"
    _, interpreter = write_interpreter(pythonw, conf, codec="cp936")
    assert interpreter.name == "python.exe"
    assert read_as_vba(conf.read_bytes(), "cp936")["interpreter_win"].endswith("python.exe")


@pytest.mark.parametrize("name", ["용", "ß", "😀"])
def test_a_path_the_code_page_cannot_hold_is_refused(tmp_path, name):
    python = fake_python(tmp_path / name)
    conf = tmp_path / "xxgk.conf"
    conf.write_bytes(b'"Show Console","False"\r\n')
    with pytest.raises(XxgkError, match="代码页（cp936）无法表示"):
        write_interpreter(python, conf, codec="cp936")
    assert conf.read_bytes() == b'"Show Console","False"\r\n'  # untouched


def test_command_line_contract_of_the_installer(tmp_path, monkeypatch, capsys):
    """The installer runs: "<venv>\\Scripts\\xxgk.exe" addin config --python "<venv>\\Scripts\\python.exe"."""
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "profile"))
    python = fake_python(tmp_path / "venv")
    assert main(["addin", "config", "--python", str(python)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("已设置加载项使用的 Python：") and str(python) in out
    conf = tmp_path / "profile" / ".xxgk" / "xxgk.conf"
    assert conf == user_config_path()
    codec = "mbcs" if os.name == "nt" else None
    settings = read_as_vba(conf.read_bytes(), codec or __import__("locale").getpreferredencoding(False))
    assert settings == {INTERPRETER_KEY.lower(): str(python)}


def test_a_python_that_is_not_there_exits_2_in_chinese(tmp_path, capsys):
    conf = tmp_path / "xxgk.conf"
    assert main(["addin", "config", "--python", str(tmp_path / "无" / "python.exe"), "--conf", str(conf)]) == 2
    err = capsys.readouterr().err
    assert "找不到 Python" in err and "请给出 python.exe 的完整路径" in err and "Traceback" not in err
    assert not conf.exists()


def test_a_path_the_code_page_cannot_hold_exits_2_on_the_command_line(tmp_path, capsys, monkeypatch):
    import xxgk.addin

    monkeypatch.setattr(xxgk.addin, "ansi_codec", lambda: "cp936")
    python = fake_python(tmp_path / "용")
    assert main(["addin", "config", "--python", str(python), "--conf", str(tmp_path / "c.conf")]) == 2
    err = capsys.readouterr().err
    assert "无法表示" in err and "请把 Python 环境装到只含英文字母和数字的文件夹" in err


def test_a_config_path_that_is_a_folder_exits_2(tmp_path, capsys):
    python = fake_python(tmp_path / "env")
    folder = tmp_path / "xxgk.conf"
    folder.mkdir()
    assert main(["addin", "config", "--python", str(python), "--conf", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "无法读取配置文件" in err and "Traceback" not in err
