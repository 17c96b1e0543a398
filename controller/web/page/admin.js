/*
 * The hall's admin page (docs/admin.md): sign in as an administrator, then
 * windows (type, areas and weights), clerks, devices (list, revoke, and the
 * hallctl command that issues a bundle), the catalog (import, with the
 * line and column of an error), users (add, role, disable and enable,
 * a new password, sign out everywhere), the hall calendar and the big
 * screens (a token issued and shown once, revoked; docs/dashboard.md),
 * through the JSON API (docs/api.md).
 *
 * - The JSON API, the CSRF token and the page's messages are web.js's,
 *   shared with the caller page.
 * - hallweb checks every change as hallctl does; a refusal names the field
 *   at fault, which the form marks, and says why in the page's language.
 * - Chinese first; the EN button switches every text, and the API's
 *   sentences, to English. The choice is kept in this browser.
 */
"use strict";

const TYPES = ["intake", "issuance", "consult", "help", "complaint"];
const DEVICE_TYPES = ["kiosk", "window", "display", "tool", "web"];
const ROLES = ["admin", "manager", "clerk", "reviewer", "consult", "auditor"];

const TEXT = {
  zh: {
    htmlLang: "zh-CN",
    title: "大厅管理",
    app: "大厅管理",
    langButton: "EN",
    langName: "English",
    loading: "正在连接…",
    signInTitle: "管理员登录",
    user: "用户名",
    password: "密码",
    signIn: "登录",
    signOut: "退出登录",
    who: (me) => `${me.display_name}（${me.user}）`,
    notAdmin: "只有管理员可以使用本页面。",
    unreachable: "无法连接服务器，请检查网络后重试。",
    failed: "操作未成功。",
    tabsLabel: "管理",
    tabWindows: "窗口",
    tabClerks: "工作人员",
    tabDevices: "设备",
    tabCatalog: "业务目录",
    tabCalendar: "办公时间",
    calendarTitle: "办公时间",
    calNone: "尚未设置办公时间：全天可取号。",
    calSet: "已设置办公时间；未列出的星期不办公。",
    hoursFormTitle: "设置每周办公时间",
    hoursHint: "星期写作 1-5（周一至周五）、6（周六）或 6,7（周六、周日）；时间写作 08:30 这样的形式。午休期间和停止取号之后不取号，但预约仍可签到。",
    hoursArea: "适用于",
    hoursDays: "星期",
    hoursOpen: "上班",
    hoursClose: "下班",
    hoursLunch: "午休",
    hoursLast: "停止取号",
    hallWide: "全大厅",
    colFor: "适用于",
    colDay: "星期",
    colHours: "办公时间",
    colLunch: "午休",
    colLast: "停止取号",
    noLunch: "无",
    wdays: { mon: "周一", tue: "周二", wed: "周三", thu: "周四", fri: "周五", sat: "周六", sun: "周日" },
    hoursSaved: "办公时间已保存。",
    dateFormTitle: "节假日与调休上班日",
    dateDate: "日期",
    dateKind: "类型",
    dateAs: "按星期几上班",
    dateName: "名称",
    add: "添加",
    remove: "删除",
    kinds: { holiday: "放假", workday: "调休上班" },
    colDate: "日期",
    colKind: "类型",
    dateSaved: (d) => `${d} 已保存。`,
    datesImportTitle: "导入全年节假日",
    datesImportHint: "选择逗号分隔的文本文件，每行一个日期，格式如下例（调休上班日写明按星期几上班）。整个文件先经校验，有任何错误都不会导入。",
    datesFile: "节假日文件",
    datesImported: (n) => `已导入 ${n} 个日期。`,
    dateRemoved: (d) => `${d} 已删除。`,
    calAreaTitle: "业务区设置",
    calArea: "业务区",
    calAlways: "24 小时自助",
    calUnstaffed: "无窗口开放时",
    yesNo: { no: "否", yes: "是" },
    unstaffedModes: { default: "按大厅设置", yes: "提示后仍可取号", no: "不取号" },
    calAreaSaved: (a) => `业务区 ${a} 已保存。`,
    tabUsers: "用户",
    windowsTitle: "窗口",
    windowFormTitle: "添加或修改窗口",
    windowNo: "窗口号",
    windowName: "名称",
    windowType: "类型",
    windowAreas: "服务的业务区及权重",
    weightOf: (a) => `${a}的权重`,
    save: "保存",
    edit: "修改",
    colNo: "窗口号",
    colName: "名称",
    colType: "类型",
    colState: "状态",
    colClerk: "在岗人员",
    colAreas: "业务区（权重）",
    colActions: "操作",
    types: { intake: "综合受理", issuance: "统一出件", consult: "咨询", help: "帮办代办", complaint: "投诉" },
    states: { open: "开放", paused: "暂停", closed: "关闭" },
    windowSaved: (n) => `${n} 号窗口已保存。`,
    clerksTitle: "工作人员",
    clerkFormTitle: "添加工作人员或修改姓名",
    clerkId: "工号",
    clerkName: "姓名",
    colActive: "状态",
    active: "在职",
    inactive: "停用",
    clerkSaved: (id) => `工作人员 ${id} 已保存。`,
    devicesTitle: "设备",
    deviceFormTitle: "登记新设备",
    deviceHint:
      "设备证书只能在大厅服务器上用管理命令签发（只有它能读取大厅证书机构的私钥）。在此核对设备信息后，复制生成的命令到服务器上运行。",
    deviceId: "设备编号",
    deviceType: "类型",
    deviceWindow: "所属窗口",
    makeCommand: "生成命令",
    colId: "编号",
    colWindow: "窗口",
    colAdded: "登记时间",
    revoked: "已吊销",
    inUse: "使用中",
    revoke: "吊销",
    revokeAsk: (id) => `吊销设备 ${id}？吊销后该设备立即断开，且此编号永不再用。`,
    deviceRevoked: (id) => `设备 ${id} 已吊销。`,
    deviceTypes: { kiosk: "取号机", window: "窗口终端", display: "显示屏", tool: "工具", web: "网页网关" },
    commandReady: "命令已生成，请在大厅服务器上运行。",
    catalogTitle: "业务目录",
    catalogFormTitle: "导入目录",
    catalogHint:
      "选择 CSV 或 JSON 目录文件。整个文件先经校验，有任何错误都不会导入；新目录中没有的业务区和事项会停用（保留历史）。",
    catalogFile: "目录文件",
    import: "导入",
    chooseFile: "请先选择目录文件。",
    colCode: "代码",
    colPrefix: "号段",
    colMatters: "事项数",
    general: "综合",
    retiredArea: "已停用",
    offered: "在用",
    imported: (a) =>
      `已导入 ${a.areas} 个业务区、${a.matters} 个事项。` +
      (a.retired.length ? `停用的业务区：${a.retired.map((r) => r.name).join("、")}。` : ""),
    usersTitle: "用户",
    userFormTitle: "添加用户",
    userName: "登录名",
    userDisplay: "显示名",
    userRole: "角色",
    userClerk: "对应工作人员",
    userPassword: "初始密码（留空则自动生成）",
    addUser: "添加",
    noClerk: "（无）",
    roles: {
      admin: "管理员",
      manager: "大厅负责人",
      clerk: "窗口人员",
      reviewer: "后台审批",
      consult: "咨询导办",
      auditor: "审计（只读）",
    },
    colRole: "角色",
    colUserState: "状态",
    enabled: "启用",
    disabled: "已停用",
    disable: "停用",
    enable: "启用",
    newPassword: "重设密码",
    logoutUser: "强制下线",
    changeRole: "改为",
    roleOf: (n) => `${n}的新角色`,
    userAdded: (n) => `用户 ${n} 已添加。`,
    userChanged: (n) => `用户 ${n} 已更新。`,
    passwordMade: (n, p) => `用户 ${n} 的密码：${p}（只显示这一次，请当面交给本人）`,
    tabScreens: "大屏",
    screensTitle: "大屏",
    screensHint: "大厅墙上的大屏无需登录，凭各自的令牌打开只读页面。令牌只在发放时显示一次；吊销后该大屏立即停止显示。",
    screenFormTitle: "发放大屏令牌",
    screenName: "大屏名称",
    issueToken: "发放",
    colIssued: "发放",
    colRevoked: "吊销",
    screenLive: "使用中",
    screenMade: (n, url) => `大屏 ${n} 的地址：${url}（只显示这一次，请在大屏上打开）`,
    screenIssued: (n) => `大屏 ${n} 的令牌已发放。`,
    screenRevokeAsk: (n) => `吊销大屏 ${n} 的令牌？吊销后该大屏立即停止显示。`,
    screenRevoked: (n) => `大屏 ${n} 的令牌已吊销。`,
    byWhom: (when, who) => `${when}（${who}）`,
    clerkFor: (n) => `${n}对应的工作人员`,
    yourself: "（本人账号：请由另一位管理员修改）",
    passwordAsk: (n) => `为用户 ${n} 重设密码？其所有登录将结束。`,
    logoutAsk: (n) => `让用户 ${n} 在所有设备上下线？`,
    disableAsk: (n) => `停用用户 ${n}？其所有登录将结束，之后不能再登录。`,
  },
  en: {
    htmlLang: "en",
    title: "Hall administration",
    app: "Hall administration",
    langButton: "中文",
    langName: "中文",
    loading: "Connecting…",
    signInTitle: "Administrator sign-in",
    user: "User name",
    password: "Password",
    signIn: "Sign in",
    signOut: "Sign out",
    who: (me) => `${me.display_name} (${me.user})`,
    notAdmin: "Only an administrator may use this page.",
    unreachable: "The server cannot be reached. Check the network and try again.",
    failed: "That did not work.",
    tabsLabel: "Administration",
    tabWindows: "Windows",
    tabClerks: "Clerks",
    tabDevices: "Devices",
    tabCatalog: "Catalog",
    tabCalendar: "Hours",
    calendarTitle: "Opening hours",
    calNone: "No opening hours set: numbers at any time.",
    calSet: "Opening hours are set; weekdays not listed are closed.",
    hoursFormTitle: "Set the weekly hours",
    hoursHint: "Weekdays as 1-5 (Monday to Friday), sat, sun or mon,wed; times as HH:MM. No numbers in the lunch break or after the last number; appointments are still checked in.",
    hoursArea: "For",
    hoursDays: "Weekdays",
    hoursOpen: "Open",
    hoursClose: "Close",
    hoursLunch: "Lunch break",
    hoursLast: "Last number",
    hallWide: "The whole hall",
    colFor: "For",
    colDay: "Day",
    colHours: "Hours",
    colLunch: "Lunch break",
    colLast: "Last number",
    noLunch: "None",
    wdays: { mon: "Mon", tue: "Tue", wed: "Wed", thu: "Thu", fri: "Fri", sat: "Sat", sun: "Sun" },
    hoursSaved: "Hours saved.",
    dateFormTitle: "Holidays and swapped working days",
    dateDate: "Date",
    dateKind: "Kind",
    dateAs: "With the hours of",
    dateName: "Name",
    add: "Add",
    remove: "Remove",
    kinds: { holiday: "Holiday", workday: "Working day" },
    colDate: "Date",
    colKind: "Kind",
    dateSaved: (d) => `${d} saved.`,
    datesImportTitle: "Import a year's holidays",
    datesImportHint: "Choose a CSV file, one date a line, as in the example below (a swapped working day names the weekday whose hours it keeps). The whole file is checked first; nothing is imported if anything is wrong.",
    datesFile: "Holiday file",
    datesImported: (n) => `${n} dates imported.`,
    dateRemoved: (d) => `${d} removed.`,
    calAreaTitle: "Area settings",
    calArea: "Area",
    calAlways: "24-hour self-service",
    calUnstaffed: "With no window open",
    yesNo: { no: "No", yes: "Yes" },
    unstaffedModes: { default: "As the hall", yes: "Issue after a warning", no: "No numbers" },
    calAreaSaved: (a) => `Area ${a} saved.`,
    tabUsers: "Users",
    windowsTitle: "Windows",
    windowFormTitle: "Add or change a window",
    windowNo: "Window number",
    windowName: "Name",
    windowType: "Type",
    windowAreas: "Areas served, with weights",
    weightOf: (a) => `Weight of ${a}`,
    save: "Save",
    edit: "Edit",
    colNo: "No.",
    colName: "Name",
    colType: "Type",
    colState: "State",
    colClerk: "Clerk",
    colAreas: "Areas (weight)",
    colActions: "Actions",
    types: { intake: "Intake", issuance: "Issuance", consult: "Consult", help: "Help", complaint: "Complaint" },
    states: { open: "Open", paused: "Paused", closed: "Closed" },
    windowSaved: (n) => `Window ${n} saved.`,
    clerksTitle: "Clerks",
    clerkFormTitle: "Add a clerk or change a name",
    clerkId: "Staff number",
    clerkName: "Name",
    colActive: "State",
    active: "Active",
    inactive: "Inactive",
    clerkSaved: (id) => `Clerk ${id} saved.`,
    devicesTitle: "Devices",
    deviceFormTitle: "Register a new device",
    deviceHint:
      "A device's certificate is issued only on the hall server, by hallctl (it alone reads the hall CA's key). Check the device here, then copy the command and run it on the server.",
    deviceId: "Device id",
    deviceType: "Type",
    deviceWindow: "Window",
    makeCommand: "Make the command",
    colId: "Id",
    colWindow: "Window",
    colAdded: "Registered",
    revoked: "Revoked",
    inUse: "In use",
    revoke: "Revoke",
    revokeAsk: (id) => `Revoke device ${id}? Its link drops at once, and the id is never used again.`,
    deviceRevoked: (id) => `Device ${id} revoked.`,
    deviceTypes: { kiosk: "Kiosk", window: "Window terminal", display: "Display", tool: "Tool", web: "Web gateway" },
    commandReady: "The command is ready: run it on the hall server.",
    catalogTitle: "Catalog",
    catalogFormTitle: "Import a catalog",
    catalogHint:
      "Choose a CSV or JSON catalog file. The whole file is checked first and nothing is imported if anything is wrong; areas and matters the new catalog lacks are retired (their history is kept).",
    catalogFile: "Catalog file",
    import: "Import",
    chooseFile: "Choose a catalog file first.",
    colCode: "Code",
    colPrefix: "Prefix",
    colMatters: "Matters",
    general: "General",
    retiredArea: "Retired",
    offered: "Offered",
    imported: (a) =>
      `Imported ${a.areas} areas and ${a.matters} matters.` +
      (a.retired.length ? ` Retired: ${a.retired.map((r) => r.code).join(", ")}.` : ""),
    usersTitle: "Users",
    userFormTitle: "Add a user",
    userName: "Sign-in name",
    userDisplay: "Display name",
    userRole: "Role",
    userClerk: "Clerk",
    userPassword: "First password (empty: one is made)",
    addUser: "Add",
    noClerk: "(none)",
    roles: {
      admin: "Administrator",
      manager: "Hall manager",
      clerk: "Clerk",
      reviewer: "Back-office reviewer",
      consult: "Consult and help",
      auditor: "Auditor (read-only)",
    },
    colRole: "Role",
    colUserState: "State",
    enabled: "Enabled",
    disabled: "Disabled",
    disable: "Disable",
    enable: "Enable",
    newPassword: "New password",
    logoutUser: "Sign out everywhere",
    changeRole: "Change to",
    roleOf: (n) => `New role of ${n}`,
    userAdded: (n) => `User ${n} added.`,
    userChanged: (n) => `User ${n} updated.`,
    passwordMade: (n, p) => `Password of ${n}: ${p} (shown this once: hand it over in person)`,
    tabScreens: "Big screens",
    screensTitle: "Big screens",
    screensHint: "The hall's wall screens open a read-only page without signing in, each with a token of its own. A token is shown only when issued; once revoked, its screen stops at once.",
    screenFormTitle: "Issue a screen token",
    screenName: "Screen name",
    issueToken: "Issue",
    colIssued: "Issued",
    colRevoked: "Revoked",
    screenLive: "In use",
    screenMade: (n, url) => `Address of screen ${n}: ${url} (shown this once: open it on the screen)`,
    screenIssued: (n) => `Screen ${n} has a token.`,
    screenRevokeAsk: (n) => `Revoke the token of screen ${n}? The screen stops at once.`,
    screenRevoked: (n) => `The token of screen ${n} is revoked.`,
    byWhom: (when, who) => `${when} (${who})`,
    clerkFor: (n) => `Clerk of ${n}`,
    yourself: "(your own account: another administrator changes it)",
    passwordAsk: (n) => `Give ${n} a new password? Every session of ${n} ends.`,
    logoutAsk: (n) => `Sign ${n} out everywhere?`,
    disableAsk: (n) => `Disable ${n}? Every session ends, and ${n} can no longer sign in.`,
  },
};

