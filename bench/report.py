"""Side-by-side tables (plain text and Markdown), Swell's ratio to the best peer, the targets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.scenarios import case_key
from bench.servers import SPECS, ServerSpec

Json = dict[str, Any]


@dataclass
class Cell:
    value: float | None  # what ratios are computed from
    text: str
    ok: bool = True  # False: the run failed (did not converge, crashed, lost data)


@dataclass
class Row:
    label: str
    cells: dict[str, Cell]
    better: str | None = None  # "lower" or "higher": gives the ratio column


@dataclass
class Table:
    title: str
    columns: list[ServerSpec]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def ratio(self, row: Row) -> str:
        """Swell's value over the best peer's (the relay is the generator's yardstick, no peer)."""
        swell = row.cells.get("swell")
        if row.better is None or swell is None or swell.value is None:
            return ""
        peers = [
            c.value
            for key, c in row.cells.items()
            if SPECS[key].is_peer and c.ok and c.value is not None and c.value > 0
        ]
        if not peers or swell.value <= 0 and row.better == "lower":
            return "–" if not peers else "0"
        best = min(peers) if row.better == "lower" else max(peers)
        return f"{swell.value / best:.2f}x"

    def grid(self) -> list[list[str]]:
        header = ["", *[spec.label for spec in self.columns]]
        with_ratio = any(row.better for row in self.rows) and any(
            spec.key == "swell" for spec in self.columns
        )
        if with_ratio:
            header.append("Swell ÷ best peer")
        out = [header]
        for row in self.rows:
            line = [row.label]
            for spec in self.columns:
                cell = row.cells.get(spec.key)
                line.append("" if cell is None else (cell.text if cell.ok else f"✗ {cell.text}"))
            if with_ratio:
                line.append(self.ratio(row))
            out.append(line)
        return out

    def text(self) -> str:
        grid = self.grid()
        widths = [max(len(r[i]) for r in grid) for i in range(len(grid[0]))]
        lines = [self.title, "-" * len(self.title)]
        for i, r in enumerate(grid):
            cells = [r[0].ljust(widths[0])] + [
                c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
            ]
            lines.append("  ".join(cells))
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)

    def markdown(self) -> str:
        grid = self.grid()
        lines = [f"**{self.title}**", ""]
        lines.append("| " + " | ".join(grid[0]) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(grid[0]) - 1)) + "|")
        for r in grid[1:]:
            lines.append("| " + " | ".join(r) + " |")
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines)


def _ms(x: float | None) -> str:
    if x is None:
        return "–"
    if x >= 1000:
        return f"{x / 1000:,.2f} s"
    return f"{x:.1f} ms" if x < 100 else f"{x:,.0f} ms"


def _columns(result: Json) -> list[ServerSpec]:
    return [SPECS[key] for key in SPECS if key in result.get("runs", {})]


def _error_cells(result: Json, row_cells: dict[str, Cell]) -> None:
    for key, run in result["runs"].items():
        if isinstance(run, dict) and "error" in run and key not in row_cells:
            row_cells[key] = Cell(None, "error", ok=False)


# ---- one table per scenario ---------------------------------------------------------------------


def _us(x: float | None) -> str:
    return "–" if x is None else f"{x:,.1f} µs"


def _latency_rows(
    result: Json, key: str, field: str, missing: str, label: str, ok: Callable[[Json], bool]
) -> list[Row]:
    """p50, p95, p99 and max of one latency of one case (``field`` of each run), every server."""
    rows = []
    for stat in ("p50", "p95", "p99", "max"):
        cells: dict[str, Cell] = {}
        for server, runs in result["runs"].items():
            run = runs.get(key)
            if run is None:
                if "error" in runs:
                    cells[server] = Cell(None, "error", ok=False)
                continue
            value = (run.get(field) or {}).get(stat)
            text = _ms(value)
            if run.get(missing):
                text += f" ({run[missing]} undelivered)"
            cells[server] = Cell(value, text, ok(run))
        rows.append(Row(f"{key}: {label}{stat}", cells, "lower"))
    return rows


