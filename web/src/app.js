// The camera page of `warmwire demo --web`.
//
// Camera frames (or a synthetic animated scene when there is no camera) go to the
// warmwire/faces app through warmwire's own client (clients/js, @warmwire/client):
// realtime.connect with the runner's URL and a tokenProvider that asks this page's
// backend (/api/token) for a short-lived token, so no API key ever reaches the browser.
// The codec picked on the page is offered to the runner as the WebSocket subprotocol.
// Results are drawn next to the input, with live figures: round trip p50/p95, frames
// per second in and out, frames dropped, the model's time and the runner's cold start.
// Nothing global is replaced.
import { realtime } from "@warmwire/client";

const CAMERA_FPS = 30;
const MAX_WIDTH = 640;
const RTT_WINDOW = 300; // round trips the percentiles are computed over
const RATE_WINDOW_MS = 2000; // frames per second: counted over the last two seconds
const JPEG_QUALITY = 0.8;
const WEBP_QUALITY = 0.75;
const MIME = { jpeg: "image/jpeg", webp: "image/webp" };
const VERDICT_TIMEOUT_MS = 5000; // how long the camera waits for a bad frame's answer

const $ = (selector) => document.querySelector(selector);

const state = {
  config: null,
  codec: "msgpack",
  mode: "box",
  format: "jpeg",
  throttle: 16,
  connection: null,
  generation: 0, // bumped at every (re)connect: callbacks of older connections are ignored
  source: null,
  frameSeq: 0,
  badSeq: 0,
  pending: new Map(), // frame number -> time handed to connection.send()
  rtts: [],
  sentTimes: [],
  resultTimes: [],
  results: 0,
  dropped: 0,
  maxInFlight: 0,
  errors: 0,
  lastFrame: null, // the last JPEG/WebP bytes sent, for the "truncated" bad frame
  verdictDue: 0, // while a bad frame awaits the runner's answer, no newer frame is sent
  negotiated: "",
  live: false,
};

// --- connection --------------------------------------------------------------------------

