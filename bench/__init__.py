"""Swell's benchmark suite: Swell side by side with y-websocket, Hocuspocus, pycrdt-websocket
and a bare relay, driven by a Node load generator built on the real Yjs libraries. Run it with
``make bench`` (or ``make bench-smoke``); docs/performance.md explains what it measures."""
