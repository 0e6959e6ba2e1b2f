// Builds the three pages into server/swell/web, where the Python package ships them as package
// data (found with importlib.resources): HTML from src/*.html with hashed asset tags injected,
// bundles in assets/<name>-<hash>.{js,css}, and sizes.json with gzipped JS sizes.
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const root = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(root, "src");
const dist = path.join(root, "..", "server", "swell", "web");
const assets = path.join(dist, "assets");

/** page name → its entry module and its HTML template (output file has the template's name). */
const pages = {
  home: { entry: "home.ts", template: "index.html" },
  editor: { entry: "editor.ts", template: "editor.html" },
  viewer: { entry: "viewer.ts", template: "viewer.html" },
};

/** The editor page's JavaScript must stay under this many gzipped bytes. */
const EDITOR_JS_GZIP_BUDGET = 350 * 1024;
/** The viewer page follows the document over Server-Sent Events: none of the editing stack. */
const VIEWER_FORBIDDEN = /node_modules\/(yjs|y-websocket|y-protocols|y-indexeddb|lib0|@tiptap|prosemirror-[^/]+)\//;
const VIEWER_JS_GZIP_BUDGET = 30 * 1024;

await rm(dist, { recursive: true, force: true });
await mkdir(assets, { recursive: true });

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: Object.fromEntries(
    Object.entries(pages).map(([name, page]) => [name, path.join(src, page.entry)]),
  ),
  outdir: assets,
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  chunkNames: "[name]-[hash]",
  publicPath: "/assets",
  bundle: true,
  splitting: false,
  format: "esm",
  platform: "browser",
  target: ["es2020"],
  minify: true,
  sourcemap: process.env.SWELL_SOURCEMAP === "1" ? "linked" : false,
  metafile: true,
  legalComments: "eof",
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
});

// The favicon, content-hashed like the bundles.
const favicon = await readFile(path.join(src, "favicon.svg"));
const faviconName = `favicon-${createHash("sha256").update(favicon).digest("hex").slice(0, 8)}.svg`;
await writeFile(path.join(assets, faviconName), favicon);

/** @type {Record<string, {js_bytes: number, js_gzip_bytes: number}>} */
const sizes = {};
const toUrl = (outfile) => "/assets/" + path.basename(outfile);
const escapeAttr = (s) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;");

for (const [name, page] of Object.entries(pages)) {
  const entryRel = path.relative(root, path.join(src, page.entry)).split(path.sep).join("/");
  const found = Object.entries(result.metafile.outputs).find(
    ([, out]) => out.entryPoint === entryRel,
  );
  if (!found) throw new Error(`no output for entry ${entryRel}`);
  const [jsOut, jsMeta] = found;
  const jsPath = path.join(root, jsOut);
  const cssUrl = jsMeta.cssBundle ? toUrl(jsMeta.cssBundle) : null;

  const tags = [
    `<link rel="icon" type="image/svg+xml" href="/assets/${faviconName}">`,
    cssUrl ? `<link rel="stylesheet" href="${escapeAttr(cssUrl)}">` : "",
    `<script type="module" src="${escapeAttr(toUrl(jsOut))}"></script>`,
  ]
    .filter(Boolean)
    .join("\n    ");
  const template = await readFile(path.join(src, page.template), "utf8");
  if (!template.includes("<!-- swell:assets -->")) {
    throw new Error(`${page.template} lacks the <!-- swell:assets --> placeholder`);
  }
  await writeFile(path.join(dist, page.template), template.replace("<!-- swell:assets -->", tags));

  if (name === "viewer") {
    const forbidden = Object.keys(jsMeta.inputs).filter((input) => VIEWER_FORBIDDEN.test(input));
    if (forbidden.length) {
      throw new Error(`the viewer page must not bundle the editing stack: ${forbidden.slice(0, 5).join(", ")}`);
    }
  }

  const js = await readFile(jsPath);
  sizes[name] = { js_bytes: js.length, js_gzip_bytes: zlib.gzipSync(js, { level: 9 }).length };
}

await writeFile(path.join(dist, "sizes.json"), JSON.stringify(sizes, null, 2) + "\n");

for (const [name, s] of Object.entries(sizes)) {
  const kb = (n) => (n / 1024).toFixed(1).padStart(7) + " KB";
  console.log(`${name.padEnd(7)} js ${kb(s.js_bytes)}   gzip ${kb(s.js_gzip_bytes)}`);
}
if (sizes.viewer.js_gzip_bytes >= VIEWER_JS_GZIP_BUDGET) {
  console.error(
    `viewer JS is ${sizes.viewer.js_gzip_bytes} gzipped bytes, over the ${VIEWER_JS_GZIP_BUDGET} budget`,
  );
  process.exit(1);
}
if (sizes.editor.js_gzip_bytes >= EDITOR_JS_GZIP_BUDGET) {
  console.error(
    `editor JS is ${sizes.editor.js_gzip_bytes} gzipped bytes, over the ${EDITOR_JS_GZIP_BUDGET} budget`,
  );
  process.exit(1);
}
