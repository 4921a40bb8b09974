// Lineup's browser client: renders a demo's form, joins its line over one websocket per
// tab, shows position, ETA, progress and streamed output, and renders the result. No build
// step. The job id is kept in sessionStorage, so a refresh resumes the job instead of losing
// it; a lost connection is retried with growing pauses and the job resumed. The frames are
// those of docs/protocol.md.

const page = JSON.parse(document.getElementById("lineup-page").textContent);
const storageKey = `lineup:job:${page.demo}`;
const $ = (id) => document.getElementById(id);

// ---- components -----------------------------------------------------------------------

function field(component, index, control) {
  const wrapper = document.createElement("div");
  wrapper.className = `field field-${component.kind}`;
  const label = document.createElement("label");
  label.htmlFor = control.id = `input-${index}`;
  label.textContent = component.label;
  wrapper.append(label, control);
  return wrapper;
}

const inputs = {
  text(c, i) {
    const el = document.createElement(c.lines > 1 ? "textarea" : "input");
    if (c.lines > 1) el.rows = c.lines;
    if (c.placeholder) el.placeholder = c.placeholder;
    if (c.max_length) el.maxLength = c.max_length;
    return { node: field(c, i, el), get: () => el.value, set: (v) => { el.value = v; } };
  },
  number(c, i) {
    const el = document.createElement("input");
    el.type = "number";
    if (c.minimum !== null) el.min = c.minimum;
    if (c.maximum !== null) el.max = c.maximum;
    el.step = c.integer ? "1" : "any";
    return { node: field(c, i, el), get: () => Number(el.value), set: (v) => { el.value = v; } };
  },
  slider(c, i) {
    const el = document.createElement("input");
    el.type = "range";
    Object.assign(el, { min: c.minimum, max: c.maximum, step: c.step });
    el.value = c.default ?? c.minimum;
    const shown = document.createElement("output");
    shown.textContent = el.value;
    el.addEventListener("input", () => { shown.textContent = el.value; });
    const node = field(c, i, el);
    node.append(shown);
    return { node, get: () => Number(el.value), set: (v) => { el.value = v; shown.textContent = v; } };
  },
  checkbox(c, i) {
    const el = document.createElement("input");
    el.type = "checkbox";
    el.checked = Boolean(c.default);
    return { node: field(c, i, el), get: () => el.checked, set: (v) => { el.checked = Boolean(v); } };
  },
  dropdown(c, i) {
    const el = document.createElement("select");
    for (const choice of c.choices) el.add(new Option(choice, choice));
    if (c.default) el.value = c.default;
    return { node: field(c, i, el), get: () => el.value, set: (v) => { el.value = v; } };
  },
  radio(c, i) {
    const group = choiceGroup(c, i, "radio", c.default ? [c.default] : [c.choices[0]]);
    return { node: group.node, get: () => group.chosen()[0] ?? null, set: (v) => group.choose([v]) };
  },
  checkbox_group(c, i) {
    const group = choiceGroup(c, i, "checkbox", c.default ?? []);
    return { node: group.node, get: () => group.chosen(), set: (v) => group.choose(v) };
  },
  color(c, i) {
    const el = document.createElement("input");
    el.type = "color";
    el.value = c.default ?? "#000000";
    return { node: field(c, i, el), get: () => el.value, set: (v) => { el.value = v; } };
  },
  image(c, i) {
    const picker = filePicker(c, i, { accept: "image/*", limit: page.max_image_bytes, noun: "an image" });
    const preview = document.createElement("img");
    preview.className = "preview";
    preview.alt = `${c.label} preview`;
    picker.node.append(showsChosen(picker, preview));
    return picker;
  },
  file(c, i) {
    return filePicker(c, i, { accept: (c.types ?? []).join(","), limit: page.max_file_bytes, types: c.types });
  },
  audio(c, i) {
    const picker = filePicker(c, i, { accept: "audio/*", limit: page.max_file_bytes, noun: "a recording" });
    const player = document.createElement("audio");
    player.controls = true;
    player.setAttribute("aria-label", `${c.label}: what will be sent`);
    picker.node.append(recorder(c, (file) => picker.choose(file)), showsChosen(picker, player));
    return picker;
  },
  video(c, i) {
    const picker = filePicker(c, i, { accept: "video/*", limit: page.max_file_bytes, noun: "a video" });
    const player = document.createElement("video");
    Object.assign(player, { controls: true, muted: true, className: "preview" });
    picker.node.append(showsChosen(picker, player));
    return picker;
  },
  dataframe(c, i) {
    const grid = tableEditor(c, i);
    return { node: grid.node, get: () => grid.value(), set: (v) => grid.fill(v) };
  },
  chatbot(c) {
    // The conversation so far: kept by the page, shown with the outputs, sent with each message.
    const node = document.createElement("div");
    node.hidden = true;
    return { node, chat: true, get: () => conversation.slice(), set: (v) => setConversation(v) };
  },
  json(c, i) {
    const el = document.createElement("textarea");
    el.rows = 4;
    return { node: field(c, i, el), get: () => JSON.parse(el.value || "null"), set: (v) => { el.value = JSON.stringify(v, null, 2); } };
  },
};


