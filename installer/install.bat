@echo off
rem xxgk offline installer, shipped in the bundle as the Chinese-named file for "install".
rem
rem This file is ASCII only, on purpose. cmd.exe reads a batch file line by line in the console's OEM
rem code page (936 on Chinese Windows, 437 or 850 elsewhere): Chinese bytes here would print garbled on
rem any other code page, and "chcp 65001" inside a batch file makes older cmd.exe misread the lines that
rem follow. So every Chinese message lives in installer\install.ps1, a UTF-8 file with a byte order mark,
rem which Windows PowerShell 5.1 (on every supported Windows) reads correctly in any code page. The one
rem message printed here (the PowerShell script is missing) is written as \u escapes that PowerShell
rem turns into Chinese. Paths with spaces or Chinese characters are passed quoted, as UTF-16 by cmd.exe.
setlocal
set "PS=%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe"
set "SCRIPT=%~dp0installer\install.ps1"
if not exist "%SCRIPT%" goto missing
"%PS%" -NoLogo -NoProfile -ExecutionPolicy Bypass -File "%SCRIPT%"
set "RC=%ERRORLEVEL%"
pause
exit /b %RC%

:missing
"%PS%" -NoLogo -NoProfile -Command "Write-Host ([regex]::Unescape('\u6ca1\u6709\u627e\u5230\u5b89\u88c5\u811a\u672c\uff08installer \u6587\u4ef6\u5939\u4e2d\u7684 install.ps1\uff09\u3002\u8bf7\u5148\u628a\u538b\u7f29\u5305\u5168\u90e8\u89e3\u538b\uff08\u53f3\u952e \u2192 \u5168\u90e8\u89e3\u538b\u7f29\uff09\uff0c\u518d\u53cc\u51fb\u89e3\u538b\u51fa\u6765\u7684\u6587\u4ef6\u5939\u4e2d\u7684 \u5b89\u88c5.bat\u3002'))"
pause
exit /b 1
