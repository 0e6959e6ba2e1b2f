/**
 * The history view (issue 11): a History button that opens a panel beside the document (a bottom
 * sheet on narrow screens) with a slider over every revision, playback, the list of entries,
 * named versions and "Show authors"; while a past revision is shown, the page's live document is
 * hidden and the server's rendering of that revision takes its place, read-only, with what
 * changed in its entry highlighted in the author's color (insertions) and struck through
 * (deletions), under a banner with "Restore this version" (edit role) and "Back to now".
 *
 * CRDT-free: the editor and the viewer page share it; everything shown comes from the server
 * (`/history`, `/changes`, `/versions`). "Show authors" colors the text by who wrote it in this
 * view only (`/changes?from=0`), not in the live editor.
 *
 * Latency: the first page of entries is fetched when the button is hovered or focused, and again
 * when it is pressed; every rendering goes through a small cache keyed by (from, to), a request
 * superseded by another step is aborted, and playback prefetches the revision it shows next.
 */
import { ApiError, fetchNewestRev, isAbort } from "../api";
import { debounce, h } from "../dom";
import {
  createVersion,
  fetchChanges,
  fetchHistory,
  fetchVersions,
  type HistoryEntry,
  restoreRevision,
  type Version,
} from "../history-api";
import { authorColor, authorName, createAvatar, safeColor } from "./avatar";
import { createSlider, type SliderKey } from "./history-slider";
import "./history.css";

export interface HistoryOptions {
  id: string;
  /** The token in use (it may be replaced while the page is open). */
  token: () => string;
  /** Whether Restore and Name this version are offered (the edit role). */
  canEdit: () => boolean;
  /** The secret of the author restores and versions are attributed to. */
  author?: () => string | null;
  /** The page's live document: hidden while a past revision is shown. */
  live: HTMLElement;
  /** Called when a past revision starts or stops being shown in place of the live document. */
  onPastChange?: (past: boolean) => void;
  /**
   * Called when "Show authors" starts or stops applying to the live document: on while the
   * view is open at now with Show authors on (the editor page colours its live text then).
   */
  onShowAuthorsLive?: (on: boolean) => void;
}

/** What the pages' activity feeds carry (feed.ts FeedActivity): the revisions of an edit. */
export interface HistoryActivity {
  toRev: number | null;
}

export interface HistoryView {
  /** The "History" button, for the top bar. */
  readonly button: HTMLButtonElement;
  /** The panel (or sheet), for the workspace beside the document. */
  readonly panel: HTMLElement;
  /** The past revision with its banner, for the document area (next to `live`). */
  readonly past: HTMLElement;
  /** Whether a past revision is shown instead of the live document. */
  readonly showingPast: boolean;
  readonly isOpen: boolean;
  open(): void;
  close(): void;
  /** A new activity item arrived on the page's feed: new revisions may exist. */
  onActivity(item: HistoryActivity): void;
  destroy(): void;
}

/** Shortcut: Alt+Shift+H (e.code, so that it works whatever Alt+Shift+H types on a Mac). */
const SHORTCUT_LABEL = "Alt+Shift+H";
const FIRST_PAGE = 50;
const MORE_PAGE = 200;
/** Renderings kept (a few slider steps back and forth, and playback's next one). */
const CACHE_SIZE = 40;
/** While the view is open, the newest revision is checked this often (besides the feed). */
const POLL_MS = 5_000;
/** A first page prefetched this recently is shown at once when the view opens. */
const PREFETCH_FRESH_MS = 15_000;

/**
 * Playback. A tick every TICK_MS / speed; each tick advances ceil(span / MAX_TICKS) revisions,
 * where span is the number of revisions from the starting one to the newest and MAX_TICKS =
 * PLAYBACK_MS / TICK_MS. So a short history plays revision by revision, and a long one never
 * takes much more than PLAYBACK_MS (one minute) at the normal speed (1×), half that at 2×...
 * A tick waits for its revision to be shown (the next one is prefetched meanwhile), so a slow
 * server slows playback down instead of piling requests up.
 */
const TICK_MS = 200;
const PLAYBACK_MS = 60_000;
const MAX_TICKS = PLAYBACK_MS / TICK_MS;
const SPEEDS: [string, string][] = [
  ["0.5", "0.5×"],
  ["1", "1×"],
  ["2", "2×"],
  ["4", "4×"],
  ["8", "8×"],
];

let views = 0;

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });

/** "14:02" today, "3 Mar, 14:02" on another day (the reader's locale and time zone). */
export function formatTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const time = timeFormat.format(date);
  return date.toDateString() === new Date().toDateString() ? time : `${dateFormat.format(date)}, ${time}`;
}

