"""The ``Cases`` service: the intake's calls and the operator's, translated and delegated.

Open, Get and Withdraw are the intake role's only calls (``Access.authorize_intake``);
SetPolicy, List, Show and Decide are the operator's. Everything else is
``server.casedesk``'s.
"""

from __future__ import annotations

import grpc

from hashlist.cases import CaseState
from hashlist.errors import InputError
from hashlist.rpc import handle_errors
from hashlist.v1 import hashlist_pb2 as pb
from hashlist.v1 import hashlist_pb2_grpc as pb_grpc
from hashlist.wire import case_policy_from_proto, case_policy_to_proto, case_view_to_proto
from server.hub import Hub
from server.identify import caller

MAX_LIST_PAGE = 1000


class CasesServicer(pb_grpc.CasesServicer):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.desk = hub.cases
        self.rpc_errors = hub.metrics.rpc_errors

    def _intake(self, context: grpc.ServicerContext) -> None:
        self.hub.access.authorize_intake(caller(context, self.hub.access))

    def _operator(self, context: grpc.ServicerContext) -> None:
        self.hub.access.authorize_admin(caller(context, self.hub.access))

    @handle_errors
    def Open(self, request: pb.OpenCaseRequest, context: grpc.ServicerContext) -> pb.CaseStatus:
        self._intake(context)
        view = self.desk.open(request.list_id, request.number, request.pin, list(request.signals))
        return case_view_to_proto(view)

    @handle_errors
    def Get(self, request: pb.CaseRequest, context: grpc.ServicerContext) -> pb.CaseStatus:
        self._intake(context)
        return case_view_to_proto(self.desk.get(request.number, request.pin))

    @handle_errors
    def Withdraw(self, request: pb.CaseRequest, context: grpc.ServicerContext) -> pb.CaseStatus:
        self._intake(context)
        return case_view_to_proto(self.desk.withdraw(request.number, request.pin))

    @handle_errors
    def SetPolicy(
        self, request: pb.CasePolicy, context: grpc.ServicerContext
    ) -> pb.SetCasePolicyResponse:
        policy = case_policy_from_proto(request)
        self.hub.trail.run(
            caller(context, self.hub.access), "case policy", policy.list_id, "",
            lambda: self.desk.set_policy(policy),
            describe=lambda _: f"{policy.mode.value}, batches every {policy.batch_seconds} s, "
            f"at most {policy.max_signals} hashes a case",
        )  # fmt: skip
        return pb.SetCasePolicyResponse()

    @handle_errors
    def List(
        self, request: pb.ListCasesRequest, context: grpc.ServicerContext
    ) -> pb.ListCasesResponse:
        self._operator(context)
        try:
            state = CaseState(request.state) if request.state else None
        except ValueError as e:
            known = ", ".join(s.value for s in CaseState)
            raise InputError(f"unknown case state {request.state[:40]!r}: one of {known}") from e
        limit = min(request.limit or 100, MAX_LIST_PAGE)
        views = self.hub.store.cases(request.list_id, state, request.after, limit)
        return pb.ListCasesResponse(
            cases=[case_view_to_proto(v) for v in views],
            policies=[case_policy_to_proto(p) for p in self.desk.policies()],
        )

    @handle_errors
    def Show(self, request: pb.ShowCaseRequest, context: grpc.ServicerContext) -> pb.CaseDetail:
        self._operator(context)
        view, signals = self.desk.show(request.number)
        return pb.CaseDetail(status=case_view_to_proto(view), signals=signals)

    @handle_errors
    def Decide(self, request: pb.DecideCaseRequest, context: grpc.ServicerContext) -> pb.CaseStatus:
        view = self.hub.trail.run(
            caller(context, self.hub.access), "approve case" if request.approve
            else "reject case", request.number[:40], request.reason,
            lambda: self.desk.decide(request.number, request.approve),
            describe=lambda v: f"{v.state.value}" + (f" at version {v.version}" if v.version
                                                     else ""),
            reason_required=not request.approve,
        )  # fmt: skip
        return case_view_to_proto(view)
