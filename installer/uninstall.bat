@echo off
rem xxgk uninstaller, shipped in the bundle as the Chinese-named file for "uninstall".
rem ASCII only, for the reasons given in install.bat: the Chinese messages are in installer\uninstall.ps1.
setlocal
set "PS=%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe"
set "SCRIPT=%~dp0installer\uninstall.ps1"
if not exist "%SCRIPT%" goto missing
"%PS%" -NoLogo -NoProfile -ExecutionPolicy Bypass -File "%SCRIPT%"
set "RC=%ERRORLEVEL%"
pause
exit /b %RC%

:missing
"%PS%" -NoLogo -NoProfile -Command "Write-Host ([regex]::Unescape('\u6ca1\u6709\u627e\u5230\u5378\u8f7d\u811a\u672c\uff08installer \u6587\u4ef6\u5939\u4e2d\u7684 uninstall.ps1\uff09\u3002\u8bf7\u5728\u89e3\u538b\u51fa\u6765\u7684\u5b89\u88c5\u5305\u6587\u4ef6\u5939\u4e2d\u53cc\u51fb \u5378\u8f7d.bat\u3002'))"
pause
exit /b 1
