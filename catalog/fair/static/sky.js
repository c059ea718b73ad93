// The interactive sky of nufair's pages: Aladin Lite (vendored, served by this service) over
// the static SVG figure it replaces. Data: the page's <script type="application/json"
// class="sky-data"> (catalog/fair/skyview.py), and, when it names an overlay, the compact
// JSON of every alert (catalog/fair/skymap.py) fetched from this service (the browser keeps
// it and revalidates it by its ETag). Without scripts, or when WebGL2 is missing, the SVG
// stays. The only request that may leave this service is the HiPS survey's, when
// the page names one; when it does not answer, the sky is a coordinate grid.
import A from "./aladin/aladin.js";

const PROBE_MS = 4000;

// Does the HiPS survey answer? (Its properties file: a few hundred bytes.)
async function reachable(survey) {
  if (!survey) return false;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), PROBE_MS);
  try {
    const r = await fetch(survey.replace(/\/$/, "") + "/properties",
                          {signal: ctl.signal, mode: "cors", credentials: "omit"});
    return r.ok;
  } catch (e) {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

// Each region twice: a translucent fill (not for other revisions), then its outline.
function drawRegions(aladin, regions) {
  const fills = A.graphicOverlay({name: "areas", lineWidth: 0});
  const lines = A.graphicOverlay({name: "contours", lineWidth: 2});
  aladin.addOverlay(fills);
  aladin.addOverlay(lines);
  for (const r of regions) {
    if (!r.dashed) {
      fills.add(A.polygon(r.polygon, {color: r.colour, fillColor: r.colour, fill: true,
                                      opacity: 0.22, lineWidth: 0}));
    }
    lines.add(A.polygon(r.polygon, {color: r.colour, lineWidth: r.kind === "region50" ? 2.5 : 2,
                                    lineDash: r.dashed ? [6, 4] : []}));
  }
}

function drawMarkers(aladin, markers) {
  const shapes = {bestfit: "cross", revision: "circle", counterpart: "square", alert: "circle",
                  match: "circle"};
  const sizes = {bestfit: 18, match: 18};
  const byKind = new Map();
  // A search's matches last: drawn over the others.
  const ordered = markers.filter((m) => m.kind !== "match")
    .concat(markers.filter((m) => m.kind === "match"));
  for (const m of ordered) {
    const key = m.kind + m.colour;
    if (!byKind.has(key)) {
      const cat = A.catalog({name: m.kind, color: m.colour, shape: shapes[m.kind],
                             sourceSize: sizes[m.kind] || 10, onClick: "showPopup"});
      aladin.addCatalog(cat);
      byKind.set(key, cat);
    }
    byKind.get(key).addSources([A.source(m.ra, m.dec, {name: m.label, href: m.href || ""})]);
  }
}

// The compact overlay (rows [name, stream, status, ra, dec, [ra, dec, ...]]) as the
// regions and markers of the inline data; an alert that is not live is dashed and unfilled.
async function fetchOverlay(data) {
  const r = await fetch(data.overlay, {credentials: "same-origin"});
  if (!r.ok) throw new Error(`overlay ${data.overlay}: HTTP ${r.status}`);
  const doc = await r.json();
  if (doc.format !== "nufair-sky-overlay/1") throw new Error(`overlay format ${doc.format}`);
  const wanted = new Set(data.highlight || []);
  for (const [name, s, st, ra, dec, flat] of doc.alerts) {
    const stream = doc.streams[s], status = doc.statuses[st];
    const live = status.name === "live";
    const colour = live ? stream.colour : status.colour;
    const label = `${name} (${stream.name}${live ? "" : ", " + status.label})`;
    const href = doc.href.replace("{name}", encodeURIComponent(name));
    if (flat.length >= 6) {
      const polygon = [];
      for (let i = 0; i < flat.length; i += 2) polygon.push([flat[i], flat[i + 1]]);
      data.regions.push({kind: "alert", label, colour, href, dashed: status.dashed, polygon});
    }
    data.markers.push({kind: wanted.has(name) ? "match" : "alert", label, colour, href, ra, dec});
  }
}

async function show(data) {
  const figure = document.getElementById(data.fallback);
  if (!figure) return;
  const div = document.createElement("div");
  div.className = "sky-interactive";
  div.style.width = "100%";
  const [ok] = await Promise.all([reachable(data.survey),
                                  data.overlay ? fetchOverlay(data) : null]);
  const survey = ok ? data.survey : null;
  await A.init;
  figure.insertBefore(div, figure.firstChild);
  // The whole sky in Hammer-Aitoff is twice as wide as high; one alert's view is square-ish.
  div.style.height = data.mode === "allsky" ? `${Math.round(div.clientWidth / 2)}px` : "360px";
  // The view's width: the JSON's field is what must be seen across the narrower side.
  const aspect = Math.max(1, div.clientWidth / Math.max(1, div.clientHeight));
  const fov = data.mode === "allsky" ? 360 : Math.min(180, data.fov * aspect);
  const aladin = A.aladin(div, {
    survey: survey ? survey : [],  // an empty list: no image layer, the grid alone
    hipsList: [], log: false, samp: false, target: `${data.ra} ${data.dec}`, fov: fov,
    projection: data.mode === "allsky" ? "AIT" : "TAN", cooFrame: "ICRS",
    backgroundColor: survey ? "rgb(0, 0, 0)" : "rgb(248, 249, 252)",
    showCooGrid: true, gridOptions: {color: "rgb(120, 120, 150)", opacity: 0.8, labelSize: 12},
    showLayersControl: false, showProjectionControl: false, showSimbadPointerControl: false,
    showContextMenu: false, showShareControl: false, showSettingsControl: false,
    showFullscreenControl: true, showReticle: false, showStatusBar: false, showFov: false,
    showFrame: false,
  });
  drawRegions(aladin, data.regions);
  drawMarkers(aladin, data.markers);
  aladin.on("objectClicked", (obj) => {
    if (obj && obj.data && obj.data.href && data.mode === "allsky") window.location = obj.data.href;
  });
  for (const el of figure.querySelectorAll(":scope > svg, :scope > .sky-static")) {
    el.style.display = "none";
  }
  div.dataset.ready = survey ? "survey" : "grid";
}

for (const node of document.querySelectorAll("script.sky-data")) {
  show(JSON.parse(node.textContent)).catch((e) => {
    // No WebGL2, or Aladin Lite failed: the static figure stays; say why for whoever looks.
    console.warn("interactive sky unavailable, the static map stays:", e);
  });
}
