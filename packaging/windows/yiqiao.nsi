; YiQiao (医桥) Windows installer: per-machine, silent-capable, writes the machine policy.
;
; Build (Windows or Linux, NSIS 3):
;   makensis -DPAYLOAD_DIR=..\..\dist\YiQiao -DVERSION=0.1.0 -DOUTFILE=YiQiao-0.1.0-setup.exe yiqiao.nsi
;
; Install (interactive or silent; parameters are optional, see docs/deployment.md):
;   YiQiao-setup.exe /S /HUB=https://hub.example.org /CA=\\server\share\hospital-ca.pem /LANG=zh_CN
;   YiQiao-setup.exe /S /POLICY=\\server\share\policy.toml      (copy a complete policy file)
;   YiQiao-setup.exe /S /D=D:\Apps\YiQiao                       (/D must be last, no quotes)
; Uninstall (keeps policy and user data unless /PURGE):
;   "%ProgramFiles%\YiQiao\Uninstall.exe" /S [/PURGE]
;
; Exit codes: 0 done; 1 cancelled or aborted by NSIS; 2 a parameter was wrong (nothing was
; installed or changed; the reason is in %ProgramData%\YiQiao\install.log).
;
; Policy writing is deliberately simple so it can be reviewed line by line: when /HUB, /CA or
; /LANG is given, policy.toml is written afresh holding exactly those keys (an existing file
; is kept as policy.toml.bak); /POLICY copies a whole file instead; with none of them an
; existing policy is left untouched (upgrades keep it). Values are written as TOML literal
; strings ('...'), which need no escaping for Windows paths; a value containing ' is refused.

Unicode true
ManifestDPIAware true
RequestExecutionLevel admin

!ifndef VERSION
  !define VERSION "0.0.0"
!endif
!ifndef PAYLOAD_DIR
  !error "pass -DPAYLOAD_DIR=<the PyInstaller one-dir bundle, e.g. dist\YiQiao>"
!endif
!ifndef OUTFILE
  !define OUTFILE "YiQiao-${VERSION}-setup.exe"
!endif
!ifdef NO_COMPRESS
  SetCompress off   ; test builds only: keeps the stand-in payload visible in the output
!else
  SetCompressor /SOLID lzma
!endif

!define APP "YiQiao"
!define PUBLISHER "YiQiao"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\YiQiao"
!define POLICY_DIR "$PolicyDir"  ; %ProgramData%\YiQiao, as app.paths.machine_policy_file()

!include "LogicLib.nsh"
!include "FileFunc.nsh"
!include "StrFunc.nsh"
!include "x64.nsh"
!include "MUI2.nsh"
${StrLoc}
${StrStr}

Name "${APP} ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\${APP}"
BrandingText "${APP} ${VERSION}"
VIProductVersion "${VERSION}.0"
VIAddVersionKey /LANG=1033 "ProductName" "${APP}"
VIAddVersionKey /LANG=1033 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=1033 "FileDescription" "${APP} installer"
VIAddVersionKey /LANG=1033 "LegalCopyright" "${PUBLISHER}"

Var HubUrl
Var CaFile
Var UiLang
Var PolicySource
Var Purge
Var PolicyDir

!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "SimpChinese"
!insertmacro MUI_LANGUAGE "English"

; A wrong parameter stops before anything is changed: exit code 2 and a line in install.log.
!macro RefuseParameter MESSAGE
  CreateDirectory "${POLICY_DIR}"
  FileOpen $9 "${POLICY_DIR}\install.log" a
  FileSeek $9 0 END
  FileWrite $9 "YiQiao ${VERSION} setup: ${MESSAGE}$\r$\n"
  FileClose $9
  IfSilent +2
    MessageBox MB_ICONSTOP "${MESSAGE}"
  SetErrorLevel 2
  Quit
!macroend

