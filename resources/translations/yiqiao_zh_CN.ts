<?xml version='1.0' encoding='utf-8'?>
<TS version="2.1" language="zh_CN">
  <context>
    <name>AbnormalExit</name>
    <message>
      <location filename="../../app/ui/abnormal_exit.py" line="17" />
      <source>YiQiao stopped responding last time and had to be closed.</source>
      <translation>上次医桥（YiQiao）停止响应，只能被强制关闭。</translation>
    </message>
    <message>
      <location filename="../../app/ui/abnormal_exit.py" line="21" />
      <source>YiQiao closed unexpectedly last time.</source>
      <translation>上次医桥（YiQiao）意外关闭。</translation>
    </message>
    <message>
      <location filename="../../app/ui/abnormal_exit.py" line="23" />
      <source>What happened was written to the log. Export diagnostics and send the file to your IT department so the problem can be found.</source>
      <translation>发生的情况已写入日志。请导出诊断信息并把文件发给信息科，以便查明问题。</translation>
    </message>
    <message>
      <location filename="../../app/ui/abnormal_exit.py" line="29" />
      <source>{what} {advice}</source>
      <translation>{what}{advice}</translation>
    </message>
    <message>
      <location filename="../../app/ui/abnormal_exit.py" line="44" />
      <source>The last session ended abnormally</source>
      <translation>上次运行异常结束</translation>
    </message>
    <message>
      <location filename="../../app/ui/abnormal_exit.py" line="48" />
      <source>Export diagnostics…</source>
      <translation>导出诊断信息…</translation>
    </message>
    <message>
      <location filename="../../app/ui/abnormal_exit.py" line="53" />
      <source>Close</source>
      <translation>关闭</translation>
    </message>
  </context>
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
    <name>Argparse</name>
    <message>
      <location filename="../../app/ui/cli_language.py" line="26" />
      <source>usage: </source>
      <translation>用法：</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="27" />
      <source>positional arguments</source>
      <translation>位置参数</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="28" />
      <source>options</source>
      <translation>选项</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="29" />
      <source>show this help message and exit</source>
      <translation>显示本帮助并退出</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="30" />
      <source>subcommands</source>
      <translation>子命令</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="31" />
      <source>argument %(argument_name)s: %(message)s</source>
      <translation>参数 %(argument_name)s：%(message)s</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="32" />
      <source>unknown parser %(parser_name)r (choices: %(choices)s)</source>
      <translation>未知的子命令 %(parser_name)r（可选：%(choices)s）</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="33" />
      <source>can't open '%(filename)s': %(error)s</source>
      <translation>无法打开“%(filename)s”：%(error)s</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="34" />
      <source>unrecognized arguments: %s</source>
      <translation>无法识别的参数：%s</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="35" />
      <source>not allowed with argument %s</source>
      <translation>不能与参数 %s 同时使用</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="36" />
      <source>ignored explicit argument %r</source>
      <translation>多余的参数值 %r</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="37" />
      <source>the following arguments are required: %s</source>
      <translation>缺少必需的参数：%s</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="38" />
      <source>one of the arguments %s is required</source>
      <translation>必须给出参数 %s 之一</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="39" />
      <source>expected one argument</source>
      <translation>需要一个值</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="40" />
      <source>expected at most one argument</source>
      <translation>最多需要一个值</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="41" />
      <source>expected at least one argument</source>
      <translation>至少需要一个值</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="42" />
      <source>expected %s argument</source>
      <translation>需要 %s 个值</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="43" />
      <source>expected %s arguments</source>
      <translation>需要 %s 个值</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="44" />
      <source>ambiguous option: %(option)s could match %(matches)s</source>
      <translation>选项不明确：%(option)s 可匹配 %(matches)s</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="45" />
      <source>unexpected option string: %s</source>
      <translation>意外的选项：%s</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="46" />
      <source>invalid %(type)s value: %(value)r</source>
      <translation>无效的值（应为 %(type)s）：%(value)r</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="47" />
      <source>invalid choice: %(value)r (choose from %(choices)s)</source>
      <translation>无效的选择：%(value)r（可选：%(choices)s）</translation>
    </message>
    <message>
      <location filename="../../app/ui/cli_language.py" line="48" />
      <source>%(prog)s: error: %(message)s
</source>
      <translation>%(prog)s：错误：%(message)s
