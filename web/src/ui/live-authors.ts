/**
 * "Show authors" in the live editor (issue 11): the text is tinted in the colour of who wrote
 * it ("Written by Ada"), and stays so while anyone types.
 *
 * The server's attribution (GET /attribution?from=0) names, per author, the Yjs ids they
 * inserted. The server binds a Yjs client id to the first author that wrote with it, so the
 * attribution gives a map client id → author; every item of this page's Y.Doc is then
 * coloured by its client's author, in one walk over the shared fragment when turned on.
 *
 * Then only what each transaction inserted is looked at, never the whole document:
 * - local typing: the ranges the transaction's steps inserted, this browser's client id;
 * - y-tiptap's remote changes (a replacement of the whole document): the part that differs,
 *   whose Yjs items are found by walking only the top-level blocks it covers.
 * Deleted text takes its decorations with it (mapping). Text from a client id the map does not
 * know yet (a new person) stays neutral until the attribution is fetched again (debounced).
 */
import type { Editor } from "@tiptap/core";
import type { Node as PMNode } from "@tiptap/pm/model";
import { type EditorState, Plugin, PluginKey, type Transaction } from "@tiptap/pm/state";
import { Decoration, DecorationSet } from "@tiptap/pm/view";
import { ySyncPluginKey } from "@tiptap/y-tiptap";
import * as Y from "yjs";
import type { Author } from "../api";
import { fetchAttribution } from "../read-api";
import { authorColor, authorName } from "./avatar";
import { diffMap, inlineRange, mapThrough, walkYType } from "./since-read";
import "./live-authors.css";

/** At most this many runs are coloured when turned on (a run: one author's text in one block). */
export const MAX_LIVE_DECORATIONS = 20_000;
/** Text from an unknown client id: the attribution is fetched again this long after. */
export const REFETCH_MS = 1_000;
/** An unknown client id is looked for in this many fetches at most (then it stays neutral). */
const MAX_TRIES = 3;

const liveAuthorsKey = new PluginKey<DecorationSet>("swellLiveAuthors");

type Meta = { set: DecorationSet } | { clear: true };

/** One author's text: [from, to) in the document; author undefined: not known (yet). */
interface Run {
  from: number;
  to: number;
  author: Author | null;
}

/** Whose the text of client `client` is: an author, null (anonymous), undefined (unknown). */
type Authors = Map<number, Author | null>;

function attrs(author: Author | null): Record<string, string> {
  const name = authorName(author);
  return {
    class: "live-author",
    style: `--live-author-color: ${authorColor(author)}`,
    title: `Written by ${name}`,
    "aria-description": `Written by ${name}`,
    "data-author": author?.id ?? "",
    "data-author-name": name,
    "data-testid": "live-author",
  };
}

const keyOf = (author: Author | null): string => author?.id ?? "";

function decoration(doc: PMNode, run: Run): Decoration | null {
  if (inlineRange(doc, run.from, run.to)) {
    return Decoration.inline(run.from, run.to, attrs(run.author), {
      inclusiveStart: false,
      inclusiveEnd: false,
      author: keyOf(run.author),
      who: run.author,
    });
  }
  if (run.to - run.from === 1 && doc.nodeAt(run.from)?.isLeaf) {
    return Decoration.node(run.from, run.to, attrs(run.author), { author: keyOf(run.author), who: run.author });
  }
  return null;
}

/** Appends [from, to) of `author` to `runs`, merged with the last run when they touch. */
function pushRun(runs: Run[], from: number, to: number, author: Author | null): void {
  const last = runs[runs.length - 1];
  if (last && last.to === from && keyOf(last.author) === keyOf(author)) last.to = to;
  else runs.push({ from, to, author });
}

/**
 * Adds `runs` (text just inserted, or recomputed) to `set`: decorations there of other authors
 * are cut around them, touching ones of the same author are merged with them.
 */
function addRuns(set: DecorationSet, doc: PMNode, runs: Run[]): DecorationSet {
  const remove: Decoration[] = [];
  const add: Decoration[] = [];
  for (const run of runs) {
    if (run.from >= run.to) continue;
    let { from, to } = run;
    const key = keyOf(run.author);
    for (const old of set.find(from, to)) {
      const spec = old.spec as { author?: string; who?: Author | null };
      if (spec.author === undefined) continue;
      if (old.to < from || old.from > to) continue;
      if (spec.author === key) {
        // touching or overlapping, same author: one decoration (if in the same block)
        const merged = { from: Math.min(from, old.from), to: Math.max(to, old.to), author: run.author };
        if (!inlineRange(doc, merged.from, merged.to)) continue;
        remove.push(old);
        from = merged.from;
        to = merged.to;
      } else if (old.from < to && old.to > from) {
        // someone else's, around what was inserted (mapping stretched it): cut it
        remove.push(old);
        const who = spec.who ?? null;
        for (const part of [
          { from: old.from, to: from, author: who },
          { from: to, to: old.to, author: who },
        ]) {
          if (part.from >= part.to) continue;
          const d = decoration(doc, part);
          if (d) add.push(d);
        }
      }
    }
    const d = decoration(doc, { from, to, author: run.author });
    if (d) add.push(d);
  }
  if (remove.length === 0 && add.length === 0) return set;
  return set.remove(remove).add(doc, add);
}

