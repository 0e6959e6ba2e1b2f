/** The formatting toolbar: a WAI-ARIA toolbar (one tab stop, arrow keys move between buttons). */
import type { Editor } from "@tiptap/core";
import { h } from "../dom";
import { normalizeLink } from "../richtext";
import "./toolbar.css";

interface ToolSpec {
  id: string;
  label: string;
  /** Text or SVG markup shown on the button. */
  icon: string;
  shortcut?: string;
  run: (editor: Editor) => void;
  /** Present for toggles: whether the format is on at the selection. */
  active?: (editor: Editor) => boolean;
  enabled?: (editor: Editor) => boolean;
}

const svg = (body: string): string =>
  `<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">${body}</svg>`;

const ICONS = {
  bullet: svg(
    '<line x1="9" y1="6" x2="20" y2="6"/><line x1="9" y1="12" x2="20" y2="12"/><line x1="9" y1="18" x2="20" y2="18"/><circle cx="4.5" cy="6" r="1" fill="currentColor"/><circle cx="4.5" cy="12" r="1" fill="currentColor"/><circle cx="4.5" cy="18" r="1" fill="currentColor"/>',
  ),
  ordered: svg(
    '<line x1="10" y1="6" x2="20" y2="6"/><line x1="10" y1="12" x2="20" y2="12"/><line x1="10" y1="18" x2="20" y2="18"/><path d="M4 4.5h1.5V9M4 9h3" stroke-width="1.5"/><path d="M4 14.5c.5-.8 2.8-.9 2.8.6 0 1.2-2.8 2-2.8 3.4h3" stroke-width="1.5"/>',
  ),
  quote: svg(
    '<path d="M4 18h4l2-4V7H4v7h3zM14 18h4l2-4V7h-6v7h3z" stroke-width="1.6"/>',
  ),
  codeblock: svg('<rect x="3" y="4" width="18" height="16" rx="2"/><path d="M9.5 9.5 7 12l2.5 2.5M14.5 9.5 17 12l-2.5 2.5"/>'),
  hr: svg('<line x1="3" y1="12" x2="21" y2="12"/><line x1="7" y1="6" x2="17" y2="6" opacity=".4"/><line x1="7" y1="18" x2="17" y2="18" opacity=".4"/>'),
  link: svg(
    '<path d="M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1"/><path d="M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"/>',
  ),
  undo: svg('<path d="M9 14 4 9l5-5"/><path d="M4 9h10.5a5.5 5.5 0 0 1 0 11H11"/>'),
  redo: svg('<path d="m15 14 5-5-5-5"/><path d="M20 9H9.5a5.5 5.5 0 0 0 0 11H13"/>'),
  code: svg('<path d="m8 8-4 4 4 4M16 8l4 4-4 4"/>'),
};

const mod = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent) ? "⌘" : "Ctrl+";

/** Asks for a URL and links the selection (or inserts the URL as linked text). */
export function promptForLink(editor: Editor): void {
  const current = editor.getAttributes("link").href as string | undefined;
  const input = window.prompt("Link address (http, https or mailto). Leave empty to remove the link.", current ?? "https://");
  if (input === null) return;
  if (!input.trim() || input.trim() === "https://") {
    editor.chain().focus().extendMarkRange("link").unsetLink().run();
    return;
  }
  const href = normalizeLink(input);
  if (href === null) {
    window.alert("Only http, https and mailto links are allowed.");
    return;
  }
  const { empty } = editor.state.selection;
  if (empty && !editor.isActive("link")) {
    const text = href.replace(/^mailto:/, "");
    editor
      .chain()
      .focus()
      .insertContent({ type: "text", text, marks: [{ type: "link", attrs: { href } }] })
      // what is typed next is not part of the link
      .unsetMark("link")
      .run();
  } else {
    editor.chain().focus().extendMarkRange("link").setLink({ href }).run();
  }
}

