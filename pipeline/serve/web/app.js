// The review page of `zpipe serve`: recipes -> versions -> assets, contact sheets, texture and poster
// views, diffs, approvals, and builds with live progress. Plain DOM, no framework; text is never parsed as HTML.

const view = document.getElementById("view");
const crumbs = document.getElementById("crumbs");
const enc = encodeURIComponent;

function h(tag, attrs = {}, ...children) {
  const el = document.createElementNS(tag === "svg" || tag === "rect" || tag === "text" || tag === "title"
    ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml", tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// A static copy (`zpipe review export`) carries the routes' answers in the page: read-only, no server.
const staticBlock = document.getElementById("zpipe-static");
const STATIC = staticBlock ? JSON.parse(staticBlock.textContent) : null;

function staticApi(path, options) {
  if (options.method && options.method !== "GET") throw new Error("this is a read-only copy: open it through zpipe serve to change it");
  const [p, q] = path.split("?");
  const params = new URLSearchParams(q || "");
  const key = p.endsWith("/diff") ? `${p}:${params.get("old")}:${params.get("new")}`
    : p.replace(/\/versions\/latest(\/|$)/, `/versions/${STATIC.version}$1`);
  const data = STATIC.api[key];
  if (data === undefined) throw new Error(`${p} is not in this copy of ${STATIC.recipe} ${STATIC.version}`);
  if (!(data.assets && data.assets.all)) return data;
  let items = data.assets.all;  // a version: filtered and paged here, as the server would
  const status = params.get("status");
  if (status) items = items.filter((a) => a.status === status || a.review.status === status);
  const per = Math.max(1, Number(params.get("per_page")) || 48);
  const pages = Math.max(1, Math.ceil(items.length / per));
  const page = Math.min(Math.max(1, Number(params.get("page")) || 1), pages);
  return { ...data, assets: { page, pages, per_page: per, total: items.length, items: items.slice((page - 1) * per, page * per) } };
}

async function api(path, options = {}) {
  if (STATIC) return staticApi(path, options);
  const r = await fetch(path, { credentials: "same-origin", ...options,
    headers: { "Content-Type": "application/json", ...(options.headers || {}) } });
  const data = await r.json().catch(() => ({}));
  if (!r.ok && r.status !== 202) throw new Error(data.error || `${r.status} ${r.statusText}`);
  return data;
}

const relUrl = (rel) => rel.split("/").map(enc).join("/");
const fileUrl = (recipe, version, rel) => (STATIC ? `${STATIC.files[version]}/${relUrl(rel)}`
  : `/files/${enc(recipe)}/${enc(version)}/${relUrl(rel)}`);
const thumbUrl = (recipe, version, rel, size = 256) => (STATIC ? fileUrl(recipe, version, rel)  // no thumbnails without the server
  : `${fileUrl(recipe, version, rel).replace(/^\/files/, "/thumbs")}?size=${size}`);
const badge = (text) => h("span", { class: `badge ${text}` }, text);
const when = (t) => (t ? new Date(typeof t === "number" ? t * 1000 : t).toLocaleString() : "");

function img(src, alt, attrs = {}) {  // an image that never shows as broken: a failed one becomes a note
  const el = h("img", { src, alt, ...attrs });
  el.addEventListener("error", () => el.replaceWith(h("span", { class: "muted" }, `(${alt}: no preview)`)));
  return el;
}

function setCrumbs(...parts) {
  crumbs.replaceChildren(...parts.flatMap(([label, href], i) => [i ? " / " : "",
    href ? h("a", { href }, label) : h("span", {}, label)]));
}

function primaryRole(asset) {
  const web = asset.web || {};
  return web.albedo ? "albedo" : web.poster ? "poster" : Object.keys(web)[0];
}

// --- home: recipes, builds ---------------------------------------------------------------------------

async function home() {
  setCrumbs(["recipes"]);
  const [{ recipes }, { files }, { builds }] = await Promise.all([api("/api/recipes"), api("/api/recipe-files"),
    api("/api/builds")]);
  const list = h("table", {}, h("tr", {}, h("th", {}, "recipe"), h("th", {}, "latest"), h("th", {}, "versions"),
    h("th", {}, "assets"), h("th", {}, "built")),
  recipes.map((r) => h("tr", {}, h("td", {}, h("a", { href: `#/r/${enc(r.name)}` }, r.name)),
    h("td", {}, h("a", { href: `#/r/${enc(r.name)}/${r.latest}` }, r.latest)), h("td", {}, r.versions),
    h("td", {}, r.assets), h("td", { class: "muted" }, when(r.created)))));
  view.replaceChildren(h("h1", {}, "Recipes"),
    recipes.length ? list : h("p", { class: "muted" }, "No builds yet in this output root."),
    ...(STATIC ? [] : [buildForm(files), h("h2", {}, "Builds"), buildList(builds)]));
}

function buildForm(files) {
  const select = h("select", { name: "recipe" }, h("option", { value: "" }, "— inline YAML below —"),
    files.map((f) => h("option", { value: f }, f)));
  const yaml = h("textarea", { name: "yaml", rows: 6, cols: 60, placeholder: "name: my_textures\nengine: procedural\n…" });
  const sets = h("input", { name: "set", size: 40, placeholder: "size=512; matrix.variant=[mossy]" });
  const force = h("input", { type: "checkbox", name: "force" });
  const status = h("div", { class: "muted" });
  const form = h("form", { class: "panel", id: "build-form", onsubmit: async (e) => {
    e.preventDefault();
    const body = { set: sets.value.split(";").map((s) => s.trim()).filter(Boolean), force: force.checked };
    if (select.value) body.recipe = select.value; else body.yaml = yaml.value;
    try {
      const job = await api("/api/builds", { method: "POST", body: JSON.stringify(body) });
      status.replaceChildren(watchBuild(job));
    } catch (err) { status.replaceChildren(h("span", { class: "error" }, err.message)); }
  } }, h("h2", {}, "Build"), h("p", {}, h("label", {}, "Recipe ", select)), h("p", {}, yaml),
  h("p", {}, h("label", {}, "Overrides ", sets), " ", h("label", {}, force, " force")),
  h("button", { type: "submit" }, "Build"), status);
  return form;
}

function buildList(builds) {
  if (!builds.length) return h("p", { class: "muted" }, "No builds since the server started.");
  return h("table", { id: "builds" }, builds.map((b) => h("tr", {}, h("td", {}, b.id), h("td", {}, b.kind),
    h("td", {}, b.recipe), h("td", {}, badge(b.state)), h("td", {}, `${b.progress.done}/${b.progress.total}`),
    h("td", { class: "muted" }, b.error || (b.result && b.result.version) || ""))));
}

function watchBuild(job) {  // live progress from the server-sent events: the same events as `zpipe run --json`
  const bar = h("progress", { max: 1, value: 0 });
  const state = badge(job.state);
  const log = h("div", { class: "log", id: `log-${job.id}` });
  const cancel = h("button", { type: "button", onclick: () => api(`/api/builds/${job.id}`, { method: "DELETE" }) },
    "Cancel");
  const box = h("div", { class: "panel build", "data-build": job.id }, h("div", {}, `build ${job.id} `, state, " ", bar,
    " ", cancel), log);
  let done = 0;
  const source = new EventSource(`/api/builds/${job.id}/events`);
  source.onmessage = (m) => {
    const e = JSON.parse(m.data);
    if (e.event === "start") bar.max = Math.max(1, e.total);
    if (e.event === "asset_done") bar.value = ++done;
    const text = e.event === "asset_done" ? `${e.status} ${e.id}` : e.event === "done"
      ? `done: ${e.version} (built ${e.built}, reused ${e.reused}, failed ${e.failed})` : e.message || e.event;
    log.append(h("div", { class: "event", "data-event": e.event }, text));
    log.scrollTop = log.scrollHeight;
  };
  source.addEventListener("end", (m) => {
    source.close();
    const final = JSON.parse(m.data);
    state.replaceWith(badge(final.state));
    cancel.remove();
    const r = final.result;
    if (r && r.version) log.append(h("div", { class: "result" }, "version ",
      h("a", { href: `#/r/${enc(r.recipe)}/${r.version}`, class: "new-version" }, `${r.recipe} ${r.version}`)));
    if (final.error) log.append(h("div", { class: "error" }, final.error));
  });
  return box;
}

// --- a recipe: its versions ------------------------------------------------------------------------

async function recipe(name) {
  setCrumbs(["recipes", "#/"], [name]);
  const data = await api(`/api/recipes/${enc(name)}`);
  const vs = data.versions.map((v) => v.version);
  const pick = (id, value) => h("select", { id }, vs.map((v) => h("option", { value: v, selected: v === value }, v)));
  const older = pick("diff-old", vs[1] || vs[0]), newer = pick("diff-new", vs[0]);
  view.replaceChildren(h("h1", {}, name),
    h("table", {}, h("tr", {}, ["version", "created", "assets", "built", "reused", "failed", "engine"].map((t) => h("th", {}, t))),
      data.versions.map((v) => h("tr", {}, h("td", {}, h("a", { href: `#/r/${enc(name)}/${v.version}` }, v.version),
        v.latest ? " (latest)" : ""), h("td", { class: "muted" }, when(v.created)), h("td", {}, v.assets),
      h("td", {}, v.summary.built ?? 0), h("td", {}, v.summary.reused ?? 0), h("td", {}, v.summary.failed ?? 0),
      h("td", {}, v.engine || "")))),
    h("div", { class: "panel" }, "Compare ", older, " with ", newer, " ",
      h("button", { onclick: () => { location.hash = `#/diff/${enc(name)}/${older.value}/${newer.value}`; } }, "Diff")));
}

// --- a version: the contact sheet, paged ----------------------------------------------------------

async function version(name, v, params) {
  const pageNo = Number(params.get("page") || 1);
  const status = params.get("status") || "";
  const data = await api(`/api/recipes/${enc(name)}/versions/${v}?page=${pageNo}&per_page=48${status ? `&status=${status}` : ""}`);
  setCrumbs(["recipes", "#/"], [name, `#/r/${enc(name)}`], [data.version]);
  const p = data.assets;
  const link = (n) => `#/r/${enc(name)}/${data.version}?page=${n}${status ? `&status=${status}` : ""}`;
  const pager = h("div", { class: "pager" }, pageNo > 1 ? h("a", { href: link(pageNo - 1), rel: "prev" }, "‹ previous") : "",
    `page ${p.page} of ${p.pages} (${p.total} assets)`, p.page < p.pages ? h("a", { href: link(p.page + 1), rel: "next" }, "next ›") : "",
    h("span", { class: "muted" }, " show: "), ["", "approved", "rejected", "pending", "failed"].map((s) =>
      h("a", { href: `#/r/${enc(name)}/${data.version}${s ? `?status=${s}` : ""}` }, s || "all")));
  const cards = p.items.map((a) => {
    const role = primaryRole(a);
    return h("a", { class: "card", href: `#/r/${enc(name)}/${data.version}/${enc(a.id)}`, "data-asset": a.id },
      role ? img(thumbUrl(name, data.version, a.web[role]), a.id) : h("div", { class: "muted", style: { padding: "2rem" } }, a.error || "no image"),
      h("div", { class: "meta" }, h("span", {}, a.id), h("span", {}, badge(a.status), " ", badge(a.review.status))));
  });
  view.replaceChildren(h("h1", {}, `${name} ${data.version}`),
    h("p", { class: "muted" }, `${when(data.created)} · engine ${data.engine?.name || "?"} · built ${data.summary?.built ?? 0}, reused ${data.summary?.reused ?? 0}, failed ${data.summary?.failed ?? 0}`),
    pager, h("div", { class: "grid" }, cards), pager.cloneNode(true));
}

// --- an asset: maps, tiled and 3D previews, poster boxes, approval ---------------------------------

async function asset(name, v, id) {
  const data = await api(`/api/recipes/${enc(name)}/versions/${v}/assets/${enc(id)}`);
  const a = data.asset;
  setCrumbs(["recipes", "#/"], [name, `#/r/${enc(name)}`], [data.version, `#/r/${enc(name)}/${data.version}`], [a.id]);
  const web = a.web || {};
  const parts = [h("h1", {}, a.id, " ", badge(a.status), " ", badge(a.review.status)),
    h("p", { class: "muted" }, a.prompt || ""), a.error ? h("p", { class: "error" }, a.error) : ""];
  if (web.poster) parts.push(posterView(name, data.version, a));
  else if (web.albedo) {
    const tile = h("div", { class: "tiled", id: "tiled", title: "2×2 tiled",
      style: { backgroundImage: `url("${fileUrl(name, data.version, web.albedo)}")` } });
    const canvas = h("canvas", { class: "preview", id: "preview3d", width: 1024, height: 512 });
    parts.push(h("div", { class: "row" }, h("div", {}, h("h3", {}, "Tiled 2×2"), tile),
      h("div", {}, h("h3", {}, "Material (plane and sphere; drag to turn)"), canvas)));
    const urls = Object.fromEntries(Object.entries(web).map(([role, rel]) => [role, fileUrl(name, data.version, rel)]));
    if (STATIC) canvas.replaceWith(h("p", { class: "muted" }, "The 3D preview needs the page of zpipe serve."));
    else import("./viewer.js").then((m) => m.materialPreview(canvas, urls))
      .catch((err) => canvas.replaceWith(h("p", { class: "error" }, `3D preview: ${err.message}`)));
  }
  const files = Object.keys(a.outputs || {});
  parts.push(h("h3", {}, "Files"), h("div", { class: "maps" }, files.map((rel) => {
    const fname = rel.split("/").pop();
    return h("figure", {}, h("a", { href: fileUrl(name, data.version, rel) }, img(thumbUrl(name, data.version, rel), fname)),
      h("figcaption", {}, fname));
  })));
  parts.push(approvalForm(name, data.version, a, data.history));
  parts.push(h("h3", {}, "Record"), h("pre", {}, JSON.stringify({ key: a.key, seed: a.seed, size: a.size, steps: a.steps,
    tile: a.tile, engine: a.engine, metrics: a.metrics, timings: a.timings }, null, 1)));
  view.replaceChildren(...parts);
}

function ocrBoxes(a) {  // [{box, label, pass}] from the manifest's glyph_check metrics (OCR boxes, else the layout)
  const g = (a.metrics || {}).glyph_check || {};
  const layout = ((g.typeset || (a.metrics || {}).typeset || {}).layout || {}).lines || [];
  const out = [];
  (g.lines || []).forEach((line, i) => {
    const verdict = `${line.pass ? "pass" : "FAIL"} “${line.found || ""}” NED ${Number(line.ned ?? 0).toFixed(2)}`;
    const boxes = (line.boxes || []).map((b) => b.box || b).filter((b) => Array.isArray(b) && b.length === 4);
    if (!boxes.length && Array.isArray(line.box)) boxes.push(line.box);
    const placed = layout.find((l) => l.index === i) || layout[i];
    if (!boxes.length && placed && Array.isArray(placed.box)) boxes.push(placed.box);
    boxes.forEach((box) => out.push({ box, label: verdict, pass: !!line.pass, expected: line.expected }));
  });
  return { boxes: out, lines: g.lines || [], verdict: g.pass };
}

function posterView(name, v, a) {
  const [w, hgt] = a.size || [1024, 1024];
  const { boxes, lines, verdict } = ocrBoxes(a);
  const svg = h("svg", { viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: "none", id: "ocr-overlay" },
    boxes.map((b) => {
      const [x0, y0, x1, y1] = b.box;
      const colour = b.pass ? "#3fb950" : "#f85149";
      return [h("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, fill: "none", stroke: colour,
        "stroke-width": Math.max(2, w / 300), class: b.pass ? "ocr-pass" : "ocr-fail" }, h("title", {}, b.label)),
      h("text", { x: x0, y: Math.max(y0 - 6, 14), fill: colour, "font-size": Math.max(14, w / 50) }, b.label)];
    }));
  return h("div", {}, h("h3", {}, "Poster and glyph check ", verdict === undefined ? "" : badge(verdict ? "pass" : "fail")),
    h("div", { class: "poster" }, img(fileUrl(name, v, a.web.poster), "poster"), svg),
    h("table", {}, h("tr", {}, ["line", "found", "NED", "verdict"].map((t) => h("th", {}, t))),
      lines.map((l) => h("tr", {}, h("td", {}, l.expected), h("td", {}, l.found), h("td", {}, Number(l.ned ?? 0).toFixed(3)),
        h("td", {}, badge(l.pass ? "pass" : "fail"))))));
}

function approvalForm(name, v, a, history) {
  const comment = h("textarea", { rows: 2, cols: 50, id: "comment", placeholder: "comment" });
  const note = h("span", { class: "muted", id: "review-note" });
  const decide = (decision) => async () => {
    try {
      await api(`/api/recipes/${enc(name)}/approvals`, { method: "POST",
        body: JSON.stringify({ asset: a.id, version: v, decision, comment: comment.value }) });
      route();
    } catch (err) { note.replaceChildren(h("span", { class: "error" }, err.message)); }
  };
  return h("div", { class: "panel", id: "approval" }, h("h3", {}, "Review: ", badge(a.review.status)),
    a.review.comment ? h("p", {}, `“${a.review.comment}” (${a.review.decided_in})`) : "",
    STATIC ? "" : [comment, h("div", {}, h("button", { class: "approve", onclick: decide("approved") }, "Approve"), " ",
      h("button", { class: "reject", onclick: decide("rejected") }, "Reject"), " ", note)],
    history.length ? h("table", {}, history.map((d) => h("tr", {}, h("td", {}, badge(d.decision)), h("td", {}, d.version),
      h("td", { class: "muted" }, (d.key || "").slice(0, 12)), h("td", {}, d.comment), h("td", { class: "muted" }, when(d.created))))) : "");
}

// --- diff: two versions side by side --------------------------------------------------------------

async function diff(name, oldV, newV) {
  setCrumbs(["recipes", "#/"], [name, `#/r/${enc(name)}`], [`${oldV} → ${newV}`]);
  const d = await api(`/api/recipes/${enc(name)}/diff?old=${oldV}&new=${newV}`);
  const side = (v, s) => {
    const role = s.web.albedo ? "albedo" : s.web.poster ? "poster" : Object.keys(s.web)[0];
    return role ? img(thumbUrl(name, v, s.web[role], 512), `${v} ${role}`) : h("p", { class: "muted" }, "—");
  };
  const changes = (a) => h("table", {},
    Object.entries(a.fields).map(([k, [x, y]]) => h("tr", {}, h("td", {}, k), h("td", {}, JSON.stringify(x)), h("td", {}, JSON.stringify(y)))),
    Object.entries(a.files).map(([f, how]) => h("tr", {}, h("td", {}, f), h("td", { colspan: 2 }, badge(how)))),
    Object.entries(a.metrics).slice(0, 40).map(([k, [x, y]]) => h("tr", {}, h("td", { class: "muted" }, k),
      h("td", {}, JSON.stringify(x)), h("td", {}, JSON.stringify(y)))));
  view.replaceChildren(h("h1", {}, `${name}: ${d.old} → ${d.new}`),
    h("p", {}, `${d.counts.changed} changed, ${d.counts.added} added, ${d.counts.removed} removed, ${d.counts.unchanged} unchanged`),
    ...d.assets.map((a) => h("div", { class: "panel diff-asset", "data-asset": a.id }, h("h3", {}, a.id, " ", badge(a.change)),
      h("div", { class: "side" }, h("div", {}, h("div", { class: "muted" }, d.old), side(d.old, a.old)),
        h("div", {}, h("div", { class: "muted" }, d.new), side(d.new, a.new))), a.change === "changed" ? changes(a) : "")));
}

// --- routing --------------------------------------------------------------------------------------

async function route() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  try {
    if (parts[0] === "r" && parts.length === 2) await recipe(parts[1]);
    else if (parts[0] === "r" && parts.length === 3) await version(parts[1], parts[2], params);
    else if (parts[0] === "r" && parts.length === 4) await asset(parts[1], parts[2], parts[3]);
    else if (parts[0] === "diff" && parts.length === 4) await diff(parts[1], parts[2], parts[3]);
    else await home();
  } catch (err) {
    view.replaceChildren(h("p", { class: "error" }, err.message));
  }
}

window.addEventListener("hashchange", route);
api("/api/health").then((s) => { document.getElementById("server").textContent = `zpipe ${s.zpipe} · ${s.out}`; })
  .catch(() => {});
route();