/** Splits [from, to) of `doc` into the parts that can carry an inline (or leaf) decoration. */
function inlineParts(doc: PMNode, from: number, to: number, author: Author | null, runs: Run[]): void {
  doc.nodesBetween(from, to, (node, pos) => {
    if (node.isTextblock) {
      const start = Math.max(from, pos + 1);
      const end = Math.min(to, pos + 1 + node.content.size);
      if (start < end) runs.push({ from: start, to: end, author });
      return false;
    }
    if (node.isLeaf && pos >= from && pos + 1 <= to) runs.push({ from: pos, to: pos + 1, author });
    return true;
  });
}

/** The ranges (in the final document) that a local transaction's steps inserted. */
function insertedByTransaction(tr: Transaction): [number, number][] {
  const ranges: [number, number][] = [];
  const maps = tr.mapping.maps;
  maps.forEach((map, i) => {
    map.forEach((_oldStart, _oldEnd, newStart, newEnd) => {
      if (newEnd <= newStart) return;
      const rest = tr.mapping.slice(i + 1);
      const from = rest.map(newStart, 1);
      const to = rest.map(newEnd, -1);
      if (from < to) ranges.push([from, to]);
    });
  });
  return ranges;
}

export interface LiveAuthorsOptions {
  id: string;
  token: () => string;
  editor: Editor;
  ydoc: Y.Doc;
  /** the shared fragment's name (TipTap's Collaboration field) */
  field?: string;
}

export interface LiveAuthors {
  /** Colours the live text by author (on), or stops (off). */
  set(on: boolean): void;
  readonly on: boolean;
  /** settles once the colours asked for last are on screen (or failed) */
  readonly ready: Promise<void>;
  destroy(): void;
}