def _cpu_rows(result: Json, key: str, what: str = "edit") -> list[Row]:
    """The server's CPU: its share of a core while the clients typed; over the whole generator
    run, per WebSocket message the clients received meanwhile (frames, in brackets) and per
    (edit or caret move, receiver) pair delivered (pairs, in brackets)."""
    typing: dict[str, Cell] = {}
    per_frame: dict[str, Cell] = {}
    per_pair: dict[str, Cell] = {}

    def count(n: int) -> str:
        return f"{n / 1000:,.0f}k" if n >= 10000 else f"{n:,}"

    for server, runs in result["runs"].items():
        run = runs.get(key)
        if run is None:
            continue
        share = run.get("server_cpu_while_typing")
        if share is not None:
            typing[server] = Cell(share, f"{share:.0%}")
        us = run.get("server_cpu_us_per_frame")
        if us is not None:
            text = f"{_us(us)} ({count(run.get('frames_received', 0))})"
            per_frame[server] = Cell(us, text, run["converged"])
        us = run.get("server_cpu_us_per_delivery")
        if us is not None:
            text = f"{_us(us)} ({count(run.get('deliveries', 0))})"
            per_pair[server] = Cell(us, text, run["converged"])
    return [
        Row(f"{key}: server CPU while typing (share of a core)", typing),
        Row(f"{key}: server CPU per delivered frame (frames)", per_frame, "lower"),
        Row(f"{key}: server CPU per delivered {what} (pairs)", per_pair, "lower"),
    ]


def _complete(run: Json) -> bool:
    """A latency run counts only if every client converged and no delivery went missing."""
    return bool(run["converged"] and run["missing"] == 0)


def fanout_table(result: Json, quick: bool) -> Table:
    table = Table("1. Fan-out: edit to every other client (one room)", _columns(result))
    for n, period, _ in [tuple(c) for c in result["params"]["cases"]]:
        key = case_key(int(n), float(period))
        table.rows += _latency_rows(
            result,
            key,
            "latency_ms",
            "missing",
            "",
            _complete,
        )
        table.rows += _cpu_rows(result, key)
        relay = result["runs"].get("relay", {}).get(key)
        if relay is not None:
            table.notes.append(
                f"{key}: generator CPU {relay['generator']['cpu']:.0%} driving the bare relay "
                f"(p99 {_ms(relay['latency_ms']['p99'])}: the floor the generator can measure)"
            )
    _floor_notes(table, result)
    table.notes.append(CPU_NOTE)
    return table


def _floor_notes(table: Table, result: Json) -> None:
    """Where the bare relay says the generator, not the server, set the numbers."""
    for key, relay in result["runs"].get("relay", {}).items():
        p99 = (relay.get("latency_ms") or {}).get("p99") if isinstance(relay, dict) else None
        if p99 is not None and p99 > 250:
            table.notes.append(
                f"{key}: the bare relay's own p99 is {_ms(p99)}: the generator could not keep up "
                f"with the {relay.get('frames_received', 0):,} frames it received (a busy machine "
                "or its limit), so this case measures the generator more than the servers that "
                "send as many frames as the relay"
            )
    for server, runs in result["runs"].items():
        for key, run in runs.items():
            if key == "error":
                continue
            relay = result["runs"].get("relay", {}).get(key)
            if (
                server != "relay"
                and relay
                and run["latency_ms"]["p99"]
                and relay["latency_ms"]["p99"]
            ):
                if run["latency_ms"]["p99"] <= 1.25 * relay["latency_ms"]["p99"]:
                    table.notes.append(
                        f"{SPECS[server].label} at {key}: p99 within 1.25x of the bare relay's, "
                        "so at the generator's floor (the server may be faster than measured)"
                    )


CPU_NOTE = (
    "CPU per delivered frame: the server's CPU time over the whole generator run (connects, "
    "syncs, typing, drain, convergence check, closes) ÷ the WebSocket messages of any type all "
    "clients received over the same run (in brackets); per delivered edit or caret: the same "
    "CPU time ÷ the (edit or caret move, receiver) pairs that arrived (a server that merges "
    "updates sends fewer frames than one that forwards each)"
)