async function tokenProvider(app) {
  const response = await fetch(`/api/token?app=${encodeURIComponent(app)}`, {
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(`the token route answered ${response.status}: ${body.reason ?? ""}`);
  }
  addEvent(`token for ${app} from /api/token (valid ${body.expires_in} s)`);
  return body.token;
}

// Switching codec or throttle means a new connection: close() drops whatever the old
// one's throttle still held, and frames from then on go to the new one.
function reconnect(why, change = () => {}) {
  addEvent(`${why}: reconnecting`);
  change();
  connect();
}

function connect() {
  if (state.connection) state.connection.close();
  state.generation += 1;
  const generation = state.generation;
  state.pending.clear();
  state.negotiated = "";
  state.live = false;
  showCodec();
  setStatus("connecting", `connecting (${state.codec})…`);
  const params = new URLSearchParams(location.search);
  state.connection = realtime.connect(state.config.app, {
    url: state.config.runner,
    // ?path=/elsewhere dials a path the runner does not serve: the page shows its refusal.
    path: params.get("path") ?? undefined,
    codec: state.codec, // msgpack binary frames, or JSON text frames with images as data: URIs
    throttleInterval: state.throttle,
    maxBuffering: state.config.max_buffering,
    tokenProvider,
    tokenExpirationSeconds: state.config.token_expiration,
    onOpen: ({ protocol, url }) => {
      if (generation === state.generation) onSocketOpen(protocol, url);
    },
    onResult: (result) => {
      if (generation === state.generation) onResult(result);
    },
    onError: (error) => {
      if (generation === state.generation) onError(error);
    },
    onColdStart: (seconds) => {
      if (generation === state.generation) onColdStart(seconds);
    },
    onReconnect: ({ attempt, delayMs }) => {
      if (generation === state.generation) addEvent(`reconnecting in ${delayMs} ms (attempt ${attempt})`);
    },
  });
}

function onColdStart(seconds) {
  setFigure("#fig-cold", seconds * 1000, fmt(seconds * 1000, 0));
  addEvent(`the runner reports its cold start: ${fmt(seconds * 1000, 0)} ms in setup()`, "ok");
}

function onSocketOpen(protocol, url) {
  state.negotiated = protocol || "(none: msgpack by default)";
  showCodec();
  addEvent(`connected to ${url} · subprotocol ${protocol || "none"}`, "ok");
}

function onResult(result) {
  const now = performance.now();
  const number = Number(String(result.request_id ?? "").replace(/^f/, ""));
  if (state.pending.has(number)) {
    pushBounded(state.rtts, now - state.pending.get(number), RTT_WINDOW);
    state.pending.delete(number);
  }
  // Frames older than this one will never be answered: a newer frame overtook
  // them (the client's throttle, or the runner's drop-oldest buffer).
  for (const older of state.pending.keys()) {
    if (older < number) {
      state.pending.delete(older);
      state.dropped += 1;
    }
  }
  state.results += 1;
  state.resultTimes.push(now);
  if (!state.live) {
    state.live = true;
    setStatus("live", "live");
  }
  showResult(result);
}

function onError(error) {
  // error.code: the runner's x-fal-error code (INVALID_INPUT, ...), "Unauthorized", a
  // refusal's ("Not Found", ...), or the client's own (CONNECTION_CLOSED, ...).
  const code = error.code ?? "error";
  const reason = error.reason ?? error.message ?? String(error);
  const session = error.body?.type === "x-fal-error" && error.closeCode === undefined;
  state.errors += 1;
  state.verdictDue = 0;
  const box = $("#last-error");
  box.hidden = false;
  box.classList.remove("stale");
  box.textContent = `${clock()}  ${code}: ${reason}`;
  box.dataset.code = code;
  box.dataset.count = String(state.errors);
  addEvent(`${code}: ${reason}`, "bad");
  if (error.name === "RefusedError") {
    // The runner refused this connection for good: the client does not retry.
    state.live = false;
    setStatus("error", "refused by the runner");
    return;
  }
  if (!session) {
    // The connection itself failed: the client reconnects (fresh token if refused).
    state.live = false;
    setStatus("error", "reconnecting…");
  }
  clearTimeout(onError.timer);
  onError.timer = setTimeout(() => box.classList.add("stale"), 10000);
}

// --- frames out ----------------------------------------------------------------------------

async function pump() {
  const interval = 1000 / CAMERA_FPS;
  let next = performance.now();
  for (;;) {
    next += interval;
    const wait = next - performance.now();
    if (wait < -interval) next = performance.now(); // fell behind: no burst to catch up
    // A frame clock, not a wait for something to happen: the camera delivers ~30 fps.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
    const now = performance.now();
    if (now < state.verdictDue || !state.source || state.connection?.state === "refused") continue;
    try {
      await sendFrame();
    } catch (error) {
      addEvent(`cannot send a frame: ${error}`, "bad");
    }
  }
}

async function sendFrame() {
  const generation = state.generation;
  const blob = await state.source.grab(state.format);
  if (!blob) return;
  const bytes = new Uint8Array(await blob.arrayBuffer());
  state.lastFrame = { bytes, mime: blob.type };
  const image = state.codec === "json" ? await toDataUri(blob) : bytes;
  const now = performance.now();
  if (generation !== state.generation || now < state.verdictDue) return;
  const number = ++state.frameSeq;
  state.pending.set(number, now);
  state.sentTimes.push(now);
  state.maxInFlight = Math.max(state.maxInFlight, state.pending.size);
  state.connection.send({ image, mode: state.mode, request_id: `f${number}` });
}

async function sendBadFrame(kind) {
  let bytes;
  let mime = "image/jpeg";
  if (kind === "truncated" && state.lastFrame) {
    bytes = state.lastFrame.bytes.slice(0, Math.floor(state.lastFrame.bytes.length / 2));
    mime = state.lastFrame.mime;
  } else {
    bytes = new TextEncoder().encode("this is not an image, just text pretending to be one");
  }
  const image =
    state.codec === "json" ? await toDataUri(new Blob([bytes], { type: mime })) : bytes;
  // Hold the camera until the runner has answered this frame (at most a few seconds):
  // the client's throttle keeps only the last message of each interval, and the
  // runner's buffer drops the oldest frame when a newer one arrives, so a frame
  // followed by others might never be looked at.
  state.verdictDue = performance.now() + VERDICT_TIMEOUT_MS;
  state.badSeq += 1;
  const what =
    kind === "truncated" ? `a ${mime.split("/")[1].toUpperCase()} cut in half` : "text, not an image";
  addEvent(`sent a bad frame: ${what} (${bytes.length} bytes)`);
  state.connection.send({ image, mode: state.mode, request_id: `bad${state.badSeq}` });
}

function toDataUri(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

// --- sources: the camera, or a synthetic scene -----------------------------------------------

class Source {
  constructor(element, width, height, label) {
    this.element = element;
    this.width = width;
    this.height = height;
    this.label = label;
    this.canvas = document.createElement("canvas");
    const scale = Math.min(1, MAX_WIDTH / width);
    this.canvas.width = Math.round(width * scale);
    this.canvas.height = Math.round(height * scale);
    this.context = this.canvas.getContext("2d");
  }

  update() {}

  grab(format) {
    this.update();
    this.context.drawImage(this.element, 0, 0, this.canvas.width, this.canvas.height);
    const quality = format === "webp" ? WEBP_QUALITY : JPEG_QUALITY;
    return new Promise((resolve) => this.canvas.toBlob(resolve, MIME[format], quality));
  }
}

async function openCamera() {
  if (!navigator.mediaDevices?.getUserMedia) {
    const error = new Error("this page is not a secure context (open it on localhost or https)");
    error.name = "NoMediaDevices";
    throw error;
  }
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: CAMERA_FPS } },
    audio: false,
  });
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  await video.play();
  if (!video.videoWidth) {
    await new Promise((resolve) => video.addEventListener("loadedmetadata", resolve, { once: true }));
  }
  const track = stream.getVideoTracks()[0];
  return new Source(video, video.videoWidth, video.videoHeight, `camera: ${track?.label || "default"}`);
}

