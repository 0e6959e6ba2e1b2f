#!/usr/bin/env node
// Swell's load generator: many Yjs clients in one Node process, speaking what browsers speak.
//
// Every client is a real Y.Doc synced with y-protocols' sync messages over a `ws` WebSocket
// (the stock y-websocket protocol, or Hocuspocus' framing of the same messages, which prefixes
// each one with the document name and needs an auth message first). Edits are Yjs
// transactions on the XmlFragment "default" (a paragraph per client, typed into), as TipTap
// makes them. Each edit's send time is remembered by its Yjs id (client, clock); a receiver
// reads the ids an incoming update carries (Y.parseUpdateMeta) and so knows which edits just
// arrived, whatever the server merged or re-encoded. Incoming updates are applied in batches
// (Y.mergeUpdates) to keep the generator light; every run ends with all of them applied and a
// convergence check: all clients, and a client that joins afterwards, hold identical documents.
//
// The cursors mode adds what TipTap's collaboration caret sends: after every edit, an awareness
// update (y-protocols' Awareness, its clock one higher each time) whose state carries the caret
// as y-prosemirror's relative positions; receivers read only each entry's client id and clock
// (not the JSON), which is enough to time the caret's arrival as edits are timed.
//
// Every WebSocket message any client receives (of any type) is counted, one increment each: the
// result's frames_received, over the whole process (connects, syncs, the measured window, the
// drain, the convergence check, the closes), which is the window the runner measures the
// server's CPU time over (bench/scenarios.py: CPU per delivered frame).
//
// Usage: node loadgen.mjs '<json config>'. Output: JSON lines on stdout; the last one is
// {"event": "result", ...}. {"event": "mark", "name": ..., "wait": true} lines wait for a line
// on stdin, so that the runner can measure the server (RSS, CPU) at that moment.

import http from 'node:http'
import fs from 'node:fs'
import readline from 'node:readline'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'

const MSG_SYNC = 0
const MSG_AWARENESS = 1
const MSG_AUTH = 2 // Hocuspocus
const MSG_QUERY_AWARENESS = 3
const MSG_SYNC_REPLY = 4 // Hocuspocus: a sync step 1 that must not be answered with another
const AUTH_TOKEN = 0
const AUTH_DENIED = 1
const AUTH_OK = 2
const LOCAL = Symbol('local')
const LETTERS = 'abcdefghijklmnopqrstuvwxyz'

const config = JSON.parse(process.argv[2] || '{}')
const deadline = Date.now() + (config.timeout_s ?? 600) * 1000

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const now = () => performance.now()
let framesReceived = 0 // every WebSocket message any client received (see the top)

// ---- control: marks the runner answers on stdin ------------------------------------------------

const commands = []
const waiters = []
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const w = waiters.shift()
  if (w) w(line)
  else commands.push(line)
})
const nextCommand = () =>
  commands.length ? Promise.resolve(commands.shift()) : new Promise((resolve) => waiters.push(resolve))

/** Tell the runner where we are; with wait, continue only once it has measured. */
const mark = async (name, extra = {}, wait = true) => {
  emit({ event: 'mark', name, wait, t: Date.now() / 1000, ...extra })
  if (wait) await nextCommand()
}

// ---- statistics ----------------------------------------------------------------------------------