def cursors_table(result: Json, quick: bool) -> Table:
    table = Table(
        "1b. Typing with cursors: every edit followed by a caret move (awareness), one room",
        _columns(result),
    )
    for n, period, _ in [tuple(c) for c in result["params"]["cases"]]:
        key = case_key(int(n), float(period))
        table.rows += _latency_rows(
            result,
            key,
            "latency_ms",
            "missing",
            "edit ",
            _complete,
        )
        table.rows += _latency_rows(
            result,
            key,
            "cursor_latency_ms",
            "cursor_missing",
            "caret ",
            lambda run: run["converged"] and run.get("cursor_missing") == 0,
        )
        table.rows += _cpu_rows(result, key, "edit or caret")
        relay = result["runs"].get("relay", {}).get(key)
        if relay is not None:
            table.notes.append(
                f"{key}: generator CPU {relay['generator']['cpu']:.0%} driving the bare relay "
                f"(edit p99 {_ms(relay['latency_ms']['p99'])}, caret p99 "
                f"{_ms((relay.get('cursor_latency_ms') or {}).get('p99'))}: the generator's floor)"
            )
    _floor_notes(table, result)
    table.notes.append(
        "caret: from the awareness update's send to the arrival, at every other client, of an "
        "awareness entry of its sender with that clock or a later one"
    )
    table.notes.append(CPU_NOTE)
    return table


def saturation_table(result: Json) -> Table:
    table = Table(
        "2. Saturation: 4 writers + 4 observers, highest rate held with p99 ≤ 100 ms",
        _columns(result),
    )
    held: dict[str, Cell] = {}
    p99: dict[str, Cell] = {}
    first: dict[str, Cell] = {}
    gen: dict[str, Cell] = {}
    relay = result["runs"].get("relay")
    for server, run in result["runs"].items():
        if "error" in run:
            held[server] = Cell(None, "error", ok=False)
            continue
        text = f"{run['held_rate']:,}/s"
        limited = relay is not None and relay.get("generator_limited") and server != "relay"
        if server == "relay" and run.get("generator_limited"):
            text += " (generator's limit)"
        elif limited and run["held_rate"] >= relay["held_rate"]:
            text += " (≥, generator's limit)"
        held[server] = Cell(run["held_rate"], text, run["converged"])
        p99[server] = Cell(run["held_p99_ms"], _ms(run["held_p99_ms"]), run["converged"])
        ff = run["first_failed"]
        first[server] = Cell(None, f"{ff['rate']:,}/s: {ff['reason']}" if ff else "none")
        good = [s for s in run["steps"] if s["ok"] and s["rate"] == run["held_rate"]]
        if good:
            gen[server] = Cell(None, f"{good[-1]['generator']['cpu']:.0%}")
    table.rows += [
        Row("edits/s held", held, "higher"),
        Row("p99 at that rate", p99),
        Row("first rate not held", first),
        Row("generator CPU at that rate", gen),
    ]
    if relay and "error" not in relay:
        table.notes.append(
            f"the generator drove the bare relay to {relay['held_rate']:,} edits/s"
            + (" and could offer no more" if relay.get("generator_limited") else "")
        )
    return table


def connections_table(result: Json) -> Table:
    table = Table("3. Idle synced connections: connect time and server memory", _columns(result))
    stages = result["params"]["stages"]
    for n in stages:
        wall: dict[str, Cell] = {}
        p99: dict[str, Cell] = {}
        mem: dict[str, Cell] = {}
        for server, run in result["runs"].items():
            if "error" in run:
                mem[server] = Cell(None, "error", ok=False)
                continue
            stage = next((s for s in run["stages"] if s["clients"] == n), None)
            if stage is None:
                continue
            ok = run["converged"] and stage["closed"] == 0
            wall[server] = Cell(stage["connect_wall_s"], f"{stage['connect_wall_s']:.2f} s", ok)
            p99[server] = Cell(stage["connect_ms"]["p99"], _ms(stage["connect_ms"]["p99"]), ok)
            kib = stage["per_connection_kib"]
            mem[server] = Cell(kib, f"{kib:,.1f} KiB", ok)
        table.rows += [
            Row(f"{n:,}: all connected and synced", wall, "lower"),
            Row(f"{n:,}: connect p99", p99, "lower"),
            Row(f"{n:,}: memory per connection", mem, "lower"),
        ]
    return table


