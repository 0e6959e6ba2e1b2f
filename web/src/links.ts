/** Shareable links. Tokens travel in the URL fragment, which browsers never send to a server. */
import { findDoc } from "./doclist";

const origin = (): string => location.origin;

export function editLinkFor(id: string, editToken: string): string {
  return `${origin()}/d/${encodeURIComponent(id)}#${editToken}`;
}

export function viewLinkWithToken(id: string, viewToken: string): string {
  return `${origin()}/v/${encodeURIComponent(id)}#${viewToken}`;
}

/**
 * The view link for a document, or null when this browser does not know its view token
 * (only the browser that created a document gets it, from POST /api/docs).
 */
export async function viewLinkFor(id: string): Promise<string | null> {
  const viewToken = findDoc(id)?.viewToken;
  return viewToken ? viewLinkWithToken(id, viewToken) : null;
}

/** The token in the page's URL fragment, or null. */
export function tokenFromHash(): string | null {
  const raw = location.hash.replace(/^#/, "");
  if (!raw) return null;
  try {
    return decodeURIComponent(raw).trim() || null;
  } catch {
    return raw.trim() || null;
  }
}

/** The document id from a path like /d/{id} or /v/{id}, or null. */
export function docIdFromPath(prefix: "d" | "v"): string | null {
  const m = new RegExp(`^/${prefix}/([^/]+)/?$`).exec(location.pathname);
  if (!m || !m[1]) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}
