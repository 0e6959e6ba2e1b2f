/**
 * A document's Server-Sent Events feed (contract.md, "Read-only viewers"): who is there, what
 * they did, and the document rendered by the server. Plain EventSource, no Yjs.
 *
 * EventSource reconnects by itself after a dropped connection and sends `Last-Event-ID`, so the
 * server replays only the activity missed. It gives up for good on an HTTP error (a 503 while
 * the server restarts, a 401/404 it only reports as "closed"); then this module asks
 * GET /api/docs/{id} what is wrong and, unless the link is dead, opens a new EventSource with
 * `?last_event_id=` after a backoff.
 */
import { ApiError, type Author, fetchAuthor, fetchDoc, type Role } from "./api";
import { cleanName } from "./name";

/** connecting: the first attempt; live: the stream is open; closed: for good (deleted, bad link). */
export type FeedState = "connecting" | "live" | "reconnecting" | "closed";

export interface FeedUser {
  name: string;
  color: string;
  role: Role;
  /** In a burst of changes right now (contract v2; false from servers that do not say). */
  editing: boolean;
}

export interface FeedActivity {
  id: number;
  /** ISO 8601, UTC */
  at: string;
  /** created, join, leave, edit, title (others may come) */
  kind: string;
  user: string;
  summary: string;
  /** Who did it, under their current name and color; null when anonymous (contract v2). */
  author: Author | null;
  /** The revisions an edit or restore covers (contract v2). */
  fromRev: number | null;
  toRev: number | null;
}

export interface FeedContent {
  /** Rendered and sanitised by the server from an allow-list of tags: safe for innerHTML. */
  html: string;
  text: string;
}

export interface FeedOptions {
  id: string;
  token: string;
  /** Shown to others among the people watching; the server says "Viewer" without one. */
  name?: string | null;
  /** The secret of the author this stream acts as (listed under its name), read at each (re)open. */
  author?: () => string | null;
  /**
   * The server refused the author's secret (401): the page replaces it, then the stream opens
   * again with whatever `author` gives (anonymous if it is the refused one again).
   */
  onAuthorRejected?: (secret: string) => Promise<void>;
  onState?: (state: FeedState) => void;
  onPresence?: (users: FeedUser[]) => void;
  onActivity?: (activity: FeedActivity) => void;
  onContent?: (content: FeedContent) => void;
  /** The server no longer has the activity missed: forget it, the full history follows. */
  onReset?: (reason: string) => void;
  /** The document was deleted; the feed is closed. */
  onDeleted?: () => void;
  /** The token stopped working (401) or the document is gone (404); the feed is closed. */
  onRejected?: (status: number) => void;
}

export interface Feed {
  readonly state: FeedState;
  destroy(): void;
}

const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;

