# xxgk uninstaller for one Windows user, started by the bundle's uninstall .bat (UTF-8 with a byte order
# mark, as install.ps1). Removes exactly what install.ps1 created, and nothing else: the add-in in
# Excel's startup folder, the virtual environment, the interpreter setting (a setting the user had
# before the first install is put back), the install mark, and the .xxgk folder when it is then empty.
# Reports the user made with xxgk are never under these paths.

$ErrorActionPreference = 'Continue'

# -- what install.ps1 creates (the same paths are there) ---------------------------------------------
$XxgkHome = Join-Path $env:USERPROFILE '.xxgk'
$Venv = Join-Path $XxgkHome 'venv'
$Conf = Join-Path $XxgkHome 'xxgk.conf'
$ConfBackup = Join-Path $XxgkHome 'xxgk.conf.before-install'
$Startup = Join-Path $env:APPDATA 'Microsoft\Excel\XLSTART'
$InstalledAddin = Join-Path $Startup 'xxgk.xlam'
$Mark = Join-Path $XxgkHome 'installed'

function Say([string]$Text) { Write-Host $Text }

function Fail([string]$Text) {
    Write-Host ''
    Write-Host "卸载没有完成：$Text" -ForegroundColor Red
    exit 1
}

try {
    Say '== 卸载 xxgk'
    if (Get-Process -Name 'EXCEL' -ErrorAction SilentlyContinue) {
        Fail '检测到 Excel 正在运行。请先保存并关闭所有 Excel 窗口，再重新双击 卸载.bat。'
    }

    Say "[1/3] 删除 Excel 加载项：$InstalledAddin"
    if (Test-Path -LiteralPath $InstalledAddin) {
        Remove-Item -LiteralPath $InstalledAddin -Force -ErrorAction SilentlyContinue
        if (Test-Path -LiteralPath $InstalledAddin) { Fail "无法删除 $InstalledAddin（文件被占用）。请关闭 Excel 后重新运行。" }
    }

    Say "[2/3] 删除运行环境：$Venv"
    if (Test-Path -LiteralPath $Venv) {
        if (-not (Test-Path -LiteralPath (Join-Path $Venv 'pyvenv.cfg'))) {
            Fail "文件夹 $Venv 不是 xxgk 的运行环境，为免误删，没有改动它。"
        }
        Remove-Item -LiteralPath $Venv -Recurse -Force -ErrorAction SilentlyContinue
        if (Test-Path -LiteralPath $Venv) { Fail "无法删除 $Venv（文件被占用）。请关闭 Excel 和命令行窗口，或重新启动电脑后再运行。" }
    }

    Say '[3/3] 删除加载项的设置'
    if (Test-Path -LiteralPath $ConfBackup) {
        Move-Item -LiteralPath $ConfBackup -Destination $Conf -Force
    } elseif ((Test-Path -LiteralPath $Conf) -and (Test-Path -LiteralPath $Mark)) {  # ours only after an install
        Remove-Item -LiteralPath $Conf -Force
    }
    if (Test-Path -LiteralPath $Mark) { Remove-Item -LiteralPath $Mark -Force }
    if ((Test-Path -LiteralPath $XxgkHome) -and -not (Get-ChildItem -LiteralPath $XxgkHome -Force)) {
        Remove-Item -LiteralPath $XxgkHome -Force
    }

    Say ''
    Say '卸载完成。Python 本身没有改动（它由信息技术部门安装和管理）。'
    exit 0
} catch {
    Fail ("出现意外错误：" + $_.Exception.Message + "。请把这个窗口截图发给信息技术部门。")
}