export function createLiveAuthors(options: LiveAuthorsOptions): LiveAuthors {
  const { editor, ydoc } = options;
  const fragment = ydoc.getXmlFragment(options.field ?? "default");
  let on = false;
  let registered = false;
  /** client id → author, from the last attribution (and this browser's own client) */
  let authors: Authors = new Map();
  /** unknown client ids seen since the last fetch, and how many fetches missed them */
  const unknown = new Set<number>();
  const tries = new Map<number, number>();
  let refetchTimer: ReturnType<typeof setTimeout> | null = null;
  let fetching: Promise<void> | null = null;
  let generation = 0;
  let ready: Promise<void> = Promise.resolve();

  const authorOf = (client: number): Author | null | undefined => {
    if (authors.has(client)) return authors.get(client);
    if ((tries.get(client) ?? 0) < MAX_TRIES) {
      unknown.add(client);
      scheduleRefetch();
    }
    return undefined;
  };

  /** The runs of Yjs items in [from, to) of `doc`, walking only the top-level blocks there. */
  const runsIn = (doc: PMNode, from: number, to: number): Run[] | null => {
    const runs: Run[] = [];
    const schema = doc.type.schema;
    let index = 0;
    let pos = 0;
    for (let item = fragment._start; item !== null && pos < to; item = item.right) {
      if (item.deleted) continue;
      if (!(item.content instanceof Y.ContentType)) continue;
      const child = item.content.type;
      if (!(child instanceof Y.XmlElement) || schema.nodes[child.nodeName] === undefined) continue;
      if (index >= doc.childCount) return null;
      const node = doc.child(index++);
      const end = pos + node.nodeSize;
      if (end > from) {
        if (node.isLeaf) {
          const author = authorOf(item.id.client);
          if (author !== undefined) pushRun(runs, pos, end, author);
        } else {
          const size = walkYType(child, pos + 1, schema, {
            live: (client, _clock, length, at) => {
              const start = Math.max(at, from);
              const stop = Math.min(at + length, to);
              if (start >= stop) return;
              const author = authorOf(client);
              if (author !== undefined) pushRun(runs, start, stop, author);
            },
          });
          if (size + 2 !== node.nodeSize) return null; // the Y.Doc and the editor disagree
        }
      }
      pos = end;
    }
    return runs;
  };

  /** Every run of the document (one walk), up to the bound. */
  const allRuns = (doc: PMNode): Run[] | null => {
    const runs: Run[] = [];
    const size = walkYType(fragment, 0, doc.type.schema, {
      live: (client, _clock, length, at) => {
        if (runs.length >= MAX_LIVE_DECORATIONS) return;
        const author = authorOf(client);
        if (author !== undefined) pushRun(runs, at, at + length, author);
      },
    });
    return size === doc.content.size ? runs : null;
  };

  const plugin = (): Plugin<DecorationSet> =>
    new Plugin<DecorationSet>({
      key: liveAuthorsKey,
      state: {
        init: () => DecorationSet.empty,
        apply(tr, set, oldState: EditorState) {
          const meta = tr.getMeta(liveAuthorsKey) as Meta | undefined;
          if (meta && "set" in meta) return meta.set;
          if (meta && "clear" in meta) return DecorationSet.empty;
          if (!tr.docChanged) return set;
          const mapped = mapThrough(set, tr, oldState);
          const sync = tr.getMeta(ySyncPluginKey) as { isChangeOrigin?: boolean } | undefined;
          const runs: Run[] = [];
          if (sync?.isChangeOrigin === true) {
            // a remote change (or undo): the items y-tiptap put in the part that differs
            const map = diffMap(oldState.doc, tr.doc);
            if (map === null) return mapped;
            let failed = false;
            map.forEach((_oldStart, _oldEnd, newStart, newEnd) => {
              if (newEnd <= newStart || failed) return;
              const found = runsIn(tr.doc, newStart, newEnd);
              if (found === null) failed = true;
              else runs.push(...found);
            });
            if (failed) scheduleRebuild();
          } else {
            // typed (or pasted) here: this browser's client id
            const author = authorOf(ydoc.clientID);
            if (author === undefined) return mapped;
            for (const [from, to] of insertedByTransaction(tr)) inlineParts(tr.doc, from, to, author, runs);
          }
          return runs.length === 0 ? mapped : addRuns(mapped, tr.doc, runs);
        },
      },
      props: {
        decorations: (state) => liveAuthorsKey.getState(state) ?? DecorationSet.empty,
      },
    });

  const dispatch = (meta: Meta): void => {
    if (editor.isDestroyed) return;
    editor.view.dispatch(editor.state.tr.setMeta(liveAuthorsKey, meta).setMeta("addToHistory", false));
  };

  /** Colours the whole document from the map (once when turned on, and after a new fetch). */
  const rebuild = (): void => {
    if (!on || !registered || editor.isDestroyed) return;
    const doc = editor.state.doc;
    const runs = allRuns(doc);
    if (runs === null) return scheduleRebuild();
    const decorations: Decoration[] = [];
    for (const run of runs) {
      const d = decoration(doc, run);
      if (d) decorations.push(d);
    }
    dispatch({ set: DecorationSet.create(doc, decorations) });
  };

  let rebuildTimer: ReturnType<typeof setTimeout> | null = null;
  function scheduleRebuild(): void {
    if (rebuildTimer !== null) return;
    rebuildTimer = setTimeout(() => {
      rebuildTimer = null;
      rebuild();
    }, 0);
  }

  /** Fetches the attribution: the map client id → author. */
  const load = (): Promise<void> => {
    const gen = generation;
    const asked = new Set(unknown);
    unknown.clear();
    fetching = fetchAttribution(options.id, options.token(), 0)
      .then((attribution) => {
        if (gen !== generation) return;
        const next: Authors = new Map();
        for (const change of attribution.changes) {
          for (const [client] of [...change.inserted, ...change.deleted]) {
            if (!next.has(client)) next.set(client, change.author);
          }
        }
        authors = next;
        for (const client of asked) {
          if (!next.has(client)) tries.set(client, (tries.get(client) ?? 0) + 1);
        }
      })
      .catch(() => {
        // shown neutral; the next unknown text asks again
      })
      .finally(() => {
        fetching = null;
      });
    return fetching;
  };

  function scheduleRefetch(): void {
    if (!on || refetchTimer !== null || fetching !== null) return;
    refetchTimer = setTimeout(() => {
      refetchTimer = null;
      if (!on) return;
      void load().then(() => {
        rebuild();
        if (unknown.size > 0) scheduleRefetch();
      });
    }, REFETCH_MS);
  }

  const stop = (): void => {
    generation++;
    unknown.clear();
    if (refetchTimer !== null) clearTimeout(refetchTimer);
    if (rebuildTimer !== null) clearTimeout(rebuildTimer);
    refetchTimer = null;
    rebuildTimer = null;
    if (registered && !editor.isDestroyed) {
      dispatch({ clear: true });
      editor.unregisterPlugin(liveAuthorsKey);
    }
    registered = false;
  };

  return {
    set(next) {
      if (next === on) return;
      on = next;
      if (!on) {
        stop();
        ready = Promise.resolve();
        return;
      }
      tries.clear();
      ready = load().then(() => {
        if (!on || editor.isDestroyed) return;
        if (!registered) {
          editor.registerPlugin(plugin());
          registered = true;
        }
        rebuild();
      });
    },
    get on() {
      return on;
    },
    get ready() {
      return ready;
    },
    destroy() {
      on = false;
      stop();
    },
  };
}
