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
import { authorColor, authorName } from "./avatar";
import "./unread-notice.css";

/** What changed since the reader's mark. */
export interface ChangesSinceRead {
  /** the reader's mark when the page opened */
  mark: number;
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
      return { mark: rev, attribution, authors: changed.map((c) => c.author) };
    } catch {
      return null; // an older server, offline: nothing to show
    }
  });
  return { mark, changes };
}

export interface NoticeOptions {
  authors: (Author | null)[];
  /** e.g. "Showing the first 2,000 of 3,120 changes." */
  detail?: string;
  onDismiss(): void;
}

export interface SinceReadNotice {
  /** the live region (role=status): in the page from the start, so that what fills it is read out */
  readonly element: HTMLElement;
  /** fills the region: "Changes since you last looked: Grace, Ada · Dismiss" */
  show(options: NoticeOptions): void;
  /** empties the region (Dismiss does too) */
  clear(): void;
  /** removes the region */
  destroy(): void;
}

/**
 * The notice's live region, empty until `show`: insert `element` at once, and screen readers
 * announce the notice when it is filled (a live region added with its content often is not).
 */
export function createSinceReadNotice(): SinceReadNotice {
  const region = h("div", { class: "since-read-region", role: "status", "aria-live": "polite" });
  const clear = (): void => region.replaceChildren();
  return {
    element: region,
    show(options) {
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
      dismiss.addEventListener("click", () => {
        clear();
        options.onDismiss();
      });
      region.replaceChildren(
        h(
          "div",
          { class: "since-read-notice", "data-testid": "since-read-notice" },
          h(
            "p",
            { class: "since-read-notice__text" },
            h("strong", {}, "Changes since you last looked:"),
            " ",
            people,
            options.detail ? h("span", { class: "since-read-notice__detail muted" }, ` ${options.detail}`) : null,
          ),
          h("div", { class: "since-read-notice__actions" }, dismiss),
        ),
      );
    },
    clear,
    destroy() {
      region.remove();
    },
  };
}

export interface ViewerReadsOptions extends ReaderRef {
  /** the element the document's content is shown in (new content there counts as seen) */
  content: HTMLElement;
  /** the notice goes just before this element (default: `content`) */
  before?: HTMLElement;
  /**
   * Whether the document now is on screen (besides `content` having been filled): false while
   * the history view shows a past revision. Call `seen()` when it is again.
   */
  onScreen?: () => boolean;
  /**
   * Highlights the changes (the viewer page: since-read-viewer.ts) when the notice is shown;
   * the notice's Dismiss, and destroy(), call the `dismiss` it returns.
   */
  showChanges?: (changes: ChangesSinceRead) => { dismiss(): void };
}

export interface Reads {
  /** The document now is on screen again (e.g. back from a past revision): report it soon. */
  seen(): void;
  destroy(): void;
}

/**
 * The viewer page's read marks (no CRDT there): the notice of changes since the old mark, then
 * the mark reported while the content is on screen (any change of `content` counts as seen),
 * and the highlight of the changes when `showChanges` is given.
 */
export function trackViewerReads(options: ViewerReadsOptions): Reads {
  let destroyed = false;
  let filled = options.content.childNodes.length > 0;
  const since = loadChangesSinceRead(options);
  const tracker: ReadTracker = createReadTracker({
    id: options.id,
    token: options.token,
    author: options.author,
    onScreen: () => filled && (options.onScreen?.() ?? true),
    after: since.mark,
  });
  const observer = new MutationObserver(() => {
    filled = true;
    tracker.seen();
  });
  observer.observe(options.content, { childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ["class"] });
  const anchor = options.before ?? options.content;
  const notice = createSinceReadNotice();
  anchor.parentElement?.insertBefore(notice.element, anchor);
  let highlight: { dismiss(): void } | null = null;
  void since.changes.then((changes) => {
    if (destroyed || changes === null) return;
    notice.show({
      authors: changes.authors,
      onDismiss: () => {
        highlight?.dismiss();
        highlight = null;
      },
    });
    highlight = options.showChanges?.(changes) ?? null;
  });
  return {
    seen: () => tracker.seen(),
    destroy() {
      destroyed = true;
      observer.disconnect();
      tracker.destroy();
      notice.destroy();
      highlight?.dismiss();
      highlight = null;
    },
  };
}