const TOOLS: (ToolSpec | "sep")[] = [
  {
    id: "paragraph",
    label: "Paragraph",
    icon: "¶",
    shortcut: `${mod}Alt+0`,
    run: (e) => e.chain().focus().setParagraph().run(),
    active: (e) => e.isActive("paragraph"),
  },
  ...([1, 2, 3] as const).map(
    (level): ToolSpec => ({
      id: `h${level}`,
      label: `Heading ${level}`,
      icon: `H${level}`,
      shortcut: `${mod}Alt+${level}`,
      run: (e) => e.chain().focus().toggleHeading({ level }).run(),
      active: (e) => e.isActive("heading", { level }),
    }),
  ),
  "sep",
  {
    id: "bold",
    label: "Bold",
    icon: "<b>B</b>",
    shortcut: `${mod}B`,
    run: (e) => e.chain().focus().toggleBold().run(),
    active: (e) => e.isActive("bold"),
  },
  {
    id: "italic",
    label: "Italic",
    icon: '<i class="toolbar__icon--italic">I</i>',
    shortcut: `${mod}I`,
    run: (e) => e.chain().focus().toggleItalic().run(),
    active: (e) => e.isActive("italic"),
  },
  {
    id: "strike",
    label: "Strikethrough",
    icon: "<s>S</s>",
    shortcut: `${mod}Shift+S`,
    run: (e) => e.chain().focus().toggleStrike().run(),
    active: (e) => e.isActive("strike"),
  },
  {
    id: "code",
    label: "Inline code",
    icon: ICONS.code,
    shortcut: `${mod}E`,
    run: (e) => e.chain().focus().toggleCode().run(),
    active: (e) => e.isActive("code"),
  },
  {
    id: "link",
    label: "Link",
    icon: ICONS.link,
    shortcut: `${mod}K`,
    run: promptForLink,
    active: (e) => e.isActive("link"),
  },
  "sep",
  {
    id: "bullet",
    label: "Bulleted list",
    icon: ICONS.bullet,
    shortcut: `${mod}Shift+8`,
    run: (e) => e.chain().focus().toggleBulletList().run(),
    active: (e) => e.isActive("bulletList"),
  },
  {
    id: "ordered",
    label: "Numbered list",
    icon: ICONS.ordered,
    shortcut: `${mod}Shift+7`,
    run: (e) => e.chain().focus().toggleOrderedList().run(),
    active: (e) => e.isActive("orderedList"),
  },
  {
    id: "quote",
    label: "Quote",
    icon: ICONS.quote,
    shortcut: `${mod}Shift+B`,
    run: (e) => e.chain().focus().toggleBlockquote().run(),
    active: (e) => e.isActive("blockquote"),
  },
  {
    id: "codeblock",
    label: "Code block",
    icon: ICONS.codeblock,
    shortcut: `${mod}Alt+C`,
    run: (e) => e.chain().focus().toggleCodeBlock().run(),
    active: (e) => e.isActive("codeBlock"),
  },
  {
    id: "hr",
    label: "Horizontal line",
    icon: ICONS.hr,
    run: (e) => e.chain().focus().setHorizontalRule().run(),
  },
  "sep",
  {
    id: "undo",
    label: "Undo",
    icon: ICONS.undo,
    shortcut: `${mod}Z`,
    run: (e) => e.chain().focus().undo().run(),
    enabled: (e) => e.can().undo(),
  },
  {
    id: "redo",
    label: "Redo",
    icon: ICONS.redo,
    shortcut: mod === "⌘" ? "⌘Shift+Z" : "Ctrl+Y",
    run: (e) => e.chain().focus().redo().run(),
    enabled: (e) => e.can().redo(),
  },
];

export interface Toolbar {
  readonly element: HTMLElement;
  destroy(): void;
}

/**
 * At phone width the tools scroll sideways: a fade with a chevron at each edge that has more
 * tools behind it (gone at the end). Decorative for assistive technology (arrow keys reach
 * every tool and focusing one scrolls it into view); a tap on it scrolls by most of a screen.
 */
function scrollHints(scroller: HTMLElement): { start: HTMLElement; end: HTMLElement; destroy(): void } {
  const hint = (side: "start" | "end", glyph: string): HTMLElement => {
    const el = h("span", { class: `toolbar-hint toolbar-hint--${side}`, "aria-hidden": "true", "data-testid": `toolbar-more-${side}`, hidden: true }, glyph);
    el.addEventListener("mousedown", (e) => e.preventDefault()); // keep the editor's selection
    el.addEventListener("click", () => {
      const step = Math.max(80, scroller.clientWidth * 0.7);
      scroller.scrollBy({ left: side === "end" ? step : -step, behavior: "smooth" });
    });
    return el;
  };
  const start = hint("start", "‹");
  const end = hint("end", "›");
  let frame = 0;
  const update = (): void => {
    frame = 0;
    const max = scroller.scrollWidth - scroller.clientWidth;
    // 1 px of slack: scroll positions are fractional on zoomed and high-density screens
    start.hidden = !(max > 1 && scroller.scrollLeft > 1);
    end.hidden = !(max > 1 && scroller.scrollLeft < max - 1);
  };
  const schedule = (): void => {
    if (frame === 0) frame = requestAnimationFrame(update);
  };
  scroller.addEventListener("scroll", schedule, { passive: true });
  const observer = new ResizeObserver(schedule);
  observer.observe(scroller);
  update();
  return {
    start,
    end,
    destroy() {
      if (frame !== 0) cancelAnimationFrame(frame);
      observer.disconnect();
      scroller.removeEventListener("scroll", schedule);
    },
  };
}