function parse(data: unknown): Record<string, unknown> | null {
  if (typeof data !== "string") return null;
  try {
    const value: unknown = JSON.parse(data);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const isString = (v: unknown): v is string => typeof v === "string";

function toUser(value: unknown): FeedUser | null {
  if (!value || typeof value !== "object") return null;
  const { name, color, role, editing } = value as Record<string, unknown>;
  if (!isString(name) || !isString(color) || (role !== "edit" && role !== "view")) return null;
  return { name, color, role, editing: editing === true };
}

function toAuthor(value: unknown): Author | null {
  if (!value || typeof value !== "object") return null;
  const { id, name, color } = value as Record<string, unknown>;
  return isString(id) && isString(name) && isString(color) ? { id, name, color } : null;
}

const toRev = (value: unknown): number | null =>
  typeof value === "number" && Number.isSafeInteger(value) ? value : null;

function toActivity(value: Record<string, unknown> | null): FeedActivity | null {
  if (!value) return null;
  const { id, at, kind, user, summary } = value;
  if (typeof id !== "number" || !Number.isSafeInteger(id)) return null;
  if (!isString(at) || !isString(kind) || !isString(user) || !isString(summary)) return null;
  const author = toAuthor(value.author);
  return { id, at, kind, user, summary, author, fromRev: toRev(value.from_rev), toRev: toRev(value.to_rev) };
}

export function feedUrl(
  id: string,
  token: string,
  name?: string | null,
  lastEventId?: string | null,
  author?: string | null,
): string {
  const params = new URLSearchParams({ token });
  if (author) params.set("author", author);
  const cleaned = cleanName(name, "");
  if (cleaned) params.set("name", cleaned);
  if (lastEventId) params.set("last_event_id", lastEventId);
  return `/api/docs/${encodeURIComponent(id)}/events?${params.toString()}`;
}

export function createFeed(options: FeedOptions): Feed {
  let state: FeedState = "connecting";
  let source: EventSource | null = null;
  /** The id of the last activity received, for a reopened stream to resume from. */
  let lastEventId: string | null = null;
  let attempt = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let destroyed = false;
  /** A secret the server refused: never sent again (the stream is anonymous instead). */
  let refusedAuthor: string | null = null;
  const authorSecret = (): string | null => {
    const secret = options.author?.() ?? null;
    return secret !== null && secret !== refusedAuthor ? secret : null;
  };

  const setState = (next: FeedState): void => {
    if (next === state || state === "closed") return;
    state = next;
    options.onState?.(next);
  };

  const closeSource = (): void => {
    if (source === null) return;
    source.close();
    source = null;
  };

  const finish = (): void => {
    closeSource();
    if (timer !== null) clearTimeout(timer);
    timer = null;
    setState("closed");
  };

  const listeners: Record<string, (e: MessageEvent) => void> = {
    presence: (e) => {
      const users = parse(e.data)?.users;
      if (!Array.isArray(users)) return;
      options.onPresence?.(users.map(toUser).filter((u): u is FeedUser => u !== null));
    },
    activity: (e) => {
      if (e.lastEventId) lastEventId = e.lastEventId;
      const activity = toActivity(parse(e.data));
      if (activity) options.onActivity?.(activity);
    },
    content: (e) => {
      const data = parse(e.data);
      if (data && isString(data.html) && isString(data.text)) options.onContent?.({ html: data.html, text: data.text });
    },
    reset: (e) => {
      const reason = parse(e.data)?.reason;
      options.onReset?.(isString(reason) ? reason : "");
    },
    deleted: () => {
      finish(); // before the server ends the stream: a reconnect would only get a 404
      options.onDeleted?.();
    },
    revoked: () => {
      // the token was replaced: ask now (a 401 ends the feed) instead of after the retry
      closeSource();
      if (timer !== null) clearTimeout(timer);
      void reopen();
    },
  };

  const onOpen = (): void => {
    attempt = 0;
    setState("live");
  };

  const onError = (): void => {
    if (source === null) return;
    if (source.readyState === EventSource.CLOSED) {
      // the browser gave up (an HTTP error or a wrong answer): find out why, then try again
      closeSource();
      scheduleReopen();
    } else {
      setState("reconnecting"); // the browser retries by itself
    }
  };

  const open = (): void => {
    if (destroyed || state === "closed") return;
    const es = new EventSource(feedUrl(options.id, options.token, options.name, lastEventId, authorSecret()));
    for (const [type, listener] of Object.entries(listeners)) es.addEventListener(type, listener);
    es.addEventListener("open", onOpen);
    es.addEventListener("error", onError);
    source = es;
  };

  const reopen = async (): Promise<void> => {
    timer = null;
    try {
      await fetchDoc(options.id, options.token);
    } catch (err) {
      if (destroyed || state === "closed") return;
      if (err instanceof ApiError && (err.status === 401 || err.status === 403 || err.status === 404)) {
        finish();
        options.onRejected?.(err.status);
        return;
      }
      scheduleReopen(); // unreachable or a server error: wait longer
      return;
    }
    // the link works: maybe the author does not (a 401 looks the same to EventSource)
    const secret = authorSecret();
    if (secret !== null) {
      try {
        await fetchAuthor(secret);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          refusedAuthor = secret;
          await options.onAuthorRejected?.(secret);
        }
      }
      if (destroyed || state === "closed") return;
    }
    open();
  };

  const scheduleReopen = (): void => {
    if (destroyed || state === "closed" || timer !== null) return;
    setState("reconnecting");
    const base = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt);
    attempt += 1;
    // jitter: after a restart, every viewer must not come back in the same instant
    timer = setTimeout(() => void reopen(), base / 2 + Math.random() * (base / 2));
  };

  // back online: do not wait out the backoff
  const onOnline = (): void => {
    if (timer === null) return;
    clearTimeout(timer);
    void reopen();
  };
  window.addEventListener("online", onOnline);

  open();

  return {
    get state() {
      return state;
    },
    destroy() {
      destroyed = true;
      window.removeEventListener("online", onOnline);
      closeSource();
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}