/** "Ada's edit of 14:02", "Someone's restore of 14:02". */
export function describeEntry(entry: HistoryEntry): string {
  const who = authorName(entry.author);
  return `${who}'s ${entry.kind === "restore" ? "restore" : "edit"} of ${formatTime(entry.ended_at)}`;
}

/**
 * Colors every change of a `/changes` rendering (`[data-author]`: `<ins>`, `<del>`, changed
 * blocks) in its author's color, `--author-color` (history.css, under `.history-doc`), from an
 * author id → color map. The viewer page's highlight of changes since last read uses it too.
 */
export function colorChanges(root: ParentNode, colors: ReadonlyMap<string, string>): void {
  for (const el of root.querySelectorAll<HTMLElement>("[data-author]")) {
    const color = colors.get(el.dataset.author ?? "");
    if (color !== undefined) el.style.setProperty("--author-color", color);
  }
}

function errorText(err: unknown, what: string): string {
  if (err instanceof ApiError) {
    if (err.status === 0) return `${what}: Swell can’t be reached. Check your connection.`;
    if (err.status === 404) return `${what}: not found (${err.message}).`;
    if (err.status === 429) return `${what}: the server is busy. Try again in a moment.`;
    return `${what}: ${err.message}.`;
  }
  return `${what}: ${err instanceof Error ? err.message : String(err)}.`;
}

