#!/usr/bin/env node
// The bare relay: a byte forwarder with no CRDT and no storage. It answers a sync step 1 with an
// empty step 2 (so clients count as synced), forwards updates and awareness to the room's other
// sockets untouched, and drops the rest. Whatever it cannot carry, the generator cannot drive.
// Usage: node relay.mjs PORT
import http from 'node:http'
import { WebSocketServer } from 'ws'

const port = parseInt(process.argv[2] || '1234', 10)
const EMPTY_STEP2 = Uint8Array.from([0, 1, 2, 0, 0]) // sync, step 2, an empty update
const rooms = new Map()

const server = http.createServer((_req, res) => { res.writeHead(200); res.end('relay') })
const wss = new WebSocketServer({ server })
wss.on('connection', (ws, req) => {
  const name = (req.url || '/').split('?')[0]
  let room = rooms.get(name)
  if (room === undefined) { room = new Set(); rooms.set(name, room) }
  room.add(ws)
  ws.on('message', (data, isBinary) => {
    if (!isBinary || data.length < 2) return
    if (data[0] === 0 && data[1] === 0) { ws.send(EMPTY_STEP2); return } // step 1
    if (data[0] === 0 && data[1] !== 2) return // step 2: nothing to merge into
    for (const other of room) if (other !== ws && other.readyState === 1) other.send(data)
  })
  ws.on('close', () => { room.delete(ws); if (room.size === 0) rooms.delete(name) })
  ws.on('error', () => {})
})
server.listen(port, '127.0.0.1', () => console.log(`relay listening on 127.0.0.1:${port}`))
