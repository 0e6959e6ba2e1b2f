/** The TipTap editor bound to the shared Y.XmlFragment "default", with name-labelled carets. */
import { Editor } from "@tiptap/core";
import { Collaboration } from "@tiptap/extension-collaboration";
import { CollaborationCaret } from "@tiptap/extension-collaboration-caret";
import { StarterKit } from "@tiptap/starter-kit";
import type { WebsocketProvider } from "y-websocket";
import type * as Y from "yjs";
import { cleanUser, type User } from "./user";

/** Link targets the editor accepts: web pages and mail addresses only. */
export const LINK_PROTOCOLS = ["http:", "https:", "mailto:"] as const;

export function isAllowedLink(url: string): boolean {
  try {
    return (LINK_PROTOCOLS as readonly string[]).includes(new URL(url).protocol);
  } catch {
    return false;
  }
}

/** Adds https:// to a bare "example.com"; returns null for anything not http(s)/mailto. */
export function normalizeLink(input: string): string | null {
  const trimmed = input.trim();
  if (!trimmed) return null;
  if (isAllowedLink(trimmed)) return trimmed;
  if (/^[a-z][a-z0-9+.-]*:/i.test(trimmed) && !/^[^:]+:\d/.test(trimmed)) return null;
  const withScheme = /^[^\s@/]+@[^\s@/]+\.[^\s@/]+$/.test(trimmed)
    ? `mailto:${trimmed}`
    : `https://${trimmed}`;
  return isAllowedLink(withScheme) ? withScheme : null;
}

export interface EditorOptions {
  element: HTMLElement;
  ydoc: Y.Doc;
  provider: WebsocketProvider;
  user: User;
  editable: boolean;
}

export interface RichTextEditor {
  readonly editor: Editor;
  setUser(user: User): void;
  destroy(): void;
}

export function createEditor(options: EditorOptions): RichTextEditor {
  const editor = new Editor({
    element: options.element,
    editable: options.editable,
    // its base CSS is in styles.css: no <style> element injected at run time (strict CSP)
    injectCSS: false,
    extensions: [
      StarterKit.configure({
        // Collaboration brings Yjs-aware undo/redo; ProseMirror's history would fight it.
        undoRedo: false,
        // The document model is exactly what the toolbar offers (the server renders it too).
        heading: { levels: [1, 2, 3] },
        underline: false,
        // It would write a paragraph into the shared doc on load, once per client that opens it.
        trailingNode: false,
        link: {
          openOnClick: false,
          autolink: true,
          linkOnPaste: true,
          defaultProtocol: "https",
          isAllowedUri: (url) => isAllowedLink(url),
          HTMLAttributes: { rel: "noopener noreferrer nofollow", target: "_blank" },
        },
      }),
      Collaboration.configure({ document: options.ydoc, field: "default" }),
      CollaborationCaret.configure({
        provider: options.provider,
        user: cleanUser(options.user),
      }),
    ],
    editorProps: {
      attributes: {
        "data-testid": "editor",
        class: "prose",
        role: "textbox",
        "aria-multiline": "true",
        "aria-label": "Document text",
        spellcheck: "true",
      },
    },
  });

  return {
    editor,
    setUser(user) {
      editor.commands.updateUser(cleanUser(user));
    },
    destroy() {
      editor.destroy();
    },
  };
}
