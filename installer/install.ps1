# xxgk offline installer for one Windows user (Windows PowerShell 5.1 or later), started by the bundle's
# install .bat. The bundle ships this file as UTF-8 with a byte order mark: Windows PowerShell reads a
# script without one in the ANSI code page, which would garble every Chinese message.
#
# Steps: check the bundle is extracted and Excel is closed; find a 64-bit Python 3.11-3.13; create a
# fresh virtual environment under the user's profile; install xxgk from the bundle's wheels only
# (--no-index: the PC needs no internet); write the add-in's interpreter setting through xxgk itself;
# copy the add-in into Excel's startup folder. Running it again replaces the environment and the add-in
# (that is also how a newer bundle is installed). uninstall.ps1 removes exactly what this creates.
#
# Native programs are checked through $LASTEXITCODE; $ErrorActionPreference stays 'Continue' because
# Windows PowerShell 5.1 turns a native program's stderr into terminating errors under 'Stop'.

$ErrorActionPreference = 'Continue'

# -- what this script creates (the same paths are in uninstall.ps1) --------------------------------
$XxgkHome = Join-Path $env:USERPROFILE '.xxgk'
$Venv = Join-Path $XxgkHome 'venv'
$Conf = Join-Path $XxgkHome 'xxgk.conf'
$ConfBackup = Join-Path $XxgkHome 'xxgk.conf.before-install'
$Startup = Join-Path $env:APPDATA 'Microsoft\Excel\XLSTART'
$InstalledAddin = Join-Path $Startup 'xxgk.xlam'

# -- what the bundle holds ---------------------------------------------------------------------------
$Bundle = Split-Path -Parent $PSScriptRoot
$Wheels = Join-Path $Bundle 'wheels'
$Addin = Join-Path $Bundle 'xxgk.xlam'

$Versions = @('3.13', '3.12', '3.11')  # the versions the bundle has wheels for, preferred first

function Say([string]$Text) { Write-Host $Text }

function Fail([string]$Text) {
    Write-Host ''
    Write-Host "安装没有完成：$Text" -ForegroundColor Red
    exit 1
}

# One candidate interpreter: its version, pointer size and platform (win-amd64 is what the wheels are for;
# a 64-bit Python for ARM says win-arm64), asked from Python itself. ASCII output only, and no double
# quotes in the code: Windows PowerShell 5.1 does not escape them for native programs.
function Probe([string]$Exe, [string[]]$Prefix, [string]$Shown) {
    $code = "import sys, struct, sysconfig; print('%d %d %d %s' % (sys.version_info[0], sys.version_info[1], struct.calcsize('P') * 8, sysconfig.get_platform()))"
    try {
        $out = & $Exe @Prefix -c $code 2>$null
    } catch {
        return $null
    }
    if ($LASTEXITCODE -ne 0 -or -not $out) { return $null }
    $line = (@($out) | Select-Object -Last 1).ToString().Trim()
    if ($line -match '^(\d+) (\d+) (\d+) (\S+)$') {
        return [pscustomobject]@{ Exe = $Exe; Prefix = $Prefix; Shown = $Shown
            Major = [int]$Matches[1]; Minor = [int]$Matches[2]; Bits = [int]$Matches[3]; Platform = $Matches[4] }
    }
    return $null
}

# Every place a Python is usually found: the py launcher, the registry (PEP 514), PATH, the installer's
# default folders (for the current user and for all users).
function Find-Pythons {
    $found = @()
    $py = Get-Command 'py.exe' -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($py) {
        foreach ($v in $Versions) {
            $found += Probe $py.Source @("-$v-64") "py -$v-64"
        }
    }
    $paths = @()
    foreach ($v in $Versions) {
        foreach ($hive in @('HKCU:', 'HKLM:')) {
            $key = "$hive\Software\Python\PythonCore\$v\InstallPath"
            $item = Get-ItemProperty -Path $key -ErrorAction SilentlyContinue
            if ($item) {
                if ($item.ExecutablePath) { $paths += $item.ExecutablePath }
                elseif ($item.'(default)') { $paths += (Join-Path $item.'(default)' 'python.exe') }
            }
        }
    }
    $paths += @(Get-Command 'python.exe' -CommandType Application -All -ErrorAction SilentlyContinue |
        ForEach-Object { $_.Source })
    foreach ($v in $Versions) {
        $folder = 'Python' + $v.Replace('.', '')
        $paths += (Join-Path $env:LOCALAPPDATA "Programs\Python\$folder\python.exe")
        $paths += (Join-Path $env:ProgramFiles "$folder\python.exe")
        $paths += (Join-Path $env:SystemDrive "$folder\python.exe")
    }
    $seen = @{}
    foreach ($path in $paths) {
        if (-not $path -or $seen.ContainsKey($path.ToLower()) -or -not (Test-Path -LiteralPath $path)) { continue }
        $seen[$path.ToLower()] = $true
        $found += Probe $path @() $path
    }
    return @($found | Where-Object { $_ })
}

function Suitable($p) { return $p.Major -eq 3 -and $p.Minor -ge 11 -and $p.Minor -le 13 -and $p.Bits -eq 64 -and $p.Platform -eq 'win-amd64' }

