/**
 * Who is there, from the feed's presence events: avatars for the people editing and a count of
 * the people watching (read-only viewers, this one included).
 */
import { h } from "../dom";
import type { FeedUser } from "../feed";
import { createAvatar, editingLabel } from "./avatar";

/** Most avatars shown before a "+N" chip. */
const MAX_AVATARS = 8;

export interface FeedPresenceView {
  readonly element: HTMLElement;
  update(users: FeedUser[]): void;
  destroy(): void;
}

/**
 * The editors, once each (the same person in two tabs shows up twice in presence); someone is
 * editing when any of their entries is.
 */
export function editorsOf(users: FeedUser[]): FeedUser[] {
  const byKey = new Map<string, FeedUser>();
  for (const u of users) {
    if (u.role !== "edit") continue;
    const key = `${u.name}\n${u.color.toLowerCase()}`;
    const seen = byKey.get(key);
    if (seen) seen.editing ||= u.editing;
    else byKey.set(key, { ...u });
  }
  return [...byKey.values()];
}

/** The people watching (the server lists only view-token streams, not editors' own panels). */
export function watchersOf(users: FeedUser[]): FeedUser[] {
  return users.filter((u) => u.role === "view");
}

export function createFeedPresence(): FeedPresenceView {
  const list = h("ul", { class: "presence", "aria-label": "Editors here" });
  /** Who is typing, in words, for screen readers (announced when it changes). */
  const typing = h("span", { class: "visually-hidden", "aria-live": "polite", "data-testid": "viewer-typing" });
  const watching = h("span", { class: "viewers__watching", "data-testid": "viewer-watching" });
  const element = h("div", { class: "viewers", "data-testid": "viewer-presence" }, list, typing, watching);

  const update = (users: FeedUser[]): void => {
    const editors = editorsOf(users);
    const items = editors.slice(0, MAX_AVATARS).map((user) => {
      const avatar = createAvatar(user.name, user.color, {
        label: user.editing ? editingLabel(user.name) : `${user.name}, can edit`,
        editing: user.editing,
      });
      avatar.dataset.testid = "viewer-editor";
      return h("li", {}, avatar);
    });
    if (editors.length > MAX_AVATARS) {
      const rest = editors.slice(MAX_AVATARS).map((u) => u.name);
      items.push(h("li", {}, h("span", { class: "avatar avatar--more", title: rest.join(", ") }, `+${rest.length}`)));
    }
    list.replaceChildren(...items);
    list.hidden = editors.length === 0;
    const names = editors.filter((u) => u.editing).map((u) => u.name);
    const sentence = names.length === 0 ? "" : `${names.join(", ")} ${names.length === 1 ? "is" : "are"} editing`;
    if (typing.textContent !== sentence) typing.textContent = sentence;

    const watchers = watchersOf(users);
    const n = Math.max(1, watchers.length); // this page is watching, whatever the list says
    watching.textContent = `${n} watching`;
    watching.title = watchers.map((u) => u.name).join(", ");
    element.title = editors.length ? "" : "Nobody is editing right now";
  };

  update([]);

  return {
    element,
    update,
    destroy() {
      element.remove();
    },
  };
}