export function createHistory(options: HistoryOptions): HistoryView {
  const n = ++views;
  const panelId = `history-panel-${n}`;

  // ---- state ------------------------------------------------------------------------------
  let opened = false;
  let destroyed = false;
  /** The newest revision known (0: not known yet). */
  let newest = 0;
  /** Entries newest first, contiguous from the newest one down to the oldest loaded. */
  let entries: HistoryEntry[] = [];
  /** The `before` of the next older page; null when everything is loaded (or nothing yet). */
  let next: number | null = null;
  let loadedFirst = false;
  let prefetchedAt = 0;
  let versions: Version[] = [];
  /** The revision shown; null: now (the live document). */
  let shown: number | null = null;
  let showAuthors = false;
  /** What onShowAuthorsLive was last told. */
  let authorsLive = false;
  let playing = false;
  let playTimer: ReturnType<typeof setTimeout> | null = null;
  let pollTimer: ReturnType<typeof setInterval> | null = null;
  /** The authors' colors, by id, from every entry and version seen. */
  const colors = new Map<string, string>();
  const cache = new Map<string, HTMLElement>();
  const inflight = new Map<string, { promise: Promise<HTMLElement>; signal: AbortSignal | undefined }>();
  let renderController: AbortController | null = null;
  /** Bumped for every revision asked for: an older answer is not shown. */
  let renderSeq = 0;
  /**
   * Bumped whenever the view moves on other than by a slider step (Back to now, the slider
   * dragged or clicked, an entry picked, playback, closing): a step queued before is dropped.
   */
  let viewGen = 0;

  // ---- elements ---------------------------------------------------------------------------
  const button = h(
    "button",
    {
      type: "button",
      class: "button button--quiet history-button",
      "aria-expanded": "false",
      "aria-controls": panelId,
      "aria-keyshortcuts": SHORTCUT_LABEL,
      title: `History (${SHORTCUT_LABEL})`,
      "data-testid": "history-button",
    },
    "History",
  );

  const slider = createSlider({
    label: "Revision",
    onPick: (value, final) => {
      stopPlaying();
      const rev = value >= newest ? null : value;
      // a click's release picks what its press did: that revision is shown or on its way
      // (showing it again would abort its request and ask the server for it once more)
      if (!final || rev !== shown) void show(rev);
      if (final) slider.focus();
    },
    onKey: (key) => {
      stopPlaying();
      void step(key);
    },
  });
  const position = h("p", { class: "history__position", "aria-hidden": "true", "data-testid": "history-position" });

  const playButton = h(
    "button",
    { type: "button", class: "button history__play", "data-testid": "history-play", "aria-pressed": "false" },
    "Play",
  );
  const speedId = `history-speed-${n}`;
  const speed = h(
    "select",
    { id: speedId, class: "history__speed", "data-testid": "history-speed" },
    ...SPEEDS.map(([value, label]) => h("option", { value, selected: value === "1" }, label)),
  );
  const authorsButton = h(
    "button",
    { type: "button", class: "button history__authors", "aria-pressed": "false", "data-testid": "history-authors" },
    "Show authors",
  );
  const errorLine = h("p", { class: "history__error", role: "alert", "data-testid": "history-error" });
  errorLine.hidden = true;
  const note = h("p", { class: "history__note muted", role: "status", "data-testid": "history-note" });

  // naming a version (edit role)
  const nameButton = h(
    "button",
    { type: "button", class: "button history__name", "data-testid": "history-name-version" },
    "Name this version",
  );
  const nameInputId = `history-version-name-${n}`;
  const nameInput = h("input", {
    id: nameInputId,
    type: "text",
    maxlength: "200",
    autocomplete: "off",
    "data-testid": "history-version-input",
  });
  const nameError = h("p", { class: "history__error", role: "alert", "data-testid": "history-version-error" });
  nameError.hidden = true;
  const nameForm = h(
    "form",
    { class: "history__name-form", "data-testid": "history-version-form" },
    h("label", { for: nameInputId }, "Version name"),
    h(
      "div",
      { class: "history__name-row" },
      nameInput,
      h("button", { type: "submit", class: "button button--primary" }, "Save"),
      h("button", { type: "button", class: "button button--quiet", "data-action": "cancel" }, "Cancel"),
    ),
    nameError,
  );
  nameForm.hidden = true;

  const versionList = h("ol", { class: "history__versions", "data-testid": "history-versions" });
  const versionsSection = h(
    "section",
    { class: "history__section", "aria-labelledby": `history-versions-title-${n}` },
    h("h3", { id: `history-versions-title-${n}`, class: "history__subtitle" }, "Named versions"),
    versionList,
  );
  versionsSection.hidden = true;

  const entryList = h("ol", { class: "history__entries", "data-testid": "history-entries" });
  const moreButton = h(
    "button",
    { type: "button", class: "button button--quiet history__more", "data-testid": "history-more" },
    "Load earlier changes",
  );
  moreButton.hidden = true;
  const emptyNote = h("p", { class: "muted history__empty" }, "Loading…");

  const closeButton = h(
    "button",
    { type: "button", class: "button button--quiet history__close", "aria-label": "Close history", title: "Close (Escape)" },
    "×",
  );
  const panel = h(
    "aside",
    { id: panelId, class: "history-panel", "aria-label": "History", "data-testid": "history-panel" },
    h("div", { class: "history__head" }, h("h2", { class: "history__title" }, "History"), closeButton),
    h(
      "div",
      { class: "history__controls" },
      slider.element,
      position,
      h(
        "div",
        { class: "history__row" },
        playButton,
        h("label", { class: "history__speed-label", for: speedId }, "Speed"),
        speed,
        authorsButton,
      ),
      errorLine,
      note,
      h("div", { class: "history__row" }, nameButton),
      nameForm,
    ),
    versionsSection,
    h(
      "section",
      { class: "history__section", "aria-labelledby": `history-entries-title-${n}` },
      h("h3", { id: `history-entries-title-${n}`, class: "history__subtitle" }, "Changes"),
      entryList,
      emptyNote,
      moreButton,
    ),
  );
  panel.hidden = true;

  const bannerText = h("span", { class: "history-banner__text", "data-testid": "history-banner-text" });
  const restoreButton = h(
    "button",
    { type: "button", class: "button button--primary", "data-testid": "history-restore" },
    "Restore this version",
  );
  const backButton = h("button", { type: "button", class: "button", "data-testid": "history-back" }, "Back to now");
  const banner = h(
    "div",
    { class: "history-banner", role: "region", "aria-label": "Past revision", "data-testid": "history-banner" },
    bannerText,
    h("span", { class: "history-banner__actions" }, restoreButton, backButton),
  );
  const doc = h("div", {
    class: "prose history-doc",
    "data-testid": "history-doc",
    "aria-label": "Document at the revision shown",
    "aria-live": "off",
  });
  const past = h("div", { class: "sheet history-past", "data-testid": "history-past" }, banner, doc);
  past.hidden = true;

  // ---- entries ------------------------------------------------------------------------------
  const learnColors = (author: { id: string; color: string } | null): void => {
    if (author) colors.set(author.id, safeColor(author.color));
  };

  const entryFor = (rev: number): HistoryEntry | undefined => {
    // entries are few pages at most: a binary search over newest-first to_rev
    let lo = 0;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((entries[mid] as HistoryEntry).to_rev >= rev) lo = mid + 1;
      else hi = mid;
    }
    const found = entries[lo - 1];
    return found !== undefined && found.from_rev <= rev && rev <= found.to_rev ? found : undefined;
  };

  const setNewest = (rev: number): void => {
    if (rev <= newest) return;
    newest = rev;
    updateSlider();
  };

  /** Merges a first page (newest entries) into what is known. */
  const mergeFirstPage = (page: HistoryEntry[], following: number | null): void => {
    page.forEach((e) => learnColors(e.author));
    const oldest = page[page.length - 1];
    if (oldest === undefined) {
      entries = [];
      next = null;
    } else {
      const rest = entries.filter((e) => e.to_rev < oldest.from_rev);
      const top = rest[0];
      if (top !== undefined && top.to_rev === oldest.from_rev - 1) {
        entries = [...page, ...rest];
      } else {
        // more new entries than a page: start over from this page
        entries = page;
        next = following;
      }
      if (top === undefined) next = following;
      setNewest((page[0] as HistoryEntry).to_rev);
    }
    loadedFirst = true;
    renderEntries();
  };

  let firstPage: Promise<void> | null = null;
  /** (Re)loads the newest entries. */
  const loadFirstPage = (): Promise<void> => {
    firstPage ??= fetchHistory(options.id, options.token(), { limit: FIRST_PAGE })
      .then(
        (page) => {
          if (destroyed) return;
          prefetchedAt = Date.now();
          mergeFirstPage(page.entries, page.next);
        },
        (err: unknown) => {
          if (!isAbort(err)) showError(errorText(err, "The history could not be loaded"));
        },
      )
      .finally(() => {
        firstPage = null;
      });
    return firstPage;
  };

  let morePromise: Promise<boolean> | null = null;
  /** Loads the next older page; false when there is none (or it failed). */
  const loadMore = (): Promise<boolean> => {
    if (next === null) return Promise.resolve(false);
    morePromise ??= fetchHistory(options.id, options.token(), { limit: MORE_PAGE, before: next })
      .then(
        (page) => {
          if (destroyed) return false;
          const last = entries[entries.length - 1];
          const fresh = page.entries.filter((e) => last === undefined || e.to_rev < last.from_rev);
          fresh.forEach((e) => learnColors(e.author));
          entries = [...entries, ...fresh];
          next = page.next;
          renderEntries();
          return true;
        },
        (err: unknown) => {
          if (!isAbort(err)) showError(errorText(err, "Earlier changes could not be loaded"));
          return false;
        },
      )
      .finally(() => {
        morePromise = null;
      });
    return morePromise;
  };

  /** Loads pages until the entry holding `rev` is known (or nothing more can be loaded). */
  const loadUntil = async (rev: number): Promise<void> => {
    if (!loadedFirst) await loadFirstPage();
    while (!destroyed && entryFor(rev) === undefined && next !== null) {
      const last = entries[entries.length - 1];
      if (last !== undefined && last.from_rev <= rev) return; // newer than the first page: wait for it
      if (!(await loadMore())) return;
    }
  };

  const refreshEntries = debounce(() => {
    if (opened) void loadFirstPage().then(() => updateSlider());
  }, 400);

  /** Each entry's row, by what it shows: kept from one rendering of the list to the next. */
  let rows = new Map<string, HTMLElement>();
  const rowKey = (e: HistoryEntry): string =>
    JSON.stringify([e.from_rev, e.to_rev, e.kind, e.summary, e.ended_at, e.author?.id, e.author?.name, e.author?.color]);

  function entryRow(entry: HistoryEntry): HTMLElement {
    const name = authorName(entry.author);
    const avatar = createAvatar(name, authorColor(entry.author));
    avatar.setAttribute("aria-hidden", "true");
    avatar.removeAttribute("role");
    avatar.removeAttribute("aria-label");
    const row = h(
      "button",
      {
        type: "button",
        class: "history-entry",
        "data-testid": "history-entry",
        "data-kind": entry.kind,
        "data-to-rev": entry.to_rev,
        "data-from-rev": entry.from_rev,
      },
      avatar,
      h(
        "span",
        { class: "history-entry__body" },
        h("span", { class: "history-entry__summary" }, entry.summary),
        h(
          "span",
          { class: "history-entry__meta" },
          h("time", { datetime: entry.ended_at }, formatTime(entry.ended_at)),
          entry.from_rev === entry.to_rev ? ` · revision ${entry.to_rev}` : ` · revisions ${entry.from_rev}–${entry.to_rev}`,
        ),
      ),
    );
    row.addEventListener("click", () => {
      stopPlaying();
      void show(entry.to_rev, { keepNewest: true });
    });
    return h("li", {}, row);
  }

  /** Brings the list in line with `entries`: new rows are added, others kept as they are. */
  function renderEntries(): void {
    const kept = new Map<string, HTMLElement>();
    const wanted = entries.map((entry) => {
      const key = rowKey(entry);
      const row = rows.get(key) ?? entryRow(entry);
      kept.set(key, row);
      return row;
    });
    rows = kept;
    let cursor = entryList.firstElementChild;
    for (const row of wanted) {
      if (cursor === row) cursor = cursor.nextElementSibling;
      else entryList.insertBefore(row, cursor);
    }
    while (cursor !== null) {
      const after: Element | null = cursor.nextElementSibling;
      cursor.remove();
      cursor = after;
    }
    emptyNote.hidden = entries.length > 0;
    emptyNote.textContent = loadedFirst ? "No changes yet." : "Loading…";
    moreButton.hidden = next === null;
    markCurrent();
  }

  function markCurrent(): void {
    const rev = shownRev();
    for (const row of entryList.querySelectorAll<HTMLElement>(".history-entry")) {
      const from = Number(row.dataset.fromRev);
      const to = Number(row.dataset.toRev);
      if (from <= rev && rev <= to) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    }
  }

  // load more when the end of the list scrolls into view
  const sentinelObserver = new IntersectionObserver(
    (records) => {
      if (opened && records.some((r) => r.isIntersecting) && next !== null) void loadMore();
    },
    { root: null, rootMargin: "200px" },
  );
  sentinelObserver.observe(moreButton);
  moreButton.addEventListener("click", () => void loadMore());

  // ---- versions -------------------------------------------------------------------------------
  const loadVersions = async (): Promise<void> => {
    try {
      versions = await fetchVersions(options.id, options.token());
    } catch (err) {
      if (!isAbort(err)) showError(errorText(err, "Named versions could not be loaded"));
      return;
    }
    versions.forEach((v) => learnColors(v.author));
    renderVersions();
  };

  function renderVersions(): void {
    versionsSection.hidden = versions.length === 0;
    const sorted = [...versions].sort((a, b) => b.rev - a.rev || b.created_at.localeCompare(a.created_at));
    versionList.replaceChildren(
      ...sorted.map((version) => {
        const row = h(
          "button",
          { type: "button", class: "history-version", "data-testid": "history-version", "data-rev": version.rev },
          h("span", { class: "history-version__name" }, version.name),
          h(
            "span",
            { class: "history-entry__meta" },
            `revision ${version.rev} · `,
            h("time", { datetime: version.created_at }, formatTime(version.created_at)),
            version.author ? ` · ${version.author.name}` : "",
          ),
        );
        row.addEventListener("click", () => {
          stopPlaying();
          void show(version.rev, { keepNewest: true });
        });
        return h("li", {}, row);
      }),
    );
  }

  // ---- what is shown ----------------------------------------------------------------------------
  const shownRev = (): number => shown ?? newest;

  /** Tells the page whether Show authors applies to its live document (open, at now). */
  function updateAuthorsLive(): void {
    const live = opened && showAuthors && shown === null;
    if (live === authorsLive) return;
    authorsLive = live;
    options.onShowAuthorsLive?.(live);
  }

  function sliderText(): string {
    const rev = shownRev();
    if (newest === 0) return "No revisions yet";
    const base = `Revision ${rev} of ${newest}`;
    if (shown === null) return `${base}, now`;
    const entry = entryFor(rev);
    return entry ? `${base}, ${describeEntry(entry)}` : base;
  }

  function updateSlider(): void {
    slider.set(shownRev(), newest, sliderText());
    position.textContent = newest === 0 ? "" : shown === null ? `Now · revision ${newest}` : `Revision ${shown} of ${newest}`;
  }

  function showError(message: string | null): void {
    errorLine.hidden = message === null;
    errorLine.textContent = message ?? "";
  }

  function setPast(on: boolean): void {
    if (past.hidden === !on) return;
    past.hidden = !on;
    options.live.hidden = on;
    options.onPastChange?.(on);
  }

  function updateBanner(rev: number): void {
    const entry = entryFor(rev);
    const what = entry ? describeEntry(entry) : `revision ${rev}`;
    bannerText.textContent = `Viewing ${what}${showAuthors ? ", colored by author" : ""}`;
    restoreButton.hidden = !options.canEdit() || shown === null;
  }

  /** Which rendering shows `rev`: the changes of its entry so far, or everything by author. */
  function rangeFor(rev: number): { from: number; to: number; exact: boolean } {
    if (showAuthors) return { from: 0, to: rev, exact: true };
    const entry = entryFor(rev);
    return { from: entry ? entry.from_rev - 1 : rev - 1, to: rev, exact: entry !== undefined };
  }

  function rendering(from: number, to: number, signal?: AbortSignal): Promise<HTMLElement> {
    const key = `${from}:${to}`;
    const cached = cache.get(key);
    if (cached !== undefined) {
      // most recently used last
      cache.delete(key);
      cache.set(key, cached);
      return Promise.resolve(cached);
    }
    const running = inflight.get(key);
    // a request of a step given up on is being aborted: not worth waiting for
    if (running !== undefined && !running.signal?.aborted) return running.promise;
    const promise = fetchChanges(options.id, options.token(), from, to, signal).then((holder) => {
      cache.set(key, holder);
      while (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      return holder;
    });
    const entry = { promise, signal };
    inflight.set(key, entry);
    promise
      .finally(() => {
        if (inflight.get(key) === entry) inflight.delete(key);
      })
      .catch(() => undefined);
    return promise;
  }

  function display(holder: HTMLElement): void {
    const copy = holder.cloneNode(true) as HTMLElement;
    colorChanges(copy, colors);
    for (const link of copy.querySelectorAll("a[href]")) {
      link.setAttribute("target", "_blank");
      link.setAttribute("rel", "noopener noreferrer");
    }
    doc.replaceChildren(...Array.from(copy.childNodes));
    doc.classList.toggle("is-empty", !doc.textContent?.trim());
    doc.dataset.mode = showAuthors ? "authors" : "changes";
  }

  /**
   * Shows revision `rev` (null: now). Resolves when it is on screen (or failed, or was
   * superseded). `step`: a slider step, or the same revision shown again: the slider steps
   * queued meanwhile still apply (anything else drops them).
   */
  async function show(rev: number | null, opts: { keepNewest?: boolean; step?: boolean } = {}): Promise<void> {
    if (!opts.step) viewGen++;
    if (rev !== null) rev = Math.max(1, Math.min(rev, Math.max(newest, 1)));
    // the newest revision picked on the slider is "now"; from the list it is that entry
    if (rev !== null && rev >= newest && !opts.keepNewest) rev = null;
    shown = rev;
    updateAuthorsLive();
    updateSlider();
    markCurrent();
    showError(null);
    const seq = ++renderSeq;
    if (rev === null) {
      renderController?.abort();
      renderController = null;
      doc.removeAttribute("aria-busy");
      setPast(false);
      return;
    }
    const target = rev;
    updateBanner(target);
    const range = rangeFor(target);
    renderController?.abort();
    const controller = new AbortController();
    renderController = controller;
    doc.setAttribute("aria-busy", "true");
    try {
      const holder = await rendering(range.from, range.to, controller.signal);
      if (seq !== renderSeq) return;
      display(holder);
      doc.setAttribute("data-rev", String(target));
      setPast(true);
    } catch (err) {
      if (seq !== renderSeq || isAbort(err)) return;
      showError(errorText(err, `Revision ${target} could not be shown`));
      setPast(true);
      return;
    } finally {
      if (seq === renderSeq) doc.removeAttribute("aria-busy");
    }
    if (!range.exact) {
      // its entry was not loaded yet: load it, then show the entry's changes
      void loadUntil(target).then(() => {
        if (seq === renderSeq && entryFor(target) !== undefined) void show(shown, { keepNewest: true, step: true });
      });
    }
  }

  /**
   * The slider's keys: one entry back or forward, the first revision, now. Steps run in order,
   * each from the revision the one before asked for (`shown` is set at once): a step waits only
   * for the entries it needs, never for a rendering (a newer step supersedes that). A step
   * queued before the view moved on otherwise (`viewGen`) is dropped.
   */
  let stepping: Promise<void> = Promise.resolve();
  function step(key: SliderKey): Promise<void> {
    const gen = viewGen;
    const current = (): boolean => gen === viewGen && !destroyed;
    const go = (rev: number | null, opts: { keepNewest?: boolean } = {}): void => {
      if (current()) void show(rev, { ...opts, step: true });
    };
    stepping = stepping.then(async () => {
      if (!current()) return;
      const rev = shownRev();
      if (key === "first") return go(1);
      if (key === "last") return go(null);
      if (key === "page-back" || key === "page-forward") {
        const jump = Math.max(1, Math.round(newest / 10));
        return go(key === "page-back" ? rev - jump : rev + jump);
      }
      if (key === "back") {
        if (rev <= 1) return;
        if (entryFor(rev) === undefined) await loadUntil(rev);
        // the end of the entry before the one holding rev (entries are contiguous); its entry
        // unknown (loading failed): one revision back
        const holding = entryFor(rev);
        return go(holding ? Math.max(1, holding.from_rev - 1) : rev - 1, { keepNewest: true });
      }
      if (shown === null) return;
      if (entryFor(rev + 1) === undefined) await loadUntil(rev + 1);
      const following = entryFor(rev + 1);
      return go(following ? following.to_rev : rev + 1);
    });
    return stepping.catch(() => undefined);
  }

  // ---- playback ----------------------------------------------------------------------------------
  function setPlaying(on: boolean): void {
    playing = on;
    playButton.textContent = on ? "Pause" : "Play";
    playButton.setAttribute("aria-pressed", String(on));
    if (!on && playTimer !== null) {
      clearTimeout(playTimer);
      playTimer = null;
    }
  }

  function stopPlaying(): void {
    if (playing) setPlaying(false);
  }

  function prefetch(rev: number): void {
    const range = rangeFor(rev);
    rendering(range.from, range.to).catch(() => undefined);
  }

  async function play(): Promise<void> {
    if (newest < 1) return;
    setPlaying(true);
    const start = shown === null || shown >= newest ? 1 : shown;
    const span = Math.max(1, newest - start);
    const stride = Math.max(1, Math.ceil(span / MAX_TICKS));
    void loadUntil(start);
    if (shown !== start) {
      prefetch(Math.min(start + stride, newest));
      await show(start, { keepNewest: true });
    }
    const tick = async (): Promise<void> => {
      playTimer = null;
      if (!playing) return;
      const began = performance.now();
      const current = shownRev();
      const upcoming = Math.min(current + stride, newest);
      if (upcoming + stride < newest) prefetch(Math.min(upcoming + stride, newest));
      if (upcoming >= newest) {
        // the end: the live document
        setPlaying(false);
        await show(null);
        return;
      }
      await show(upcoming, { keepNewest: true });
      if (!playing) return;
      const interval = TICK_MS / Number(speed.value || "1");
      playTimer = setTimeout(() => void tick(), Math.max(0, interval - (performance.now() - began)));
    };
    if (playing) playTimer = setTimeout(() => void tick(), TICK_MS / Number(speed.value || "1"));
  }

  playButton.addEventListener("click", () => {
    if (playing) setPlaying(false);
    else void play();
  });

  // Show authors colors the revision shown by who wrote it. At now it colors the live document
  // where the page can (the editor: onShowAuthorsLive), else it shows the newest revision so
  // (the viewer page, which has no CRDT to color)
  authorsButton.addEventListener("click", () => {
    showAuthors = !showAuthors;
    authorsButton.setAttribute("aria-pressed", String(showAuthors));
    if (shown !== null || (showAuthors && !options.onShowAuthorsLive)) {
      void show(shownRev(), { keepNewest: true });
    }
    updateAuthorsLive();
  });

  // ---- restore ------------------------------------------------------------------------------------
  /** Closes the restore dialog if it is open (answering Cancel); destroy() uses it. */
  let closeDialog: (() => void) | null = null;

  function confirmRestore(rev: number, what: string): Promise<boolean> {
    return new Promise((resolve) => {
      const titleId = `history-restore-title-${n}`;
      const confirm = h("button", { type: "submit", class: "button button--primary", "data-testid": "history-restore-confirm" }, "Restore");
      const cancel = h("button", { type: "button", class: "button", "data-testid": "history-restore-cancel" }, "Cancel");
      const form = h(
        "form",
        { method: "dialog" },
        h("h2", { id: titleId }, "Restore this version?"),
        h(
          "p",
          {},
          `The document becomes as it was at revision ${rev} (${what}) for everyone editing it. Nothing is lost: the restore is added to the history and can be undone the same way.`,
        ),
        h("div", { class: "dialog__actions" }, cancel, confirm),
      );
      const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId, "data-testid": "history-restore-dialog" }, form);
      let done = false;
      const finish = (answer: boolean): void => {
        if (done) return;
        done = true;
        if (closeDialog === cancelDialog) closeDialog = null;
        dialog.close();
        dialog.remove();
        resolve(answer);
      };
      const cancelDialog = (): void => finish(false);
      closeDialog = cancelDialog;
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        finish(true);
      });
      cancel.addEventListener("click", () => finish(false));
      dialog.addEventListener("cancel", (e) => {
        e.preventDefault();
        finish(false);
      });
      dialog.addEventListener("close", () => finish(false));
      document.body.append(dialog);
      dialog.showModal();
      cancel.focus();
    });
  }

  restoreButton.addEventListener("click", async () => {
    if (shown === null || !options.canEdit()) return;
    stopPlaying();
    const rev = shown;
    const entry = entryFor(rev);
    const ok = await confirmRestore(rev, entry ? describeEntry(entry) : `revision ${rev}`);
    if (destroyed) return;
    if (!ok) {
      restoreButton.focus();
      return;
    }
    restoreButton.disabled = true;
    try {
      const made = await restoreRevision(options.id, options.token(), rev, options.author?.() ?? null);
      setNewest(made);
      await show(null);
      note.textContent = `Restored revision ${rev}.`;
      slider.focus();
      refreshEntries();
    } catch (err) {
      showError(errorText(err, "The version could not be restored"));
    } finally {
      restoreButton.disabled = false;
    }
  });

  backButton.addEventListener("click", () => {
    stopPlaying();
    void show(null);
    slider.focus();
  });

  // ---- naming a version ---------------------------------------------------------------------------
  const setNameError = (message: string | null): void => {
    nameError.hidden = message === null;
    nameError.textContent = message ?? "";
  };
  const closeNameForm = (): void => {
    nameForm.hidden = true;
    setNameError(null);
    nameButton.hidden = !options.canEdit();
  };
  nameButton.addEventListener("click", () => {
    nameForm.hidden = false;
    nameButton.hidden = true;
    nameInput.value = "";
    setNameError(null);
    nameInput.focus();
  });
  nameForm.querySelector("[data-action=cancel]")?.addEventListener("click", () => {
    closeNameForm();
    nameButton.focus();
  });
  nameForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = nameInput.value.trim();
    if (!name) {
      setNameError("Give the version a name.");
      nameInput.focus();
      return;
    }
    const submit = nameForm.querySelector<HTMLButtonElement>("button[type=submit]");
    if (submit) submit.disabled = true;
    try {
      const version = await createVersion(options.id, options.token(), name, shown, options.author?.() ?? null);
      learnColors(version.author);
      versions = [...versions.filter((v) => v.id !== version.id), version];
      renderVersions();
      closeNameForm();
      note.textContent = `Named revision ${version.rev} “${version.name}”.`;
      nameButton.focus();
    } catch (err) {
      setNameError(errorText(err, "The version could not be named"));
      nameInput.focus();
    } finally {
      if (submit) submit.disabled = false;
    }
  });

  // ---- opening and closing ------------------------------------------------------------------------
  const poll = async (): Promise<void> => {
    try {
      const rev = await fetchNewestRev(options.id, options.token());
      if (rev > newest) {
        setNewest(rev);
        refreshEntries();
      }
    } catch {
      // the next poll or activity will tell
    }
  };

  function open(): void {
    if (opened || destroyed) return;
    opened = true;
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    document.body.classList.add("history-open");
    nameButton.hidden = !options.canEdit();
    closeNameForm();
    showError(null);
    note.textContent = "";
    if (!loadedFirst || Date.now() - prefetchedAt > PREFETCH_FRESH_MS) void loadFirstPage();
    else refreshEntries();
    void poll();
    void loadVersions();
    pollTimer = setInterval(() => void poll(), POLL_MS);
    updateSlider();
    updateAuthorsLive();
    slider.focus();
  }

  function close(): void {
    if (!opened) return;
    const hadFocus = panel.contains(document.activeElement) || past.contains(document.activeElement);
    opened = false;
    stopPlaying();
    void show(null);
    updateAuthorsLive();
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    document.body.classList.remove("history-open");
    if (pollTimer !== null) clearInterval(pollTimer);
    pollTimer = null;
    refreshEntries.cancel();
    if (hadFocus || document.activeElement === document.body) button.focus();
  }

  button.addEventListener("click", () => (opened ? close() : open()));
  // the first page before the click: shown at once when the view opens
  const prefetchFirst = (): void => {
    if (!opened && Date.now() - prefetchedAt > PREFETCH_FRESH_MS) void loadFirstPage();
  };
  button.addEventListener("pointerenter", prefetchFirst);
  button.addEventListener("focus", prefetchFirst);
  closeButton.addEventListener("click", close);

  const onKeyDown = (e: KeyboardEvent): void => {
    if (e.altKey && e.shiftKey && !e.ctrlKey && !e.metaKey && e.code === "KeyH") {
      e.preventDefault();
      if (opened) close();
      else open();
      return;
    }
    if (e.key !== "Escape" || !opened || e.defaultPrevented) return;
    if (document.querySelector("dialog[open]")) return; // the dialog's own Escape
    // only from the view itself (or nothing focused): Escape in the editor is the editor's
    const focused = document.activeElement;
    const inView = panel.contains(focused) || past.contains(focused);
    if (!inView && focused !== null && focused !== document.body) return;
    if (!nameForm.hidden && nameForm.contains(document.activeElement)) {
      e.preventDefault();
      closeNameForm();
      nameButton.focus();
      return;
    }
    e.preventDefault();
    close();
  };
  document.addEventListener("keydown", onKeyDown);

  updateSlider();

  return {
    button,
    panel,
    past,
    get showingPast() {
      return !past.hidden;
    },
    get isOpen() {
      return opened;
    },
    open,
    close,
    onActivity(item) {
      if (item.toRev === null || item.toRev <= newest) return;
      setNewest(item.toRev);
      if (opened) refreshEntries();
    },
    destroy() {
      destroyed = true;
      stopPlaying();
      renderController?.abort();
      if (pollTimer !== null) clearInterval(pollTimer);
      refreshEntries.cancel();
      sentinelObserver.disconnect();
      closeDialog?.();
      document.removeEventListener("keydown", onKeyDown);
      document.body.classList.remove("history-open");
      button.remove();
      panel.remove();
      past.remove();
    },
  };
}