</translation>
    </message>
  </context>
  <context>
    <name>CallPage</name>
    <message>
      <location filename="../../app/ui/pages/call.py" line="48" />
      <source>Test call</source>
      <translation>测试通话</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="51" />
      <source>Call the hub's echo service: you see and hear yourself as the other side would.</source>
      <translation>呼叫中心的回声服务：您将像对方一样看到、听到自己。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="68" />
      <source>Start a video consultation from a scheduled consultation, or make a test call to check your camera, microphone and network.</source>
      <translation>从已安排的会诊发起视频会诊，或拨打测试通话检查摄像头、麦克风和网络。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="75" />
      <source>Missed calls</source>
      <translation>未接来电</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="93" />
      <source>Ready for calls</source>
      <translation>可以通话</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="95" />
      <source>Not connected to the hub: calls are unavailable</source>
      <translation>未连接到中心服务器：暂时无法通话</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="135" />
      <source>Patient: looking up…</source>
      <translation>患者：正在查找…</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="167" />
      <source>Images can be shared in a consultation call whose patient is known here.</source>
      <translation>只有在本机已有患者资料的会诊通话中才能共享影像。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="264" />
      <source>The call was declined.</source>
      <translation>对方拒绝了通话。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="265" />
      <source>The other side is in another call.</source>
      <translation>对方正在通话中。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="266" />
      <source>Nobody is available to answer; they will see a missed call.</source>
      <translation>目前无人接听；对方会看到未接来电。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="267" />
      <source>No answer.</source>
      <translation>无人接听。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="268" />
      <source>You do not take part in this consultation.</source>
      <translation>您不是此会诊的参与者。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="269" />
      <location filename="../../app/ui/pages/call.py" line="270" />
      <source>The connection to the other side was lost.</source>
      <translation>与对方的连接已断开。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="271" />
      <source>The hub cannot be reached.</source>
      <translation>无法连接到中心服务器。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="272" />
      <source>The caller hung up.</source>
      <translation>呼叫方已挂断。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="273" />
      <source>The other side hung up.</source>
      <translation>对方已挂断。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/call.py" line="275" />
      <source>Call ended.</source>
      <translation>通话已结束。</translation>
    </message>
  </context>
  <context>
    <name>CallSubject</name>
    <message>
      <location filename="../../app/ui/call/subject.py" line="18" />
      <source>Patient: this consultation is not on this computer yet</source>
      <translation>患者：本机尚未同步此会诊</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/subject.py" line="22" />
      <source>Patient: record not synced yet</source>
      <translation>患者：病历尚未同步</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/subject.py" line="24" />
      <source>{n} y</source>
      <translation>{n} 岁</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/subject.py" line="26" />
      <source>age unknown</source>
      <translation>年龄不详</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/subject.py" line="28" />
      <source>Patient: {name} · {sex} · {age}</source>
      <translation>患者：{name} · {sex} · {age}</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/subject.py" line="36" />
      <source>Purpose: not known on this computer</source>
      <translation>会诊目的：本机暂无</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/subject.py" line="37" />
      <source>Purpose: {purpose}</source>
      <translation>会诊目的：{purpose}</translation>
    </message>
  </context>
  <context>
    <name>CallWidget</name>
    <message>
      <location filename="../../app/ui/call/window.py" line="204" />
      <source>No speaker found: the other side cannot be heard</source>
      <translation>未找到扬声器：无法听到对方声音</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="78" />
      <location filename="../../app/ui/call/window.py" line="245" />
      <source>Mute</source>
      <translation>静音</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="61" />
      <source>Open case</source>
      <translation>打开病例</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="63" />
      <source>Open this consultation's case; the call continues</source>
      <translation>打开此会诊的病例，通话不中断</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="81" />
      <location filename="../../app/ui/call/window.py" line="249" />
      <source>Camera off</source>
      <translation>关闭摄像头</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="84" />
      <source>Audio only</source>
      <translation>仅语音</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="86" />
      <source>Stop video to keep the voice clear on a weak link</source>
      <translation>网络较差时停止视频，保证语音清晰</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="88" />
      <source>Share images</source>
      <translation>共享影像</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="91" />
      <source>Show a series of this consultation to the other side, with live annotations</source>
      <translation>向对方展示本会诊的一个序列，双方可实时标注</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="94" />
      <source>Statistics</source>
      <translation>统计信息</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="96" />
      <source>Hang up</source>
      <translation>挂断</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="193" />
      <source>No camera found: the other side sees a test pattern</source>
      <translation>未找到摄像头：对方看到的是测试图像</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="195" />
      <source>Camera turned off by your IT department</source>
      <translation>摄像头已被信息科关闭</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="196" />
      <source>No microphone found: the other side cannot hear you</source>
      <translation>未找到麦克风：对方听不到您的声音</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="198" />
      <source>The microphone could not be opened: the other side cannot hear you</source>
      <translation>无法打开麦克风：对方听不到您的声音</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="200" />
      <source>Microphone turned off by your IT department</source>
      <translation>麦克风已被信息科关闭</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="215" />
      <source>Calling…</source>
      <translation>正在呼叫…</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="217" />
      <source>Connection lost, reconnecting… {0} s</source>
      <translation>连接中断，正在重新连接… {0} 秒</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="219" />
      <source>Connected</source>
      <translation>已连接</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="221" />
      <source>Connecting…</source>
      <translation>正在连接…</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="223" />
      <source>Call ended</source>
      <translation>通话已结束</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="234" />
      <source>The other side turned their camera off</source>
      <translation>对方已关闭摄像头</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="235" />
      <source>Video paused: the network is too slow. Voice continues.</source>
      <translation>网络太慢，视频已暂停，语音继续。</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="236" />
      <source>The other side switched to audio only</source>
      <translation>对方已切换为仅语音</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="239" />
      <source>Reconnecting…</source>
      <translation>正在重新连接…</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="245" />
      <source>Unmute</source>
      <translation>取消静音</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="249" />
      <source>Camera on</source>
      <translation>打开摄像头</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/window.py" line="262" />
      <source>Me</source>
      <translation>我</translation>
    </message>
  </context>
  <context>
    <name>CaseView</name>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="113" />
      <source>← Worklist</source>
      <translation>← 工作列表</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="123" />
      <source>Share images</source>
      <translation>共享影像</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="152" />
      <source>Request</source>
      <translation>申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="158" />
      <source>Kind</source>
      <translation>类别</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="158" />
      <source>Name</source>
      <translation>姓名</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="158" />
      <source>Size</source>
      <translation>大小</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="158" />
      <source>Downloaded</source>
      <translation>已下载</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="166" />
      <source>Open</source>
      <translation>打开</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="170" />
      <source>Open images in the viewer</source>
      <translation>在阅片器中打开影像</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="173" />
      <source>Attach a received study…</source>
      <translation>添加已接收的检查…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="176" />
      <source>Pull priors from the PACS…</source>
      <translation>从 PACS 调取既往检查…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="185" />
      <source>Attachments</source>
      <translation>附件</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="188" />
      <source>Timeline</source>
      <translation>时间线</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="195" />
      <source>Write report…</source>
      <translation>撰写报告…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="198" />
      <source>Amend signed report…</source>
      <translation>更正已签署的报告…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="201" />
      <source>Export PDF…</source>
      <translation>导出 PDF…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="204" />
      <source>Export for PACS (DICOM)…</source>
      <translation>导出为 DICOM（供影像归档系统）…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="211" />
      <location filename="../../app/ui/workflow/case_view.py" line="765" />
      <source>Report</source>
      <translation>报告</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="234" />
      <source>Images can be shared during a video call about this consultation.</source>
      <translation>在关于本会诊的视频通话中才能共享影像。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="236" />
      <source>The call under way is about another consultation.</source>
      <translation>当前通话属于另一个会诊。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="240" />
      <source>This consultation has no images to share.</source>
      <translation>本会诊没有可共享的影像。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="245" />
      <source>Show this consultation's images to the other side of the call.</source>
      <translation>向通话对方展示本会诊的影像。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="297" />
      <source>This consultation is not on this computer (yet).</source>
      <translation>这次会诊（还）不在本机上。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="330" />
      <source>any specialist</source>
      <translation>任一专家</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="339" />
      <source>From: {0}</source>
      <translation>申请方：{0}</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="341" />
      <source>To: {0}</source>
      <translation>会诊方：{0}</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="345" />
      <source>Call time: {0}</source>
      <translation>通话时间：{0}</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="349" />
      <source>the clinic</source>
      <translation>卫生院</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="351" />
      <source>the specialist</source>
      <translation>专家</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="355" />
      <source>Call time proposed by {who}: {time}</source>
      <translation>{who}提议的通话时间：{time}</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="361" />
      <source>Declined: {0}</source>
      <translation>已拒绝：{0}</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="401" />
      <source>Preliminary diagnosis</source>
      <translation>初步诊断</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="412" />
      <source>Signed by {name} ({who}) on {when}</source>
      <translation>由{name}（{who}）于 {when} 签署</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="430" />
      <source>on this computer</source>
      <translation>已在本机</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="448" />
      <source>signed the report</source>
      <translation>签署了报告</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="450" />
      <source>signed an amendment</source>
      <translation>签署了更正报告</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="467" />
      <source>A report is being written.</source>
      <translation>报告正在撰写中。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="469" />
      <source>No report yet.</source>
      <translation>尚无报告。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="489" />
      <source>Reason (the other side sees it):</source>
      <translation>原因（对方可见）：</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="506" />
      <source>Specialist:</source>
      <translation>专家：</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="565" />
      <source>Still downloading; it opens once it is here.</source>
      <translation>仍在下载，下载完成后打开。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="661" />
      <source>Downloading the images; the viewer opens when done.</source>
      <translation>正在下载影像，完成后打开阅片器。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="731" />
      <source>Export report</source>
      <translation>导出报告</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="731" />
      <source>PDF documents (*.pdf)</source>
      <translation>PDF 文档 (*.pdf)</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="745" />
      <source>Export for PACS</source>
      <translation>导出为 DICOM</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="745" />
      <source>DICOM files (*.dcm)</source>
      <translation>DICOM 文件 (*.dcm)</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="767" />
      <source>Amendment {n}</source>
      <translation>更正 {n}</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="807" />
      <source>Signed by {name} {title}, {facility}, on {when}</source>
      <translation>签署：{facility} {name} {title}，{when}</translation>
    </message>
  </context>
  <context>
    <name>ChatPanel</name>
    <message>
      <location filename="../../app/ui/call/chat.py" line="21" />
      <source>Type a message</source>
      <translation>输入消息</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/chat.py" line="23" />
      <source>Send</source>
      <translation>发送</translation>
    </message>
  </context>
  <context>
    <name>ClientController</name>
    <message>
      <location filename="../../app/ui/app.py" line="72" />
      <source>Hub: {url}</source>
      <translation>服务器：{url}</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="78" />
      <source>Hub: starting the local demo hub…</source>
      <translation>服务器：正在启动本地演示服务器…</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="85" />
      <source>Hub: local demo hub</source>
      <translation>服务器：本地演示服务器</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="98" />
      <source>Hub: the local demo hub did not start ({error})</source>
      <translation>服务器：本地演示服务器未能启动（{error}）</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="145" />
      <location filename="../../app/ui/app.py" line="153" />
      <source>local demo hub</source>
      <translation>本地演示服务器</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="146" />
      <source>Hub: connected ({where})</source>
      <translation>服务器：已连接（{where}）</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="157" />
      <source>Hub: certificate not trusted</source>
      <translation>服务器：证书不受信任</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="138" />
      <location filename="../../app/ui/app.py" line="159" />
      <source>Hub: offline — work continues locally</source>
      <translation>服务器：离线——可继续在本机工作</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="162" />
      <source>Hub: not ready ({where})</source>
      <translation>服务器：未就绪（{where}）</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="239" />
      <source>Settings</source>
      <translation>设置</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="240" />
      <source>The new language is used after YiQiao restarts.</source>
      <translation>新语言将在医桥重新启动后生效。</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="258" />
      <source>No secure credential store was found on this computer. For the demo, sign-in and encryption keys are kept in memory only and nothing is saved between runs. Ask IT to enable the system keyring before real use.</source>
      <translation>未在本机找到安全凭据存储。演示模式下，登录信息和加密密钥仅保存在内存中，退出后不保留任何数据。正式使用前请联系信息科启用系统密钥环。</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="266" />
      <source>Credential store</source>
      <translation>凭据存储</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="268" />
      <source>No secure credential store was found on this computer, so YiQiao cannot keep your sign-in or encryption keys safely and will not store them in a plain file. Ask IT to enable the system keyring (on Linux: GNOME Keyring or KWallet).</source>
      <translation>未在本机找到安全凭据存储，医桥无法安全保存您的登录信息和加密密钥，也不会将其以明文写入文件。请联系信息科启用系统密钥环（Linux：GNOME Keyring 或 KWallet）。</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="332" />
      <source>township clinic doctor</source>
      <translation>乡镇卫生院医生</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="333" />
      <source>radiology specialist</source>
      <translation>放射科专家</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="334" />
      <source>cardiology specialist</source>
      <translation>心内科专家</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="335" />
      <source>coordinator</source>
      <translation>协调员</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="336" />
      <source>administrator</source>
      <translation>管理员</translation>
    </message>
    <message>
      <location filename="../../app/ui/app.py" line="342" />
      <source>Demo accounts:</source>
      <translation>演示账号：</translation>
    </message>
  </context>
  <context>
    <name>ConflictDialog</name>
    <message>
      <location filename="../../app/ui/sync/conflict_dialog.py" line="52" />
      <source>Resolve conflicting edits</source>
      <translation>解决编辑冲突</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/conflict_dialog.py" line="64" />
      <source>This record was changed in two places before they could sync. Nothing has been lost: choose which value to keep for each field.</source>
      <translation>此记录在同步之前被两处修改。所有内容均已保留：请为每个字段选择要保留的值。</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/conflict_dialog.py" line="75" />
      <source>Field</source>
      <translation>字段</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/conflict_dialog.py" line="77" />
      <source>unknown user</source>
      <translation>未知用户</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/conflict_dialog.py" line="79" />
      <source>Version on the hub ({user})</source>
      <translation>中心服务器上的版本（{user}）</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/conflict_dialog.py" line="81" />
      <source>Edited version ({user})</source>
      <translation>修改后的版本（{user}）</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/conflict_dialog.py" line="114" />
      <source>Keep my choices</source>
      <translation>按我的选择保存</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/conflict_dialog.py" line="115" />
      <source>Decide later</source>
      <translation>稍后决定</translation>
    </message>
  </context>
  <context>
    <name>ConsultationStatus</name>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="16" />
      <source>Draft</source>
      <translation>草稿</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="17" />
      <source>Submitted</source>
      <translation>已提交</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="18" />
      <source>Accepted</source>
      <translation>已接受</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="19" />
      <source>Declined</source>
      <translation>已拒绝</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="20" />
      <source>Scheduled</source>
      <translation>已预约</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="21" />
      <source>In call</source>
      <translation>通话中</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="22" />
      <source>Reported</source>
      <translation>已出报告</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="23" />
      <source>Withdrawn</source>
      <translation>已撤回</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="24" />
      <source>Closed</source>
      <translation>已结案</translation>
    </message>
  </context>
  <context>
    <name>ConsultationsPage</name>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="76" />
      <source>Consultations</source>
      <translation>会诊</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="78" />
      <source>Consultation requests, the specialist worklist and reports appear here once you are signed in and the records have synced.</source>
      <translation>登录并完成记录同步后，会诊申请、专家工作列表和会诊报告将显示在这里。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="108" />
      <source>Open and recent</source>
      <translation>进行中和最近的</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="123" />
      <source>Any urgency</source>
      <translation>所有紧急程度</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="128" />
      <source>Any type</source>
      <translation>所有类型</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="133" />
      <location filename="../../app/ui/pages/consultations.py" line="257" />
      <source>Any requesting facility</source>
      <translation>所有申请机构</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="137" />
      <source>Sort: urgency, then waiting time</source>
      <translation>排序：紧急程度，其次等待时间</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="138" />
      <source>Sort: waiting time</source>
      <translation>排序：等待时间</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="139" />
      <source>Sort: status</source>
      <translation>排序：状态</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="140" />
      <source>Sort: requesting facility</source>
      <translation>排序：申请机构</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="141" />
      <source>Sort: type</source>
      <translation>排序：类型</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="144" />
      <source>Show finished</source>
      <translation>显示已结束的</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="160" />
      <source>New request…</source>
      <translation>新建申请…</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="163" />
      <source>Open case</source>
      <translation>打开病例</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="279" />
      <source>Our consultation requests</source>
      <translation>本院的会诊申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="281" />
      <source>Worklist: requests for me and my department</source>
      <translation>工作列表：发给我和本科室的申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="409" />
      <source>New request</source>
      <translation>新建申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="410" />
      <source>Choose or register the patient, then press “New consultation request”.</source>
      <translation>请选择或登记患者，然后点击“新建会诊申请”。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="464" />
      <source>Request submitted; it goes out with the next sync.</source>
      <translation>申请已提交，将在下次同步时发出。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="166" />
      <source>Resolve conflict…</source>
      <translation>解决冲突…</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="177" />
      <source>Patient</source>
      <translation>患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="178" />
      <source>Patient ID</source>
      <translation>患者编号</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="179" />
      <source>Sex</source>
      <translation>性别</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="180" />
      <source>Age</source>
      <translation>年龄</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="181" />
      <source>Type</source>
      <translation>类型</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="183" />
      <source>Status</source>
      <translation>状态</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="182" />
      <source>Urgency</source>
      <translation>紧急程度</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="184" />
      <source>From</source>
      <translation>来源</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="185" />
      <source>Who has it</source>
      <translation>承接方</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="186" />
      <source>Waiting</source>
      <translation>等待时间</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="187" />
      <source>Sync</source>
      <translation>同步</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="354" />
      <source>Not saved</source>
      <translation>未保存</translation>
    </message>
  </context>
  <context>
    <name>Coview</name>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="51" />
      <source>This series belongs to %1, not to this consultation's patient %2. It was not shared.</source>
      <translation>该序列属于 %1，不是本会诊的患者 %2，未共享。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="58" />
      <source>This series is not part of this consultation. It was not shared.</source>
      <translation>该序列不属于本会诊，未共享。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="93" />
      <source>Follow the presenter</source>
      <translation>跟随主讲人</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="95" />
      <location filename="../../app/ui/viewer/coview_link.py" line="446" />
      <source>Ask to present</source>
      <translation>申请主讲</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="96" />
      <source>Save to consultation</source>
      <translation>保存到会诊</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="97" />
      <source>Stop sharing</source>
      <translation>停止共享</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="284" />
      <source>The other side shared images of another patient; they were not shown.</source>
      <translation>对方共享的是另一位患者的影像，已拒绝显示。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="326" />
      <source>The shared series could not be opened on this computer.</source>
      <translation>共享的序列无法在本机打开。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="418" />
      <source>Patient: %1 (ID %2)</source>
      <translation>患者：%1（ID %2）</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="422" />
      <source>you</source>
      <translation>您</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="423" />
      <source>Shared images · presenter: %1</source>
      <translation>共享影像 · 主讲人：%1</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="427" />
      <source>fetching the series first: %1 of %2 images here, preview shown</source>
      <translation>正在优先下载该序列：已有 %1/%2 幅，先显示预览</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="431" />
      <source>fetching the series, preview shown</source>
      <translation>正在获取序列，先显示预览</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="435" />
      <source>%1 asks to present</source>
      <translation>%1 申请主讲</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="444" />
      <source>Hand over presenting</source>
      <translation>移交主讲</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="479" />
      <source>This consultation has no images to share.</source>
      <translation>本会诊没有可共享的影像。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/coview_link.py" line="548" />
      <source>Co-viewing annotations and measurements</source>
      <translation>共同阅片的标注与测量</translation>
    </message>
  </context>
  <context>
    <name>DicomCaseHooks</name>
    <message>
      <location filename="../../app/ui/dicom_net/case_hooks.py" line="45" />
      <location filename="../../app/ui/dicom_net/case_hooks.py" line="54" />
      <location filename="../../app/ui/dicom_net/case_hooks.py" line="76" />
      <source>Attach received study</source>
      <translation>附加收到的检查</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/case_hooks.py" line="46" />
      <source>No received study is waiting for this patient.</source>
      <translation>没有待处理的、属于该患者的检查。</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/case_hooks.py" line="55" />
      <source>Which study belongs to {name}? The received images are not changed.</source>
      <translation>哪个检查属于 {name}？收到的影像不会被修改。</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/case_hooks.py" line="105" />
      <source>Pull priors</source>
      <translation>调取既往检查</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/case_hooks.py" line="122" />
      <source>Pull priors for {name}</source>
      <translation>调取 {name} 的既往检查</translation>
    </message>
  </context>
  <context>
    <name>DicomCli</name>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="93" />
      <source>C-ECHO {node}: the PACS answers (status 0x{status:04X})</source>
      <translation>C-ECHO {node}：PACS 有应答（状态 0x{status:04X}）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="95" />
      <source>C-ECHO {node}: refused with status 0x{status:04X}</source>
      <translation>C-ECHO {node}：被拒绝，状态 0x{status:04X}</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="124" />
      <source>sent {sent} of {total} to {node}</source>
      <translation>已发送 {sent}/{total} 个到 {node}</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="172" />
      <source>{count} studies found at {node}</source>
      <translation>在 {node} 找到 {count} 个检查</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="174" />
      <source>{count} series found at {node}</source>
      <translation>在 {node} 找到 {count} 个序列</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="187" />
      <source>C-MOVE to {dest}: {done} done, {failed} failed, {warnings} warnings</source>
      <translation>C-MOVE 到 {dest}：完成 {done}，失败 {failed}，警告 {warnings}</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="211" />
      <source>C-GET into the inbox: {done} done, {failed} failed</source>
      <translation>C-GET 到收件箱：完成 {done}，失败 {failed}</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="235" />
      <source>stored {sop} ({patient_id} {name})</source>
      <translation>已保存 {sop}（{patient_id} {name}）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="249" />
      <source>listening on {address}:{port} as {ae}; Ctrl-C to stop</source>
      <translation>正在 {address}:{port} 以 {ae} 身份接收；按 Ctrl-C 停止</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="261" />
      <source>stopped</source>
      <translation>已停止</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="273" />
      <source>{count} instances</source>
      <translation>{count} 个图像</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="295" />
      <source>The passphrase was removed from the OS keyring.</source>
      <translation>已从系统密钥环中删除该口令。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="300" />
      <source>Passphrase of the DICOM TLS key: </source>
      <translation>DICOM TLS 私钥口令：</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="301" />
      <source>The same again: </source>
      <translation>再输入一次：</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="302" />
      <source>the two passphrases differ; nothing stored</source>
      <translation>两次输入的口令不一致，未保存</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="307" />
      <source>an empty passphrase; nothing stored</source>
      <translation>口令为空，未保存</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="317" />
      <source>the key {key} is not encrypted, so a passphrase does not protect it: encrypt it (openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out key-encrypted.pem), point dicom_tls_key at the new file and delete the old one</source>
      <translation>私钥 {key} 未加密，口令无法保护它：请先加密（openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out key-encrypted.pem），将 dicom_tls_key 指向新文件，并删除旧文件</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="329" />
      <source>nothing stored: {problem}</source>
      <translation>未保存：{problem}</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="333" />
      <source>The passphrase is stored in the OS keyring.</source>
      <translation>口令已保存到系统密钥环。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="341" />
      <source>YiQiao as a DICOM node (receive, echo, send, find, move, get)</source>
      <translation>医桥作为 DICOM 节点（接收、连通测试、发送、查询、移动、获取）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="344" />
      <source>examples:</source>
      <translation>示例：</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="352" />
      <source>AE@host:port (default: the dicom_pacs setting)</source>
      <translation>AE@主机:端口（默认：设置中的 dicom_pacs）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="356" />
      <source>our AE title (default: the dicom_ae_title setting)</source>
      <translation>本机 AE 名称（默认：设置中的 dicom_ae_title）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="361" />
      <source>DICOM TLS to --pacs, with the certificates from the settings</source>
      <translation>以 DICOM TLS 连接 --pacs，证书取自设置</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="368" />
      <source>patient ID</source>
      <translation>患者编号</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="370" />
      <source>patient name (prefix; * and ? allowed)</source>
      <translation>患者姓名（前缀；可用 * 和 ?）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="373" />
      <source>YYYYMMDD or a range YYYYMMDD-YYYYMMDD</source>
      <translation>年月日（YYYYMMDD），或范围 YYYYMMDD-YYYYMMDD</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="375" />
      <source>modality, e.g. CT</source>
      <translation>检查类型，例如 CT</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="376" />
      <location filename="../../app/dicom_net/cli.py" line="407" />
      <source>study instance UID</source>
      <translation>检查实例 UID</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="377" />
      <source>accession number</source>
      <translation>检查申请号</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="379" />
      <source>C-ECHO the PACS</source>
      <translation>测试与 PACS 的连通（C-ECHO）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="383" />
      <source>C-STORE files or folders to the PACS</source>
      <translation>把文件或文件夹发送到 PACS（C-STORE）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="385" />
      <source>DICOM files or folders</source>
      <translation>DICOM 文件或文件夹</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="389" />
      <source>send an anonymized copy (PS3.15 basic profile)</source>
      <translation>发送匿名化副本（PS3.15 基本规则）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="392" />
      <source>C-FIND studies or series</source>
      <translation>查询检查或序列（C-FIND）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="397" />
      <source>look for studies or for series</source>
      <translation>查询检查还是序列</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="402" />
      <source>C-MOVE a study to an AE (default: ours)</source>
      <translation>把检查移动到某个 AE（C-MOVE，默认：本机）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="403" />
      <source>C-GET a study into the inbox</source>
      <translation>把检查取到收件箱（C-GET）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="409" />
      <source>only this series</source>
      <translation>仅此序列</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="413" />
      <source>destination AE title (default: dicom_ae_title)</source>
      <translation>目标 AE 名称（默认：dicom_ae_title）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="416" />
      <source>run the Storage SCP until stopped</source>
      <translation>运行 DICOM 接收服务，直到停止</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="418" />
      <source>0 picks a free port (default: dicom_port)</source>
      <translation>0 表示自动选择空闲端口（默认：dicom_port）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="420" />
      <source>our AE title (default: dicom_ae_title)</source>
      <translation>本机 AE 名称（默认：dicom_ae_title）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="423" />
      <source>address to listen on (default: dicom_bind_address)</source>
      <translation>监听地址（默认：dicom_bind_address）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="426" />
      <source>list received studies</source>
      <translation>列出已接收的检查</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="431" />
      <source>store the passphrase of the encrypted DICOM TLS key (dicom_tls_key) in the OS keyring (asked for, or one line on standard input)</source>
      <translation>将加密的 DICOM TLS 私钥（dicom_tls_key）的口令保存到系统密钥环（交互输入，或从标准输入读取一行）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="438" />
      <source>remove it from the keyring</source>
      <translation>从密钥环中删除</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="445" />
      <source>error: {message}</source>
      <translation>错误：{message}</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="464" />
      <source>the encrypted DICOM inbox cannot be opened.</source>
      <translation>无法打开加密的 DICOM 收件箱。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="470" />
      <source>no PACS given: use --pacs AE@host:port or set dicom_pacs in settings</source>
      <translation>未指定 PACS：请用 --pacs AE@主机:端口，或在设置中填写 dicom_pacs</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/cli.py" line="476" />
      <source>{path}: no such file or folder</source>
      <translation>{path}：文件或文件夹不存在</translation>
    </message>
  </context>
  <context>
    <name>DicomNetWording</name>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="18" />
      <source>The PACS address is not valid (expected AE_TITLE@host:port).</source>
      <translation>PACS 地址无效（应为 AE名称@地址:端口）。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="22" />
      <source>The PACS cannot be reached: check its address and port and the network.</source>
      <translation>无法连接 PACS：请检查地址、端口和网络。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="27" />
      <source>The PACS refused the connection: check that it knows our AE title.</source>
      <translation>PACS 拒绝了连接：请确认 PACS 已登记本机的 AE 名称。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="31" />
      <source>The PACS stopped answering (connection lost or timed out).</source>
      <translation>PACS 没有响应（连接中断或超时）。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="35" />
      <source>The DICOMweb server refused the request (HTTP {status}).</source>
      <translation>DICOMweb 服务器拒绝了请求（HTTP {status}）。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="39" />
      <source>The DICOMweb server's reply could not be read.</source>
      <translation>无法读取 DICOMweb 服务器的回复。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="41" />
      <source>Choose a study first.</source>
      <translation>请先选择一个检查。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="43" />
      <source>The DICOM TLS settings cannot be used: check the certificate, key and CA files.</source>
      <translation>DICOM TLS 设置无法使用：请检查证书、私钥和根证书文件。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="48" />
      <source>The DICOM receiver could not start.</source>
      <translation>DICOM 接收服务无法启动。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="50" />
      <source>The local DICOM store could not be used.</source>
      <translation>无法使用本机的 DICOM 存储。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="52" />
      <source>The DICOM operation failed.</source>
      <translation>DICOM 操作失败。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="59" />
      <source>Stored</source>
      <translation>已保存</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="61" />
      <source>Not sent</source>
      <translation>未发送</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="63" />
      <source>Stored with warning (0x{code:04X})</source>
      <translation>已保存，有警告（0x{code:04X}）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="67" />
      <source>Refused: PACS out of resources (0x{code:04X})</source>
      <translation>被拒绝：PACS 资源不足（0x{code:04X}）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="71" />
      <source>Refused: data does not match its class (0x{code:04X})</source>
      <translation>被拒绝：数据与其类型不符（0x{code:04X}）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="75" />
      <source>Refused: PACS cannot read it (0x{code:04X})</source>
      <translation>被拒绝：PACS 无法读取（0x{code:04X}）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_net/wording.py" line="78" />
      <source>Failed (0x{code:04X})</source>
      <translation>失败（0x{code:04X}）</translation>
    </message>
  </context>
  <context>
    <name>DicomNetworkPage</name>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="82" />
      <source>Receive images from modalities and the PACS</source>
      <translation>接收设备和 PACS 发来的影像</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="86" />
      <source>Set by your IT department.</source>
      <translation>由信息科统一设置。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="95" />
      <source>Only studies not yet matched to a patient</source>
      <translation>只显示尚未关联患者的检查</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="103" />
      <source>Received</source>
      <translation>接收时间</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="103" />
      <source>Patient (as sent)</source>
      <translation>患者（影像中的）</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="103" />
      <source>Study date</source>
      <translation>检查日期</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="104" />
      <source>Modality</source>
      <translation>设备类型</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="104" />
      <source>Images</source>
      <translation>图像数</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="104" />
      <source>From</source>
      <translation>来源</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="105" />
      <source>Registry patient</source>
      <translation>登记的患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="117" />
      <source>No studies received yet. Set the CT or DR console to send to this computer (AE title and port are shown above), or search the PACS.</source>
      <translation>尚未收到检查。请在 CT 或 DR 工作站上把本机设为发送目标（AE 名称和端口见上方），或检索 PACS。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="125" />
      <location filename="../../app/ui/pages/dicom_network.py" line="390" />
      <source>Open in viewer</source>
      <translation>在阅片器中打开</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="127" />
      <source>Match to patient…</source>
      <translation>关联患者…</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="129" />
      <source>Attach to consultation…</source>
      <translation>附加到会诊…</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="131" />
      <source>Send to PACS…</source>
      <translation>发送到 PACS…</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="133" />
      <source>Search the PACS…</source>
      <translation>检索 PACS…</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="161" />
      <source>Listening as AE title {ae} on port {port}.</source>
      <translation>正在接收：AE 名称 “{ae}”，端口 {port}。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="165" />
      <source>Starting…</source>
      <translation>正在启动…</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="169" />
      <source>Not receiving. AE title {ae}, port {port}.</source>
      <translation>未开启接收。AE 名称 “{ae}”，端口 {port}。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="226" />
      <source>Not matched</source>
      <translation>未关联</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="275" />
      <source>{name} · ID {id}</source>
      <translation>{name} · 编号 {id}</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="279" />
      <source>Match to patient</source>
      <translation>关联患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="280" />
      <source>Which registered patient is this study of? The received images are not changed; only the link is recorded.</source>
      <translation>这个检查属于哪位登记的患者？收到的影像不会被修改，只记录关联关系。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="312" />
      <location filename="../../app/ui/pages/dicom_network.py" line="324" />
      <location filename="../../app/ui/pages/dicom_network.py" line="354" />
      <source>Attach to consultation</source>
      <translation>附加到会诊</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="313" />
      <source>{name} has no consultation yet. Create one first.</source>
      <translation>{name} 还没有会诊申请，请先新建。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="317" />
      <source>(no reason given)</source>
      <translation>（未填写原因）</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="325" />
      <source>Attach this study to which consultation of {name}?</source>
      <translation>把这个检查附加到 {name} 的哪一次会诊？</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/dicom_network.py" line="349" />
      <source>The study was attached to the consultation.</source>
      <translation>检查已附加到会诊。</translation>
    </message>
  </context>
  <context>
    <name>DocumentDialog</name>
    <message>
      <location filename="../../app/ui/workflow/document_view.py" line="29" />
      <source>Opening…</source>
      <translation>正在打开…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/document_view.py" line="51" />
      <source>{n} page(s)</source>
      <translation>共 {n} 页</translation>
    </message>
  </context>
  <context>
    <name>DuplicateDialog</name>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="160" />
      <source>Possible duplicate</source>
      <translation>可能重复登记</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="164" />
      <source>This patient may already be registered. Use the existing record so that their history stays in one place.</source>
      <translation>该患者可能已经登记过。请使用已有记录，使病历保存在一处。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="173" />
      <source>same resident ID number</source>
      <translation>身份证号相同</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="175" />
      <source>same name and date of birth</source>
      <translation>姓名和出生日期相同</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="181" />
      <source>Use the existing patient</source>
      <translation>使用已有患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="184" />
      <source>Save as a new patient</source>
      <translation>登记为新患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="186" />
      <source>Back to the form</source>
      <translation>返回表单</translation>
    </message>
  </context>
  <context>
    <name>EarlierPasswordDialog</name>
    <message>
      <location filename="../../app/ui/sync/earlier_password_dialog.py" line="37" />
      <source>Open kept work with an earlier password</source>
      <translation>用以前的密码打开保留的工作</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/earlier_password_dialog.py" line="43" />
      <source>This computer lost the key to your local records, and your password has been changed since. Work that had not reached the hub was kept, locked with the password you used before the change.

