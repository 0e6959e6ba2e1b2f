/**
 * Read marks and unread summaries (issue 11, "what changed since you last looked"): typed calls
 * for PUT/GET /api/docs/{id}/read, POST /api/unread and GET /api/docs/{id}/attribution.
 * No editing stack here: the viewer page imports it.
 */
import { type Author, BUSY_RETRIES, docUrl, requestJson, type RequestOptions } from "./api";

/** An author's read mark on a document: the newest revision they have seen (0: never read). */
export interface ReadMark {
  rev: number;
  /** ISO 8601, null when never read */
  read_at: string | null;
}

export interface LastEdit {
  rev: number;
  /** ISO 8601 */
  at: string;
  author: Author | null;
}

/** One document of POST /api/unread, as the server knows it. */
export interface UnreadDoc {
  id: string;
  title: string;
  rev: number;
  updated_at: string;
  /** this author's mark; null when they never read it (or no author was sent) */
  read_rev: number | null;
  /** changed since this author's mark */
  unread: boolean;
  last_edit: LastEdit | null;
}

export interface UnreadError {
  id: string;
  error: "not found" | "invalid token" | string;
}

export type UnreadAnswer = UnreadDoc | UnreadError;

export const isUnreadError = (answer: UnreadAnswer): answer is UnreadError => "error" in answer;

/** A Yjs id range: [client, clock, length]. */
export type IdRange = [number, number, number];

export interface AttributedChange {
  author: Author | null;
  /** the ids this author inserted (and still in the document) after `from` */
  inserted: IdRange[];
  /** the ids this author deleted after `from` */
  deleted: IdRange[];
}

export interface Attribution {
  from: number;
  to: number;
  changes: AttributedChange[];
  truncated: boolean;
}

/** POST /api/unread takes at most this many documents per call. */
export const UNREAD_BATCH = 100;

/** The API's request, a 429 (the server's caps on history work) tried again a few times. */
const call = <T>(method: string, url: string, options: RequestOptions = {}): Promise<T> =>
  requestJson<T>(method, url, { retries429: BUSY_RETRIES, ...options });

/**
 * PUT /api/docs/{id}/read: moves this author's mark forward to `rev` (default: the newest
 * revision); the answer is the mark now (it never moves back).
 */
export function putReadMark(
  id: string,
  token: string,
  author: string,
  rev?: number,
  options: { keepalive?: boolean } = {},
): Promise<ReadMark> {
  return call<ReadMark>("PUT", `${docUrl(id)}/read`, {
    token,
    author,
    body: rev === undefined ? {} : { rev },
    keepalive: options.keepalive === true,
  });
}

/** GET /api/docs/{id}/read: this author's mark (rev 0 when never read). */
export function getReadMark(id: string, token: string, author: string): Promise<ReadMark> {
  return call<ReadMark>("GET", `${docUrl(id)}/read`, { token, author });
}

/**
 * POST /api/unread: what changed in each document, in request order, for this author (if
 * any); more than UNREAD_BATCH documents are asked in several calls.
 */
export async function fetchUnread(
  docs: { id: string; token: string }[],
  author: string | null,
  signal?: AbortSignal,
): Promise<UnreadAnswer[]> {
  const answers: UnreadAnswer[] = [];
  for (let i = 0; i < docs.length; i += UNREAD_BATCH) {
    const batch = docs.slice(i, i + UNREAD_BATCH);
    const answer = await call<{ docs: UnreadAnswer[] }>("POST", "/api/unread", {
      author,
      body: { docs: batch },
      signal,
    });
    answers.push(...answer.docs);
  }
  return answers;
}

/** GET /api/docs/{id}/attribution: who inserted and deleted which Yjs ids after `from`. */
export function fetchAttribution(id: string, token: string, from: number, to?: number): Promise<Attribution> {
  const query = new URLSearchParams({ from: String(from) });
  if (to !== undefined) query.set("to", String(to));
  return call<Attribution>("GET", `${docUrl(id)}/attribution?${query.toString()}`, { token });
}
