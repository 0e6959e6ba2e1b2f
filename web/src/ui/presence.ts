/** Avatars for everyone in the document (awareness states with a `user`), yourself first. */
import type { Awareness } from "y-protocols/awareness";
import { h } from "../dom";
import { createAvatar, safeColor } from "./avatar";

export interface PresenceView {
  readonly element: HTMLElement;
  destroy(): void;
}

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

  const render = (): void => {
    const selfId = awareness.clientID;
    const entries: { id: number; user: AwarenessUser }[] = [];
    for (const [id, state] of awareness.getStates()) {
      const user = userOf(state);
      if (user) entries.push({ id, user });
    }
    entries.sort((a, b) => (a.id === selfId ? -1 : b.id === selfId ? 1 : a.user.name.localeCompare(b.user.name)));

    const items = entries.slice(0, MAX_AVATARS).map(({ id, user }) => {
      const self = id === selfId;
      const label = self ? `${user.name} (you)` : user.name;
      const avatar = createAvatar(user.name, user.color, {
        label: self ? `${label}: change your name` : label,
        button: self,
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
    destroy() {
      awareness.off("change", render);
      element.remove();
    },
  };
}