const S = {
  lang: localStorage.getItem("ow.lang") === "en" ? "en" : "zh",
  me: null,
  tab: "windows",
  data: { windows: [], clerks: [], devices: [], areas: [], users: [], calendar: null, screens: [] },
};

const T = () => TEXT[S.lang];

function errorText(e) {
  return errorSentence(e, S.lang, T().failed, T().unreachable);
}

// A form's refusal: its sentence under the form, the field at fault marked.
function formError(form, e) {
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const p = form.querySelector(".form-error");
  if (!e) {
    p.hidden = true;
    p.textContent = "";
    return;
  }
  if (e instanceof ApiError && e.status === 401) return endSession();
  p.textContent = typeof e === "string" ? e : errorText(e);
  p.hidden = false;
  const field = e instanceof ApiError && e.error ? e.error.field : null;
  const el = field ? form.querySelector(`[name="${field}"]`) || (field === "areas" && $("w-areas")) : null;
  if (el) {
    el.setAttribute("aria-invalid", "true");
    if (el.focus) el.focus();
  }
}

// ---- building the tables ------------------------------------------------------

function cell(row, text, tag = "td") {
  const c = document.createElement(tag);
  if (text instanceof Node) c.append(text);
  else c.textContent = text;
  row.append(c);
  return c;
}