const percentile = (sorted, p) => {
  if (sorted.length === 0) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

const summarize = (values) => {
  const sorted = Float64Array.from(values).sort()
  const r = (x) => (x === null ? null : Math.round(x * 1000) / 1000)
  return {
    count: sorted.length,
    p50: r(percentile(sorted, 50)),
    p95: r(percentile(sorted, 95)),
    p99: r(percentile(sorted, 99)),
    max: r(sorted.length ? sorted[sorted.length - 1] : null)
  }
}

class CpuMeter {
  constructor () { this.reset() }
  reset () { this.t = now(); this.cpu = process.cpuUsage() }
  /** Share of one core the generator used since the last reset. */
  share () {
    const c = process.cpuUsage(this.cpu)
    return Math.round(((c.user + c.system) / 1000 / Math.max(1, now() - this.t)) * 1000) / 1000
  }
}

/** How late the event loop runs timers: the generator's own lag. */
class LagMeter {
  constructor () { this.samples = []; this.timer = null }
  start () {
    let expected = now() + 10
    this.timer = setInterval(() => {
      const t = now()
      this.samples.push(Math.max(0, t - expected))
      expected = t + 10
    }, 10)
  }
  stop () { clearInterval(this.timer); const s = summarize(this.samples); this.samples = []; return s }
}

// ---- the edit registry: who sent which clock when, who has received it -------------------------

class Registry {
  constructor () {
    this.bySender = new Map() // Yjs clientID -> {clocks: number[], times: number[], tags: number[]}
    this.receivers = 0 // clients that count arrivals
    this.outstanding = 0 // (edit, receiver) pairs not yet arrived
    this.samples = new Map() // tag -> latencies (ms)
    this.expected = new Map() // tag -> (edit, receiver) pairs expected
    this.delivered = new Map() // tag -> pairs arrived
  }

  track (clientID) {
    if (!this.bySender.has(clientID)) this.bySender.set(clientID, { clocks: [], times: [], tags: [] })
    return this.bySender.get(clientID)
  }

  /** An edit by clientID now ends at clock; tag groups samples (a step, a phase; -1: setup). */
  sent (clientID, clock, t, tag, receivers) {
    const e = this.track(clientID)
    e.clocks.push(clock)
    e.times.push(t)
    e.tags.push(tag)
    this.outstanding += receivers
    this.expected.set(tag, (this.expected.get(tag) ?? 0) + receivers)
  }

  /** A receiver got an update reaching `clock` of sender `clientID` at time t. */
  arrived (ptrs, clientID, clock, t) {
    const e = this.bySender.get(clientID)
    if (e === undefined) return
    let i = ptrs.get(clientID) ?? 0
    while (i < e.clocks.length && e.clocks[i] <= clock) {
      const tag = e.tags[i]
      let s = this.samples.get(tag)
      if (s === undefined) { s = []; this.samples.set(tag, s) }
      s.push(t - e.times[i])
      this.delivered.set(tag, (this.delivered.get(tag) ?? 0) + 1)
      this.outstanding--
      i++
    }
    ptrs.set(clientID, i)
  }

  stats (tag) {
    return summarize(this.samples.get(tag) ?? [])
  }

  missing (tag) {
    return (this.expected.get(tag) ?? 0) - (this.delivered.get(tag) ?? 0)
  }

  /** (edit, receiver) pairs arrived so far, every tag (setup included). */
  get arrivals () {
    let n = 0
    for (const count of this.delivered.values()) n += count
    return n
  }
}

// ---- received updates, kept as bytes until they are applied -------------------------------------

/** Updates in one growing buffer: nothing for the garbage collector to trace while measuring. */
class ByteLog {
  constructor () { this.buf = new Uint8Array(1024); this.len = 0; this.ends = [] }
  push (bytes) {
    const need = this.len + bytes.length
    if (need > this.buf.length) {
      let size = this.buf.length * 2
      while (size < need) size *= 2
      const grown = new Uint8Array(size)
      grown.set(this.buf.subarray(0, this.len))
      this.buf = grown
    }
    this.buf.set(bytes, this.len)
    this.len = need
    this.ends.push(need)
  }
  get length () { return this.ends.length }
  forEach (f) {
    let start = 0
    for (const end of this.ends) { f(this.buf.subarray(start, end)); start = end }
  }
  clear () { this.len = 0; this.ends = []; if (this.buf.length > 1 << 20) this.buf = new Uint8Array(1024) }
}

// ---- one client ---------------------------------------------------------------------------------

let nextClientIndex = 0
const allClients = []
setInterval(() => { const t = now(); for (const c of allClients) c.keepAlive(t) }, 5000).unref()

class Client {
  /** `cursors`: a Registry of caret moves (awareness clocks); the client then keeps one
   * Awareness for its whole life, moves its caret with every moveCursor() and times the
   * awareness updates it receives from the others. */
  constructor (registry, { measure = true, cursors = null } = {}) {
    this.index = nextClientIndex++
    this.registry = registry
    this.measure = measure
    this.cursors = cursors
    this.cptrs = new Map() // per sender: how many of its caret moves arrived here
    this.awarenessSeen = null // [] to keep every awareness update received (one client does)
    this.doc = new Y.Doc()
    this.awareness = cursors === null ? null : new awarenessProtocol.Awareness(this.doc)
    this.fragment = this.doc.getXmlFragment('default')
    this.text = null // the XmlText of this client's paragraph
    this.ptrs = new Map()
    this.pending = new ByteLog()
    this.synced = false
    this.closed = null // {code, reason} once closed
    this.url = null // where connectMany connects it (default: config.url)
    this.onDrop = null // called when a synced socket closes that we did not close
    this.stopping = false
    this.hocuspocus = config.protocol === 'hocuspocus'
    this.received = 0
    this.lastSent = now()
    if (this.hocuspocus) allClients.push(this)
    this.doc.on('update', (update, origin) => {
      if (origin === LOCAL) this.sendUpdate(update)
    })
  }

  /** Open the socket; resolves once sync step 2 arrived (the client holds the document). */
  connect (url, room, { awareness = false, timeoutMs = 30000 } = {}) {
    this.room = room
    this.connectStart = now()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`client ${this.index}: not synced after ${timeoutMs} ms`)), timeoutMs)
      this.onSynced = () => { clearTimeout(timer); this.syncedAt = now(); resolve(this.syncedAt - this.connectStart) }
      const ws = new WebSocket(url, { perMessageDeflate: true, maxPayload: 256 * 1024 * 1024 })
      this.ws = ws
      ws.binaryType = 'nodebuffer'
      ws.on('open', () => {
        if (this.hocuspocus) {
          this.send((enc) => {
            encoding.writeVarUint(enc, MSG_AUTH)
            encoding.writeVarUint(enc, AUTH_TOKEN)
            encoding.writeVarString(enc, '')
          })
        } else {
          this.greet(awareness)
        }
        this.wantAwareness = awareness
      })
      ws.on('message', (data) => this.onMessage(data))
      ws.on('error', (err) => { if (!this.synced) { clearTimeout(timer); reject(err) } })
      ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() }
        if (!this.synced) { clearTimeout(timer); reject(new Error(`client ${this.index}: closed ${code} before sync`)) }
        else if (this.onDrop && !this.stopping && this.ws === ws) this.onDrop(code)
      })
    })
  }

  greet (awareness) {
    this.send((enc) => {
      encoding.writeVarUint(enc, MSG_SYNC)
      syncProtocol.writeSyncStep1(enc, this.doc)
    })
    if (this.awareness !== null) {
      // as y-prosemirror's cursor plugin: who, in a colour of one's own (clock 1 on connect)
      const color = '#' + ((this.index * 2654435761) >>> 8 & 0xffffff).toString(16).padStart(6, '0')
      this.awareness.setLocalState({ user: { name: `bench ${this.index}`, color } })
      this.sendAwareness()
    } else if (awareness) {
      const a = new awarenessProtocol.Awareness(this.doc)
      a.setLocalState({ user: { name: `bench ${this.index}`, color: '#3366cc' } })
      const update = awarenessProtocol.encodeAwarenessUpdate(a, [this.doc.clientID])
      a.destroy()
      this.send((enc) => {
        encoding.writeVarUint(enc, MSG_AWARENESS)
        encoding.writeVarUint8Array(enc, update)
      })
    }
  }

  /** Our awareness state as y-websocket's provider sends a local change: one message. */
  sendAwareness () {
    const update = awarenessProtocol.encodeAwarenessUpdate(this.awareness, [this.doc.clientID])
    this.send((enc) => {
      encoding.writeVarUint(enc, MSG_AWARENESS)
      encoding.writeVarUint8Array(enc, update)
    })
  }

  /** The caret after what was just typed, as y-prosemirror announces it after every
   * transaction: {anchor, head} as Y.relativePositionToJSON of relative positions in this
   * client's XmlText; returns the send time. */
  moveCursor (tag, receivers) {
    const t = now()
    const index = this.text.length
    const anchor = Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(this.text, index))
    const head = Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(this.text, index))
    this.awareness.setLocalStateField('cursor', { anchor, head })
    this.sendAwareness()
    const clock = this.awareness.meta.get(this.doc.clientID).clock
    this.cursors.sent(this.doc.clientID, clock, t, tag, receivers)
    return t
  }

  send (write) {
    if (this.ws.readyState !== WebSocket.OPEN) return
    const enc = encoding.createEncoder()
    if (this.hocuspocus) encoding.writeVarString(enc, this.room)
    write(enc)
    this.ws.send(encoding.toUint8Array(enc))
    this.lastSent = now()
  }

  /** Hocuspocus closes a socket it has heard nothing from for 60 s (its provider's awareness
   * renewals prevent that); a client that has been silent for 20 s asks for awareness. */
  keepAlive (t) {
    if (this.hocuspocus && this.synced && !this.closed && t - this.lastSent > 20000) {
      this.send((enc) => encoding.writeVarUint(enc, MSG_QUERY_AWARENESS))
    }
  }

  sendUpdate (update) {
    this.send((enc) => {
      encoding.writeVarUint(enc, MSG_SYNC)
      syncProtocol.writeUpdate(enc, update)
    })
  }

  onMessage (data) {
    const t = now()
    framesReceived++
    const decoder = decoding.createDecoder(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    if (this.hocuspocus) decoding.readVarString(decoder)
    const type = decoding.readVarUint(decoder)
    if (type === MSG_SYNC || type === MSG_SYNC_REPLY) {
      const sub = decoding.readVarUint(decoder)
      if (sub === syncProtocol.messageYjsSyncStep1) {
        const sv = decoding.readVarUint8Array(decoder)
        this.send((enc) => {
          encoding.writeVarUint(enc, MSG_SYNC)
          syncProtocol.writeSyncStep2(enc, this.doc, sv)
        })
      } else if (sub === syncProtocol.messageYjsSyncStep2) {
        const update = decoding.readVarUint8Array(decoder)
        this.noteArrival(update, t)
        this.flush()
        Y.applyUpdate(this.doc, update, this)
        if (!this.synced) { this.synced = true; this.onSynced() }
      } else if (sub === syncProtocol.messageYjsUpdate) {
        const update = decoding.readVarUint8Array(decoder)
        this.received++
        this.noteArrival(update, t)
        this.pending.push(update)
        if (this.onReceived) this.onReceived()
      }
    } else if (type === MSG_AWARENESS && this.cursors !== null && this.measure) {
      const update = decoding.readVarUint8Array(decoder)
      this.noteCursors(update, t)
      if (this.awarenessSeen !== null) this.awarenessSeen.push(update.slice()) // a copy
    } else if (type === MSG_AUTH && this.hocuspocus) {
      const sub = decoding.readVarUint(decoder)
      if (sub === AUTH_OK) this.greet(this.wantAwareness)
      else if (sub === AUTH_DENIED) this.ws.close()
    }
    // awareness, Hocuspocus' sync status and everything else: nothing to do
  }

  noteArrival (update, t) {
    if (!this.measure) return
    if (fastMeta(update) && fast.client !== this.doc.clientID) {
      this.registry.arrived(this.ptrs, fast.client, fast.end, t)
      return
    }
    const meta = Y.parseUpdateMeta(update)
    meta.to.forEach((clock, clientID) => {
      if (clientID !== this.doc.clientID) this.registry.arrived(this.ptrs, clientID, clock, t)
    })
  }

  /** An awareness update: [count, then per entry client id, clock, JSON state]; only the ids
   * and clocks are read (the states are skipped), a caret move counts as arrived once any
   * state of its sender with that clock or a later one is here (a server may skip states). */
  noteCursors (update, t) {
    at = 0
    let count = varUint(update)
    while (count-- > 0) {
      const client = varUint(update)
      const clock = varUint(update)
      const bytes = varUint(update)
      if (bytes < 0) return
      at += bytes
      if (client !== this.doc.clientID) this.cursors.arrived(this.cptrs, client, clock, t)
    }
  }

  /** Apply the updates received so far (not while measuring: the generator stays light). */
  flush () {
    if (this.pending.length === 0) return
    this.doc.transact(() => {
      this.pending.forEach((update) => Y.applyUpdate(this.doc, update, this))
    }, this)
    this.pending.clear()
  }

  /** One keystroke (or a new paragraph with it); returns the send time. */
  edit (chars, tag, receivers) {
    const t = now()
    this.doc.transact(() => {
      if (this.text === null) {
        const paragraph = new Y.XmlElement('paragraph')
        this.fragment.insert(this.fragment.length, [paragraph])
        const text = new Y.XmlText()
        paragraph.insert(0, [text])
        text.insert(0, chars)
        this.text = text
      } else {
        this.text.insert(this.text.length, chars)
      }
    }, LOCAL)
    this.registry.sent(this.doc.clientID, Y.getState(this.doc.store, this.doc.clientID), t, tag, receivers)
    return t
  }

  /** Select `length` characters of this client's paragraph at `index` and type `chars` over
   * them: one update, with a deletion and an insertion. */
  replace (index, length, chars, tag, receivers) {
    const t = now()
    this.doc.transact(() => {
      this.text.delete(index, length)
      this.text.insert(index, chars)
    }, LOCAL)
    this.registry.sent(this.doc.clientID, Y.getState(this.doc.store, this.doc.clientID), t, tag, receivers)
    return t
  }

  /** Resolves to true once this (measuring) client has received the first n tracked edits of
   * Yjs client `clientID`; false when timeoutMs passed first. */
  hasEdits (clientID, n, timeoutMs = 30000) {
    const has = () => (this.ptrs.get(clientID) ?? 0) >= n
    if (has()) return Promise.resolve(true)
    this.waiting ??= new Map()
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiting.delete(clientID); resolve(false) }, timeoutMs)
      this.waiting.set(clientID, () => { if (has()) { clearTimeout(timer); this.waiting.delete(clientID); resolve(true) } })
      this.onReceived ??= () => { for (const check of [...this.waiting.values()]) check() }
    })
  }

  get clock () { return Y.getState(this.doc.store, this.doc.clientID) }
  get bufferedAmount () { return this.ws ? this.ws.bufferedAmount : 0 }

  close () {
    this.stopping = true
    if (this.awareness !== null) this.awareness.destroy() // its renewal timer
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.close(1000)
  }
}

