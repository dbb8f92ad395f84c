"""The asyncio TDS server: one listener per simulated instance, many instances per process."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import re
import resource
import socket
import ssl
import struct
import time
from typing import Any

from . import ntlm, tds
from .engine import (
    Context,
    Done,
    EnvChange,
    Info,
    Output,
    Registry,
    ResultSet,
    RowCount,
    Session,
    SqlError,
)
from .engine import (
    registry as default_registry,
)
from .instance import InstanceConfig, InstanceState
from .tls import server_context

RECEIVED_KEEP = 5000  # statements kept per instance
RECEIVED_TEXT = 64 * 1024

log = logging.getLogger("sqlsim")

DEFAULT_PACKET_SIZE = 4096


class ConnectionClosed(Exception):
    pass


class Channel:
    """Byte stream to one client; transparently TLS-wrapped once the handshake is done."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.tls: ssl.SSLObject | None = None
        self.incoming: ssl.MemoryBIO | None = None
        self.outgoing: ssl.MemoryBIO | None = None
        self.packet_size = DEFAULT_PACKET_SIZE

    async def _fill(self) -> None:
        data = await self.reader.read(65536)
        if not data:
            raise ConnectionClosed()
        if self.tls is None:
            self.buf += data
            return
        assert self.incoming is not None
        self.incoming.write(data)
        while True:
            try:
                chunk = self.tls.read(65536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError as exc:
                raise ConnectionClosed() from exc
            if not chunk:
                break
            self.buf += chunk
        self._flush_tls()

    async def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            await self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def read_packet(self) -> tuple[int, int, bytes]:
        header = await self.read_exact(8)
        ptype, status, length, _, _, _ = tds.HEADER.unpack(header)
        if length < 8:
            raise tds.ProtocolError("bad packet length")
        return ptype, status, await self.read_exact(length - 8)

    async def read_message(self) -> tuple[int, int, bytes]:
        ptype, status, payload = await self.read_packet()
        first_status = status
        parts = [payload]
        while not status & tds.STATUS_EOM:
            _, status, payload = await self.read_packet()
            parts.append(payload)
        return ptype, first_status, b"".join(parts)

    def write(self, data: bytes) -> None:
        if self.tls is None:
            self.writer.write(data)
            return
        self.tls.write(data)
        self._flush_tls()

    def _flush_tls(self) -> None:
        if self.outgoing is not None and self.outgoing.pending:
            self.writer.write(self.outgoing.read())

    async def send(self, ptype: int, payload: bytes) -> None:
        self.write(tds.packetize(ptype, payload, self.packet_size))
        await self.writer.drain()

    # -- TLS inside PRELOGIN -------------------------------------------------------------------
    async def tls_handshake(self, ctx: ssl.SSLContext) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        sslobj = ctx.wrap_bio(incoming, outgoing, server_side=True)
        while True:
            ptype, _, payload = await self.read_packet()
            if ptype != tds.PKT_PRELOGIN:
                raise tds.ProtocolError(f"expected TLS in PRELOGIN, got packet type {ptype}")
            incoming.write(payload)
            try:
                sslobj.do_handshake()
                finished = True
            except ssl.SSLWantReadError:
                finished = False
            out = outgoing.read()
            if out:
                self.writer.write(tds.packetize(tds.PKT_PRELOGIN, out, self.packet_size))
                await self.writer.drain()
            if finished:
                break
        # bytes already buffered after the last handshake packet are TLS records
        leftover = bytes(self.buf)
        self.buf.clear()
        self.tls, self.incoming, self.outgoing = sslobj, incoming, outgoing
        if leftover:
            incoming.write(leftover)
            while True:
                try:
                    chunk = sslobj.read(65536)
                except ssl.SSLWantReadError:
                    break
                if not chunk:
                    break
                self.buf += chunk

    def drop_tls(self) -> None:
        """Login-only encryption: after LOGIN7 the connection continues in clear text."""
        self.tls = self.incoming = self.outgoing = None


class Instance:
    """A running simulated instance: config + drifting state + listener + steering."""

    def __init__(self, config: InstanceConfig, registry: Registry | None = None) -> None:
        self.config = config
        self.state = InstanceState(config)
        self.state.steering.hang = config.hang
        self.baseline_vss = {lg.name: lg.view_server_state for lg in config.logins}
        self.baseline_windows_vss = config.windows_view_server_state
        self.registry = registry or default_registry
        self.catalog: dict[str, Any] = {}  # deployed objects (later issues)
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()
        self._spids = itertools.count(51)
        self._tran_ids = itertools.count(1)
        self.stats = {
            "connections": 0,
            "logins_ok": 0,
            "logins_failed": 0,
            "requests": 0,
            "attentions": 0,
            "tls_login_only": 0,
            "tls_full": 0,
        }
        # What clients sent, newest last, so tests can check the T-SQL a feature really sends.
        self.received: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECEIVED_KEEP)
        self._received_seq = itertools.count(1)

    def record(self, kind: str, sql: str, session: Any) -> None:
        """Keep one received SQL batch or RPC (text cut at RECEIVED_TEXT characters)."""
        self.received.append(
            {
                "seq": next(self._received_seq),
                "at": time.time(),
                "kind": kind,
                "spid": session.spid if session else None,
                "login": session.login if session else "",
                "database": session.database if session else "",
                "app_name": session.app_name if session else "",
                "sql": sql[:RECEIVED_TEXT],
            }
        )

    def statements(self, since: int = 0) -> list[dict[str, Any]]:
        return [r for r in self.received if r["seq"] > since]

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def port(self) -> int:
        return self.config.port

    @property
    def steering(self) -> Any:
        return self.state.steering

    @property
    def running(self) -> bool:
        return self._server is not None

    def object_id(self, name: str) -> int | None:
        key = name.lower().replace("[", "").replace("]", "")
        obj = self.catalog.get(key)
        return obj.get("object_id") if isinstance(obj, dict) else None

    async def bind(self, host: str = "127.0.0.1") -> None:
        """Reserve the port (port 0 = pick a free one) without listening: the 'down' state."""
        if self.config.port == 0:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                self.config.port = sock.getsockname()[1]

    async def start(self, host: str = "127.0.0.1") -> None:
        if self._server is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, self.config.port))
        except OSError:
            sock.close()
            raise
        if self.config.port == 0:
            self.config.port = sock.getsockname()[1]
        sock.listen(128)
        sock.setblocking(False)
        self._server = await asyncio.start_server(self._handle, sock=sock, limit=2**20)

    async def stop(self) -> None:
        """Close the listener and drop every open connection (the instance is 'down')."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._conns):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._conns.clear()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.stats["connections"] += 1
        conn = Connection(self, Channel(reader, writer))
        try:
            await conn.run()
        except (ConnectionClosed, ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except tds.ProtocolError as exc:
            log.info("%s: protocol error: %s", self.name, exc)
        except asyncio.CancelledError:
            pass
        except Exception:  # pragma: no cover - a bug in sqlsim; keep serving others
            log.exception("%s: connection handler crashed", self.name)
        finally:
            self._conns.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()


_PARAM_DECL = re.compile(r"(@\w+)\s+([\w]+(?:\s*\([^)]*\))?)(\s+output|\s+out)?", re.I)


class Connection:
    def __init__(self, instance: Instance, channel: Channel) -> None:
        self.instance = instance
        self.ch = channel
        self.session: Session | None = None
        self.tran_desc = b"\x00" * 8

    @property
    def cfg(self) -> InstanceConfig:
        return self.instance.config

    async def _steer_delay(self, step: str) -> None:
        """Wait as steered before answering ``step`` ("prelogin", "login" or "query")."""
        steering = self.instance.steering
        while steering.hang:
            await asyncio.sleep(0.1)
        delay = steering.delay + steering.step_delays.get(step, 0.0)
        if delay > 0:
            await asyncio.sleep(delay)

    async def run(self) -> None:
        if self.instance.steering.hang:
            while await self.ch.reader.read(65536):
                pass
            return
        encrypt_mode = await self.prelogin()
        if encrypt_mode is None:
            return
        login_only = encrypt_mode == "login"
        if encrypt_mode in ("login", "full"):
            await self.ch.tls_handshake(server_context())
            self.instance.stats["tls_login_only" if login_only else "tls_full"] += 1
        ptype, _, payload = await self.ch.read_message()
        if ptype != tds.PKT_LOGIN7:
            raise tds.ProtocolError(f"expected LOGIN7, got packet type {ptype}")
        if login_only:
            self.ch.drop_tls()
        login = tds.parse_login7(payload)
        if not await self.authenticate(login):
            return
        await self.serve_requests()

    # -- PRELOGIN ------------------------------------------------------------------------------
    async def prelogin(self) -> str | None:
        ptype, _, payload = await self.ch.read_message()
        if ptype != tds.PKT_PRELOGIN:
            raise tds.ProtocolError(f"expected PRELOGIN, got packet type {ptype}")
        opts = tds.parse_prelogin(payload)
        client_enc = opts.get(tds.PL_ENCRYPTION, bytes([tds.ENCRYPT_OFF]))[0]
        inst = opts.get(tds.PL_INSTOPT, b"").split(b"\x00")[0].decode("latin-1")
        inst_ok = inst.upper() in ("", "MSSQLSERVER", self.cfg.instance_name.upper())
        cfg = self.cfg
        close_after = False
        if not cfg.tls:
            server_enc, mode = tds.ENCRYPT_NOT_SUP, "none"
            if client_enc in (tds.ENCRYPT_ON, tds.ENCRYPT_REQ):
                close_after = True  # the client cannot get what it requires
        elif cfg.require_encryption:
            server_enc, mode = tds.ENCRYPT_REQ, "full"
            if client_enc == tds.ENCRYPT_NOT_SUP:
                close_after = True  # SQL Server ends the connection (MS-TDS 2.2.6.5)
        elif client_enc == tds.ENCRYPT_NOT_SUP:
            server_enc, mode = tds.ENCRYPT_NOT_SUP, "none"
        elif client_enc == tds.ENCRYPT_OFF:
            server_enc, mode = tds.ENCRYPT_OFF, "login"
        else:
            server_enc, mode = tds.ENCRYPT_ON, "full"
        major, minor, build = cfg.version_info.prog_version
        response = tds.build_prelogin(
            [
                (tds.PL_VERSION, bytes([major, minor]) + struct.pack(">HH", build, 0)),
                (tds.PL_ENCRYPTION, bytes([server_enc])),
                (tds.PL_INSTOPT, b"\x00" if inst_ok else b"\x01"),
                (tds.PL_THREADID, b""),
                (tds.PL_MARS, b"\x00"),
            ]
        )
        await self._steer_delay("prelogin")
        await self.ch.send(tds.PKT_REPLY, response)
        if close_after or not inst_ok:
            await asyncio.sleep(0.05)
            return None
        return mode

    # -- LOGIN7 / SSPI -------------------------------------------------------------------------
    async def authenticate(self, login: tds.Login7) -> bool:
        cfg = self.cfg
        steering = self.instance.steering
        if 512 <= login.packet_size <= 32767:
            packet_size = login.packet_size
        else:
            packet_size = DEFAULT_PACKET_SIZE
        if login.integrated_security:
            if not cfg.windows_logins:
                await self._steer_delay("login")
                await self.login_failed(
                    18452,
                    "Login failed. The login is from an untrusted domain and cannot be used "
                    "with Integrated authentication.",
                )
                return False
            user, verified = await self.ntlm_exchange(login)
            if not verified or steering.refuse_logins:
                await self.login_failed(18456, f"Login failed for user '{user}'.")
                return False
            session = Session(
                spid=next(self.instance._spids),
                login=user,
                windows=True,
                view_server_state=cfg.windows_view_server_state,
            )
        else:
            entry = cfg.login(login.username)
            if (
                entry is None
                or entry.password != login.password
                or not entry.enabled
                or steering.refuse_logins
            ):
                await self._steer_delay("login")
                await self.login_failed(18456, f"Login failed for user '{login.username}'.")
                return False
            session = Session(
                spid=next(self.instance._spids),
                login=entry.name,
                windows=False,
                view_server_state=entry.view_server_state,
            )
        session.app_name = login.appname
        session.host_name = login.hostname
        database = login.database or "master"
        known = {d.lower(): d for d in cfg.databases}
        if database.lower() not in known:
            await self._steer_delay("login")
            await self.login_failed(
                4060,
                f'Cannot open database "{database}" requested by the login. The login failed.',
                klass=11,
                then_18456=session.login,
            )
            return False
        session.database = known[database.lower()]
        self.session = session
        await self._steer_delay("login")
        out = bytearray()
        out += tds.envchange(tds.ENV_DATABASE, session.database, "master")
        out += tds.message(
            tds.TOKEN_INFO,
            5701,
            2,
            0,
            f"Changed database context to '{session.database}'.",
            cfg.name,
        )
        out += tds.envchange(tds.ENV_COLLATION, tds.DEFAULT_COLLATION, b"")
        out += tds.envchange(tds.ENV_LANGUAGE, "us_english", "")
        out += tds.message(
            tds.TOKEN_INFO, 5703, 1, 0, "Changed language setting to us_english.", cfg.name
        )
        out += tds.loginack(cfg.version_info.prog_version)
        if login.feature_ext:
            out += bytes([tds.TOKEN_FEATUREEXTACK, 0xFF])
        out += tds.envchange(tds.ENV_PACKETSIZE, str(packet_size), str(DEFAULT_PACKET_SIZE))
        out += tds.done(tds.TOKEN_DONE, tds.DONE_FINAL, 0, 0)
        await self.ch.send(tds.PKT_REPLY, bytes(out))
        self.ch.packet_size = packet_size
        self.instance.stats["logins_ok"] += 1
        return True

    async def ntlm_exchange(self, login: tds.Login7) -> tuple[str, bool]:
        """Run NEGOTIATE/CHALLENGE/AUTHENTICATE; returns (DOMAIN\\user, verified)."""
        cfg = self.cfg
        if not ntlm.is_negotiate(login.sspi):
            return "", False
        challenge = ntlm.make_challenge(cfg.domain, cfg.name, cfg.dns_domain)
        await self._steer_delay("login")
        await self.ch.send(tds.PKT_REPLY, tds.sspi_token(challenge.message))
        ptype, _, payload = await self.ch.read_message()
        if ptype != tds.PKT_SSPI:
            raise tds.ProtocolError(f"expected SSPI packet, got type {ptype}")
        try:
            auth = ntlm.parse_authenticate(payload)
        except (ValueError, struct.error):
            return "", False
        user = f"{auth.domain}\\{auth.user}"
        users = {k.lower(): (k, v) for k, v in cfg.domain_users.items()}
        known = users.get(user.lower())
        if known is None or not ntlm.verify_v2(auth, challenge.server_challenge, known[1]):
            return user, False
        return known[0], True

    async def login_failed(
        self, number: int, text: str, klass: int = 14, then_18456: str | None = None
    ) -> None:
        out = tds.message(tds.TOKEN_ERROR, number, 1, klass, text, self.cfg.name)
        if then_18456 is not None:
            out += tds.message(
                tds.TOKEN_ERROR,
                18456,
                1,
                14,
                f"Login failed for user '{then_18456}'.",
                self.cfg.name,
            )
        out += tds.done(tds.TOKEN_DONE, tds.DONE_ERROR, 0, 0)
        await self.ch.send(tds.PKT_REPLY, out)
        self.instance.stats["logins_failed"] += 1

    # -- requests ------------------------------------------------------------------------------
    async def serve_requests(self) -> None:
        pending_read: asyncio.Task | None = None
        queued: tuple[int, int, bytes] | None = None
        try:
            while True:
                if queued is not None:
                    msg, queued = queued, None
                else:
                    if pending_read is None:
                        pending_read = asyncio.ensure_future(self.ch.read_message())
                    msg = await pending_read
                    pending_read = None
                ptype, status, payload = msg
                if ptype == tds.PKT_ATTENTION:
                    self.instance.stats["attentions"] += 1
                    await self.ch.send(tds.PKT_REPLY, tds.done(tds.TOKEN_DONE, tds.DONE_ATTN, 0))
                    continue
                task = asyncio.ensure_future(self.execute(ptype, status, payload))
                pending_read = asyncio.ensure_future(self.ch.read_message())
                done, _ = await asyncio.wait(
                    {task, pending_read}, return_when=asyncio.FIRST_COMPLETED
                )
                if pending_read in done:
                    nxt = pending_read.result()  # may raise ConnectionClosed
                    pending_read = None
                    if nxt[0] == tds.PKT_ATTENTION:
                        self.instance.stats["attentions"] += 1
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await task
                        await self.ch.send(
                            tds.PKT_REPLY, tds.done(tds.TOKEN_DONE, tds.DONE_ATTN, 0)
                        )
                        continue
                    await task  # client pipelined a request; answer in order
                    queued = nxt
                else:
                    task.result()
        finally:
            if pending_read is not None:
                pending_read.cancel()

    async def execute(self, ptype: int, status: int, payload: bytes) -> None:
        self.instance.stats["requests"] += 1
        await self._steer_delay("query")
        if ptype == tds.PKT_SQL_BATCH:
            body = await self.run_batch(tds.parse_sql_batch(payload))
        elif ptype == tds.PKT_RPC:
            body = await self.run_rpc(tds.parse_rpc(payload))
        elif ptype == tds.PKT_TRANSACTION_MANAGER:
            body = self.transaction_manager(payload)
        else:
            raise tds.ProtocolError(f"unexpected packet type {ptype}")
        if status & (tds.STATUS_RESET_CONNECTION | tds.STATUS_RESET_CONNECTION_SKIP_TRAN):
            body = tds.envchange(tds.ENV_RESET_ACK, b"", b"") + body
        await self.ch.send(tds.PKT_REPLY, body)

    def _context(self, sql: str, params: dict[str, Any] | None = None) -> Context:
        assert self.session is not None
        return Context(self.instance, self.session, sql, params or {})

    async def run_batch(self, sql: str) -> bytes:
        self.instance.record("batch", sql, self.session)
        ctx = self._context(sql)
        try:
            outputs = await self.instance.registry.run_batch(ctx)
        except SqlError as err:
            partial = getattr(err, "partial", [])
            return self.encode_outputs(partial, tds.TOKEN_DONE, final=False) + self.encode_error(
                err, tds.TOKEN_DONE
            )
        return self.encode_outputs(outputs, tds.TOKEN_DONE, final=True)

    def encode_error(self, err: SqlError, done_token: int, final: bool = True) -> bytes:
        out = bytearray()
        for e in err.all():
            out += tds.message(
                tds.TOKEN_ERROR, e.number, e.state, e.klass, e.message, self.cfg.name
            )
        status = tds.DONE_ERROR | (0 if final else tds.DONE_MORE)
        out += tds.done(done_token, status, 0xC1, 0)
        return bytes(out)

    def encode_outputs(self, outputs: list[Output], done_token: int, final: bool) -> bytes:
        if not outputs and not final:
            return b""
        segments: list[bytes] = []
        dones: list[tuple[int, int, int]] = []  # (status, curcmd, count) per segment
        pre = bytearray()
        for item in outputs:
            if isinstance(item, Info):
                pre += tds.message(
                    tds.TOKEN_INFO, item.number, item.state, item.klass, item.message, self.cfg.name
                )
            elif isinstance(item, EnvChange):
                pre += tds.envchange(item.kind, item.new, item.old)
            elif isinstance(item, ResultSet):
                pre += tds.colmetadata(item.columns)
                for values in item.rows:
                    pre += tds.row(item.columns, values)
                segments.append(bytes(pre))
                pre = bytearray()
                dones.append((tds.DONE_COUNT, 0xC1, len(item.rows)))
            elif isinstance(item, RowCount):
                segments.append(bytes(pre))
                pre = bytearray()
                dones.append((tds.DONE_COUNT, item.curcmd, item.count))
            elif isinstance(item, Done):
                # SQL Server sends no DONE for SET/USE/... inside a batch; ODBC would otherwise
                # see an empty "result" before the first SELECT.
                continue
        if pre or not segments:
            segments.append(bytes(pre))
            last_cmd = outputs[-1].curcmd if outputs and isinstance(outputs[-1], Done) else 0
            dones.append((0, last_cmd, 0))
        out = bytearray()
        inxact = tds.DONE_INXACT if self.session and self.session.trancount else 0
        for i, (seg, (status, curcmd, count)) in enumerate(zip(segments, dones, strict=True)):
            last = i == len(segments) - 1
            more = 0 if (last and final) else tds.DONE_MORE
            out += seg + tds.done(done_token, status | more | inxact, curcmd, count)
        return bytes(out)

    async def run_rpc(self, calls: list[tds.RpcCall]) -> bytes:
        out = bytearray()
        for n, call in enumerate(calls):
            last = n == len(calls) - 1
            out += await self.run_one_rpc(call, last)
        return bytes(out)

    async def run_one_rpc(self, call: tds.RpcCall, last: bool) -> bytes:
        assert self.session is not None
        session = self.session
        name = call.proc_name.lower()
        values = [p.value for p in call.params]
        returnvalues: list[bytes] = []
        done_more = 0 if last else tds.DONE_MORE
        try:
            if name in ("sp_executesql", "sp_prepexec", "sp_prepare", "sp_execute"):
                if name == "sp_execute":
                    handle = values[0]
                    if handle not in session.prepared:
                        raise SqlError(
                            8179, f"Could not find prepared statement with handle {handle}.", 4
                        )
                    stmt, names = session.prepared[handle]
                    args = values[1:]
                else:
                    off = 1 if name in ("sp_prepexec", "sp_prepare") else 0
                    if name == "sp_executesql":
                        stmt, decl = values[0], values[1] if len(values) > 1 else ""
                        args = values[2:]
                    else:
                        decl, stmt = values[off], values[off + 1]
                        args = values[off + 2 :]
                    names = [m.group(1).lower() for m in _PARAM_DECL.finditer(decl or "")]
                    if name in ("sp_prepexec", "sp_prepare"):
                        handle = session.next_handle
                        session.next_handle += 1
                        session.prepared[handle] = (stmt, names)
                        returnvalues.append(
                            tds.returnvalue(0, call.params[0].name, tds.SqlType("int"), handle)
                        )
                params = dict(zip(names, args, strict=False))
                for p in call.params:  # named parameters (sp_executesql with @name=value)
                    if p.name and p.name.lower() in names:
                        params[p.name.lower()] = p.value
                if name == "sp_prepare":
                    outputs: list[Output] = []
                else:
                    self.instance.record("rpc", str(stmt), session)
                    outputs = await self.instance.registry.run_batch(
                        self._context(str(stmt), params)
                    )
            elif name == "sp_unprepare":
                session.prepared.pop(values[0] if values else None, None)
                outputs = []
            else:
                self.instance.record("rpc", f"EXEC {call.proc_name}", session)
                outputs = await self.instance.registry.run_procedure(
                    self._context(f"EXEC {call.proc_name}"), call.proc_name, values
                )
        except SqlError as err:
            partial = getattr(err, "partial", [])
            out = bytearray(self.encode_outputs(partial, tds.TOKEN_DONEINPROC, final=False))
            for e in err.all():
                out += tds.message(
                    tds.TOKEN_ERROR, e.number, e.state, e.klass, e.message, self.cfg.name
                )
            out += tds.returnstatus(-6) if err.klass >= 16 else b""
            out += tds.done(tds.TOKEN_DONEPROC, tds.DONE_ERROR | done_more, 0xE0, 0)
            return bytes(out)
        out = bytearray()
        if outputs:
            out += self.encode_outputs(outputs, tds.TOKEN_DONEINPROC, final=False)
        out += tds.returnstatus(0)
        for rv in returnvalues:
            out += rv
        out += tds.done(tds.TOKEN_DONEPROC, done_more, 0xE0, 0)
        return bytes(out)

    def transaction_manager(self, payload: bytes) -> bytes:
        assert self.session is not None
        off, _ = tds.skip_all_headers(payload)
        (request,) = struct.unpack_from("<H", payload, off)
        out = bytearray()
        if request == 0:  # TM_GET_DTC_ADDRESS
            return tds.done(tds.TOKEN_DONE, tds.DONE_FINAL, 0, 0)
        if request == 5:  # TM_BEGIN_XACT
            out += self._begin_tran()
        elif request in (7, 8):  # TM_COMMIT_XACT / TM_ROLLBACK_XACT
            pos = off + 2
            name_len = payload[pos] if pos < len(payload) else 0
            pos += 1 + 2 * name_len
            flags = payload[pos] if pos < len(payload) else 0
            kind = tds.ENV_COMMIT_TRAN if request == 7 else tds.ENV_ROLLBACK_TRAN
            if self.session.trancount:
                out += tds.envchange(kind, b"", self.tran_desc)
                self.session.trancount = 0
            if flags & 0x01:  # fBeginXact: start a new transaction straight away
                out += self._begin_tran()
        elif request == 9:  # TM_SAVE_XACT
            pass
        else:
            err = SqlError(3910, "Transaction context in use by another session.", 1)
            return self.encode_error(err, tds.TOKEN_DONE)
        inxact = tds.DONE_INXACT if self.session.trancount else 0
        out += tds.done(tds.TOKEN_DONE, tds.DONE_FINAL | inxact, 0, 0)
        return bytes(out)

    def _begin_tran(self) -> bytes:
        assert self.session is not None
        self.tran_desc = struct.pack(
            "<Q", next(self.instance._tran_ids) + (self.session.spid << 32)
        )
        self.session.trancount = 1
        return tds.envchange(tds.ENV_BEGIN_TRAN, self.tran_desc, b"")


def raise_nofile_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE (soft) toward ``wanted``; returns the resulting soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def monotonic_ms() -> float:
    return time.monotonic() * 1000