function choiceGroup(c, i, type, chosen) {
  const box = document.createElement("fieldset");
  box.className = `field field-${c.kind}`;
  box.id = `input-${i}`;
  const legend = document.createElement("legend");
  legend.textContent = c.label;
  box.append(legend);
  const boxes = c.choices.map((choice) => {
    const option = document.createElement("label");
    option.className = "choice";
    const el = document.createElement("input");
    Object.assign(el, { type, name: `input-${i}`, value: choice, checked: chosen.includes(choice) });
    option.append(el, document.createTextNode(choice));
    box.append(option);
    return el;
  });
  return {
    node: box,
    chosen: () => boxes.filter((el) => el.checked).map((el) => el.value),
    choose: (values) => boxes.forEach((el) => { el.checked = values.includes(el.value); }),
  };
}

// A preview (image, audio or video element) of the file chosen in a picker; hidden until one is.
function showsChosen(picker, element) {
  element.hidden = true;
  picker.onChange((file) => {
    element.hidden = !file;
    if (file) element.src = URL.createObjectURL(file);
  });
  return element;
}

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// A file input: checked in the browser where it can be (size, type), uploaded over HTTP with
// progress when the form is sent, and named in the job by the path the upload returned.
function filePicker(c, i, { accept, limit, types, noun = "a file" }) {
  const el = document.createElement("input");
  el.type = "file";
  if (accept) el.accept = accept;
  const note = document.createElement("p");
  note.className = "file-note";
  let chosen = null;
  const listeners = [];
  const problem = (file) => {
    if (file.size > limit) return `${file.name} is ${formatBytes(file.size)}; at most ${formatBytes(limit)}`;
    if (file.size === 0) return `${file.name} is empty`;
    const suffix = file.name.includes(".") ? `.${file.name.split(".").pop().toLowerCase()}` : "";
    if (types?.length && !types.includes(suffix)) return `${file.name}: only ${types.join(", ")} files`;
    return null;
  };
  const choose = (file) => {
    chosen = file;
    const wrong = file && problem(file);
    note.textContent = file ? (wrong ? `Not accepted: ${wrong}.` : `${file.name}, ${formatBytes(file.size)}`) : "";
    note.dataset.kind = wrong ? "error" : "";
    listeners.forEach((listener) => listener(wrong ? null : file));
  };
  el.addEventListener("change", () => choose(el.files[0] ?? null));
  const node = field(c, i, el);
  node.append(note);
  return {
    node,
    choose,
    onChange: (listener) => listeners.push(listener),
    get: async () => {
      if (!chosen) throw new Error(`choose ${noun} for "${c.label}"`);
      const wrong = problem(chosen);
      if (wrong) throw new Error(wrong);
      return { path: await upload(chosen, c.label), orig_name: chosen.name };
    },
    set: async (url) => {
      const blob = await (await fetch(url)).blob();
      choose(new File([blob], url.split("/").pop(), { type: blob.type }));
    },
  };
}


