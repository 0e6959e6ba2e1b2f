/** The Share button and its dialog: the edit link and, when this browser knows it, the view link. */
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

function linkRow(label: string, testid: string, hint: string): { row: HTMLElement; input: HTMLInputElement } {
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
  return { row, input };
}

export function createShare(options: { id: string; editToken: string | null; viewToken: string | null }): ShareView {
  const element = h("button", { type: "button", class: "button button--primary", "data-testid": "share" }, "Share");

  const dialog = h("dialog", { class: "dialog share", "data-testid": "share-dialog", "aria-labelledby": "share-title" });
  const edit = linkRow("Edit link", "edit-link", "anyone with it can edit");
  const view = linkRow("View link", "view-link", "anyone with it can read");
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
    edit.row.hidden = options.editToken === null;
    if (options.editToken !== null) edit.input.value = editLinkFor(options.id, options.editToken);
    const viewLink = await viewLinkFor(options.id);
    view.row.hidden = viewLink === null;
    note.hidden = viewLink !== null;
    if (viewLink !== null) view.input.value = viewLink;
    if (!dialog.isConnected) document.body.append(dialog);
    if (!dialog.open) dialog.showModal();
    (options.editToken !== null ? edit.input : view.input).focus();
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