function button(label, onClick, extra) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "small";
  b.textContent = label;
  if (extra) b.setAttribute("aria-label", extra);
  b.addEventListener("click", onClick);
  return b;
}

function table(id, heads, rows, fill) {
  const t = $(id);
  t.textContent = "";
  const head = t.createTHead().insertRow();
  for (const h of heads) cell(head, h, "th").scope = "col";
  const body = t.createTBody();
  for (const r of rows) fill(body.insertRow(), r);
}

function options(select, values, label, keep) {
  const was = keep ? select.value : null;
  select.textContent = "";
  for (const v of values) {
    const o = document.createElement("option");
    o.value = v.value !== undefined ? v.value : v;
    o.textContent = v.label !== undefined ? v.label : label(v);
    select.append(o);
  }
  if (was !== null && [...select.options].some((o) => o.value === was)) select.value = was;
}

// ---- the tabs -------------------------------------------------------------------

function renderWindows() {
  const t = T();
  table("windows-table", [t.colNo, t.colName, t.colType, t.colState, t.colClerk, t.colAreas, t.colActions],
    S.data.windows, (row, w) => {
      cell(row, String(w.no));
      cell(row, w.name);
      cell(row, t.types[w.type] || w.type);
      cell(row, t.states[w.state] || w.state);
      cell(row, w.clerk || "—");
      cell(row, w.areas.map((a) => `${areaName(a.area)}（${a.weight}）`).join("、"));
      cell(row, button(t.edit, () => editWindow(w), `${t.edit} ${w.name}`));
    });
  options($("w-type"), TYPES, (v) => t.types[v], true);
  const list = $("w-area-list");
  const was = {};
  for (const el of list.querySelectorAll("input[type=checkbox]"))
    was[el.value] = { on: el.checked, weight: $(`w-weight-${el.value}`).value };
  list.textContent = "";
  for (const a of S.data.areas) {
    const box = document.createElement("span");
    box.className = "area";
    const cb = document.createElement("input");
    cb.type = "checkbox";
    cb.id = `w-area-${a.code}`;
    cb.value = a.code;
    cb.checked = was[a.code] ? was[a.code].on : false;
    const l = document.createElement("label");
    l.htmlFor = cb.id;
    l.textContent = a.retired ? `${a.name}（${t.retiredArea}）` : a.name;
    const wt = document.createElement("input");
    wt.type = "number";
    wt.min = "1";
    wt.max = "1000";
    wt.id = `w-weight-${a.code}`;
    wt.value = was[a.code] ? was[a.code].weight : "1";
    wt.setAttribute("aria-label", t.weightOf(a.name));
    box.append(cb, l, wt);
    list.append(box);
  }
}