; GetParam: the value of option $R1 (e.g. "/HUB=") in the command line $R0, into $R2.
; FileFunc's GetOptions ends a value at the next "/", which cuts "https://..." to "https:";
; here a value runs to the next " /" (or the end), or between double quotes when quoted.
; Clobbers $R3-$R5.
Function GetParam
  StrCpy $R2 ""
  ${StrStr} $R3 " $R0" " $R1"
  ${If} $R3 == ""
    Return
  ${EndIf}
  StrLen $R4 " $R1"
  StrCpy $R3 $R3 "" $R4
  StrCpy $R4 $R3 1
  ${If} $R4 == '"'
    StrCpy $R3 $R3 "" 1
    ${StrLoc} $R5 $R3 '"' ">"
  ${Else}
    ${StrLoc} $R5 $R3 " /" ">"
  ${EndIf}
  ${If} $R5 != ""
    StrCpy $R3 $R3 $R5
  ${EndIf}
  StrCpy $R2 $R3
FunctionEnd

Function .onInit
  SetShellVarContext all
  ; The same folder app.paths uses: %ProgramData%\YiQiao.
  ReadEnvStr $PolicyDir "PROGRAMDATA"
  ${If} $PolicyDir == ""
    StrCpy $PolicyDir "C:\ProgramData"
  ${EndIf}
  StrCpy $PolicyDir "$PolicyDir\${APP}"
  ${If} ${RunningX64}
    SetRegView 64
  ${EndIf}
  ; Upgrade in place: reuse the folder of an existing install unless /D was given.
  ReadRegStr $0 HKLM "${UNINST_KEY}" "InstallLocation"
  ${If} $0 != ""
  ${AndIf} $INSTDIR == "$PROGRAMFILES64\${APP}"
    StrCpy $INSTDIR $0
  ${EndIf}

  ${GetParameters} $R0
  StrCpy $R1 "/HUB="
  Call GetParam
  StrCpy $HubUrl $R2
  StrCpy $R1 "/CA="
  Call GetParam
  StrCpy $CaFile $R2
  StrCpy $R1 "/LANG="
  Call GetParam
  StrCpy $UiLang $R2
  StrCpy $R1 "/POLICY="
  Call GetParam
  StrCpy $PolicySource $R2

  ${If} $HubUrl != ""
    StrCpy $1 $HubUrl 8
    StrCpy $2 $HubUrl 7
    ${If} $1 != "https://"
    ${AndIf} $2 != "http://"
      !insertmacro RefuseParameter "/HUB must start with https:// or http:// (got '$HubUrl')"
    ${EndIf}
    ${StrLoc} $3 $HubUrl "'" ">"
    ${If} $3 != ""
      !insertmacro RefuseParameter "/HUB must not contain a quote character"
    ${EndIf}
  ${EndIf}
  ${If} $CaFile != ""
  ${AndIfNot} ${FileExists} $CaFile
    !insertmacro RefuseParameter "/CA file not found: $CaFile"
  ${EndIf}
  ${If} $UiLang != ""
  ${AndIf} $UiLang != "zh_CN"
  ${AndIf} $UiLang != "en"
  ${AndIf} $UiLang != "system"
    !insertmacro RefuseParameter "/LANG must be zh_CN, en or system (got '$UiLang')"
  ${EndIf}
  ${If} $PolicySource != ""
    ${If} $HubUrl$CaFile$UiLang != ""
      !insertmacro RefuseParameter "/POLICY cannot be combined with /HUB, /CA or /LANG"
    ${EndIf}
    ${IfNot} ${FileExists} $PolicySource
      !insertmacro RefuseParameter "/POLICY file not found: $PolicySource"
    ${EndIf}
  ${EndIf}
FunctionEnd

Section "YiQiao" SecMain
  SectionIn RO
  SetShellVarContext all
  SetOutPath "$INSTDIR"
  ; Upgrade: remove the previous bundle's libraries first so no stale module is ever loaded.
  RMDir /r "$INSTDIR\_internal"
  File /r "${PAYLOAD_DIR}\*.*"
  WriteUninstaller "$INSTDIR\Uninstall.exe"

  CreateDirectory "$SMPROGRAMS\${APP}"
  CreateShortcut "$SMPROGRAMS\${APP}\${APP}.lnk" "$INSTDIR\YiQiao.exe"
  CreateShortcut "$SMPROGRAMS\${APP}\${APP} self-check.lnk" "$INSTDIR\YiQiao.exe" "--self-check --open"

  WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "${APP} 医桥"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKLM "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\YiQiao.exe"
  WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" "$\"$INSTDIR\Uninstall.exe$\""
  WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" "$\"$INSTDIR\Uninstall.exe$\" /S"
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKLM "${UNINST_KEY}" "EstimatedSize" $0

  Call WritePolicy
