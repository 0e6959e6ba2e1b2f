/** The home page: create a document, and the list of documents this browser created or opened. */
import { ApiError, createDoc, type CreatedDoc } from "./api";
import { currentAuthor, replaceAuthor } from "./author";
import { h } from "./dom";
import { type DocEntry, forgetDoc, loadDocList, onDocListChange, rememberDoc } from "./doclist";
import "./styles.css";
import { UNTITLED } from "./ui/title";
import { loadUser } from "./user";

function relativeTime(ms: number): string {
  const seconds = Math.round((Date.now() - ms) / 1000);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  if (seconds < 45) return "just now";
  if (seconds < 3600) return rtf.format(-Math.round(seconds / 60), "minute");
  if (seconds < 86400) return rtf.format(-Math.round(seconds / 3600), "hour");
  if (seconds < 86400 * 30) return rtf.format(-Math.round(seconds / 86400), "day");
  return new Date(ms).toLocaleDateString();
}

function hrefFor(doc: DocEntry): string | null {
  const id = encodeURIComponent(doc.id);
  if (doc.editToken) return `/d/${id}#${doc.editToken}`;
  if (doc.viewToken) return `/v/${id}#${doc.viewToken}`;
  return null;
}

function renderList(list: HTMLElement, empty: HTMLElement): void {
  const docs = loadDocList();
  empty.hidden = docs.length > 0;
  list.hidden = docs.length === 0;
  list.replaceChildren(
    ...docs.map((doc) => {
      const title = doc.title.trim() || UNTITLED;
      const href = hrefFor(doc);
      const link = href
        ? h("a", { class: "doc-item__link", href }, title)
        : h("span", { class: "doc-item__link" }, title);
      const remove = h(
        "button",
        {
          type: "button",
          class: "button button--quiet doc-item__remove",
          "data-testid": "doc-remove",
          "aria-label": `Remove “${title}” from this list`,
          title: "Remove from this list (the document itself is kept)",
        },
        "Remove",
      );
      remove.addEventListener("click", () => {
        forgetDoc(doc.id);
        renderList(list, empty);
      });
      return h(
        "li",
        { class: "doc-item", "data-testid": "doc-item", "data-doc-id": doc.id },
        h(
          "div",
          { class: "doc-item__main" },
          link,
          h(
            "span",
            { class: "doc-item__meta muted" },
            doc.editToken ? "Can edit" : "Can view",
            " · opened ",
            h("time", { datetime: new Date(doc.openedAt).toISOString() }, relativeTime(doc.openedAt)),
          ),
        ),
        remove,
      );
    }),
  );
}

/** Creates the document as this browser's author (created first if the person has a name). */
async function createAsAuthor(title: string): Promise<CreatedDoc> {
  const user = loadUser();
  const secret = await currentAuthor(user);
  try {
    return await createDoc(title, { author: secret, name: user?.name });
  } catch (err) {
    if (!(secret !== null && err instanceof ApiError && err.status === 401)) throw err;
    // the server no longer knows this browser's author: a new one, then once more
    const next = await replaceAuthor(secret, user);
    return createDoc(title, { author: next.secret === secret ? null : next.secret, name: user?.name });
  }
}

function main(): void {
  document.title = "Swell";
  const input = h("input", {
    id: "create-title",
    type: "text",
    name: "title",
    "data-testid": "create-title",
    placeholder: "Untitled",
    maxlength: "200",
    autocomplete: "off",
  });
  const submit = h("button", { type: "submit", class: "button button--primary", "data-testid": "create-submit" }, "Create document");
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h(
    "form",
    { class: "create" },
    h("label", { for: "create-title", class: "create__label" }, "Start a new document"),
    h("div", { class: "create__row" }, input, submit),
    error,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    submit.disabled = true;
    error.hidden = true;
    const title = input.value.trim() || UNTITLED;
    createAsAuthor(title)
      .then((doc) => {
        rememberDoc({ id: doc.id, title: doc.title, editToken: doc.edit_token, viewToken: doc.view_token });
        location.assign(`/d/${encodeURIComponent(doc.id)}#${doc.edit_token}`);
      })
      .catch((err: unknown) => {
        submit.disabled = false;
        error.hidden = false;
        error.textContent =
          err instanceof ApiError && err.status === 0
            ? "Can’t reach Swell. Check your connection and try again."
            : `Could not create the document: ${err instanceof Error ? err.message : String(err)}`;
      });
  });

  const list = h("ul", { class: "doc-list", "data-testid": "doc-list" });
  const empty = h("p", { class: "muted doc-list__empty" }, "Documents you create or open in this browser appear here.");
  renderList(list, empty);
  onDocListChange(() => renderList(list, empty));
  // coming back with the Back button shows fresh titles
  window.addEventListener("pageshow", () => renderList(list, empty));

  const main = h(
    "main",
    { class: "home" },
    h("header", { class: "home__header" }, h("a", { class: "brand brand--large", href: "/" }, h("span", { class: "brand__mark", "aria-hidden": "true" }, "≈"), "Swell"), h("p", { class: "muted" }, "Write together, in real time.")),
    form,
    h("section", { class: "docs", "aria-labelledby": "docs-title" }, h("h2", { id: "docs-title" }, "Your documents"), list, empty),
  );
  document.body.replaceChildren(main);
  input.focus();
}

main();