function areaName(code) {
  const a = S.data.areas.find((x) => x.code === code);
  return a ? a.name : code;
}

function editWindow(w) {
  $("w-no").value = String(w.no);
  $("w-name").value = w.name;
  $("w-type").value = w.type;
  for (const a of S.data.areas) {
    const mine = w.areas.find((x) => x.area === a.code);
    $(`w-area-${a.code}`).checked = !!mine;
    $(`w-weight-${a.code}`).value = mine ? String(mine.weight) : "1";
  }
  $("w-name").focus();
}

async function saveWindow(ev) {
  ev.preventDefault();
  const form = ev.target;
  const areas = [];
  for (const cb of $("w-area-list").querySelectorAll("input[type=checkbox]"))
    if (cb.checked) areas.push({ area: cb.value, weight: Number($(`w-weight-${cb.value}`).value) || 0 });
  const no = Number($("w-no").value.trim());
  await submit(form, async () => {
    await api("POST", "/api/v1/windows", {
      no: Number.isInteger(no) && no >= 0 ? no : 0,
      name: $("w-name").value.trim(),
      type: $("w-type").value,
      areas,
    });
    say(T().windowSaved(no));
  });
}

function renderClerks() {
  const t = T();
  table("clerks-table", [t.clerkId, t.clerkName, t.colActive, t.colActions], S.data.clerks, (row, c) => {
    cell(row, c.id);
    cell(row, c.name);
    cell(row, c.active ? t.active : t.inactive);
    cell(row, button(t.edit, () => {
      $("k-id").value = c.id;
      $("k-name").value = c.name;
      $("k-name").focus();
    }, `${t.edit} ${c.id}`));
  });
}

