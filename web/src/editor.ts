/**
 * The editor page, /d/{id}#<token>: checks the token, wires the shared document (sync), the
 * TipTap editor and the page's controls together, and asks a first-time visitor for a name over
 * the loaded document (nobody sees them in presence until they answer).
 */
import { removeAwarenessStates } from "y-protocols/awareness";
import { type Actor, ApiError, fetchDoc, renameDoc, type Role, rotateToken } from "./api";
import { AUTHOR_KEY, ensureAuthor, type Identity, loadAuthorSecret, renameAuthor, replaceAuthor } from "./author";
import { exposeHeight, h } from "./dom";
import { findDoc, forgetDoc, rememberDoc } from "./doclist";
import { createFeed, type Feed } from "./feed";
import { docIdFromPath, tokenFromHash } from "./links";
import { createEditor } from "./richtext";
import "./styles.css";
import { CLOSE_BAD_TOKEN, CLOSE_NOT_FOUND, CLOSE_TOO_BIG, createSync } from "./sync";
import { createActivityList } from "./ui/activity";
import { createActivityPanel } from "./ui/activity-panel";
import { DELETED, INVALID_LINK, LINK_GONE, LINK_GONE_DETAIL, NOT_FOUND, showErrorPage, TOO_LARGE } from "./ui/error";
import { createHistory } from "./ui/history";
import { askForName } from "./ui/name-dialog";
import { createPresence } from "./ui/presence";
import { createShare } from "./ui/share";
import { createStatus } from "./ui/status";
import { createTitle, UNTITLED } from "./ui/title";
import { createToolbar } from "./ui/toolbar";
import { trackEditorReads } from "./ui/since-read"; // read marks (issue 11)
import { createLiveAuthors } from "./ui/live-authors"; // Show authors in the live editor (issue 11)
import { cleanUser, loadUser, randomColor, saveUser, type User } from "./user";
import { FALLBACK_NAME } from "./name";

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

/** A banner under the toolbar for a problem the page keeps showing (role=alert: read out at once). */
function pageAlert(message: string, detail: string): HTMLElement {
  return h(
    "div",
    { class: "page-alert", role: "alert", "data-testid": "editor-alert" },
    h("strong", {}, message),
    h("span", {}, detail),
  );
}