// The common update, one typed string from one client, read without Yjs' decoders (which make
// garbage the collector then has to sweep while we measure); anything else: Y.parseUpdateMeta.
const fast = { client: 0, end: 0 }
let at = 0
const varUint = (buf) => {
  let num = 0
  let mult = 1
  while (at < buf.length) {
    const r = buf[at++]
    num += (r & 127) * mult
    if (r < 128) return num
    mult *= 128
  }
  return -1
}
const fastMeta = (update) => {
  at = 0
  if (varUint(update) !== 1 || varUint(update) !== 1) return false // one client, one struct
  const client = varUint(update)
  const clock = varUint(update)
  const info = update[at++]
  if ((info & 0x1f) !== 4 || !(info & 0x80)) return false // a string item with a left origin
  varUint(update) // origin client
  varUint(update) // origin clock
  if (info & 0x40) { varUint(update); varUint(update) } // right origin
  const bytes = varUint(update)
  if (bytes < 0 || at + bytes > update.length) return false
  for (let i = at; i < at + bytes; i++) if (update[i] >= 128) return false // ASCII: length = bytes
  fast.client = client
  fast.end = clock + bytes
  return true
}

const letter = () => LETTERS[Math.floor(Math.random() * LETTERS.length)]

/** What the i-th update of the typing workload types: 1 to 8 characters. */
const typed = (i) => Array.from({ length: 1 + (i % 8) }, letter).join('')

// ---- helpers shared by the modes ----------------------------------------------------------------

/** Connect `count` clients, at most `concurrency` at a time; returns their connect times. */
const connectMany = async (clients, { concurrency = 50, awareness = false, timeoutMs = 60000 } = {}) => {
  const times = []
  let i = 0
  const worker = async () => {
    while (i < clients.length) {
      const c = clients[i++]
      times.push(await c.connect(c.url ?? config.url, config.room, { awareness, timeoutMs }))
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, clients.length) }, worker))
  return times
}

/** Wait until every tracked edit arrived at every receiver, or the time is up. */
const drain = async (registry, timeoutMs) => {
  const until = now() + timeoutMs
  while (registry.outstanding > 0 && now() < until && Date.now() < deadline) await sleep(5)
  return registry.outstanding
}

const closedClients = (clients) =>
  clients.filter((c) => c.closed !== null).map((c) => ({ client: c.index, code: c.closed.code, reason: c.closed.reason }))

const describe = (doc) => ({
  sv: Array.from(Y.decodeStateVector(Y.encodeStateVector(doc)).entries()).sort((a, b) => a[0] - b[0]),
  content: doc.getXmlFragment('default').toString()
})