async function saveClerk(ev) {
  ev.preventDefault();
  const id = $("k-id").value.trim();
  await submit(ev.target, async () => {
    await api("POST", "/api/v1/clerks", { id, name: $("k-name").value.trim() });
    $("k-id").value = "";
    $("k-name").value = "";
    say(T().clerkSaved(id));
  });
}

function renderDevices() {
  const t = T();
  table("devices-table", [t.colId, t.colType, t.colWindow, t.colState, t.colAdded, t.colActions],
    S.data.devices, (row, d) => {
      cell(row, d.id);
      cell(row, t.deviceTypes[d.type] || d.type);
      cell(row, d.window_no ? String(d.window_no) : "—");
      cell(row, d.revoked ? t.revoked : t.inUse);
      cell(row, new Date(d.added_ms).toLocaleString(t.htmlLang));
      cell(row, d.revoked || d.type === "web" ? "" : button(t.revoke, () => revokeDevice(d.id), `${t.revoke} ${d.id}`));
    });
  options($("d-type"), DEVICE_TYPES, (v) => t.deviceTypes[v], true);
}

async function revokeDevice(id) {
  if (!window.confirm(T().revokeAsk(id))) return;
  notify("");
  try {
    await api("POST", `/api/v1/devices/${encodeURIComponent(id)}/revoke`, {});
    say(T().deviceRevoked(id));
    notify("");
    await load();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return endSession();
    notify(errorText(e));
  }
}

async function deviceCommand(ev) {
  ev.preventDefault();
  const form = ev.target;
  const out = $("d-command");
  out.hidden = true;
  formError(form, null);
  try {
    const w = $("d-window").value.trim();
    const a = await api("POST", "/api/v1/devices/command", {
      id: $("d-id").value.trim(),
      type: $("d-type").value,
      window: w === "" ? 0 : Number(w) >= 0 ? Number(w) : -1,
    });
    out.textContent = a.command;
    out.hidden = false;
    say(T().commandReady);
  } catch (e) {
    formError(form, e);
  }
}

