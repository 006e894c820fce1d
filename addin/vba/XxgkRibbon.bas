Attribute VB_Name = "XxgkRibbon"
Option Explicit
' Ribbon callbacks of the xxgk add-in. Each one hands the work to Python (module xxgk.excel),
' which reads the active workbook through xlwings. Keep this file ASCII: the VBA project's
' code page would mangle other characters. Labels live in the ribbon XML and in Python.

Sub OnValidate(control As IRibbonControl)
    RunPython "import xxgk.excel; xxgk.excel.on_validate()"
End Sub

Sub OnClear(control As IRibbonControl)
    RunPython "import xxgk.excel; xxgk.excel.on_clear()"
End Sub

Sub OnExportJson(control As IRibbonControl)
    RunPython "import xxgk.excel; xxgk.excel.on_export_json()"
End Sub
