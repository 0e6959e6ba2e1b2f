/**
 * The Share button and its dialog: the edit link and, when this browser knows it, the view link;
 * with the edit token, a "Reset link" for each (the old link stops working).
 */
import type { Role } from "../api";
import { h } from "../dom";
import { editLinkFor, viewLinkFor } from "../links";

export interface ShareView {
  /** The button that opens the dialog. */
  readonly element: HTMLButtonElement;
  destroy(): void;
}

async function copyText(text: string, input: HTMLInputElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    input.focus();
    input.select();
    try {
      return document.execCommand("copy");
    } catch {
      return false;
    }
  }
}

interface LinkRow {
  row: HTMLElement;
  input: HTMLInputElement;
}

function linkRow(label: string, testid: string, hint: string, reset: (() => Promise<void>) | null): LinkRow {
  const id = `share-${testid}`;
  const input = h("input", { id, type: "text", readonly: true, "data-testid": testid, class: "share__input" });
  input.addEventListener("focus", () => input.select());
  const copy = h("button", { type: "button", class: "button", "aria-label": `Copy ${label.toLowerCase()}` }, "Copy");
  copy.addEventListener("click", () => {
    void copyText(input.value, input).then((ok) => {
      copy.textContent = ok ? "Copied" : "Press Ctrl+C";
      setTimeout(() => (copy.textContent = "Copy"), 1800);
    });
  });
  const row = h(
    "div",
    { class: "share__row" },
    h("label", { for: id, class: "share__label" }, label, h("span", { class: "muted" }, ` · ${hint}`)),
    h("div", { class: "share__field" }, input, copy),
  );
  if (reset !== null) row.append(resetControls(label, testid, input, reset));
  return { row, input };
}

/**
 * "Reset link", then a confirmation: the old link stops working for everyone at once, so it is
 * never done on a single click.
 */
function resetControls(label: string, testid: string, input: HTMLInputElement, reset: () => Promise<void>): HTMLElement {
  const lower = label.toLowerCase();
  const start = h(
    "button",
    { type: "button", class: "button button--quiet share__reset", "data-testid": `reset-${testid}`, "aria-label": `Reset ${lower}` },
    "Reset link…",
  );
  const confirm = h(
    "button",
    { type: "button", class: "button button--primary", "data-testid": `confirm-reset-${testid}` },
    `Reset ${lower}`,
  );
  const cancel = h("button", { type: "button", class: "button" }, "Cancel");
  const question = h(
    "div",
    { class: "share__confirm", role: "group", "aria-label": `Reset ${lower}?`, hidden: true },
    h("p", {}, `Anyone who has the current ${lower} loses access at once, open pages included. Share the new link with the people who should keep it.`),
    confirm,
    cancel,
  );
  const message = h("p", { class: "share__error", role: "status", "data-testid": `reset-${testid}-message` });
  message.hidden = true;

  const ask = (open: boolean): void => {
    question.hidden = !open;
    start.hidden = open;
    (open ? cancel : start).focus();
  };
  start.addEventListener("click", () => {
    message.hidden = true;
    ask(true);
  });
  cancel.addEventListener("click", () => ask(false));
  confirm.addEventListener("click", () => {
    confirm.disabled = true;
    cancel.disabled = true;
    confirm.textContent = "Resetting…";
    reset().then(
      () => {
        message.textContent = `New ${lower}: the old one no longer works.`;
        message.classList.remove("share__error");
        message.classList.add("muted");
        message.hidden = false;
        ask(false);
        input.focus();
      },
      (err: unknown) => {
        message.textContent = `Could not reset the link: ${err instanceof Error ? err.message : String(err)}`;
        message.classList.add("share__error");
        message.classList.remove("muted");
        message.hidden = false;
        ask(false);
      },
    ).finally(() => {
      confirm.disabled = false;
      cancel.disabled = false;
      confirm.textContent = `Reset ${lower}`;
    });
  });
  return h("div", {}, start, question, message);
}

export interface ShareOptions {
  id: string;
  /** The edit token this page holds now, or null (a view-only page shows only the view link). */
  editToken: () => string | null;
  /**
   * Resets a link (POST /api/docs/{id}/tokens): resolves once the new token is stored and this
   * page uses it. Without it, or without an edit token, there is no "Reset link".
   */
  reset?: (role: Role) => Promise<void>;
}

export function createShare(options: ShareOptions): ShareView {
  const element = h("button", { type: "button", class: "button button--primary", "data-testid": "share" }, "Share");
  const { reset } = options;
  const canReset = reset !== undefined && options.editToken() !== null;

  const dialog = h("dialog", { class: "dialog share", "data-testid": "share-dialog", "aria-labelledby": "share-title" });
  const showLinks = async (): Promise<void> => {
    const editToken = options.editToken();
    edit.row.hidden = editToken === null;
    if (editToken !== null) edit.input.value = editLinkFor(options.id, editToken);
    const viewLink = await viewLinkFor(options.id);
    view.row.hidden = viewLink === null;
    note.hidden = viewLink !== null;
    if (viewLink !== null) view.input.value = viewLink;
  };
  const resetter = (role: Role): (() => Promise<void>) | null =>
    canReset ? async () => {
      await reset(role);
      await showLinks();
    } : null;
  const edit = linkRow("Edit link", "edit-link", "anyone with it can edit", resetter("edit"));
  const view = linkRow("View link", "view-link", "anyone with it can read", resetter("view"));
  const note = h(
    "p",
    { class: "muted share__note" },
    "The view link is only known to the browser that created this document. Ask its creator for it.",
  );
  const close = h("button", { type: "button", class: "button", value: "close" }, "Done");
  close.addEventListener("click", () => dialog.close());
  dialog.append(
    h("h2", { id: "share-title" }, "Share this document"),
    edit.row,
    view.row,
    note,
    h("div", { class: "dialog__actions" }, close),
  );
  // a click on the backdrop closes the dialog
  dialog.addEventListener("click", (e) => {
    if (e.target === dialog) dialog.close();
  });

  const open = async (): Promise<void> => {
    await showLinks();
    if (!dialog.isConnected) document.body.append(dialog);
    if (!dialog.open) dialog.showModal();
    (options.editToken() !== null ? edit.input : view.input).focus();
  };
  element.addEventListener("click", () => void open());

  return {
    element,
    destroy() {
      dialog.remove();
      element.remove();
    },
  };
}
