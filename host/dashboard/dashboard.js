// The wharf dashboard: a page over the host's own REST API, nothing more.
// It keeps the API key in the tab's session storage and sends it as the
// X-Api-Key header, never in a URL. Every value from the API reaches the
// page as text (never as HTML), so a contact named "<script>" stays a name.

const KEY_STORAGE = "wharf.apiKey";
const POLL_MS = 2000;
/** While the event stream is open, a poll only now and then, as a net. */
const LIVE_POLL_MS = 15000;
const PAGE_SIZE = 25;

let apiKey = sessionStorage.getItem(KEY_STORAGE);
/** Whether the server needs no key at all, and whether that is known. */
let serverIsOpen = false;
let accessKnown = false;
/** Timers and event streams of the page shown; ended when another page is shown. */
let timers = [];
let sockets = [];
/** A note to show on the next page (what the last page did). */
let flash = null;

class ApiFailure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body, { raw = false } = {}) {
  const headers = {};
  if (apiKey) headers["X-Api-Key"] = apiKey;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiFailure(0, "the host does not answer");
  }
  if (response.status === 401) {
    const note = serverIsOpen ? "This server now needs an API key." : "The API key was refused; sign in again.";
    serverIsOpen = false;
    signOut(note);
    throw new ApiFailure(401, "the API key was refused");
  }
  if (!response.ok) {
    let message = response.statusText;
    try {
      const detail = await response.json();
      message = detail.message || message;
    } catch {
      // Not JSON: the status text says it.
    }
    throw new ApiFailure(response.status, message);
  }
  if (raw) return response;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** An element, its attributes (`on…` are listeners) and its children. */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

function hidden(text) {
  return h("span", { class: "visually-hidden" }, text);
}

function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  // A change the live region notices, even for the same text twice.
  setTimeout(() => (region.textContent = text), 50);
}

