"""A local federation in real processes: what ``make demo`` runs, and what the
end-to-end tests and benchmarks are built from. Part of the composition root:
it starts every app.

``Federation`` lays out a scratch folder (keys, trust root, hub and node
configs), starts ``hashlist hub serve`` and ``hashlist node run`` as separate
processes on loopback with the development certificates, and stops every
process it started, whatever happens. Hashes are random (synthetic).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hashlist.cli.demo_intake import front_door_demo
from hashlist.cli.oversight import format_matches
from hashlist.client import ClientTLS, HubClient
from hashlist.devpki import write_dev_pki
from hashlist.errors import StorageError
from hashlist.hashing import hash_file
from hashlist.note import COSIGNATURE_V1, ED25519, Signer
from hashlist.serving import stop_on_signal
from hashlist.synthetic import edited_copy, jpeg_bytes, synthetic_image
from hashlist.trustroot import TrustRoot
from node.service import MatcherClient
from node.store import SqliteReplicaReader

HUB_NAME = "hub.example"
PARTNERS = ("facebook", "instagram", "yubo")


@dataclass
class Federation:
    workdir: Path
    # A development PKI made in ``workdir/pki`` at start (for tests and the demo
    # only), unless one is given: nothing here needs the source checkout.
    pki: Path | None = None
    recosign_seconds: float = 60.0
    witness: bool = False  # run a witness, and make every node require its cosignature
    metrics: bool = False  # serve /metrics, /livez, /readyz from every daemon (free ports)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    hub_port: int = 0
    witness_port: int = 0
    intake_port: int = 0
    certs: Path = field(init=False)

    def __post_init__(self) -> None:
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        (self.workdir / "keys").mkdir(parents=True)
        self.certs = self.pki or self.workdir / "pki"
        if self.pki is None:
            write_dev_pki(self.certs)
        log_key = Signer.generate(f"{HUB_NAME}/log", ED25519)
        ts_key = Signer.generate(f"{HUB_NAME}/timestamp", COSIGNATURE_V1)
        witness_key = Signer.generate("witness.example", COSIGNATURE_V1)
        self.witness_verifier = str(witness_key.verifier())
        keys = (("log", log_key), ("timestamp", ts_key), ("witness", witness_key))
        for name, key in keys:
            path = self.workdir / "keys" / f"{name}.key"
            path.write_text(f"{key}\n")
            path.chmod(0o600)
        max_age = max(600, int(self.recosign_seconds * 10))
        trust = TrustRoot(
            1,
            HUB_NAME,
            (log_key.verifier(),),
            ts_key.verifier(),
            witness_keys=(witness_key.verifier(),) if self.witness else (),
            witness_quorum=1 if self.witness else 0,
            max_checkpoint_age_seconds=max_age,
        )
        (self.workdir / "trust.toml").write_text(trust.to_toml())
        (self.workdir / "witness.toml").write_text(
            f'key = "keys/witness.key"\ndatabase = "witness.db"\nlogs = ["trust.toml"]\n'
            f'tls_cert = "{self.certs / "witness.pem"}"\ntls_key = "{self.certs / "witness.key"}"\n'
            f'listen = "127.0.0.1:0"\n'
        )
        (self.workdir / "hub.toml").write_text(
            f'name = "{HUB_NAME}"\nlisten = "127.0.0.1:0"\ndatabase = "hub.db"\n'
            f'log_key = "keys/log.key"\ntimestamp_key = "keys/timestamp.key"\n'
            f'tls_cert = "{self.certs / "hub.pem"}"\ntls_key = "{self.certs / "hub.key"}"\n'
            f'client_ca = "{self.certs / "ca.pem"}"\n'
            f"recosign_interval_seconds = {self.recosign_seconds}\n"
        )
        if self.metrics:
            for name in ("hub", "witness"):
                with (self.workdir / f"{name}.toml").open("a") as f:
                    f.write('metrics_listen = "127.0.0.1:0"\n')

    # --- processes ---

    def start_hub(self) -> int:
        if self.witness and not self.witness_port:
            self.witness_port = self._start("witness", "witness", [])
            with (self.workdir / "hub.toml").open("a") as f:
                f.write(f'witnesses = ["https://127.0.0.1:{self.witness_port}"]\n'
                        f'witness_keys = ["{self.witness_verifier}"]\n'
                        f'witness_ca = ["{self.certs / "ca.pem"}"]\n'
                        "witness_retry_seconds = 1.0\n")  # fmt: skip
        listen = ["--listen", f"127.0.0.1:{self.hub_port}"] if self.hub_port else []
        self.hub_port = self._start("hub", "hub", listen)
        return self.hub_port

    def start_intake(self, list_id: str = "takeitdown") -> str:
        """Start ``hashlist intake serve`` for ``list_id``; its base URL."""
        c = self.certs
        (self.workdir / "intake.toml").write_text(
            f'hub = "127.0.0.1:{self.hub_port}"\nhub_ca = "{c / "ca.pem"}"\n'
            f'cert = "{c / "intake.pem"}"\nkey = "{c / "intake.key"}"\n'
            f'list_id = "{list_id}"\nlisten = "127.0.0.1:0"\n'
        )
        self.intake_port = self._start("intake", "intake", [])
        return f"http://127.0.0.1:{self.intake_port}"

    def start_console(self) -> str:
        """Start ``hashlist console`` as the operator; its one-time login link."""
        c = self.certs
        (self.workdir / "console.toml").write_text(
            f'hub = "127.0.0.1:{self.hub_port}"\nhub_ca = "{c / "ca.pem"}"\n'
            f'cert = "{c / "operator.pem"}"\nkey = "{c / "operator.key"}"\n'
            'trust_root = "trust.toml"\nlisten = "127.0.0.1:0"\n'
        )
        self._start("console", "console", [])
        proc = self.procs["console"]
        assert proc.stdout is not None
        proc.stdout.readline()  # "open this link to sign in (it works once):"
        return proc.stdout.readline().decode().strip()

    def _start(self, name: str, command: str, extra: list[str]) -> int:
        """Start ``hashlist COMMAND serve`` (``hashlist console``) and return the port it
        says it bound."""
        log = (self.workdir / f"{name}.log").open("ab")
        verb = [] if command == "console" else ["serve"]
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "hashlist.cli", command, *verb,
             "--config", str(self.workdir / f"{name}.toml"), *extra],
            stdout=subprocess.PIPE, stderr=log, cwd=self.workdir,
        )  # fmt: skip
        self.procs[name] = proc
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if "listening on port" not in line:
            raise RuntimeError(f"{name} did not start: {line!r}; see {self.workdir}/{name}.log")
        return int(line.rsplit(" ", 1)[1])

    def node_config(
        self, partner: str, lists: tuple[str, ...], cert_as: str = "", **extra: object
    ) -> Path:
        """Config for a node named ``partner`` (using ``cert_as``'s certificate if given)."""
        path = self.workdir / f"{partner}.toml"
        cert = cert_as or partner
        extra.setdefault("database", f"{partner}.db")
        if self.metrics:
            extra.setdefault("metrics_listen", "127.0.0.1:0")
        lines = [
            f'name = "{partner}"',
            f'hub = "127.0.0.1:{self.hub_port}"',
            'trust_root = "trust.toml"',
            f"lists = [{', '.join(repr(x) for x in lists)}]".replace("'", '"'),
            f'tls_cert = "{self.certs / (cert + ".pem")}"',
            f'tls_key = "{self.certs / (cert + ".key")}"', f'ca = "{self.certs / "ca.pem"}"',
            "reconnect_cap_seconds = 2.0",
        ]  # fmt: skip
        lines += [f"{k} = {v!r}".replace("'", '"') for k, v in extra.items()]
        path.write_text("\n".join(lines) + "\n")
        return path

    def start_node(
        self,
        partner: str,
        lists: tuple[str, ...] = ("takeitdown",),
        cert_as: str = "",
        **extra: object,
    ) -> None:
        config = self.node_config(partner, lists, cert_as, **extra)
        log = (self.workdir / f"{partner}.log").open("ab")
        self.procs[partner] = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "hashlist.cli", "node", "run", "--config", str(config)],
            stdout=log, stderr=log, cwd=self.workdir,
        )  # fmt: skip

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()
        return proc.returncode

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):  # nodes first, then the hub, then the witness
            self.stop(name)

    def __enter__(self) -> Federation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def probes_url(self, name: str, timeout: float = 30.0) -> str:
        """Where ``name`` (hub, witness or a partner) serves its probes, from its log."""
        log = self.workdir / f"{name}.log"
        marker = "metrics and probes on "
        found: list[str] = []

        def logged() -> bool:
            text = log.read_text(errors="replace") if log.exists() else ""
            found[:] = [line.split(marker, 1)[1].split()[0]
                        for line in text.splitlines() if marker in line]  # fmt: skip
            return bool(found)

        wait_until(logged, timeout, f"{name} to serve its probes")
        return found[-1]

    # --- talking to it ---

    def operator(self) -> HubClient:
        tls = ClientTLS(
            self.certs / "ca.pem", self.certs / "operator.pem", self.certs / "operator.key"
        )
        return HubClient(f"127.0.0.1:{self.hub_port}", tls, timeout=30)

    def wait_all_at(
        self, partners: tuple[str, ...], list_id: str, version: int, timeout: float
    ) -> float:
        """Seconds until every partner's node has verified and applied ``version``."""
        return wait_until(
            lambda: all(self.node_state(p, list_id)[0] >= version for p in partners),
            timeout,
            f"{', '.join(partners)} to apply {list_id} version {version}",
        )

    def database(self, partner: str) -> Path:
        """Where ``partner``'s node keeps its replica (as its config says)."""
        config = tomllib.loads((self.workdir / f"{partner}.toml").read_text())
        return self.workdir / str(config["database"])

    def node_state(self, partner: str, list_id: str) -> tuple[int, str, int]:
        """(version, state digest hex, lag) read from the node's database, read-only."""
        try:
            replica = SqliteReplicaReader(self.database(partner))
        except StorageError:
            return 0, "", 0  # the node has not created its database yet
        try:
            r = replica.record(list_id)
        except StorageError:
            return 0, "", 0  # ... or not its tables yet
        finally:
            replica.close()
        return r.state.size, r.state.state_digest.hex(), max(0, r.seen_size - r.state.size)

    def node_hashes(self, partner: str, list_id: str) -> int:
        replica = SqliteReplicaReader(self.database(partner))
        try:
            return replica.count(list_id)
        finally:
            replica.close()


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - start


