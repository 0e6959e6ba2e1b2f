/** The feed's connection state: "Live" or "Reconnecting…", with a colored dot. */
import { h } from "../dom";
import type { FeedState } from "../feed";

export const FEED_STATE_TEXT: Record<FeedState, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  closed: "Disconnected",
};

export interface FeedStatusView {
  readonly element: HTMLElement;
  set(state: FeedState): void;
  destroy(): void;
}

export function createFeedStatus(initial: FeedState): FeedStatusView {
  const text = h("span", { class: "status__connection", "data-testid": "viewer-status", role: "status" });
  const element = h(
    "div",
    { class: "status" },
    h("span", { class: "status__dot", "aria-hidden": "true" }),
    text,
    h("span", { class: "status__badge" }, "View only"),
  );
  const set = (state: FeedState): void => {
    text.textContent = FEED_STATE_TEXT[state];
    element.dataset.connection = state;
  };
  set(initial);
  return {
    element,
    set,
    destroy() {
      element.remove();
    },
  };
}