/** All clients hold the same document, holding every edit made; so does a client joining now. */
const checkConvergence = async (clients, registry, { joiner = config.stateful ?? true } = {}) => {
  for (const c of clients) c.flush()
  await sleep(50)
  for (const c of clients) c.flush()
  const problems = []
  const closed = closedClients(clients)
  if (closed.length) problems.push(`${closed.length} clients were disconnected (first: code ${closed[0].code} ${closed[0].reason})`)
  const ref = describe(clients[0].doc)
  const refSv = JSON.stringify(ref.sv)
  let differing = 0
  for (const c of clients.slice(1)) {
    const d = describe(c.doc)
    if (JSON.stringify(d.sv) !== refSv || d.content !== ref.content) differing++
  }
  if (differing) problems.push(`${differing} of ${clients.length} clients differ from client 0`)
  // every edit sent is in client 0's document
  const sv = new Map(ref.sv)
  for (const [clientID, e] of registry.bySender) {
    const want = e.clocks.length ? e.clocks[e.clocks.length - 1] : 0
    if ((sv.get(clientID) ?? 0) < want) { problems.push('not every edit reached every client'); break }
  }
  let joinerMs = null
  if (joiner) {
    const late = new Client(registry, { measure: false })
    try {
      joinerMs = await late.connect(config.joiner_url ?? config.url, config.room, { timeoutMs: 30000 })
      const d = describe(late.doc)
      if (JSON.stringify(d.sv) !== refSv || d.content !== ref.content) problems.push('a client joining afterwards gets a different document')
    } catch (err) {
      problems.push(`a client joining afterwards failed: ${err.message}`)
    }
    late.close()
  }
  return { converged: problems.length === 0, problems, doc_chars: ref.content.length, joiner_ms: joinerMs }
}

/** Close every client and wait (at most timeoutMs) for the closing handshakes, so that what the
 * server still sends meanwhile (the leavers' awareness removals) is received and counted. */
const closeAll = async (clients, timeoutMs = 2000) => {
  for (const c of clients) c.close()
  await sleep(100)
  const until = now() + timeoutMs
  const open = (c) => c.ws && c.ws.readyState !== WebSocket.CLOSED
  while (now() < until && clients.some(open)) await sleep(20)
}

// ---- modes --------------------------------------------------------------------------------------

/** N clients, each typing one character every period: latency from edit to every other client.
 * With `cursors` (mode "cursors"), every edit is followed at once by an awareness update that
 * moves the typist's caret (TipTap's collaboration caret: y-prosemirror's cursor plugin sends
 * one after every transaction), and the carets are timed too: from that update's send to the
 * arrival, at every other client, of an awareness entry of its sender with that clock or a
 * later one. */
const fanout = async ({ cursors = false } = {}) => {
  const registry = new Registry()
  const carets = cursors ? new Registry() : null
  const n = config.clients
  const clients = Array.from({ length: n }, () => new Client(registry, { cursors: carets }))
  if (cursors) clients[0].awarenessSeen = []
  // several processes: client i connects to urls[i % urls.length] (a room spans them)
  if (config.urls) clients.forEach((c, i) => { c.url = config.urls[i % config.urls.length] })
  const connect = summarize(await connectMany(clients, { awareness: cursors || (config.awareness ?? true) }))
  // everyone's paragraph first (not measured), then the timed typing
  for (const c of clients) {
    c.edit(letter(), -1, n - 1)
    if (cursors) c.moveCursor(-1, n - 1)
  }
  await drain(registry, 10000)
  if (cursors) await drain(carets, 10000)
  for (const c of clients) c.flush()
  const periodMs = config.period_s * 1000
  const durationMs = config.duration_s * 1000
  const lag = []
  const cpu = new CpuMeter()
  const loop = new LagMeter()
  loop.start()
  const start = now() + 20
  let edits = 0
  await mark('measure-start', {}, false)
  await new Promise((resolve) => {
    let running = n
    clients.forEach((c) => {
      let target = start + Math.random() * periodMs
      const tick = () => {
        const t = now()
        if (t >= start + durationMs || Date.now() > deadline) { if (--running === 0) resolve(); return }
        lag.push(t - target)
        c.edit(letter(), 0, n - 1)
        if (cursors) c.moveCursor(0, n - 1)
        edits++
        target += periodMs
        setTimeout(tick, Math.max(0, target - now()))
      }
      setTimeout(tick, Math.max(0, target - now()))
    })
  })
  const genCpu = cpu.share()
  const loopLag = loop.stop()
  await mark('measure-end', {}, false)
  const missing = await drain(registry, (config.drain_s ?? 10) * 1000)
  const caretsMissing = cursors ? await drain(carets, (config.drain_s ?? 10) * 1000) : 0
  const check = await checkConvergence(clients, registry)
  if (cursors) {
    if (caretsMissing) {
      check.problems.push(`${caretsMissing} (caret move, other client) pairs never arrived: some client's last caret never reached some other client`)
    }
    const dropped = caretsDropped(clients)
    if (dropped) check.problems.push(dropped)
    check.converged = check.problems.length === 0
  }
  await closeAll(clients)
  return {
    clients: n,
    period_s: config.period_s,
    duration_s: config.duration_s,
    edits,
    latency_ms: registry.stats(0),
    missing,
    ...(cursors ? { cursor_moves: edits, cursor_latency_ms: carets.stats(0), cursor_missing: caretsMissing } : {}),
    // every (edit or caret move, receiver) pair that arrived over the run, setup included
    deliveries: registry.arrivals + (cursors ? carets.arrivals : 0),
    connect_ms: connect,
    generator: { cpu: genCpu, schedule_lag_ms: summarize(lag), loop_lag_ms: loopLag },
    ...check
  }
}

/** Whether the carets arrived as carets: each client's last awareness state as client 0 holds
 * it from the server (decoded in full once, at the end) must carry the user and the cursor
 * sent (a server may drop what it finds invalid). A problem, or null. */
const caretsDropped = (clients) => {
  const [first, ...others] = clients
  const probe = new awarenessProtocol.Awareness(new Y.Doc())
  probe.setLocalState(null)
  for (const update of first.awarenessSeen) awarenessProtocol.applyAwarenessUpdate(probe, update, 'server')
  const states = probe.getStates()
  probe.destroy()
  let bad = 0
  for (const c of others) {
    const got = states.get(c.doc.clientID)
    const sent = c.awareness.getLocalState()
    if (!got || JSON.stringify(got.cursor) !== JSON.stringify(sent.cursor) || !got.user || got.user.name !== sent.user.name) bad++
  }
  return bad ? `${bad} of ${others.length} clients' last caret is not what client 0 was sent as their awareness state` : null
}

