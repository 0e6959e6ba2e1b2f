/**
 * The editor page's "changes since you last looked" (issue 11): when the document changed
 * after the reader's mark, the text each author added since is tinted and underlined in their
 * colour ("Added by Grace"), a marker shows where text was deleted ("Deleted by Ada"), and a
 * notice names who changed it, with Dismiss.
 *
 * The server's attribution names Yjs ids (client, clock ranges); they are found in this page's
 * Y.Doc by one walk over the shared fragment, which gives each item's ProseMirror position.
 * The decorations then live in a ProseMirror plugin and are mapped through every transaction:
 * local typing maps them (cheap), and a remote change, which y-tiptap applies as a replacement
 * of the whole document, maps them through the part of the document that really changed.
 */
import type { Editor } from "@tiptap/core";
import type { Node as PMNode, Schema } from "@tiptap/pm/model";
import { type EditorState, Plugin, PluginKey, type Transaction } from "@tiptap/pm/state";
import { Mapping, StepMap } from "@tiptap/pm/transform";
import { Decoration, DecorationSet } from "@tiptap/pm/view";
import { ySyncPluginKey } from "@tiptap/y-tiptap";
import * as Y from "yjs";
import type { Author } from "../api";
import { createReadTracker } from "../read-mark";
import type { AttributedChange } from "../read-api";
import type { Sync } from "../sync";
import { authorColor, authorName } from "./avatar";
import { createSinceReadNotice, loadChangesSinceRead, type ChangesSinceRead, type ReaderRef } from "./unread-notice";
import "./since-read.css";

/** At most this many decorations (highlights and deletion markers) are shown. */
export const MAX_DECORATIONS = 2000;

const sinceReadKey = new PluginKey<DecorationSet>("swellSinceRead");

type Meta = { set: DecorationSet } | { clear: true };

/** The range of `before` that differs from `after`, as a step map (null: the same). */
export function diffMap(before: PMNode, after: PMNode): StepMap | null {
  const start = before.content.findDiffStart(after.content);
  if (start === null) return null;
  const end = before.content.findDiffEnd(after.content);
  if (end === null) return null;
  let endA = end.a;
  let endB = end.b;
  const overlap = start - Math.min(endA, endB);
  if (overlap > 0) {
    endA += overlap;
    endB += overlap;
  }
  return new StepMap([start, endA - start, endB - start]);
}

/** Maps `set` through `tr` (y-tiptap's remote replacements: through the part that differs). */
export function mapThrough(set: DecorationSet, tr: Transaction, oldState: EditorState): DecorationSet {
  if (set === DecorationSet.empty || !tr.docChanged) return set;
  const sync = tr.getMeta(ySyncPluginKey) as { isChangeOrigin?: boolean } | undefined;
  if (sync?.isChangeOrigin === true) {
    // y-tiptap replaced the whole document: only what differs really changed
    const map = diffMap(oldState.doc, tr.doc);
    return map === null ? set : set.map(new Mapping([map]), tr.doc);
  }
  return set.map(tr.mapping, tr.doc);
}

function sinceReadPlugin(): Plugin<DecorationSet> {
  return new Plugin<DecorationSet>({
    key: sinceReadKey,
    state: {
      init: () => DecorationSet.empty,
      apply(tr, set, oldState) {
        const meta = tr.getMeta(sinceReadKey) as Meta | undefined;
        if (meta && "set" in meta) return meta.set;
        if (meta && "clear" in meta) return DecorationSet.empty;
        return mapThrough(set, tr, oldState);
      },
    },
    props: {
      decorations: (state) => sinceReadKey.getState(state) ?? DecorationSet.empty,
    },
  });
}

// --- finding the ids in the Y.Doc ----------------------------------------------------------

/** Sorted, per client: [start clock, end clock, index of the change (author)]. */
type Ranges = Map<number, [number, number, number][]>;

function rangesOf(changes: AttributedChange[], which: "inserted" | "deleted"): Ranges {
  const ranges: Ranges = new Map();
  changes.forEach((change, index) => {
    for (const [client, clock, length] of change[which]) {
      if (!(length > 0)) continue;
      let list = ranges.get(client);
      if (!list) ranges.set(client, (list = []));
      list.push([clock, clock + length, index]);
    }
  });
  for (const list of ranges.values()) list.sort((a, b) => a[0] - b[0]);
  return ranges;
}

