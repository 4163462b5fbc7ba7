"""The demo's front door: a person's case, opened through the intake, listed on every
node, matched, withdrawn, and the retraction reaching every node.

What the page does in a browser is done here by the same rules: the image is
hashed on the "device" (``hashlist.hashing``), and only its MD5, SHA-256 and
PDQ (as the page sends them) go to ``POST /v1/cases``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from hashlist.cases import CasePolicy, PolicyMode
from hashlist.client import HubClient
from hashlist.hashing import hash_file
from hashlist.signals import PDQ_MIN_QUALITY
from hashlist.synthetic import edited_copy, jpeg_bytes, synthetic_image
from node.service import MatcherClient

if TYPE_CHECKING:
    from hashlist.cli.demo import Federation

_SEED = 4242  # the person's (synthetic) photo


def call(url: str, method: str, body: object = None, pin: str = "") -> dict[str, Any]:
    """One request to the intake, as the page makes it; the answer's JSON."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if pin:
        headers["Authorization"] = f"PIN {pin}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - loopback
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{method} {url}: {e.code} {e.read().decode(errors='replace')}") from e
    return answer


def front_door_demo(
    fed: Federation, op: HubClient, list_id: str, partners: tuple[str, ...]
) -> bool:
    from hashlist.cli.demo import wait_until

    print("\n--- the victim's front door: a case opened with hashes only, then withdrawn ---")
    op.set_case_policy(CasePolicy(list_id, PolicyMode.AUTO, batch_seconds=2))
    print(f"operator: cases on {list_id} are published automatically, in batches every 2 s")
    url = fed.start_intake(list_id)
    print(f"intake on {url}: the hashing page at {url}/, the case API at {url}/v1/cases")
    photo = fed.workdir / "device" / "my-photo.jpg"
    photo.parent.mkdir(exist_ok=True)
    photo.write_bytes(jpeg_bytes(synthetic_image(_SEED)))
    h = hash_file(photo)
    sent: list[str] = [s for s in h.signals if s.split(":")[0] in ("md5", "sha256")]
    if h.pdq is not None and (h.pdq_quality or 0) >= PDQ_MIN_QUALITY:
        sent.append(f"pdq:{h.pdq}")
    opened = call(f"{url}/v1/cases", "POST", {"signals": sent})
    number, pin = opened["case"], opened["pin"]
    print(f"the person sent {len(sent)} hashes of {photo.name} (md5, sha256, pdq), no image: "
          f"case {number}, PIN {pin} (shown once)")  # fmt: skip
    status: dict[str, Any] = {}

    def listed() -> bool:
        status.update(call(f"{url}/v1/cases/{number}", "GET", pin=pin))
        return bool(status["status"] == "listed")

    wait_until(listed, 30, "the case's batch to be published", interval=0.5)
    took = fed.wait_all_at(partners, list_id, status["version"], timeout=60)
    print(f"case {number}: listed in version {status['version']}; every node applied it "
          f"{took * 1000:.0f} ms later")  # fmt: skip
    address = f"unix:{fed.workdir / f'{partners[0]}.sock'}"
    with MatcherClient(address, max_message_bytes=64 << 20) as node:
        before = node.check(content=edited_copy(synthetic_image(_SEED)), content_id="upload-9001")
        best = min((m.distance for m in before.matches if m.signal.startswith("pdq:")),
                   default=None)  # fmt: skip
        print(f"{partners[0]}: an edited copy uploaded: {len(before.matches)} match(es), "
              f"pdq distance {best}")  # fmt: skip
        withdrawn = call(f"{url}/v1/cases/{number}/withdraw", "POST", {}, pin=pin)
        version = withdrawn["withdrawn_version"]
        took = fed.wait_all_at(partners, list_id, version, timeout=60)
        print(f"case {number} withdrawn with its PIN: its hashes retracted in version {version}, "
              f"applied by every node {took * 1000:.0f} ms later")  # fmt: skip
        after = node.check(content=edited_copy(synthetic_image(_SEED)), content_id="upload-9002")
        print(f"{partners[0]}: the same copy again: {len(after.matches) or 'no'} match(es)")
    return best is not None and not after.matches
