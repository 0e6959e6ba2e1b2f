/** A round avatar with a person's initials on their color (presence lists on every page). */
import { h } from "../dom";
import { initialsOf } from "../user";

export const FALLBACK_COLOR = "#868e96";

/** The color if the browser accepts it as a CSS color, else a neutral grey. */
export function safeColor(color: unknown): string {
  return typeof color === "string" && CSS.supports("color", color) ? color : FALLBACK_COLOR;
}

export interface AvatarOptions {
  /** The accessible name; defaults to the name. */
  label?: string;
  /** A button (e.g. "change your name") instead of an image. */
  button?: boolean;
}

export function createAvatar(name: string, color: string, options: AvatarOptions = {}): HTMLElement {
  const label = options.label ?? name;
  const avatar = options.button
    ? h("button", { type: "button", class: "avatar avatar--self", "aria-label": label })
    : h("span", { class: "avatar", role: "img", "aria-label": label });
  avatar.title = name;
  avatar.style.backgroundColor = safeColor(color);
  avatar.textContent = initialsOf(name);
  return avatar;
}
