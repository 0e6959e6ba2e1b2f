/** The home page: create a document, and the list of documents this browser created or opened. */
import { ApiError, createDoc, type CreatedDoc, fetchAuthor } from "./api";
import { currentAuthor, loadAuthorSecret, replaceAuthor } from "./author";
import { h } from "./dom";
import { type DocEntry, forgetDoc, loadDocList, onDocListChange, rememberDoc } from "./doclist";
import { fetchUnread, isUnreadError, type UnreadAnswer, type UnreadDoc } from "./read-api";
import "./styles.css";
import { authorName } from "./ui/avatar";
import { UNTITLED } from "./ui/title";
import "./ui/unread-home.css";
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

/** How often the list asks the server what changed (also on focus and when shown again). */
const REFRESH_MS = 30_000;

function hrefFor(doc: DocEntry): string | null {
  const id = encodeURIComponent(doc.id);
  if (doc.editToken) return `/d/${id}#${doc.editToken}`;
  if (doc.viewToken) return `/v/${id}#${doc.viewToken}`;
  return null;
}

/** What the server last said about each listed document (POST /api/unread), by id. */
const summaries = new Map<string, UnreadAnswer>();
/** This browser's author id, to say "You edited" (null: unknown). */
let myAuthorId: string | null = null;

/** When the document last changed as far as this browser knows: the server's last edit, else when it was opened here. */
function activityOf(doc: DocEntry): number {
  const summary = summaries.get(doc.id);
  if (summary && !isUnreadError(summary) && summary.last_edit) {
    const at = Date.parse(summary.last_edit.at);
    if (!Number.isNaN(at)) return Math.max(at, doc.openedAt);
  }
  return doc.openedAt;
}

/** "Grace edited · 3 min ago", with the unread badge when it changed since this author's mark. */
function activityLine(doc: DocEntry, summary: UnreadDoc): HTMLElement[] {
  const parts: HTMLElement[] = [];
  if (summary.unread) {
    parts.push(
      h(
        "span",
        { class: "doc-unread", "data-testid": "doc-unread", title: "Changed since you last looked" },
        h("span", { class: "doc-unread__dot", "aria-hidden": "true" }),
        h("span", { class: "visually-hidden" }, "Unread changes"),
      ),
    );
  }
  const edit = summary.last_edit;
  if (edit) {
    const at = Date.parse(edit.at);
    const who = edit.author !== null && edit.author.id === myAuthorId ? "You" : authorName(edit.author);
    parts.push(
      h(
        "span",
        { class: `doc-item__edit${summary.unread ? " doc-item__edit--unread" : ""}`, "data-testid": "doc-last-edit" },
        `${who} edited`,
        Number.isNaN(at) ? null : " · ",
        Number.isNaN(at) ? null : h("time", { datetime: new Date(at).toISOString() }, relativeTime(at)),
      ),
    );
  } else {
    parts.push(
      h(
        "span",
        { class: "doc-item__edit" },
        doc.editToken ? "Can edit" : "Can view",
        " · opened ",
        h("time", { datetime: new Date(doc.openedAt).toISOString() }, relativeTime(doc.openedAt)),
      ),
    );
  }
  return parts;
}

