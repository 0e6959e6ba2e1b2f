#!/usr/bin/env node
// A stock y-websocket client for the tests: yjs and y-websocket exactly as the editor page
// ships them (web/node_modules), `ws` as the WebSocket (Node 20 has none of its own).
//
// Usage: node tests/stock_client.mjs <ws base, e.g. ws://127.0.0.1:8000/ws> <doc id> <token>
// Prints one JSON line {"event": "synced"|"update", "xml": ..., "text": ...} once synced and
// after every update of the document: "xml" is the XmlFragment "default" as Yjs writes it,
// "text" its blocks' text joined by a blank line (the server's text format for paragraphs and
// headings). Prints {"event": "closed", "code": ...} when the socket closes. Exits when stdin
// closes.

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The ESM entry of a package in the first of `dirs` that holds it. */
const entry = (name, dirs) => {
  for (const dir of dirs) {
    const pkgDir = path.join(root, dir, 'node_modules', name)
    const manifest = path.join(pkgDir, 'package.json')
    if (!fs.existsSync(manifest)) continue
    const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8'))
    const exp = pkg.exports?.['.'] ?? pkg.exports
    const file =
      (typeof exp === 'string' ? exp : exp?.import ?? exp?.module ?? exp?.default) ??
      pkg.module ??
      pkg.main ??
      'index.js'
    return pathToFileURL(path.join(pkgDir, typeof file === 'string' ? file : file.default)).href
  }
  throw new Error(`${name} is not installed under ${dirs.join(' or ')}`)
}

// y-websocket imports the bare `yjs`, which resolves to web/node_modules/yjs's ESM entry: the
// same file as this one, so there is one Yjs.
const Y = await import(entry('yjs', ['web']))
const { WebsocketProvider } = await import(entry('y-websocket', ['web']))
const { default: WebSocket } = await import(entry('ws', ['web', 'bench']))

const [serverUrl, docId, token] = process.argv.slice(2)
const doc = new Y.Doc()
const fragment = doc.getXmlFragment('default')

const textOf = (node) => {
  if (node instanceof Y.XmlText) {
    return node
      .toDelta()
      .map((op) => (typeof op.insert === 'string' ? op.insert : ''))
      .join('')
  }
  if (node instanceof Y.XmlElement || node instanceof Y.XmlFragment) {
    return node.toArray().map(textOf).join('')
  }
  return ''
}

const emit = (event, extra = {}) =>
  process.stdout.write(
    JSON.stringify({
      event,
      xml: fragment.toString(),
      text: fragment
        .toArray()
        .map(textOf)
        .filter((t) => t)
        .join('\n\n'),
      ...extra,
    }) + '\n',
  )

const provider = new WebsocketProvider(serverUrl, docId, doc, {
  params: { token },
  WebSocketPolyfill: WebSocket,
  disableBc: true,
  maxBackoffTime: 100,
})
// As the editor page does before the socket opens: a named person (awareness clock 1).
provider.awareness.setLocalStateField('user', { name: 'Stock client', color: '#2b8a3e' })
provider.on('sync', (synced) => {
  if (synced) emit('synced')
})
provider.on('connection-close', (event) => emit('closed', { code: event?.code ?? null }))
doc.on('update', () => {
  if (provider.synced) emit('update')
})

process.stdin.on('data', () => {})
process.stdin.on('end', () => {
  provider.destroy()
  doc.destroy()
  process.exit(0)
})
