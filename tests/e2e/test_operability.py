"""Metrics and probes of real hub, node and witness processes, read over HTTP as
Prometheus and a kubelet would."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from hashlist.cli.demo import Federation, random_signals, wait_until
from hashlist.model import CheckQuery
from node.service import MatcherClient

LIST = "takeitdown"


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = _get(f"{url}/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_probes_and_metrics_follow_what_the_daemons_do(tmp_path: Path) -> None:
    with Federation(tmp_path / "fed", recosign_seconds=1.0, witness=True, metrics=True) as fed:
        fed.start_hub()
        hub, witness = fed.probes_url("hub"), fed.probes_url("witness")
        assert _get(f"{hub}/livez") == (200, "ok\n")
        assert _get(f"{hub}/readyz") == (200, "ready\n")  # no list yet: nothing to be late
        assert _get(f"{hub}/nothing")[0] == 404

        # A node following a list the hub does not have is alive but not ready.
        fed.start_node("yubo")
        node = fed.probes_url("yubo")
        assert _get(f"{node}/livez")[0] == 200
        wait_until(lambda: "refused by the hub" in _get(f"{node}/readyz")[1], 30, "the refusal")
        assert _get(f"{node}/readyz")[0] == 503

        listed = random_signals(5, "md5")
        with fed.operator() as op:
            op.create_list(LIST)
            op.grant(LIST, "yubo", new_partner=True)
            op.publish(LIST, listed)
            op.publish(LIST, random_signals(3, "md5"))
        wait_until(lambda: _get(f"{node}/readyz") == (200, "ready\n"), 60, "a ready node")
        socket = f"unix:{fed.database('yubo').with_suffix('.sock')}"
        with MatcherClient(socket) as matcher:
            assert len(matcher.check(signals=listed[:1], report=False).matches) == 1
            batch = [CheckQuery(signals=(s,), report=False) for s in ("md5:zz", *listed[1:3])]
            assert len(list(matcher.check_batch(batch))) == 3
        with grpc.insecure_channel(socket) as channel:
            probe: Any = health_pb2_grpc.HealthStub(channel)
            serving = health_pb2.HealthCheckResponse.SERVING
            wait_until(lambda: probe.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                       == serving, 10, "the Matcher's health")  # fmt: skip

        label = (("list", LIST),)
        seen = _samples(node)
        assert seen[("hashlist_node_list_version", label)] == 2
        assert seen[("hashlist_node_list_hashes", label)] == 8
        assert seen[("hashlist_node_lag_versions", label)] == 0
        assert seen[("hashlist_node_alarm", label)] == 0
        assert 0 <= seen[("hashlist_node_checkpoint_age_seconds", label)] < 60
        assert seen[("hashlist_node_outbox_pending", ())] == 0
        assert seen[("hashlist_node_apply_seconds_count", ())] >= 1
        assert seen[("hashlist_node_check_seconds_count", ())] == 1
        assert seen[("hashlist_node_matches_total", (("kind", "md5"), ("list", LIST)))] == 3
        assert seen[("hashlist_node_checks_total", (("outcome", "matched"),))] == 3
        assert seen[("hashlist_node_checks_total", (("outcome", "refused"),))] == 1
        assert seen[("hashlist_node_list_ready", label)] == 1
        assert seen[("process_open_fds", ())] > 0

        wait_until(lambda: _samples(hub)[("hashlist_hub_subscribers", label)] == 1, 30,
                   "the node's subscription")  # fmt: skip
        at_hub = _samples(hub)
        assert at_hub[("hashlist_hub_list_version", label)] == 2
        assert at_hub[("hashlist_hub_list_hashes", label)] == 8
        assert at_hub[("hashlist_hub_publish_seconds_count", ())] == 2
        refused = {k: v for k, v in at_hub.items() if k[0] == "hashlist_hub_rpc_errors_total"}
        assert refused, "the hub counted the calls it refused while the list did not exist"

        cosigned = _samples(witness)
        origin = (("origin", f"hub.example/lists/{LIST}"),)
        assert cosigned[("hashlist_witness_cosigned_total", origin)] >= 2
        assert _get(f"{witness}/readyz") == (200, "ready\n")