class SyntheticScene extends Source {
  constructor(portrait) {
    const canvas = document.createElement("canvas");
    canvas.width = 640;
    canvas.height = 480;
    super(canvas, 640, 480, "synthetic animated scene");
    this.portrait = portrait;
    this.scene = canvas.getContext("2d");
    this.started = performance.now();
  }

  update() {
    const ctx = this.scene;
    const t = (performance.now() - this.started) / 1000;
    const hue = (t * 20) % 360;
    const sky = ctx.createLinearGradient(0, 0, 640, 480);
    sky.addColorStop(0, `hsl(${hue}, 45%, 28%)`);
    sky.addColorStop(1, `hsl(${(hue + 120) % 360}, 45%, 18%)`);
    ctx.fillStyle = sky;
    ctx.fillRect(0, 0, 640, 480);
    for (let i = 0; i < 6; i++) {
      const x = 320 + 280 * Math.sin(t * (0.3 + i * 0.11) + i);
      const y = 240 + 200 * Math.cos(t * (0.23 + i * 0.07) + i * 2);
      ctx.fillStyle = `hsla(${(hue + i * 50) % 360}, 70%, 60%, 0.25)`;
      ctx.beginPath();
      ctx.arc(x, y, 30 + 10 * i, 0, 2 * Math.PI);
      ctx.fill();
    }
    if (this.portrait) {
      // The sample portrait drifts and breathes, so every frame differs.
      const scale = (300 / this.portrait.height) * (1 + 0.08 * Math.sin(t * 0.9));
      const w = this.portrait.width * scale;
      const h = this.portrait.height * scale;
      const x = 320 - w / 2 + 120 * Math.sin(t * 0.6);
      const y = 240 - h / 2 + 40 * Math.sin(t * 1.1);
      ctx.drawImage(this.portrait, x, y, w, h);
    } else {
      drawCartoonFace(ctx, 320 + 120 * Math.sin(t * 0.6), 240 + 40 * Math.sin(t * 1.1));
    }
    ctx.fillStyle = "rgba(0, 0, 0, 0.55)";
    ctx.fillRect(0, 446, 640, 34);
    ctx.fillStyle = "#ffd640";
    ctx.font = "15px system-ui, sans-serif";
    ctx.fillText(`synthetic camera · no camera in use · ${t.toFixed(1)} s`, 12, 468);
  }
}

