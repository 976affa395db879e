// Bundles the browser code with esbuild (run by `make web`, or `npm run build` here):
//   src/app.js    -> ../src/genoface/server/static/genoface.js   (the Predict and Match pages)
//   src/report.js -> ../src/genoface/report/static/face_viewer.js (the HTML report's face viewer)
//   pages/*.html -> ../src/genoface/server/static/*.html         (with their shared parts included)
// Minified ES2020 IIFEs, no source maps; the same sources and lock file give the same bytes.
// The outputs are committed so that `pip install` needs no Node.
import { build } from "esbuild";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const threeVersion = JSON.parse(readFileSync(resolve(here, "node_modules/three/package.json"), "utf8")).version;

const bundles = [
  { entry: "src/app.js", out: "../src/genoface/server/static/genoface.js", what: "genoface serve pages (Predict, Match)" },
  { entry: "src/report.js", out: "../src/genoface/report/static/face_viewer.js", what: "genoface report face viewer" },
];

for (const { entry, out, what } of bundles) {
  const outfile = resolve(here, out);
  await build({
    absWorkingDir: here,
    entryPoints: [entry],
    outfile,
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2020",
    platform: "browser",
    sourcemap: false,
    legalComments: "eof",
    charset: "ascii",
    logLevel: "warning",
    banner: { js: `/* ${what}: built by web/build.mjs from web/${entry} (three.js ${threeVersion}, MIT); do not edit */` },
  });
  const text = readFileSync(outfile, "utf8");
  // The report inlines face_viewer.js in a <script> element: it must not end that element early.
  if (/<\/script/i.test(text) || /<!--/.test(text)) throw new Error(`${out}: contains </script or <!-- and cannot be inlined`);
  console.log(`${relative(root, outfile)}  ${(statSync(outfile).size / 1024).toFixed(1)} kB`);
}

// The pages share their header and genome fields: each `<!-- include: _part.html -->` line is
// replaced by web/pages/_part.html (parts are not pages, and do not include others).
const pages = resolve(here, "pages");
for (const name of readdirSync(pages).filter((n) => n.endsWith(".html") && !n.startsWith("_"))) {
  const html = readFileSync(resolve(pages, name), "utf8").replace(/^[ \t]*<!-- include: (_[\w-]+\.html) -->\n/gm, (_, part) =>
    readFileSync(resolve(pages, part), "utf8"),
  );
  if (html.includes("<!-- include:")) throw new Error(`pages/${name}: an include is not on a line of its own`);
  const outfile = resolve(root, "src/genoface/server/static", name);
  writeFileSync(outfile, html);
  console.log(`${relative(root, outfile)}  ${(statSync(outfile).size / 1024).toFixed(1)} kB`);
}