/** 4 writers and 4 observers; the offered rate rises until p99 passes the limit. */
const saturation = async () => {
  const registry = new Registry()
  const writers = Array.from({ length: config.writers ?? 4 }, () => new Client(registry))
  const observers = Array.from({ length: config.observers ?? 4 }, () => new Client(registry))
  const clients = [...writers, ...observers]
  const receivers = clients.length - 1
  await connectMany(clients)
  for (const w of writers) w.edit(letter(), -1, receivers)
  await drain(registry, 10000)
  for (const c of clients) c.flush()
  const limit = config.p99_limit_ms ?? 100
  const stepMs = (config.step_s ?? 3) * 1000
  const warmMs = (config.warmup_s ?? 0.5) * 1000
  const steps = []
  let tag = 0

  const runStep = async (rate) => {
    tag++
    const stepTag = tag
    const warmTag = 1000000 + tag
    const perWriter = rate / writers.length
    const sent = writers.map(() => 0)
    const cpu = new CpuMeter()
    const loop = new LagMeter()
    loop.start()
    const start = now()
    await new Promise((resolve) => {
      const tick = () => {
        const t = now()
        const elapsed = Math.min(t - start, stepMs)
        for (let w = 0; w < writers.length; w++) {
          const due = Math.floor((elapsed / 1000) * perWriter)
          // at most 1/5 s worth in one tick: a stalled loop shows as a rate shortfall
          let budget = Math.max(1, Math.ceil(perWriter / 5))
          while (sent[w] < due && budget-- > 0) {
            writers[w].edit(letter(), elapsed < warmMs ? warmTag : stepTag, receivers)
            sent[w]++
          }
        }
        if (t - start >= stepMs || Date.now() > deadline) resolve()
        else setTimeout(tick, 1)
      }
      tick()
    })
    const wall = now() - start
    const genCpu = cpu.share()
    const loopLag = loop.stop()
    const total = sent.reduce((a, b) => a + b, 0)
    const missing = await drain(registry, (config.drain_s ?? 5) * 1000)
    for (const c of clients) c.flush()
    const lat = registry.stats(stepTag)
    const closed = closedClients(clients).length
    const achieved = Math.round(total / (wall / 1000))
    const generatorShort = achieved < rate * 0.95
    const ok = missing === 0 && closed === 0 && !generatorShort && lat.p99 !== null && lat.p99 <= limit
    const step = { rate, achieved, ok, generator_short: generatorShort, missing, closed, latency_ms: lat, generator: { cpu: genCpu, loop_lag_ms: loopLag } }
    steps.push(step)
    emit({ event: 'step', ...step })
    if (missing > 0) {
      // a server that fell behind must catch up first, or the next step measures its backlog
      step.backlog_left = await drain(registry, (config.catch_up_s ?? 60) * 1000)
    }
    await sleep(300)
    return step
  }

  const { good, bad } = await searchHeldRate(runStep, () => closedClients(clients).length > 0)
  // an overloaded server gets time to deliver everything before the convergence check
  await drain(registry, (config.final_drain_s ?? 120) * 1000)
  const check = await checkConvergence(clients, registry)
  await closeAll(clients)
  return { ...heldSummary(good, bad), steps, ...check }
}

/** The highest rate runStep(rate) holds: the offered rate doubles from config.start_rate until a
 * step fails, then config.refine bisection steps (to a multiple of config.rate_unit) between the
 * last good rate and the first bad one. A step failed on p99 alone is run once more: one burst
 * of noise must not end the search. */
const searchHeldRate = async (runStep, anyClosed) => {
  let good = null
  let bad = null
  let rate = config.start_rate ?? 250
  const maxRate = config.max_rate ?? 64000
  const runChecked = async (rate) => {
    const s = await runStep(rate)
    const p99Only = !s.ok && !s.generator_short && !s.missing && !s.closed
    return p99Only && (config.retry ?? true) ? runStep(rate) : s
  }
  while (rate <= maxRate && Date.now() < deadline) {
    const s = await runChecked(rate)
    if (s.closed > 0 || s.backlog_left) { bad = s; break }
    if (s.ok) { good = s; rate *= 2 } else { bad = s; break }
  }
  for (let i = 0; i < (config.refine ?? 3) && good && bad && !bad.backlog_left && Date.now() < deadline; i++) {
    const unit = config.rate_unit ?? 50
    const mid = Math.round((good.rate + bad.rate) / 2 / unit) * unit
    if (mid <= good.rate || mid >= bad.rate || anyClosed()) break
    const s = await runChecked(mid)
    if (s.ok) good = s
    else bad = s
  }
  return { good, bad }
}

const heldSummary = (good, bad) => ({
  held_rate: good ? good.rate : 0,
  held_p99_ms: good ? good.latency_ms.p99 : null,
  first_failed: bad ? { rate: bad.rate, reason: bad.generator_short ? 'generator could not offer the rate' : bad.closed ? 'clients were disconnected' : bad.missing ? 'edits not delivered within the drain time' : `p99 ${bad.latency_ms.p99} ms` } : null,
  generator_limited: Boolean(bad && bad.generator_short)
})

/** Idle synced clients in stages (e.g. 1000 then 5000): connect time; the runner reads RSS. */
const idle = async () => {
  const registry = new Registry()
  const writer = new Client(registry)
  await writer.connect(config.url, config.room)
  // some content to sync (a relay holds none: late joiners would not get it)
  if (config.stateful ?? true) for (let i = 0; i < 20; i++) writer.edit(i === 0 ? 'idle ' : letter(), -1, 0)
  await sleep(200)
  await mark('baseline')
  const clients = [writer]
  const stages = []
  for (const target of config.stages) {
    const fresh = Array.from({ length: target - (clients.length - 1) }, () => new Client(registry, { measure: false }))
    const t0 = now()
    const times = await connectMany(fresh, { concurrency: config.concurrency ?? 100, timeoutMs: 120000 })
    const wall = now() - t0
    clients.push(...fresh)
    await sleep((config.settle_s ?? 2) * 1000)
    const stage = { clients: clients.length - 1, connect_wall_s: Math.round(wall) / 1000, connect_ms: summarize(times), closed: closedClients(clients).length }
    stages.push(stage)
    await mark('stage', stage)
  }
  const check = await checkConvergence(clients, registry, { joiner: false })
  await closeAll(clients)
  return { stages, ...check }
}

/** Write a document of many small updates through the server; record what it must hold. */
const build = async () => {
  const registry = new Registry()
  const writer = new Client(registry)
  const observer = new Client(registry)
  await writer.connect(config.url, config.room)
  await observer.connect(config.url, config.room)
  const total = config.updates
  const every = config.paragraph_every ?? 100
  const ends = []
  const t0 = now()
  for (let i = 0; i < total; i++) {
    if (i % every === 0) writer.text = null // start a new paragraph
    writer.edit(typed(i), 0, 1)
    ends.push(writer.clock)
    if (i % 100 === 99) {
      // keep the socket buffer and the server's backlog bounded, as a typing client would
      while ((writer.bufferedAmount > 1 << 20 || registry.outstanding > 2000) && Date.now() < deadline) {
        if (writer.closed || observer.closed) break
        await sleep(2)
      }
      if (writer.closed || observer.closed) break
    }
  }
  const sentMs = now() - t0
  const missing = await drain(registry, (config.drain_s ?? 60) * 1000)
  observer.flush()
  const forwardedMs = now() - t0
  fs.writeFileSync(config.state_file, JSON.stringify({ client: writer.doc.clientID, ends, content: writer.fragment.toString() }))
  await mark('built', { updates: ends.length, missing })
  await closeAll([writer, observer])
  await sleep(200)
  return {
    updates: ends.length,
    missing,
    sent_s: Math.round(sentMs) / 1000,
    forwarded_s: Math.round(forwardedMs) / 1000,
    rate: Math.round(ends.length / (forwardedMs / 1000)),
    closed: closedClients([writer, observer]),
    doc_chars: writer.fragment.toString().length
  }
}

/** The build workload (typed(i), a new paragraph every 100 updates) paced as people type: each
 * writer sends its next update once the observer has its last, so that the server stores every
 * update as a revision of its own (a fast burst from one socket is stored as fewer). To do that
 * at more than one commit's pace, `sockets` writers type at once, each its own paragraph of
 * `paragraph_every` updates; in rounds, each round by the next of the authors in `writer_urls`
 * (one URL per author): the history has one burst per round. With replace_every k, every k-th
 * update of a writer selects replace_span = [min, max] characters at a random place in its
 * paragraph and types over them. */