def cold_table(result: Json) -> Table:
    table = Table("4. Cold load after a restart (document of N small updates)", _columns(result))
    for size in result["params"]["sizes"]:
        rows: dict[str, dict[str, Cell]] = {
            k: {} for k in ("load", "restart", "build", "stop", "disk")
        }
        for server, runs in result["runs"].items():
            run = runs.get(str(size), {})
            if "error" in run or not run:
                rows["load"][server] = Cell(None, "error", ok=False)
                continue
            ok = bool(run["complete"])
            text = _ms(run["load_ms"])
            if not ok:
                text += f" (holds {run['held']:,}/{size:,})"
            rows["load"][server] = Cell(run["load_ms"], text, ok)
            rows["restart"][server] = Cell(
                run["restart_listen_s"], f"{run['restart_listen_s']:.2f} s"
            )
            rows["build"][server] = Cell(run["build_rate"], f"{run['build_rate']:,}/s")
            stop = f"{run['stop_s']:.2f} s" + (" (killed)" if run["stop_killed"] else "")
            rows["stop"][server] = Cell(run["stop_s"], stop)
            rows["disk"][server] = Cell(run["disk_mib"], f"{run['disk_mib']:.2f} MiB")
        table.rows += [
            Row(f"{size:,}: new client has the whole document", rows["load"], "lower"),
            Row(f"{size:,}: restart until listening", rows["restart"], "lower"),
            Row(f"{size:,}: updates/s while building it", rows["build"], "higher"),
            Row(f"{size:,}: SIGTERM to exit (idle)", rows["stop"]),
            Row(f"{size:,}: on disk", rows["disk"], "lower"),
        ]
    return table


def viewers_table(result: Json) -> Table:
    table = Table(
        f"5. Viewers: {result['params']['viewers']:,} SSE viewers, one editor typing "
        f"{result['params']['rate']} edits/s",
        _columns(result),
    )
    cells: dict[str, dict[str, Cell]] = {}
    for server, run in result["runs"].items():
        if "error" in run:
            cells.setdefault("p99", {})[server] = Cell(None, "error", ok=False)
            continue
        vl, el = run["viewer_latency_ms"], run["editor_latency_ms"]
        ok = run["converged"] and not run["viewers_behind_at_end"] and not run["viewer_errors"]
        cells.setdefault("p50", {})[server] = Cell(vl["p50"], _ms(vl["p50"]), ok)
        cells.setdefault("p99", {})[server] = Cell(vl["p99"], _ms(vl["p99"]), ok)
        cells.setdefault("editor", {})[server] = Cell(el["p99"], _ms(el["p99"]), run["converged"])
        share = run["server_cpu_while_typing"]
        cells.setdefault("cpu", {})[server] = Cell(share, f"{share:.0%} of a core")
        kib = run["per_viewer_kib"]
        cells.setdefault("mem", {})[server] = Cell(kib, f"{kib:,.1f} KiB")
        cells.setdefault("connect", {})[server] = Cell(
            run["connect_s"], f"{run['connect_s']:.2f} s"
        )
    labels = {
        "p50": "edit to `content` at the viewers: p50",
        "p99": "edit to `content` at the viewers: p99",
        "editor": "editor's edit to another editor: p99",
        "cpu": "server CPU while typing",
        "mem": "memory per viewer",
        "connect": "all viewers connected",
    }
    table.rows += [Row(labels[k], v) for k, v in cells.items()]
    return table


def sigterm_table(result: Json) -> Table:
    table = Table(
        f"6. SIGTERM right after a burst of {result['params']['updates']:,} updates",
        _columns(result),
    )
    rows: dict[str, dict[str, Cell]] = {k: {} for k in ("lost", "seen", "exit")}
    for server, run in result["runs"].items():
        if "error" in run:
            rows["lost"][server] = Cell(None, "error", ok=False)
            continue
        rows["lost"][server] = Cell(run["lost_pct"], f"{run['lost_pct']:.1f} %")
        forwarded = run["seen_by_observer"]
        rows["seen"][server] = Cell(
            run["lost_after_seen"],
            f"{run['lost_after_seen']:,} of {forwarded:,}",
            run["lost_after_seen"] == 0,
        )
        exit_text = (
            "–" if run["exit_s"] is None else f"{run['exit_s']:.2f} s (code {run['exit_code']})"
        )
        rows["exit"][server] = Cell(run["exit_s"], exit_text + (" killed" if run["killed"] else ""))
    table.rows += [
        Row("updates lost (not in the document after the restart)", rows["lost"], "lower"),
        Row("lost although already forwarded to another client", rows["seen"]),
        Row("SIGTERM to exit", rows["exit"]),
    ]
    return table


def _kib(x: float) -> str:
    return f"{x / 1024:,.1f} KiB" if x < 10 * 2**20 else f"{x / 2**20:,.2f} MiB"


