/** "Your documents": the documents this browser created or opened, in localStorage. */

export interface DocEntry {
  id: string;
  title: string;
  editToken?: string;
  viewToken?: string;
  /** milliseconds since the epoch */
  openedAt: number;
}

const KEY = "swell.docs";

function isEntry(value: unknown): value is DocEntry {
  if (!value || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.id === "string" &&
    typeof v.title === "string" &&
    typeof v.openedAt === "number" &&
    (v.editToken === undefined || typeof v.editToken === "string") &&
    (v.viewToken === undefined || typeof v.viewToken === "string")
  );
}

/** All remembered documents, newest first. */
export function loadDocList(): DocEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(localStorage.getItem(KEY) ?? "[]");
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  return parsed.filter(isEntry).sort((a, b) => b.openedAt - a.openedAt);
}

function save(list: DocEntry[]): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(list));
  } catch {
    // storage full or disabled: the list is a convenience, not data
  }
}

export function findDoc(id: string): DocEntry | undefined {
  return loadDocList().find((d) => d.id === id);
}

/**
 * Adds or updates a document's entry. Fields left undefined keep their stored value, so opening a
 * document through its view link never forgets an edit token this browser already had.
 */
export function rememberDoc(update: {
  id: string;
  title?: string;
  editToken?: string;
  viewToken?: string;
  touch?: boolean;
}): void {
  const list = loadDocList();
  const old = list.find((d) => d.id === update.id);
  const entry: DocEntry = {
    id: update.id,
    title: update.title ?? old?.title ?? "",
    openedAt: update.touch === false && old ? old.openedAt : Date.now(),
  };
  const editToken = update.editToken ?? old?.editToken;
  const viewToken = update.viewToken ?? old?.viewToken;
  if (editToken !== undefined) entry.editToken = editToken;
  if (viewToken !== undefined) entry.viewToken = viewToken;
  save([entry, ...list.filter((d) => d.id !== update.id)]);
}

export function forgetDoc(id: string): void {
  save(loadDocList().filter((d) => d.id !== id));
}

/** Calls `fn` when another tab changes the list. */
export function onDocListChange(fn: () => void): () => void {
  const listener = (e: StorageEvent): void => {
    if (e.key === KEY || e.key === null) fn();
  };
  window.addEventListener("storage", listener);
  return () => window.removeEventListener("storage", listener);
}
