/**
 * The read-only viewer page, /v/{id}#<token>: the document as the server renders it, who is
 * editing and what they did, live over Server-Sent Events (feed.ts). Nothing here is editable.
 * It must never import yjs, y-websocket or TipTap: this page stays small for people who only read.
 */
import { ApiError, type DocInfo, fetchDoc } from "./api";
import { debounce, exposeHeight, h } from "./dom";
import { forgetDoc, rememberDoc } from "./doclist";
import { createFeed, type FeedContent } from "./feed";
import { docIdFromPath, tokenFromHash } from "./links";
import "./styles.css";
import { createActivityList } from "./ui/activity";
import { createActivityPanel } from "./ui/activity-panel";
import { DELETED, INVALID_LINK, LINK_GONE, LINK_GONE_DETAIL, NOT_FOUND, showErrorPage } from "./ui/error";
import { createFeedPresence } from "./ui/feed-presence";
import { createFeedStatus } from "./ui/feed-status";
import { createHistory } from "./ui/history";
import { UNTITLED } from "./ui/title";
import { showViewerHighlight, type ViewerHighlight } from "./ui/since-read-viewer";
import { trackViewerReads } from "./ui/unread-notice"; // read marks (issue 11)
import { loadAuthorSecret, replaceAuthor } from "./author";
import { loadUser } from "./user";

const UNREACHABLE = "Swell can’t be reached";

/** What the server says this token opens, or the message of the error page to show. */
async function openDocument(id: string, token: string): Promise<DocInfo | string> {
  try {
    return await fetchDoc(id, token);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 404) return NOT_FOUND;
    if (err.status === 0 || err.status >= 500) return UNREACHABLE;
    return INVALID_LINK;
  }
}

const ERROR_DETAIL: Record<string, string> = {
  [INVALID_LINK]: "Ask whoever shared it for a new link.",
  [UNREACHABLE]: "Check your connection, then reload the page.",
};

/** Shows the server's rendering of the document (sanitised there, from an allow-list of tags). */
function showContent(container: HTMLElement, content: FeedContent): void {
  container.innerHTML = content.html;
  // a link opens beside the live page instead of replacing it
  for (const link of container.querySelectorAll("a[href]")) link.setAttribute("target", "_blank");
  container.classList.toggle("is-empty", !content.text.trim() && !container.querySelector("hr, li, pre"));
}

