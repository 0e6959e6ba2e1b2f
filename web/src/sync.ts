/**
 * The shared document: a Y.Doc kept in IndexedDB (offline edits survive a reload) and synced
 * with the Swell server by the stock y-websocket provider, plus Swell's extension messages
 * (100 "saved", 101 "title") and the connection and saved states the page shows.
 */
import * as bc from "lib0/broadcastchannel";
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import { encodeAwarenessUpdate } from "y-protocols/awareness";
import { IndexeddbPersistence } from "y-indexeddb";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import { createSavedState, type SaveStatus } from "./saved-state";

/** y-websocket's "query awareness" message: the server answers with everyone's awareness. */
const MESSAGE_QUERY_AWARENESS = 3;
/**
 * The stock provider drops a socket that received nothing for 30 s. A lone client hears nothing
 * unless the server echoes its awareness, so after a quiet spell we ask for the awareness states.
 */
const KEEPALIVE_MS = 10_000;

const MESSAGE_SYNC = 0;
const MESSAGE_AWARENESS = 1;
const SYNC_STEP2 = 1;
const SYNC_UPDATE = 2;

export const MESSAGE_SAVED = 100;
export const MESSAGE_TITLE = 101;

/** stopped: the server closed the socket for good (see `SyncOptions.onClosed`); no retries. */
export type ConnectionStatus = "connected" | "reconnecting" | "offline" | "stopped";

/** The server refused an update that would make the document pass its size limit. */
export const CLOSE_TOO_BIG = 1009;
/** The token is wrong, or was rotated (contract v2): it stopped working. Also an unknown author. */
export const CLOSE_BAD_TOKEN = 4401;
/** The reason of a 4401 that refused the socket's author secret, not its token. */
export const UNKNOWN_AUTHOR = "unknown author";
export const CLOSE_NOT_FOUND = 4404;

/** Closes after which reconnecting cannot help: 44xx, and 1009 (the same update would be refused again). */
export function isTerminalClose(code: number): boolean {
  return (code >= 4400 && code < 4500) || code === CLOSE_TOO_BIG;
}

export interface SyncOptions {
  id: string;
  token: string;
  /** The secret of the author the socket acts as (contract v2); none: anonymous. */
  author?: string | null;
  /**
   * The server refused `secret` (4401 "unknown author"): the page finds another author and
   * calls `setAuthor`, which connects again.
   */
  onAuthorRejected?: (secret: string | null) => void;
  /**
   * A view token's page: no BroadcastChannel, so that another tab of this browser cannot pass
   * changes through it (and it cannot pass any to them).
   */
  readOnly?: boolean;
  /** A document rename announced by the server (message 101). */
  onTitle?: (title: string) => void;
  /**
   * The server closed the socket for good (4401 bad or rotated token, 4404 unknown document,
   * 1009 document too large); the provider no longer reconnects (`reconnect()` resumes). Not
   * called for a 4401 of a socket opened with a token that `setToken` has replaced since.
   */
  onClosed?: (code: number, reason: string) => void;
}

export interface Sync {
  readonly ydoc: Y.Doc;
  readonly provider: WebsocketProvider;
  readonly persistence: IndexeddbPersistence;
  readonly connection: ConnectionStatus;
  readonly saveStatus: SaveStatus;
  /** The token for the next socket (after a rotation); the open one keeps its own. */
  setToken(token: string): void;
  /** Acts as this author from now on: an open socket is replaced by one that does. */
  setAuthor(secret: string | null): void;
  /** Connects again after a terminal close. */
  reconnect(): void;
  /** Stops for good: closes the socket and never reconnects (the local copy stays). */
  stop(): void;
  onConnectionChange(fn: (status: ConnectionStatus) => void): () => void;
  onSaveStatusChange(fn: (status: SaveStatus) => void): () => void;
  destroy(): void;
}

type MessageHandler = (
  encoder: encoding.Encoder,
  decoder: decoding.Decoder,
  provider: WebsocketProvider,
  emitSynced: boolean,
  messageType: number,
) => void;

/** ws(s)://host/ws for the page's own origin. */
export function websocketBase(): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

export function decodeTitleMessage(payload: Uint8Array): string | null {
  try {
    const data: unknown = JSON.parse(new TextDecoder().decode(payload));
    if (data && typeof data === "object" && "title" in data && typeof data.title === "string") {
      return data.title;
    }
  } catch {
    // malformed: ignore
  }
  return null;
}

/** The update in a sync step 2 or update message, read without moving `decoder`. */
function peekSyncUpdate(decoder: decoding.Decoder): Uint8Array | null {
  try {
    const peek = decoding.clone(decoder);
    const type = decoding.readVarUint(peek);
    return type === SYNC_STEP2 || type === SYNC_UPDATE ? decoding.readVarUint8Array(peek) : null;
  } catch {
    return null; // malformed: the stock handler will complain
  }
}

