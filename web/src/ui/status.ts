/** Always-visible connection and save state. */
import { h } from "../dom";
import type { SaveStatus } from "../saved-state";
import type { ConnectionStatus, Sync } from "../sync";

export const CONNECTION_TEXT: Record<ConnectionStatus, string> = {
  connected: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline",
  stopped: "Not connected",
};

export const SAVE_TEXT: Record<SaveStatus, string> = {
  saved: "All changes saved",
  saving: "Saving…",
};

export interface StatusView {
  readonly element: HTMLElement;
  destroy(): void;
}

export function createStatus(sync: Sync, options: { readOnly: boolean }): StatusView {
  const connection = h("span", {
    class: "status__connection",
    "data-testid": "connection-status",
    role: "status",
  });
  const save = h("span", {
    class: "status__save",
    "data-testid": "save-status",
    "aria-live": "polite",
    hidden: options.readOnly,
  });
  const element = h(
    "div",
    { class: "status" },
    h("span", { class: "status__dot", "aria-hidden": "true" }),
    connection,
    options.readOnly ? h("span", { class: "status__badge" }, "View only") : null,
    save,
  );

  const showConnection = (status: ConnectionStatus): void => {
    connection.textContent = CONNECTION_TEXT[status];
    element.dataset.connection = status;
  };
  const showSave = (status: SaveStatus): void => {
    save.textContent = SAVE_TEXT[status];
    element.dataset.save = status;
  };
  showConnection(sync.connection);
  showSave(sync.saveStatus);
  const offConnection = sync.onConnectionChange(showConnection);
  const offSave = sync.onSaveStatusChange(showSave);

  return {
    element,
    destroy() {
      offConnection();
      offSave();
      element.remove();
    },
  };
}