function renderList(list: HTMLElement, empty: HTMLElement): void {
  const docs = loadDocList().sort((a, b) => activityOf(b) - activityOf(a));
  empty.hidden = docs.length > 0;
  list.hidden = docs.length === 0;
  // re-rendering keeps the keyboard focus where it was (a refresh every 30 s must not steal it)
  const focused = document.activeElement instanceof HTMLElement && list.contains(document.activeElement)
    ? { id: document.activeElement.closest("[data-doc-id]")?.getAttribute("data-doc-id"), cls: document.activeElement.className }
    : null;
  list.replaceChildren(
    ...docs.map((doc) => {
      const summary = summaries.get(doc.id);
      const broken = summary !== undefined && isUnreadError(summary) ? summary : null;
      const known = summary !== undefined && !isUnreadError(summary) ? summary : null;
      const title = (known?.title ?? doc.title).trim() || UNTITLED;
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
        summaries.delete(doc.id);
        renderList(list, empty);
      });
      let meta: HTMLElement;
      if (broken) {
        meta = h(
          "span",
          { class: "doc-item__meta doc-item__broken", "data-testid": "doc-broken" },
          "Link no longer works",
          broken.error === "not found" ? " (the document was deleted)" : " (it was reset)",
        );
      } else if (known) {
        meta = h("span", { class: "doc-item__meta muted" }, ...activityLine(doc, known));
      } else {
        meta = h(
          "span",
          { class: "doc-item__meta muted" },
          doc.editToken ? "Can edit" : "Can view",
          " · opened ",
          h("time", { datetime: new Date(doc.openedAt).toISOString() }, relativeTime(doc.openedAt)),
        );
      }
      return h(
        "li",
        {
          class: `doc-item${known?.unread ? " doc-item--unread" : ""}${broken ? " doc-item--broken" : ""}`,
          "data-testid": "doc-item",
          "data-doc-id": doc.id,
        },
        h("div", { class: "doc-item__main" }, link, meta),
        remove,
      );
    }),
  );
  if (focused?.id) {
    const item = list.querySelector(`[data-doc-id="${CSS.escape(focused.id)}"]`);
    const target = focused.cls.includes("doc-item__remove") ? item?.querySelector(".doc-item__remove") : item?.querySelector(".doc-item__link");
    if (target instanceof HTMLElement) target.focus();
  }
}

/**
 * POST /api/unread as this browser's author. A secret the server no longer knows (401) is
 * replaced (as on the other pages) and the call made once more, as the new author, else
 * without one.
 */
async function unreadFor(
  docs: { id: string; token: string }[],
  author: string | null,
  signal: AbortSignal,
): Promise<UnreadAnswer[]> {
  try {
    return await fetchUnread(docs, author, signal);
  } catch (err) {
    if (author === null || !(err instanceof ApiError && err.status === 401)) throw err;
  }
  const next = await replaceAuthor(author, loadUser());
  const secret = next.secret === author ? null : next.secret;
  try {
    return await fetchUnread(docs, secret, signal);
  } catch (err) {
    if (secret === null || !(err instanceof ApiError && err.status === 401)) throw err;
    return fetchUnread(docs, null, signal);
  }
}

/** Asks the server what changed in the listed documents; unreachable: the list stays local. */
function createRefresher(list: HTMLElement, empty: HTMLElement): { refresh(): void } {
  let running: AbortController | null = null;
  let askedForAuthor: string | null = null;
  const refresh = (): void => {
    const docs = loadDocList();
    const asked = docs.flatMap((doc) => {
      const token = doc.editToken ?? doc.viewToken;
      return token ? [{ id: doc.id, token }] : [];
    });
    if (asked.length === 0) return;
    running?.abort();
    const controller = new AbortController();
    running = controller;
    const author = loadAuthorSecret();
    if (author !== null && author !== askedForAuthor) {
      askedForAuthor = author;
      fetchAuthor(author).then(
        (me) => {
          myAuthorId = me.id;
          renderList(list, empty);
        },
        () => {
          askedForAuthor = null; // again next time
        },
      );
    }
    unreadFor(asked, author, controller.signal).then(
      (answers) => {
        if (running !== controller) return;
        running = null;
        // re-rendered only when something changed (every 30 s otherwise for nothing)
        let changed = false;
        for (const answer of answers) {
          const before = summaries.get(answer.id);
          if (before === undefined || JSON.stringify(before) !== JSON.stringify(answer)) changed = true;
          summaries.set(answer.id, answer);
        }
        if (changed) renderList(list, empty);
      },
      () => {
        // offline or an older server: what this browser knows is shown as it is
        if (running === controller) running = null;
      },
    );
  };
  return { refresh };
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
  const refresher = createRefresher(list, empty);
  refresher.refresh();
  onDocListChange(() => {
    renderList(list, empty);
    refresher.refresh();
  });
  // coming back with the Back button shows fresh titles and what changed meanwhile
  window.addEventListener("pageshow", (e) => {
    renderList(list, empty);
    if (e.persisted) refresher.refresh();
  });
  window.addEventListener("focus", () => refresher.refresh());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresher.refresh();
  });
  setInterval(() => {
    if (document.visibilityState === "visible") refresher.refresh();
  }, REFRESH_MS);

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
