/** The Swell HTTP API (contract.md): documents, their titles and their tokens; authors. */
import { cleanName } from "./name";

export type Role = "edit" | "view";

export interface DocInfo {
  id: string;
  title: string;
  role: Role;
  created_at: string;
  updated_at: string;
}

export interface CreatedDoc {
  id: string;
  title: string;
  edit_token: string;
  view_token: string;
  created_at: string;
}

/** An HTTP answer other than 2xx; `status` is 0 when the server could not be reached. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** An author (contract v2): who changes are attributed to, as others see them. */
export interface Author {
  id: string;
  name: string;
  color: string;
}

export interface CreatedAuthor extends Author {
  /** Shown once, kept by this browser: the server stores only its hash. */
  secret: string;
}

/**
 * Who is acting, for the document's activity feed ("Ada renamed the document…"): the author
 * (its secret), else a name (anonymous callers).
 */
export interface Actor {
  author?: string | null;
  name?: string | null;
}

const USER_HEADER = "X-Swell-User";
export const AUTHOR_HEADER = "X-Swell-Author";

/** How often the calls that may meet the server's per-document caps try a 429 again. */
export const BUSY_RETRIES = 3;
/** The longest Retry-After honoured between two tries of a 429. */
const MAX_RETRY_WAIT_MS = 5_000;

export interface RequestOptions {
  /** the document token, sent as `Authorization: Bearer` */
  token?: string | null;
  /** this browser's author secret (X-Swell-Author) */
  author?: string | null;
  /** an anonymous caller's name (X-Swell-User), for the activity feed */
  name?: string | null;
  /** sent as JSON */
  body?: unknown;
  /** cancels the request (and a wait before a retry): rejects with an error `isAbort` knows */
  signal?: AbortSignal | undefined;
  /** sent even as the page goes away */
  keepalive?: boolean;
  /**
   * How many times a 429 (too many requests, e.g. history requests waiting for the document)
   * is tried again after its Retry-After (at most 5 s); default: none.
   */
  retries429?: number;
}

/** Whether `err` is the rejection of an aborted request (not worth showing to anyone). */
export function isAbort(err: unknown): boolean {
  return (err instanceof DOMException || err instanceof Error) && err.name === "AbortError";
}

function wait(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * One call of the Swell API: the headers every call sends, fetch, a 429 retried (if asked),
 * and any answer other than 2xx as an ApiError (`status` 0: the server could not be reached).
 * An aborted call rejects with the abort's error (`isAbort`), never an ApiError.
 */
export async function request(method: string, url: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.author) headers[AUTHOR_HEADER] = options.author;
  // the one name rule, then URL-encoded: header values are ISO-8859-1 on the wire, names are not
  const name = cleanName(options.name, "");
  if (name) headers[USER_HEADER] = encodeURIComponent(name);
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const retries = options.retries429 ?? 0;
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? null : JSON.stringify(options.body),
        cache: "no-store",
        credentials: "omit",
        keepalive: options.keepalive === true,
        signal: options.signal ?? null,
      });
    } catch (err) {
      if (isAbort(err) || options.signal?.aborted) throw err;
      throw new ApiError(0, "Swell can’t be reached");
    }
    if (res.status === 429 && attempt < retries) {
      const seconds = Number(res.headers.get("Retry-After") ?? "1");
      const ms = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000;
      await wait(Math.min(ms, MAX_RETRY_WAIT_MS), options.signal);
      continue;
    }
    if (!res.ok) {
      let message = res.status === 429 ? "the server is busy; try again" : res.statusText || `HTTP ${res.status}`;
      try {
        const data: unknown = await res.json();
        if (data && typeof data === "object" && "error" in data && typeof data.error === "string") {
          message = data.error;
        }
      } catch {
        // not JSON: keep the status text
      }
      throw new ApiError(res.status, message);
    }
    return res;
  }
}

/** `request`, and its JSON answer (undefined for a 204). */
export async function requestJson<T>(method: string, url: string, options: RequestOptions = {}): Promise<T> {
  const res = await request(method, url, options);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

async function call<T>(
  method: string,
  url: string,
  token: string | null,
  body?: unknown,
  actor?: Actor,
): Promise<T> {
  return requestJson<T>(method, url, { token, author: actor?.author ?? null, name: actor?.name ?? null, body });
}

/** `/api/docs/{id}`: the document's URL, under which all its calls are. */
export const docUrl = (id: string): string => `/api/docs/${encodeURIComponent(id)}`;

/** The newest revision (GET /api/docs/{id} carries `rev`); 0 when the server does not say. */
export async function fetchNewestRev(
  id: string,
  token: string,
  options: { signal?: AbortSignal; retries429?: number } = {},
): Promise<number> {
  const info = await requestJson<{ rev?: unknown }>("GET", docUrl(id), { token, ...options });
  return typeof info.rev === "number" ? info.rev : 0;
}

/** `actor`: the creator, if known, for the "created" activity. */
export function createDoc(title: string, actor?: Actor): Promise<CreatedDoc> {
  return call<CreatedDoc>("POST", "/api/docs", null, { title }, actor);
}

export function fetchDoc(id: string, token: string): Promise<DocInfo> {
  return call<DocInfo>("GET", docUrl(id), token);
}

/** `actor`: who renames it, if known, for the "title" activity. */
export function renameDoc(id: string, token: string, title: string, actor?: Actor): Promise<DocInfo> {
  return call<DocInfo>("PATCH", docUrl(id), token, { title }, actor);
}

/**
 * A new token for `role` (contract v2, "Tokens can be rotated"); the old one stops working at
 * once: its sockets are closed with 4401 and its event streams end. Needs the edit token.
 */
export async function rotateToken(id: string, editToken: string, role: Role, actor?: Actor): Promise<string> {
  const answer = await call<Record<string, unknown>>("POST", `${docUrl(id)}/tokens`, editToken, { role }, actor);
  const token = answer[role === "edit" ? "edit_token" : "view_token"];
  if (typeof token !== "string" || !token) throw new ApiError(500, "the server sent no new token");
  return token;
}

/** POST /api/authors: a new author, with the secret that acts as it (401 never: anyone may). */
export function createAuthor(name: string, color: string): Promise<CreatedAuthor> {
  return call<CreatedAuthor>("POST", "/api/authors", null, { name, color });
}

/** GET /api/authors/me: the author of `secret` (an ApiError 401 when nobody has it). */
export function fetchAuthor(secret: string): Promise<Author> {
  return call<Author>("GET", "/api/authors/me", null, undefined, { author: secret });
}

/** PATCH /api/authors/me: rename or recolor; everyone's presence follows at once. */
export function updateAuthor(secret: string, changes: { name?: string; color?: string }): Promise<Author> {
  return call<Author>("PATCH", "/api/authors/me", null, changes, { author: secret });
}
