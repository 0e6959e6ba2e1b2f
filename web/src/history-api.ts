/**
 * The history API (contract.md, "History"): entries, rendered revisions with their changes marked
 * up, restore and named versions. No Yjs: the viewer page uses it too.
 *
 * Every call can be cancelled with an AbortSignal (a superseded slider step), and a 429 (too many
 * history requests waiting for this document) is retried after its Retry-After, a few times.
 */
import { type Author, BUSY_RETRIES as RETRIES, docUrl, request as apiRequest, requestJson } from "./api";

export interface HistoryEntry {
  from_rev: number;
  to_rev: number;
  /** ISO 8601, UTC */
  started_at: string;
  ended_at: string;
  author: Author | null;
  kind: "edit" | "restore" | string;
  added: number;
  removed: number;
  summary: string;
}

export interface HistoryPage {
  entries: HistoryEntry[];
  /** The `before` of the next (older) page; null: this page reaches the first revision. */
  next: number | null;
}

export interface Version {
  id: string;
  name: string;
  rev: number;
  created_at: string;
  author: Author | null;
}


interface HistoryRequest {
  token: string;
  body?: unknown;
  author?: string | null;
  signal?: AbortSignal | undefined;
}

const request = (method: string, url: string, options: HistoryRequest): Promise<Response> =>
  apiRequest(method, url, { ...options, retries429: RETRIES });

const json = <T>(method: string, url: string, options: HistoryRequest): Promise<T> =>
  requestJson<T>(method, url, { ...options, retries429: RETRIES });

/** Entries newest first, those ending before revision `before` (all: without it). */
export function fetchHistory(
  id: string,
  token: string,
  page: { limit: number; before?: number | null },
  signal?: AbortSignal,
): Promise<HistoryPage> {
  const params = new URLSearchParams({ limit: String(page.limit) });
  if (page.before != null) params.set("before", String(page.before));
  return json<HistoryPage>("GET", `${docUrl(id)}/history?${params}`, { token, signal });
}

/** Elements and attributes dropped from a rendering, whatever the server sent. */
const UNSAFE = "script, style, link, meta, iframe, object, embed, frame, frameset, base, form, template";

/**
 * The document at revision `to` (null: now, as the server has it) with what changed after `from` marked up (`<ins>`/`<del>` with
 * `data-author`), as a detached <div>: the body of the server's page, parsed inertly (DOMParser
 * runs nothing), never executed. The server sanitises it through its allow-list; whatever could
 * run or style anything is dropped here too.
 */
export async function fetchChanges(
  id: string,
  token: string,
  from: number,
  to: number | null,
  signal?: AbortSignal,
): Promise<HTMLElement> {
  const params = new URLSearchParams({ from: String(from) });
  if (to !== null) params.set("to", String(to));
  const res = await request("GET", `${docUrl(id)}/changes?${params}`, { token, signal });
  const html = await res.text();
  // the body alone: the page's <style> and CSP <meta> would be refused by this page's CSP
  const body = /<body[^>]*>([\s\S]*)<\/body>/i.exec(html)?.[1] ?? "";
  const parsed = new DOMParser().parseFromString(body, "text/html");
  for (const el of parsed.body.querySelectorAll(UNSAFE)) el.remove();
  for (const el of parsed.body.querySelectorAll("*")) {
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on") || name === "style" || name === "srcdoc") el.removeAttribute(attr.name);
    }
  }
  const holder = document.createElement("div");
  // a copy of the live child list first: adopting a node takes it out of that list
  holder.append(...Array.from(parsed.body.childNodes).map((node) => document.adoptNode(node)));
  return holder;
}

/** Makes the document equal to revision `rev` through one new change; the new newest revision. */
export async function restoreRevision(id: string, token: string, rev: number, author: string | null): Promise<number> {
  const answer = await json<{ rev: number }>("POST", `${docUrl(id)}/restore`, { token, author, body: { rev } });
  return answer.rev;
}

export function createVersion(
  id: string,
  token: string,
  name: string,
  rev: number | null,
  author: string | null,
): Promise<Version> {
  const body = rev === null ? { name } : { name, rev };
  return json<Version>("POST", `${docUrl(id)}/versions`, { token, author, body });
}

export async function fetchVersions(id: string, token: string, signal?: AbortSignal): Promise<Version[]> {
  return (await json<{ versions: Version[] }>("GET", `${docUrl(id)}/versions`, { token, signal })).versions;
}
