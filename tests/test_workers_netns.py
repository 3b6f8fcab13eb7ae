"""Workers on separate network hosts: each in its own network namespace with its own
address, reaching PostgreSQL and the feed server over a bridge, as separate machines
would. Needs root and iproute2; skipped with the reason where the machine refuses.

PostgreSQL here listens on 127.0.0.1 only, so the test forwards the bridge address's
port 5432 to it; the server sees loopback (trust auth) while each worker connects
from its own address, which the forwarder records.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import make_url

from testkit.articles import synthetic_articles
from testkit.cluster import Cluster, count, write_cluster_config
from testkit.db import query
from testkit.sites import build_site
from testkit.webserver import LocalWeb

pytestmark = [pytest.mark.postgres, pytest.mark.postgres_pass]  # workers need PostgreSQL

SUBNET = "10.231.{n}"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    probe = f"mprobe{uuid.uuid4().hex[:6]}"
    try:
        _ip("netns", "add", probe)
        _ip("netns", "del", probe)
    except subprocess.CalledProcessError as exc:
        return f"`ip netns add` refused here: {exc.stderr.strip()}"
    return None


class Hosts:
    """A bridge with an address on this host and one namespace per worker host on it."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:5]
        self.bridge = f"mbr{tag}"
        self.subnet = SUBNET.format(n=int(tag, 16) % 200 + 20)
        self.gateway = f"{self.subnet}.1"
        self.namespaces: list[str] = []
        self.addresses: list[str] = []
        self._tag = tag
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def add_host(self) -> str:
        index = len(self.namespaces) + 2
        name, outside, inside = (f"m{self._tag}h{index}", f"mv{self._tag}{index}", "eth0")
        address = f"{self.subnet}.{index}"
        _ip("netns", "add", name)
        self.namespaces.append(name)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside, "netns", name)
        _ip("link", "set", outside, "master", self.bridge)
        _ip("link", "set", outside, "up")
        inns = ("netns", "exec", name, "ip")
        _ip(*inns, "addr", "add", f"{address}/24", "dev", inside)
        _ip(*inns, "link", "set", inside, "up")
        _ip(*inns, "link", "set", "lo", "up")
        self.addresses.append(address)
        return name

    def close(self) -> None:
        for name in self.namespaces:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


class Forwarder:
    """TCP from ``listen`` to ``target``, recording the peers that connected."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        self.peers: set[str] = set()
        self.server = socket.create_server(listen)
        self.address = self.server.getsockname()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, peer = self.server.accept()
            except OSError:
                return
            self.peers.add(peer[0])
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    reason = _netns_unavailable()
    if reason:
        pytest.skip(reason)
    made = Hosts()
    try:
        yield made
    finally:
        made.close()


def test_workers_on_separate_network_hosts(hosts: Hosts, postgres_url: str, tmp_path: Path) -> None:
    pg = make_url(postgres_url)
    forwarder = Forwarder((hosts.gateway, 0), (pg.host or "127.0.0.1", pg.port or 5432))
    remote_url = pg.set(host=hosts.gateway, port=forwarder.address[1]).render_as_string(
        hide_password=False
    )
    web = LocalWeb(host=hosts.gateway)
    try:
        site = build_site(web, synthetic_articles(240, seed=5), feeds=24)
        config = write_cluster_config(tmp_path / "config", remote_url, site.feed_urls)
        cluster = Cluster(config, tmp_path)
        try:
            cluster.scheduler()
            for n in range(2):
                namespace = hosts.add_host()
                cluster.worker(f"worker-{n}", prefix=("ip", "netns", "exec", namespace))
            cluster.wait_for(
                lambda: count(postgres_url, "SELECT count(*) FROM articles") == 240,
                timeout=240,
                what="240 articles",
            )
        finally:
            codes = cluster.stop()
        clients = {r.client for r in web.requests}
    finally:
        web.close()
        forwarder.close()
    assert codes == dict.fromkeys(codes, 0), codes
    stored = [row[0] for row in query(postgres_url, "SELECT url FROM articles")]
    assert len(stored) == len(set(stored)) == 240
    assert {urlsplit(u).hostname for u in stored} == {hosts.gateway}
    # Both worker hosts fetched pages and talked to the database from their own address.
    assert set(hosts.addresses) <= clients, clients
    assert set(hosts.addresses) <= forwarder.peers, forwarder.peers
