/** A round avatar with a person's initials on their color (presence lists on every page). */
import { h } from "../dom";
import { initialsOf } from "../user";

export const FALLBACK_COLOR = "#868e96";

/** The color if the browser accepts it as a CSS color, else a neutral grey. */
export function safeColor(color: unknown): string {
  return typeof color === "string" && CSS.supports("color", color) ? color : FALLBACK_COLOR;
}

/** What names an author nobody knows the name of (anonymous changes, an empty name). */
export const SOMEONE = "Someone";

/** An author's name as pages show it: "Someone" for none, or an empty one. */
export const authorName = (author: { name?: string | null } | null | undefined): string => author?.name || SOMEONE;

/** An author's color as pages show it (goes into CSS): a neutral grey unless a valid one. */
export const authorColor = (author: { color?: unknown } | null | undefined): string => safeColor(author?.color);

export interface AvatarOptions {
  /** The accessible name; defaults to the name. */
  label?: string;
  /** A button (e.g. "change your name") instead of an image. */
  button?: boolean;
  /** In a burst of changes right now: a pulsing ring and a pencil badge. */
  editing?: boolean;
}

/** The accessible name of someone who is typing right now. */
export const editingLabel = (name: string): string => `${name}, editing now`;

export function createAvatar(name: string, color: string, options: AvatarOptions = {}): HTMLElement {
  const label = options.label ?? name;
  const avatar = options.button
    ? h("button", { type: "button", class: "avatar avatar--self", "aria-label": label })
    : h("span", { class: "avatar", role: "img", "aria-label": label });
  avatar.title = name;
  // CSSOM, not a style attribute: allowed under a strict style-src too
  avatar.style.backgroundColor = safeColor(color);
  avatar.textContent = initialsOf(name);
  setAvatarEditing(avatar, options.editing === true);
  return avatar;
}

/** Marks an avatar as editing (data-editing="true"|"false"); the label is the caller's. */
export function setAvatarEditing(avatar: HTMLElement, editing: boolean): void {
  avatar.dataset.editing = String(editing);
  avatar.classList.toggle("avatar--editing", editing);
}