function renderCatalog() {
  const t = T();
  table("catalog-table", [t.colCode, t.colName, t.colPrefix, t.colMatters, t.colState], S.data.areas, (row, a) => {
    cell(row, a.code);
    cell(row, a.name);
    cell(row, a.prefix);
    cell(row, String(a.matters.length));
    cell(row, a.retired ? t.retiredArea : a.general ? t.general : t.offered);
    if (a.retired) row.className = "retired";
  });
}

async function importCatalog(ev) {
  ev.preventDefault();
  const form = ev.target;
  const file = $("c-file").files[0];
  $("c-result").hidden = true;
  if (!file) return formError(form, T().chooseFile);
  const json = /\.json$/i.test(file.name);
  await submit(form, async () => {
    const a = await api("POST", `/api/v1/catalog?name=${encodeURIComponent(file.name)}`,
      await file.arrayBuffer(), { type: json ? "application/json" : "text/csv" });
    $("c-result").textContent = T().imported(a);
    $("c-result").hidden = false;
  });
}

function renderUsers() {
  const t = T();
  table("users-table", [t.userName, t.userDisplay, t.colRole, t.userClerk, t.colUserState, t.colActions],
    S.data.users, (row, u) => {
      cell(row, u.name);
      cell(row, u.display_name);
      cell(row, t.roles[u.role] || u.role);
      cell(row, u.clerk_id || "—");
      cell(row, u.disabled ? t.disabled : t.enabled);
      const acts = document.createElement("div");
      if (u.name !== S.me.user) {
        acts.append(button(u.disabled ? t.enable : t.disable,
          () => userOp(u.name, u.disabled ? "enable" : "disable", {}, u.disabled ? null : t.disableAsk(u.name)),
          `${u.disabled ? t.enable : t.disable} ${u.name}`));
        const sel = document.createElement("select");
        sel.setAttribute("aria-label", t.roleOf(u.name));
        options(sel, ROLES.filter((r) => r !== "clerk" || S.data.clerks.length), (r) => t.roles[r]);
        sel.value = u.role;
        const clerk = document.createElement("select");
        clerk.setAttribute("aria-label", t.clerkFor(u.name));
        options(clerk, S.data.clerks.map((c) => ({ value: c.id, label: `${c.id} ${c.name}` })));
        clerk.value = u.clerk_id || (S.data.clerks[0] ? S.data.clerks[0].id : "");
        clerk.hidden = sel.value !== "clerk";
        sel.addEventListener("change", () => (clerk.hidden = sel.value !== "clerk"));
        acts.append(sel, clerk, button(t.changeRole, () =>
          userOp(u.name, "role", { role: sel.value, clerk: sel.value === "clerk" ? clerk.value : "" }),
          `${t.changeRole} ${u.name}`));
      }
      // One's own password and sessions: not here, where the change would
      // sign this page out before it could show the new password.
      if (u.name !== S.me.user)
        acts.append(button(t.newPassword, () => userOp(u.name, "password", {}, t.passwordAsk(u.name)),
          `${t.newPassword} ${u.name}`),
        button(t.logoutUser, () => userOp(u.name, "logout", {}, t.logoutAsk(u.name)), `${t.logoutUser} ${u.name}`));
      else acts.textContent = t.yourself;
      cell(row, acts);
    });
  options($("u-role"), ROLES, (r) => t.roles[r], true);
  options($("u-clerk"), [{ value: "", label: t.noClerk }].concat(
    S.data.clerks.map((c) => ({ value: c.id, label: `${c.id} ${c.name}` }))), null, true);
}

function showPassword(a) {
  const p = $("u-password");
  p.textContent = a.password ? T().passwordMade(a.name, a.password) : "";
  p.hidden = !a.password;
}

async function userOp(name, op, body, question) {
  if (question && !window.confirm(question)) return;
  notify("");
  try {
    const a = await api("POST", `/api/v1/users/${encodeURIComponent(name)}/${op}`, body || {});
    showPassword(a);
    say(T().userChanged(name));
    await load();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return endSession();
    notify(errorText(e));
  }
}

async function addUser(ev) {
  ev.preventDefault();
  const name = $("u-name").value.trim();
  await submit(ev.target, async () => {
    const a = await api("POST", "/api/v1/users", {
      name,
      display_name: $("u-display").value.trim(),
      role: $("u-role").value,
      clerk: $("u-role").value === "clerk" ? $("u-clerk").value : "",
      password: $("u-pass").value,
    });
    for (const id of ["u-name", "u-display", "u-pass"]) $(id).value = "";
    showPassword(a);
    say(T().userAdded(name));
  });
}