SectionEnd

; The machine policy (%ProgramData%\YiQiao\policy.toml), read by app.config.
Function WritePolicy
  CreateDirectory "${POLICY_DIR}"
  ; ProgramData lets every user create files in new subfolders: a user could then plant a
  ; policy.toml where IT has none. Only Administrators and SYSTEM may write here; Users read.
  nsExec::ExecToLog 'icacls "${POLICY_DIR}" /inheritance:r /grant:r *S-1-5-32-544:(OI)(CI)F *S-1-5-18:(OI)(CI)F *S-1-5-32-545:(OI)(CI)RX'
  Pop $1
  ${If} $PolicySource != ""
    IfFileExists "${POLICY_DIR}\policy.toml" 0 +2
      CopyFiles /SILENT "${POLICY_DIR}\policy.toml" "${POLICY_DIR}\policy.toml.bak"
    CopyFiles /SILENT "$PolicySource" "${POLICY_DIR}\policy.toml"
    Return
  ${EndIf}
  ${If} $HubUrl$CaFile$UiLang == ""
    Return  ; no policy parameters: keep whatever policy exists
  ${EndIf}
  ; The CA is copied next to the policy so the policy never points at a share or a stick.
  ${If} $CaFile != ""
    CopyFiles /SILENT "$CaFile" "${POLICY_DIR}\hospital-ca.pem"
  ${EndIf}
  IfFileExists "${POLICY_DIR}\policy.toml" 0 +2
    CopyFiles /SILENT "${POLICY_DIR}\policy.toml" "${POLICY_DIR}\policy.toml.bak"
  FileOpen $0 "${POLICY_DIR}\policy.toml" w
  ; POLICY-TEMPLATE-BEGIN (tests/packaging/test_installer.py renders these lines and parses them)
  FileWrite $0 "# Written by the YiQiao ${VERSION} installer. Keys: docs/deployment.md$\r$\n"
  ${If} $HubUrl != ""
    FileWrite $0 "hub_url = '$HubUrl'$\r$\n"
  ${EndIf}
  ${If} $CaFile != ""
    FileWrite $0 "ca_bundle = '${POLICY_DIR}\hospital-ca.pem'$\r$\n"
  ${EndIf}
  ${If} $UiLang != ""
    FileWrite $0 "language = '$UiLang'$\r$\n"
  ${EndIf}
  ; POLICY-TEMPLATE-END
  FileClose $0
FunctionEnd

Function un.onInit
  SetShellVarContext all
  ; The same folder app.paths uses: %ProgramData%\YiQiao.
  ReadEnvStr $PolicyDir "PROGRAMDATA"
  ${If} $PolicyDir == ""
    StrCpy $PolicyDir "C:\ProgramData"
  ${EndIf}
  StrCpy $PolicyDir "$PolicyDir\${APP}"
  ${If} ${RunningX64}
    SetRegView 64
  ${EndIf}
  ${GetParameters} $R0
  StrCpy $Purge "0"
  ClearErrors
  ${GetOptions} $R0 "/PURGE" $1
  ${IfNot} ${Errors}
    StrCpy $Purge "1"
  ${EndIf}
FunctionEnd

Section "Uninstall"
  SetShellVarContext all
  Delete "$SMPROGRAMS\${APP}\${APP}.lnk"
  Delete "$SMPROGRAMS\${APP}\${APP} self-check.lnk"
  RMDir "$SMPROGRAMS\${APP}"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\YiQiao.exe"
  Delete "$INSTDIR\Uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKLM "${UNINST_KEY}"
  ${If} $Purge == "1"
    ; Only when asked: the machine policy and the uninstalling user's own data and logs.
    ; Other Windows users' profiles are not touched (see docs/deployment.md).
    RMDir /r "${POLICY_DIR}"
    SetShellVarContext current
    RMDir /r "$LOCALAPPDATA\YiQiao"
    RMDir /r "$APPDATA\YiQiao"
  ${EndIf}
SectionEnd