const paced = async () => {
  const registry = new Registry()
  const observer = new Client(registry)
  await observer.connect(config.url, config.room)
  const urls = config.writer_urls ?? [config.url]
  const total = config.updates
  const sockets = config.sockets ?? 8
  const every = config.paragraph_every ?? 100
  const replaceEvery = config.replace_every ?? 0
  const [spanMin, spanMax] = config.replace_span ?? [12, 20]
  let sent = 0
  let typedChars = 0
  let deleted = 0
  let late = 0
  let rounds = 0
  const closed = []
  const t0 = now()
  const write = async (writer, count) => {
    for (let j = 0; j < count && !writer.closed && Date.now() < deadline; j++) {
      const i = sent++
      const chars = typed(i)
      const length = writer.text === null ? 0 : writer.text.length
      if (replaceEvery && j % replaceEvery === replaceEvery - 1 && length > 0) {
        const span = Math.min(length, spanMin + Math.floor(Math.random() * (spanMax - spanMin + 1)))
        writer.replace(Math.floor(Math.random() * (length - span + 1)), span, chars, 0, 1)
        deleted += span
      } else {
        writer.edit(chars, 0, 1)
      }
      typedChars += chars.length
      if (!(await observer.hasEdits(writer.doc.clientID, j + 1))) late++
    }
  }
  while (sent < total && Date.now() < deadline && !observer.closed) {
    const url = urls[rounds % urls.length]
    const count = Math.min(sockets, Math.ceil((total - sent) / every))
    const writers = Array.from({ length: count }, () => new Client(registry, { measure: false }))
    await Promise.all(writers.map((w) => w.connect(url, config.room)))
    const left = total - sent // write() counts `sent` up as soon as it is called
    const share = Math.floor(left / count)
    await Promise.all(writers.map((w, k) => write(w, Math.min(every, share + (k < left % count ? 1 : 0)))))
    closed.push(...closedClients(writers))
    await closeAll(writers)
    rounds++
  }
  const missing = await drain(registry, (config.drain_s ?? 60) * 1000)
  observer.flush()
  const forwardedMs = now() - t0
  await mark('built', { updates: sent, missing })
  await closeAll([observer])
  return {
    updates: sent,
    missing,
    late,
    rounds,
    forwarded_s: Math.round(forwardedMs) / 1000,
    rate: Math.round(sent / (forwardedMs / 1000)),
    closed,
    doc_chars: observer.fragment.toString().length,
    typed_chars: typedChars,
    deleted_chars: deleted
  }
}

/** A fresh client after a restart: time until it holds the whole document (a server may send
 * part of it after sync step 2, as y-websocket does while its store loads), and how much of it. */
const load = async () => {
  const state = JSON.parse(fs.readFileSync(config.state_file, 'utf8'))
  const client = new Client(new Registry(), { measure: false })
  const want = state.ends.length ? state.ends[state.ends.length - 1] : 0
  const limitMs = (config.load_timeout_s ?? 60) * 1000
  let ms = null
  let syncMs = null
  let failure = null
  try {
    syncMs = await client.connect(config.url, config.room, { timeoutMs: limitMs })
    // after sync step 2, wait for the rest until nothing more arrives for quiet_s
    const quietMs = (config.quiet_s ?? 3) * 1000
    let received = client.received
    let lastNews = now()
    while (now() - client.connectStart < limitMs && now() - lastNews < quietMs) {
      client.flush()
      if (Y.getState(client.doc.store, state.client) >= want) { ms = now() - client.connectStart; break }
      if (client.closed) break
      if (client.received !== received) { received = client.received; lastNews = now() }
      await sleep(1)
    }
  } catch (err) {
    failure = err.message
  }
  client.flush()
  const clock = Y.getState(client.doc.store, state.client)
  const held = state.ends.filter((end) => end <= clock).length
  const content = client.fragment.toString()
  client.close()
  await sleep(50)
  const round = (x) => (x === null ? null : Math.round(x * 1000) / 1000)
  return {
    load_ms: round(ms),
    sync_step2_ms: round(syncMs),
    load_error: failure,
    updates: state.ends.length,
    held,
    complete: held === state.ends.length && content === state.content
  }
}

/** Send a burst as fast as the socket takes it; say "sent" the moment the kernel has it all. */
const burst = async () => {
  const registry = new Registry()
  const writer = new Client(registry)
  const observer = new Client(registry)
  await writer.connect(config.url, config.room)
  await observer.connect(config.url, config.room)
  const ends = []
  for (let i = 0; i < config.updates; i++) {
    if (i % 100 === 0) writer.text = null
    writer.edit(letter(), 0, 1)
    ends.push(writer.clock)
  }
  while (writer.bufferedAmount > 0 && !writer.closed && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve))
  fs.writeFileSync(config.state_file, JSON.stringify({ client: writer.doc.clientID, ends, content: writer.fragment.toString() }))
  await mark('sent', { updates: ends.length }, false)
  // the runner sends SIGTERM now; watch what the observer is shown until the sockets close
  const until = now() + 20000
  while ((!writer.closed || !observer.closed) && now() < until) await sleep(5)
  observer.flush()
  const seenClock = Y.getState(observer.doc.store, writer.doc.clientID)
  return {
    updates: ends.length,
    seen_by_observer: ends.filter((end) => end <= seenClock).length,
    closed: closedClients([writer, observer])
  }
}

/** Swell only: SSE viewers while one editor types; delay from edit to `content` at viewers. */
const viewers = async () => {
  const registry = new Registry()
  const editor = new Client(registry)
  const observer = new Client(registry)
  await editor.connect(config.url, config.room, { awareness: true })
  await observer.connect(config.url, config.room, { awareness: true })
  editor.edit('viewers:', -1, 1)
  await drain(registry, 5000)
  await mark('baseline')
  const sent = [] // edit k -> send time
  const viewerLat = []
  let contentEvents = 0
  let viewerErrors = 0
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity })
  const streams = []
  const openViewer = () => new Promise((resolve) => {
    const v = { seen: -1, buffer: '', connected: false }
    const req = http.get(config.sse_url, { agent, headers: { Accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) { viewerErrors++; res.resume(); resolve(v); return }
      v.connected = true
      res.setEncoding('utf8')
      res.on('data', (chunk) => {
        const t = now()
        v.buffer += chunk
        let end
        while ((end = v.buffer.indexOf('\n\n')) >= 0) {
          const block = v.buffer.slice(0, end)
          v.buffer = v.buffer.slice(end + 2)
          if (!block.startsWith('event: content') && !block.includes('\nevent: content')) continue
          contentEvents++
          const line = block.split('\n').find((l) => l.startsWith('data:'))
          if (!line) continue
          const text = JSON.parse(line.slice(5)).text ?? ''
          const at = text.lastIndexOf('#')
          if (at < 0) continue
          const k = parseInt(text.slice(at + 1), 10)
          for (let j = v.seen + 1; j <= k && j < sent.length; j++) viewerLat.push(t - sent[j])
          if (k > v.seen) v.seen = Math.min(k, sent.length - 1)
        }
      })
      res.on('error', () => {})
      resolve(v)
    })
    req.on('error', () => { viewerErrors++; resolve(v) })
    v.req = req
  })
  const t0 = now()
  for (let i = 0; i < config.viewers; i += 100) {
    const batch = []
    for (let j = i; j < Math.min(config.viewers, i + 100); j++) batch.push(openViewer())
    streams.push(...(await Promise.all(batch)))
  }
  const connectS = (now() - t0) / 1000
  await sleep(2000)
  await mark('viewers-connected', { viewers: streams.filter((v) => v.connected).length })
  const cpu = new CpuMeter()
  await mark('measure-start', {}, true)
  const periodMs = 1000 / config.rate
  const start = now()
  let target = start
  let k = 0
  while (now() - start < config.duration_s * 1000 && Date.now() < deadline) {
    sent.push(editor.edit(` #${k}`, 0, 1))
    k++
    target += periodMs
    await sleep(Math.max(0, target - now()))
  }
  await mark('measure-end', {}, true)
  const genCpu = cpu.share()
  await drain(registry, 5000)
  await sleep(1500) // the last render
  const behind = streams.filter((v) => v.connected && v.seen < k - 1).length
  for (const v of streams) v.req.destroy()
  const check = await checkConvergence([editor, observer], registry)
  await closeAll([editor, observer])
  return {
    viewers: streams.filter((v) => v.connected).length,
    viewer_errors: viewerErrors,
    connect_s: Math.round(connectS * 1000) / 1000,
    edits: k,
    content_events: contentEvents,
    viewer_latency_ms: summarize(viewerLat),
    viewers_behind_at_end: behind,
    editor_latency_ms: registry.stats(0),
    generator: { cpu: genCpu },
    ...check
  }
}

