/**
 * The history's revision slider: a focusable element of role "slider" over revisions 1..max,
 * operated with the pointer (click or drag picks a revision) and the keyboard (the owner decides
 * what a key does: it steps by entries, not by revisions). Plain DOM, no Yjs.
 */
import { h } from "../dom";

export type SliderKey = "back" | "forward" | "first" | "last" | "page-back" | "page-forward";

export interface SliderOptions {
  label: string;
  /** A revision picked with the pointer (while dragging: every revision passed over). */
  onPick(value: number, final: boolean): void;
  onKey(key: SliderKey): void;
}

export interface Slider {
  readonly element: HTMLElement;
  set(value: number, max: number, text: string): void;
  focus(): void;
}

const KEYS: Record<string, SliderKey> = {
  ArrowLeft: "back",
  ArrowDown: "back",
  ArrowRight: "forward",
  ArrowUp: "forward",
  Home: "first",
  End: "last",
  PageDown: "page-back",
  PageUp: "page-forward",
};

export function createSlider(options: SliderOptions): Slider {
  const fill = h("span", { class: "history-slider__fill" });
  const thumb = h("span", { class: "history-slider__thumb" });
  const track = h("span", { class: "history-slider__track" }, fill, thumb);
  const element = h(
    "div",
    {
      class: "history-slider",
      role: "slider",
      tabindex: "0",
      "aria-label": options.label,
      "aria-valuemin": "1",
      "aria-valuemax": "1",
      "aria-valuenow": "1",
      "aria-orientation": "horizontal",
      "data-testid": "history-slider",
    },
    track,
  );
  let max = 1;
  let value = 1;

  const valueAt = (clientX: number): number => {
    const rect = track.getBoundingClientRect();
    if (rect.width <= 0 || max <= 1) return max;
    const fraction = Math.min(1, Math.max(0, (clientX - rect.left) / rect.width));
    return Math.round(1 + fraction * (max - 1));
  };

  let dragging: number | null = null;
  let lastPicked = 0;
  element.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    element.focus();
    dragging = e.pointerId;
    element.setPointerCapture(e.pointerId);
    lastPicked = valueAt(e.clientX);
    options.onPick(lastPicked, false);
  });
  element.addEventListener("pointermove", (e) => {
    if (dragging !== e.pointerId) return;
    const picked = valueAt(e.clientX);
    if (picked === lastPicked) return;
    lastPicked = picked;
    options.onPick(picked, false);
  });
  const release = (e: PointerEvent): void => {
    if (dragging !== e.pointerId) return;
    dragging = null;
    options.onPick(lastPicked, true);
  };
  element.addEventListener("pointerup", release);
  element.addEventListener("pointercancel", release);

  element.addEventListener("keydown", (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const key = KEYS[e.key];
    if (key === undefined) return;
    e.preventDefault();
    options.onKey(key);
  });

  return {
    element,
    set(next, nextMax, text) {
      max = Math.max(1, nextMax);
      value = Math.min(max, Math.max(1, next));
      element.setAttribute("aria-valuemax", String(max));
      element.setAttribute("aria-valuenow", String(value));
      element.setAttribute("aria-valuetext", text);
      const position = max <= 1 ? 1 : (value - 1) / (max - 1);
      // CSSOM, not a style attribute: allowed under the strict CSP
      element.style.setProperty("--position", String(position));
    },
    focus() {
      element.focus();
    },
  };
}