try {
    Say '== 安装 xxgk（政府信息公开工作年度报告 校验工具和 Excel 加载项）'

    # 1. the bundle is complete: it was extracted, not opened inside the zip viewer
    if (-not (Test-Path -LiteralPath $Wheels) -or -not (Test-Path -LiteralPath $Addin)) {
        Fail "安装包不完整（缺少 wheels 文件夹或 xxgk.xlam）。请先把压缩包全部解压（右键 → 全部解压缩），再双击解压出来的文件夹中的 安装.bat。"
    }

    # 2. Excel holds the add-in and the environment's files open while it runs
    if (Get-Process -Name 'EXCEL' -ErrorAction SilentlyContinue) {
        Fail '检测到 Excel 正在运行。请先保存并关闭所有 Excel 窗口，再重新双击 安装.bat。'
    }

    # 3. a 64-bit Python 3.11, 3.12 or 3.13
    Say '[1/5] 查找已安装的 Python……'
    $all = Find-Pythons
    $python = $all | Where-Object { Suitable $_ } | Sort-Object -Property Minor -Descending | Select-Object -First 1
    if (-not $python) {
        $others = @($all | ForEach-Object { "Python $($_.Major).$($_.Minor)（$($_.Bits) 位，$($_.Platform)，$($_.Shown)）" })
        $seen = if ($others.Count) { '找到的 Python 不符合要求：' + ($others -join '；') + '。' } else { '这台电脑上没有找到 Python。' }
        Fail ($seen + '需要 64 位的 Python 3.11、3.12 或 3.13（Windows x64 安装包，文件名如 python-3.12.10-amd64.exe）。' +
            '请联系信息技术部门安装，安装后重新双击 安装.bat。32 位的 Python 和 3.14 及以后的版本都不能用。')
    }
    Say "      使用 Python $($python.Major).$($python.Minor)（64 位）：$($python.Shown)"

    # 4. a fresh virtual environment under the user's profile (a rerun replaces the previous one)
    Say "[2/5] 创建运行环境：$Venv"
    if (Test-Path -LiteralPath $Venv) {
        if (-not (Test-Path -LiteralPath (Join-Path $Venv 'pyvenv.cfg'))) {
            Fail "文件夹 $Venv 已存在，但不是 xxgk 的运行环境，为免误删，没有改动它。请把它移走或改名后重新运行。"
        }
        Remove-Item -LiteralPath $Venv -Recurse -Force -ErrorAction SilentlyContinue
        if (Test-Path -LiteralPath $Venv) {
            Fail "无法删除上次安装的运行环境 $Venv（文件被占用）。请关闭 Excel 和命令行窗口，或重新启动电脑后再运行。"
        }
    }
    New-Item -ItemType Directory -Path $XxgkHome -Force | Out-Null
    & $python.Exe @($python.Prefix) -m venv $Venv
    $VenvPython = Join-Path $Venv 'Scripts\python.exe'
    if ($LASTEXITCODE -ne 0 -or -not (Test-Path -LiteralPath $VenvPython)) {
        Fail "无法创建运行环境 $Venv。请把上面的英文提示截图发给信息技术部门。"
    }

    # 5. xxgk and its dependencies from the bundle's wheels only
    Say '[3/5] 安装 xxgk（不需要联网，约需 1 到 3 分钟）……'
    & $VenvPython -m pip install --no-index --find-links $Wheels --disable-pip-version-check --no-warn-script-location -q xxgk
    if ($LASTEXITCODE -ne 0) {
        Fail "安装 xxgk 失败。这个安装包可能不适用于 Python $($python.Major).$($python.Minor)，或者不完整。请把上面的英文提示截图发给信息技术部门。"
    }
    $XxgkExe = Join-Path $Venv 'Scripts\xxgk.exe'

    # 6. the add-in's interpreter setting, written by xxgk itself (it knows the file's format and encoding);
    #    a setting the user had before the first install is kept aside for the uninstaller to restore
    Say '[4/5] 设置加载项使用的 Python……'
    if ((Test-Path -LiteralPath $Conf) -and -not (Test-Path -LiteralPath $ConfBackup) -and -not (Test-Path -LiteralPath (Join-Path $XxgkHome 'installed'))) {
        Copy-Item -LiteralPath $Conf -Destination $ConfBackup -Force
    }
    & "$XxgkExe" addin config --python "$VenvPython"
    if ($LASTEXITCODE -ne 0) {
        Fail '无法写入加载项的设置。请把上面的提示截图发给信息技术部门。'
    }

    # 7. the add-in in Excel's startup folder: Excel opens it at every start, and the folder is a trusted
    #    location by default, so its macros run without a security prompt and nothing has to be ticked
    Say "[5/5] 安装 Excel 加载项：$InstalledAddin"
    New-Item -ItemType Directory -Path $Startup -Force | Out-Null
    Copy-Item -LiteralPath $Addin -Destination $InstalledAddin -Force -ErrorAction SilentlyContinue
    if (-not (Test-Path -LiteralPath $InstalledAddin)) {
        Fail "无法复制加载项到 $Startup。请关闭 Excel 后重新运行。"
    }
    # a zip copied from the internet marks what it extracts as downloaded (Zone.Identifier), and Office
    # blocks the macros of such a file; the copy is ours, so the mark goes
    Unblock-File -LiteralPath $InstalledAddin -ErrorAction SilentlyContinue
    Set-Content -LiteralPath (Join-Path $XxgkHome 'installed') -Value 'xxgk' -Encoding ASCII

    $version = & "$XxgkExe" --version
    Say ''
    Say "安装完成（$version）。"
    Say '打开 Excel，功能区上会出现“信息公开年报”选项卡（加载项随 Excel 自动打开，不需要再勾选）。'
    Say "命令行工具：$XxgkExe"
    Say '卸载：双击安装包中的 卸载.bat。'
    exit 0
} catch {
    Fail ("出现意外错误：" + $_.Exception.Message + "。请把这个窗口截图发给信息技术部门。")
}