function message(text, kind = "info") {
  return h("p", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

function every(ms, work) {
  const timer = setInterval(work, ms);
  timers.push(timer);
}

/** The key as a websocket subprotocol: base64url of its UTF-8 bytes. */
function keyProtocol(key) {
  const bytes = new TextEncoder().encode(key);
  const base64 = btoa(String.fromCharCode(...bytes));
  return `wharf.key.${base64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}

/** Streams the host's `events` from /ws, calling `heard` for each. The
 * key goes as a subprotocol, as a browser cannot set headers on a
 * websocket: never in the URL. */
function listen(events, heard) {
  const url = new URL("/ws", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.search = new URLSearchParams({ session: "*", events }).toString();
  const protocols = apiKey ? ["wharf", keyProtocol(apiKey)] : ["wharf"];
  const socket = new WebSocket(url, protocols);
  socket.addEventListener("message", heard);
  sockets.push(socket);
  return socket;
}

function page(title, ...content) {
  const main = document.getElementById("main");
  const shown = content.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false);
  main.replaceChildren(h("h1", { id: "page-title" }, title), ...shown);
  document.title = `${title} · wharf`;
  main.focus();
}

/** A table in its scroller: `caption` (text or a caption element),
 * `columns` heading it, and `body` (rows, or a tbody to fill later).
 * `cards` tables turn into cards on narrow screens. */
function dataTable({ id = null, cards = true, caption, columns, body }) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id, class: cards ? "cards" : null },
      caption instanceof Node ? caption : h("caption", {}, caption),
      h("thead", {}, h("tr", {}, columns.map((title) => h("th", { scope: "col" }, title)))),
      body instanceof Node ? body : h("tbody", {}, body),
    ),
  );
}

function confirmAction(title, text, confirmLabel) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = confirmLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

function describeError(error) {
  if (!(error instanceof ApiFailure)) return String(error);
  return error.status ? `${error.message} (HTTP ${error.status})` : `${error.message}; retrying`;
}

/** Puts focus back on the control `key` names (`data-focus`) inside
 * `container` after a redraw, or on `fallback` when it is gone, so that
 * keyboard users do not land at the top of the page. */
function refocus(container, key, fallback) {
  if (!key) return;
  const again = container.querySelector(`[data-focus="${CSS.escape(key)}"]`);
  (again || fallback)?.focus();
}

// Access ------------------------------------------------------------------

function showAccess() {
  const access = document.getElementById("access");
  if (serverIsOpen) {
    access.replaceChildren("This server is open: it needs no API key.");
  } else if (apiKey) {
    access.replaceChildren(
      "Signed in with an API key. ",
      h("button", { type: "button", onclick: () => signOut("Signed out.") }, "Sign out"),
    );
  } else {
    access.replaceChildren("Not signed in.");
  }
}

function signOut(note) {
  apiKey = null;
  accessKnown = true;
  sessionStorage.removeItem(KEY_STORAGE);
  flash = note;
  showAccess();
  showSignIn();
}

/** Whether the server is open, asked once when the page loads: a key
 * kept from before that no longer works is found out by the first
 * request that uses it (a 401 signs out). Throws when the host does not
 * answer. */
async function settleAccess() {
  const bare = await fetch("/api/sessions");
  serverIsOpen = bare.ok;
  if (serverIsOpen) {
    apiKey = null;
    sessionStorage.removeItem(KEY_STORAGE);
  }
  accessKnown = true;
  showAccess();
}

function showSignIn() {
  stopTimers();
  // Not a password for the browser to offer to save: the key stays in
  // this tab.
  const input = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "off",
    required: true,
  });
  const problem = h("div", { id: "sign-in-problem" });
  const form = h(
    "form",
    {
      class: "stack",
      onsubmit: async (event) => {
        event.preventDefault();
        const refuse = (why) => {
          problem.replaceChildren(message(why, "error"));
          input.focus();
        };
        // A key travels in a header, so the host takes only these.
        if (!/^[\x20-\x7e]*$/.test(input.value)) {
          refuse("An API key holds only visible ASCII characters and spaces.");
          return;
        }
        let response;
        try {
          response = await fetch("/api/sessions", { headers: { "X-Api-Key": input.value } });
        } catch {
          refuse("The host does not answer; try again.");
          return;
        }
        if (response.ok) {
          apiKey = input.value;
          sessionStorage.setItem(KEY_STORAGE, apiKey);
          showAccess();
          announce("Signed in.");
          route();
        } else {
          refuse("That key is not one this server takes.");
        }
      },
    },
    h("label", { for: "api-key" }, "API key"),
    input,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    problem,
  );
  page(
    "Sign in",
    flash ? message(flash) : null,
    h("p", {}, "This server needs an API key (WHARF_API_KEY). It is kept in this tab only."),
    form,
  );
  flash = null;
  input.focus();
}

// Engines -------------------------------------------------------------------

async function loadEngines() {
  return api("GET", "/api/server/engines");
}

function label(engine) {
  return `${engine.name} ${engine.version}`;
}

/** ✔ or ✘ for one feature, with the reason in the title and as text. */
function featureMark(state) {
  if (!state) return h("span", { class: "muted" }, "?", hidden("not declared"));
  if (state.supported) {
    return h("span", { class: "yes" }, h("span", { "aria-hidden": "true" }, "✔"), hidden("supported"));
  }
  const reason = state.reason || "no reason given";
  return h(
    "span",
    { class: "no", title: reason },
    h("span", { "aria-hidden": "true" }, "✘"),
    hidden(`not supported: ${reason}`),
  );
}

function featureList(engine) {
  const keys = Object.keys(engine.features).sort();
  return h(
    "ul",
    { class: "features", "aria-label": `Features of ${label(engine)}` },
    keys.map((key) => {
      const state = engine.features[key];
      return h(
        "li",
        {},
        featureMark(state),
        " ",
        h("code", {}, key),
        state.supported ? null : h("span", { class: "reason" }, state.reason || ""),
      );
    }),
  );
}

async function showEngines() {
  const result = h("div", { id: "reload-result", "aria-live": "polite" });
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  // Busy, not disabled, while it works: a disabled button would drop the
  // keyboard focus.
  const reload = h(
    "button",
    {
      type: "button",
      class: "primary",
      onclick: async () => {
        if (reload.getAttribute("aria-busy") === "true") return;
        reload.setAttribute("aria-busy", "true");
        try {
          const outcome = await api("POST", "/api/server/engines/reload");
          result.replaceChildren(reloadSummary(outcome));
          renderEngines(body, outcome.engines);
        } catch (error) {
          result.replaceChildren(message(`Reload failed: ${describeError(error)}`, "error"));
        } finally {
          reload.removeAttribute("aria-busy");
        }
      },
    },
    "Reload engines",
  );
  page("Engines", h("div", { class: "row" }, reload), result, body);
  try {
    renderEngines(body, await loadEngines());
  } catch (error) {
    body.replaceChildren(message(describeError(error), "error"));
  }
}

function reloadSummary(outcome) {
  const name = (item) => (typeof item === "string" ? item : item.file || label(item));
  const parts = [
    ["Added", outcome.added],
    ["Removed", outcome.removed],
    ["Rejected", outcome.rejected],
  ].filter(([, items]) => items && items.length);
  if (!parts.length) return message("Reloaded: nothing changed.");
  return h(
    "div",
    { class: "message", role: "status" },
    h("p", {}, "Reloaded."),
    h(
      "ul",
      {},
      parts.map(([what, items]) =>
        h(
          "li",
          {},
          `${what}: `,
          items.map((item, index) => [
            index ? ", " : "",
            name(item),
            item.reason ? ` (${item.reason})` : "",
          ]),
        ),
      ),
    ),
  );
}

function renderEngines(container, engines) {
  const loaded = engines.filter((engine) => engine.status === "loaded");
  const keys = [...new Set(loaded.flatMap((engine) => Object.keys(engine.features)))].sort();
  const libraries = dataTable({
    caption: "Every library file in the engines directory",
    columns: ["Engine", "Version", "ABI", "Status", "File"],
    body: engines.map((engine) =>
      h(
        "tr",
        {},
        h("td", { "data-label": "Engine" }, engine.name || "—"),
        h("td", { "data-label": "Version" }, engine.version || "—"),
        h("td", { "data-label": "ABI" }, engine.abiVersion || "—"),
        h(
          "td",
          { "data-label": "Status" },
          h("span", { class: `status status-${engine.status}` }, engine.status),
          engine.reason ? h("span", { class: "reason" }, engine.reason) : null,
        ),
        h("td", { "data-label": "File" }, h("code", {}, engine.file)),
      ),
    ),
  });
  const grid = dataTable({
    id: "feature-grid",
    cards: false,
    caption: "What each loaded engine can do; a ✘'s reason shows on hover, and all of them below",
    columns: ["Feature", ...loaded.map(label)],
    body: keys.map((key) =>
      h(
        "tr",
        {},
        h("th", { scope: "row" }, h("code", {}, key)),
        loaded.map((engine) => h("td", { class: "feature" }, featureMark(engine.features[key]))),
      ),
    ),
  });
  // The reasons as text for everyone, not only on hover.
  const reasons = loaded.map((engine) => {
    const lacking = Object.keys(engine.features)
      .filter((key) => !engine.features[key].supported)
      .sort();
    return h(
      "details",
      { class: "panel" },
      h("summary", {}, `What ${label(engine)} cannot do, and why (${lacking.length})`),
      h("ul", {}, lacking.map((key) => h("li", {}, h("code", {}, key), ": ", whyNot(engine.features, key)))),
    );
  });
  container.replaceChildren(
    h("h2", {}, "Libraries"),
    libraries,
    h("h2", {}, "Features"),
    grid,
    h("h2", {}, "Why not"),
    ...reasons,
  );
}

// Sessions ------------------------------------------------------------------

/** The name of a session's engine: sessions keep the reference they were
 * created with, which may pin a version (`sandbox@0.1.0`). */
function engineName(session) {
  return session.engine ? session.engine.engine.split("@")[0] : null;
}

function sessionPath(name) {
  return `/api/sessions/${encodeURIComponent(name)}`;
}

function statusCell(session) {
  return [
    h("span", { class: `status status-${session.status}` }, session.status),
    session.reason ? h("span", { class: "reason" }, session.reason) : null,
  ];
}

async function lifecycle(session, action) {
  const destructive = {
    logout: ["Log out?", `Log ${session.name} out of WhatsApp? Pairing it again needs the phone.`, "Log out"],
    delete: ["Delete?", `Delete ${session.name} and its data? This cannot be undone.`, "Delete"],
  }[action];
  lastFocus = document.activeElement?.getAttribute("data-focus") ?? null;
  if (destructive && !(await confirmAction(...destructive))) return;
  try {
    if (action === "delete") await api("DELETE", sessionPath(session.name));
    else await api("POST", `${sessionPath(session.name)}/${action}`, {});
    announce(`${session.name}: ${action} done.`);
  } catch (error) {
    announce(`${session.name}: ${action} failed: ${describeError(error)}`);
    flash = `${session.name}: ${action} failed: ${describeError(error)}`;
  }
  refreshSessions();
}

let renderedSessions = "";
let sessionsBody = null;
let sessionsNote = null;
let sessionsRefreshed = 0;
/** The control an action was started from, to come back to after it. */
let lastFocus = null;

function sessionRow(session) {
  const name = session.name;
  const at = (action) => `${action}:${name}`;
  const button = (action, text, kind) =>
    h(
      "button",
      { type: "button", class: kind, "data-focus": at(action), onclick: () => lifecycle(session, action) },
      text,
      hidden(` ${name}`),
    );
  const stopped = session.status === "STOPPED" || session.status === "FAILED";
  return h(
    "tr",
    { "data-session": name },
    h("th", { scope: "row", "data-label": "Name" }, name),
    h("td", { "data-label": "Engine" }, session.engine ? `${engineName(session)} ${session.engine.version}` : "—"),
    h("td", { "data-label": "Status" }, statusCell(session)),
    h(
      "td",
      { "data-label": "Account" },
      session.me ? [session.me.id, session.me.pushName ? h("span", { class: "reason" }, session.me.pushName) : null] : "—",
    ),
    h(
      "td",
      { "data-label": "Actions" },
      h(
        "div",
        { class: "actions" },
        stopped ? button("start", "Start") : button("stop", "Stop"),
        button("restart", "Restart"),
        button("logout", "Log out", "danger"),
        button("delete", "Delete", "danger"),
        session.status === "SCAN_QR_CODE"
          ? h("a", { href: `#/sessions/${encodeURIComponent(name)}/pair` }, "Pair", hidden(` ${name}`))
          : null,
        h("a", { href: `#/sessions/${encodeURIComponent(name)}/contacts` }, "Contacts", hidden(` of ${name}`)),
      ),
    ),
  );
}

