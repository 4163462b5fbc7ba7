"""The operator's oversight calls of ``HubClient`` (a mixin): a list's history, the
review queue, dismissals, activity per day and the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hashlist.oversight import ActionRecord, CaseDay, MatchDay, ReviewItem, VersionInfo
from hashlist.v1 import hashlist_pb2 as pb
from hashlist.v1 import hashlist_pb2_grpc as pb_grpc
from hashlist.wire_oversight import (
    action_from_proto,
    case_day_from_proto,
    match_day_from_proto,
    review_item_from_proto,
    version_from_proto,
)

R = TypeVar("R")


class OversightCalls:
    admin: pb_grpc.AdminStub

    def _unary(self, what: str, call: Callable[..., R], request: object) -> R:
        raise NotImplementedError

    def history(self, list_id: str, *, before: int = 0, limit: int = 50) -> list[VersionInfo]:
        """A list's versions under ``before`` (0: from the newest), newest first."""
        request = pb.HistoryRequest(list_id=list_id, before=before, limit=limit)
        response = self._unary(f"history of {list_id}", self.admin.History, request)
        return [version_from_proto(m) for m in response.versions]

    def review(
        self, list_id: str, *, review_threshold: int = 0, flood_partners: int = 0,
        flood_hours: int = 0,
    ) -> list[ReviewItem]:  # fmt: skip
        """The review queue of a list (0: the hub's default for each bound)."""
        request = pb.ReviewRequest(list_id=list_id, review_threshold=review_threshold,
                                   flood_partners=flood_partners,
                                   flood_hours=flood_hours)  # fmt: skip
        response = self._unary(f"review queue of {list_id}", self.admin.Review, request)
        return [review_item_from_proto(m) for m in response.items]

    def dismiss(self, list_id: str, signal: str, *, reason: str) -> None:
        request = pb.DismissRequest(list_id=list_id, signal=signal, reason=reason)
        self._unary("dismiss", self.admin.Dismiss, request)

    def activity(self, days: int = 30) -> tuple[list[MatchDay], list[CaseDay]]:
        """Matches per list, partner and day, and cases per list and day (UTC days)."""
        request = pb.ActivityRequest(days=days)
        response = self._unary("activity", self.admin.Activity, request)
        return ([match_day_from_proto(m) for m in response.matches],
                [case_day_from_proto(m) for m in response.cases])  # fmt: skip

    def actions(self, *, before: int = 0, limit: int = 100) -> list[ActionRecord]:
        """The audit trail, newest first: actions with an id under ``before`` (0: all)."""
        request = pb.ActionsRequest(before=before, limit=limit)
        response = self._unary("audit trail", self.admin.Actions, request)
        return [action_from_proto(m) for m in response.actions]