// Record from the microphone in the browser (MediaRecorder); the recording is then sent as
// any chosen file is.
function recorder(c, done) {
  const button = document.createElement("button");
  Object.assign(button, { type: "button", className: "small", textContent: "Record" });
  button.setAttribute("aria-label", `Record ${c.label}`);
  if (!navigator.mediaDevices?.getUserMedia || !window.MediaRecorder) {
    button.disabled = true;
    button.title = "This browser cannot record here (recording needs HTTPS).";
    return button;
  }
  let recording = null;
  button.addEventListener("click", async () => {
    if (recording) {
      recording.stop();
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      status(`The microphone could not be used: ${error.message}`, "error");
      return;
    }
    const chunks = [];
    recording = new MediaRecorder(stream);
    recording.addEventListener("dataavailable", (event) => chunks.push(event.data));
    recording.addEventListener("stop", () => {
      stream.getTracks().forEach((track) => track.stop());
      recording = null;
      button.textContent = "Record";
      button.setAttribute("aria-label", `Record ${c.label}`);
      const type = chunks[0]?.type || "audio/webm";
      done(new File(chunks, `recording.${type.includes("ogg") ? "ogg" : "webm"}`, { type }));
    });
    recording.start();
    button.textContent = "Stop recording";
    button.setAttribute("aria-label", `Stop recording ${c.label}`);
    status("Recording… press Stop recording when done.");
  });
  return button;
}

function upload(file, label) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", page.upload_url);
    request.setRequestHeader("X-Lineup-Token", token);
    request.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      status(`Uploading ${label}: ${Math.round((100 * event.loaded) / event.total)}%`);
      bar(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      bar(null);
      let body = null;
      try { body = JSON.parse(request.responseText); } catch (error) { /* not JSON */ }
      if (request.status === 200 && Array.isArray(body)) resolve(body[0]);
      else reject(new Error(body?.detail ?? body?.error ?? `the upload of ${file.name} failed (${request.status})`));
    });
    request.addEventListener("error", () => { bar(null); reject(new Error(`the upload of ${file.name} failed`)); });
    const form = new FormData();
    form.append("files", file, file.name);
    request.send(form);
  });
}

// A typed cell: numbers as numbers ("any" cells too, when they read as one), empty as null.
function cellValue(text, type) {
  if (text.trim() === "") return null;
  if (type === "number" || (type === "any" && Number.isFinite(Number(text)))) return Number(text);
  return text;
}

// An editable table: typed cells, rows added and removed; fixed columns when the demo names them.
function tableEditor(c, i) {
  const node = document.createElement("div");
  node.className = `field field-dataframe`;
  const label = document.createElement("label");
  label.textContent = c.label;
  const table = document.createElement("table");
  table.className = "grid";
  table.id = `input-${i}`;
  const typeOf = (n) => (typeof c.datatype === "string" ? c.datatype : c.datatype[n] ?? "any");
  let headers = c.headers.length ? [...c.headers] : ["a", "b"];
  let rows = [headers.map(() => null)];
  const cell = (value, n, onChange) => {
    const el = document.createElement("input");
    el.setAttribute("aria-label", `${headers[n]}`);
    if (typeOf(n) === "bool") {
      el.type = "checkbox";
      el.checked = Boolean(value);
      el.addEventListener("change", () => onChange(el.checked));
    } else {
      el.type = typeOf(n) === "number" ? "number" : "text";
      if (el.type === "number") el.step = "any";
      el.value = value ?? "";
      el.addEventListener("input", () => onChange(cellValue(el.value, typeOf(n))));
    }
    return el;
  };
  const draw = () => {
    table.replaceChildren();
    const head = table.createTHead().insertRow();
    headers.forEach((name, n) => {
      const th = document.createElement("th");
      if (c.headers.length) th.textContent = name;
      else th.append(cell(name, n, (v) => { headers[n] = String(v ?? ""); }));
      head.append(th);
    });
    head.append(document.createElement("th"));
    const body = table.createTBody();
    rows.forEach((row, r) => {
      const tr = body.insertRow();
      row.forEach((value, n) => tr.insertCell().append(cell(value, n, (v) => { rows[r][n] = v; })));
      const remove = document.createElement("button");
      Object.assign(remove, { type: "button", className: "small", textContent: "×" });
      remove.setAttribute("aria-label", `Remove row ${r + 1}`);
      remove.addEventListener("click", () => { rows.splice(r, 1); draw(); });
      tr.insertCell().append(remove);
    });
  };
  const add = document.createElement("button");
  Object.assign(add, { type: "button", className: "small", textContent: "Add row" });
  add.addEventListener("click", () => { rows.push(headers.map(() => null)); draw(); });
  const scroller = document.createElement("div");
  scroller.className = "grid-scroll";
  scroller.append(table);
  node.append(label, scroller, add);
  draw();
  return {
    node,
    value: () => ({ headers: [...headers], data: rows.map((row) => [...row]) }),
    fill: (value) => { headers = [...value.headers]; rows = value.data.map((row) => [...row]); draw(); },
  };
}

