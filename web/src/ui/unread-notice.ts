/**
 * "Changes since you last looked" (issue 11): the reader's old mark, the changes after it, and
 * the notice that names who made them. No editing stack here: the viewer page uses it
 * (trackViewerReads, with since-read-viewer.ts's highlight), the editor page through
 * since-read.ts (which adds its own highlight).
 */
import type { Author } from "../api";
import { h } from "../dom";
import { createReadTracker, type ReadTracker } from "../read-mark";
import { type Attribution, fetchAttribution, getReadMark } from "../read-api";
import { FALLBACK_COLOR } from "./avatar";
import "./unread-notice.css";

/** What changed since the reader's mark. */
export interface ChangesSinceRead {
  /** the reader's mark when the page opened */
  mark: number;
  /** the newest revision then */
  newest: number;
  attribution: Attribution;
  /** who changed something, in the server's order (null: anonymous) */
  authors: (Author | null)[];
}

export interface ReaderRef {
  id: string;
  token(): string;
  author(): string | null;
}

/**
 * Reads the reader's old mark (`mark`, settles first: the page may let a read tracker move
 * the mark after it) and then what changed after it (`changes`: null when nothing did, when
 * never read, without an author, or when the server cannot tell).
 */
export function loadChangesSinceRead(ref: ReaderRef): {
  mark: Promise<number | null>;
  changes: Promise<ChangesSinceRead | null>;
} {
  const author = ref.author();
  const mark: Promise<number | null> =
    author === null ? Promise.resolve(null) : getReadMark(ref.id, ref.token(), author).then((m) => m.rev, () => null);
  const changes = mark.then(async (rev) => {
    if (rev === null || rev <= 0) return null;
    try {
      // not GET /api/docs/{id}'s rev: it may lag behind what is committed for a few seconds
      const attribution = await fetchAttribution(ref.id, ref.token(), rev);
      const changed = attribution.changes.filter((c) => c.inserted.length > 0 || c.deleted.length > 0);
      if (changed.length === 0) return null;
      return { mark: rev, newest: attribution.to, attribution, authors: changed.map((c) => c.author) };
    } catch {
      return null; // an older server, offline: nothing to show
    }
  });
  return { mark, changes };
}

/** A colour as the server sent it, only if it is a plain hex colour (goes into CSS). */
export function authorColor(author: Author | null): string {
  return author && /^#[0-9a-fA-F]{6}$/.test(author.color) ? author.color : FALLBACK_COLOR;
}

export const authorName = (author: Author | null): string => author?.name || "Someone";

/** "Grace", "Grace and Ada", "Grace, Ada and Bob", each named once. */
export function namesOf(authors: (Author | null)[]): string {
  const names = [...new Set(authors.map(authorName))];
  if (names.length <= 1) return names[0] ?? "Someone";
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

export interface NoticeOptions {
  authors: (Author | null)[];
  /** e.g. "Showing the first 2,000 of 3,120 changes." */
  detail?: string;
  onDismiss(): void;
  /** a "Show changes" button (e.g. the history view from the mark), when given */
  onShowChanges?: () => void;
}

/** The notice: "Changes since you last looked: Grace and Ada · Show changes · Dismiss". */
export function createSinceReadNotice(options: NoticeOptions): HTMLElement {
  const people = h("span", { class: "since-read-notice__people" });
  const seen = new Set<string>();
  for (const author of options.authors) {
    const name = authorName(author);
    if (seen.has(name)) continue;
    seen.add(name);
    const dot = h("span", { class: "since-read-notice__dot", "aria-hidden": "true" });
    dot.style.setProperty("--since-read-color", authorColor(author));
    if (seen.size > 1) people.append(", ");
    people.append(h("span", { class: "since-read-notice__person", "data-testid": "since-read-author" }, dot, name));
  }
  const dismiss = h("button", { type: "button", class: "button button--quiet since-read-notice__dismiss" }, "Dismiss");
  const notice = h(
    "div",
    { class: "since-read-notice", role: "status", "data-testid": "since-read-notice" },
    h(
      "p",
      { class: "since-read-notice__text" },
      h("strong", {}, "Changes since you last looked:"),
      " ",
      people,
      options.detail ? h("span", { class: "since-read-notice__detail muted" }, ` ${options.detail}`) : null,
    ),
  );
  const actions = h("div", { class: "since-read-notice__actions" });
  if (options.onShowChanges) {
    const show = h("button", { type: "button", class: "button since-read-notice__show" }, "Show changes");
    const onShow = options.onShowChanges;
    show.addEventListener("click", () => onShow());
    actions.append(show);
  }
  actions.append(dismiss);
  notice.append(actions);
  dismiss.addEventListener("click", () => {
    notice.remove();
    options.onDismiss();
  });
  return notice;
}

export interface ViewerReadsOptions extends ReaderRef {
  /** the element the document's content is shown in (new content there counts as seen) */
  content: HTMLElement;
  /** the notice goes just before this element (default: `content`) */
  before?: HTMLElement;
  /** a "Show changes" button in the notice (the history view from the mark), if given */
  onShowChanges?: (fromRev: number) => void;
  /**
   * Highlights the changes (the viewer page: since-read-viewer.ts) when the notice is shown;
   * the notice's Dismiss, and destroy(), call the `dismiss` it returns.
   */
  showChanges?: (changes: ChangesSinceRead) => { dismiss(): void };
}

/**
 * The viewer page's read marks (no CRDT there): the notice of changes since the old mark, then
 * the mark reported while the content is on screen (any change of `content` counts as seen),
 * and the highlight of the changes when `showChanges` is given.
 */
export function trackViewerReads(options: ViewerReadsOptions): { destroy(): void } {
  let destroyed = false;
  let shown = options.content.childNodes.length > 0;
  const since = loadChangesSinceRead(options);
  const tracker: ReadTracker = createReadTracker({
    id: options.id,
    token: options.token,
    author: options.author,
    onScreen: () => shown,
    after: since.mark,
  });
  const observer = new MutationObserver(() => {
    shown = true;
    tracker.seen();
  });
  observer.observe(options.content, { childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ["class"] });
  let notice: HTMLElement | null = null;
  let highlight: { dismiss(): void } | null = null;
  void since.changes.then((changes) => {
    if (destroyed || changes === null) return;
    const anchor = options.before ?? options.content;
    const onShow = options.onShowChanges;
    notice = createSinceReadNotice({
      authors: changes.authors,
      onDismiss: () => {
        notice = null;
        highlight?.dismiss();
        highlight = null;
      },
      ...(onShow ? { onShowChanges: () => onShow(changes.mark) } : {}),
    });
    anchor.parentElement?.insertBefore(notice, anchor);
    highlight = options.showChanges?.(changes) ?? null;
  });
  return {
    destroy() {
      destroyed = true;
      observer.disconnect();
      tracker.destroy();
      notice?.remove();
      highlight?.dismiss();
      highlight = null;
    },
  };
}
