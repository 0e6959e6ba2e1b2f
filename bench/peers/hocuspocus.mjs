#!/usr/bin/env node
// Hocuspocus 4 with its SQLite extension, otherwise its defaults (it stores the whole document,
// debounced 2 s / at most 10 s, and on SIGTERM). Usage: node hocuspocus.mjs PORT DB_FILE
import { Server } from '@hocuspocus/server'
import { SQLite } from '@hocuspocus/extension-sqlite'

const port = parseInt(process.argv[2] || '1234', 10)
const database = process.argv[3] || 'hocuspocus.sqlite'
const server = new Server({
  port,
  address: '127.0.0.1',
  quiet: true,
  extensions: [new SQLite({ database })]
})
await server.listen()
console.log(`hocuspocus listening on 127.0.0.1:${port} (${database})`)
