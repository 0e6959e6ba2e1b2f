/**
 * This browser's author (contract v2, "Authors"): created once, when the person first gives a
 * name, and kept as its secret in localStorage `swell.author`. Every socket, event stream and
 * REST write of this browser acts as it; what others see of the person (presence, activity) is
 * the author's name and color, kept by the server. A secret the server no longer knows (401)
 * is replaced by a new author.
 */
import { ApiError, type Author, createAuthor, fetchAuthor, updateAuthor } from "./api";
import { cleanUser, type User } from "./user";

export const AUTHOR_KEY = "swell.author";

/** The author this browser acts as; `author` is null when the server could not confirm it. */
export interface Identity {
  secret: string | null;
  author: Author | null;
}

export function loadAuthorSecret(): string | null {
  try {
    const raw: unknown = JSON.parse(localStorage.getItem(AUTHOR_KEY) ?? "null");
    if (raw && typeof raw === "object" && "secret" in raw && typeof raw.secret === "string" && raw.secret) {
      return raw.secret;
    }
  } catch {
    // unreadable: as if there were none
  }
  return null;
}

function saveAuthorSecret(secret: string | null): void {
  try {
    if (secret === null) localStorage.removeItem(AUTHOR_KEY);
    else localStorage.setItem(AUTHOR_KEY, JSON.stringify({ secret }));
  } catch {
    // storage disabled: this page acts as the author until it is closed
  }
}

const rejected = (err: unknown): boolean => err instanceof ApiError && err.status === 401;

/** A new author for `user`; the identity without one when the server cannot be reached. */
async function create(user: User): Promise<Identity> {
  const wanted = cleanUser(user);
  try {
    const created = await createAuthor(wanted.name, wanted.color);
    saveAuthorSecret(created.secret);
    return { secret: created.secret, author: { id: created.id, name: created.name, color: created.color } };
  } catch {
    return { secret: loadAuthorSecret(), author: null };
  }
}

/**
 * The author to act as for `user`, checked with the server: the stored one if the server knows
 * it (renamed to `user` if a rename made offline never reached it), else a new one. Offline,
 * the stored secret is used unchecked (or none).
 */
export async function ensureAuthor(user: User): Promise<Identity> {
  const secret = loadAuthorSecret();
  if (secret === null) return create(user);
  try {
    const author = await fetchAuthor(secret);
    const wanted = cleanUser(user);
    if (author.name === wanted.name && author.color === wanted.color) return { secret, author };
    return { secret, author: await updateAuthor(secret, { name: wanted.name, color: wanted.color }) };
  } catch (err) {
    if (rejected(err)) return replaceAuthor(secret, user);
    return { secret, author: null };
  }
}

/**
 * `secret` was refused: a new author for `user`, unless another tab of this browser already
 * replaced it (then that one).
 */
export async function replaceAuthor(secret: string, user: User | null): Promise<Identity> {
  const stored = loadAuthorSecret();
  if (stored !== null && stored !== secret) return { secret: stored, author: null };
  if (user === null) {
    saveAuthorSecret(null);
    return { secret: null, author: null };
  }
  return create(user);
}

/**
 * Renames (and recolors) this browser's author, creating it on a first name or when its secret
 * was refused. The answer is what others now see.
 */
export async function renameAuthor(user: User): Promise<Identity> {
  const secret = loadAuthorSecret();
  if (secret === null) return create(user);
  const wanted = cleanUser(user);
  try {
    return { secret, author: await updateAuthor(secret, { name: wanted.name, color: wanted.color }) };
  } catch (err) {
    if (rejected(err)) return replaceAuthor(secret, user);
    return { secret, author: null };
  }
}

/** The stored secret without asking the server (a refused one is replaced on the 401). */
export async function currentAuthor(user: User | null): Promise<string | null> {
  const secret = loadAuthorSecret();
  if (secret !== null || user === null) return secret;
  return (await create(user)).secret;
}