function drawCartoonFace(ctx, x, y) {
  ctx.fillStyle = "#e8b894";
  ctx.beginPath();
  ctx.ellipse(x, y, 90, 115, 0, 0, 2 * Math.PI);
  ctx.fill();
  ctx.fillStyle = "#222";
  for (const dx of [-35, 35]) {
    ctx.beginPath();
    ctx.arc(x + dx, y - 25, 10, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.strokeStyle = "#7a3b2e";
  ctx.lineWidth = 6;
  ctx.beginPath();
  ctx.arc(x, y + 30, 35, 0.15 * Math.PI, 0.85 * Math.PI);
  ctx.stroke();
}

function loadImage(src) {
  return new Promise((resolve) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => resolve(null);
    image.src = src;
  });
}

async function openSource() {
  const params = new URLSearchParams(location.search);
  let why = null;
  if (params.get("source") === "synthetic") {
    why = "The synthetic scene was asked for (?source=synthetic)";
  } else {
    try {
      return await openCamera();
    } catch (error) {
      const refused = error.name === "NotAllowedError" || error.name === "SecurityError";
      why = refused
        ? `Camera permission was refused (${error.name}: ${error.message}). Allow the camera and reload to use it`
        : `No camera available (${error.name}: ${error.message})`;
    }
  }
  const portrait = state.config.sample ? await loadImage("/sample.jpg") : null;
  const note = $("#source-note");
  note.hidden = false;
  note.textContent = `${why}: showing a synthetic animated scene instead${portrait ? " (a sample portrait drifting over a moving background)" : ""}.`;
  return new SyntheticScene(portrait);
}

// --- drawing ---------------------------------------------------------------------------------

function drawInput() {
  const source = state.source;
  if (source) {
    const canvas = $("#input");
    if (canvas.width !== source.canvas.width || canvas.height !== source.canvas.height) {
      canvas.width = source.canvas.width;
      canvas.height = source.canvas.height;
    }
    if (source instanceof SyntheticScene) source.update();
    canvas.getContext("2d").drawImage(source.element, 0, 0, canvas.width, canvas.height);
  }
  requestAnimationFrame(drawInput);
}

let drawing = false;
let waiting = null;

async function showResult(result) {
  if (drawing) {
    waiting = result; // only the newest result is worth drawing
    return;
  }
  drawing = true;
  try {
    const image = result.image;
    const blob =
      typeof image === "string"
        ? await (await fetch(image)).blob()
        : new Blob([image], { type: `image/${result.format ?? "jpeg"}` });
    const bitmap = await createImageBitmap(blob);
    const canvas = $("#output");
    if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
    }
    canvas.getContext("2d").drawImage(bitmap, 0, 0);
    bitmap.close();
    canvas.dataset.drawn = String(Number(canvas.dataset.drawn ?? 0) + 1);
    const faces = result.detections?.length ?? 0;
    setFigure("#fig-faces", faces, String(faces));
    setFigure("#fig-model", result.model_ms, fmt(result.model_ms, 1));
    $("#fig-handler").textContent = `ms · app ${fmt(result.handler_ms, 1)} ms`;
    $("#result-label").textContent =
      `${result.width}×${result.height} ${String(result.format).toUpperCase()} · ${result.mode} · ` +
      `${faces} face${faces === 1 ? "" : "s"} · ${result.request_id}`;
    const detections = result.detections ?? [];
    $("#detections").textContent = detections.length
      ? detections.map((d) => JSON.stringify(d)).join("\n")
      : "[] (no face in this frame)";
  } catch (error) {
    addEvent(`cannot draw a result: ${error}`, "bad");
  } finally {
    drawing = false;
  }
  if (waiting) {
    const next = waiting;
    waiting = null;
    showResult(next);
  }
}

// --- figures ---------------------------------------------------------------------------------

function percentile(values, q) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((q / 100) * sorted.length) - 1)];
}

function rate(times, now) {
  while (times.length && times[0] < now - RATE_WINDOW_MS) times.shift();
  return times.length / (RATE_WINDOW_MS / 1000);
}

function updateFigures() {
  const now = performance.now();
  const p50 = percentile(state.rtts, 50);
  const p95 = percentile(state.rtts, 95);
  setFigure("#fig-p50", p50, fmt(p50, 1));
  setFigure("#fig-p95", p95, fmt(p95, 1));
  const fpsIn = rate(state.sentTimes, now);
  const fpsOut = rate(state.resultTimes, now);
  setFigure("#fig-fps-in", fpsIn, fmt(fpsIn, 1));
  setFigure("#fig-fps-out", fpsOut, fmt(fpsOut, 1));
  setFigure("#fig-dropped", state.dropped, String(state.dropped));
  const inFlight = $("#fig-in-flight");
  inFlight.dataset.value = String(state.pending.size);
  inFlight.dataset.max = String(state.maxInFlight);
  inFlight.textContent = `${state.pending.size} in flight (max ${state.maxInFlight})`;
  const results = $("#fig-results");
  results.dataset.value = String(state.results);
  results.dataset.samples = String(state.rtts.length);
  results.textContent = `in frame · ${state.results} results`;
  $("#fig-window").textContent = `ms · last ${state.rtts.length} frames`;
}