export function createSync(options: SyncOptions): Sync {
  const ydoc = new Y.Doc();
  const persistence = new IndexeddbPersistence(`swell:${options.id}`, ydoc);
  const params: Record<string, string> = { token: options.token, swell: "1" };
  if (options.author) params.author = options.author;
  const provider = new WebsocketProvider(websocketBase(), encodeURIComponent(options.id), ydoc, {
    params,
    disableBc: options.readOnly === true,
    connect: false,
    shouldReconnect: (event) => !isTerminalClose(event.code),
  });
  // The stock provider sends every awareness change it sees, other people's too (it echoes what
  // the server sent it, and announces their removal when the socket drops). A socket may speak
  // only for its own client id (the server closes one that does not, 1008): send ours alone.
  const awareness = provider.awareness;
  awareness.off("update", provider._awarenessUpdateHandler);
  const sendOwnAwareness = ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }): void => {
    const own = ydoc.clientID;
    if (!added.includes(own) && !updated.includes(own) && !removed.includes(own)) return;
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, MESSAGE_AWARENESS);
    encoding.writeVarUint8Array(encoder, encodeAwarenessUpdate(awareness, [own]));
    const message = encoding.toUint8Array(encoder);
    const ws = provider.ws;
    if (provider.wsconnected && ws && ws.readyState === WebSocket.OPEN) ws.send(message);
    if (provider.bcconnected) bc.publish(provider.bcChannel, message, provider);
  };
  awareness.on("update", sendOwnAwareness);

  /** The token and author the current (or last) socket was opened with. */
  let socketToken = options.token;
  let socketAuthor = options.author ?? null;
  let stopped = false;

  const saved = createSavedState(ydoc, { isLocal: (origin) => origin !== provider });

  // Watch the server's sync messages for the updates they carry. y-websocket runs the same
  // handlers for BroadcastChannel messages; only the socket's come with emitSynced = true.
  const handlers = provider.messageHandlers as MessageHandler[];
  const syncHandler = handlers[MESSAGE_SYNC];
  if (syncHandler) {
    handlers[MESSAGE_SYNC] = (encoder, decoder, p, emitSynced, messageType) => {
      // noted first, so that applying it never shows a passing "Saving…"
      const update = emitSynced ? peekSyncUpdate(decoder) : null;
      if (update !== null) saved.noteServerUpdate(update);
      syncHandler(encoder, decoder, p, emitSynced, messageType);
    };
  }

  // Extension messages: read the payload, write nothing into the encoder (so nothing is sent back).
  handlers[MESSAGE_SAVED] = (_encoder, decoder) => {
    saved.notePersisted(Y.decodeStateVector(decoding.readVarUint8Array(decoder)));
  };
  handlers[MESSAGE_TITLE] = (_encoder, decoder) => {
    const title = decodeTitleMessage(decoding.readVarUint8Array(decoder));
    if (title !== null) options.onTitle?.(title);
  };

  // Connection state: "connected" once the socket is open and the first sync finished.
  const connectionListeners = new Set<(status: ConnectionStatus) => void>();
  const computeConnection = (): ConnectionStatus => {
    if (stopped) return "stopped";
    if (!navigator.onLine) return "offline";
    return provider.wsconnected && provider.synced ? "connected" : "reconnecting";
  };
  let connection = computeConnection();
  const updateConnection = (): void => {
    const next = computeConnection();
    if (next !== connection) {
      connection = next;
      for (const fn of connectionListeners) fn(connection);
    }
  };
  const onOnline = (): void => {
    // come back quickly instead of waiting out the provider's backoff
    if (provider.shouldConnect && provider.ws === null) provider.connect();
    updateConnection();
  };
  provider.on("status", (event) => {
    // emitted right after a new socket was created from the params of that moment
    if (event.status === "connecting") {
      socketToken = provider.params.token ?? socketToken;
      socketAuthor = provider.params.author ?? null;
    }
    updateConnection();
  });
  provider.on("sync", updateConnection);
  provider.on("closed", (event) => {
    if (event.code === CLOSE_BAD_TOKEN && socketToken !== provider.params.token) {
      // our own rotation: the old token's socket was closed; carry on with the new one
      provider.connect();
      return;
    }
    if (event.code === CLOSE_BAD_TOKEN && event.reason === UNKNOWN_AUTHOR && options.onAuthorRejected) {
      // not the link: this browser's author; the page replaces it (setAuthor connects again)
      if (socketAuthor !== (provider.params.author ?? null)) provider.connect();
      else options.onAuthorRejected(socketAuthor);
      return;
    }
    stopped = true;
    updateConnection();
    options.onClosed?.(event.code, event.reason);
  });
  window.addEventListener("online", onOnline);
  window.addEventListener("offline", updateConnection);

  const keepalive = setInterval(() => {
    const ws = provider.ws;
    if (ws && provider.wsconnected && ws.readyState === WebSocket.OPEN &&
        Date.now() - provider.wsLastMessageReceived >= KEEPALIVE_MS) {
      ws.send(new Uint8Array([MESSAGE_QUERY_AWARENESS]));
    }
  }, KEEPALIVE_MS / 2);

  provider.connect();

  return {
    ydoc,
    provider,
    persistence,
    get connection() {
      return connection;
    },
    get saveStatus() {
      return saved.status;
    },
    setToken(token) {
      provider.params = { ...provider.params, token };
    },
    setAuthor(secret) {
      const next: Record<string, string> = { ...provider.params };
      if (secret) next.author = secret;
      else delete next.author;
      const changed = next.author !== provider.params.author;
      provider.params = next;
      if (stopped) return;
      if (changed && provider.ws !== null) provider.disconnect(); // reopened below, as the author
      provider.connect();
      updateConnection();
    },
    reconnect() {
      stopped = false;
      provider.connect();
      updateConnection();
    },
    stop() {
      stopped = true;
      provider.disconnect();
      updateConnection();
    },
    onConnectionChange(fn) {
      connectionListeners.add(fn);
      return () => connectionListeners.delete(fn);
    },
    onSaveStatusChange(fn) {
      return saved.subscribe(fn);
    },
    destroy() {
      clearInterval(keepalive);
      awareness.off("update", sendOwnAwareness);
      window.removeEventListener("online", onOnline);
      window.removeEventListener("offline", updateConnection);
      connectionListeners.clear();
      saved.destroy();
      provider.destroy();
      void persistence.destroy();
      ydoc.destroy();
    },
  };
}
