"""End-to-end tests: a real ``swell serve`` subprocess and real Chromium contexts, one file per
user story."""