def history_table(result: Json) -> Table:
    params = result["params"]
    table = Table(
        f"7. History: documents of {params['updates']:,} updates, read after a restart",
        _columns(result),
    )
    for workload in params["workloads"]:
        rows: dict[str, dict[str, Cell]] = {}

        def put(key: str, server: str, cell: Cell, rows: dict[str, dict[str, Cell]] = rows) -> None:
            rows.setdefault(key, {})[server] = cell

        for server, runs in result["runs"].items():
            run = runs.get(workload, {})
            if "error" in run or not run:
                put("render first", server, Cell(None, "error", ok=False))
                continue
            rd, hl, disk = run["renders"], run["history"], run["disk"]
            ok = rd["newest_matches_live"]
            put("render first", server, Cell(rd["first_ms"], _ms(rd["first_ms"]), ok))
            for stat in ("p50", "p99", "max"):
                put(
                    f"render {stat}",
                    server,
                    Cell(rd["rest_ms"][stat], _ms(rd["rest_ms"][stat]), ok),
                )
            put("list first", server, Cell(hl["first_ms"], _ms(hl["first_ms"])))
            put("list warm", server, Cell(hl["warm_ms"]["p50"], _ms(hl["warm_ms"]["p50"])))
            plain = hl["plain_ms"]["p50"]
            put("plain", server, Cell(plain, _ms(plain)))
            pages = (
                f"{_ms(hl['paging_ms']['max'])} ({hl['pages']} pages, {hl['entries']:,} entries)"
            )
            put("paging", server, Cell(hl["paging_ms"]["max"], pages))
            put("early", server, Cell(hl["early_ms"]["p50"], _ms(hl["early_ms"]["p50"])))
            per_k = 1000 / max(1, run["updates"])
            put("history", server, Cell(disk["history_bytes"], _kib(disk["history_bytes"] * per_k)))
            put(
                "snapshot",
                server,
                Cell(disk["snapshot_bytes"], _kib(disk["snapshot_bytes"] * per_k)),
            )
            ratio = disk["history_bytes"] / max(1, disk["snapshot_bytes"])
            put("ratio", server, Cell(ratio, f"{ratio:.2f}x"))
            free = disk["free_bytes"]
            put(
                "file",
                server,
                Cell(disk["dir_bytes"], f"{disk['dir_bytes'] / 2**20:.2f} MiB ({_kib(free)} free)"),
            )
            table.notes.append(
                f"{workload}: {run['typed_chars']:,} characters typed, {run['deleted_chars']:,} "
                f"deleted, {run['doc_chars']:,} left (XML); {run['rev']:,} revisions; history "
                f"{_kib(disk['history_bytes'])} in {disk['history_chunks']} chunks (merged "
                f"updates {_kib(disk['history_data_bytes'])}, revision index "
                f"{_kib(disk['history_index_bytes'])}, checkpoints "
                f"{_kib(disk['history_checkpoint_bytes'])}); snapshot "
                f"{_kib(disk['snapshot_bytes'])}; {disk['journal_rows']} journal rows left; "
                f"{rd['all_ms']['count']} revisions rendered; built at {run['build_rate']:,}/s "
                f"(server CPU {run['build_server_cpu_share']:.0%}); "
                f"server RSS {rd['server_rss_mib_before']} → {rd['server_rss_mib_after']} MiB "
                "over the renders"
            )
        early = next(
            (
                r[workload]["history"]["early_before"]
                for r in result["runs"].values()
                if "history" in r.get(workload, {})
            ),
            None,
        )
        labels = {
            "render first": "content?rev=R (html): first request of a fresh process",
            "render p50": "content?rev=R: the other random R, p50",
            "render p99": "content?rev=R: the other random R, p99",
            "render max": "content?rev=R: the other random R, max",
            "list first": "history?limit=50: first request of a fresh process",
            "list warm": "history?limit=50: warm, p50",
            "plain": "GET /api/docs/{id} (yardstick): warm, p50",
            "paging": "every page through `next`: slowest",
            "early": f"history?limit=50&before={early}: warm, p50",
            "history": "history per 1,000 updates",
            "snapshot": "compacted snapshot per 1,000 updates",
            "ratio": "history ÷ compacted snapshot",
            "file": "data directory (SQLite file and WAL)",
        }
        table.rows += [Row(f"{workload}: {labels[k]}", v) for k, v in rows.items()]
    table.notes.append("cold load for editing: table 4 (cold), which this scenario does not repeat")
    return table


UI_KINDS = {
    "open_first": "open History: first open of the page (fresh server process)",
    "open_again": "open History: closed and opened again",
    "arrow": "slider: ArrowLeft (one entry back)",
    "home": "slider: Home (the first revision)",
    "end": "slider: End (now)",
    "pointer": "slider: a click at a random place",
}


