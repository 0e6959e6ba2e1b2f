/** Asks for the name others see next to your caret. */
import { h } from "../dom";
import { MAX_NAME, cleanName } from "../name";
import { randomColor, type User } from "../user";

/**
 * Shows a modal dialog and resolves with the chosen user. With `current`, the dialog can be
 * cancelled (it then resolves with `current`); without, a name is required.
 */
export function askForName(current: User | null): Promise<User> {
  return new Promise((resolve) => {
    const input = h("input", {
      id: "name-input",
      type: "text",
      "data-testid": "name-input",
      required: true,
      maxlength: String(MAX_NAME),
      autocomplete: "nickname",
      placeholder: "e.g. Ada Lovelace",
    });
    input.value = current?.name ?? "";
    const save = h("button", { type: "submit", class: "button button--primary", "data-testid": "name-save" }, "Save");
    const cancel = current
      ? h("button", { type: "button", class: "button", value: "cancel" }, "Cancel")
      : null;
    const form = h(
      "form",
      { method: "dialog" },
      h("h2", { id: "name-title" }, current ? "Change your name" : "What’s your name?"),
      h("p", { class: "muted" }, "It is shown to others next to your cursor."),
      h("label", { for: "name-input", class: "visually-hidden" }, "Your name"),
      input,
      h("div", { class: "dialog__actions" }, cancel, save),
    );
    const dialog = h("dialog", { class: "dialog", "data-testid": "name-dialog", "aria-labelledby": "name-title" }, form);

    let done = false;
    const finish = (user: User): void => {
      if (done) return;
      done = true;
      dialog.close();
      dialog.remove();
      resolve(user);
    };
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const name = cleanName(input.value, "");
      if (!name) {
        input.focus();
        return;
      }
      finish({ name, color: current?.color ?? randomColor() });
    });
    cancel?.addEventListener("click", () => current && finish(current));
    dialog.addEventListener("cancel", (e) => {
      // Escape: allowed only when there is a name to fall back on
      if (current) finish(current);
      else e.preventDefault();
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
    input.select();
  });
}
