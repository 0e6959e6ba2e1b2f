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

async function call<T>(
  method: string,
  url: string,
  token: string | null,
  body?: unknown,
  actor?: Actor,
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  if (actor?.author) headers[AUTHOR_HEADER] = actor.author;
  // the one name rule, then URL-encoded: header values are ISO-8859-1 on the wire, names are not
  const name = cleanName(actor?.name, "");
  if (name) headers[USER_HEADER] = encodeURIComponent(name);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (err) {
    throw new ApiError(0, err instanceof Error ? err.message : "network error");
  }
  if (!res.ok) {
    let message = res.statusText || `HTTP ${res.status}`;
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
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

const docUrl = (id: string): string => `/api/docs/${encodeURIComponent(id)}`;

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
