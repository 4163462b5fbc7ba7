"""The Admin service's oversight calls (history, review queue, activity, audit trail):
a mixin of ``AdminServicer``, thin like it: identify the caller, translate, delegate.
"""

from __future__ import annotations

import grpc

from hashlist.rpc import handle_errors
from hashlist.v1 import hashlist_pb2 as pb
from hashlist.wire_oversight import (
    action_to_proto,
    case_day_to_proto,
    match_day_to_proto,
    review_item_to_proto,
    version_to_proto,
)
from server.hub import Hub
from server.identify import caller


class OversightRpcs:
    hub: Hub

    @handle_errors
    def History(
        self, request: pb.HistoryRequest, context: grpc.ServicerContext
    ) -> pb.HistoryResponse:
        found = self.hub.oversight.history(caller(context, self.hub.access), request.list_id,
                                           request.before, request.limit or 50)  # fmt: skip
        return pb.HistoryResponse(versions=[version_to_proto(v) for v in found])

    @handle_errors
    def Review(self, request: pb.ReviewRequest, context: grpc.ServicerContext) -> pb.ReviewResponse:
        items = self.hub.oversight.review(
            caller(context, self.hub.access), request.list_id,
            review_threshold=request.review_threshold, flood_partners=request.flood_partners,
            flood_hours=request.flood_hours,
        )  # fmt: skip
        return pb.ReviewResponse(items=[review_item_to_proto(i) for i in items])

    @handle_errors
    def Dismiss(
        self, request: pb.DismissRequest, context: grpc.ServicerContext
    ) -> pb.DismissResponse:
        self.hub.trail.run(
            caller(context, self.hub.access), "dismiss review", f"{request.list_id}: "
            f"{request.signal[:160]}", request.reason,
            lambda: self.hub.oversight.dismiss(request.list_id, request.signal),
            reason_required=True,
        )  # fmt: skip
        return pb.DismissResponse()

    @handle_errors
    def Activity(
        self, request: pb.ActivityRequest, context: grpc.ServicerContext
    ) -> pb.ActivityResponse:
        matches, cases = self.hub.oversight.activity(caller(context, self.hub.access),
                                                     request.days or 30)  # fmt: skip
        return pb.ActivityResponse(matches=[match_day_to_proto(d) for d in matches],
                                   cases=[case_day_to_proto(d) for d in cases])  # fmt: skip

    @handle_errors
    def Actions(
        self, request: pb.ActionsRequest, context: grpc.ServicerContext
    ) -> pb.ActionsResponse:
        found = self.hub.trail.actions(caller(context, self.hub.access), request.before,
                                       request.limit or 100)  # fmt: skip
        return pb.ActionsResponse(actions=[action_to_proto(a) for a in found])
