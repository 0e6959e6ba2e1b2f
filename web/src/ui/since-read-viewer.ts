/**
 * The viewer page's highlight of what changed since the reader last looked (issue 11). No CRDT
 * here (the editor page's since-read.ts decorates Yjs ids instead): the page shows
 * `GET /api/docs/{id}/changes?from=<mark>` — the document now, with what changed after the
 * reader's mark in `<ins>`/`<del data-author>` — in place of the live content, colored the way
 * the history view colors changes (history.ts `colorChanges`, history.css `.history-doc`).
 *
 * The highlight follows the text: each new `content` event of the feed fetches the rendering
 * again (debounced, a superseded request aborted). Dismissing it, or any error, removes it and
 * shows the live content, which the feed kept current meanwhile. It sits next to the live
 * content, inside the element the history view hides while a past revision is shown, so a past
 * revision hides both and "Back to now" brings back whichever was showing.
 */
import { type Author, isAbort } from "../api";
import { h } from "../dom";
import { fetchChanges } from "../history-api";
import { authorColor, authorName } from "./avatar";
import { colorChanges } from "./history";
import type { ChangesSinceRead } from "./unread-notice";

/** New content is fetched this long after the last `content` event ... */
const REFRESH_MS = 300;
/** ... and at the latest this long after the first one not fetched yet (a steady stream). */
const MAX_WAIT_MS = 1_500;
/** A rendering older than the live text (the server committing behind the feed) is fetched again. */
const STALE_RETRIES = 3;
const STALE_RETRY_MS = 700;

export interface ViewerHighlightOptions {
  id: string;
  token(): string;
  /** the reader's old mark and who changed what since (loadChangesSinceRead) */
  changes: ChangesSinceRead;
  /** the live content: hidden while the highlight shows; the highlight goes right after it */
  live: HTMLElement;
}

export interface ViewerHighlight {
  /** the highlighted rendering (data-testid "since-read-doc") */
  readonly element: HTMLElement;
  /** whether the highlight is shown in place of the live content */
  readonly showing: boolean;
  /** the feed showed new content in the live element: fetch the highlight again */
  contentChanged(): void;
  /** an author seen on the feed: colors changes made after the page opened too */
  learn(author: Author | null): void;
  /** removes the highlight for good and shows the live content */
  dismiss(): void;
}

const squash = (text: string | null | undefined): string => (text ?? "").replace(/\s+/g, "");

/** The text a rendering shows without what it marks as deleted (to compare with the live text). */
function textAfter(root: HTMLElement): string {
  const copy = root.cloneNode(true) as HTMLElement;
  for (const el of copy.querySelectorAll('del, [data-change="deleted"]')) el.remove();
  return squash(copy.textContent);
}

/** Fetches and shows the highlight once its first rendering arrives (nothing on an error). */
export function showViewerHighlight(options: ViewerHighlightOptions): ViewerHighlight {
  const { id, live } = options;
  const mark = options.changes.mark;
  const colors = new Map<string, string>();
  const names = new Map<string, string>();
  const learn = (author: Author | null): void => {
    if (!author) return;
    colors.set(author.id, authorColor(author));
    names.set(author.id, authorName(author));
  };
  for (const change of options.changes.attribution.changes) learn(change.author);

  const element = h("div", {
    class: "prose viewer-content history-doc since-read-doc",
    "data-testid": "since-read-doc",
    "aria-label": "Document, with the changes since you last looked highlighted",
  });
  element.hidden = true;
  live.after(element);

  let done = false;
  let showing = false;
  let controller: AbortController | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let firstPending = 0;
  let stale = 0;

  const stop = (): void => {
    done = true;
    controller?.abort();
    controller = null;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    element.remove();
    live.hidden = false;
    showing = false;
  };

  const display = (holder: HTMLElement): void => {
    colorChanges(holder, colors);
    for (const el of holder.querySelectorAll<HTMLElement>("ins[data-author], del[data-author]")) {
      const name = names.get(el.dataset.author ?? "") ?? authorName(null);
      el.title = `${el.tagName === "INS" ? "Added" : "Deleted"} by ${name}`;
    }
    for (const link of holder.querySelectorAll("a[href]")) {
      link.setAttribute("target", "_blank");
      link.setAttribute("rel", "noopener noreferrer");
    }
    element.replaceChildren(...Array.from(holder.childNodes));
    element.classList.toggle("is-empty", !element.textContent?.trim());
    if (!showing) {
      showing = true;
      element.hidden = false;
      live.hidden = true;
    }
  };

  const schedule = (delay: number): void => {
    if (done) return;
    const now = performance.now();
    if (timer === null) firstPending = now;
    else clearTimeout(timer);
    timer = setTimeout(
      () => {
        timer = null;
        void refresh();
      },
      Math.max(0, Math.min(delay, firstPending + MAX_WAIT_MS - now)),
    );
  };

  const refresh = async (): Promise<void> => {
    controller?.abort();
    const current = new AbortController();
    controller = current;
    try {
      // the document now, as the server has it (behind the feed's content for a moment: then
      // fetched again below)
      const holder = await fetchChanges(id, options.token(), mark, null, current.signal);
      if (done || controller !== current) return;
      controller = null;
      display(holder);
      if (textAfter(element) === squash(live.textContent)) stale = 0;
      else if (stale++ < STALE_RETRIES) schedule(STALE_RETRY_MS);
    } catch (err) {
      if (done || current.signal.aborted || isAbort(err)) return;
      stop(); // offline, deleted, too busy: the live content, quietly (the notice stays)
    }
  };

  void refresh();

  return {
    element,
    get showing() {
      return showing;
    },
    contentChanged() {
      stale = 0;
      schedule(REFRESH_MS);
    },
    learn,
    dismiss: stop,
  };
}
