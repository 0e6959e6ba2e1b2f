/** A tiny element builder: plain DOM, no framework. */

type Attrs = Record<string, string | number | boolean | null | undefined>;
type Child = Node | string | null | undefined | false;

/**
 * Creates an element. Attributes whose value is `false`, `null` or `undefined` are left out,
 * `true` sets an empty attribute; keys starting with "on" are not special (use addEventListener).
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** Calls `fn` at most once every `ms` after the last call; `flush()` runs a pending call now. */
export function debounce(fn: () => void, ms: number): { (): void; flush(): void; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const run = (): void => {
    timer = null;
    fn();
  };
  const debounced = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(run, ms);
  };
  debounced.flush = (): void => {
    if (timer !== null) {
      clearTimeout(timer);
      run();
    }
  };
  debounced.cancel = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  return debounced;
}

/**
 * Keeps the CSS custom property `property` on <html> equal to `element`'s height in pixels
 * (e.g. for sticky panels below a sticky header). Returns a function that stops it.
 */
export function exposeHeight(element: HTMLElement, property: string): () => void {
  const root = document.documentElement;
  const update = (): void => root.style.setProperty(property, `${element.offsetHeight}px`);
  const observer = new ResizeObserver(update);
  observer.observe(element);
  update();
  return () => {
    observer.disconnect();
    root.style.removeProperty(property);
  };
}
