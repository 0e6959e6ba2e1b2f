/**
 * The "Activity" side panel around an activity list, with a button that folds it away.
 * The panel owns the list: destroying the panel destroys it.
 */
import { h } from "../dom";
import type { ActivityList } from "./activity";

export interface ActivityPanel {
  readonly element: HTMLElement;
  destroy(): void;
}

let panels = 0;

export function createActivityPanel(list: ActivityList, options: { collapsed?: boolean } = {}): ActivityPanel {
  const bodyId = `activity-panel-${++panels}`;
  const toggle = h(
    "button",
    {
      type: "button",
      class: "side-panel__toggle",
      "data-testid": "activity-toggle",
      "aria-controls": bodyId,
    },
    h("span", { class: "side-panel__title" }, "Activity"),
    h("span", { class: "side-panel__chevron", "aria-hidden": "true" }),
  );
  const body = h("div", { class: "side-panel__body", id: bodyId }, list.element);
  const element = h(
    "aside",
    { class: "side-panel", "data-testid": "activity-panel", "aria-label": "Activity" },
    h("h2", { class: "side-panel__heading" }, toggle),
    body,
  );

  const setCollapsed = (collapsed: boolean): void => {
    toggle.setAttribute("aria-expanded", String(!collapsed));
    body.hidden = collapsed;
    element.classList.toggle("is-collapsed", collapsed);
  };
  setCollapsed(options.collapsed ?? false);
  toggle.addEventListener("click", () => setCollapsed(!body.hidden));

  return {
    element,
    destroy() {
      list.destroy();
      element.remove();
    },
  };
}