function setFigure(selector, value, text) {
  const element = $(selector);
  element.dataset.value = value === null || value === undefined ? "" : String(value);
  element.textContent = text;
}

const fmt = (value, digits) =>
  value === null || value === undefined || Number.isNaN(value) ? "–" : Number(value).toFixed(digits);

function pushBounded(list, value, limit) {
  list.push(value);
  if (list.length > limit) list.shift();
}

function resetFigures() {
  state.rtts.length = 0;
  state.dropped = 0;
  state.maxInFlight = state.pending.size;
  addEvent("figures reset");
  updateFigures();
}

// --- page chrome -----------------------------------------------------------------------------

function setStatus(name, text) {
  document.body.dataset.state = name;
  $("#status").textContent = text;
}

function showCodec() {
  const hint = $("#fig-codec");
  hint.dataset.value = state.negotiated ? state.codec : "";
  hint.textContent = state.negotiated
    ? `on the wire: ${state.codec === "json" ? "JSON text frames, images as data: URIs" : "msgpack binary frames, images as bytes"}`
    : "connecting…";
  document.body.dataset.codec = state.codec;
}

function clock() {
  return new Date().toLocaleTimeString([], { hour12: false });
}

function addEvent(text, kind = "") {
  const list = $("#events");
  const item = document.createElement("li");
  if (kind) item.className = kind;
  const time = document.createElement("time");
  time.textContent = clock();
  item.append(time, text);
  list.prepend(item);
  while (list.children.length > 40) list.lastChild.remove();
}

function bindSegmented(id, key, onChange) {
  const group = $(`#${id}`);
  group.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || button.dataset[key] === state[key]) return;
    state[key] = button.dataset[key];
    for (const other of group.querySelectorAll("button")) {
      other.setAttribute("aria-pressed", String(other === button));
    }
    onChange();
  });
}

async function main() {
  const response = await fetch("/api/config", { cache: "no-store" });
  if (!response.ok) throw new Error(`/api/config answered ${response.status}`);
  state.config = await response.json();
  const config = state.config;
  setFigure("#fig-cold", config.cold_start_ms, fmt(config.cold_start_ms, 0));
  $("#about-app").textContent = `app ${config.app} (buffering ${config.max_buffering})`;
  $("#about-model").textContent = `model ${config.model}${config.mediapipe ? ` (mediapipe ${config.mediapipe})` : ""}, loaded in setup()`;
  $("#about-client").textContent = `client @warmwire/client ${__CLIENT_VERSION__} (realtime.connect)`;
  $("#about-runner").textContent = `runner ${config.runner}`;

  bindSegmented("codec", "codec", () => reconnect(`codec ${state.codec}`));
  bindSegmented("mode", "mode", () => addEvent(`faces: ${state.mode}`));
  bindSegmented("format", "format", () => addEvent(`frames now sent as ${state.format.toUpperCase()}`));
  $("#throttle").addEventListener("change", (event) => {
    const interval = Number(event.target.value);
    reconnect(`client throttle ${interval} ms`, () => {
      state.throttle = interval;
    });
  });
  for (const button of document.querySelectorAll("button[data-bad]")) {
    button.addEventListener("click", () => sendBadFrame(button.dataset.bad));
  }
  $("#reset").addEventListener("click", resetFigures);

  state.source = await openSource();
  document.body.dataset.source = state.source instanceof SyntheticScene ? "synthetic" : "camera";
  $("#source-label").textContent = `${state.source.label} · ${state.source.width}×${state.source.height}`;
  addEvent(`frames from the ${state.source.label}`);
  requestAnimationFrame(drawInput);
  connect();
  setInterval(updateFigures, 250);
  pump();
}

main().catch((error) => {
  setStatus("error", "failed to start");
  const box = $("#last-error");
  box.hidden = false;
  box.textContent = `the page could not start: ${error}`;
});