def random_signals(n: int, kind: str = "pdq") -> list[str]:
    size = {"pdq": 32, "phash": 8, "md5": 16, "sha256": 32}[kind]
    return [f"{kind}:{os.urandom(size).hex()}" for _ in range(n)]


def run_federation(*, hashes: int, workdir: Path, serve: bool = False) -> int:
    list_id = "takeitdown"
    with Federation(workdir.resolve(), witness=True) as fed:
        port = fed.start_hub()
        print(f"hub {HUB_NAME} on 127.0.0.1:{port} (mTLS, dev certificates in {fed.certs})")
        print(f"witness on https://127.0.0.1:{fed.witness_port}: every node's trust root "
              "requires its cosignature (quorum 1)")  # fmt: skip
        with fed.operator() as op:
            op.create_list(list_id)
            for partner in PARTNERS:
                op.grant(list_id, partner, new_partner=True)
            for partner in PARTNERS:
                fed.start_node(partner)
            print(f"nodes {', '.join(PARTNERS)} started, following {list_id}")
            signals = random_signals(hashes)
            steps = [
                (signals, [], f"published {hashes:,} hashes"),
                ([], signals[:1], "retracted 1 hash"),
            ]
            for adds, removes, what in steps:
                result = op.publish(list_id, adds, removes)
                took = fed.wait_all_at(PARTNERS, list_id, result.version, timeout=60)
                print(f"{what} as {result.versions}: every node verified and applied it "
                      f"{took * 1000:.0f} ms after the hub answered")  # fmt: skip
            hub = op.status()[0]
            hub_digest = hub.state_digest.hex()
        print()
        print(f"{'node':<10} {'list':<11} {'version':>7} {'hashes':>7}  {'state digest':<64}  lag")
        ok = True
        for partner in PARTNERS:
            version, digest, lag = fed.node_state(partner, list_id)
            count = fed.node_hashes(partner, list_id)
            print(f"{partner:<10} {list_id:<11} {version:>7} {count:>7}  {digest}  {lag:>3}")
            ok &= digest == hub_digest and count == hashes - 1
        print(f"{'hub':<10} {list_id:<11} {hub.size:>7} {hub.hashes:>7}  {hub_digest}")
        print("\nevery replica matches the hub's signed state digest" if ok else "\nMISMATCH")
        with fed.operator() as op:
            ok &= _matching_demo(fed, op, list_id)
            ok &= front_door_demo(fed, op, list_id, PARTNERS)
        page = f"http://127.0.0.1:{fed.intake_port}/"
        if serve:
            login = fed.start_console()
            print(f"\nthe federation keeps running: open {page} in a browser on this machine "
                  "to hash a file and open a case;\nthe operator's console: open "
                  f"{login} (it works once); Ctrl-C stops everything")  # fmt: skip
            stop_on_signal().wait()
        else:
            print(
                "\nto try the hashing page and the operator's console in a browser: hashlist "
                "demo --serve (it keeps the federation running and prints their addresses)"
            )
    print("all processes stopped")
    return 0 if ok else 1