function renderScreens() {
  const t = T();
  const when = (ms, who) => (ms ? t.byWhom(new Date(ms).toLocaleString(t.htmlLang), who) : "—");
  table("screens-table", [t.colName, t.colState, t.colIssued, t.colRevoked, t.colActions], S.data.screens, (row, sc) => {
    cell(row, sc.name);
    cell(row, sc.state === "live" ? t.screenLive : t.revoked);
    cell(row, when(sc.issued_ms, sc.issued_by));
    cell(row, when(sc.revoked_ms, sc.revoked_by));
    cell(row, sc.state === "live" ? button(t.revoke, () => revokeScreen(sc.name), `${t.revoke} ${sc.name}`) : "");
  });
}

async function issueScreen(ev) {
  ev.preventDefault();
  const name = $("s-name").value.trim();
  $("s-token").hidden = true;
  await submit(ev.target, async () => {
    const a = await api("POST", "/api/v1/screens", { name });
    $("s-name").value = "";
    $("s-token").textContent = T().screenMade(a.name, `${location.origin}${a.path}`);
    $("s-token").hidden = false;
    say(T().screenIssued(a.name));
  });
}

async function revokeScreen(name) {
  if (!window.confirm(T().screenRevokeAsk(name))) return;
  notify("");
  try {
    await api("POST", `/api/v1/screens/${encodeURIComponent(name)}/revoke`, {});
    say(T().screenRevoked(name));
    await load();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return endSession();
    notify(errorText(e));
  }
}

// A form's change: sent, then the lists read again; a refusal marked.
async function submit(form, send) {
  const b = form.querySelector("button[type=submit]");
  formError(form, null);
  notify("");
  b.disabled = true;
  try {
    await send();
    await load();
  } catch (e) {
    formError(form, e);
  } finally {
    b.disabled = false;
  }
}

// ---- the hall calendar (docs/calendar.md) -----------------------------------------

const WDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

function areaLabel(code) {
  const t = T();
  if (!code) return t.hallWide;
  const a = S.data.areas.find((x) => x.code === code);
  return a ? `${a.code} ${a.name}` : code;
}

function renderCalendar() {
  const t = T();
  const c = S.data.calendar;
  if (!c) return;
  $("cal-state").textContent = c.configured ? t.calSet : t.calNone;
  const hours = c.hours.slice().sort((x, y) => (x.area === y.area ? WDAYS.indexOf(x.day) - WDAYS.indexOf(y.day) : x.area < y.area ? -1 : 1));
  table("hours-table", [t.colFor, t.colDay, t.colHours, t.colLunch, t.colLast, t.colActions], hours, (row, h) => {
    cell(row, areaLabel(h.area));
    cell(row, t.wdays[h.day]);
    cell(row, `${h.open}–${h.close}`);
    cell(row, h.lunch || t.noLunch);
    cell(row, h.last);
    cell(row, button(t.remove, () => calendarChange(row, "/api/v1/calendar/clear",
      { area: h.area, days: h.day }, t.hoursSaved), `${t.remove} ${areaLabel(h.area)} ${t.wdays[h.day]}`));
  });
  table("dates-table", [t.colDate, t.colKind, t.dateAs, t.dateName, t.colActions], c.dates, (row, d) => {
    cell(row, d.date);
    cell(row, t.kinds[d.kind]);
    cell(row, d.as ? t.wdays[d.as] : "—");
    cell(row, d.name || "—");
    cell(row, button(t.remove, () => calendarChange(row, "/api/v1/calendar/dates/remove",
      { date: d.date }, t.dateRemoved(d.date)), `${t.remove} ${d.date}`));
  });
  table("cal-areas-table", [t.calArea, t.calAlways, t.calUnstaffed], c.areas, (row, a) => {
    cell(row, areaLabel(a.area));
    cell(row, t.yesNo[a.always_open ? "yes" : "no"]);
    cell(row, t.unstaffedModes[a.unstaffed]);
  });
  const areas = S.data.areas.filter((a) => !a.retired).map((a) => ({ value: a.code, label: areaLabel(a.code) }));
  options($("h-area"), [{ value: "", label: t.hallWide }].concat(areas), null, true);
  options($("y-kind"), ["holiday", "workday"], (k) => t.kinds[k], true);
  options($("y-as"), WDAYS, (d) => t.wdays[d], true);
  $("y-as").disabled = $("y-kind").value !== "workday";
  options($("a-area"), areas, null, true);
  options($("a-always"), ["no", "yes"], (v) => t.yesNo[v], true);
  options($("a-unstaffed"), ["default", "yes", "no"], (v) => t.unstaffedModes[v], true);
}

// A change from a row's button: refusals are said at the top of the page.
async function calendarChange(row, path, body, done) {
  notify("");
  try {
    await api("POST", path, body);
    await load();
    say(done);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return endSession();
    notify(errorText(e));
  }
}

