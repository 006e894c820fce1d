Attribute VB_Name = "XxgkRibbon"
Option Explicit
' Ribbon callbacks of the xxgk add-in. Each one checks what can be checked in VBA (an open, editable
' workbook made from the template; a Python that exists and has xxgk), then hands the work to Python
' (module xxgk.excel) through xlwings' RunPython, with a busy text in the status bar that is put back
' afterwards. No VBA error ever reaches the clerk: every callback traps errors and says, in Chinese,
' what to do next. Keep this file ASCII: the texts come from the generated module XxgkText.

Public Sub OnValidate(control As IRibbonControl)
    On Error GoTo failed
    RunAction "on_validate", MsgBusyValidate()
    Exit Sub
failed:
    Tell Replace(MsgInternal(), "{0}", Err.Description)
End Sub

Public Sub OnClear(control As IRibbonControl)
    On Error GoTo failed
    RunAction "on_clear", MsgBusyClear()
    Exit Sub
failed:
    Tell Replace(MsgInternal(), "{0}", Err.Description)
End Sub

Public Sub OnExportJson(control As IRibbonControl)
    On Error GoTo failed
    RunAction "on_export_json", MsgBusyExport()
    Exit Sub
failed:
    Tell Replace(MsgInternal(), "{0}", Err.Description)
End Sub

Private Sub RunAction(action As String, busy As String)
    ' The status bar shows `busy` while Python runs and gets back what it showed before, also on error.
    Dim problem As String, previous As Variant, result As Variant
    On Error GoTo failed
    problem = Precheck()
    If problem <> "" Then GoTo done
    previous = Application.StatusBar
    Application.StatusBar = busy
    result = RunPython("import xxgk.excel; xxgk.excel." & action & "()")
    If result = -1 Then problem = MsgPythonFailed()
done:
    On Error Resume Next
    If Not IsEmpty(previous) Then Application.StatusBar = previous
    If problem <> "" Then Tell problem
    Exit Sub
failed:
    problem = Replace(MsgInternal(), "{0}", Err.Description)
    Resume done
End Sub

Private Function Precheck() As String
    ' The first reason the button cannot work, as the message to show; "" when it can.
    Dim wb As Workbook, interpreter As String
    On Error Resume Next
    If Not (Application.ActiveProtectedViewWindow Is Nothing) Then
        If Err.Number = 0 Then Precheck = MsgProtectedView(): Exit Function
    End If
    Err.Clear
    Set wb = ActiveWorkbook
    On Error GoTo 0
    If wb Is Nothing Then Precheck = MsgNoWorkbook(): Exit Function
    If Not HasName(wb, REPORT_NAME) Then Precheck = MsgNotAReport(): Exit Function
    interpreter = GetConfig("INTERPRETER_WIN", "")
    If interpreter = "" Then interpreter = GetConfig("INTERPRETER", "python")
    If interpreter = "python" Or interpreter = "pythonw" Then
        If Not PythonOnPath() Then Precheck = MsgNoPython()
    ElseIf Not FileExists(interpreter) Then
        Precheck = Replace(MsgPythonMissing(), "{0}", interpreter)
    ElseIf Not FileExists(Folder(interpreter) & "\xxgk.exe") And _
           Not FileExists(Folder(interpreter) & "\Scripts\xxgk.exe") Then
        Precheck = Replace(MsgNoXxgk(), "{0}", interpreter)
    End If
End Function

Private Function HasName(wb As Workbook, definedName As String) As Boolean
    Dim found As Object
    On Error Resume Next
    Set found = wb.Names(definedName)
    HasName = Not (found Is Nothing)
End Function

Private Function PythonOnPath() As Boolean
    ' python.exe in a folder on PATH; the Microsoft Store's stand-in (WindowsApps) does not count.
    Dim entry As Variant, entryDir As String
    For Each entry In Split(Environ("PATH"), ";")
        entryDir = Trim$(CStr(entry))
        If Right$(entryDir, 1) = "\" Then entryDir = Left$(entryDir, Len(entryDir) - 1)
        If entryDir <> "" And InStr(1, entryDir, "\WindowsApps", vbTextCompare) = 0 Then
            If FileExists(entryDir & "\python.exe") Then PythonOnPath = True: Exit Function
        End If
    Next entry
End Function

Private Function Folder(filePath As String) As String
    If InStrRev(filePath, "\") > 0 Then Folder = Left$(filePath, InStrRev(filePath, "\") - 1) Else Folder = "."
End Function

Private Sub Tell(message As String)
    On Error Resume Next
    MsgBox message, vbExclamation, MsgTitle()
End Sub
