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
  image(c, i) {
    const el = document.createElement("input");
    el.type = "file";
    el.accept = "image/*";
    const preview = document.createElement("img");
    preview.className = "preview";
    preview.alt = `${c.label} preview`;
    preview.hidden = true;
    let dataUrl = null;
    const show = (url) => { dataUrl = url; preview.src = url; preview.hidden = !url; };
    el.addEventListener("change", async () => {
      show(el.files.length ? await readAsDataUrl(el.files[0]) : null);
    });
    const node = field(c, i, el);
    node.append(preview);
    return {
      node,
      get: () => {
        if (!dataUrl) throw new Error(`choose an image for "${c.label}"`);
        return dataUrl;
      },
      set: async (url) => { show(await readAsDataUrl(await (await fetch(url)).blob())); },
    };
  },
  json(c, i) {
    const el = document.createElement("textarea");
    el.rows = 4;
    return { node: field(c, i, el), get: () => JSON.parse(el.value || "null"), set: (v) => { el.value = JSON.stringify(v, null, 2); } };
  },
};

function readAsDataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

const outputs = {
  text: (value) => textBlock(value),
  number: (value) => textBlock(String(value)),
  slider: (value) => textBlock(String(value)),
  checkbox: (value) => textBlock(value ? "yes" : "no"),
  dropdown: (value) => textBlock(value),
  image(value, c) {
    const img = document.createElement("img");
    img.src = value.url;
    img.alt = c.label;
    img.className = "result-image";
    return img;
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
};

function textBlock(text, tag = "p") {
  const el = document.createElement(tag);
  el.className = "result-text";
  el.textContent = text;
  return el;
}

// ---- form ---------------------------------------------------------------------------------

const controls = page.inputs.map((c, i) => inputs[c.kind](c, i));
$("inputs").append(...controls.map((control) => control.node));

if (page.examples.length) {
  $("examples").hidden = false;
  const list = $("examples").querySelector(".example-list");
  page.examples.forEach((row, n) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "example";
    button.textContent = row.map((v) => (typeof v === "string" && v.startsWith("/") ? v.split("/").pop() : String(v))).join(" · ");
    button.setAttribute("aria-label", `Fill the form with example ${n + 1}`);
    button.addEventListener("click", () => row.forEach((value, i) => controls[i].set(value)));
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
let socket = null;
let retryDelay = 500;
let lastHeard = Date.now();
let currentJob = sessionStorage.getItem(storageKey);
let firstRank = null;
let retryTimer = null;
let token = page.token;

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}${page.socket}?token=${encodeURIComponent(token)}`);
  let opened = false;
  socket.addEventListener("open", () => {
    opened = true;
    retryDelay = 500;
    lastHeard = Date.now();
    if ($("status").textContent === BUSY_ARRIVING) status("Ready.");
    if (currentJob) {
      busy(true);
      send({ msg: "resume", demo: page.demo, job: currentJob });
    }
  });
  socket.addEventListener("message", (event) => {
    lastHeard = Date.now();
    handle(JSON.parse(event.data));
  });
  socket.addEventListener("close", () => {
    if (currentJob) status("Connection lost; reconnecting. Your place in line is kept.", "warn");
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
      status(`${place}. Estimated wait: ${formatEta(frame.rank_eta)}.`);
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
    const wrapper = document.createElement("figure");
    wrapper.className = `output output-${c.kind}`;
    const caption = document.createElement("figcaption");
    caption.textContent = c.label;
    wrapper.append(caption, outputs[c.kind](values[i], c));
    box.append(wrapper);
  });
}

$("demo-form").addEventListener("submit", (event) => {
  event.preventDefault();
  let data;
  try {
    data = controls.map((control) => control.get());
  } catch (error) {
    status(`Check your inputs: ${error.message}`, "error");
    return;
  }
  clearInterval(retryTimer);
  $("outputs").replaceChildren();
  status("Joining the line…");
  busy(true);
  send({ msg: "join", demo: page.demo, data, ref: String(Date.now()) });
});

$("cancel").addEventListener("click", () => {
  if (currentJob) send({ msg: "cancel", demo: page.demo, job: currentJob });
});

if (currentJob) status("Finding your place in line…");
connect();