async function refreshSessions() {
  // The page may change while the answer is on its way: this draws only
  // into the table it was asked for.
  const body = sessionsBody;
  const note = sessionsNote;
  if (!body) return;
  sessionsRefreshed = Date.now();
  let sessions;
  try {
    // Stopped sessions too: they are the ones to start.
    sessions = await api("GET", "/api/sessions?all=true");
  } catch (error) {
    note.replaceChildren(message(describeError(error), "error"));
    return;
  }
  if (body !== sessionsBody) return;
  if (flash) {
    note.replaceChildren(message(flash));
    flash = null;
  } else if (note.querySelector(".error")) {
    note.replaceChildren();
  }
  const seen = JSON.stringify(sessions);
  if (seen === renderedSessions) return;
  renderedSessions = seen;
  // Keeps keyboard focus on the same button across a redraw, or on the
  // table when the button is gone (its session deleted, say).
  const focused = document.activeElement?.getAttribute("data-focus") ?? lastFocus;
  lastFocus = null;
  body.replaceChildren(
    ...(sessions.length
      ? sessions.map(sessionRow)
      : [h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No sessions yet."))]),
  );
  refocus(body, focused, document.getElementById("sessions-caption"));
}

async function showSessions() {
  renderedSessions = "";
  sessionsBody = h("tbody", {});
  sessionsNote = h("div", {});
  const table = dataTable({
    id: "sessions",
    caption: h("caption", { id: "sessions-caption", tabindex: "-1" }, "Sessions, kept up to date as their status changes"),
    columns: ["Name", "Engine", "Status", "Account", "Actions"],
    body: sessionsBody,
  });
  const create = h("section", { "aria-labelledby": "new-session" }, h("h2", { id: "new-session" }, "New session"));
  page("Sessions", sessionsNote, table, create);
  await refreshSessions();
  // Each status change is an event; a burst of them (a restart of many
  // sessions) is one redraw. Polling covers a stream that is down (and
  // reconnects it), and the rest of a session's row.
  let pending = null;
  const heard = () => {
    pending ??= setTimeout(() => {
      pending = null;
      refreshSessions();
    }, 250);
  };
  let stream = listen("session.status", heard);
  every(POLL_MS, () => {
    if (stream.readyState === WebSocket.CLOSED) {
      sockets = sockets.filter((socket) => socket !== stream);
      stream = listen("session.status", heard);
    }
    const live = stream.readyState === WebSocket.OPEN;
    if (!live || Date.now() - sessionsRefreshed >= LIVE_POLL_MS) refreshSessions();
  });
  try {
    create.append(newSessionForm(await loadEngines()));
  } catch (error) {
    create.append(message(describeError(error), "error"));
  }
}

function newSessionForm(engines) {
  const loaded = engines.filter((engine) => engine.status === "loaded");
  const name = h("input", { id: "session-name", name: "name", required: true, autocomplete: "off" });
  const engine = h(
    "select",
    { id: "session-engine", name: "engine" },
    loaded.map((choice) => h("option", { value: `${choice.name}@${choice.version}` }, label(choice))),
  );
  const config = h("textarea", { id: "session-config", name: "config", spellcheck: "false" });
  const features = h("div", { id: "engine-features" });
  const showFeatures = () => {
    const chosen = loaded.find((choice) => `${choice.name}@${choice.version}` === engine.value);
    features.replaceChildren(...(chosen ? [h("p", { class: "muted" }, chosen.description), featureList(chosen)] : []));
  };
  engine.addEventListener("change", showFeatures);
  showFeatures();
  const problem = h("div", {});
  const form = h(
    "form",
    {
      class: "stack",
      onsubmit: async (event) => {
        event.preventDefault();
        let parsed = {};
        if (config.value.trim()) {
          try {
            parsed = JSON.parse(config.value);
          } catch {
            problem.replaceChildren(message("Config: not JSON.", "error"));
            config.focus();
            return;
          }
        }
        try {
          await api("POST", "/api/sessions", { name: name.value, engine: engine.value, config: parsed, start: true });
          announce(`Session ${name.value} created.`);
          problem.replaceChildren();
          form.reset();
          showFeatures();
          refreshSessions();
        } catch (error) {
          problem.replaceChildren(message(`Not created: ${describeError(error)}`, "error"));
        }
      },
    },
    h("label", { for: "session-name" }, "Name"),
    name,
    h("label", { for: "session-engine" }, "Engine"),
    engine,
    features,
    h("label", { for: "session-config" }, "Config (JSON, optional)"),
    config,
    h("button", { type: "submit", class: "primary" }, "Create and start"),
    problem,
  );
  if (!loaded.length) return message("No engine is loaded: put a library in the engines directory and reload.", "error");
  return form;
}

// A session's engine --------------------------------------------------------

/** The session and the features of the engine it runs on. */
async function sessionAndFeatures(name) {
  const [session, engines] = await Promise.all([api("GET", sessionPath(name)), loadEngines()]);
  const engine = engines.find(
    (candidate) =>
      session.engine &&
      candidate.name === engineName(session) &&
      candidate.version === session.engine.version &&
      candidate.status !== "rejected",
  );
  return { session, features: engine ? engine.features : {} };
}

function supports(features, key) {
  return Boolean(features[key]?.supported);
}

function whyNot(features, key) {
  return features[key]?.reason || `the engine does not declare ${key}`;
}

/** A button for `key`: disabled, with the engine's reason, when unsupported. */
function featureButton(features, key, text, onclick, extra = {}) {
  if (supports(features, key)) return h("button", { type: "button", onclick, ...extra }, text);
  return h("button", { type: "button", disabled: true, title: whyNot(features, key), ...extra }, text);
}

// Pairing -------------------------------------------------------------------

async function showPairing(name) {
  let session;
  let features;
  try {
    ({ session, features } = await sessionAndFeatures(name));
  } catch (error) {
    page(`Pair ${name}`, message(describeError(error), "error"));
    return;
  }
  const status = h("p", { id: "pair-status", "aria-live": "polite" }, statusCell(session));
  const image = h("img", { class: "qr", id: "qr", alt: `QR code to pair ${name}: scan it with WhatsApp on the phone`, hidden: true });
  const qrNote = h("p", { class: "muted" });
  let shownValue = null;
  let shownUrl = null;
  const code = h("p", { class: "code", id: "pairing-code", "aria-live": "polite" });
  const phone = h("input", { id: "pair-phone", inputmode: "tel", autocomplete: "tel", required: true });
  const codeSupported = supports(features, "auth.code");
  const codeForm = h(
    "form",
    {
      class: "stack",
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const answer = await api("POST", `/api/${encodeURIComponent(name)}/auth/request-code`, {
            phoneNumber: phone.value,
          });
          code.textContent = answer.code;
          announce(`Pairing code ${answer.code}`);
        } catch (error) {
          code.replaceChildren(message(describeError(error), "error"));
        }
      },
    },
    h("label", { for: "pair-phone" }, "Phone number, with country code"),
    phone,
    h("button", { type: "submit", class: "primary", disabled: !codeSupported }, "Get a pairing code"),
    codeSupported ? null : h("p", { class: "reason" }, whyNot(features, "auth.code")),
  );
  const qrSection = supports(features, "auth.qr")
    ? h("section", { "aria-labelledby": "qr-title" }, h("h2", { id: "qr-title" }, "Scan the QR code"), image, qrNote)
    : h("section", {}, h("h2", {}, "QR code"), message(`Not available: ${whyNot(features, "auth.qr")}`));
  page(
    `Pair ${name}`,
    status,
    qrSection,
    h("section", { "aria-labelledby": "code-title" }, h("h2", { id: "code-title" }, "Or type a code on the phone"), codeForm, code),
  );

  const refresh = async () => {
    let current;
    try {
      current = await api("GET", sessionPath(name));
    } catch (error) {
      status.replaceChildren(message(describeError(error), "error"));
      return;
    }
    status.replaceChildren(...statusCell(current).filter(Boolean));
    if (current.status === "WORKING") {
      flash = `${name} is paired and WORKING.`;
      location.hash = "#/sessions";
      return;
    }
    if (current.status !== "SCAN_QR_CODE" || !supports(features, "auth.qr")) return;
    try {
      const { value } = await api("GET", `/api/${encodeURIComponent(name)}/auth/qr?format=raw`);
      if (value === shownValue) return;
      const png = await api("GET", `/api/${encodeURIComponent(name)}/auth/qr?format=image`, undefined, { raw: true });
      const url = URL.createObjectURL(await png.blob());
      if (shownUrl) URL.revokeObjectURL(shownUrl);
      shownUrl = url;
      shownValue = value;
      image.src = url;
      image.hidden = false;
      qrNote.textContent = "The code changes as WhatsApp rotates it; this page follows.";
    } catch (error) {
      qrNote.textContent = describeError(error);
    }
  };
  if (session.status === "WORKING") {
    status.append(" ", h("span", { class: "reason" }, `${name} is already WORKING: there is nothing to pair.`));
    return;
  }
  await refresh();
  every(POLL_MS, refresh);
}