// ---- several processes (bench/cluster.py) --------------------------------------------------------

/** Many rooms of `per_room` clients each. config.rooms_file names a JSON file {bases: [ws://host:port
 * of each process], rooms: [{name, path}]}; client g (room g / per_room) connects to
 * bases[g % bases.length] + path: with per_room 4 and two processes, every room spans both. Each
 * client first types a marker paragraph "#g:" (so that its paragraph can be found in the server's
 * text), then one letter per edit. `order` spreads a room's clients over the round-robin. */
const setupRooms = async () => {
  const { bases, rooms: specs } = JSON.parse(fs.readFileSync(config.rooms_file, 'utf8'))
  const perRoom = config.per_room ?? 4
  const registry = new Registry()
  const rooms = specs.map((spec, r) => Array.from({ length: perRoom }, (_, j) => {
    const c = new Client(registry)
    c.g = r * perRoom + j
    c.base = c.g % bases.length
    c.path = spec.path
    c.roomName = spec.name
    c.url = bases[c.base] + spec.path
    c.peers = null
    return c
  }))
  for (const room of rooms) for (const c of room) c.peers = room.filter((d) => d !== c)
  const clients = rooms.flat()
  const t0 = now()
  const connect = summarize(await connectMany(clients, { concurrency: config.concurrency ?? 100, awareness: config.awareness ?? true, timeoutMs: 120000 }))
  const connectS = (now() - t0) / 1000
  for (const c of clients) c.edit(`#${c.g}:`, -1, perRoom - 1)
  const missing = await drain(registry, 60000)
  for (const c of clients) c.flush()
  const order = []
  for (let j = 0; j < perRoom; j++) for (const room of rooms) order.push(room[j])
  return { registry, rooms, clients, order, bases, perRoom, connect, connectS, setupMissing: missing }
}

/** Type `rate` edits/s for durationMs, one letter per edit, the clients taking turns in `order`;
 * at most 1/5 s worth in one tick, so that a stalled loop shows as a rate shortfall. */
const typeAt = (order, rate, durationMs, tagOf, receivers) => new Promise((resolve) => {
  let sent = 0
  let next = 0
  const start = now()
  const budget = Math.max(1, Math.ceil(rate / 5))
  const tick = () => {
    const t = now()
    const elapsed = Math.min(t - start, durationMs)
    const due = Math.floor((elapsed / 1000) * rate)
    let b = budget
    while (sent < due && b-- > 0) {
      const c = order[next]
      next = (next + 1) % order.length
      c.edit(letter(), tagOf(c, elapsed), receivers)
      sent++
    }
    if (t - start >= durationMs || Date.now() > deadline) resolve({ sent, wallMs: now() - start })
    else setTimeout(tick, 1)
  }
  tick()
})

/** Every room converged: its clients hold identical documents with every edit its clients made;
 * a client joining `joiners` of the rooms (through process config.joiner_base, by default the
 * last) gets the same document. */
const checkRooms = async (rooms, registry, { joiners = 0 } = {}) => {
  const all = rooms.flat()
  for (const c of all) c.flush()
  await sleep(50)
  for (const c of all) c.flush()
  const problems = []
  const closed = closedClients(all)
  if (closed.length) problems.push(`${closed.length} clients were disconnected (first: code ${closed[0].code} ${closed[0].reason})`)
  let differing = 0
  let incomplete = 0
  for (const room of rooms) {
    const ref = describe(room[0].doc)
    const refSv = JSON.stringify(ref.sv)
    for (const c of room.slice(1)) {
      const d = describe(c.doc)
      if (JSON.stringify(d.sv) !== refSv || d.content !== ref.content) differing++
    }
    const sv = new Map(ref.sv)
    for (const c of room) {
      const e = registry.bySender.get(c.doc.clientID)
      const want = e && e.clocks.length ? e.clocks[e.clocks.length - 1] : 0
      if ((sv.get(c.doc.clientID) ?? 0) < want) incomplete++
    }
  }
  if (differing) problems.push(`${differing} of ${all.length} clients differ from their room's first client`)
  if (incomplete) problems.push(`${incomplete} clients' edits did not reach their room`)
  const { bases } = JSON.parse(fs.readFileSync(config.rooms_file, 'utf8'))
  const joinerMs = []
  for (const room of rooms.slice(0, (config.stateful ?? true) ? joiners : 0)) {
    const late = new Client(registry, { measure: false })
    try {
      joinerMs.push(await late.connect(bases[config.joiner_base ?? bases.length - 1] + room[0].path, room[0].roomName, { timeoutMs: 30000 }))
      const d = describe(late.doc)
      const ref = describe(room[0].doc)
      if (JSON.stringify(d.sv) !== JSON.stringify(ref.sv) || d.content !== ref.content) problems.push(`a client joining room ${room[0].roomName} afterwards gets a different document`)
    } catch (err) {
      problems.push(`a client joining afterwards failed: ${err.message}`)
    }
    late.close()
  }
  return { converged: problems.length === 0, problems, joiner_ms: summarize(joinerMs) }
}

/** Many rooms (e.g. 500 x 4 clients typing), the clients of a room spread over the processes:
 * the highest total edit rate held with p99 (edit to the room's other clients) within the limit.
 * Each step is bracketed by step-start and step-end marks, at which the runner reads CPU times. */
