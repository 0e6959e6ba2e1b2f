/** The local user's display name and caret color, kept in localStorage `swell.user`. */
import { cleanColor, cleanName } from "./name";

export interface User {
  name: string;
  color: string;
}

const KEY = "swell.user";

/** Colors readable behind white text in both themes. */
export const USER_COLORS = [
  "#d9480f",
  "#c2255c",
  "#9c36b5",
  "#6741d9",
  "#3b5bdb",
  "#1971c2",
  "#0c8599",
  "#099268",
  "#2f9e44",
  "#e8590c",
] as const;

export function randomColor(): string {
  return USER_COLORS[Math.floor(Math.random() * USER_COLORS.length)] ?? USER_COLORS[0];
}

export function loadUser(): User | null {
  try {
    const raw: unknown = JSON.parse(localStorage.getItem(KEY) ?? "null");
    if (!raw || typeof raw !== "object") return null;
    const { name, color } = raw as Record<string, unknown>;
    const cleaned = cleanName(name, "");
    if (!cleaned) return null;
    return { name: cleaned, color: cleanColor(color) ?? randomColor() };
  } catch {
    return null;
  }
}

/** The user as this app sends it: the name by the one name rule, the color `#rrggbb`. */
export function cleanUser(user: User): User {
  return { name: cleanName(user.name), color: cleanColor(user.color) ?? randomColor() };
}

export function saveUser(user: User): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(cleanUser(user)));
  } catch {
    // storage disabled: the name lasts for this page only
  }
}

/** Up to two letters for an avatar: "Ada Lovelace" → "AL", "zoë" → "Z". */
export function initialsOf(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const first = (w: string | undefined): string => (w ? Array.from(w)[0] ?? "" : "");
  const letters = words.length > 1 ? first(words[0]) + first(words[words.length - 1]) : first(words[0]);
  return letters.toLocaleUpperCase() || "?";
}