// Contacts ------------------------------------------------------------------

async function showContacts(name) {
  const { session, features } = await sessionAndFeatures(name);
  const view = { offset: 0, sortBy: "name", sortOrder: "asc", search: "" };
  const note = h("div", { "aria-live": "polite" });
  const body = h("div", {});
  const canList = supports(features, "contacts.list");
  const unsupported = Object.keys(features)
    .filter((key) => key.startsWith("contacts.") && !features[key].supported)
    .sort();
  const limits = unsupported.length
    ? h(
        "details",
        { class: "panel" },
        h("summary", {}, `${unsupported.length} contact feature(s) this engine does not have`),
        h("ul", {}, unsupported.map((key) => h("li", {}, h("code", {}, key), ": ", whyNot(features, key)))),
      )
    : null;
  const waiting =
    session.status === "WORKING"
      ? null
      : message(
          [
            `${name} is ${session.status}: contacts answer once it is WORKING.`,
            session.status === "SCAN_QR_CODE"
              ? [" ", h("a", { href: `#/sessions/${encodeURIComponent(name)}/pair` }, `Pair ${name}`)]
              : null,
          ],
          "info",
        );

  const field = (text, control) => h("span", { class: "field" }, h("label", { for: control.id }, text), control);
  const sortBy = h(
    "select",
    { id: "sort-by", disabled: !canList },
    h("option", { value: "name" }, "Name"),
    h("option", { value: "id" }, "Number (id)"),
  );
  const sortOrder = h(
    "select",
    { id: "sort-order", disabled: !canList },
    h("option", { value: "asc" }, "Ascending"),
    h("option", { value: "desc" }, "Descending"),
  );
  const search = h("input", { id: "contact-search", type: "search", autocomplete: "off", disabled: !canList });
  const controls = h(
    "form",
    {
      class: "row",
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        view.search = search.value.trim();
        view.offset = 0;
        load();
      },
    },
    field("Sort by", sortBy),
    field("Order", sortOrder),
    field("Search name or number", search),
    h("button", { type: "submit", disabled: !canList }, "Search"),
  );
  for (const select of [sortBy, sortOrder]) {
    select.addEventListener("change", () => {
      view.sortBy = sortBy.value;
      view.sortOrder = sortOrder.value;
      view.offset = 0;
      load();
    });
  }

  const contactPath = (id) => `/api/${encodeURIComponent(name)}/contacts/${encodeURIComponent(id)}`;
  /** Does `work`, says how it went, redraws, and puts focus back. */
  const act = async (what, work) => {
    const focused = document.activeElement?.getAttribute("data-focus");
    try {
      await work();
      note.replaceChildren(message(what));
      announce(what);
      await load();
    } catch (error) {
      note.replaceChildren(message(`${what} failed: ${describeError(error)}`, "error"));
    }
    refocus(body, focused, document.getElementById("contacts-caption"));
  };
  const saveForm = ({ id = "", first = "", last = "", label: formLabel = "", onDone = null, onCancel = null }) => {
    const suffix = formLabel ? ` for ${formLabel}` : "";
    const idInput = h("input", { name: "contactId", required: true, value: id, inputmode: "tel", "aria-label": `Number${suffix}` });
    const firstInput = h("input", { name: "firstName", required: true, value: first, "aria-label": `First name${suffix}` });
    const lastInput = h("input", { name: "lastName", value: last, "aria-label": `Last name${suffix}` });
    const can = supports(features, "contacts.upsert");
    const form = h(
      "form",
      {
        class: "row",
        onsubmit: (event) => {
          event.preventDefault();
          act(`Saved ${idInput.value}`, async () => {
            await api("PUT", contactPath(idInput.value), { firstName: firstInput.value, lastName: lastInput.value });
            onDone?.();
          });
        },
        onkeydown: (event) => {
          if (event.key === "Escape" && onCancel) onCancel();
        },
      },
      h("span", { class: "field" }, "Number ", idInput),
      h("span", { class: "field" }, "First name ", firstInput),
      h("span", { class: "field" }, "Last name ", lastInput),
      h("button", { type: "submit", disabled: !can, title: can ? null : whyNot(features, "contacts.upsert") }, "Save contact"),
      onCancel ? h("button", { type: "button", onclick: onCancel }, "Cancel") : null,
      can ? null : h("span", { class: "reason", id: "upsert-reason" }, `Saving contacts: ${whyNot(features, "contacts.upsert")}`),
    );
    if (!can) for (const input of [idInput, firstInput, lastInput]) input.disabled = true;
    return form;
  };
  /** Block or unblock a number typed in: what an engine without a book
   * (the Cloud API) can still do. */
  const blockForm = () => {
    const number = h("input", { id: "block-number", inputmode: "tel", required: true });
    const button = (key, text) =>
      featureButton(features, key, text, () => {
        if (!number.reportValidity()) return;
        act(`${text}ed ${number.value}`, () =>
          api("POST", `/api/contacts/${text.toLowerCase()}`, { contactId: number.value, session: name }),
        );
      });
    return h("div", { class: "row" }, field("Number", number), button("contacts.block", "Block"), button("contacts.unblock", "Unblock"));
  };

  const row = (contact) => {
    const id = contact.id;
    const about = h("span", { class: "reason" });
    const picture = h("span", { class: "reason" });
    const blockKey = contact.isBlocked ? "contacts.unblock" : "contacts.block";
    const blockText = contact.isBlocked ? "Unblock" : "Block";
    const edit = h("div", {});
    const focus = (what) => ({ "data-focus": `${what}:${id}` });
    const savable = id.endsWith("@c.us");
    const [first, last] = splitName(contact);
    let editName;
    if (!savable) {
      editName = h(
        "button",
        { type: "button", disabled: true, title: "only a contact with a phone number (…@c.us) can be saved" },
        "Edit name",
        hidden(` ${id}`),
      );
    } else {
      editName = featureButton(
        features,
        "contacts.upsert",
        ["Edit name", hidden(` ${id}`)],
        () => {
          const close = () => {
            edit.replaceChildren();
            editName.focus();
          };
          edit.replaceChildren(
            saveForm({ id: id.replace(/@c\.us$/, ""), first, last, label: id, onDone: () => edit.replaceChildren(), onCancel: close }),
          );
          edit.querySelector("input[name=firstName]")?.focus();
        },
        focus("edit"),
      );
    }
    const block = contact.isGroup
      ? h("button", { type: "button", disabled: true, title: "a group cannot be blocked" }, blockText, hidden(` ${id}`))
      : featureButton(
          features,
          blockKey,
          [blockText, hidden(` ${id}`)],
          () =>
            act(`${blockText}ed ${id}`, () =>
              api("POST", `/api/contacts/${blockText.toLowerCase()}`, { contactId: id, session: name }),
            ),
          focus("block"),
        );
    const ask = (what) => `/api/contacts/${what}?contactId=${encodeURIComponent(id)}&session=${encodeURIComponent(name)}`;
    return h(
      "tr",
      { "data-contact": id },
      h("th", { scope: "row", "data-label": "Name" }, contact.name || contact.pushname || "—", about, picture),
      h("td", { "data-label": "Id" }, id, contact.lid && contact.lid !== id ? h("span", { class: "reason" }, contact.lid) : null),
      h("td", { "data-label": "Push name" }, contact.pushname || "—"),
      h("td", { "data-label": "Blocked" }, contact.isBlocked ? "Blocked" : "No"),
      h(
        "td",
        { "data-label": "Actions" },
        h(
          "div",
          { class: "actions" },
          block,
          featureButton(
            features,
            "contacts.about",
            ["About", hidden(` ${id}`)],
            async () => {
              try {
                const answer = await api("GET", ask("about"));
                about.textContent = `About: ${answer.about ?? "(private)"}`;
              } catch (error) {
                about.textContent = describeError(error);
              }
            },
            focus("about"),
          ),
          featureButton(
            features,
            "contacts.profile_picture",
            ["Picture", hidden(` ${id}`)],
            async () => {
              try {
                const url = (await api("GET", ask("profile-picture"))).profilePictureURL;
                // Only web addresses become links: an engine's answer is data.
                const web = url && /^https?:\/\//i.test(url);
                picture.replaceChildren(
                  web ? h("a", { href: url, rel: "noreferrer", target: "_blank" }, "Profile picture") : "No picture",
                );
              } catch (error) {
                picture.textContent = describeError(error);
              }
            },
            focus("picture"),
          ),
          editName,
        ),
        edit,
      ),
    );
  };

  const table = (contacts, caption) =>
    dataTable({
      id: "contacts",
      caption: h("caption", { id: "contacts-caption", tabindex: "-1" }, caption),
      columns: ["Name", "Id", "Push name", "Blocked", "Actions"],
      body: contacts.map(row),
    });

  const query = (offset, limit) =>
    `/api/contacts/all?session=${encodeURIComponent(name)}&limit=${limit}&offset=${offset}` +
    `&sortBy=${view.sortBy}&sortOrder=${view.sortOrder}`;

  const turn = (by) => {
    view.offset = Math.max(0, view.offset + by);
    load().then(() => {
      const caption = document.getElementById("contacts-caption");
      caption?.focus();
      if (caption) announce(caption.textContent);
    });
  };
  const pager = (contacts) =>
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", disabled: view.offset === 0, onclick: () => turn(-PAGE_SIZE) }, "Previous page"),
      h("button", { type: "button", disabled: contacts.length < PAGE_SIZE, onclick: () => turn(PAGE_SIZE) }, "Next page"),
    );

  async function load() {
    if (!canList) {
      body.replaceChildren(message(`Listing contacts: ${whyNot(features, "contacts.list")}`));
      return;
    }
    try {
      if (view.search) {
        body.replaceChildren(await searchResults());
        return;
      }
      const contacts = await api("GET", query(view.offset, PAGE_SIZE));
      const caption = contacts.length
        ? `Contacts ${view.offset + 1}–${view.offset + contacts.length}`
        : "No contacts on this page";
      body.replaceChildren(pager(contacts), table(contacts, caption), pager(contacts));
    } catch (error) {
      body.replaceChildren(message(describeError(error), "error"));
    }
  }

  /** A number is looked up; a name, or a number not found as it was
   * typed, is sought in the book page by page, up to a bound. */
  async function searchResults() {
    const digits = view.search.replace(/[\s+()-]/g, "");
    const isNumber = /^\d+$/.test(digits);
    if (isNumber && supports(features, "contacts.get")) {
      try {
        return table([await api("GET", contactPath(digits))], `The contact with number ${digits}`);
      } catch (error) {
        if (!(error instanceof ApiFailure) || error.status !== 404) throw error;
      }
    }
    const wanted = (isNumber ? digits : view.search).toLocaleLowerCase();
    const found = [];
    const batch = 500;
    const most = 20;
    let scanned = 0;
    for (let pageIndex = 0; pageIndex < most && found.length < PAGE_SIZE; pageIndex++) {
      const contacts = await api("GET", query(pageIndex * batch, batch));
      scanned += contacts.length;
      for (const contact of contacts) {
        const texts = [contact.name, contact.pushname, contact.shortName, contact.id, contact.lid];
        if (texts.some((text) => text && text.toLocaleLowerCase().includes(wanted))) found.push(contact);
      }
      if (contacts.length < batch) break;
    }
    const shown = found.slice(0, PAGE_SIZE);
    const caption = `${shown.length} contact(s) matching “${view.search}” among the first ${scanned}`;
    return shown.length ? table(shown, caption) : message(`No contact matches “${view.search}” among the first ${scanned}.`);
  }

  page(
    `Contacts of ${name}`,
    h("p", {}, h("a", { href: "#/sessions" }, "All sessions")),
    waiting,
    limits,
    h("section", { "aria-labelledby": "save-title" }, h("h2", { id: "save-title" }, "Save a contact"), saveForm({})),
    h("section", { "aria-labelledby": "block-title" }, h("h2", { id: "block-title" }, "Block or unblock a number"), blockForm()),
    h("h2", {}, "Address book"),
    controls,
    note,
    body,
  );
  await load();
}

