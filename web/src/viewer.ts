/**
 * The read-only viewer page, /v/{id}#<view token>. For now a placeholder; it will follow the
 * document over Server-Sent Events. It must stay free of yjs and TipTap to keep it small.
 */
import { h } from "./dom";
import "./styles.css";

function main(): void {
  document.title = "Viewer · Swell";
  document.body.replaceChildren(
    h(
      "main",
      { class: "error-page" },
      h("a", { class: "brand", href: "/" }, h("span", { class: "brand__mark", "aria-hidden": "true" }, "≈"), "Swell"),
      h("h1", { "data-testid": "viewer" }, "Viewer coming soon"),
      h("p", { class: "muted" }, "Read-only links will show the document here, live."),
    ),
  );
}

main();