def history_ui_table(result: Json) -> Table:
    params = result["params"]
    table = Table(
        f"8. The history view in Chromium: a document of {params['updates']:,} updates by "
        f"{params['authors']} authors (input event to the frame showing it rendered: "
        "p50 / p95 / max)",
        _columns(result),
    )
    rows: dict[str, dict[str, Cell]] = {}
    for server, run in result["runs"].items():
        if "error" in run or "skipped" in run:
            why = run.get("error") or run.get("skipped")
            rows.setdefault("editor: open_first", {})[server] = Cell(None, "–", "error" not in run)
            table.notes.append(f"{SPECS[server].label}: {why}")
            continue
        for page, measured in run["pages"].items():
            for kind, t in measured["times"].items():
                f = t.get("frame_ms", {})
                text = " / ".join(_ms(f.get(k)) for k in ("p50", "p95", "max")) if f else "–"
                ok = not t.get("not_shown")
                if not ok:
                    text += f" ({t['not_shown']} not shown)"
                rows.setdefault(f"{page}: {kind}", {})[server] = Cell(f.get("p95"), text, ok)
            table.notes.append(
                f"{page}: revision {measured['newest']:,}, {measured['entries_loaded']} entries "
                f"listed at the end; {len(measured['console_errors'])} console errors; "
                f"{measured.get('machine_busy_cores')} cores busy on the machine meanwhile "
                "(the page, the server and anything else)"
            )
    for key, cells in rows.items():
        page, kind = key.split(": ", 1)
        table.rows.append(Row(f"{page}: {UI_KINDS.get(kind, kind)}", cells))
    return table


TABLES: dict[str, Callable[[Json, bool], Table]] = {
    "fanout": fanout_table,
    "cursors": cursors_table,
    "saturation": lambda r, q: saturation_table(r),
    "connections": lambda r, q: connections_table(r),
    "cold": lambda r, q: cold_table(r),
    "viewers": lambda r, q: viewers_table(r),
    "sigterm": lambda r, q: sigterm_table(r),
    "history": lambda r, q: history_table(r),
    "history_ui": lambda r, q: history_ui_table(r),
}


# ---- targets (section 2 of the issue) -----------------------------------------------------------


@dataclass
class Target:
    name: str
    measured: str
    met: bool | None  # None: not measured in this run


