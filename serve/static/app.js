// The live page: one tile per source (its shared MJPEG stream; tiles come and go with the sources
// added and removed while running), the legend, stats pushed by the
// server (server-sent events), and the render control. No external scripts.
"use strict";
const token = new URLSearchParams(location.search).get("token");
const query = token ? "?token=" + encodeURIComponent(token) : "";
const headers = token ? { "Authorization": "Bearer " + token } : {};
const $ = (id) => document.getElementById(id);

function ms(value) { return value === null || value === undefined ? "-" : value.toFixed(0) + " ms"; }

function tile(stream) {
  const box = document.createElement("div");
  box.className = "tile";
  box.id = "tile-" + stream.id;
  const title = document.createElement("h2");
  title.textContent = stream.id + "  " + stream.uri;
  const img = document.createElement("img");
  img.id = "img-" + stream.id;
  img.alt = "live stream of " + stream.id;
  img.src = "stream/" + encodeURIComponent(stream.id) + ".mjpg" + query;
  const stats = document.createElement("div");
  stats.className = "stats";
  stats.id = "stats-" + stream.id;
  box.append(title, img, stats);
  return box;
}

function showStats(data) {
  $("pipeline-state").textContent = "pipeline: " + data.state;
  showZones(data.zones);
  const listed = new Set(data.streams.map((s) => "tile-" + s.id));
  for (const box of [...$("tiles").children]) {  // a source removed while running: its tile goes
    if (!listed.has(box.id)) { box.querySelector("img").src = ""; box.remove(); }
  }
  for (const s of data.streams) {
    let box = $("tile-" + s.id);
    if (!box) { box = tile(s); $("tiles").append(box); }
    const el = $("stats-" + s.id);
    const age = s.last_frame_age_s === null ? "no frame yet" : s.last_frame_age_s.toFixed(1) + " s ago";
    el.className = "stats state-" + s.state;
    el.textContent = `${s.state}  ${s.fps.toFixed(1)} fps  e2e p50 ${ms(s.e2e_latency_ms.p50)}  ` +
      `p99 ${ms(s.e2e_latency_ms.p99)}  dropped ${s.dropped}  frames ${s.frames}\n` +
      `last frame ${age}  viewers ${s.viewers}  reconnects ${s.reconnects}`;
  }
}

function describe(e) {
  return `${e.source} / ${e.zone} / ${e["class"]}  ${(100 * e.fraction).toFixed(1)} %  ${e.duration_s.toFixed(1)} s`;
}

function showZones(zones) {
  if (!zones) return;  // the run has no zones
  $("zones").hidden = false;
  $("zones-active").textContent = zones.active.length
    ? "in zones now: " + zones.active.map(describe).join("   ") : "no zone event under way";
  $("zones-recent").textContent = zones.recent.slice().reverse()
    .map((e) => new Date(e.wall_time * 1000).toLocaleTimeString() + "  " + e.type + "  " + describe(e)).join("\n");
}

function showLegend(classes) {
  $("legend").replaceChildren(...classes.map((c) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = c.color;
    item.append(swatch, c.name);
    return item;
  }));
}

function showRender(render) {
  $("visualize").value = render.visualize;
  $("alpha").value = render.alpha;
  $("alpha-value").textContent = Number(render.alpha).toFixed(2);
}

async function setRender(change) {
  const reply = await fetch("v1/render", { method: "POST", headers: { ...headers, "Content-Type": "application/json" },
                                           body: JSON.stringify(change) });
  const body = await reply.json();
  $("error").textContent = reply.ok ? "" : body.error;
  if (reply.ok) showRender(body);
}

async function main() {
  const reply = await fetch("v1/streams", { headers });
  const data = await reply.json();
  if (!reply.ok) { $("error").textContent = data.error; return; }
  showLegend(data.classes);
  showRender(data.render);
  showStats(data);
  $("visualize").addEventListener("change", (e) => setRender({ visualize: e.target.value }));
  $("alpha").addEventListener("change", (e) => setRender({ alpha: Number(e.target.value) }));
  $("alpha").addEventListener("input", (e) => { $("alpha-value").textContent = Number(e.target.value).toFixed(2); });
  const events = new EventSource("v1/events" + query);
  events.onmessage = (e) => showStats(JSON.parse(e.data));
  events.onerror = () => { $("pipeline-state").textContent = "pipeline: disconnected"; };
}

main().catch((e) => { $("error").textContent = String(e); });
