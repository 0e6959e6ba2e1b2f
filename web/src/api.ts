/** The Swell HTTP API (contract.md): documents, their titles and their tokens. */
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

/** Who is acting, for the document's activity feed ("Ada renamed the document…"). */
const USER_HEADER = "X-Swell-User";

async function call<T>(
  method: string,
  url: string,
  token: string | null,
  body?: unknown,
  user?: string | null,
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  // the one name rule, then URL-encoded: header values are ISO-8859-1 on the wire, names are not
  const name = cleanName(user, "");
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

/** `user`: the creator's name, if known, for the "created" activity. */
export function createDoc(title: string, user?: string | null): Promise<CreatedDoc> {
  return call<CreatedDoc>("POST", "/api/docs", null, { title }, user);
}

export function fetchDoc(id: string, token: string): Promise<DocInfo> {
  return call<DocInfo>("GET", docUrl(id), token);
}

/** `user`: who renames it, if known, for the "title" activity. */
export function renameDoc(id: string, token: string, title: string, user?: string | null): Promise<DocInfo> {
  return call<DocInfo>("PATCH", docUrl(id), token, { title }, user);
}

/**
 * A new token for `role` (contract v2, "Tokens can be rotated"); the old one stops working at
 * once: its sockets are closed with 4401 and its event streams end. Needs the edit token.
 */
export async function rotateToken(id: string, editToken: string, role: Role): Promise<string> {
  const answer = await call<Record<string, unknown>>("POST", `${docUrl(id)}/tokens`, editToken, { role });
  const token = answer[role === "edit" ? "edit_token" : "view_token"];
  if (typeof token !== "string" || !token) throw new ApiError(500, "the server sent no new token");
  return token;
}
