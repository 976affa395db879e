// The Match page: rank the cohort's faces against one genome, beside the demographics-only rank.
import { authHeaders, request, token } from "./api.js";
import { formatNumber } from "./format.js";
import { $, clearError, messageOf, queryForm, setupInputs, showError, whileBusy } from "./ui.js";

export async function matchPage(state) {
  const inputs = await setupInputs();
  state.inputs = inputs;
  let seq = 0;

  $("#match-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    let form;
    try {
      form = queryForm(inputs.currentQuery());
      const top = $("#top").value.trim();
      if (top) {
        const n = Number(top);
        if (!Number.isInteger(n) || n < 1) throw new Error("\u201cCandidates to show\u201d must be a whole number of at least 1.");
        form.append("top", String(n));
      }
    } catch (err) {
      showError(messageOf(err));
      return;
    }
    const id = ++seq;
    try {
      const result = await whileBusy(request("/api/match", { method: "POST", body: form }), "Ranking the cohort\u2019s faces\u2026");
      if (id === seq) show(result);
    } catch (err) {
      if (id === seq) showError(messageOf(err));
    }
  });
}

function show(result) {
  const candidates = Array.isArray(result.candidates) ? result.candidates : [];
  const total = Number.isFinite(result.n_faces) ? result.n_faces : null;
  $("#match-result").hidden = false;
  $("#match-sample").textContent = result.sample || "";

  const own = $("#own-rank");
  own.dataset.rank = result.own_rank != null ? String(result.own_rank) : "";
  own.dataset.demographicRank = result.own_demographic_rank != null ? String(result.own_demographic_rank) : "";
  if (result.own_rank != null) {
    const of = total != null ? ` of ${total}` : "";
    const demo = result.own_demographic_rank != null ? `demographics alone: ${result.own_demographic_rank}` : "no demographics-only rank";
    own.textContent = `The genome\u2019s own face ranks ${result.own_rank}${of} (${demo}).`;
    own.className = "own-rank found";
  } else {
    own.textContent = `The genome\u2019s own face is not among the cohort\u2019s faces${total != null ? ` (${total} faces ranked)` : ""}.`;
    own.className = "own-rank absent";
  }

  const models = [`Ranked with model ${result.model || "?"}`];
  models.push(result.demographic_model ? `demographics-only model: ${result.demographic_model}` : "no demographics-only model");
  models.push(`showing the best ${candidates.length}${total != null ? ` of ${total}` : ""}`);
  $("#match-summary").textContent = `${models.join("; ")}.`;

  const gallery = $("#gallery");
  gallery.replaceChildren();
  for (const c of candidates) gallery.appendChild(candidate(c));
}

function candidate(c) {
  const figure = document.createElement("figure");
  figure.className = c.own ? "candidate own" : "candidate";
  figure.dataset.face = String(c.face);
  figure.dataset.rank = String(c.rank);
  figure.dataset.demographicRank = c.demographic_rank != null ? String(c.demographic_rank) : "";
  if (c.own) figure.dataset.own = "1";
  figure.appendChild(thumbnail(String(c.face)));
  const caption = document.createElement("figcaption");
  const head = document.createElement("div");
  head.className = "candidate-head";
  const rank = document.createElement("span");
  rank.className = "rank";
  rank.textContent = `#${c.rank}`;
  const name = document.createElement("span");
  name.className = "face-id";
  name.textContent = String(c.face);
  head.append(rank, " ", name);
  if (c.own) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "true face";
    head.append(" ", badge);
  }
  const score = document.createElement("div");
  score.className = "score";
  score.textContent = typeof c.score === "number" ? `score ${formatNumber(c.score)}` : "";
  const demo = document.createElement("div");
  demo.className = "demographic-rank";
  demo.textContent = c.demographic_rank != null ? `demographics alone: rank ${c.demographic_rank}` : "demographics alone: \u2014";
  caption.append(head, score, demo);
  figure.appendChild(caption);
  return figure;
}

// Thumbnails: plain lazy <img> without a token; with one, an <img> cannot send the header, so the
// PNG is fetched with it when the figure scrolls into view and shown from a blob URL.
const observer =
  token && typeof IntersectionObserver !== "undefined"
    ? new IntersectionObserver(
        (entries) => {
          for (const entry of entries) {
            if (!entry.isIntersecting) continue;
            observer.unobserve(entry.target);
            loadAuthorised(entry.target);
          }
        },
        { rootMargin: "300px" },
      )
    : null;

function thumbnail(face) {
  const img = document.createElement("img");
  img.className = "thumb";
  img.alt = `Face ${face}`;
  img.width = 200;
  img.height = 200;
  img.decoding = "async";
  img.loading = "lazy";
  const url = `/api/faces/${encodeURIComponent(face)}.png`;
  if (!token) img.src = url;
  else {
    img.dataset.src = url;
    if (observer) observer.observe(img);
    else loadAuthorised(img);
  }
  return img;
}

async function loadAuthorised(img) {
  try {
    const response = await fetch(img.dataset.src, { headers: authHeaders(), credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    img.src = URL.createObjectURL(await response.blob());
  } catch {
    img.classList.add("missing");
  }
}
