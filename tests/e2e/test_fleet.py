"""A platform's fleet calls one node: mutual TLS on TCP, batches, the JSON API.

Real processes: the hub, a partner's ``hashlist node run`` serving its Matcher
on TCP with the platform's own CA (not the hub's), and ``hashlist node check``
run as an upload host would run it. Batch and REST answers must be what single
checks on the node's own socket answer.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import subprocess
import sys
from pathlib import Path

from hashlist.cli.demo import Federation, wait_until
from hashlist.hashing import hash_bytes
from hashlist.synthetic import edited_copy, jpeg_bytes, synthetic_image
from tests.support import platform_pki

LIST = "takeitdown"


def _hashlist(*argv: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hashlist.cli", *argv], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def _logged(log: Path, pattern: str) -> str:
    found: list[str] = []

    def seen() -> bool:
        found[:] = re.findall(pattern, log.read_text(errors="replace")) if log.exists() else []
        return bool(found)

    wait_until(seen, 60, f"{pattern!r} in {log.name}")
    return found[-1]


def test_a_fleet_checks_over_tls_in_batches_and_json_like_single_checks(
    federation: Federation, tmp_path: Path
) -> None:
    fed, p = federation, platform_pki(tmp_path / "platform")
    listed = [jpeg_bytes(synthetic_image(s)) for s in range(3)]
    with fed.operator() as op:
        op.grant(LIST, "facebook", new_partner=True)
        op.publish(LIST, [s for image in listed for s in hash_bytes(image).signals])
    fed.start_node("facebook", matcher_listen="127.0.0.1:0", http_listen="127.0.0.1:0",
                   matcher_tls_cert=str(p / "matcher.pem"), matcher_tls_key=str(p / "matcher.key"),
                   matcher_client_ca=str(p / "ca.pem"))  # fmt: skip
    fed.wait_all_at(("facebook",), LIST, 1, timeout=60)
    log = fed.workdir / "facebook.log"
    tcp = _logged(log, r"and (127\.0\.0\.1:\d+) \(mutual TLS\)")
    https = _logged(log, r"JSON API on (https://127\.0\.0\.1:\d+)")

    uploads = tmp_path / "uploads"
    uploads.mkdir()
    files = []
    for i, data in enumerate([edited_copy(synthetic_image(1)), jpeg_bytes(synthetic_image(50)),
                              listed[2], b"not an image"]):  # fmt: skip
        files.append(uploads / f"u{i}.jpg")
        files[-1].write_bytes(data)
    local = _hashlist("node", "check", "--config", str(fed.workdir / "facebook.toml"), "--json",
                      "--no-report", *map(str, files), cwd=fed.workdir)  # fmt: skip
    assert local.returncode == 0, local.stderr
    singles = [json.loads(line) for line in local.stdout.splitlines()]
    assert [len(s["matches"]) > 0 for s in singles] == [True, False, True, False]

    lines = [
        json.dumps({"file": str(f), "content_id": f"c{i}", "report": False})
        for i, f in enumerate(files)
    ] + ["{not json", json.dumps({"signals": ["md5:zz"]})]
    fleet = ("--matcher", tcp, "--cert", str(p / "upload.pem"), "--key", str(p / "upload.key"),
             "--ca", str(p / "ca.pem"))  # fmt: skip
    batch = _hashlist("node", "check", "--batch", "-", *fleet, cwd=tmp_path,
                      stdin="\n".join(lines) + "\n")  # fmt: skip
    assert batch.returncode == 1, batch.stderr  # two lines were refused, the rest answered
    answers = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [a["line"] for a in answers] == [1, 2, 3, 4, 5, 6]
    assert [a["matches"] for a in answers[:4]] == [s["matches"] for s in singles]
    assert [a["content_id"] for a in answers[:4]] == ["c0", "c1", "c2", "c3"]
    assert "not JSON" in answers[4]["error"]["message"]
    assert "not hexadecimal" in answers[5]["error"]["message"]
    assert "checked: 6/" in batch.stderr  # the progress line

    no_cert = _hashlist("node", "check", "--matcher", tcp, str(files[0]), cwd=tmp_path)
    assert no_cert.returncode == 3, no_cert.stderr  # the handshake refuses it: unreachable
    stranger = ("--matcher", tcp, "--cert", str(p / "stranger.pem"),
                "--key", str(p / "stranger.key"), "--ca", str(p / "ca.pem"))  # fmt: skip
    assert _hashlist("node", "check", *stranger, str(files[0]), cwd=tmp_path).returncode == 3

    context = ssl.create_default_context(cafile=p / "ca.pem")
    context.load_cert_chain(p / "upload.pem", p / "upload.key")
    host, port = https.removeprefix("https://").rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), timeout=30, context=context)
    items = [{"signals": s["signals"], "report": False} for s in singles]
    conn.request("POST", "/v1/check-batch", json.dumps({"items": items}),
                 {"Content-Type": "application/json"})  # fmt: skip
    response = conn.getresponse()
    assert response.status == 200
    body = json.loads(response.read())
    conn.close()
    assert [a["result"]["matches"] for a in body["answers"]] == [s["matches"] for s in singles]