export function createToolbar(editor: Editor): Toolbar {
  const bar = h("div", { class: "toolbar", role: "toolbar", "aria-label": "Formatting" });
  const hints = scrollHints(bar);
  // the element the page places (and hides when read-only): the tools and their scroll hints
  const element = h("div", { class: "toolbar-frame" }, hints.start, bar, hints.end);
  const buttons: { spec: ToolSpec; button: HTMLButtonElement }[] = [];

  for (const item of TOOLS) {
    if (item === "sep") {
      bar.append(h("span", { class: "toolbar__sep", role: "separator", "aria-orientation": "vertical" }));
      continue;
    }
    const button = h("button", {
      type: "button",
      class: `toolbar__button toolbar__button--${item.id}`,
      "data-testid": `tb-${item.id}`,
      "aria-label": item.label,
      title: item.shortcut ? `${item.label} (${item.shortcut})` : item.label,
      "aria-pressed": item.active ? "false" : null,
      tabindex: "-1",
    });
    button.innerHTML = item.icon;
    // keep the editor's selection: act on click without taking focus on mouse down
    button.addEventListener("mousedown", (e) => e.preventDefault());
    button.addEventListener("click", () => {
      if (button.getAttribute("aria-disabled") !== "true") item.run(editor);
    });
    bar.append(button);
    buttons.push({ spec: item, button });
  }

  // roving tabindex: the toolbar is a single tab stop
  let current = 0;
  const focusAt = (index: number): void => {
    const n = buttons.length;
    current = ((index % n) + n) % n;
    buttons.forEach(({ button }, i) => button.setAttribute("tabindex", i === current ? "0" : "-1"));
    buttons[current]?.button.focus();
  };
  buttons[0]?.button.setAttribute("tabindex", "0");
  bar.addEventListener("keydown", (e) => {
    const index = buttons.findIndex(({ button }) => button === document.activeElement);
    if (index < 0) return;
    if (e.key === "ArrowRight" || e.key === "ArrowDown") focusAt(index + 1);
    else if (e.key === "ArrowLeft" || e.key === "ArrowUp") focusAt(index - 1);
    else if (e.key === "Home") focusAt(0);
    else if (e.key === "End") focusAt(buttons.length - 1);
    else return;
    e.preventDefault();
  });
  bar.addEventListener("focusin", (e) => {
    const index = buttons.findIndex(({ button }) => button === e.target);
    if (index >= 0) {
      current = index;
      buttons.forEach(({ button }, i) => button.setAttribute("tabindex", i === current ? "0" : "-1"));
    }
  });

  const refresh = (): void => {
    const editable = editor.isEditable;
    for (const { spec, button } of buttons) {
      if (spec.active) button.setAttribute("aria-pressed", String(spec.active(editor)));
      const enabled = editable && (spec.enabled ? spec.enabled(editor) : true);
      // aria-disabled keeps the button focusable for keyboard users
      button.setAttribute("aria-disabled", String(!enabled));
      button.classList.toggle("is-disabled", !enabled);
    }
  };
  editor.on("transaction", refresh);
  editor.on("focus", refresh);
  refresh();

  const onKey = (e: KeyboardEvent): void => {
    if ((e.metaKey || e.ctrlKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === "k") {
      if (!editor.isFocused || !editor.isEditable) return;
      e.preventDefault();
      promptForLink(editor);
    }
  };
  editor.view.dom.addEventListener("keydown", onKey);

  return {
    element,
    destroy() {
      editor.off("transaction", refresh);
      editor.off("focus", refresh);
      editor.view.dom.removeEventListener("keydown", onKey);
      hints.destroy();
      element.remove();
    },
  };
}
