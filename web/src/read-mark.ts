/**
 * Reports this author's read mark on a document (issue 11): while the page is visible and the
 * document is on screen, PUT /api/docs/{id}/read with `{}` (the newest revision), at most every
 * `interval` ms; once more when the page becomes visible, when new content arrives (`seen()`),
 * and on pagehide (keepalive). Nothing without an author secret. Failures are quiet and retried.
 * No editing stack here: the viewer page uses it too.
 */
import { putReadMark } from "./read-api";

export interface ReadTrackerOptions {
  id: string;
  /** the document token in use (edit or view) */
  token(): string;
  /** this browser's author secret, or null (then nothing is reported) */
  author(): string | null;
  /** whether the document is on screen (editor: synced; viewer: content shown); default: yes */
  onScreen?(): boolean;
  /**
   * Nothing is reported before this settles: the page reads the old mark first (the changes
   * since then are highlighted), then lets the tracker move it.
   */
  after?: Promise<unknown>;
  /** minimum time between two reports, ms (default 3000) */
  interval?: number;
}

export interface ReadTracker {
  /** New content is on screen (or the document just became visible): report soon. */
  seen(): void;
  destroy(): void;
}

const MAX_RETRY_MS = 60_000;

export function createReadTracker(options: ReadTrackerOptions): ReadTracker {
  const interval = options.interval ?? 3000;
  let destroyed = false;
  let started = options.after === undefined;
  const visible = (): boolean => document.visibilityState === "visible";
  /** something was seen (with the page visible) that is not reported yet */
  let dirty = visible();
  let inFlight = false;
  let lastSent = 0;
  let failures = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const onScreen = (): boolean => (options.onScreen ? options.onScreen() : true);
  const eligible = (): boolean =>
    !destroyed &&
    started &&
    visible() &&
    onScreen() &&
    options.author() !== null;

  const schedule = (delay: number): void => {
    if (timer !== null || destroyed) return;
    timer = setTimeout(() => {
      timer = null;
      flush();
    }, Math.max(0, delay));
  };

  const flush = (): void => {
    if (!dirty || inFlight || !eligible()) return;
    const wait = lastSent + interval * 2 ** Math.min(failures, 5) - Date.now();
    if (wait > 0) {
      schedule(Math.min(wait, MAX_RETRY_MS));
      return;
    }
    const author = options.author();
    if (author === null) return;
    dirty = false;
    inFlight = true;
    lastSent = Date.now();
    putReadMark(options.id, options.token(), author).then(
      () => {
        failures = 0;
      },
      () => {
        // offline, restarting, or a link that no longer works: quietly, again later
        failures += 1;
        dirty = true;
      },
    ).finally(() => {
      inFlight = false;
      if (dirty) schedule(lastSent + interval * 2 ** Math.min(failures, 5) - Date.now());
    });
  };

  const seen = (): void => {
    if (!visible()) return; // reported when the page is shown again
    dirty = true;
    flush();
  };

  const onVisibility = (): void => {
    if (document.visibilityState === "visible") seen();
  };
  /** Leaving: what was on screen counts as read, sent even as the page goes away. */
  const onPageHide = (): void => {
    // not `eligible()`: the page may already count as hidden; a request in flight is cancelled
    // by the navigation, so it is sent again
    if (!(dirty || inFlight) || destroyed || !started || !onScreen()) return;
    const author = options.author();
    if (author === null) return;
    dirty = false;
    putReadMark(options.id, options.token(), author, undefined, { keepalive: true }).catch(() => undefined);
  };
  document.addEventListener("visibilitychange", onVisibility);
  window.addEventListener("pagehide", onPageHide);

  if (options.after !== undefined) {
    options.after.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      started = true;
      flush();
    });
  } else {
    flush();
  }

  return {
    seen,
    destroy() {
      destroyed = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      document.removeEventListener("visibilitychange", onVisibility);
      window.removeEventListener("pagehide", onPageHide);
    },
  };
}
