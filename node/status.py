"""What ``hashlist node status`` says about each followed list, and whether the node is healthy.

A list is healthy only when it has a verified checkpoint that is fresh, no
alarm, is not halted, and the hub answered the node's last contact. Anything
else is named, per list, with what the node knows (from the replica's
``lists`` row, which the sync loop keeps): halted (equivocation), an alarm
and its error type, refused by the hub (with the hub's reason), never synced,
cannot reach the hub (since when), stale (the newest cosignature's age).

Pure: the caller passes the records, the trust root and the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from hashlist.trustroot import TrustRoot
from node.store import ListRecord


@dataclass(frozen=True)
class StatusRow:
    node: str
    list_id: str
    version: int
    hashes: int
    state_digest: str
    cosignature_age: int  # seconds; -1 before the first verified checkpoint
    lag: int
    stale: bool
    halted: bool
    alarm: str
    contact: str  # "" when the hub answered the last contact
    healthy: bool
    problems: tuple[str, ...]  # what keeps the list from being healthy, worst first
    # Fit to answer checks: verified, fresh, no alarm, not halted, not refused (the
    # hub may be out of reach for a while).
    ready: bool
    checkpoint: str  # the signed note of the verified state: what auditors compare


def status_row(
    node: str, record: ListRecord, hashes: int, trust: TrustRoot, now: int, *, running: bool = True
) -> StatusRow:
    """``running``: whether a node process holds the database now (what it recorded is
    otherwise only how things stood when it stopped)."""
    state = record.state
    synced = bool(state.checkpoint_note)
    age = now - state.cosigned_at if state.cosigned_at else -1
    stale = not synced or age > trust.max_checkpoint_age_seconds
    problems = (
        [] if running else ["no node is running on this database: as it stood when it stopped"]
    )
    if record.halted:
        problems.append(f"halted: {record.alarm}")
    elif record.alarm:
        problems.append(f"alarm: {record.alarm}")
    kind, _, reason = record.contact.partition(": ")
    if kind == "refused":
        problems.append(f"refused by the hub: {reason}")
    if not synced:
        problems.append("never synced: no verified checkpoint yet")
    if kind == "unreachable":
        since = datetime.fromtimestamp(record.contact_since, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        problems.append(f"cannot reach the hub since {since} "
                        f"({now - record.contact_since} s): {reason}")  # fmt: skip
    if synced and stale:
        problems.append(f"stale: newest cosignature {age} s old, "
                        f"over the {trust.max_checkpoint_age_seconds} s maximum")  # fmt: skip
    return StatusRow(
        node=node, list_id=state.list_id, version=state.size, hashes=hashes,
        state_digest=state.state_digest.hex(), cosignature_age=age,
        lag=max(0, record.seen_size - state.size), stale=stale, halted=record.halted,
        alarm=record.alarm, contact=record.contact, healthy=not problems,
        problems=tuple(problems), checkpoint=state.checkpoint_note.decode(),
        ready=not (stale or record.halted or record.alarm or kind == "refused"),
    )  # fmt: skip


def format_status(rows: list[StatusRow]) -> str:
    lines = [f"{'node':<10} {'list':<12} {'version':>7} {'hashes':>8} {'lag':>4} {'age':>6}  "
             f"{'state digest':<20} status"]  # fmt: skip
    for r in rows:
        age = f"{r.cosignature_age}s" if r.cosignature_age >= 0 else "-"
        lines.append(
            f"{r.node:<10} {r.list_id:<12} {r.version:>7} {r.hashes:>8} {r.lag:>4} {age:>6}  "
            f"{r.state_digest[:16] + '...':<20} {r.problems[0] if r.problems else 'ok'}"
        )
        lines.extend(f"{'':<64}{p}" for p in r.problems[1:])
    return "\n".join(lines)