const outputs = {
  text: (value) => textBlock(value),
  number: (value) => textBlock(String(value)),
  slider: (value) => textBlock(String(value)),
  checkbox: (value) => textBlock(value ? "yes" : "no"),
  dropdown: (value) => textBlock(value),
  radio: (value) => textBlock(value),
  checkbox_group: (value) => textBlock(value.join(", ")),
  color(value) {
    const box = textBlock(value);
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = value;
    box.prepend(swatch);
    return box;
  },
  image(value, c) {
    const img = document.createElement("img");
    img.src = value.url;
    img.alt = c.label;
    img.className = "result-image";
    return img;
  },
  audio(value, c) {
    const player = document.createElement("audio");
    Object.assign(player, { controls: true, src: value.url });
    player.setAttribute("aria-label", c.label);
    return player;
  },
  video(value, c) {
    const player = document.createElement("video");
    Object.assign(player, { controls: true, src: value.url, className: "result-image" });
    if (value.poster) player.poster = value.poster;
    player.setAttribute("aria-label", c.label);
    return player;
  },
  file(value) {
    const link = document.createElement("a");
    link.className = "download";
    link.href = value.url;
    link.download = value.name;
    link.textContent = `Download ${value.name} (${formatBytes(value.size)})`;
    return link;
  },
  gallery(value, c) {
    const grid = document.createElement("div");
    grid.className = "gallery";
    grid.style.setProperty("--columns", c.columns ?? 3);
    value.forEach((item, n) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "gallery-item";
      button.setAttribute("aria-label", `Open image ${n + 1} of ${value.length}${item.caption ? `: ${item.caption}` : ""}`);
      const img = document.createElement("img");
      img.src = item.url;
      img.alt = item.caption ?? `${c.label} ${n + 1}`;
      button.append(img);
      if (item.caption) {
        const caption = document.createElement("span");
        caption.textContent = item.caption;
        button.append(caption);
      }
      button.addEventListener("click", () => openViewer(value, n));
      grid.append(button);
    });
    return grid;
  },
  label(value) {
    const box = document.createElement("div");
    const top = document.createElement("p");
    top.className = "label-top";
    top.textContent = value.label ?? "";
    box.append(top);
    for (const { label, confidence } of value.confidences) {
      const row = document.createElement("div");
      row.className = "confidence";
      row.innerHTML = `<span></span><div class="bar"><div class="bar-fill"></div></div><span></span>`;
      row.children[0].textContent = label;
      row.querySelector(".bar-fill").style.width = `${Math.round(confidence * 100)}%`;
      row.children[2].textContent = `${Math.round(confidence * 100)}%`;
      box.append(row);
    }
    return box;
  },
  json: (value) => textBlock(JSON.stringify(value, null, 2), "pre"),
  // Sanitized by the worker (nh3) before it was stored; the page's policy runs no inline code.
  markdown: (value) => richBlock(value.html),
  html: (value) => richBlock(value.html),
  dataframe(value) {
    const scroller = document.createElement("div");
    scroller.className = "grid-scroll";
    const table = document.createElement("table");
    table.className = "grid result-table";
    const head = table.createTHead().insertRow();
    for (const name of value.headers) {
      const th = document.createElement("th");
      th.textContent = name;
      head.append(th);
    }
    const body = table.createTBody();
    for (const row of value.data) {
      const tr = body.insertRow();
      for (const cell of row) tr.insertCell().textContent = cell ?? "";
    }
    scroller.append(table);
    return scroller;
  },
  chatbot: (value) => chatView(value),
};

function richBlock(html) {
  const box = document.createElement("div");
  box.className = "rich";
  box.innerHTML = html;
  return box;
}