async function saveHours(ev) {
  ev.preventDefault();
  await submit(ev.target, async () => {
    await api("POST", "/api/v1/calendar/hours", {
      area: $("h-area").value,
      days: $("h-days").value.trim(),
      open: $("h-open").value.trim(),
      close: $("h-close").value.trim(),
      lunch: $("h-lunch").value.trim(),
      last: $("h-last").value.trim(),
    });
    say(T().hoursSaved);
  });
}

async function saveDate(ev) {
  ev.preventDefault();
  const date = $("y-date").value.trim();
  await submit(ev.target, async () => {
    await api("POST", "/api/v1/calendar/dates", {
      date,
      kind: $("y-kind").value,
      as: $("y-kind").value === "workday" ? $("y-as").value : "",
      name: $("y-name").value.trim(),
    });
    $("y-date").value = "";
    $("y-name").value = "";
    say(T().dateSaved(date));
  });
}

async function importDates(ev) {
  ev.preventDefault();
  const form = ev.target;
  const file = $("d-file").files[0];
  if (!file) return formError(form, T().chooseFile);
  await submit(form, async () => {
    const a = await api("POST", "/api/v1/calendar/import", { csv: await file.text() });
    $("d-file").value = "";
    say(T().datesImported(a.imported));
  });
}

async function saveCalendarArea(ev) {
  ev.preventDefault();
  const area = $("a-area").value;
  await submit(ev.target, async () => {
    await api("POST", "/api/v1/calendar/areas", {
      area,
      always_open: $("a-always").value,
      unstaffed: $("a-unstaffed").value,
    });
    say(T().calAreaSaved(area));
  });
}

// ---- the page -------------------------------------------------------------------

async function load() {
  const [w, c, d, a, u, k, s] = await Promise.all([
    api("GET", "/api/v1/windows"),
    api("GET", "/api/v1/clerks"),
    api("GET", "/api/v1/devices"),
    api("GET", "/api/v1/catalog"),
    api("GET", "/api/v1/users"),
    api("GET", "/api/v1/calendar"),
    api("GET", "/api/v1/screens"),
  ]);
  S.data = { windows: w.windows, clerks: c.clerks, devices: d.devices, areas: a.areas, users: u.users,
    calendar: k.calendar, screens: s.screens };
  render();
}

function render() {
  const t = T();
  $("who").textContent = S.me ? t.who(S.me) : "";
  $("signout").hidden = !S.me;
  if (!S.me) return;
  for (const b of document.querySelectorAll(".tab")) {
    if (b.dataset.tab === S.tab) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
    $(`p-${b.dataset.tab}`).hidden = b.dataset.tab !== S.tab;
  }
  renderWindows();
  renderClerks();
  renderDevices();
  renderCatalog();
  renderUsers();
  renderCalendar();
  renderScreens();
}

function show(view) {
  $("loading").hidden = view !== "loading";
  $("v-signin").hidden = view !== "signin";
  $("v-admin").hidden = view !== "admin";
  render();
}

function applyLanguage() {
  const t = T();
  applyTexts(t, S.lang);
  for (const el of document.querySelectorAll("[data-t-label]")) el.setAttribute("aria-label", t[el.dataset.tLabel]);
  render();
}

async function startSession(s) {
  if (s.role !== "admin") {
    S.me = null;
    notify(T().notAdmin);
    return show("signin");
  }
  S.me = { user: s.user, display_name: s.display_name };
  WEB.csrf = s.csrf_token;
  show("admin");
  try {
    await load();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return endSession();
    notify(errorText(e));
  }
}

function endSession() {
  S.me = null;
  WEB.csrf = null;
  $("password").value = "";
  show("signin");
  $("user").focus();
}

async function start() {
  wireSession(startSession, endSession, errorText);
  $("lang").addEventListener("click", () => {
    S.lang = S.lang === "zh" ? "en" : "zh";
    localStorage.setItem("ow.lang", S.lang);
    applyLanguage();
  });
  for (const b of document.querySelectorAll(".tab"))
    b.addEventListener("click", () => {
      S.tab = b.dataset.tab;
      notify("");
      render();
    });
  $("window-form").addEventListener("submit", saveWindow);
  $("clerk-form").addEventListener("submit", saveClerk);
  $("device-form").addEventListener("submit", deviceCommand);
  $("catalog-form").addEventListener("submit", importCatalog);
  $("user-form").addEventListener("submit", addUser);
  $("hours-form").addEventListener("submit", saveHours);
  $("date-form").addEventListener("submit", saveDate);
  $("dates-import-form").addEventListener("submit", importDates);
  $("cal-area-form").addEventListener("submit", saveCalendarArea);
  $("screen-form").addEventListener("submit", issueScreen);
  $("y-kind").addEventListener("change", () => ($("y-as").disabled = $("y-kind").value !== "workday"));
  applyLanguage();
  show("loading");
  try {
    await startSession(await api("GET", "/api/v1/session"));
  } catch (e) {
    if (!(e instanceof ApiError)) notify(T().unreachable);
    endSession();
  }
}

start();
