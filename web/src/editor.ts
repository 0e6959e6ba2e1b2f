/**
 * The editor page, /d/{id}#<token>: checks the token, asks for a name once, then wires the
 * shared document (sync), the TipTap editor and the page's controls together.
 */
import { removeAwarenessStates } from "y-protocols/awareness";
import { ApiError, fetchDoc, renameDoc, type Role } from "./api";
import { exposeHeight, h } from "./dom";
import { findDoc, forgetDoc, rememberDoc } from "./doclist";
import { createFeed, type Feed } from "./feed";
import { docIdFromPath, tokenFromHash } from "./links";
import { createEditor } from "./richtext";
import "./styles.css";
import { createSync } from "./sync";
import { createActivityList } from "./ui/activity";
import { createActivityPanel } from "./ui/activity-panel";
import { DELETED, INVALID_LINK, NOT_FOUND, showErrorPage } from "./ui/error";
import { askForName } from "./ui/name-dialog";
import { createPresence } from "./ui/presence";
import { createShare } from "./ui/share";
import { createStatus } from "./ui/status";
import { createTitle, UNTITLED } from "./ui/title";
import { createToolbar } from "./ui/toolbar";
import { loadUser, saveUser } from "./user";

/** Where the activity panel goes below the text, folded (styles.css has the same width). */
const NARROW = "(max-width: 900px)";

interface Opened {
  title: string;
  role: Role;
}

/** Asks the server what this token opens; offline, falls back to what this browser remembers. */
async function openDocument(id: string, token: string): Promise<Opened | string> {
  try {
    const info = await fetchDoc(id, token);
    return { title: info.title, role: info.role };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 404) return NOT_FOUND;
    if (err.status === 0 || err.status >= 500) {
      const known = findDoc(id);
      if (known?.editToken === token) return { title: known.title, role: "edit" };
      if (known?.viewToken === token) return { title: known.title, role: "view" };
      return "Swell can’t be reached";
    }
    return INVALID_LINK;
  }
}

function setPageTitle(title: string): void {
  document.title = `${title.trim() || UNTITLED} · Swell`;
}