/** Calls `fn(from, to, change)` for each part of [clock, clock + length) in `ranges`. */
function overlaps(
  ranges: Ranges,
  client: number,
  clock: number,
  length: number,
  fn: (from: number, to: number, change: number) => void,
): void {
  const list = ranges.get(client);
  if (!list) return;
  const end = clock + length;
  // the first range ending after `clock`
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]![1] <= clock) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < list.length; i++) {
    const [s, e, change] = list[i]!;
    if (s >= end) break;
    // ranges of different authors never overlap; of one author, they may touch
    fn(Math.max(s, clock), Math.min(e, end), change);
  }
}

interface Found {
  /** ProseMirror ranges of added text, merged per author */
  inserted: { from: number; to: number; change: number }[];
  /** positions where something was deleted, one per author and place */
  deleted: { pos: number; change: number }[];
  /** the content size the walk arrived at (must equal the editor's) */
  size: number;
}

/** One walk over the fragment: where each attributed id is in ProseMirror's coordinates. */
function findChanges(fragment: Y.XmlFragment, schema: Schema, changes: AttributedChange[]): Found {
  const inserted = rangesOf(changes, "inserted");
  const deletedRanges = rangesOf(changes, "deleted");
  const found: Found = { inserted: [], deleted: [], size: 0 };

  const addInserted = (from: number, to: number, change: number): void => {
    const last = found.inserted[found.inserted.length - 1];
    if (last && last.change === change && last.to === from) last.to = to;
    else found.inserted.push({ from, to, change });
  };
  const addDeleted = (pos: number, change: number): void => {
    const last = found.deleted[found.deleted.length - 1];
    if (last && last.change === change && last.pos === pos) return;
    found.deleted.push({ pos, change });
  };
  found.size = walkYType(fragment, 0, schema, {
    live: (client, clock, length, at) =>
      overlaps(inserted, client, clock, length, (from, to, change) =>
        addInserted(at + (from - clock), at + (to - clock), change),
      ),
    deleted: (client, clock, length, pos) =>
      overlaps(deletedRanges, client, clock, length, (_f, _t, change) => addDeleted(pos, change)),
  });
  return found;
}

/** What `walkYType` calls for each Yjs item, in document order. */
export interface YVisitor {
  /** `length` live ids from (client, clock) at ProseMirror position `pos` (text, or a leaf: 1) */
  live(client: number, clock: number, length: number, pos: number): void;
  /** deleted ids (client, clock, length), where they were (`pos`) */
  deleted?(client: number, clock: number, length: number, pos: number): void;
}

/**
 * Walks the content of `type` (the shared fragment, or an element whose content starts at
 * ProseMirror position `start`), as y-tiptap renders it. Returns the content size walked.
 */
export function walkYType(type: Y.XmlFragment | Y.XmlElement, start: number, schema: Schema, visit: YVisitor): number {
  const deletedHere = (item: Y.Item, pos: number): void => {
    visit.deleted?.(item.id.client, item.id.clock, item.length, pos);
  };

  const walkText = (text: Y.XmlText, start: number): number => {
    let pos = start;
    for (let item = text._start; item !== null; item = item.right) {
      if (item.deleted) {
        deletedHere(item, pos);
        continue;
      }
      if (!item.countable) continue; // formatting attributes
      visit.live(item.id.client, item.id.clock, item.length, pos);
      pos += item.length;
    }
    return pos - start;
  };

  const walk = (type: Y.XmlFragment | Y.XmlElement, start: number): number => {
    let pos = start;
    for (let item = type._start; item !== null; item = item.right) {
      if (item.deleted) {
        deletedHere(item, pos);
        continue;
      }
      const content = item.content;
      if (!(content instanceof Y.ContentType)) continue;
      const child = content.type;
      if (child instanceof Y.XmlText) {
        pos += walkText(child, pos);
      } else if (child instanceof Y.XmlElement) {
        const nodeType = schema.nodes[child.nodeName];
        if (nodeType === undefined) continue; // y-tiptap leaves it out too
        if (nodeType.isLeaf) {
          // a horizontal line, a hard break: one position
          visit.live(item.id.client, item.id.clock, 1, pos);
          pos += 1;
        } else {
          pos += walk(child, pos + 1) + 2;
        }
      }
    }
    return pos - start;
  };

  return walk(type, start);
}

