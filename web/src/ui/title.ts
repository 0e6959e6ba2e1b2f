/**
 * The document title, editable in place. Typing saves after a pause (and at once on Enter or
 * blur); renames from others (message 101) show up unless you are typing in the field.
 */
import { ApiError } from "../api";
import { debounce, h } from "../dom";

export const UNTITLED = "Untitled";

export interface TitleOptions {
  initial: string;
  readOnly: boolean;
  /** Stores a new title on the server; resolves to the title the server kept. */
  save: (title: string) => Promise<string>;
  /** Called with every title shown (after a save or a remote rename). */
  onChange: (title: string) => void;
}

export interface TitleView {
  readonly element: HTMLInputElement;
  /** A rename announced by the server. */
  setRemote(title: string): void;
  destroy(): void;
}

export function createTitle(options: TitleOptions): TitleView {
  const element = h("input", {
    class: "title",
    type: "text",
    "data-testid": "title",
    "aria-label": "Document title",
    placeholder: UNTITLED,
    maxlength: "200",
    autocomplete: "off",
    spellcheck: "false",
    readonly: options.readOnly,
  });
  element.value = options.initial;

  /** The title the server is known to hold. */
  let saved = options.initial;
  let inFlight: Promise<void> | null = null;
  let failed = false;
  /** The user changed the field since it last showed a saved title. */
  let dirty = false;

  const push = async (): Promise<void> => {
    if (inFlight) await inFlight;
    const wanted = element.value.trim();
    if (options.readOnly || !dirty || !wanted) return;
    if (wanted === saved) {
      dirty = false;
      return;
    }
    inFlight = (async () => {
      try {
        saved = await options.save(wanted);
        if (element.value.trim() === wanted) dirty = false;
        failed = false;
        element.classList.remove("is-error");
        element.removeAttribute("title");
        options.onChange(saved);
      } catch (err) {
        failed = true;
        element.classList.add("is-error");
        element.title =
          err instanceof ApiError && err.status === 0
            ? "Not saved: offline. The title will be saved when you are back online."
            : `Not saved: ${err instanceof Error ? err.message : String(err)}`;
      } finally {
        inFlight = null;
      }
    })();
    await inFlight;
  };
  const schedule = debounce(() => void push(), 300);

  const onInput = (): void => {
    dirty = true;
    schedule();
  };
  const onBlur = (): void => {
    if (!dirty || !element.value.trim()) {
      // nothing typed, or an empty title (not a title): show what the server holds
      schedule.cancel();
      dirty = false;
      element.value = saved;
      return;
    }
    schedule.cancel();
    void push();
  };
  const onKeyDown = (e: KeyboardEvent): void => {
    if (e.key === "Enter") {
      e.preventDefault();
      element.blur();
    } else if (e.key === "Escape") {
      schedule.cancel();
      dirty = false;
      element.value = saved;
      element.blur();
    }
  };
  const onOnline = (): void => {
    if (failed) void push();
  };
  element.addEventListener("input", onInput);
  element.addEventListener("blur", onBlur);
  element.addEventListener("keydown", onKeyDown);
  window.addEventListener("online", onOnline);

  return {
    element,
    setRemote(title) {
      saved = title;
      options.onChange(title);
      if (!(dirty && document.activeElement === element)) {
        dirty = false;
        element.value = title;
      }
    },
    destroy() {
      schedule.cancel();
      element.removeEventListener("input", onInput);
      element.removeEventListener("blur", onBlur);
      element.removeEventListener("keydown", onKeyDown);
      window.removeEventListener("online", onOnline);
      element.remove();
    },
  };
}
