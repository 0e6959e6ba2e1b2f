/** A full-page message that replaces the app, e.g. "This link is not valid". */
import { h } from "../dom";

export const INVALID_LINK = "This link is not valid";
export const NOT_FOUND = "Not found";
export const DELETED = "This document was deleted";
/** A link that worked when the page opened and was reset since (contract v2 token rotation). */
export const LINK_GONE = "This link is no longer valid";
export const LINK_GONE_DETAIL = "Someone reset it. Ask whoever shared it for the new link.";
export const TOO_LARGE = "This document is too large";

export function showErrorPage(message: string, detail?: string): void {
  document.title = `${message} · Swell`;
  const main = h(
    "main",
    { class: "error-page" },
    h("a", { class: "brand", href: "/" }, h("span", { class: "brand__mark", "aria-hidden": "true" }, "≈"), "Swell"),
    h("h1", { "data-testid": "error" }, message),
    detail ? h("p", { class: "muted" }, detail) : null,
    h("p", {}, h("a", { class: "button", href: "/" }, "Go to your documents")),
  );
  document.body.replaceChildren(main);
}