/** Whether [from, to) is inline content (text or inline leaves) in `doc`. */
export function inlineRange(doc: PMNode, from: number, to: number): boolean {
  if (from < 0 || to > doc.content.size || from >= to) return false;
  const $from = doc.resolve(from);
  return $from.parent.inlineContent && $from.sameParent(doc.resolve(to));
}

function buildDecorations(
  doc: PMNode,
  found: Found,
  changes: AttributedChange[],
): { set: DecorationSet; shown: number; total: number } {
  const authors: (Author | null)[] = changes.map((c) => c.author);
  const decorations: Decoration[] = [];
  const total = found.inserted.length + found.deleted.length;
  const size = doc.content.size;
  // in document order, insertions and deletions together, up to the bound
  let i = 0;
  let d = 0;
  while (decorations.length < MAX_DECORATIONS && (i < found.inserted.length || d < found.deleted.length)) {
    const ins = found.inserted[i];
    const del = found.deleted[d];
    if (ins && (!del || ins.from <= del.pos)) {
      i++;
      if (!inlineRange(doc, ins.from, ins.to)) {
        if (ins.to - ins.from === 1 && doc.nodeAt(ins.from)?.isLeaf) {
          decorations.push(Decoration.node(ins.from, ins.to, insertedAttrs(authors[ins.change] ?? null)));
        }
        continue;
      }
      decorations.push(
        Decoration.inline(ins.from, ins.to, insertedAttrs(authors[ins.change] ?? null), {
          inclusiveStart: false,
          inclusiveEnd: false,
        }),
      );
    } else if (del) {
      d++;
      if (del.pos < 0 || del.pos > size) continue;
      const author = authors[del.change] ?? null;
      decorations.push(
        Decoration.widget(del.pos, () => deletionMarker(author), {
          side: -1,
          ignoreSelection: true,
          key: `since-read-del-${d}`,
        }),
      );
    }
  }
  return { set: DecorationSet.create(doc, decorations), shown: decorations.length, total };
}

function insertedAttrs(author: Author | null): Record<string, string> {
  const name = authorName(author);
  return {
    class: "since-read-ins",
    style: `--since-read-color: ${authorColor(author)}`,
    title: `Added by ${name}`,
    "aria-description": `Added by ${name}`,
    "data-author": author?.id ?? "",
    "data-author-name": name,
    "data-testid": "since-read-ins",
  };
}

function deletionMarker(author: Author | null): HTMLElement {
  const name = authorName(author);
  const marker = document.createElement("span");
  marker.className = "since-read-del";
  marker.contentEditable = "false";
  marker.setAttribute("role", "img");
  marker.setAttribute("aria-label", `Deleted by ${name}`);
  marker.title = `Deleted by ${name}`;
  marker.dataset.author = author?.id ?? "";
  marker.dataset.authorName = name;
  marker.dataset.testid = "since-read-del";
  marker.style.setProperty("--since-read-color", authorColor(author));
  return marker;
}

// --- the page's part -----------------------------------------------------------------------

export interface SinceReadOptions extends ReaderRef {
  editor: Editor;
  ydoc: Y.Doc;
  /** the shared fragment's name (TipTap's Collaboration field) */
  field?: string;
  /** settles once this page's Y.Doc holds the server's document */
  synced: Promise<unknown>;
  /** the notice goes just before this element (default: the editor's element) */
  before?: HTMLElement;
}

export interface SinceRead {
  /** settles once the reader's old mark was read (a tracker may move it after that) */
  readonly mark: Promise<unknown>;
  /** settles once the highlight (if any) is shown */
  readonly shown: Promise<void>;
  dismiss(): void;
  destroy(): void;
}