async function main(): Promise<void> {
  const id = docIdFromPath("d");
  const token = tokenFromHash();
  window.addEventListener("hashchange", () => location.reload());
  if (id === null) return showErrorPage(NOT_FOUND);
  if (token === null) return showErrorPage(INVALID_LINK);

  const opened = await openDocument(id, token);
  if (typeof opened === "string") {
    return showErrorPage(opened, opened === INVALID_LINK ? "Ask whoever shared it for a new link." : undefined);
  }
  const readOnly = opened.role !== "edit";
  rememberDoc({
    id,
    title: opened.title,
    ...(readOnly ? { viewToken: token } : { editToken: token }),
  });
  setPageTitle(opened.title);

  let user = loadUser();
  if (user === null) {
    user = await askForName(null);
    saveUser(user);
  }

  const destroyers: (() => void)[] = [];
  let failed = false;
  const fail = (message: string): void => {
    if (failed) return;
    failed = true;
    for (const destroy of destroyers.reverse()) destroy();
    showErrorPage(message);
  };

  let titleView: ReturnType<typeof createTitle> | null = null;
  const sync = createSync({
    id,
    token,
    onTitle: (title) => titleView?.setRemote(title),
    onClosed: (code) => {
      if (code === 4401) fail(INVALID_LINK);
      else if (code === 4404) fail(NOT_FOUND);
    },
  });
  destroyers.push(() => sync.destroy());

  const onTitleShown = (title: string): void => {
    setPageTitle(title);
    rememberDoc({ id, title, touch: false });
  };
  titleView = createTitle({
    initial: opened.title,
    readOnly,
    save: async (title) => (await renameDoc(id, token, title, user?.name)).title,
    onChange: onTitleShown,
  });
  destroyers.push(() => titleView?.destroy());

  const content = h("div", { class: "sheet" });
  const rich = createEditor({ element: content, ydoc: sync.ydoc, provider: sync.provider, user, editable: !readOnly });
  destroyers.push(() => rich.destroy());

  // the activity feed (SSE, like the viewer page), under this person's name
  const activity = createActivityList();
  const panel = createActivityPanel(activity, { collapsed: window.matchMedia(NARROW).matches });
  destroyers.push(() => panel.destroy());
  const startFeed = (name: string): Feed =>
    createFeed({
      id,
      token,
      name,
      onActivity: (item) => activity.add(item),
      onReset: () => activity.clear(),
      onDeleted: () => {
        forgetDoc(id);
        fail(DELETED);
      },
      onRejected: (status) => fail(status === 404 ? NOT_FOUND : INVALID_LINK),
    });
  let feed = startFeed(user.name);
  destroyers.push(() => feed.destroy());
  /** Viewers list the feed under a name: follow renames (the list keeps its items). */
  const renameFeed = (name: string): void => {
    feed.destroy();
    feed = startFeed(name);
  };

  const changeName = async (): Promise<void> => {
    const next = await askForName(user);
    const renamed = next.name !== user?.name;
    user = next;
    saveUser(next);
    rich.setUser(next);
    if (renamed) renameFeed(next.name);
  };

  // a rename in another tab of this browser applies here too
  const onStorage = (e: StorageEvent): void => {
    if (e.key !== "swell.user") return;
    const next = loadUser();
    if (next && (next.name !== user?.name || next.color !== user?.color)) {
      const renamed = next.name !== user?.name;
      user = next;
      rich.setUser(next);
      if (renamed) renameFeed(next.name);
    }
  };
  window.addEventListener("storage", onStorage);
  destroyers.push(() => window.removeEventListener("storage", onStorage));

  const toolbar = createToolbar(rich.editor);
  destroyers.push(() => toolbar.destroy());
  const status = createStatus(sync, { readOnly });
  destroyers.push(() => status.destroy());
  const presence = createPresence(sync.provider.awareness, { onSelfClick: () => void changeName() });
  destroyers.push(() => presence.destroy());
  const share = createShare({ id, editToken: readOnly ? null : token, viewToken: readOnly ? token : null });
  destroyers.push(() => share.destroy());

  const header = h(
    "header",
    { class: "topbar" },
    h("a", { class: "brand", href: "/", "aria-label": "Swell: your documents" }, h("span", { class: "brand__mark", "aria-hidden": "true" }, "≈"), h("span", { class: "brand__name" }, "Swell")),
    h("div", { class: "topbar__title" }, titleView.element, status.element),
    h("div", { class: "topbar__people" }, presence.element, share.element),
  );
  if (readOnly) toolbar.element.hidden = true;
  const main = h("main", { class: "page" }, content);
  const chrome = h("div", { class: "chrome" }, header, toolbar.element);
  document.body.replaceChildren(chrome, h("div", { class: "workspace" }, main, panel.element));
  document.body.classList.add("editor-page");
  destroyers.push(exposeHeight(chrome, "--chrome-height"));

  // clicking below the text puts the caret at its end, in a new paragraph if it ends otherwise
  main.addEventListener("mousedown", (e) => {
    if (e.target !== main && e.target !== content) return;
    e.preventDefault();
    const { editor } = rich;
    if (editor.isEditable && editor.state.doc.lastChild?.type.name !== "paragraph") {
      editor.chain().insertContentAt(editor.state.doc.content.size, { type: "paragraph" }).focus("end").run();
    } else {
      editor.commands.focus("end");
    }
  });

  // everything is saved as you type; keep the browser's "Save page" dialog away
  const onKeyDown = (e: KeyboardEvent): void => {
    if ((e.metaKey || e.ctrlKey) && e.key.toLowerCase() === "s") e.preventDefault();
  };
  document.addEventListener("keydown", onKeyDown);
  destroyers.push(() => document.removeEventListener("keydown", onKeyDown));

  // tell others at once that we left, instead of after the 30 s awareness timeout
  const onPageHide = (): void => {
    const awareness = sync.provider.awareness;
    removeAwarenessStates(awareness, [awareness.clientID], "page hidden");
  };
  // back from the back/forward cache: be present again
  const onPageShow = (e: PageTransitionEvent): void => {
    if (e.persisted && user) sync.provider.awareness.setLocalState({ user: { name: user.name, color: user.color } });
  };
  window.addEventListener("pagehide", onPageHide);
  window.addEventListener("pageshow", onPageShow);
  destroyers.push(() => {
    window.removeEventListener("pagehide", onPageHide);
    window.removeEventListener("pageshow", onPageShow);
  });

  if (!readOnly) rich.editor.commands.focus("end");
}

void main().catch((err: unknown) => {
  console.error(err);
  showErrorPage("Something went wrong", err instanceof Error ? err.message : String(err));
});
