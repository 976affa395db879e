// Entry of src/genoface/server/static/genoface.js: the Predict and Match pages of `genoface serve`.
// <body data-page="predict|match"> says which page this is.
import { matchPage } from "./match.js";
import { predictPage } from "./predict.js";
import { messageOf, setupNav, showError } from "./ui.js";
import { FaceViewer } from "./viewer.js";

// For tests and the console: window.genoface.viewers holds the Predict page's FaceViewers.
const state = { viewers: [], inputs: null, FaceViewer };
window.genoface = state;

async function main() {
  const page = document.body.dataset.page;
  document.body.dataset.busy = "0";
  setupNav(page);
  try {
    if (page === "predict") await predictPage(state);
    else if (page === "match") await matchPage(state);
    document.body.dataset.loaded = "1";
  } catch (err) {
    document.body.dataset.loaded = "0";
    showError(messageOf(err));
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main);
else main();