/** A saved name as the first and last name it was saved from: the short
 * name is the first name when the full name starts with it. */
function splitName(contact) {
  const full = contact.name || "";
  const short = contact.shortName || "";
  if (short && full.startsWith(`${short} `)) return [short, full.slice(short.length + 1)];
  if (short && full === short) return [short, ""];
  const [first, ...rest] = full.split(" ");
  return [first, rest.join(" ")];
}

// Routing -------------------------------------------------------------------

const ROUTES = [
  [/^#\/sessions$/, () => showSessions()],
  [/^#\/engines$/, () => showEngines()],
  [/^#\/sessions\/([^/]+)\/pair$/, (match) => showPairing(decodeURIComponent(match[1]))],
  [/^#\/sessions\/([^/]+)\/contacts$/, (match) => showContacts(decodeURIComponent(match[1]))],
];

function stopTimers() {
  // One pool of ids: clearInterval ends timeouts too.
  for (const timer of timers) clearInterval(timer);
  for (const socket of sockets) socket.close();
  timers = [];
  sockets = [];
  sessionsBody = null;
}

async function route() {
  stopTimers();
  if (!accessKnown) {
    try {
      await settleAccess();
    } catch {
      page("The host does not answer", message("Trying again every 2 seconds…", "error"));
      timers.push(setTimeout(route, POLL_MS));
      return;
    }
  }
  if (!serverIsOpen && apiKey === null) {
    showSignIn();
    return;
  }
  const hash = location.hash || "#/sessions";
  for (const link of document.querySelectorAll("nav a")) {
    const current = hash === link.getAttribute("href") || hash.startsWith(`${link.getAttribute("href")}/`);
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const [pattern, show] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    try {
      await show(match);
    } catch (error) {
      if (error instanceof ApiFailure && error.status === 401) return;
      page("Something went wrong", message(describeError(error), "error"), h("a", { href: "#/sessions" }, "Sessions"));
    }
    return;
  }
  page("Not found", message(`There is no page ${hash}.`), h("a", { href: "#/sessions" }, "Sessions"));
}

// The hash is the page's route, so the skip link moves focus itself.
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main").focus();
});
window.addEventListener("hashchange", route);
route();