async function main(): Promise<void> {
  const id = docIdFromPath("d");
  const initialToken = tokenFromHash();
  window.addEventListener("hashchange", () => location.reload());
  if (id === null) return showErrorPage(NOT_FOUND);
  if (initialToken === null) return showErrorPage(INVALID_LINK);

  const saved = loadUser();
  // this browser's author, checked (or created) while the document is looked up
  const [opened, identity] = await Promise.all([
    openDocument(id, initialToken),
    saved !== null ? ensureAuthor(saved) : Promise.resolve<Identity>({ secret: loadAuthorSecret(), author: null }),
  ]);
  if (typeof opened === "string") {
    return showErrorPage(opened, opened === INVALID_LINK ? "Ask whoever shared it for a new link." : undefined);
  }
  const readOnly = opened.role !== "edit";
  rememberDoc({
    id,
    title: opened.title,
    ...(readOnly ? { viewToken: initialToken } : { editToken: initialToken }),
  });
  setPageTitle(opened.title);

  /** The token in use: the fragment's, until a reset of the edit link replaces it. */
  let token = initialToken;
  /** Whether the person has a name; until then they are not in presence (awareness state null). */
  let named = saved !== null;
  let user: User = saved ?? { name: FALLBACK_NAME, color: randomColor() };
  /** The secret of the author this page acts as (sockets, feed, REST writes); null: anonymous. */
  let authorSecret = identity.secret;
  /** What others see of this person is the author's: the local name and color follow it. */
  const adoptAuthor = (next: Identity): void => {
    authorSecret = next.secret;
    if (next.author !== null && named) {
      user = { name: next.author.name, color: next.author.color };
      saveUser(user);
    }
  };
  adoptAuthor(identity);
  const actor = (): Actor => ({ author: authorSecret, name: named ? user.name : null });

  const destroyers: (() => void)[] = [];
  let failed = false;
  const fail = (message: string, detail?: string): void => {
    if (failed) return;
    failed = true;
    for (const destroy of destroyers.reverse()) destroy();
    showErrorPage(message, detail);
  };
  const deleted = (): void => {
    forgetDoc(id);
    fail(DELETED, "Its editors deleted it, so it can no longer be opened.");
  };

  /** A pending reset of this page's own edit link: a 4401 meanwhile is the old token's. */
  let rotation: Promise<string> | null = null;

  let titleView: ReturnType<typeof createTitle> | null = null;
  const sync = createSync({
    id,
    token,
    author: authorSecret,
    readOnly,
    onAuthorRejected: (secret) => void authorRejected(secret),
    onTitle: (title) => titleView?.setRemote(title),
    onClosed: (code, reason) => {
      if (code === CLOSE_BAD_TOKEN) void tokenRejected(token);
      else if (code === CLOSE_NOT_FOUND) deleted();
      else if (code === CLOSE_TOO_BIG) {
        stopWith(
          TOO_LARGE,
          reason.startsWith("document too large")
            ? "It has reached the size limit, so your latest changes were not saved. They are kept in this browser: copy them out before you close the page."
            : "A change was too large to send, so it was not saved. It is kept in this browser: copy it out before you close the page.",
        );
      }
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
    save: async (title) => (await renameDoc(id, token, title, actor())).title,
    onChange: onTitleShown,
  });
  destroyers.push(() => titleView?.destroy());

  const content = h("div", { class: "sheet" });
  const rich = createEditor({ element: content, ydoc: sync.ydoc, provider: sync.provider, user, editable: !readOnly });
  destroyers.push(() => rich.destroy());
  const awareness = sync.provider.awareness;
  // not in presence before the name prompt is answered: nothing is announced for a null state
  if (!named) awareness.setLocalState(null);

  const toolbar = createToolbar(rich.editor);
  destroyers.push(() => toolbar.destroy());
  const status = createStatus(sync, { readOnly });
  destroyers.push(() => status.destroy());
  const presence = createPresence(awareness, { onSelfClick: () => void changeName() });
  destroyers.push(() => presence.destroy());

  // read marks (issue 11), started once the document is on screen (see the end)
  let reads: { seen(): void } | null = null;
  // "Show authors" at now: the live text coloured by author, kept current while people type
  const liveAuthors = createLiveAuthors({ id, token: () => token, editor: rich.editor, ydoc: sync.ydoc });
  destroyers.push(() => liveAuthors.destroy());
  // the history view (issue 11): a past revision, server-rendered, takes the editor's place
  const historyView = createHistory({
    id,
    token: () => token,
    canEdit: () => !readOnly && !stopped,
    author: () => authorSecret,
    live: content,
    onPastChange: (past) => {
      toolbar.element.hidden = readOnly || stopped || past;
      // back at now: what arrived meanwhile is on screen only now
      if (!past) reads?.seen();
    },
    onShowAuthorsLive: (on) => liveAuthors.set(on),
  });
  destroyers.push(() => historyView.destroy());

  // the activity feed (SSE, like the viewer page), under this person's name; its presence
  // says who is editing right now
  const activity = createActivityList();
  const panel = createActivityPanel(activity, { collapsed: window.matchMedia(NARROW).matches });
  destroyers.push(() => panel.destroy());
  const startFeed = (): Feed =>
    createFeed({
      id,
      token,
      name: named ? user.name : null,
      author: () => authorSecret,
      onAuthorRejected: authorRejected,
      onPresence: (users) => presence.setFeedUsers(users),
      onActivity: (item) => {
        activity.add(item);
        historyView.onActivity(item);
      },
      onReset: () => activity.clear(),
      onDeleted: deleted,
      onRejected: (code) => {
        if (code === 404) deleted();
        else void tokenRejected(token);
      },
    });
  let feed: Feed | null = null;
  destroyers.push(() => feed?.destroy());
  /** (Re)opens the feed: viewers list it under a name, and it needs the current token. */
  const restartFeed = (): void => {
    feed?.destroy();
    feed = startFeed();
  };

  /** Stops syncing for good but keeps the page and its local copy, with a banner saying why. */
  let stopped = false;
  const alertSlot = h("div", {});
  const stopWith = (message: string, detail: string): void => {
    if (failed || stopped) return;
    stopped = true;
    sync.stop();
    rich.editor.setEditable(false);
    toolbar.element.hidden = true;
    alertSlot.replaceChildren(pageAlert(message, detail));
  };

  /** Adopts a new edit token: the next socket, the feed, the API calls and the page's URL use it. */
  const useEditToken = (next: string): void => {
    token = next;
    sync.setToken(next);
    rememberDoc({ id, editToken: next, touch: false });
    // replaceState fires no hashchange (which reloads the page)
    history.replaceState(history.state, "", `${location.pathname}${location.search}#${next}`);
    if (!stopped) restartFeed();
  };

  /**
   * The server refused `rejected` (socket 4401 or a 401 on the feed). After a reset of this
   * page's own link, carry on with the new token; when another tab of this browser reset it,
   * take the token it stored; otherwise the link is gone.
   */
  const tokenRejected = async (rejected: string): Promise<void> => {
    if (rotation !== null) {
      try {
        await rotation;
      } catch {
        // the reset failed: see whether the old token still works below
      }
    }
    if (failed || stopped) return;
    if (token === rejected) {
      const stored = readOnly ? findDoc(id)?.viewToken : findDoc(id)?.editToken;
      if (stored && stored !== rejected) {
        try {
          const info = await fetchDoc(id, stored);
          if (!readOnly && info.role === "edit") useEditToken(stored);
          else if (readOnly) {
            token = stored;
            sync.setToken(stored);
            history.replaceState(history.state, "", `${location.pathname}${location.search}#${stored}`);
            restartFeed();
          }
        } catch {
          // that one is dead too
        }
      }
    }
    if (token === rejected) {
      feed?.destroy();
      feed = null;
      stopWith(LINK_GONE, `${LINK_GONE_DETAIL} What you wrote since is kept in this browser only.`);
      return;
    }
    if (sync.connection === "stopped") sync.reconnect();
  };

  const share = createShare({
    id,
    editToken: () => (readOnly ? null : token),
    reset: async (role) => {
      if (role === "view") {
        const viewToken = await rotateToken(id, token, "view", actor());
        rememberDoc({ id, viewToken, touch: false });
        return;
      }
      const pending = rotateToken(id, token, "edit", actor());
      rotation = pending;
      try {
        useEditToken(await pending);
      } finally {
        if (rotation === pending) rotation = null;
      }
      // the old socket may have been closed before the answer came: reconnect with the new token
      if (sync.connection === "stopped" && !stopped) sync.reconnect();
    },
  });
  destroyers.push(() => share.destroy());

  /** Acts as another author from now on: the socket and the feed are reopened as it. */
  const switchAuthor = (next: Identity): void => {
    const changed = next.secret !== authorSecret;
    adoptAuthor(next);
    if (!changed) return;
    sync.setAuthor(authorSecret);
    if (feed !== null && !stopped) restartFeed();
  };

  /** The server no longer knows `secret` (socket 4401 "unknown author", or the feed's 401). */
  let replacing: Promise<void> | null = null;
  const authorRejected = (secret: string | null): Promise<void> => {
    replacing ??= (async () => {
      let next = await replaceAuthor(secret ?? "", named ? user : null);
      if (next.secret === secret) next = { secret: null, author: null }; // anonymous for now
      switchAuthor(next);
      if (named) rich.setUser(user);
    })().finally(() => {
      replacing = null;
    });
    return replacing;
  };

  const changeName = async (): Promise<void> => {
    const next = await askForName(named ? user : null);
    const renamed = !named || next.name !== user.name;
    const first = !named;
    named = true;
    user = cleanUser(next);
    saveUser(user);
    // the author first (created on a first name): the socket then reconnects as it, so the
    // person appears in presence under the author's name
    switchAuthor(await renameAuthor(user));
    if (first) awareness.setLocalState({ user });
    rich.setUser(user);
    if (renamed) restartFeed();
  };

  // a rename, or a new author, in another tab of this browser applies here too
  const onStorage = (e: StorageEvent): void => {
    if (e.key === AUTHOR_KEY && named) {
      const secret = loadAuthorSecret();
      if (secret !== authorSecret) switchAuthor({ secret, author: null });
      return;
    }
    if (e.key !== "swell.user" || !named) return;
    const next = loadUser();
    if (next && (next.name !== user.name || next.color !== user.color)) {
      const renamed = next.name !== user.name;
      user = next;
      rich.setUser(next);
      if (renamed) restartFeed();
    }
  };
  window.addEventListener("storage", onStorage);
  destroyers.push(() => window.removeEventListener("storage", onStorage));

  const header = h(
    "header",
    { class: "topbar" },
    h("a", { class: "brand", href: "/", "aria-label": "Swell: your documents" }, h("span", { class: "brand__mark", "aria-hidden": "true" }, "≈"), h("span", { class: "brand__name" }, "Swell")),
    h("div", { class: "topbar__title" }, titleView.element, status.element),
    h("div", { class: "topbar__people" }, presence.element, historyView.button, share.element),
  );
  if (readOnly) toolbar.element.hidden = true;
  const main = h("main", { class: "page" }, content, historyView.past);
  const chrome = h("div", { class: "chrome" }, header, toolbar.element, alertSlot);
  document.body.replaceChildren(chrome, h("div", { class: "workspace" }, main, panel.element, historyView.panel));
  document.body.classList.add("editor-page");
  destroyers.push(exposeHeight(chrome, "--chrome-height"));

  // clicking below the text puts the caret at its end, in a new paragraph if it ends otherwise
  main.addEventListener("mousedown", (e) => {
    if (historyView.showingPast) return;
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
    removeAwarenessStates(awareness, [awareness.clientID], "page hidden");
  };
  // back from the back/forward cache: be present again
  const onPageShow = (e: PageTransitionEvent): void => {
    if (e.persisted && named) awareness.setLocalState({ user: cleanUser(user) });
  };
  window.addEventListener("pagehide", onPageHide);
  window.addEventListener("pageshow", onPageShow);
  destroyers.push(() => {
    window.removeEventListener("pagehide", onPageHide);
    window.removeEventListener("pageshow", onPageShow);
  });

  // the document is on screen (and syncing) before a first-time visitor is asked for a name
  if (!named) await changeName();
  else restartFeed();
  if (!readOnly && !failed && !stopped) rich.editor.commands.focus("end");
  // read marks (issue 11): the old mark is read and its changes highlighted, then marks are reported
  if (!failed) {
    // while a past revision is shown, what arrives is not seen: the mark stays
    const tracking = trackEditorReads({
      id,
      token: () => token,
      author: () => authorSecret,
      editor: rich.editor,
      sync,
      onScreen: () => !historyView.showingPast,
    });
    reads = tracking;
    destroyers.push(() => tracking.destroy());
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  showErrorPage("Something went wrong", err instanceof Error ? err.message : String(err));
});
