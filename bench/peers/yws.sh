#!/bin/sh
# The y-websocket reference server (@y/websocket-server), as its README runs it, with its own
# persistence: LevelDB through y-leveldb when YPERSISTENCE names a directory.
# Usage: yws.sh PORT LEVELDB_DIR
here=$(dirname "$0")
HOST=127.0.0.1 PORT="$1" YPERSISTENCE="$2" exec node "$here/../node_modules/@y/websocket-server/src/server.js"
