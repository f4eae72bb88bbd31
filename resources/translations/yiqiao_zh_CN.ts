<?xml version='1.0' encoding='utf-8'?>
<TS version="2.1" language="zh_CN">
  <context>
    <name>AboutDialog</name>
    <message>
      <location filename="../../app/ui/about_dialog.py" line="17" />
      <source>About YiQiao</source>
      <translation>关于医桥</translation>
    </message>
    <message>
      <location filename="../../app/ui/about_dialog.py" line="19" />
      <source>YiQiao Remote Consultation</source>
      <translation>医桥远程会诊</translation>
    </message>
    <message>
      <location filename="../../app/ui/about_dialog.py" line="26" />
      <source>Connects township clinics with county and provincial specialists.</source>
      <translation>连接乡镇卫生院与县级、省级医院专家。</translation>
    </message>
  </context>
  <context>
    <name>CallPage</name>
    <message>
      <location filename="../../app/ui/pages/call.py" line="20" />
      <source>Call</source>
      <translation>视频通话</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="21" />
      <source>Start a video consultation from a scheduled consultation, or make a test call to check your camera, microphone and network.</source>
      <translation>从已安排的会诊发起视频会诊，或拨打测试通话检查摄像头、麦克风和网络。</translation>
    </message>
  </context>
  <context>
    <name>ClientController</name>
    <message>
      <location filename="../../app/ui/app.py" line="50" />
      <source>Hub: {url}</source>
      <translation>服务器：{url}</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="56" />
      <source>Hub: starting the local demo hub…</source>
      <translation>服务器：正在启动本地演示服务器…</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="63" />
      <source>Hub: local demo hub</source>
      <translation>服务器：本地演示服务器</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="76" />
      <source>Hub: the local demo hub did not start ({error})</source>
      <translation>服务器：本地演示服务器未能启动（{error}）</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="99" />
      <source>local demo hub</source>
      <translation>本地演示服务器</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="101" />
      <source>Hub: connected ({where})</source>
      <translation>服务器：已连接（{where}）</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="103" />
      <source>Hub: certificate not trusted</source>
      <translation>服务器：证书不受信任</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="105" />
      <source>Hub: offline — work continues locally</source>
      <translation>服务器：离线——可继续在本机工作</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="107" />
      <source>Hub: not ready ({where})</source>
      <translation>服务器：未就绪（{where}）</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="150" />
      <source>Settings</source>
      <translation>设置</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="151" />
      <source>The new language is used after YiQiao restarts.</source>
      <translation>新语言将在医桥重新启动后生效。</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="169" />
      <source>No secure credential store was found on this computer. For the demo, sign-in and encryption keys are kept in memory only and nothing is saved between runs. Ask IT to enable the system keyring before real use.</source>
      <translation>未在本机找到安全凭据存储。演示模式下，登录信息和加密密钥仅保存在内存中，退出后不保留任何数据。正式使用前请联系信息科启用系统密钥环。</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="177" />
      <source>Credential store</source>
      <translation>凭据存储</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="179" />
      <source>No secure credential store was found on this computer, so YiQiao cannot keep your sign-in or encryption keys safely and will not store them in a plain file. Ask IT to enable the system keyring (on Linux: GNOME Keyring or KWallet).</source>
      <translation>未在本机找到安全凭据存储，医桥无法安全保存您的登录信息和加密密钥，也不会将其以明文写入文件。请联系信息科启用系统密钥环（Linux：GNOME Keyring 或 KWallet）。</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="209" />
      <source>township clinic doctor</source>
      <translation>乡镇卫生院医生</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="210" />
      <source>radiology specialist</source>
      <translation>放射科专家</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="211" />
      <source>cardiology specialist</source>
      <translation>心内科专家</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="212" />
      <source>coordinator</source>
      <translation>协调员</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="213" />
      <source>administrator</source>
      <translation>管理员</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="219" />
      <source>Demo accounts:</source>
      <translation>演示账号：</translation>
    </message>
  </context>
  <context>
    <name>ConsultationsPage</name>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="20" />
      <source>Consultations</source>
      <translation>会诊</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="21" />
      <source>Consultation requests, the specialist worklist and reports appear here once you are signed in and the records have synced.</source>
      <translation>登录并完成记录同步后，会诊申请、专家工作列表和会诊报告将显示在这里。</translation>
    </message>
  </context>
  <context>
    <name>LoginDialog</name>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="64" />
      <source>Sign in to YiQiao</source>
      <translation>登录医桥</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="68" />
      <source>(starting the local demo hub…)</source>
      <translation>（正在启动本地演示服务器…）</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="75" />
      <source>Hub:</source>
      <translation>服务器：</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="76" />
      <source>&amp;Username:</source>
      <translation>用户名(&amp;U)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="77" />
      <source>&amp;Password:</source>
      <translation>密码(&amp;P)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="93" />
      <source>Sign in</source>
      <translation>登录</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="110" />
      <source>Enter your username and password.</source>
      <translation>请输入用户名和密码。</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="116" />
      <source>Waiting for the hub to start…</source>
      <translation>正在等待服务器启动…</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="148" />
      <source>The hub refused the sign-in: {reason}</source>
      <translation>服务器拒绝登录：{reason}</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="151" />
      <source>The hub's security certificate is not trusted. Ask IT to check the CA certificate setting.</source>
      <translation>服务器的安全证书不受信任。请联系信息科检查 CA 证书设置。</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="155" />
      <source>Cannot reach the hub. Check the network connection and try again.</source>
      <translation>无法连接服务器。请检查网络连接后重试。</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="158" />
      <source>Signed in, but this computer has no secure credential store to keep the sign-in safely. Ask IT to enable the system keyring.</source>
      <translation>已登录，但本机没有安全凭据存储，无法安全保存登录信息。请联系信息科启用系统密钥环。</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="162" />
      <source>The hub had a problem: {reason}</source>
      <translation>服务器出现问题：{reason}</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="163" />
      <source>Sign-in failed: {reason}</source>
      <translation>登录失败：{reason}</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="119" />
      <source>Signing in…</source>
      <translation>正在登录…</translation>
    </message>
  </context>
  <context>
    <name>MainWindow</name>
    <message>
      <location filename="../../app/ui/main_window.py" line="71" />
      <source>YiQiao Remote Consultation</source>
      <translation>医桥远程会诊</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="89" />
      <source>Navigation</source>
      <translation>导航</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="93" />
      <source>Consultations</source>
      <translation>会诊</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="94" />
      <source>Patients</source>
      <translation>患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="95" />
      <source>Viewer</source>
      <translation>影像查看</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="96" />
      <source>Call</source>
      <translation>视频通话</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="148" />
      <source>&amp;File</source>
      <translation>文件(&amp;F)</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="149" />
      <source>Sign &amp;in…</source>
      <translation>登录(&amp;I)…</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="151" />
      <source>Sign &amp;out</source>
      <translation>退出登录(&amp;O)</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="154" />
      <source>&amp;Settings…</source>
      <translation>设置(&amp;S)…</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="157" />
      <source>Export &amp;diagnostics…</source>
      <translation>导出诊断信息(&amp;D)…</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="159" />
      <source>&amp;Quit</source>
      <translation>退出(&amp;Q)</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="169" />
      <source>&amp;Go</source>
      <translation>转到(&amp;G)</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="177" />
      <source>&amp;Help</source>
      <translation>帮助(&amp;H)</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="178" />
      <source>&amp;About YiQiao</source>
      <translation>关于医桥(&amp;A)</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="184" />
      <source>Hub: not connected</source>
      <translation>服务器：未连接</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="188" />
      <location filename="../../app/ui/main_window.py" line="219" />
      <source>Not signed in</source>
      <translation>未登录</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="222" />
      <source>{name} · {facility}</source>
      <translation>{name} · {facility}</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="237" />
      <location filename="../../app/ui/main_window.py" line="250" />
      <source>Export diagnostics</source>
      <translation>导出诊断信息</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="237" />
      <source>Zip archives (*.zip)</source>
      <translation>Zip 压缩包 (*.zip)</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="247" />
      <source>Diagnostics saved to {path}</source>
      <translation>诊断信息已保存到 {path}</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="250" />
      <source>Could not save: {error}</source>
      <translation>无法保存：{error}</translation>
    </message>
  </context>
  <context>
    <name>NoticeBanner</name>
    <message>
      <location filename="../../app/ui/main_window.py" line="45" />
      <source>Dismiss</source>
      <translation>关闭</translation>
    </message>
  </context>
  <context>
    <name>PatientsPage</name>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="20" />
      <source>Patients</source>
      <translation>患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="21" />
      <source>Registered patients appear here once you are signed in. You can register patients even when the network is down.</source>
      <translation>登录后，已登记的患者将显示在这里。即使网络中断，也可以登记患者。</translation>
    </message>
  </context>
  <context>
    <name>PolicyBanner</name>
    <message>
      <location filename="../../app/ui/main_window.py" line="57" />
      <source>Some settings could not be applied:</source>
      <translation>部分设置未能生效：</translation>
    </message>
  </context>
  <context>
    <name>SettingProblems</name>
    <message>
      <location filename="../../app/ui/setting_problems.py" line="16" />
      <source>one of {choices}</source>
      <translation>以下之一：{choices}</translation>
    </message>
    <message>
      <location filename="../../app/ui/setting_problems.py" line="20" />
      <source>an address starting with https://</source>
      <translation>以 https:// 开头的地址</translation>
    </message>
    <message>
      <location filename="../../app/ui/setting_problems.py" line="21" />
      <source>system, none or a proxy address such as http://proxy:3128</source>
      <translation>system、none 或代理地址（如 http://proxy:3128）</translation>
    </message>
    <message>
      <location filename="../../app/ui/setting_problems.py" line="24" />
      <source>the path of an existing file</source>
      <translation>一个已存在文件的路径</translation>
    </message>
    <message>
      <location filename="../../app/ui/setting_problems.py" line="25" />
      <source>true or false</source>
      <translation>true 或 false</translation>
    </message>
    <message>
      <location filename="../../app/ui/setting_problems.py" line="26" />
      <source>a whole number</source>
      <translation>整数</translation>
    </message>
    <message>
      <location filename="../../app/ui/setting_problems.py" line="27" />
      <source>text</source>
      <translation>文本</translation>
    </message>
    <message>
      <location filename="../../app/ui/setting_problems.py" line="34" />
      <source>{source}: the file cannot be read (line {line}); defaults are used.</source>
      <translation>{source}：文件无法读取（第 {line} 行），已使用默认设置。</translation>
    </message>
    <message>
      <location filename="../../app/ui/setting_problems.py" line="37" />
      <source>{source}: the file cannot be read; defaults are used.</source>
      <translation>{source}：文件无法读取，已使用默认设置。</translation>
    </message>
    <message>
      <location filename="../../app/ui/setting_problems.py" line="41" />
      <source>{source}: '{key}' is not a setting IT can set; it is ignored.</source>
      <translation>{source}：“{key}”不是信息科可设置的项目，已忽略。</translation>
    </message>
    <message>
      <location filename="../../app/ui/setting_problems.py" line="44" />
      <source>{source}: '{key}' = {value} is not valid (expected {expected}); using {used} instead.</source>
      <translation>{source}：“{key}” = {value} 无效（应为{expected}），已改用 {used}。</translation>
    </message>
  </context>
  <context>
    <name>SettingsDialog</name>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="36" />
      <location filename="../../app/ui/settings_dialog.py" line="202" />
      <source>Settings</source>
      <translation>设置</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="43" />
      <source>General</source>
      <translation>常规</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="46" />
      <source>Follow the system</source>
      <translation>跟随系统</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="51" />
      <source>&amp;Language:</source>
      <translation>语言(&amp;L)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="54" />
      <source>Normal</source>
      <translation>正常</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="55" />
      <source>Detailed (for IT)</source>
      <translation>详细（供信息科使用）</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="56" />
      <source>Warnings only</source>
      <translation>仅警告</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="57" />
      <source>Errors only</source>
      <translation>仅错误</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="60" />
      <source>Log &amp;detail:</source>
      <translation>日志详细程度(&amp;D)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="61" />
      <source>Check for updates automatically</source>
      <translation>自动检查更新</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="62" />
      <source>Updates:</source>
      <translation>更新：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="64" />
      <source>Network</source>
      <translation>网络</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="66" />
      <source>Empty: use the local demo hub</source>
      <translation>留空：使用本地演示服务器</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="67" />
      <source>&amp;Hub address:</source>
      <translation>服务器地址(&amp;H)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="69" />
      <source>Browse…</source>
      <translation>浏览…</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="77" />
      <source>&amp;CA certificate:</source>
      <translation>CA 证书(&amp;C)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="79" />
      <source>system, none, or http://proxy:3128</source>
      <translation>system（系统）、none（不使用）或 http://proxy:3128</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="80" />
      <source>&amp;Proxy:</source>
      <translation>代理(&amp;P)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="82" />
      <source>Camera and microphone</source>
      <translation>摄像头和麦克风</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="86" />
      <source>Default device</source>
      <translation>默认设备</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="87" />
      <source>C&amp;amera:</source>
      <translation>摄像头(&amp;A)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="88" />
      <source>&amp;Microphone:</source>
      <translation>麦克风(&amp;M)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="89" />
      <source>Start calls with audio only (saves bandwidth)</source>
      <translation>通话时仅使用语音（节省带宽）</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="90" />
      <source>Calls:</source>
      <translation>通话：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="91" />
      <source>Camera may be used</source>
      <translation>允许使用摄像头</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="92" />
      <source>Camera use:</source>
      <translation>摄像头使用：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="93" />
      <source>Microphone may be used</source>
      <translation>允许使用麦克风</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="95" />
      <source>Microphone use:</source>
      <translation>麦克风使用：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="127" />
      <source>Set by your IT department ({source}).</source>
      <translation>由信息科统一设置（{source}）。</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="139" />
      <source>CA certificate</source>
      <translation>CA 证书</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="139" />
      <source>Certificates (*.pem *.crt *.cer)</source>
      <translation>证书 (*.pem *.crt *.cer)</translation>
    </message>
  </context>
  <context>
    <name>ViewerPage</name>
    <message>
      <location filename="../../app/ui/pages/viewer.py" line="20" />
      <source>Viewer</source>
      <translation>影像查看</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/viewer.py" line="21" />
      <source>Open DICOM images from a CD, USB stick or folder to view and measure them.</source>
      <translation>从光盘、U 盘或文件夹打开 DICOM 影像进行查看和测量。</translation>
    </message>
  </context>
</TS>