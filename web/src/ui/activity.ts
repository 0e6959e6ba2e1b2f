/**
 * The activity feed, newest first: "Ada added 12 characters · 5 s ago". Items are keyed by their
 * id, so a replay after a reconnect adds only what is new; the times are kept fresh.
 */
import { h } from "../dom";
import type { FeedActivity } from "../feed";
import { safeColor } from "./avatar";

/** Items kept; the server replays the last 50 on connect. */
const DEFAULT_LIMIT = 200;
const REFRESH_MS = 5_000;

/** "just now", "12 s ago", "3 min ago", "2 h ago", "4 d ago", then the date. */
export function timeAgo(at: number, now: number = Date.now()): string {
  // the server's clock may be a little ahead of this one
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  if (days < 7) return `${days} d ago`;
  return new Date(at).toLocaleDateString();
}

export interface ActivityList {
  readonly element: HTMLElement;
  /** Adds an item unless one with its id is already there. */
  add(activity: FeedActivity): void;
  /** Forgets every item (the server's "reset": the full history follows). */
  clear(): void;
  destroy(): void;
}

interface Item {
  id: number;
  at: number;
  li: HTMLLIElement;
  time: HTMLTimeElement;
}

export function createActivityList(options: { limit?: number } = {}): ActivityList {
  const limit = options.limit ?? DEFAULT_LIMIT;
  const list = h("ol", { class: "activity__list", "aria-label": "Recent activity" });
  const empty = h("p", { class: "activity__empty muted" }, "Nothing has happened yet.");
  const element = h("div", { class: "activity", "data-testid": "activity" }, list, empty);

  /** Newest first. */
  let items: Item[] = [];
  const ids = new Set<number>();

  const render = (item: Item, now: number): void => {
    item.time.textContent = timeAgo(item.at, now);
  };

  const refresh = (): void => {
    const now = Date.now();
    for (const item of items) render(item, now);
  };

  const add = (activity: FeedActivity): void => {
    if (ids.has(activity.id)) return;
    const parsed = Date.parse(activity.at);
    const at = Number.isNaN(parsed) ? Date.now() : parsed;
    const time = h("time", { class: "activity__time", datetime: activity.at });
    time.title = new Date(at).toLocaleString();
    const li = h(
      "li",
      {
        class: "activity__item",
        "data-testid": "activity-item",
        "data-kind": activity.kind,
        "data-id": activity.id,
        // who did it (contract v2): their author, with its color on the timeline's dot
        "data-author-id": activity.author?.id,
      },
      h("span", { class: "activity__summary" }, activity.summary),
      h("span", { class: "activity__sep", "aria-hidden": "true" }, " · "),
      time,
    );
    // CSSOM, not a style attribute: allowed under the pages' strict style-src
    if (activity.author) li.style.setProperty("--author-color", safeColor(activity.author.color));
    const item: Item = { id: activity.id, at, li, time };
    render(item, Date.now());

    // usually the newest, so it goes first; a replay may bring older ones
    const index = items.findIndex((other) => other.id < activity.id);
    if (index < 0) {
      list.append(li);
      items.push(item);
    } else {
      list.insertBefore(li, items[index]?.li ?? null);
      items.splice(index, 0, item);
    }
    ids.add(activity.id);
    while (items.length > limit) {
      const oldest = items.pop();
      if (oldest) {
        oldest.li.remove();
        ids.delete(oldest.id);
      }
    }
    empty.hidden = true;
  };

  const clear = (): void => {
    items = [];
    ids.clear();
    list.replaceChildren();
    empty.hidden = false;
  };

  const interval = setInterval(refresh, REFRESH_MS);
  const onVisible = (): void => {
    if (document.visibilityState === "visible") refresh();
  };
  document.addEventListener("visibilitychange", onVisible);

  return {
    element,
    add,
    clear,
    destroy() {
      clearInterval(interval);
      document.removeEventListener("visibilitychange", onVisible);
      element.remove();
    },
  };
}