/** Reads the old mark, then highlights what changed after it (see the module's comment). */
export function showChangesSinceRead(options: SinceReadOptions): SinceRead {
  const { editor } = options;
  let destroyed = false;
  let registered = false;
  const since = loadChangesSinceRead(options);
  // the notice's live region, in the page before anything fills it (then read out)
  const notice = createSinceReadNotice();
  const anchor = options.before ?? (editor.options.element as HTMLElement | undefined) ?? null;
  anchor?.parentElement?.insertBefore(notice.element, anchor);

  const dismiss = (): void => {
    notice.clear();
    if (registered && !editor.isDestroyed) {
      editor.view.dispatch(editor.state.tr.setMeta(sinceReadKey, { clear: true } satisfies Meta).setMeta("addToHistory", false));
      editor.unregisterPlugin(sinceReadKey);
    }
    registered = false;
  };

  const show = (changes: ChangesSinceRead): void => {
    if (destroyed || editor.isDestroyed) return;
    const fragment = options.ydoc.getXmlFragment(options.field ?? "default");
    const state = editor.state;
    const found = findChanges(fragment, state.schema, changes.attribution.changes);
    let detail: string | undefined;
    if (found.size === state.doc.content.size) {
      const built = buildDecorations(state.doc, found, changes.attribution.changes);
      editor.registerPlugin(sinceReadPlugin());
      registered = true;
      editor.view.dispatch(editor.state.tr.setMeta(sinceReadKey, { set: built.set } satisfies Meta).setMeta("addToHistory", false));
      if (built.total > built.shown) {
        const fmt = new Intl.NumberFormat();
        detail = `Highlighting the first ${fmt.format(built.shown)} of ${fmt.format(built.total)} changes.`;
      }
    } else {
      // the page's document and the shared one disagree (mid-update): names only
      detail = "Open History to see them.";
    }
    if (changes.attribution.truncated && detail === undefined) detail = "Only the first changes are highlighted.";
    notice.show({ authors: changes.authors, ...(detail ? { detail } : {}), onDismiss: dismiss });
  };

  const shown = Promise.all([since.changes, options.synced]).then(([changes]) => {
    // after the synced update has been applied to the editor (y-tiptap does it at once)
    if (changes !== null) show(changes);
  });

  return {
    mark: since.mark,
    shown: shown.catch(() => undefined),
    dismiss,
    destroy() {
      destroyed = true;
      dismiss();
      notice.destroy();
    },
  };
}

/** Resolves when the sync is connected and synced (editor page's `sync`). */
export function whenSynced(sync: Pick<Sync, "connection" | "onConnectionChange">): Promise<void> {
  return new Promise((resolve) => {
    if (sync.connection === "connected") return resolve();
    const off = sync.onConnectionChange((status) => {
      if (status !== "connected") return;
      off();
      resolve();
    });
  });
}

export interface EditorReadsOptions extends ReaderRef {
  editor: Editor;
  sync: Pick<Sync, "ydoc" | "connection" | "onConnectionChange">;
  /**
   * Whether the live document is on screen (besides being synced): false while the history
   * view shows a past revision instead. Call `seen()` when it is again.
   */
  onScreen?: () => boolean;
}

/**
 * The editor page's read marks in one call: reads the old mark, shows the changes since it,
 * and only then reports new marks while the document is synced, on screen and visible (every
 * change of the shared document counts as seen then).
 */
export function trackEditorReads(options: EditorReadsOptions): { seen(): void; destroy(): void } {
  const since = showChangesSinceRead({
    id: options.id,
    token: options.token,
    author: options.author,
    editor: options.editor,
    ydoc: options.sync.ydoc,
    synced: whenSynced(options.sync),
  });
  const tracker = createReadTracker({
    id: options.id,
    token: options.token,
    author: options.author,
    onScreen: () => options.sync.connection === "connected" && (options.onScreen?.() ?? true),
    after: since.mark,
  });
  const seen = (): void => tracker.seen();
  options.sync.ydoc.on("update", seen);
  const offConnection = options.sync.onConnectionChange((status) => {
    if (status === "connected") seen();
  });
  return {
    seen,
    destroy() {
      options.sync.ydoc.off("update", seen);
      offConnection();
      tracker.destroy();
      since.destroy();
    },
  };
}