def _matching_demo(fed: Federation, op: HubClient, list_id: str) -> bool:
    """Hash on the 'device', publish, match an edited copy at one node, report back."""
    device = fed.workdir / "device"
    device.mkdir()
    print("\n--- hashing on the device (nothing leaves it but hashes) ---")
    hashed = []
    for seed in range(3):
        path = device / f"image-{seed}.jpg"
        path.write_bytes(jpeg_bytes(synthetic_image(seed)))
        h = hash_file(path)
        hashed.append(h)
        print(f"{path.name}: pdq {h.pdq} (quality {h.pdq_quality}), phash {h.phash}")
    result = op.publish(list_id, [s for h in hashed for s in h.signals])
    fed.wait_all_at(PARTNERS, list_id, result.version, timeout=60)
    print(f"published their {sum(len(h.signals) for h in hashed)} signals as {result.versions}")

    partner = PARTNERS[0]
    print(f"\n--- {partner}'s upload pipeline asks its node (local Matcher service) ---")
    address = f"unix:{fed.workdir / f'{partner}.sock'}"
    with MatcherClient(address, max_message_bytes=64 << 20) as node:
        edited = node.check(content=edited_copy(synthetic_image(1)), content_id="upload-7781")
        unrelated = node.check(content=jpeg_bytes(synthetic_image(1000)), content_id="upload-7782")
        for label, answer in (("edited copy of image-1 (60 %, JPEG q70)", edited),
                              ("unrelated image", unrelated)):  # fmt: skip
            print(f"{label}: {len(answer.matches) or 'no'} match(es)")
            for m in answer.matches:
                print(f"  {m.signal[:30]}...  distance {m.distance}  listed in version "
                      f"{m.version}  report {m.report_id}")  # fmt: skip
        pdq = [m for m in edited.matches if m.signal.startswith("pdq:")]
        for m in edited.matches:
            node.verdict(m.report_id, "removed")
        print(f"{partner} removed the upload: verdict 'removed' recorded on "
              f"{len(edited.matches)} report(s)")  # fmt: skip
    expected = len(edited.matches)
    wait_until(
        lambda: sum(h.removed for h in op.matches(list_id)) >= expected, 30,
        "the reports and verdicts to reach the hub",
    )  # fmt: skip
    print("\n--- the hub's view (hashlist hub matches --list takeitdown) ---")
    print(format_matches(list_id, op.matches(list_id)))
    return bool(pdq) and 0 < pdq[0].distance <= 31 and not unrelated.matches