const manyRooms = async () => {
  const setup = await setupRooms()
  const { registry, rooms, clients, order, perRoom } = setup
  await mark('settle') // the runner waits until the servers are done with the connects
  const limit = config.p99_limit_ms ?? 100
  const stepMs = (config.step_s ?? 3) * 1000
  const warmMs = (config.warmup_s ?? 0.5) * 1000
  const steps = []
  let tag = 0
  const runStep = async (rate) => {
    tag++
    const stepTag = tag
    const warmTag = 1000000 + tag
    // every step from idle servers: what an overloaded step left (activity, compaction, a
    // backlog of the relay) must not count against the next one
    if (tag > 1) await mark('settle')
    const cpu = new CpuMeter()
    const loop = new LagMeter()
    loop.start()
    await mark('step-start', { rate }, false)
    const { sent, wallMs } = await typeAt(order, rate, stepMs, (c, elapsed) => (elapsed < warmMs ? warmTag : stepTag), perRoom - 1)
    await mark('step-end', { rate }, false)
    const genCpu = cpu.share()
    const loopLag = loop.stop()
    const missing = await drain(registry, (config.drain_s ?? 5) * 1000)
    for (const c of clients) c.flush()
    const lat = registry.stats(stepTag)
    const closed = closedClients(clients).length
    const achieved = Math.round(sent / (wallMs / 1000))
    const generatorShort = achieved < rate * 0.95
    const ok = missing === 0 && closed === 0 && !generatorShort && lat.p99 !== null && lat.p99 <= limit
    const step = { rate, achieved, ok, generator_short: generatorShort, missing, closed, latency_ms: lat, generator: { cpu: genCpu, loop_lag_ms: loopLag } }
    steps.push(step)
    emit({ event: 'step', ...step })
    if (missing > 0) step.backlog_left = await drain(registry, (config.catch_up_s ?? 60) * 1000)
    await sleep(300)
    return step
  }
  const { good, bad } = await searchHeldRate(runStep, () => closedClients(clients).length > 0)
  await drain(registry, (config.final_drain_s ?? 120) * 1000)
  const check = await checkRooms(rooms, registry, { joiners: config.joiners ?? 5 })
  await closeAll(clients)
  return {
    rooms: rooms.length,
    clients: clients.length,
    connect_ms: setup.connect,
    connect_s: Math.round(setup.connectS * 1000) / 1000,
    ...heldSummary(good, bad),
    steps,
    ...check
  }
}

/** Two processes under load; the runner SIGKILLs the last one (mark "kill"). Its clients
 * reconnect to the first, as the stock provider does (after 200 ms, then doubling up to 2.5 s;
 * a reverse proxy would send them to the survivor) and sync. A client counts as resynced once it
 * is synced on the survivor, holds every edit its room made before the kill, and its own edits
 * from before the kill reached every other client of its room. Every client types throughout
 * (a disconnected one into its document, sent once it is back, as a browser does). The result
 * lists, per client, how many edits it sent and how many some other client was shown: the
 * runner checks them against the server's text. */
const failover = async () => {
  const setup = await setupRooms()
  const { registry, rooms, clients, order, bases, perRoom } = setup
  const victim = bases.length - 1
  const survivor = 0
  let phase = 0
  const tagOf = (c) => (phase === 0 ? 0 : c.base === victim ? 2 : 1)
  const beforeMs = (config.before_s ?? 5) * 1000
  const afterMs = (config.after_s ?? 10) * 1000
  let tKill = null
  const preKill = new Map()
  const drops = { victim: 0, survivor: 0 }
  const reconnect = (c, attempt) => {
    setTimeout(async () => {
      if (c.stopping) return
      c.flush() // its step 1 then names what it holds
      c.synced = false
      c.closed = null
      c.attempts = attempt
      try {
        await c.connect(bases[survivor] + c.path, c.roomName, { awareness: config.awareness ?? true, timeoutMs: 10000 })
        c.backAt = now()
      } catch (err) {
        if (c.ws) c.ws.terminate() // not synced: its close calls no onDrop, the retry is ours
        reconnect(c, attempt + 1)
      }
    }, Math.min(2 ** attempt * 100, 2500))
  }
  for (const c of clients) {
    c.onDrop = () => {
      c.droppedAt = now()
      if (c.base === victim && tKill !== null) drops.victim++
      else drops.survivor++
      reconnect(c, 1)
    }
  }
  const pre = (c) => preKill.get(c.doc.clientID) ?? 0
  const resynced = (c) => c.backAt !== undefined && c.peers.every((d) => (c.ptrs.get(d.doc.clientID) ?? 0) >= pre(d) && (d.ptrs.get(c.doc.clientID) ?? 0) >= pre(c))
  const victims = clients.filter((c) => c.base === victim)
  const waiting = new Set(victims)
  await mark('settle') // the runner waits until the servers are done with the connects
  const typing = typeAt(order, config.rate, beforeMs + afterMs, tagOf, perRoom - 1)
  await sleep(beforeMs)
  for (const c of clients) preKill.set(c.doc.clientID, registry.bySender.get(c.doc.clientID).clocks.length)
  phase = 1
  tKill = now()
  const poll = setInterval(() => {
    for (const c of waiting) if (resynced(c)) { c.resyncedAt = now(); waiting.delete(c) }
  }, 2)
  await mark('kill', { process: victim }, true)
  await typing
  const until = now() + (config.resync_limit_s ?? 30) * 1000
  while (waiting.size && now() < until) await sleep(10)
  clearInterval(poll)
  const missing = await drain(registry, (config.drain_s ?? 30) * 1000)
  const check = await checkRooms(rooms, registry, { joiners: config.joiners ?? 5 })
  const rel = (t) => (t === undefined ? null : t - tKill)
  const resync = victims.filter((c) => c.resyncedAt !== undefined).map((c) => rel(c.resyncedAt))
  const back = victims.filter((c) => c.backAt !== undefined).map((c) => rel(c.backAt))
  const dropped = victims.filter((c) => c.droppedAt !== undefined).map((c) => rel(c.droppedAt))
  // per client: [room, g, edits sent, edits some other client of the room was shown]
  const tally = clients.map((c) => {
    const sent = registry.bySender.get(c.doc.clientID).clocks.length
    const shown = Math.max(0, ...c.peers.map((d) => d.ptrs.get(c.doc.clientID) ?? 0))
    return [c.roomName, c.g, sent, shown]
  })
  await closeAll(clients)
  return {
    rooms: rooms.length,
    clients: clients.length,
    victims: victims.length,
    rate: config.rate,
    connect_ms: setup.connect,
    resync_ms: summarize(resync),
    reconnect_ms: summarize(back),
    dropped_ms: summarize(dropped),
    not_resynced: waiting.size,
    attempts: summarize(victims.map((c) => c.attempts ?? 0)),
    drops,
    latency_before_ms: registry.stats(0),
    latency_after_survivors_ms: registry.stats(1),
    latency_after_victims_ms: registry.stats(2),
    missing,
    tally,
    ...check
  }
}

const modes = { fanout, cursors: () => fanout({ cursors: true }), saturation, idle, build, paced, load, burst, viewers, rooms: manyRooms, failover }

const main = async () => {
  const mode = modes[config.mode]
  if (!mode) throw new Error(`unknown mode ${config.mode}`)
  const watchdog = setTimeout(() => {
    emit({ event: 'result', error: `loadgen timed out after ${config.timeout_s ?? 600} s` })
    process.exit(2)
  }, deadline - Date.now() + 5000)
  const result = await mode()
  clearTimeout(watchdog)
  emit({ event: 'result', mode: config.mode, ...result, frames_received: framesReceived })
  process.exit(0)
}

main().catch((err) => {
  emit({ event: 'result', error: String(err && err.stack ? err.stack : err) })
  process.exit(1)
})