def _get(d: Any, *path: Any) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def targets(results: Json) -> list[Target]:
    out: list[Target] = []
    big = case_key(200, 1.0)
    fan = results.get("fanout", {}).get("runs", {})
    swell = _get(fan, "swell", big, "latency_ms", "p99")
    yws = _get(fan, "yws", big, "latency_ms", "p99")
    pyc = _get(fan, "pycrdt", big, "latency_ms", "p99")
    pyc_missing = _get(fan, "pycrdt", big, "missing")
    if swell is not None and yws:
        out.append(
            Target(
                "fan-out p99 at N=200 ≤ 1.5x y-websocket",
                f"Swell {_ms(swell)}, y-websocket {_ms(yws)}: {swell / yws:.2f}x",
                swell <= 1.5 * yws and _get(fan, "swell", big, "converged") is True,
            )
        )
    else:
        out.append(Target("fan-out p99 at N=200 ≤ 1.5x y-websocket", "not measured", None))
    if swell is not None and pyc:
        extra = f" (+{pyc_missing} undelivered)" if pyc_missing else ""
        collapsed = " (Swell too is past a second: both collapsed)" if swell > 1000 else ""
        out.append(
            Target(
                "fan-out p99 at N=200 ≥ 10x better than pycrdt-websocket",
                f"pycrdt-websocket {_ms(pyc)}{extra} ÷ Swell {_ms(swell)}: {pyc / swell:.1f}x"
                + collapsed,
                (pyc >= 10 * swell or bool(pyc_missing)) and not collapsed,
            )
        )
    else:
        out.append(
            Target("fan-out p99 at N=200 ≥ 10x better than pycrdt-websocket", "not measured", None)
        )
    out.append(_per_frame_target(fan))
    out.append(_cursors_target(results.get("cursors", {}).get("runs", {})))
    sat = results.get("saturation", {}).get("runs", {})
    s_rate, y_rate = _get(sat, "swell", "held_rate"), _get(sat, "yws", "held_rate")
    relay = sat.get("relay", {})
    if s_rate is not None and y_rate:
        at_limit = bool(relay.get("generator_limited")) and s_rate >= relay.get("held_rate", 0)
        out.append(
            Target(
                "saturation ≥ 0.8x y-websocket (or the generator's limit)",
                f"Swell {s_rate:,}/s, y-websocket {y_rate:,}/s: {s_rate / y_rate:.2f}x"
                + (" (generator's limit)" if at_limit else ""),
                s_rate >= 0.8 * y_rate or at_limit,
            )
        )
    else:
        out.append(Target("saturation ≥ 0.8x y-websocket", "not measured", None))
    con = results.get("connections", {})
    top = max(con.get("params", {}).get("stages", [0]) or [0])
    per = {}
    for key in ("swell", "yws"):
        stages = _get(con, "runs", key, "stages") or []
        per[key] = next((s["per_connection_kib"] for s in stages if s["clients"] == top), None)
    if per["swell"] is not None and per["yws"]:
        out.append(
            Target(
                f"memory per idle connection ({top:,}) ≤ 1.5x y-websocket",
                f"Swell {per['swell']:.1f} KiB, y-websocket {per['yws']:.1f} KiB: "
                f"{per['swell'] / per['yws']:.2f}x",
                per["swell"] <= 1.5 * per["yws"],
            )
        )
    else:
        out.append(Target("memory per idle connection ≤ 1.5x y-websocket", "not measured", None))
    cold = results.get("cold", {})
    size = str(max(cold.get("params", {}).get("sizes", [0]) or [0]))
    loads = {k: _get(cold, "runs", k, size, "load_ms") for k in cold.get("runs", {})}
    s_load = loads.pop("swell", None)
    peers = {k: v for k, v in loads.items() if v is not None and SPECS[k].is_peer}
    if s_load is not None and peers:
        best = min(peers, key=lambda k: peers[k])
        complete = _get(cold, "runs", "swell", size, "complete") is True
        out.append(
            Target(
                f"cold load of {int(size):,} updates faster than every persisting peer",
                f"Swell {_ms(s_load)}, best peer {SPECS[best].label} {_ms(peers[best])}: "
                f"{s_load / peers[best]:.2f}x" + ("" if complete else " (Swell incomplete)"),
                s_load < peers[best] and complete,
            )
        )
    else:
        out.append(Target("cold load faster than every persisting peer", "not measured", None))
    view = _get(results, "viewers", "runs", "swell")
    if view and "error" not in view:
        vp99 = view["viewer_latency_ms"]["p99"]
        ep99 = view["editor_latency_ms"]["p99"]
        limit = 1.5 * yws if yws else None
        ok = vp99 is not None and vp99 <= 500 and not view["viewers_behind_at_end"]
        text = f"viewers p99 {_ms(vp99)}; editor p99 {_ms(ep99)}"
        if limit is not None:
            text += f" (fan-out target here: ≤ {_ms(limit)})"
            ok = ok and ep99 is not None and ep99 <= limit
        else:
            text += " (editor not checked: no y-websocket fan-out at N=200 in this run)"
        out.append(Target(f"{view['viewers']:,} viewers get content within 500 ms p99", text, ok))
    else:
        out.append(Target("viewers get content within 500 ms p99", "not measured", None))
    term = _get(results, "sigterm", "runs", "swell")
    if term and "error" not in term:
        out.append(
            Target(
                "SIGTERM right after a burst: Swell loses 0 %",
                f"{term['lost_pct']:.1f} % lost; {term['lost_after_seen']} forwarded updates lost",
                term["lost_pct"] == 0,
            )
        )
    hist = _get(results, "history", "runs", "swell")
    typing = _get(hist, "typing", "renders", "rest_ms", "p99")
    if typing is not None:
        size = results["history"]["params"]["updates"]
        out.append(
            Target(
                f"content at a random revision of {size:,} updates: p99 ≤ 150 ms",
                f"p99 {_ms(typing)} (max {_ms(hist['typing']['renders']['rest_ms']['max'])}); "
                f"first request of a fresh process {_ms(hist['typing']['renders']['first_ms'])}",
                typing <= 150,
            )
        )
        ratios = {
            w: r["disk"]["history_bytes"] / max(1, r["disk"]["snapshot_bytes"])
            for w, r in hist.items()
            if isinstance(r, dict) and "disk" in r
        }
        budget = [ratios.get(w) for w in ("typing", "deleting")]
        out.append(
            Target(
                "history ≤ 3x the compacted document (typing, deleting)",
                ", ".join(f"{w} {x:.2f}x" for w, x in ratios.items()),
                all(x is not None and x <= 3 for x in budget),
            )
        )
    else:
        out.append(Target("content at a random revision: p99 ≤ 150 ms", "not measured", None))
    ui = _get(results, "history_ui", "runs", "swell", "pages")
    if ui:
        size = results["history_ui"]["params"]["updates"]
        opens, steps = [], []
        for page, m in ui.items():
            t = m["times"]
            first = _get(t, "open_first", "frame_ms", "max")
            worst_step = max(
                (
                    _get(t, kind, "frame_ms", "p95") or 0
                    for kind in ("arrow", "home", "end", "pointer")
                ),
                default=0,
            )
            missed = sum(v.get("not_shown", 0) for v in t.values())
            opens.append((page, first))
            steps.append((page, worst_step, missed))
        out.append(
            Target(
                f"History opens on {size:,} updates within 300 ms (first open, fresh server)",
                ", ".join(f"{page} {_ms(ms)}" for page, ms in opens),
                all(ms is not None and ms <= 300 for _, ms in opens),
            )
        )
        out.append(
            Target(
                "each slider step shows its revision within 200 ms (p95 of the slowest kind)",
                ", ".join(
                    f"{page} {_ms(ms)}" + (f" ({n} never shown)" if n else "")
                    for page, ms, n in steps
                ),
                all(ms <= 200 and not n for _, ms, n in steps),
            )
        )
    else:
        out.append(Target("History opens within 300 ms (first open)", "not measured", None))
    return out


