/**
 * Avatars for everyone in the document (awareness states with a `user`), yourself first; the
 * people in a burst of changes (the event stream's presence, contract v2 `editing`) are marked.
 */
import type { Awareness } from "y-protocols/awareness";
import { h } from "../dom";
import type { FeedUser } from "../feed";
import { cleanName } from "../name";
import { createAvatar, editingLabel, safeColor } from "./avatar";

export interface PresenceView {
  readonly element: HTMLElement;
  /** The event stream's presence: marks who is editing right now. */
  setFeedUsers(users: FeedUser[]): void;
  destroy(): void;
}

/** How the server names an awareness user in presence: its cleaned name and lower-case color. */
const keyOf = (name: string, color: string): string => `${cleanName(name)}\n${color.toLowerCase()}`;

interface AwarenessUser {
  name: string;
  color: string;
}

function userOf(state: Record<string, unknown> | undefined): AwarenessUser | null {
  const user = state?.user;
  if (!user || typeof user !== "object") return null;
  const { name, color } = user as Record<string, unknown>;
  if (typeof name !== "string" || !name.trim()) return null;
  return { name: name.trim(), color: safeColor(color) };
}

/** Most avatars shown before a "+N" chip. */
const MAX_AVATARS = 8;

export function createPresence(
  awareness: Awareness,
  options: { onSelfClick?: () => void } = {},
): PresenceView {
  const element = h("ul", { class: "presence", "data-testid": "presence", "aria-label": "People here" });
  /** name + color of the editors the event stream says are editing. */
  let editingKeys = new Set<string>();
  /** What is shown: caret moves change awareness too, and must not replace the avatars (a
   * click on your own avatar blurs the editor, which moves the caret: a replaced button between
   * mousedown and mouseup gets no click). */
  let shown = "";

  const render = (): void => {
    const selfId = awareness.clientID;
    const entries: { id: number; user: AwarenessUser }[] = [];
    for (const [id, state] of awareness.getStates()) {
      const user = userOf(state);
      if (user) entries.push({ id, user });
    }
    entries.sort((a, b) => (a.id === selfId ? -1 : b.id === selfId ? 1 : a.user.name.localeCompare(b.user.name)));
    const key = JSON.stringify([selfId, [...editingKeys], entries.map((e) => [e.id, e.user.name, e.user.color])]);
    if (key === shown) return;
    shown = key;

    const items = entries.slice(0, MAX_AVATARS).map(({ id, user }) => {
      const self = id === selfId;
      // your own typing needs no telling
      const editing = !self && editingKeys.has(keyOf(user.name, user.color));
      const label = self ? `${user.name} (you)` : editing ? editingLabel(user.name) : user.name;
      const avatar = createAvatar(user.name, user.color, {
        label: self ? `${label}: change your name` : label,
        button: self,
        editing,
      });
      avatar.dataset.testid = "avatar";
      if (self && options.onSelfClick) avatar.addEventListener("click", options.onSelfClick);
      return h("li", {}, avatar);
    });
    if (entries.length > MAX_AVATARS) {
      const rest = entries.slice(MAX_AVATARS).map((e) => e.user.name);
      items.push(h("li", {}, h("span", { class: "avatar avatar--more", title: rest.join(", ") }, `+${rest.length}`)));
    }
    element.replaceChildren(...items);
  };

  // awareness "change" fires on real changes only (not on the 15 s keep-alive renewals)
  awareness.on("change", render);
  render();

  return {
    element,
    setFeedUsers(users) {
      const next = new Set(users.filter((u) => u.role === "edit" && u.editing).map((u) => keyOf(u.name, u.color)));
      if (next.size === editingKeys.size && [...next].every((k) => editingKeys.has(k))) return;
      editingKeys = next;
      render();
    },
    destroy() {
      awareness.off("change", render);
      element.remove();
    },
  };
}