async function main(): Promise<void> {
  const id = docIdFromPath("v");
  const token = tokenFromHash();
  window.addEventListener("hashchange", () => location.reload());
  if (id === null) return showErrorPage(NOT_FOUND);
  if (token === null) return showErrorPage(INVALID_LINK, ERROR_DETAIL[INVALID_LINK]);

  const opened = await openDocument(id, token);
  if (typeof opened === "string") return showErrorPage(opened, ERROR_DETAIL[opened]);
  rememberDoc({ id, title: opened.title, ...(opened.role === "edit" ? { editToken: token } : { viewToken: token }) });

  const destroyers: (() => void)[] = [];
  let ended = false;
  const end = (message: string, detail?: string): void => {
    if (ended) return;
    ended = true;
    for (const destroy of destroyers.reverse()) destroy();
    showErrorPage(message, detail);
  };

  const title = h("h1", { class: "viewer-title", "data-testid": "viewer-title" });
  const showTitle = (text: string): void => {
    title.textContent = text.trim() || UNTITLED;
    document.title = `${title.textContent} · Swell`;
    rememberDoc({ id, title: text, touch: false });
  };
  showTitle(opened.title);
  // the feed says that the title changed ("title" activity), not what it is now
  const refreshTitle = debounce(() => {
    fetchDoc(id, token).then(
      (info) => !ended && showTitle(info.title),
      () => undefined, // the next rename or reload will tell
    );
  }, 250);
  destroyers.push(() => refreshTitle.cancel());

  const content = h("div", { class: "prose viewer-content", "data-testid": "viewer-content", "aria-label": "Document" });
  let shownHtml: string | null = null;
  // the changes since the reader last looked, highlighted in place of `content` until dismissed
  let highlight: ViewerHighlight | null = null;

  const status = createFeedStatus("connecting");
  destroyers.push(() => status.destroy());
  const presence = createFeedPresence();
  destroyers.push(() => presence.destroy());
  const activity = createActivityList();
  const panel = createActivityPanel(activity);
  destroyers.push(() => panel.destroy());

  // the history view (issue 11): a past revision takes the live content's place while the feed
  // keeps updating it in the background; "Back to now" shows it again
  const article = h("article", { class: "sheet" }, content);
  let reads: { seen(): void } | null = null;
  const historyView = createHistory({
    id,
    token: () => token,
    canEdit: () => false,
    live: article,
    // back at now: what arrived meanwhile is on screen only now
    onPastChange: (past) => {
      if (!past) reads?.seen();
    },
  });
  destroyers.push(() => historyView.destroy());

  const feed = createFeed({
    id,
    token,
    name: loadUser()?.name ?? null,
    // watching as this browser's author, if it has one (listed under the author's name)
    author: loadAuthorSecret,
    onAuthorRejected: async (secret) => {
      await replaceAuthor(secret, loadUser());
    },
    onState: (state) => status.set(state),
    onPresence: (users) => presence.update(users),
    onActivity: (item) => {
      activity.add(item);
      historyView.onActivity(item);
      highlight?.learn(item.author);
      if (item.kind === "title") refreshTitle();
    },
    onContent: (data) => {
      // sent again after every reconnect: keep the reader's selection when nothing changed
      if (data.html === shownHtml) return;
      shownHtml = data.html;
      showContent(content, data);
      highlight?.contentChanged();
    },
    onReset: () => activity.clear(),
    onDeleted: () => {
      forgetDoc(id);
      end(DELETED, "Its editors deleted it, so it can no longer be read.");
    },
    // the link worked when the page opened: a 401 now means it was reset, a 404 that the
    // document was deleted
    onRejected: (code) => {
      if (code === 404) {
        forgetDoc(id);
        end(DELETED, "Its editors deleted it, so it can no longer be read.");
      } else end(LINK_GONE, LINK_GONE_DETAIL);
    },
  });
  destroyers.push(() => feed.destroy());

  const header = h(
    "header",
    { class: "topbar" },
    h("a", { class: "brand", href: "/", "aria-label": "Swell: your documents" }, h("span", { class: "brand__mark", "aria-hidden": "true" }, "≈"), h("span", { class: "brand__name" }, "Swell")),
    h("div", { class: "topbar__title" }, title, status.element),
    h("div", { class: "topbar__people" }, presence.element, historyView.button),
  );
  const chrome = h("div", { class: "chrome" }, header);
  const main = h("main", { class: "page viewer-main" }, article, historyView.past);
  document.body.replaceChildren(chrome, h("div", { class: "workspace" }, main, panel.element, historyView.panel));
  document.body.classList.add("viewer-page");
  destroyers.push(exposeHeight(chrome, "--chrome-height"));
  destroyers.push(() => document.body.classList.remove("viewer-page"));
  // read marks (issue 11): the notice and highlight of changes since the old mark, then marks
  // reported while shown
  const tracking = trackViewerReads({
    id,
    token: () => token,
    author: loadAuthorSecret,
    content,
    before: content.parentElement ?? content,
    // while a past revision is shown, new content is not seen: the mark stays
    onScreen: () => !historyView.showingPast,
    showChanges: (changes) => (highlight = showViewerHighlight({ id, token: () => token, changes, live: content })),
  });
  reads = tracking;
  destroyers.push(() => tracking.destroy());
}

void main().catch((err: unknown) => {
  console.error(err);
  showErrorPage("Something went wrong", err instanceof Error ? err.message : String(err));
});