def _per_frame_target(fan: Json) -> Target:
    """Issue 13: the server's CPU per delivered frame at N=200 (every 1 s; every 4 s shown)."""
    name = "CPU per delivered frame at N=200 ≤ 2x y-websocket"
    parts = []
    met: bool | None = None
    for period in (1.0, 4.0):
        key = case_key(200, period)
        swell = _get(fan, "swell", key, "server_cpu_us_per_frame")
        yws = _get(fan, "yws", key, "server_cpu_us_per_frame")
        if swell is None or not yws:
            continue
        text = f"{key}: Swell {_us(swell)}, y-websocket {_us(yws)}: {swell / yws:.2f}x"
        per = [_get(fan, k, key, "server_cpu_us_per_delivery") for k in ("swell", "yws")]
        if per[0] is not None and per[1]:
            text += f" (per delivered edit {_us(per[0])} and {_us(per[1])}: {per[0] / per[1]:.2f}x)"
        parts.append(text)
        if period == 1.0:
            met = swell <= 2 * yws and _get(fan, "swell", key, "converged") is True
    if met is None:
        return Target(name, "not measured" if not parts else "; ".join(parts), None)
    return Target(name, "; ".join(parts), met)


def _cursors_target(runs: Json) -> Target:
    name = "typing with cursors at N=200: edit p99 ≤ 1.5x y-websocket"
    key = case_key(200, 1.0)
    swell = _get(runs, "swell", key, "latency_ms", "p99")
    yws = _get(runs, "yws", key, "latency_ms", "p99")
    if swell is None or not yws:
        return Target(name, "not measured", None)
    carets = [_get(runs, k, key, "cursor_latency_ms", "p99") for k in ("swell", "yws")]
    text = f"Swell {_ms(swell)}, y-websocket {_ms(yws)}: {swell / yws:.2f}x"
    if None not in carets:
        text += f" (caret p99: Swell {_ms(carets[0])}, y-websocket {_ms(carets[1])})"
    relay = _get(runs, "relay", key, "latency_ms", "p99")
    if relay is not None:
        text += f"; the bare relay's p99 {_ms(relay)}"
        if relay > 250:
            text += " (the generator could not keep up: see the table's notes)"
    ok = swell <= 1.5 * yws and _get(runs, "swell", key, "converged") is True
    return Target(name, text, ok)


def targets_text(items: list[Target], markdown: bool = False) -> str:
    mark = {True: "met", False: "MISSED", None: "not measured"}
    if markdown:
        lines = ["| target | measured | |", "|---|---|---|"]
        lines += [f"| {t.name} | {t.measured} | {mark[t.met]} |" for t in items]
        return "\n".join(lines)
    width = max(len(t.name) for t in items)
    return "\n".join(f"  [{mark[t.met]:>12}] {t.name.ljust(width)}  {t.measured}" for t in items)