function openViewer(items, start) {
  const dialog = $("viewer");
  let n = start;
  const show = () => {
    $("viewer-image").src = items[n].url;
    $("viewer-image").alt = items[n].caption ?? `Image ${n + 1}`;
    $("viewer-caption").textContent = `${items[n].caption ?? ""} (${n + 1} of ${items.length})`;
  };
  $("viewer-prev").onclick = () => { n = (n + items.length - 1) % items.length; show(); };
  $("viewer-next").onclick = () => { n = (n + 1) % items.length; show(); };
  show();
  dialog.showModal();
}

function textBlock(text, tag = "p") {
  const el = document.createElement(tag);
  el.className = "result-text";
  el.textContent = text;
  return el;
}


// ---- chat ---------------------------------------------------------------------------------
// A demo with a conversation among its inputs and outputs is a chat: the page keeps the
// conversation (across a refresh too), sends it with each message, and shows it growing as
// the reply streams in.

const chatKey = `lineup:chat:${page.demo}`;
const chatOutput = page.outputs.findIndex((c) => c.kind === "chatbot");
let conversation = JSON.parse(sessionStorage.getItem(chatKey) ?? "[]");

function setConversation(messages, { show = true } = {}) {
  conversation = messages;
  sessionStorage.setItem(chatKey, JSON.stringify(messages));
  if (show) showConversation(messages);
}

function chatView(messages) {
  const log = document.createElement("div");
  log.className = "chat";
  log.setAttribute("role", "log");
  for (const { role, content } of messages) {
    const bubble = document.createElement("p");
    bubble.className = `message message-${role}`;
    bubble.textContent = content;
    log.append(bubble);
  }
  return log;
}

function showConversation(messages) {
  if (chatOutput < 0) return;
  const values = page.outputs.map(() => undefined);
  values[chatOutput] = messages;
  renderOutputs(values);
}

// ---- form ---------------------------------------------------------------------------------

const controls = page.inputs.map((c, i) => inputs[c.kind](c, i));
$("inputs").append(...controls.map((control) => control.node));

function exampleText(value) {
  if (typeof value === "string" && value.startsWith("/")) return value.split("/").pop();
  if (Array.isArray(value?.data)) return `a table of ${value.data.length} rows`;
  if (Array.isArray(value) && value.every((item) => item?.role)) return value.length ? `${value.length} messages` : "a new chat";
  if (Array.isArray(value)) return value.join(", ");
  return String(value);
}

// The example being filled in (a file input fetches its file first): a submit waits for it.
// A fill that fails leaves its input empty, which the submit then says.
let filling = Promise.resolve();

if (page.examples.length) {
  $("examples").hidden = false;
  const list = $("examples").querySelector(".example-list");
  page.examples.forEach((row, n) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "example";
    button.textContent = row.map(exampleText).join(" · ");
    button.setAttribute("aria-label", `Fill the form with example ${n + 1}`);
    button.addEventListener("click", () => {
      filling = Promise.all(row.map((value, i) => controls[i].set(value))).catch(() => {});
    });
    list.append(button);
  });
}

function status(text, kind = "info") {
  $("status").textContent = text;
  $("status").dataset.kind = kind;
}

function bar(fraction) {
  $("bar").hidden = fraction === null;
  if (fraction !== null) $("bar-fill").style.width = `${Math.round(fraction * 100)}%`;
}

function busy(isBusy) {
  $("submit").disabled = isBusy;
  $("cancel").hidden = !isBusy;
}

function formatEta(seconds) {
  if (seconds < 1) return "under a second";
  if (seconds < 90) return `about ${Math.round(seconds)} s`;
  return `about ${Math.round(seconds / 60)} min`;
}

// ---- socket -------------------------------------------------------------------------------

const HEARTBEAT_MS = 20000; // a ping this often; a socket silent for twice as long is dead
const BUSY_ARRIVING = "Many visitors are arriving at once; connecting again in a moment.";
const CONNECTING_TO_JOIN = "Connecting; you join the line as soon as the page is connected.";
let socket = null;
let retryDelay = 500;
let lastHeard = Date.now();
let currentJob = sessionStorage.getItem(storageKey);
let firstRank = null;
let retryTimer = null;
let token = page.token;
// A join submitted before the socket was open: sent as soon as it opens.
let pendingJoin = null;
// A job in line, or a join about to be sent: the chat's history stays as it is meanwhile.
const hasJob = () => Boolean(currentJob || pendingJoin);

