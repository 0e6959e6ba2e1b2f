/**
 * "All changes saved" tracking, without I/O: compares what the local Y.Doc holds with what the
 * server says its database holds (Swell message 100 carries Y.encodeStateVector of the stored doc).
 */
import * as Y from "yjs";

export type SaveStatus = "saved" | "saving";

/** True iff for every (client, clock) in `local` the persisted vector has a clock >= it. */
export function isCovered(local: Map<number, number>, persisted: Map<number, number>): boolean {
  for (const [client, clock] of local) {
    if ((persisted.get(client) ?? 0) < clock) return false;
  }
  return true;
}

/** Raises every clock of `into` to at least the one in `from`. */
function mergeInto(into: Map<number, number>, from: Map<number, number>): void {
  for (const [client, clock] of from) {
    if ((into.get(client) ?? 0) < clock) into.set(client, clock);
  }
}

/** True when an update carries deletions but no new items (so the state vector won't move). */
function isDeleteOnly(update: Uint8Array): boolean {
  const { structs, ds } = Y.decodeUpdate(update);
  return structs.length === 0 && ds.clients.size > 0;
}

export interface SavedStateOptions {
  /** True for changes made in this tab (typing, undo, IndexedDB); false for changes from others. */
  isLocal: (origin: unknown) => boolean;
}

export interface SavedState {
  readonly status: SaveStatus;
  /** Handles a message-100 payload: the persisted state vector. */
  notePersisted(stateVector: Map<number, number>): void;
  /**
   * Handles an update the server sent (sync step 2 or update). The server stores an update
   * before it forwards it, so its items are persisted, even when this doc already had them
   * (another tab of this browser may have passed them on first).
   */
  noteServerUpdate(update: Uint8Array): void;
  /** Calls `fn` whenever the status may have changed; returns an unsubscribe function. */
  subscribe(fn: (status: SaveStatus) => void): () => void;
  destroy(): void;
}

export function createSavedState(doc: Y.Doc, options: SavedStateOptions): SavedState {
  // What the database is known to hold: message 100, raised by the updates the server sent.
  const persisted = new Map<number, number>();
  // Deletions don't advance a state vector, so a delete-only local change is pending until the
  // next "saved" message after it (the server sends one after each commit holding our updates).
  let pendingDeletes = false;
  let status: SaveStatus = "saved";
  const listeners = new Set<(status: SaveStatus) => void>();

  const evaluate = (): void => {
    const next: SaveStatus =
      !pendingDeletes && isCovered(Y.decodeStateVector(Y.encodeStateVector(doc)), persisted)
        ? "saved"
        : "saving";
    if (next !== status) {
      status = next;
      for (const fn of listeners) fn(status);
    }
  };

  const onUpdate = (update: Uint8Array, origin: unknown): void => {
    if (options.isLocal(origin) && isDeleteOnly(update)) pendingDeletes = true;
    evaluate();
  };
  doc.on("update", onUpdate);
  evaluate();

  return {
    get status() {
      return status;
    },
    noteServerUpdate(update) {
      // (not encodeStateVectorFromUpdate: it ignores clients whose items don't start at clock 0)
      mergeInto(persisted, Y.parseUpdateMeta(update).to);
      evaluate();
    },
    notePersisted(stateVector) {
      mergeInto(persisted, stateVector);
      pendingDeletes = false;
      evaluate();
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    destroy() {
      doc.off("update", onUpdate);
      listeners.clear();
    },
  };
}