Enter that earlier password to send the work to the hub. If it does not open, nothing is deleted: you can try again at any time. The hub and IT cannot open these files without that password.</source>
      <translation>本机丢失了本地记录的密钥，而且此后您的密码已经更改。尚未发送到服务器的工作已保留下来，用更改前的密码加密。

请输入以前的密码，把这些工作发送到服务器。如果打不开，不会删除任何内容，您可以随时再试。没有该密码，服务器和信息科也无法打开这些文件。</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/earlier_password_dialog.py" line="53" />
      <source>Kept:</source>
      <translation>保留的文件：</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/earlier_password_dialog.py" line="59" />
      <source>Earlier password</source>
      <translation>以前的密码</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/earlier_password_dialog.py" line="68" />
      <source>Unlock and send</source>
      <translation>解锁并发送</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/earlier_password_dialog.py" line="70" />
      <source>Later</source>
      <translation>以后再说</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/earlier_password_dialog.py" line="80" />
      <source>Enter the earlier password.</source>
      <translation>请输入以前的密码。</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/earlier_password_dialog.py" line="94" />
      <source>This password does not open the kept work. Nothing was changed; try another password you used before.</source>
      <translation>此密码打不开保留的工作。没有做任何更改；请试试您以前用过的其他密码。</translation>
    </message>
  </context>
  <context>
    <name>EcgView</name>
    <message>
      <location filename="../../app/ui/viewer/ecg_view.py" line="34" />
      <source>%1  ID: %2  —  25 mm/s, 10 mm/mV, %3 leads</source>
      <translation>%1  ID：%2  —  走纸速度 25 mm/s，增益 10 mm/mV，%3 导联</translation>
    </message>
  </context>
  <context>
    <name>ExportCli</name>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="41" />
      <source>Render a DICOM frame to PNG/JPEG as the viewer shows it.</source>
      <translation>把一帧 DICOM 图像按阅片器的显示效果导出为 PNG/JPEG。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="45" />
      <source>DICOM image file</source>
      <translation>DICOM 图像文件</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="46" />
      <source>output .png or .jpg</source>
      <translation>输出文件（.png 或 .jpg）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="51" />
      <source>frame number, 1-based (default 1)</source>
      <translation>帧号，从 1 开始（默认 1）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="57" />
      <source>CENTER,WIDTH in modality units</source>
      <translation>窗位,窗宽（CENTER,WIDTH，模态单位）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="63" />
      <source>presentation state to apply</source>
      <translation>要应用的显示状态（GSPS）文件</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="69" />
      <source>viewport WIDTHxHEIGHT (default: image)</source>
      <translation>视口大小 宽x高（WIDTHxHEIGHT，默认：图像大小）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="74" />
      <source>pixels only: no annotations or corner text</source>
      <translation>只输出像素：不画标注和四角信息</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="89" />
      <source>--window expects CENTER,WIDTH, got {text}</source>
      <translation>--window 应为 窗位,窗宽（CENTER,WIDTH），实际为 {text}</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="95" />
      <source>--window width must be a number ≥ 1, got {text}</source>
      <translation>--window 的窗宽应为 ≥ 1 的数字，实际为 {text}</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="201" />
      <source>--size expects WIDTHxHEIGHT, got {text}</source>
      <translation>--size 应为 宽x高（WIDTHxHEIGHT），实际为 {text}</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="207" />
      <source>--size must be between 16 and 16384 pixels each way</source>
      <translation>--size 的宽和高都应在 16 到 16384 像素之间</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="213" />
      <source>the output file must end in .png, .jpg or .jpeg: {path}</source>
      <translation>输出文件的扩展名应为 .png、.jpg 或 .jpeg：{path}</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="232" />
      <location filename="../../app/dicom_viewer/export_cli.py" line="242" />
      <source>the DICOM file could not be read or shown.</source>
      <translation>无法读取或显示该 DICOM 文件。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="237" />
      <source>a file could not be read or written.</source>
      <translation>无法读取或写入文件。</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="247" />
      <source>wrote {path} ({width}x{height})</source>
      <translation>已写入 {path}（{width}x{height}）</translation>
    </message>
    <message>
      <location filename="../../app/dicom_viewer/export_cli.py" line="256" />
      <source>export: error: {message}</source>
      <translation>导出：错误：{message}</translation>
    </message>
  </context>
  <context>
    <name>HubCli</name>
    <message>
      <location filename="../../hub/__main__.py" line="131" />
      <source>--tls-cert and --tls-key go together</source>
      <translation>--tls-cert 和 --tls-key 必须同时给出</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="134" />
      <source>TLS file {path} does not exist</source>
      <translation>TLS 文件 {path} 不存在</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="137" />
      <source>refusing to serve plain HTTP on {host}: patient data would cross the network unencrypted. Either serve TLS (--tls-cert FILE --tls-key FILE), or put a TLS reverse proxy in front (deploy/, see docs/deployment.md) and say so with --behind-proxy [--trusted-proxy ADDRESS]</source>
      <translation>拒绝在 {host} 上提供未加密的 HTTP 服务：患者数据将以明文经过网络。请启用 TLS（--tls-cert 文件 --tls-key 文件），或在前面放置 TLS 反向代理（deploy/，见 docs/deployment.md）并加上 --behind-proxy [--trusted-proxy 地址]</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="147" />
      <source>error: {message}</source>
      <translation>错误：{message}</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="161" />
      <source>seeded demo data</source>
      <translation>已写入演示数据</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="163" />
      <source>demo data already present</source>
      <translation>演示数据已存在</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="176" />
      <source>new password: </source>
      <translation>新密码：</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="177" />
      <source>repeat: </source>
      <translation>再输入一次：</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="178" />
      <source>passwords differ</source>
      <translation>两次输入的密码不一致</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="194" />
      <source>facility {id} created</source>
      <translation>已创建机构 {id}</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="211" />
      <source>user {name} created ({id})</source>
      <translation>已创建用户 {name}（{id}）</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="223" />
      <source>password of {name} reset; their sessions ended</source>
      <translation>已重置 {name} 的密码；其登录会话已结束</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="230" />
      <source>user {name} disabled</source>
      <translation>已停用用户 {name}</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="232" />
      <source>user {name} enabled</source>
      <translation>已启用用户 {name}</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="270" />
      <source>YiQiao hub server</source>
      <translation>医桥中心服务器</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="279" />
      <source>folder for the SQLite file and blobs</source>
      <translation>存放 SQLite 数据库和文件的文件夹</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="284" />
      <source>postgresql://user:pass@host/db (default: SQLite in --data)</source>
      <translation>postgresql://用户:密码@主机/数据库（默认：--data 中的 SQLite）</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="287" />
      <source>run the HTTP server</source>
      <translation>运行 HTTP 服务器</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="289" />
      <source>address to listen on</source>
      <translation>监听地址</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="290" />
      <source>port to listen on</source>
      <translation>监听端口</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="294" />
      <source>write the bound port here (useful with --port 0)</source>
      <translation>把实际监听的端口写入此文件（配合 --port 0 使用）</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="299" />
      <source>seed demo data first (idempotent)</source>
      <translation>先写入演示数据（可重复执行）</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="305" />
      <source>largest file accepted, in bytes</source>
      <translation>可接受的最大文件（字节）</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="311" />
      <source>bytes per facility; 0 = unlimited</source>
      <translation>每个机构的存储配额（字节）；0 表示不限</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="314" />
      <source>debug, info, warning or error</source>
      <translation>日志级别：debug、info、warning 或 error</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="319" />
      <source>serve HTTPS with this PEM certificate (chain)</source>
      <translation>用此 PEM 证书（链）提供 HTTPS 服务</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="322" />
      <source>the certificate's PEM private key</source>
      <translation>证书的 PEM 私钥</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="327" />
      <source>a TLS reverse proxy fronts this hub: allow a non-loopback --host and believe X-Forwarded-For/-Proto from loopback (or from --trusted-proxy)</source>
      <translation>本服务器前面有 TLS 反向代理：允许非本机的 --host，并信任来自本机（或 --trusted-proxy）的 X-Forwarded-For/-Proto</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="338" />
      <source>address or network of a reverse proxy whose forwarded headers are believed (repeatable; nobody's by default)</source>
      <translation>可信反向代理的地址或网段，信任其转发头（可重复；默认不信任任何代理）</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="349" />
      <source>shut down gracefully when process PID exits (the embedded demo hub)</source>
      <translation>进程 PID 退出时平稳关闭（内置演示服务器使用）</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="357" />
      <source>seed demo facilities, users, patients and consultations</source>
      <translation>写入演示用的机构、用户、患者和会诊</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="362" />
      <source>facilities, users, passwords, audit</source>
      <translation>管理机构、用户、密码和审计记录</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="365" />
      <source>create a facility</source>
      <translation>创建机构</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="366" />
      <location filename="../../hub/__main__.py" line="385" />
      <source>facility id</source>
      <translation>机构编号</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="367" />
      <source>facility name</source>
      <translation>机构名称</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="371" />
      <source>township_clinic | county_hospital | provincial_center</source>
      <translation>机构类型：township_clinic（乡镇卫生院）| county_hospital（县医院）| provincial_center（省级中心）</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="374" />
      <source>blob quota in bytes</source>
      <translation>文件存储配额（字节）</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="376" />
      <source>list facilities</source>
      <translation>列出机构</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="377" />
      <source>create a user</source>
      <translation>创建用户</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="378" />
      <location filename="../../hub/__main__.py" line="397" />
      <location filename="../../hub/__main__.py" line="408" />
      <source>sign-in name</source>
      <translation>登录名</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="379" />
      <source>display name</source>
      <translation>显示姓名</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="383" />
      <source>clinic_doctor | specialist | coordinator | admin</source>
      <translation>角色：clinic_doctor（基层医生）| specialist（专家）| coordinator（协调员）| admin（管理员）</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="386" />
      <source>department</source>
      <translation>科室</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="388" />
      <source>professional title (职称), e.g. 主任医师</source>
      <translation>职称，例如 主任医师</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="393" />
      <location filename="../../hub/__main__.py" line="401" />
      <source>(else $YIQIAO_HUB_PASSWORD or a prompt)</source>
      <translation>（否则取 $YIQIAO_HUB_PASSWORD，或提示输入）</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="395" />
      <source>list users</source>
      <translation>列出用户</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="396" />
      <source>reset a password</source>
      <translation>重置密码</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="404" />
      <source>disable a user (ends their sessions)</source>
      <translation>停用用户（结束其登录会话）</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="405" />
      <source>enable a user again</source>
      <translation>重新启用用户</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="410" />
      <source>list the audit trail, newest first</source>
      <translation>列出审计记录，最新的在前</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="411" />
      <source>only this patient id</source>
      <translation>仅此患者编号</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="412" />
      <source>only this user name</source>
      <translation>仅此用户名</translation>
    </message>
    <message>
      <location filename="../../hub/__main__.py" line="414" />
      <source>at most this many entries</source>
      <translation>最多显示条数</translation>
    </message>
    <message>
      <location filename="../../hub/accounts.py" line="38" />
      <source>facility id: lowercase letters, digits, '-', '_' or '.', at most 64</source>
      <translation>机构编号只能用小写字母、数字、“-”、“_”或“.”，最多 64 个字符</translation>
    </message>
    <message>
      <location filename="../../hub/accounts.py" line="46" />
      <source>kind must be one of {choices}</source>
      <translation>机构类型应为以下之一：{choices}</translation>
    </message>
    <message>
      <location filename="../../hub/accounts.py" line="50" />
      <source>facility name must not be empty</source>
      <translation>机构名称不能为空</translation>
    </message>
    <message>
      <location filename="../../hub/accounts.py" line="56" />
      <source>facility {id} already exists</source>
      <translation>机构 {id} 已存在</translation>
    </message>
    <message>
      <location filename="../../hub/accounts.py" line="84" />
      <source>username: lowercase letters, digits, '-', '_' or '.', at most 64</source>
      <translation>用户名只能用小写字母、数字、“-”、“_”或“.”，最多 64 个字符</translation>
    </message>
    <message>
      <location filename="../../hub/accounts.py" line="92" />
      <source>role must be one of {choices}</source>
      <translation>角色应为以下之一：{choices}</translation>
    </message>
    <message>
      <location filename="../../hub/accounts.py" line="96" />
      <location filename="../../hub/accounts.py" line="131" />
      <source>password must have at least 8 characters</source>
      <translation>密码至少需要 8 个字符</translation>
    </message>
    <message>
      <location filename="../../hub/accounts.py" line="104" />
      <source>no facility {id}; create it first</source>
      <translation>机构 {id} 不存在；请先创建</translation>
    </message>
    <message>
      <location filename="../../hub/accounts.py" line="109" />
      <source>user {name} already exists</source>
      <translation>用户 {name} 已存在</translation>
    </message>
    <message>
      <location filename="../../hub/accounts.py" line="136" />
      <location filename="../../hub/accounts.py" line="148" />
      <source>no user {name}</source>
      <translation>用户 {name} 不存在</translation>
    </message>
  </context>
  <context>
    <name>IncomingCallDialog</name>
    <message>
      <location filename="../../app/ui/call/incoming.py" line="18" />
      <source>Incoming call</source>
      <translation>来电</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/incoming.py" line="23" />
      <source>Patient: looking up…</source>
      <translation>患者：正在查找…</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/incoming.py" line="33" />
      <source>Accept</source>
      <translation>接受</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/incoming.py" line="35" />
      <source>Decline</source>
      <translation>拒绝</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/incoming.py" line="44" />
      <source>is calling you</source>
      <translation>正在呼叫您</translation>
    </message>
  </context>
  <context>
    <name>LoginDialog</name>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="70" />
      <source>Sign in to YiQiao</source>
      <translation>登录医桥</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="74" />
      <source>(starting the local demo hub…)</source>
      <translation>（正在启动本地演示服务器…）</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="81" />
      <source>Hub:</source>
      <translation>服务器：</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="82" />
      <source>&amp;Username:</source>
      <translation>用户名(&amp;U)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="83" />
      <source>&amp;Password:</source>
      <translation>密码(&amp;P)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="99" />
      <source>Sign in</source>
      <translation>登录</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="116" />
      <source>Enter your username and password.</source>
      <translation>请输入用户名和密码。</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="122" />
      <source>Waiting for the hub to start…</source>
      <translation>正在等待服务器启动…</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="159" />
      <source>The hub refused the sign-in: {reason}</source>
      <translation>服务器拒绝登录：{reason}</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="155" />
      <source>Signed in, but this computer has no secure credential store to keep the sign-in safely. Ask IT to enable the system keyring.</source>
      <translation>已登录，但本机没有安全凭据存储，无法安全保存登录信息。请联系信息科启用系统密钥环。</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="164" />
      <source>Sign-in failed: {reason}</source>
      <translation>登录失败：{reason}</translation>
    </message>
    <message>
      <location filename="../../app/ui/login_dialog.py" line="125" />
      <source>Signing in…</source>
      <translation>正在登录…</translation>
    </message>
  </context>
  <context>
    <name>Main</name>
    <message>
      <location filename="../../main.py" line="34" />
      <source>usage: </source>
      <translation>用法：</translation>
    </message>
    <message>
      <location filename="../../main.py" line="36" />
      <source>commands:
  export IN.dcm OUT.png [--frame N] [--window C,W] [--gsps PR.dcm]
                        render a DICOM image as the viewer shows it into a PNG
                        (see: export --help)
  dicom receive|echo|send|find|move|get|inbox …
                        act as a DICOM node without the window (see: dicom --help)
  hub serve|admin|demo …
                        run the hub server, manage its accounts or seed demo data
                        (see: hub --help)</source>
      <translation>子命令：
  export IN.dcm OUT.png [--frame N] [--window C,W] [--gsps PR.dcm]
                        按阅片器显示的样子把 DICOM 图像导出为 PNG
                        （详见 “export --help”）
  dicom receive|echo|send|find|move|get|inbox …
                        不打开窗口，作为 DICOM 节点工作（详见 “dicom --help”）
  hub serve|admin|demo …
                        运行服务器、管理其账号或填入演示数据
                        （详见 “hub --help”）</translation>
    </message>
    <message>
      <location filename="../../main.py" line="50" />
      <source>YiQiao remote consultation: the desktop client.</source>
      <translation>医桥远程会诊：桌面客户端。</translation>
    </message>
    <message>
      <location filename="../../main.py" line="55" />
      <source>options</source>
      <translation>选项</translation>
    </message>
    <message>
      <location filename="../../main.py" line="57" />
      <source>show this help and exit</source>
      <translation>显示本帮助并退出</translation>
    </message>
    <message>
      <location filename="../../main.py" line="62" />
      <source>the language of the window (default: settings, else the system's)</source>
      <translation>窗口语言（默认：按设置，否则跟随系统）</translation>
    </message>
    <message>
      <location filename="../../main.py" line="67" />
      <source>check decoders, devices, keyring, encrypted cache and hub, write a report and exit (non-zero on a failure; see: --self-check --help)</source>
      <translation>检查解码器、设备、密钥库、加密缓存和服务器，写出报告后退出（有失败时返回非零；详见 “--self-check --help”）</translation>
    </message>
  </context>
  <context>
    <name>MainWindow</name>
    <message>
      <location filename="../../app/ui/main_window.py" line="91" />
      <source>YiQiao Remote Consultation</source>
      <translation>医桥远程会诊</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="109" />
      <source>Navigation</source>
      <translation>导航</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="113" />
      <source>Consultations</source>
      <translation>会诊</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="114" />
      <source>Patients</source>
      <translation>患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="115" />
      <source>Viewer</source>
      <translation>影像查看</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="116" />
      <source>Call</source>
      <translation>视频通话</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="117" />
      <source>DICOM network</source>
      <translation>DICOM 网络</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="215" />
      <source>&amp;File</source>
      <translation>文件(&amp;F)</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="216" />
      <source>Sign &amp;in…</source>
      <translation>登录(&amp;I)…</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="218" />
      <source>Sign &amp;out</source>
      <translation>退出登录(&amp;O)</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="221" />
      <source>&amp;Settings…</source>
      <translation>设置(&amp;S)…</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="224" />
      <source>Export &amp;diagnostics…</source>
      <translation>导出诊断信息(&amp;D)…</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="226" />
      <source>&amp;Quit</source>
      <translation>退出(&amp;Q)</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="236" />
      <source>&amp;Go</source>
      <translation>转到(&amp;G)</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="244" />
      <source>&amp;Help</source>
      <translation>帮助(&amp;H)</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="245" />
      <source>&amp;About YiQiao</source>
      <translation>关于医桥(&amp;A)</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="251" />
      <source>Hub: not connected</source>
      <translation>服务器：未连接</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="256" />
      <location filename="../../app/ui/main_window.py" line="287" />
      <source>Not signed in</source>
      <translation>未登录</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="290" />
      <source>{name} · {facility}</source>
      <translation>{name} · {facility}</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="305" />
      <location filename="../../app/ui/main_window.py" line="319" />
      <source>Export diagnostics</source>
      <translation>导出诊断信息</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="305" />
      <source>Zip archives (*.zip)</source>
      <translation>Zip 压缩包 (*.zip)</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="315" />
      <source>Diagnostics saved to {path}</source>
      <translation>诊断信息已保存到 {path}</translation>
    </message>
    <message>
      <location filename="../../app/ui/main_window.py" line="320" />
      <source>Could not save: {error}</source>
      <translation>无法保存：{error}</translation>
    </message>
  </context>
  <context>
    <name>MprView</name>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="284" />
      <source>Back to the stack</source>
      <translation>返回序列</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="289" />
      <source>Crosshair</source>
      <translation>十字线</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="289" />
      <source>Rotate planes</source>
      <translation>旋转平面</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="289" />
      <source>Length</source>
      <translation>长度</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="295" />
      <source>Thin</source>
      <translation>薄层</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="295" />
      <location filename="../../app/ui/viewer/mpr_view.py" line="521" />
      <source>MIP</source>
      <translation>MIP 最大密度投影</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="295" />
      <location filename="../../app/ui/viewer/mpr_view.py" line="521" />
      <source>MinIP</source>
      <translation>MinIP 最小密度投影</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="295" />
      <location filename="../../app/ui/viewer/mpr_view.py" line="521" />
      <source>Average</source>
      <translation>平均</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="297" />
      <source>Thick slab</source>
      <translation>厚层</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="303" />
      <source> mm</source>
      <translation> 毫米</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="304" />
      <source>Slab thickness</source>
      <translation>厚层厚度</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="307" />
      <source>Reset planes</source>
      <translation>复位平面</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="326" />
      <source>Axial</source>
      <translation>轴位</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="327" />
      <source>Coronal</source>
      <translation>冠状位</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="328" />
      <source>Sagittal</source>
      <translation>矢状位</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="342" />
      <source>Building the volume…</source>
      <translation>正在建立容积…</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="364" />
      <source>This series cannot be reformatted: %1</source>
      <translation>此序列无法进行多平面重建：%1</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="368" />
      <source>Reformatting failed: %1</source>
      <translation>多平面重建失败：%1</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="375" />
      <source>only %1 image(s): a volume needs at least %2</source>
      <translation>仅有 %1 幅图像：容积至少需要 %2 幅</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="376" />
      <source>colour images are not reformatted</source>
      <translation>彩色图像不做多平面重建</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="377" />
      <source>the images carry no orientation</source>
      <translation>图像缺少方位信息</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="378" />
      <source>the images carry no pixel spacing</source>
      <translation>图像缺少像素间距</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="379" />
      <source>image %1 has no position</source>
      <translation>第 %1 幅图像缺少位置信息</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="380" />
      <source>image %1 is oriented differently from the first</source>
      <translation>第 %1 幅图像的方位与第一幅不同</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="381" />
      <source>image %1 has a different size from the first</source>
      <translation>第 %1 幅图像的尺寸与第一幅不同</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="382" />
      <source>image %1 has a different pixel spacing from the first</source>
      <translation>第 %1 幅图像的像素间距与第一幅不同</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="383" />
      <source>the slices are not in position order</source>
      <translation>层面未按位置排序</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="384" />
      <source>two slices share a position (duplicates or several stacks)</source>
      <translation>两个层面位置相同（重复或包含多组层面）</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="385" />
      <source>gantry tilt of about %1°: the slices are sheared</source>
      <translation>机架倾斜约 %1°：层面错位</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="386" />
      <source>%1 slice(s) missing (a gap of %2 mm where slices are %3 mm apart)</source>
      <translation>缺少 %1 个层面（层间距 %3 毫米处出现 %2 毫米的间隙）</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="387" />
      <source>slice spacing varies from %1 to %2 mm</source>
      <translation>层间距不一致，从 %1 到 %2 毫米</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="388" />
      <source>cancelled</source>
      <translation>已取消</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="389" />
      <source>image %1 decoded to an unexpected size</source>
      <translation>第 %1 幅图像解码后的尺寸不符</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="509" />
      <source>ID</source>
      <translation>ID</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="518" />
      <source>%1 (oblique)</source>
      <translation>%1（斜位）</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="522" />
      <source>mm</source>
      <translation>毫米</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="526" />
      <source>W</source>
      <translation>窗宽</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="526" />
      <source>L</source>
      <translation>窗位</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/mpr_view.py" line="534" />
      <source>Pixel %1 mm (reformatted)</source>
      <translation>像素 %1 毫米（重建）</translation>
    </message>
  </context>
  <context>
    <name>NetworkBars</name>
    <message>
      <location filename="../../app/ui/call/bars.py" line="32" />
      <source>No connection</source>
      <translation>无连接</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/bars.py" line="33" />
      <source>Very poor network</source>
      <translation>网络极差</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/bars.py" line="34" />
      <source>Poor network</source>
      <translation>网络较差</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/bars.py" line="35" />
      <source>Fair network</source>
      <translation>网络一般</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/bars.py" line="36" />
      <source>Good network</source>
      <translation>网络良好</translation>
    </message>
  </context>
  <context>
    <name>NoticeBanner</name>
    <message>
      <location filename="../../app/ui/main_window.py" line="55" />
      <source>Dismiss</source>
      <translation>关闭</translation>
    </message>
  </context>
  <context>
    <name>Notifier</name>
    <message>
      <location filename="../../app/ui/workflow/notifier.py" line="24" />
      <source>The other side</source>
      <translation>对方</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/notifier.py" line="26" />
      <source>New request from {who}</source>
      <translation>{who}发来新的会诊申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/notifier.py" line="27" />
      <source>{who} accepted the request</source>
      <translation>{who}接受了申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/notifier.py" line="28" />
      <source>{who} declined the request: {reason}</source>
      <translation>{who}拒绝了申请：{reason}</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/notifier.py" line="29" />
      <source>{who} proposed a call at {time}</source>
      <translation>{who}提议在 {time} 通话</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/notifier.py" line="30" />
      <source>{who} confirmed the call at {time}</source>
      <translation>{who}确认在 {time} 通话</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/notifier.py" line="33" />
      <source>{who} withdrew the request: {reason}</source>
      <translation>{who}撤回了申请：{reason}</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/notifier.py" line="34" />
      <source>{who} assigned the request to you</source>
      <translation>{who}将申请指派给您</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/notifier.py" line="35" />
      <source>{who} started the video call</source>
      <translation>{who}开始了视频通话</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/notifier.py" line="36" />
      <source>{who} filed the report</source>
      <translation>{who}提交了报告</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/notifier.py" line="37" />
      <source>{who} signed the report</source>
      <translation>{who}签署了报告</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/notifier.py" line="38" />
      <source>The video call starts at {time}</source>
      <translation>视频通话将于 {time} 开始</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/notifier.py" line="40" />
      <source>The consultation changed</source>
      <translation>会诊有更新</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/notifier.py" line="63" />
      <location filename="../../app/ui/workflow/notifier.py" line="148" />
      <source>YiQiao</source>
      <translation>医桥</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/notifier.py" line="82" />
      <source>Notifications ({n})</source>
      <translation>通知（{n}）</translation>
    </message>
  </context>
  <context>
    <name>PatientBanner</name>
    <message>
      <location filename="../../app/ui/workflow/banner.py" line="37" />
      <source>Clinic no. {0}</source>
      <translation>门诊号 {0}</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/banner.py" line="39" />
      <source>Resident ID {0}</source>
      <translation>身份证 {0}</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/banner.py" line="41" />
      <source>Allergies: {0}</source>
      <translation>过敏史：{0}</translation>
    </message>
  </context>
  <context>
    <name>PatientDialog</name>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="40" />
      <source>New patient</source>
      <translation>新患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="40" />
      <source>Edit patient</source>
      <translation>编辑患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="46" />
      <source>Resident ID number</source>
      <translation>居民身份证号</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="47" />
      <source>18 characters; fills in birth date and sex</source>
      <translation>18 位；自动填入出生日期和性别</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="51" />
      <source>Female</source>
      <translation>女</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="52" />
      <source>Male</source>
      <translation>男</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="53" />
      <source>Other</source>
      <translation>其他</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="63" />
      <source>Address</source>
      <translation>地址</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="64" />
      <source>Allergies</source>
      <translation>过敏史</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="65" />
      <source>Chronic conditions</source>
      <translation>慢性病</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="66" />
      <source>e.g. hypertension, type 2 diabetes</source>
      <translation>例如：高血压、2 型糖尿病</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="67" />
      <source>Clinic patient number</source>
      <translation>门诊号</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="113" />
      <source>From the ID number: born {date}, {sex}.</source>
      <translation>根据身份证号：出生于 {date}，{sex}。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="50" />
      <source>Unknown</source>
      <translation>未知</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="45" />
      <source>Name</source>
      <translation>姓名</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="59" />
      <source>Sex</source>
      <translation>性别</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="60" />
      <source>Date of birth</source>
      <translation>出生日期</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="61" />
      <source>year-month-day, e.g. 1956-03-15</source>
      <translation>年-月-日，例如 1956-03-15</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/patient_dialog.py" line="62" />
      <source>Phone</source>
      <translation>电话</translation>
    </message>
  </context>
  <context>
    <name>PatientIdentity</name>
    <message>
      <location filename="../../app/ui/sync/identity.py" line="15" />
      <source>Male</source>
      <translation>男</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/identity.py" line="16" />
      <source>Female</source>
      <translation>女</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/identity.py" line="17" />
      <source>Other</source>
      <translation>其他</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/identity.py" line="18" />
      <source>Unknown</source>
      <translation>未知</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/identity.py" line="24" />
      <source>(patient not synced yet)</source>
      <translation>（患者信息尚未同步）</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/identity.py" line="28" />
      <source>{n} y</source>
      <translation>{n} 岁</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/identity.py" line="30" />
      <source>age unknown</source>
      <translation>年龄不详</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/identity.py" line="40" />
      <source>ID {id}</source>
      <translation>编号 {id}</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/identity.py" line="41" />
      <source>none</source>
      <translation>无</translation>
    </message>
  </context>
  <context>
    <name>PatientsPage</name>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="128" />
      <source>Patients</source>
      <translation>患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="130" />
      <source>Sign in to see and register patients. Registration works without a network connection.</source>
      <translation>登录后可查看和登记患者。无网络时也可以登记。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="144" />
      <source>New patient…</source>
      <translation>新患者…</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="153" />
      <source>Name</source>
      <translation>姓名</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="155" />
      <source>Sex</source>
      <translation>性别</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="156" />
      <source>Age</source>
      <translation>年龄</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="157" />
      <source>Sync</source>
      <translation>同步</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="211" />
      <source>Record vital signs…</source>
      <translation>记录生命体征…</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="199" />
      <source>Clinical note</source>
      <translation>临床记录</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="140" />
      <source>Search: name, pinyin initials, resident ID, phone or clinic number</source>
      <translation>搜索：姓名、拼音首字母、身份证号、电话或门诊号</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="154" />
      <source>Clinic number</source>
      <translation>门诊号</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="181" />
      <source>Edit…</source>
      <translation>编辑…</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="183" />
      <source>New consultation request…</source>
      <translation>新建会诊申请…</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="200" />
      <source>Add note</source>
      <translation>添加记录</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="205" />
      <source>History</source>
      <translation>病历记录</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="213" />
      <source>Import home meter CSV…</source>
      <translation>导入家用仪器 CSV…</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="223" />
      <source>Follow-up chart</source>
      <translation>随访图表</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="302" />
      <source>Select a patient</source>
      <translation>请选择患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="312" />
      <source>Allergies: {0}</source>
      <translation>过敏史：{0}</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="315" />
      <source>Chronic conditions: {0}</source>
      <translation>慢性病：{0}</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="422" />
      <source>Import home meter CSV</source>
      <translation>导入家用仪器 CSV</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="422" />
      <source>CSV files (*.csv)</source>
      <translation>CSV 文件 (*.csv)</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="442" />
      <source>{n} measurement(s) imported.</source>
      <translation>已导入 {n} 条测量数据。</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="444" />
      <source>Rows not imported:</source>
      <translation>未导入的行：</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="446" />
      <source>line {line}: {problem}</source>
      <translation>第 {line} 行：{problem}</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="349" />
      <source>Not saved</source>
      <translation>未保存</translation>
    </message>
  </context>
  <context>
    <name>PolicyBanner</name>
    <message>
      <location filename="../../app/ui/main_window.py" line="76" />
      <source>Some settings could not be applied:</source>
      <translation>部分设置未能生效：</translation>
    </message>
  </context>
  <context>
    <name>Problem</name>
    <message>
      <location filename="../../app/ui/workflow/wording.py" line="27" />
      <source>This step belongs to the other side of the consultation (or to a coordinator): you cannot take it.</source>
      <translation>这一步属于会诊的另一方（或协调员），您不能执行。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/wording.py" line="32" />
      <source>This step is not possible in the consultation's current state.</source>
      <translation>会诊当前的状态下不能执行这一步。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/wording.py" line="35" />
      <source>A signed report cannot be changed. Write an amendment that says what is corrected.</source>
      <translation>已签署的报告不能修改。请写一份更正，说明更正了什么。</translation>
    </message>
  </context>
  <context>
    <name>QueryDialog</name>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="47" />
      <source>Search the PACS</source>
      <translation>检索 PACS</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="52" />
      <source>DICOM (C-FIND)</source>
      <translation>DICOM 查询</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="53" />
      <source>DICOMweb (QIDO-RS)</source>
      <translation>DICOMweb（QIDO-RS）</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="56" />
      <source>Search via</source>
      <translation>检索方式</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="59" />
      <source>start of the name; * and ? allowed</source>
      <translation>姓名开头；可用 * 和 ?</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="66" />
      <source>YYYYMMDD</source>
      <translation>年月日，如 20240131</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="69" />
      <source>to</source>
      <translation>至</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="73" />
      <source>Any</source>
      <translation>不限</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="74" />
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="85" />
      <source>Patient ID</source>
      <translation>患者编号</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="75" />
      <source>Name</source>
      <translation>姓名</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="76" />
      <source>Study date</source>
      <translation>检查日期</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="77" />
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="85" />
      <source>Modality</source>
      <translation>设备类型</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="79" />
      <source>Search</source>
      <translation>检索</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="85" />
      <source>Patient</source>
      <translation>患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="85" />
      <source>Date</source>
      <translation>日期</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="86" />
      <source>Description</source>
      <translation>描述</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="98" />
      <source>C-MOVE to this computer</source>
      <translation>由 PACS 推送到本机</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="99" />
      <source>C-GET</source>
      <translation>C-GET</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="100" />
      <source>WADO-RS (DICOMweb)</source>
      <translation>WADO-RS（DICOMweb）</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="103" />
      <source>Retrieve</source>
      <translation>调取</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="106" />
      <source>Retrieve with</source>
      <translation>调取方式</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="135" />
      <source>Searching…</source>
      <translation>正在检索…</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="151" />
      <source>{n} studies found.</source>
      <translation>找到 {n} 个检查。</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="174" />
      <source>{modality} series {number}: {n} images</source>
      <translation>{modality} 序列 {number}：{n} 幅图像</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="190" />
      <source>C-MOVE needs this computer's DICOM receiver: turn receiving on first.</source>
      <translation>由 PACS 推送需要本机的 DICOM 接收服务：请先开启接收。</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="195" />
      <source>Retrieving…</source>
      <translation>正在调取…</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/query_dialog.py" line="210" />
      <source>{n} images retrieved into the DICOM inbox.</source>
      <translation>已调取 {n} 幅图像到 DICOM 收件箱。</translation>
    </message>
  </context>
  <context>
    <name>ReceiveStatusLabel</name>
    <message>
      <location filename="../../app/ui/dicom_net/service.py" line="220" />
      <source>Receiving DICOM from {ae}: {n} images {patient}</source>
      <translation>正在接收 “{ae}” 的 DICOM：{n} 幅 {patient}</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/service.py" line="226" />
      <source>DICOM: {ae} on port {port}</source>
      <translation>DICOM：“{ae}”，端口 {port}</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/service.py" line="235" />
      <source>last: {n} images from {ae}</source>
      <translation>上次：“{ae}” 发来 {n} 幅</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/service.py" line="239" />
      <source>(incomplete)</source>
      <translation>（不完整）</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/service.py" line="242" />
      <source>DICOM receiver starting…</source>
      <translation>DICOM 接收服务正在启动…</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/service.py" line="244" />
      <source>DICOM receiver not running</source>
      <translation>DICOM 接收服务未运行</translation>
    </message>
  </context>
  <context>
    <name>RecordField</name>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="31" />
      <source>Name</source>
      <translation>姓名</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="32" />
      <source>Username</source>
      <translation>用户名</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="33" />
      <source>Password</source>
      <translation>密码</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="34" />
      <source>Patient ID</source>
      <translation>患者编号</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="35" />
      <source>Sex</source>
      <translation>性别</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="36" />
      <source>Date of birth</source>
      <translation>出生日期</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="37" />
      <source>Phone</source>
      <translation>电话</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="38" />
      <source>ID card number</source>
      <translation>身份证号</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="39" />
      <source>Address</source>
      <translation>地址</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="40" />
      <source>Status</source>
      <translation>状态</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="41" />
      <source>Reason for consultation</source>
      <translation>会诊原因</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="42" />
      <source>Urgency</source>
      <translation>紧急程度</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="43" />
      <source>Department</source>
      <translation>科室</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="44" />
      <source>Consulting hospital</source>
      <translation>会诊医院</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="45" />
      <source>Specialist</source>
      <translation>专家</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="46" />
      <source>Scheduled for</source>
      <translation>预约时间</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="47" />
      <source>Reason for declining</source>
      <translation>拒绝原因</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="48" />
      <source>Text</source>
      <translation>文字</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="49" />
      <source>Category</source>
      <translation>类别</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="50" />
      <source>Measured at</source>
      <translation>测量时间</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="51" />
      <source>Systolic BP (mmHg)</source>
      <translation>收缩压（mmHg）</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="52" />
      <source>Diastolic BP (mmHg)</source>
      <translation>舒张压（mmHg）</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="53" />
      <source>Heart rate (/min)</source>
      <translation>心率（次/分）</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="54" />
      <source>SpO2 (%)</source>
      <translation>SpO2（%）</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="55" />
      <source>Blood glucose (mmol/L)</source>
      <translation>血糖（mmol/L）</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="56" />
      <source>Temperature (°C)</source>
      <translation>体温（°C）</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="57" />
      <source>Kind</source>
      <translation>类别</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="58" />
      <source>Title</source>
      <translation>标题</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="59" />
      <source>Files</source>
      <translation>文件</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="60" />
      <source>Study UID</source>
      <translation>检查 UID</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="61" />
      <source>Series</source>
      <translation>序列</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="62" />
      <source>Conclusion</source>
      <translation>结论</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="63" />
      <source>Signed</source>
      <translation>已签署</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="64" />
      <source>Annotations</source>
      <translation>标注</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="82" />
      <source>Routine</source>
      <translation>普通</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="83" />
      <source>Urgent</source>
      <translation>加急</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/field_labels.py" line="84" />
      <source>Emergency</source>
      <translation>急诊</translation>
    </message>
  </context>
  <context>
    <name>RecordText</name>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="82" />
      <source>Blood pressure {s}/{d} mmHg</source>
      <translation>血压 {s}/{d} mmHg</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="87" />
      <source>Heart rate {v} /min</source>
      <translation>心率 {v} 次/分</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="88" />
      <source>SpO2 {v} %</source>
      <translation>SpO2 {v} %</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="89" />
      <source>Blood glucose {v} mmol/L</source>
      <translation>血糖 {v} mmol/L</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="90" />
      <source>Temperature {v} °C</source>
      <translation>体温 {v} °C</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="91" />
      <source>Weight {v} kg</source>
      <translation>体重 {v} kg</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="103" />
      <source>Vital signs</source>
      <translation>生命体征</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="105" />
      <source>Vital signs (home meter)</source>
      <translation>生命体征（家用仪器）</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="107" />
      <source>Follow-up visit</source>
      <translation>随访</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="119" />
      <source>Consultation request</source>
      <translation>会诊申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="124" />
      <source>Consultation report</source>
      <translation>会诊报告</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="126" />
      <source>Consultation report, amendment {n}</source>
      <translation>会诊报告，更正 {n}</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="141" />
      <source>Signed by {name} on {when}</source>
      <translation>{name} 于 {when} 签署</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="146" />
      <source>Not signed yet</source>
      <translation>尚未签署</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="150" />
      <source>Clinical note</source>
      <translation>临床记录</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="163" />
      <source>Image annotations</source>
      <translation>影像标注</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="165" />
      <source>{n} annotation(s)</source>
      <translation>{n} 个标注</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="169" />
      <source>Registration</source>
      <translation>登记</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/record_text.py" line="175" />
      <source>Record</source>
      <translation>记录</translation>
    </message>
  </context>
  <context>
    <name>ReportEditor</name>
    <message>
      <location filename="../../app/ui/workflow/report_editor.py" line="43" />
      <source>Report</source>
      <translation>报告</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/report_editor.py" line="45" />
      <source>Amendment (version {n})</source>
      <translation>更正（第 {n} 版）</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/report_editor.py" line="52" />
      <source>What is corrected, and why</source>
      <translation>更正了什么，为什么</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/report_editor.py" line="81" />
      <source>Hospital</source>
      <translation>医院</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/report_editor.py" line="83" />
      <source>Department</source>
      <translation>科室</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/report_editor.py" line="85" />
      <source>Plan for managing the patient locally</source>
      <translation>本地治疗方案</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/report_editor.py" line="96" />
      <source>Signed by: {name} {title} · {facility}</source>
      <translation>签署人：{name} {title} · {facility}</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/report_editor.py" line="111" />
      <source>Save draft</source>
      <translation>保存草稿</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/report_editor.py" line="113" />
      <location filename="../../app/ui/workflow/report_editor.py" line="160" />
      <source>Sign report</source>
      <translation>签署报告</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/report_editor.py" line="116" />
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/report_editor.py" line="162" />
      <source>After signing, the report cannot be changed; corrections are made as amendments. Sign now?</source>
      <translation>签署后报告不能再修改，更正须以更正报告的形式提交。现在签署吗？</translation>
    </message>
  </context>
  <context>
    <name>ReportExport</name>
    <message>
      <location filename="../../app/ui/workflow/export.py" line="87" />
      <source>Remote consultation report</source>
      <translation>远程会诊报告</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/export.py" line="102" />
      <source>Saved to {path}</source>
      <translation>已保存到 {path}</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/export.py" line="110" />
      <source>Export failed: {0}</source>
      <translation>导出失败：{0}</translation>
    </message>
  </context>
  <context>
    <name>RequestFormWidget</name>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="116" />
      <source>Consultation request</source>
      <translation>会诊申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="127" />
      <source>Type and consulting side</source>
      <translation>会诊类型与会诊方</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="142" />
      <source>Chief physician</source>
      <translation>主任医师</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="142" />
      <source>Associate chief physician</source>
      <translation>副主任医师</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="163" />
      <source>Request</source>
      <translation>申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="188" />
      <source>Preliminary diagnosis</source>
      <translation>初步诊断</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="192" />
      <source>Type a diagnosis or an ICD-10 code</source>
      <translation>输入诊断名称或 ICD-10 编码</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="204" />
      <source>Attachments</source>
      <translation>附件</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="213" />
      <source>DICOM from the viewer</source>
      <translation>阅片器中的 DICOM</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="214" />
      <source>DICOM folder…</source>
      <translation>DICOM 文件夹…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="215" />
      <source>Photo…</source>
      <translation>照片…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="216" />
      <source>Camera snapshot</source>
      <translation>摄像头拍照</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="217" />
      <source>ECG…</source>
      <translation>心电图…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="218" />
      <source>PDF…</source>
      <translation>PDF…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="233" />
      <source>Informed consent (远程医疗服务知情同意书)</source>
      <translation>知情同意（远程医疗服务知情同意书）</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="237" />
      <source>Explain the remote consultation to the patient. The patient (or a guardian or close relative) signs the consent form; attach a photo or scan of it.</source>
      <translation>请向患者说明远程会诊服务。由患者（或其监护人、近亲属）签署知情同意书，并附上同意书的照片或扫描件。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="246" />
      <source>— choose —</source>
      <translation>— 请选择 —</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="247" />
      <source>Patient</source>
      <translation>患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="248" />
      <source>Guardian</source>
      <translation>监护人</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="249" />
      <source>Close relative</source>
      <translation>近亲属</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="256" />
      <source>e.g. daughter</source>
      <translation>例如：女儿</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="262" />
      <source>Attach signed form…</source>
      <translation>添加签字的同意书…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="265" />
      <source>No scan attached</source>
      <translation>未添加扫描件</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="286" />
      <source>Close (draft is kept)</source>
      <translation>关闭（保留草稿）</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="288" />
      <source>Submit request</source>
      <translation>提交申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="337" />
      <source>— choose a hospital —</source>
      <translation>— 选择医院 —</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="343" />
      <source>— no hospitals known yet: connect once to load the directory —</source>
      <translation>— 尚无医院列表：请联网一次以加载目录 —</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="349" />
      <source>— choose a department —</source>
      <translation>— 选择科室 —</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="357" />
      <source>Any specialist of the department</source>
      <translation>该科室任一专家</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="404" />
      <source>Editing…</source>
      <translation>编辑中…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="450" />
      <source>Draft saved at {time}</source>
      <translation>草稿已于 {time} 保存</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="462" />
      <source>Draft not saved</source>
      <translation>草稿未保存</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="502" />
      <source>DICOM folder</source>
      <translation>DICOM 文件夹</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="507" />
      <source>Pictures (*.jpg *.jpeg *.png)</source>
      <translation>图片 (*.jpg *.jpeg *.png)</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="508" />
      <source>ECG files (*.dcm *.xml *.pdf *.jpg *.png)</source>
      <translation>心电图文件 (*.dcm *.xml *.pdf *.jpg *.png)</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="509" />
      <source>PDF documents (*.pdf)</source>
      <translation>PDF 文档 (*.pdf)</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="511" />
      <source>Attach files</source>
      <translation>添加附件</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="519" />
      <source>Adding {n} file(s)…</source>
      <translation>正在添加 {n} 个文件…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="535" />
      <source>{n} attachment(s) added.</source>
      <translation>已添加 {n} 个附件。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="549" />
      <source>The viewer has no study open: open one there first, or pick a folder.</source>
      <translation>阅片器中没有打开的检查：请先在阅片器中打开，或选择文件夹。</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="557" />
      <source>Taking a picture…</source>
      <translation>正在拍照…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="581" />
      <source>No camera picture: {0}</source>
      <translation>未能拍照：{0}</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="590" />
      <source>Signed consent form</source>
      <translation>签字的知情同意书</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/request_form.py" line="592" />
      <source>Pictures or PDF (*.jpg *.jpeg *.png *.pdf)</source>
      <translation>图片或 PDF (*.jpg *.jpeg *.png *.pdf)</translation>
    </message>
  </context>
  <context>
    <name>SelfCheck</name>
    <message>
      <location filename="../../app/selfcheck.py" line="47" />
      <source>PASS</source>
      <translation>通过</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="48" />
      <source>WARN</source>
      <translation>警告</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="49" />
      <source>SKIP</source>
      <translation>跳过</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="50" />
      <source>FAIL</source>
      <translation>失败</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="51" />
      <source>Build</source>
      <translation>版本</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="52" />
      <source>System</source>
      <translation>操作系统</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="53" />
      <source>Policy</source>
      <translation>策略</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="54" />
      <source>policy file</source>
      <translation>策略文件</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="55" />
      <source>registry</source>
      <translation>注册表</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="56" />
      <source>locked keys</source>
      <translation>锁定的设置</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="57" />
      <source>translations</source>
      <translation>界面翻译</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="58" />
      <source>DICOM decoders</source>
      <translation>DICOM 解码器</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="59" />
      <source>decoders</source>
      <translation>解码器</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="60" />
      <source>samples</source>
      <translation>样例</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="61" />
      <source>Devices</source>
      <translation>设备</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="62" />
      <source>device listing</source>
      <translation>设备列表</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="63" />
      <source>cameras</source>
      <translation>摄像头</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="64" />
      <source>microphones</source>
      <translation>麦克风</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="65" />
      <source>Media</source>
      <translation>音视频</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="66" />
      <source>codecs</source>
      <translation>编解码器</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="67" />
      <source>VP8 video</source>
      <translation>VP8 视频</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="68" />
      <source>Opus audio</source>
      <translation>Opus 音频</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="69" />
      <source>Keyring</source>
      <translation>密钥库</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="70" />
      <source>backend</source>
      <translation>后端</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="71" />
      <source>Encrypted cache</source>
      <translation>加密缓存</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="72" />
      <source>cache</source>
      <translation>缓存</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="73" />
      <source>user caches</source>
      <translation>用户缓存</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="74" />
      <source>Hub</source>
      <translation>服务器</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="75" />
      <source>hub</source>
      <translation>服务器</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="76" />
      <source>hub client</source>
      <translation>服务器客户端</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="77" />
      <source>CA certificate</source>
      <translation>CA 证书</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="78" />
      <source>TLS trust</source>
      <translation>TLS 信任</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="79" />
      <source>check</source>
      <translation>检查</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="87" />
      <source>the only credential store available writes secrets to a plain file; YiQiao refuses it</source>
      <translation>唯一可用的凭据存储会把机密写入明文文件，医桥拒绝使用</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="91" />
      <source>no secure credential store was found (Windows: Credential Manager; Linux: a running, unlocked Secret Service such as GNOME Keyring or KWallet)</source>
      <translation>未找到安全的凭据存储（Windows：凭据管理器；Linux：已运行并解锁的 Secret Service，例如 GNOME Keyring 或 KWallet）</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="135" />
      <source>bundle at {path}</source>
      <translation>安装包位于 {path}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="137" />
      <source>source, {path}</source>
      <translation>源代码运行，{path}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="144" />
      <source>{version} ({where})</source>
      <translation>{version}（{where}）</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="161" />
      <source>{path} (present)</source>
      <translation>{path}（存在）</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="163" />
      <source>{path} (absent: no file policy)</source>
      <translation>{path}（不存在：无文件策略）</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="175" />
      <source>{value} (locked by {source})</source>
      <translation>{value}（由 {source} 锁定）</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="186" />
      <source>none: every setting is the user's</source>
      <translation>无：所有设置均由用户决定</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="207" />
      <source>missing {path} (run `make translations`)</source>
      <translation>缺少 {path}（请运行 make translations）</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="218" />
      <source>PySide6 cannot be imported: {error}</source>
      <translation>无法导入 PySide6：{error}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="228" />
      <source>Qt could not load {path}</source>
      <translation>Qt 无法加载 {path}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="236" />
      <source>{name} loaded (Qt {version})</source>
      <translation>已加载 {name}（Qt {version}）</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="253" />
      <location filename="../../app/selfcheck.py" line="293" />
      <location filename="../../app/selfcheck.py" line="354" />
      <location filename="../../app/selfcheck.py" line="515" />
      <location filename="../../app/selfcheck.py" line="712" />
      <source>not available in this build: {error}</source>
      <translation>此版本中不可用：{error}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="263" />
      <source>no DICOM samples shipped in {path}</source>
      <translation>{path} 中没有随附的 DICOM 样例</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="275" />
      <source>not exercised: {detail}</source>
      <translation>未实际测试：{detail}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="304" />
      <source>listing devices failed: {error}</source>
      <translation>列出设备失败：{error}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="315" />
      <source>turned off by policy</source>
      <translation>已被策略关闭</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="325" />
      <source>none found (calls will be audio-only or receive-only)</source>
      <translation>未找到（通话将只有音频或只接收）</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="384" />
      <source>encoding failed: {error}</source>
      <translation>编码失败：{error}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="396" />
      <source>one frame encoded to {size} bytes (aiortc {aiortc}, PyAV {pyav})</source>
      <translation>一帧编码为 {size} 字节（aiortc {aiortc}，PyAV {pyav}）</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="418" />
      <source>the keyring failed: {error}</source>
      <translation>密钥库出错：{error}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="433" />
      <source>sqlcipher3 missing: {error}</source>
      <translation>缺少 sqlcipher3：{error}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="457" />
      <source>round trip failed: {error}</source>
      <translation>写入后读回失败：{error}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="466" />
      <source>no cipher in this SQLite build</source>
      <translation>此 SQLite 版本不含加密功能</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="484" />
      <source>the probe database was readable without its key</source>
      <translation>测试数据库无需密钥即可读取</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="492" />
      <source>SQLCipher {version}: encrypted round trip</source>
      <translation>SQLCipher {version}：加密写入并读回成功</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="528" />
      <source>no key can be kept: {error}</source>
      <translation>无法保存密钥：{error}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="544" />
      <source>a new cache cannot be opened: {error}</source>
      <translation>无法打开新缓存：{error}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="554" />
      <source>a new cache opens and migrates (schema v{version})</source>
      <translation>新缓存可以打开并完成升级（结构版本 {version}）</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="566" />
      <source>none yet (nobody has signed in here)</source>
      <translation>暂无（尚无人在本机登录）</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="584" />
      <source>{path}: kept; its unsent work is sent at the user's next sign-in with their password, then the file is retired</source>
      <translation>{path}：已保留；用户下次用密码登录时会发送其中尚未发送的内容，随后停用此文件</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="590" />
      <source>{path}: kept, but it has no password-protected copy of its key: it cannot be opened on this computer</source>
      <translation>{path}：已保留，但没有受密码保护的密钥副本，无法在本机打开</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="620" />
      <source>{path}: its key is not in the keyring (the keyring was reset?); YiQiao will set the file aside at sign-in, download a fresh copy and send its unsent work with the user's password</source>
      <translation>{path}：密钥库中没有它的密钥（密钥库被重置了？）；登录时医桥会将此文件另存、重新下载记录，并用用户的密码发送其中尚未发送的内容</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="638" />
      <source>{path} cannot be opened with its key: {error}</source>
      <translation>{path} 无法用其密钥打开：{error}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="649" />
      <source>{path} is damaged: {error}</source>
      <translation>{path} 已损坏：{error}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="656" />
      <source>opens with its key, intact (schema v{version}, {size} MB)</source>
      <translation>可用其密钥打开，完好（结构版本 {version}，{size} MB）</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="671" />
      <source>no hub_url configured (the embedded demo hub is used)</source>
      <translation>未配置 hub_url（使用内置演示服务器）</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="686" />
      <source>{path}: {count} certificate(s)</source>
      <translation>{path}：{count} 个证书</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="697" />
      <source>{path} is not a usable PEM file: {error}</source>
      <translation>{path} 不是可用的 PEM 文件：{error}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="719" />
      <source>verified against {path}</source>
      <translation>已用 {path} 验证</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="721" />
      <source>verified against the public CAs shipped with YiQiao</source>
      <translation>已用医桥自带的公共 CA 证书列表验证</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="739" />
      <source>{url}: 200 in {ms} ms</source>
      <translation>{url}：200，用时 {ms} 毫秒</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="750" />
      <source>{url}: HTTP {status}</source>
      <translation>{url}：HTTP {status}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="765" />
      <source>hub_url is plain http: traffic is not encrypted</source>
      <translation>hub_url 是明文 http：通信未加密</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="877" />
      <source>the check itself crashed: {error}</source>
      <translation>检查本身出错：{error}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="889" />
      <source>YiQiao self-check — {time}</source>
      <translation>医桥自检 — {time}</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="898" />
      <source>set-aside cache of {profile}</source>
      <translation>“{profile}” 的另存缓存</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="899" />
      <source>cache of {profile}</source>
      <translation>“{profile}” 的缓存</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="908" />
      <source>FAILED</source>
      <translation>未通过</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="908" />
      <source>OK</source>
      <translation>正常</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="910" />
      <source>Result: {verdict} ({passed} passed, {warnings} warnings, {skipped} skipped, {failed} failed)</source>
      <translation>结果：{verdict}（{passed} 项通过，{warnings} 项警告，{skipped} 项跳过，{failed} 项失败）</translation>
    </message>
  </context>
  <context>
    <name>SelfCheckCli</name>
    <message>
      <location filename="../../app/selfcheck.py" line="950" />
      <source>Check that this install can do its job and write a report for IT.</source>
      <translation>检查本机安装能否正常工作，并为信息科写出报告。</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="955" />
      <source>print the results as JSON</source>
      <translation>以 JSON 格式输出结果</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="960" />
      <source>language of the report (default: the language setting, else the system's)</source>
      <translation>报告的语言（默认：设置中的语言，否则跟随系统）</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="968" />
      <source>also write the report to this file</source>
      <translation>同时把报告写入此文件</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="973" />
      <source>open the saved report afterwards (the Start menu shortcut: a windowed exe prints nowhere)</source>
      <translation>完成后打开保存的报告（供开始菜单快捷方式使用：窗口程序没有控制台输出）</translation>
    </message>
    <message>
      <location filename="../../app/selfcheck.py" line="982" />
      <source>use an in-memory keyring (testing only: nothing is stored)</source>
      <translation>使用内存中的密钥库（仅供测试：不保存任何内容）</translation>
    </message>
  </context>
  <context>
    <name>SendDialog</name>
    <message>
      <location filename="../../app/ui/dicom_net/send_dialog.py" line="38" />
      <source>Send to PACS</source>
      <translation>发送到 PACS</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/send_dialog.py" line="42" />
      <source>Study</source>
      <translation>检查</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/send_dialog.py" line="44" />
      <source>AE_TITLE@host:port, e.g. PACS@10.1.2.3:104</source>
      <translation>AE名称@地址:端口，如 PACS@10.1.2.3:104</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/send_dialog.py" line="47" />
      <source>Set by your IT department.</source>
      <translation>由信息科统一设置。</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/send_dialog.py" line="48" />
      <source>PACS</source>
      <translation>PACS</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/send_dialog.py" line="50" />
      <source>Anonymise (remove patient identity; for teaching and second opinions)</source>
      <translation>匿名化（去除患者身份信息；用于教学和第二意见）</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/send_dialog.py" line="59" />
      <source>Instance</source>
      <translation>图像</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/send_dialog.py" line="59" />
      <source>Result</source>
      <translation>结果</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/send_dialog.py" line="69" />
      <source>Send</source>
      <translation>发送</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/send_dialog.py" line="93" />
      <source>Sending…</source>
      <translation>正在发送…</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/send_dialog.py" line="123" />
      <source>{ok} of {n} instances stored by the PACS.</source>
      <translation>PACS 已保存 {n} 幅中的 {ok} 幅。</translation>
    </message>
    <message>
      <location filename="../../app/ui/dicom_net/send_dialog.py" line="126" />
      <source>{n} failed: see the list.</source>
      <translation>{n} 幅失败，见列表。</translation>
    </message>
  </context>
  <context>
    <name>SeriesBrowser</name>
    <message>
      <location filename="../../app/ui/viewer/series_browser.py" line="60" />
      <source>%1 image(s)</source>
      <translation>%1 幅图像</translation>
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
      <location filename="../../app/ui/setting_problems.py" line="38" />
      <source>{source}: the file cannot be read; defaults are used.</source>
      <translation>{source}：文件无法读取，已使用默认设置。</translation>
    </message>
    <message>
      <location filename="../../app/ui/setting_problems.py" line="42" />
      <source>{source}: '{key}' is not a setting IT can set; it is ignored.</source>
      <translation>{source}：“{key}”不是信息科可设置的项目，已忽略。</translation>
    </message>
    <message>
      <location filename="../../app/ui/setting_problems.py" line="45" />
      <source>{source}: '{key}' = {value} is not valid (expected {expected}); using {used} instead.</source>
      <translation>{source}：“{key}” = {value} 无效（应为{expected}），已改用 {used}。</translation>
    </message>
  </context>
  <context>
    <name>SettingsDialog</name>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="37" />
      <location filename="../../app/ui/settings_dialog.py" line="237" />
      <source>Settings</source>
      <translation>设置</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="44" />
      <source>General</source>
      <translation>常规</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="47" />
      <source>Follow the system</source>
      <translation>跟随系统</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="52" />
      <source>&amp;Language:</source>
      <translation>语言(&amp;L)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="55" />
      <source>Normal</source>
      <translation>正常</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="56" />
      <source>Detailed (for IT)</source>
      <translation>详细（供信息科使用）</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="57" />
      <source>Warnings only</source>
      <translation>仅警告</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="58" />
      <source>Errors only</source>
      <translation>仅错误</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="61" />
      <source>Log &amp;detail:</source>
      <translation>日志详细程度(&amp;D)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="62" />
      <source>Check for updates automatically</source>
      <translation>自动检查更新</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="63" />
      <source>Updates:</source>
      <translation>更新：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="65" />
      <source>Network</source>
      <translation>网络</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="67" />
      <source>Empty: use the local demo hub</source>
      <translation>留空：使用本地演示服务器</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="68" />
      <source>&amp;Hub address:</source>
      <translation>服务器地址(&amp;H)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="70" />
      <source>Browse…</source>
      <translation>浏览…</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="78" />
      <source>&amp;CA certificate:</source>
      <translation>CA 证书(&amp;C)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="80" />
      <source>system, none, or http://proxy:3128</source>
      <translation>system（系统）、none（不使用）或 http://proxy:3128</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="81" />
      <source>&amp;Proxy:</source>
      <translation>代理(&amp;P)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="83" />
      <source>DICOM network</source>
      <translation>DICOM 网络</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="84" />
      <source>Receive images sent to this computer</source>
      <translation>接收发送到本机的影像</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="85" />
      <source>Receiving:</source>
      <translation>接收：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="88" />
      <source>Our &amp;AE title:</source>
      <translation>本机 &amp;AE 名称：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="91" />
      <source>Our p&amp;ort:</source>
      <translation>本机端&amp;口：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="93" />
      <source>Listen on address:</source>
      <translation>监听地址：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="96" />
      <source>Empty: anyone; else AE titles or IP addresses, comma-separated</source>
      <translation>留空：不限；否则填 AE 名称或 IP 地址，用逗号分隔</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="98" />
      <source>Allowed senders:</source>
      <translation>允许的发送方：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="100" />
      <source>AE_TITLE@host:port, e.g. PACS@10.1.2.3:104</source>
      <translation>AE名称@地址:端口，如 PACS@10.1.2.3:104</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="101" />
      <source>&amp;PACS:</source>
      <translation>&amp;PACS：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="103" />
      <source>e.g. https://pacs.example/dicom-web</source>
      <translation>如 https://pacs.example/dicom-web</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="104" />
      <source>DICOM&amp;web:</source>
      <translation>DICOM&amp;web：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="106" />
      <source>Camera and microphone</source>
      <translation>摄像头和麦克风</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="111" />
      <source>Default device</source>
      <translation>默认设备</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="112" />
      <source>C&amp;amera:</source>
      <translation>摄像头(&amp;A)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="113" />
      <source>&amp;Microphone:</source>
      <translation>麦克风(&amp;M)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="114" />
      <source>&amp;Speaker:</source>
      <translation>扬声器(&amp;S)：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="115" />
      <source>Start calls with audio only (saves bandwidth)</source>
      <translation>通话时仅使用语音（节省带宽）</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="116" />
      <source>Calls:</source>
      <translation>通话：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="117" />
      <source>Camera may be used</source>
      <translation>允许使用摄像头</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="118" />
      <source>Camera use:</source>
      <translation>摄像头使用：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="119" />
      <source>Microphone may be used</source>
      <translation>允许使用麦克风</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="121" />
      <source>Microphone use:</source>
      <translation>麦克风使用：</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="153" />
      <source>Set by your IT department ({source}).</source>
      <translation>由信息科统一设置（{source}）。</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="165" />
      <source>CA certificate</source>
      <translation>CA 证书</translation>
    </message>
    <message>
      <location filename="../../app/ui/settings_dialog.py" line="165" />
      <source>Certificates (*.pem *.crt *.cer)</source>
      <translation>证书 (*.pem *.crt *.cer)</translation>
    </message>
  </context>
  <context>
    <name>StatsPanel</name>
    <message>
      <location filename="../../app/ui/call/stats_panel.py" line="36" />
      <source>Sending</source>
      <translation>发送</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/stats_panel.py" line="37" />
      <source>Receiving</source>
      <translation>接收</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/stats_panel.py" line="38" />
      <source>Video sent</source>
      <translation>发送视频</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/stats_panel.py" line="39" />
      <source>Video received</source>
      <translation>接收视频</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/stats_panel.py" line="40" />
      <source>Packet loss (out / in)</source>
      <translation>丢包率（发送 / 接收）</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/stats_panel.py" line="41" />
      <source>Round-trip time</source>
      <translation>往返时延</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/stats_panel.py" line="42" />
      <source>Jitter</source>
      <translation>抖动</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/stats_panel.py" line="43" />
      <source>Queue on the path (out / in)</source>
      <translation>路径排队时延（发 / 收）</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/stats_panel.py" line="44" />
      <source>Lip sync (video after audio)</source>
      <translation>音画同步（视频晚于声音）</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/stats_panel.py" line="45" />
      <source>Quality step</source>
      <translation>画质档位</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/stats_panel.py" line="46" />
      <source>Bandwidth estimate</source>
      <translation>带宽估计</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/stats_panel.py" line="47" />
      <source>Connection number</source>
      <translation>连接序号</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/stats_panel.py" line="57" />
      <source>audio</source>
      <translation>音频</translation>
    </message>
    <message>
      <location filename="../../app/ui/call/stats_panel.py" line="68" />
      <source>{skew} (audio held {held})</source>
      <translation>{skew}（声音延后 {held}）</translation>
    </message>
  </context>
  <context>
    <name>SyncItem</name>
    <message>
      <location filename="../../app/ui/sync/identity.py" line="49" />
      <source>Uploading {n}%</source>
      <translation>正在上传 {n}%</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/identity.py" line="55" />
      <source>Error: {reason}</source>
      <translation>错误：{reason}</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/identity.py" line="59" />
      <source>Waiting to sync</source>
      <translation>等待同步</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/identity.py" line="60" />
      <source>Synced</source>
      <translation>已同步</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/identity.py" line="61" />
      <source>Conflict — needs your choice</source>
      <translation>冲突——需要您选择</translation>
    </message>
  </context>
  <context>
    <name>SyncStatusWidget</name>
    <message>
      <location filename="../../app/ui/sync/status_widget.py" line="35" />
      <location filename="../../app/ui/sync/status_widget.py" line="54" />
      <source>Sync: not signed in</source>
      <translation>同步：未登录</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/status_widget.py" line="37" />
      <source>Sync now</source>
      <translation>立即同步</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/status_widget.py" line="85" />
      <source>Syncing…</source>
      <translation>正在同步…</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/status_widget.py" line="91" />
      <source>Offline — your changes are kept and will sync when the link returns</source>
      <translation>离线——您的修改已保存，网络恢复后将自动同步</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/status_widget.py" line="95" />
      <source>The hub refused your login — please sign in again</source>
      <translation>中心服务器拒绝了您的登录——请重新登录</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/status_widget.py" line="97" />
      <source>The hub's certificate is not trusted — contact IT</source>
      <translation>中心服务器的证书不受信任——请联系信息科</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/status_widget.py" line="99" />
      <source>Hub server error — retrying automatically</source>
      <translation>中心服务器出错——正在自动重试</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/status_widget.py" line="101" />
      <source>Syncing: {docs} records and {size} left</source>
      <translation>正在同步：剩余 {docs} 条记录、{size}</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/status_widget.py" line="105" />
      <source> at {rate}/s</source>
      <translation>，速度 {rate}/秒</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/status_widget.py" line="108" />
      <source>All records synced</source>
      <translation>所有记录已同步</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/status_widget.py" line="110" />
      <source> · last sync {time}</source>
      <translation> · 上次同步 {time}</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/status_widget.py" line="114" />
      <source> · {n} conflicts to resolve</source>
      <translation> · {n} 个冲突待解决</translation>
    </message>
    <message>
      <location filename="../../app/ui/sync/status_widget.py" line="117" />
      <source> · {n} records refused by the hub</source>
      <translation> · {n} 条记录被中心服务器拒绝</translation>
    </message>
  </context>
  <context>
    <name>SyncWiring</name>
    <message>
      <location filename="../../app/ui/sync/wiring.py" line="60" />
      <source>Enter earlier password…</source>
      <translation>输入以前的密码…</translation>
    </message>
  </context>
  <context>
    <name>TimeDialog</name>
    <message>
      <location filename="../../app/ui/workflow/case_view.py" line="73" />
      <source>Call time</source>
      <translation>通话时间</translation>
    </message>
  </context>
  <context>
    <name>ViewerProblem</name>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="21" />
      <source>{file}: the file is missing.</source>
      <translation>{file}：文件不存在。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="25" />
      <source>{file} is not a readable DICOM file.</source>
      <translation>{file} 不是可读取的 DICOM 文件。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="29" />
      <source>{file} holds no image (it may be a report or other object).</source>
      <translation>{file} 中没有图像（可能是报告或其他对象）。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="35" />
      <source>The image data of {file} is incomplete (the file is cut off).</source>
      <translation>{file} 的图像数据不完整（文件被截断）。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="41" />
      <source>The image in {file} could not be decoded (damaged or unusual compression).</source>
      <translation>无法解码 {file} 中的图像（数据损坏或压缩方式特殊）。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="48" />
      <source>The compressed image in {file} cannot be decoded on this computer: the decoder processes could not start.</source>
      <translation>本机无法解码 {file} 中的压缩图像：解码进程无法启动。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="56" />
      <source>{file}: that frame does not exist or is too large to show.</source>
      <translation>{file}：该帧不存在或过大，无法显示。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="62" />
      <source>{file} describes its image inconsistently and cannot be shown.</source>
      <translation>{file} 的图像描述前后矛盾，无法显示。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="68" />
      <source>The image in {file} could not be displayed.</source>
      <translation>无法显示 {file} 中的图像。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="74" />
      <source>{file} is not a readable presentation state (GSPS).</source>
      <translation>{file} 不是可读取的显示状态（GSPS）文件。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="80" />
      <source>The presentation state does not belong to {file}.</source>
      <translation>该显示状态不属于 {file}。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="86" />
      <source>{file} holds no readable ECG waveform.</source>
      <translation>{file} 中没有可读取的心电波形。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="90" />
      <source>{file}: the original is never overwritten; choose another folder.</source>
      <translation>{file}：原始文件绝不会被覆盖，请选择其他文件夹。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="106" />
      <source>{file} could not be shown.</source>
      <translation>无法显示 {file}。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="111" />
      <source>A file could not be read or written.</source>
      <translation>无法读取或写入文件。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/problem_words.py" line="113" />
      <source>The viewer could not do this.</source>
      <translation>阅片器无法完成此操作。</translation>
    </message>
  </context>
  <context>
    <name>ViewerWidget</name>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="141" />
      <source>Open files…</source>
      <translation>打开文件…</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="142" />
      <source>Open folder / CD…</source>
      <translation>打开文件夹/光盘…</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="143" />
      <source>Open GSPS…</source>
      <translation>打开 GSPS…</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="144" />
      <source>Save annotations (GSPS)</source>
      <translation>保存标注（GSPS）</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="145" />
      <source>Export image…</source>
      <translation>导出图像…</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="146" />
      <source>Anonymized copy…</source>
      <translation>匿名化副本…</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="150" />
      <source>Layout</source>
      <translation>布局</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="156" />
      <source>Window presets</source>
      <translation>窗宽窗位预设</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="160" />
      <source>Auto (image)</source>
      <translation>自动（图像自带）</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="163" />
      <source>Fit</source>
      <translation>适应窗口</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="164" />
      <source>1:1</source>
      <translation>1:1</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="165" />
      <source>Rotate</source>
      <translation>旋转</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="166" />
      <source>Flip</source>
      <translation>翻转</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="167" />
      <source>Invert</source>
      <translation>反相</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="168" />
      <source>MPR</source>
      <translation>多平面重建</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="169" />
      <source>Axial, coronal and sagittal planes of the series (CT, MR)</source>
      <translation>显示该序列的轴位、冠状位和矢状位（CT、MR）</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="170" />
      <source>Undo</source>
      <translation>撤销</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="171" />
      <source>Redo</source>
      <translation>重做</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="184" />
      <source>Drag a rectangle: only the image inside it stays visible (saved with GSPS)</source>
      <translation>拖出一个矩形：仅保留矩形内的图像可见（随 GSPS 保存）</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="186" />
      <source>Remove shutter</source>
      <translation>移除遮光器</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="190" />
      <source>Cine</source>
      <translation>电影回放</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="197" />
      <source> fps</source>
      <translation> 帧/秒</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="198" />
      <source>Cine frame rate</source>
      <translation>电影回放帧率</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="201" />
      <source>Sync scroll</source>
      <translation>同步翻页</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="202" />
      <source>Scroll series with the same frame of reference together</source>
      <translation>同一参考坐标系的序列同步翻页</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="237" />
      <source>Frame</source>
      <translation>帧</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="251" />
      <source>CT brain</source>
      <translation>CT 脑窗</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="252" />
      <source>CT lung</source>
      <translation>CT 肺窗</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="253" />
      <source>CT bone</source>
      <translation>CT 骨窗</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="254" />
      <source>CT abdomen</source>
      <translation>CT 腹部窗</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="255" />
      <source>CT mediastinum</source>
      <translation>CT 纵隔窗</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="260" />
      <source>W/L</source>
      <translation>窗宽/窗位</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="261" />
      <source>Pan</source>
      <translation>平移</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="262" />
      <source>Zoom</source>
      <translation>缩放</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="263" />
      <source>Select</source>
      <translation>选择</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="264" />
      <source>Length</source>
      <translation>长度</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="265" />
      <source>Angle</source>
      <translation>角度</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="266" />
      <source>Ellipse</source>
      <translation>椭圆</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="267" />
      <source>Rectangle</source>
      <translation>矩形</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="268" />
      <source>Freehand</source>
      <translation>自由勾画</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="269" />
      <source>Arrow</source>
      <translation>箭头</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="270" />
      <source>Text</source>
      <translation>文字</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="272" />
      <source>Shutter</source>
      <translation>遮光器</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="328" />
      <source>Open DICOM files</source>
      <translation>打开 DICOM 文件</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="328" />
      <source>DICOM, DICOMDIR or zip (*)</source>
      <translation>DICOM、DICOMDIR 或 zip (*)</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="334" />
      <source>Open a folder, CD or USB stick</source>
      <translation>打开文件夹、光盘或 U 盘</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="342" />
      <source>Reading DICOM files…</source>
      <translation>正在读取 DICOM 文件…</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="342" />
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="344" />
      <source>Import</source>
      <translation>导入</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="414" />
      <source>%1 file(s) imported</source>
      <translation>已导入 %1 个文件</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="416" />
      <source>Import cancelled.</source>
      <translation>导入已取消。</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="418" />
      <source>%1 file(s) skipped:</source>
      <translation>跳过 %1 个文件：</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="271" />
      <location filename="../../app/ui/viewer/viewer_widget.py" line="554" />
      <source>Calibrate</source>
      <translation>校准</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="461" />
      <source>Open a CT or MR series first</source>
      <translation>请先打开一个 CT 或 MR 序列</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="555" />
      <source>Known length of the line in mm:</source>
      <translation>该线段的实际长度（mm）：</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="576" />
      <source>Open presentation state</source>
      <translation>打开显示状态（GSPS）</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="576" />
      <source>DICOM (*.dcm *)</source>
      <translation>DICOM (*.dcm *)</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="586" />
      <source>Save annotations as GSPS</source>
      <translation>将标注保存为 GSPS</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="588" />
      <source>DICOM (*.dcm)</source>
      <translation>DICOM (*.dcm)</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="627" />
      <source>Could not save GSPS: %1</source>
      <translation>无法保存 GSPS：%1</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="632" />
      <source>Saved %1</source>
      <translation>已保存 %1</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="649" />
      <source>%1: the images this presentation state refers to are not loaded</source>
      <translation>%1：该显示状态引用的图像尚未载入</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="691" />
      <location filename="../../app/ui/viewer/viewer_widget.py" line="696" />
      <source>Export image</source>
      <translation>导出图像</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="691" />
      <source>Images (*.png *.jpg)</source>
      <translation>图像 (*.png *.jpg)</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="696" />
      <source>Include annotations and patient text?</source>
      <translation>是否包含标注和患者信息文字？</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="723" />
      <source>Could not export: %1</source>
      <translation>无法导出：%1</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="730" />
      <source>Folder for the anonymized copy</source>
      <translation>匿名化副本的保存文件夹</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewer_widget.py" line="749" />
      <source>Anonymized copy written: %1 file(s)</source>
      <translation>已写入匿名化副本：%1 个文件</translation>
    </message>
  </context>
  <context>
    <name>Viewport</name>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="338" />
      <source>ID</source>
      <translation>ID</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="339" />
      <source>Se</source>
      <translation>序列</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="340" />
      <source>Im</source>
      <translation>图像</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="341" />
      <source>W</source>
      <translation>窗宽</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="342" />
      <source>L</source>
      <translation>窗位</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="343" />
      <source>Zoom</source>
      <translation>缩放</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="344" />
      <source>Loc</source>
      <translation>层位置</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="345" />
      <source>Thick</source>
      <translation>层厚</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="360" />
      <source>Loading…</source>
      <translation>正在加载…</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="391" />
      <source>calibration: %1 mm</source>
      <translation>校准：%1 mm</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="309" />
      <source>UNCALIBRATED: measurements in pixels</source>
      <translation>未校准：测量值以像素为单位</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="311" />
      <source>Calibration: %1</source>
      <translation>校准来源：%1</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="457" />
      <source>LOSSY</source>
      <translation>有损压缩</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="514" />
      <source>Text annotation</source>
      <translation>文字标注</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="514" />
      <location filename="../../app/ui/viewer/viewport.py" line="592" />
      <location filename="../../app/ui/viewer/viewport.py" line="655" />
      <source>Text:</source>
      <translation>文字：</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="592" />
      <source>Arrow label</source>
      <translation>箭头说明</translation>
    </message>
    <message>
      <location filename="../../app/ui/viewer/viewport.py" line="655" />
      <source>Edit text</source>
      <translation>编辑文字</translation>
    </message>
  </context>
  <context>
    <name>VitalsChart</name>
    <message>
      <location filename="../../app/ui/workflow/vitals_chart.py" line="26" />
      <source>Blood pressure (mmHg)</source>
      <translation>血压（mmHg）</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/vitals_chart.py" line="27" />
      <source>Blood glucose (mmol/L)</source>
      <translation>血糖（mmol/L）</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/vitals_chart.py" line="28" />
      <source>SpO2 (%)</source>
      <translation>SpO2（%）</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/vitals_chart.py" line="29" />
      <source>Heart rate (/min)</source>
      <translation>心率（次/分）</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/vitals_chart.py" line="30" />
      <source>Weight (kg)</source>
      <translation>体重（kg）</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/vitals_chart.py" line="42" />
      <source>Follow-up chart</source>
      <translation>随访图表</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/vitals_chart.py" line="66" />
      <source>No measurements yet: record vital signs or import a meter's CSV file.</source>
      <translation>暂无测量数据：请记录生命体征或导入仪器的 CSV 文件。</translation>
    </message>
  </context>
  <context>
    <name>VitalsDialog</name>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="62" />
      <source>Record vital signs</source>
      <translation>记录生命体征</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="66" />
      <source>Systolic BP (mmHg)</source>
      <translation>收缩压（mmHg）</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="67" />
      <source>Diastolic BP (mmHg)</source>
      <translation>舒张压（mmHg）</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="68" />
      <source>Heart rate (/min)</source>
      <translation>心率（次/分）</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="69" />
      <source>SpO2 (%)</source>
      <translation>SpO2（%）</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="70" />
      <source>Blood glucose (mmol/L)</source>
      <translation>血糖（mmol/L）</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="71" />
      <source>Temperature (°C)</source>
      <translation>体温（°C）</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/patients.py" line="72" />
      <source>Weight (kg)</source>
      <translation>体重（kg）</translation>
    </message>
  </context>
  <context>
    <name>Wording</name>
    <message>
      <location filename="../../app/ui/wording.py" line="24" />
      <source>This record</source>
      <translation>本记录</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="43" />
      <location filename="../../app/ui/wording.py" line="557" />
      <source>, </source>
      <translation>、</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="50" />
      <source>{label} must be filled in</source>
      <translation>请填写{label}</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="53" />
      <source>{label} needs at least {min} characters</source>
      <translation>{label}至少需要 {min} 个字符</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="56" />
      <source>{label} may have at most {max} characters</source>
      <translation>{label}最多 {max} 个字符</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="59" />
      <source>{label} must be at least {min}</source>
      <translation>{label}不能小于 {min}</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="62" />
      <source>{label} must be at most {max}</source>
      <translation>{label}不能大于 {max}</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="65" />
      <source>{label} must be a number</source>
      <translation>{label}应为数字</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="68" />
      <source>{label} must be a whole number</source>
      <translation>{label}应为整数</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="71" />
      <source>{label} must be yes or no</source>
      <translation>{label}应为“是”或“否”</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="74" />
      <source>{label} must be written as year-month-day, e.g. 1965-03-15</source>
      <translation>{label}格式应为 年-月-日，例如 1965-03-15</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="77" />
      <source>{label} must be written as year-month-day hour:minute, e.g. 2026-03-15 14:30</source>
      <translation>{label}格式应为 年-月-日 时:分，例如 2026-03-15 14:30</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="82" />
      <source>{label} must be one of: {choices}</source>
      <translation>{label}只能是以下之一：{choices}</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="86" />
      <source>{label}: choose one of the offered values</source>
      <translation>{label}：请从给出的选项中选择</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="90" />
      <source>{label} is not written in the expected form</source>
      <translation>{label}的格式不正确</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="93" />
      <source>{label} must be a list</source>
      <translation>{label}应为列表</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="96" />
      <source>{label} is not valid</source>
      <translation>{label}无效</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="99" />
      <source>A consultation cannot go from “{before}” to “{after}”</source>
      <translation>会诊不能从“{before}”变为“{after}”</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="105" />
      <source>{label} contains characters that cannot be stored (e.g. invisible control characters); please retype it</source>
      <translation>{label}含有无法保存的字符（例如看不见的控制字符），请重新输入</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="110" />
      <source>{label} must be an ordinary number</source>
      <translation>{label}应为普通数字</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="113" />
      <source>This record must belong to a patient</source>
      <translation>本记录必须属于某位患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="116" />
      <source>This record has no conflict to resolve</source>
      <translation>本记录没有需要解决的冲突</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="119" />
      <source>This record no longer exists on this computer</source>
      <translation>本机上已没有这条记录</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="129" />
      <source>{label} must have 18 characters (it has {length})</source>
      <translation>{label}应为 18 位（现为 {length} 位）</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="132" />
      <source>{label} must be 17 digits followed by a digit or X</source>
      <translation>{label}应为 17 位数字加一位数字或 X</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="135" />
      <source>{label} has a wrong check character — please check the number for a typing slip</source>
      <translation>{label}校验位不正确，请检查号码是否输错</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="139" />
      <source>{label} does not contain a real birth date (characters 7–14)</source>
      <translation>{label}第 7–14 位不是有效的出生日期</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="142" />
      <source>{label} differs from the birth date in the resident ID number ({from_id})</source>
      <translation>{label}与身份证号中的出生日期（{from_id}）不一致</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="145" />
      <source>{label} differs from the sex in the resident ID number</source>
      <translation>{label}与身份证号中的性别不一致</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="148" />
      <source>The patient's written informed consent (who, when and a photo or scan of the signed form) is needed before the request can be submitted</source>
      <translation>提交申请前需要患者的书面知情同意（签字人、时间以及签字同意书的照片或扫描件）</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="153" />
      <source>{label} is not an ICD-10 code (for example I10 or E11.9)</source>
      <translation>{label}不是 ICD-10 编码（例如 I10 或 E11.9）</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="156" />
      <source>An amendment must say why the report is corrected</source>
      <translation>更正报告必须说明更正的原因</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="217" />
      <source>Wrong username or password.</source>
      <translation>用户名或密码错误。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="218" />
      <source>This account has been disabled. Ask your hospital's IT.</source>
      <translation>此账号已被停用，请联系本院信息科。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="221" />
      <source>Too many failed sign-ins. Wait a few minutes, then try again.</source>
      <translation>登录失败次数过多，请等几分钟再试。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="224" />
      <location filename="../../app/ui/wording.py" line="227" />
      <source>Your sign-in has expired. Please sign in again.</source>
      <translation>登录已过期，请重新登录。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="230" />
      <location filename="../../app/ui/wording.py" line="233" />
      <source>You are not signed in. Please sign in again.</source>
      <translation>您尚未登录，请重新登录。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="236" />
      <source>The hub could not accept what was sent (a field is not valid).</source>
      <translation>服务器无法接受所发送的内容（有字段无效）。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="239" />
      <source>The hub could not store a value of this record.</source>
      <translation>服务器无法保存这条记录中的某个值。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="242" />
      <source>The text contains an invisible control character; remove it and retry.</source>
      <translation>文字中含有不可见的控制字符，请删除后重试。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="245" />
      <source>A number is not an ordinary number (NaN or infinity); correct it and retry.</source>
      <translation>有一个数值不是普通数字（NaN 或无穷大），请改正后重试。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="248" />
      <location filename="../../app/ui/wording.py" line="312" />
      <location filename="../../app/ui/wording.py" line="315" />
      <source>This version of YiQiao does not match the hub. Ask IT to update YiQiao.</source>
      <translation>此版本的医桥与服务器不匹配，请联系信息科更新医桥。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="251" />
      <location filename="../../app/ui/wording.py" line="254" />
      <source>Too much was sent at once; YiQiao will send it in smaller parts.</source>
      <translation>一次发送的内容过多，医桥会分批重新发送。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="257" />
      <location filename="../../app/ui/wording.py" line="266" />
      <location filename="../../app/ui/wording.py" line="269" />
      <source>The hub could not understand the request.</source>
      <translation>服务器无法理解该请求。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="260" />
      <location filename="../../app/ui/wording.py" line="263" />
      <source>The hub does not offer this function (check its version).</source>
      <translation>服务器不提供此功能（请检查其版本）。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="272" />
      <source>The hub does not accept this kind of file.</source>
      <translation>服务器不接受此类文件。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="275" />
      <location filename="../../app/ui/wording.py" line="350" />
      <source>The hub refused the request.</source>
      <translation>服务器拒绝了该请求。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="276" />
      <source>You are not allowed to do this.</source>
      <translation>您没有执行此操作的权限。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="277" />
      <source>The hub does not have this (it may have been deleted).</source>
      <translation>服务器上没有该内容（可能已被删除）。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="280" />
      <source>Someone else changed this at the same time; look again and retry.</source>
      <translation>有人同时修改了此内容，请查看后重试。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="283" />
      <source>This is no longer available on the hub.</source>
      <translation>服务器上已不再提供该内容。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="284" />
      <source>This is too large for the hub.</source>
      <translation>内容过大，服务器无法接受。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="285" />
      <source>The hub is busy. YiQiao will try again shortly.</source>
      <translation>服务器繁忙，医桥稍后会自动重试。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="288" />
      <source>This file is too large for the hub.</source>
      <translation>文件过大，服务器无法接受。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="291" />
      <location filename="../../app/ui/wording.py" line="297" />
      <source>A file arrived damaged at the hub; YiQiao will send it again.</source>
      <translation>文件到达服务器时已损坏，医桥会重新发送。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="294" />
      <location filename="../../app/ui/wording.py" line="300" />
      <location filename="../../app/ui/wording.py" line="327" />
      <source>A file upload was refused; YiQiao will send it again.</source>
      <translation>文件上传被拒绝，医桥会重新发送。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="303" />
      <source>A file upload got out of step; YiQiao will resume it.</source>
      <translation>文件上传进度不一致，医桥会继续上传。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="306" />
      <source>The hub has no room left for your files. Ask IT.</source>
      <translation>服务器已没有空间存放您的文件，请联系信息科。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="309" />
      <source>A file download got out of step; YiQiao will retry.</source>
      <translation>文件下载进度不一致，医桥会重试。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="318" />
      <source>This file is already complete on the hub.</source>
      <translation>该文件已完整保存在服务器上。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="321" />
      <source>A file upload is still in progress; YiQiao will resume it.</source>
      <translation>文件仍在上传中，医桥会继续上传。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="324" />
      <source>An unfinished upload expired; YiQiao will start it again.</source>
      <translation>未完成的上传已过期，医桥会重新开始上传。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="330" />
      <location filename="../../app/ui/wording.py" line="416" />
      <source>The hub had an internal problem. YiQiao will try again.</source>
      <translation>服务器内部出错，医桥会自动重试。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="333" />
      <source>The request reached the hub garbled (a proxy in between?). YiQiao will retry.</source>
      <translation>请求到达中心服务器时已损坏（可能经过了代理）。医桥会重试。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="337" />
      <source>The request reached the hub with a damaged header. YiQiao will retry.</source>
      <translation>请求到达中心服务器时头部已损坏。医桥会重试。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="340" />
      <source>A file upload was refused by the hub; YiQiao will send it again.</source>
      <translation>中心服务器拒绝了文件上传；医桥会重新发送。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="343" />
      <source>The network was too slow for the hub to wait. YiQiao will try again.</source>
      <translation>网络太慢，中心服务器无法继续等待。医桥会再试。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="346" />
      <source>This record is damaged on the hub. Ask IT to check the hub.</source>
      <translation>这条记录在中心服务器上已损坏。请联系信息科检查服务器。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="356" />
      <source>You are not allowed to change this record.</source>
      <translation>您无权修改这条记录。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="359" />
      <source>The hub found this record not valid.</source>
      <translation>服务器认为这条记录无效。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="360" />
      <source>The consultation cannot move to this status.</source>
      <translation>会诊不能变为此状态。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="363" />
      <source>This record was edited from a version the hub does not know.</source>
      <translation>这条记录是基于服务器不认识的版本修改的。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="366" />
      <source>A different record with the same identity is already on the hub.</source>
      <translation>服务器上已有另一条相同编号的记录。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="369" />
      <source>The hub no longer has this record.</source>
      <translation>服务器上已没有这条记录。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="370" />
      <source>A different kind of record with the same identity is on the hub.</source>
      <translation>服务器上有另一类相同编号的记录。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="373" />
      <source>A record cannot be moved to another patient or hospital.</source>
      <translation>记录不能转移到其他患者或医院。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="376" />
      <source>A file of this record has not reached the hub yet.</source>
      <translation>这条记录的某个文件尚未上传到服务器。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="379" />
      <source>This record is too large for the hub.</source>
      <translation>这条记录过大，服务器无法接受。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="380" />
      <source>This change was sent twice at once.</source>
      <translation>此修改被同时发送了两次。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="384" />
      <source>The hub refused this record.</source>
      <translation>服务器拒绝了这条记录。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="393" />
      <source>The hub's security certificate is not trusted. Ask IT to check the CA certificate setting.</source>
      <translation>服务器的安全证书不受信任，请联系信息科检查 CA 证书设置。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="399" />
      <source>Cannot reach the hub. Check the network connection and try again.</source>
      <translation>无法连接到服务器，请检查网络连接后重试。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="408" />
      <source>The hub refused the sign-in. Please sign in again.</source>
      <translation>服务器拒绝登录，请重新登录。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="412" />
      <source>The hub's reply could not be understood. YiQiao will try again.</source>
      <translation>无法理解服务器的回复，医桥会自动重试。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="425" />
      <source>The hub did not accept what was entered:</source>
      <translation>服务器未接受所填写的内容：</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="448" />
      <source>YiQiao may not write here. Check the folder's permissions.</source>
      <translation>医桥无权写入此处，请检查文件夹权限。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="452" />
      <source>A file could not be read or written (disk full or removed?).</source>
      <translation>无法读取或写入文件（磁盘已满或已被移除？）。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="455" />
      <location filename="../../app/ui/wording.py" line="529" />
      <source>Something went wrong; the details are in the log.</source>
      <translation>出现问题，详情见日志。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="467" />
      <source>The local records file is damaged. It was kept as {kept}; a fresh copy is being downloaded from the hub.</source>
      <translation>本机记录文件已损坏，已保留为 {kept}；正在从服务器重新下载记录。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="473" />
      <source>The local records file was written by a newer version of YiQiao. It was kept as {kept}; a fresh copy is being downloaded from the hub.</source>
      <translation>本机记录文件由更新版本的医桥写入，已保留为 {kept}；正在从服务器重新下载记录。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="478" />
      <source>The local records file could not be opened with this computer's key (the system keyring may have been reset). It was kept as {kept}; a fresh copy is being downloaded from the hub.</source>
      <translation>无法用本机密钥打开本机记录文件（系统密钥库可能已被重置）。该文件已保留为 {kept}；正在从服务器重新下载记录。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="485" />
      <source>Unsent work from that file was unlocked with your password: {docs} changes and {files} files are being sent to the hub now.</source>
      <translation>已用您的密码解开该文件中尚未发送的内容：{docs} 项修改和 {files} 个文件正在发送到服务器。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="491" />
      <source>All unsent work from the unreadable records file has reached the hub ({docs} changes, {files} files).</source>
      <translation>无法打开的记录文件中尚未发送的内容已全部送达服务器（{docs} 项修改，{files} 个文件）。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="497" />
      <source> The hub refused {n} of them; IT can find them in the log.</source>
      <translation>其中 {n} 项被服务器拒绝，信息科可在日志中找到。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="502" />
      <source>Unsent work in {kept} is locked with an earlier password (the computer's key was lost and your password has been changed since). Nothing has been deleted: choose “Enter earlier password…” to send it to the hub. If nobody remembers that password, keep the file; it can be opened whenever it is remembered.</source>
      <translation>有尚未发送的工作用以前的密码加密保存着（本机密钥丢失，且此后密码已更改）。没有删除任何内容：请点“输入以前的密码…”把它发送到服务器。如果暂时想不起该密码，请保留此文件，以后想起时仍可打开。文件：{kept}</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="510" />
      <source>Unsent work in {kept} cannot be opened on this computer (it has no password-protected copy of its key). The file is kept; ask IT for help.</source>
      <translation>{kept} 中尚未发送的内容无法在本机打开（没有受密码保护的密钥副本）。文件已保留，请联系信息科。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="516" />
      <source>This computer had lost the key to your attached files; it was restored from the copy protected by your password. Nothing was lost.</source>
      <translation>本机曾丢失附件文件的密钥，已从受您密码保护的副本中恢复。没有丢失任何内容。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="524" />
      <source>{files} attached files kept after the key was lost were opened with your password; they are being sent to the hub now.</source>
      <translation>密钥丢失后保留的 {files} 个附件文件已用您的密码打开，正在发送到服务器。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="538" />
      <source>{title} ({patient})</source>
      <translation>{title}（{patient}）</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="547" />
      <source>This computer has lost the key to the attached files stored here (the system keyring may have been reset). Nothing was deleted: the files were kept in {kept}.</source>
      <translation>本机丢失了本地附件文件的密钥（系统密钥库可能被重置）。没有删除任何内容：这些文件保留在 {kept}。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="553" />
      <source> {n} of them are on the hub and will be downloaded again when opened.</source>
      <translation>其中 {n} 个已在服务器上，打开时会重新下载。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="562" />
      <source> Not yet sent to the hub, and waiting for your password: {files}. Sign in with your password (or choose “Enter earlier password…” if it has been changed) to send them.</source>
      <translation>尚未发送到服务器、等待您的密码的文件：{files}。请用密码登录（如果密码已更改，请点“输入以前的密码…”）以发送它们。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="559" />
      <source> and {n} more</source>
      <translation> 等另外 {n} 个</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="604" />
      <source>This computer has no secure credential store, so the local records cannot be opened. Ask IT to enable the system keyring.</source>
      <translation>本机没有安全的凭据存储，无法打开本机记录。请联系信息科启用系统密钥库。</translation>
    </message>
    <message>
      <location filename="../../app/ui/wording.py" line="610" />
      <source>The local records could not be opened, even afresh. The files are kept; ask IT for help.</source>
      <translation>即使重新创建也无法打开本机记录。文件已保留，请联系信息科。</translation>
    </message>
  </context>
  <context>
    <name>WorkflowField</name>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="17" />
      <source>Resident ID number</source>
      <translation>居民身份证号</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="18" />
      <source>Allergies</source>
      <translation>过敏史</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="19" />
      <source>Chronic conditions</source>
      <translation>慢性病</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="20" />
      <source>Consultation type</source>
      <translation>会诊类型</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="21" />
      <source>Consulting hospital</source>
      <translation>会诊医院</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="22" />
      <source>Department</source>
      <translation>科室</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="23" />
      <source>Specialist</source>
      <translation>专家</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="24" />
      <source>Title of the doctor invited</source>
      <translation>邀请医生职称</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="25" />
      <source>Urgency</source>
      <translation>紧急程度</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="26" />
      <source>Time wanted</source>
      <translation>期望时间</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="27" />
      <source>Purpose of consultation</source>
      <translation>会诊目的</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="28" />
      <source>Reason for consultation</source>
      <translation>会诊原因</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="29" />
      <source>Chief complaint</source>
      <translation>主诉</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="30" />
      <source>Present illness</source>
      <translation>现病史</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="31" />
      <source>Past history</source>
      <translation>既往史</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="32" />
      <source>Current medication</source>
      <translation>当前用药</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="33" />
      <source>Case summary</source>
      <translation>病历摘要</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="34" />
      <source>Current vital signs</source>
      <translation>当前生命体征</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="35" />
      <source>Diagnosis</source>
      <translation>诊断名称</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="36" />
      <source>ICD-10 code</source>
      <translation>ICD-10 编码</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="37" />
      <source>Auxiliary examination results</source>
      <translation>辅助检查结果</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="40" />
      <source>Informed consent</source>
      <translation>知情同意</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="41" />
      <source>Consent given by</source>
      <translation>知情同意人</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="42" />
      <source>Name of the person who signed</source>
      <translation>签字人姓名</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="43" />
      <source>Relation to the patient</source>
      <translation>与患者关系</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="44" />
      <source>Signed at</source>
      <translation>签署时间</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="45" />
      <source>Scan of the signed form</source>
      <translation>签字同意书扫描件</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="46" />
      <source>Proposed call time</source>
      <translation>提议的通话时间</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="47" />
      <source>Call time</source>
      <translation>通话时间</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="48" />
      <source>Reason for declining</source>
      <translation>拒绝原因</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="49" />
      <source>Reason for withdrawing</source>
      <translation>撤回原因</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="50" />
      <source>Findings</source>
      <translation>检查所见</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="51" />
      <source>Consultation opinion and advice</source>
      <translation>会诊意见及建议</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="52" />
      <source>Follow-up</source>
      <translation>随访</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="53" />
      <source>Referral</source>
      <translation>转诊建议</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="54" />
      <source>Reason for the amendment</source>
      <translation>更正原因</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="55" />
      <source>Weight (kg)</source>
      <translation>体重（kg）</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="56" />
      <source>Pinyin initials</source>
      <translation>拼音首字母</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="57" />
      <source>Time proposed by</source>
      <translation>时间提议方</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="58" />
      <source>Accepted by</source>
      <translation>接受人</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="59" />
      <source>Assigned by</source>
      <translation>指派人</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="60" />
      <source>Timeline</source>
      <translation>时间线</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="61" />
      <source>Source of the measurement</source>
      <translation>测量来源</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="62" />
      <source>Signed by</source>
      <translation>签署人</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="63" />
      <source>Signature checksum</source>
      <translation>签名校验值</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="64" />
      <source>Version</source>
      <translation>版本</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="65" />
      <source>Corrects report</source>
      <translation>所更正的报告</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="66" />
      <source>Clinic patient number</source>
      <translation>门诊号</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="73" />
      <source>Video consultation</source>
      <translation>视频会诊</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="74" />
      <source>Imaging diagnosis (store-and-forward)</source>
      <translation>远程影像诊断（存储转发）</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="77" />
      <source>ECG diagnosis (store-and-forward)</source>
      <translation>远程心电诊断（存储转发）</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="96" />
      <source>Submit request</source>
      <translation>提交申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="97" />
      <source>Withdraw…</source>
      <translation>撤回…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="98" />
      <source>Revise and resubmit</source>
      <translation>修改后重新提交</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="99" />
      <source>Accept</source>
      <translation>接受</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="100" />
      <source>Decline…</source>
      <translation>拒绝…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="101" />
      <source>Propose a call time…</source>
      <translation>提议通话时间…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="102" />
      <source>Confirm the proposed time</source>
      <translation>确认提议的时间</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="103" />
      <source>Start video call</source>
      <translation>开始视频通话</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="104" />
      <source>End call</source>
      <translation>结束通话</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="105" />
      <source>Write report…</source>
      <translation>撰写报告…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="106" />
      <source>Close case</source>
      <translation>结案</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="107" />
      <source>Assign a specialist…</source>
      <translation>指派专家…</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="114" />
      <source>request written</source>
      <translation>填写了申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="115" />
      <source>submitted the request</source>
      <translation>提交了申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="116" />
      <source>withdrew the request</source>
      <translation>撤回了申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="117" />
      <source>reopened the request for revision</source>
      <translation>重新打开申请进行修改</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="118" />
      <source>accepted</source>
      <translation>接受了申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="119" />
      <source>declined</source>
      <translation>拒绝了申请</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="120" />
      <source>proposed a call time</source>
      <translation>提议了通话时间</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="121" />
      <source>confirmed the call time</source>
      <translation>确认了通话时间</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="122" />
      <source>started the video call</source>
      <translation>开始了视频通话</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="123" />
      <source>ended the video call</source>
      <translation>结束了视频通话</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="124" />
      <source>filed the report</source>
      <translation>提交了报告</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="125" />
      <source>closed the case</source>
      <translation>结案</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="126" />
      <source>assigned a specialist</source>
      <translation>指派了专家</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="132" />
      <source>Patient</source>
      <translation>患者</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="133" />
      <source>Guardian</source>
      <translation>监护人</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="134" />
      <source>Close relative</source>
      <translation>近亲属</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="140" />
      <source>No referral</source>
      <translation>无需转诊</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="141" />
      <source>Refer up</source>
      <translation>上转</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="142" />
      <source>Manage locally with a plan</source>
      <translation>本地治疗（附方案）</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="148" />
      <source>DICOM study</source>
      <translation>DICOM 检查</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="149" />
      <source>Photo</source>
      <translation>照片</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="150" />
      <source>ECG</source>
      <translation>心电图</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="151" />
      <source>PDF document</source>
      <translation>PDF 文档</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="152" />
      <source>Signed consent form</source>
      <translation>签字的知情同意书</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="153" />
      <source>Report</source>
      <translation>报告</translation>
    </message>
    <message>
      <location filename="../../app/ui/workflow/labels.py" line="154" />
      <source>File</source>
      <translation>文件</translation>
    </message>
  </context>
  <context>
    <name>Worklist</name>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="48" />
      <source>just now</source>
      <translation>刚刚</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="50" />
      <source>{n} min</source>
      <translation>{n} 分钟</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="53" />
      <source>{h} h {m} min</source>
      <translation>{h} 小时 {m} 分</translation>
    </message>
    <message>
      <location filename="../../app/ui/pages/consultations.py" line="56" />
      <source>{d} days</source>
      <translation>{d} 天</translation>
    </message>
  </context>
</TS>