// The socket's state, on the page for styles and tests: connecting, open or closed.
function connection(state) {
  document.body.dataset.connection = state;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}${page.socket}?token=${encodeURIComponent(token)}`);
  connection("connecting");
  let opened = false;
  socket.addEventListener("open", () => {
    opened = true;
    connection("open");
    retryDelay = 500;
    lastHeard = Date.now();
    if ($("status").textContent === BUSY_ARRIVING) status("Ready.");
    if (currentJob) {
      pendingJoin = null;
      busy(true);
      send({ msg: "resume", demo: page.demo, job: currentJob });
    } else if (pendingJoin) {
      status("Joining the line…");
      send(pendingJoin);
      pendingJoin = null;
    }
  });
  socket.addEventListener("message", (event) => {
    lastHeard = Date.now();
    handle(JSON.parse(event.data));
  });
  socket.addEventListener("close", () => {
    connection("closed");
    if (currentJob) status("Connection lost; reconnecting. Your place in line is kept.", "warn");
    else if (pendingJoin) status(CONNECTING_TO_JOIN, "warn");
    else if (!opened) status(BUSY_ARRIVING, "warn");
    // Growing pauses with some jitter, so a restarted server (or a crowd arriving at once) is
    // not hit by every tab at the same moment. This covers a first connect that failed too.
    setTimeout(reconnect, retryDelay * (0.75 + Math.random() / 2));
    retryDelay = Math.min(retryDelay * 2, 10000);
  });
}

// The page's token is short-lived: fetch a fresh one before connecting again.
async function reconnect() {
  try {
    const response = await fetch(page.token_url, { credentials: "same-origin" });
    if (response.ok) token = (await response.json()).token;
  } catch (error) {
    // The server is still away; the socket will fail too, and the next try comes later.
  }
  connect();
}

setInterval(() => {
  if (socket.readyState !== WebSocket.OPEN) return;
  if (Date.now() - lastHeard > 2 * HEARTBEAT_MS) socket.close();
  else send({ msg: "ping" });
}, HEARTBEAT_MS);

function send(frame) {
  if (socket.readyState !== WebSocket.OPEN && frame.msg === "join" && !currentJob) {
    // Submitted while still connecting (or reconnecting): nothing is lost, it joins on open.
    pendingJoin = frame;
    status(CONNECTING_TO_JOIN, "warn");
    return;
  }
  if (socket.readyState !== WebSocket.OPEN) {
    status("Not connected yet; try again in a moment.", "warn");
    busy(Boolean(currentJob));
    return;
  }
  socket.send(JSON.stringify(frame));
}

function retryCountdown(seconds) {
  clearInterval(retryTimer);
  const tick = () => {
    if (seconds <= 0) {
      clearInterval(retryTimer);
      status("The line for this demo was full. You can try again now.", "warn");
      return;
    }
    status(`The line for this demo is full. Please try again in ${seconds} s.`, "warn");
    seconds -= 1;
  };
  tick();
  retryTimer = setInterval(tick, 1000);
}

function finish() {
  currentJob = null;
  firstRank = null;
  sessionStorage.removeItem(storageKey);
  busy(false);
}

const LOG_KINDS = { info: "info", success: "success", warning: "warn", error: "error" };
// Why a waiting job moved back in line, as an estimation frame says.
const PUSHED_BACK = {
  priority: " Jobs with priority joined ahead of yours.",
  requeued: " A job whose server failed went back ahead of yours.",
};

function handle(frame) {
  if (frame.job && currentJob && frame.job !== currentJob) return;
  switch (frame.msg) {
    case "joined":
      currentJob = frame.job;
      sessionStorage.setItem(storageKey, frame.job);
      busy(true);
      break;
    case "estimation": {
      busy(true);
      firstRank = firstRank ?? frame.rank + 1;
      const place = frame.rank === 0 ? "You are next in line" : `Position ${frame.rank + 1} in line`;
      const why = PUSHED_BACK[frame.pushed_back] ?? "";
      status(`${place}. Estimated wait: ${formatEta(frame.rank_eta)}.${why}`);
      $("status").dataset.rank = frame.rank;
      bar(1 - (frame.rank + 1) / (firstRank + 1));
      break;
    }
    case "process_starts":
      busy(true);
      $("cancel").hidden = true; // only a waiting job can be cancelled
      status("Running…");
      bar(null);
      break;
    case "progress": {
      const p = frame.progress_data[0];
      status(p.desc ? `Running: ${p.desc}` : "Running…");
      if (p.progress !== null) bar(p.progress);
      break;
    }
    case "log":
      // A word from the function as it runs (Gradio's gr.Info, gr.Warning, ...).
      status(frame.log, LOG_KINDS[frame.level] ?? "info");
      break;
    case "notice":
      // The operators paused the demo, or no worker runs it now: the place is kept.
      if (currentJob) status(frame.message, frame.paused === false && !frame.no_worker ? "info" : "warn");
      break;
    case "process_generating":
      status("Running: streaming the output…");
      renderOutputs(frame.output.data);
      break;
    case "process_completed":
      finish();
      bar(null);
      if (frame.success) {
        status("Done.", "success");
        renderOutputs(frame.output.data);
        if (isChat) {
          setConversation(frame.output.data[chatOutput]);
          controls[messageBox]?.set("");
        }
      } else {
        status(`Failed: ${frame.error.message}`, "error");
      }
      break;
    case "cancelled":
      finish();
      bar(null);
      status("Cancelled.");
      break;
    case "queue_full":
      finish();
      retryCountdown(frame.retry_after ?? 5);
      break;
    case "error":
      if (frame.code === "unknown_job") finish();
      if (!currentJob) busy(false);
      status(errorText(frame), "error");
      break;
  }
}

function errorText(frame) {
  if (frame.code === "invalid_input" || frame.code === "input_too_large") {
    return `Check your inputs: ${frame.message}`;
  }
  return frame.message;
}

function renderOutputs(values) {
  const box = $("outputs");
  box.replaceChildren();
  page.outputs.forEach((c, i) => {
    if (values[i] === undefined || values[i] === null) return;
    const wrapper = document.createElement("figure");
    wrapper.className = `output output-${c.kind}`;
    const caption = document.createElement("figcaption");
    caption.textContent = c.label;
    wrapper.append(caption, outputs[c.kind](values[i], c));
    box.append(wrapper);
  });
}

const isChat = controls.some((control) => control.chat) && chatOutput >= 0;
// The message box of a chat: its first text input, emptied once the reply has come.
const messageBox = page.inputs.findIndex((c) => c.kind === "text");

async function submit() {
  let data;
  try {
    clearInterval(retryTimer);
    busy(true);
    await filling;
    data = await Promise.all(controls.map((control) => control.get()));
  } catch (error) {
    busy(false);
    bar(null);
    status(`Check your inputs: ${error.message}`, "error");
    return;
  }
  if (isChat) {
    showConversation([...conversation, { role: "user", content: String(data[messageBox] ?? "") }]);
  } else {
    $("outputs").replaceChildren();
  }
  status("Joining the line…");
  send({ msg: "join", demo: page.demo, data, ref: String(Date.now()) });
}

$("demo-form").addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});

if (isChat) {
  $("chat-actions").hidden = false;
  const lastExchange = () => {
    const last = conversation.findLastIndex((m) => m.role === "user");
    return last < 0 ? null : { at: last, message: conversation[last].content };
  };
  $("chat-retry").addEventListener("click", () => {
    const exchange = lastExchange();
    if (!exchange || hasJob()) return;
    // Shown again at once with the question going out: no flicker of the shorter chat.
    setConversation(conversation.slice(0, exchange.at), { show: false });
    controls[messageBox].set(exchange.message);
    submit();
  });
  $("chat-undo").addEventListener("click", () => {
    const exchange = lastExchange();
    if (!exchange || hasJob()) return;
    setConversation(conversation.slice(0, exchange.at));
    controls[messageBox].set(exchange.message);
  });
  $("chat-clear").addEventListener("click", () => {
    if (!hasJob()) setConversation([]);
  });
  showConversation(conversation);
}

$("cancel").addEventListener("click", () => {
  if (currentJob) send({ msg: "cancel", demo: page.demo, job: currentJob });
  else if (pendingJoin) {
    pendingJoin = null;
    busy(false);
    status("Cancelled.");
  }
});

if (currentJob) {
  busy(true); // the job is resumed once the socket opens
  status("Finding your place in line…");
}
connect();
