"""A turn's vendor process: spawn it, stream its stdout, and stop it on a timeout, a
Ctrl-C, a hangup or a cancel (StopSignals). Vendor programs run outside a turn (the
install check, `resume --interactive`, `--version`) are clinvk.programs'.

A vendor CLI runs in its own session and process group (``start_new_session``) so that
clinvk, not the terminal, decides when it stops: a Ctrl-C is forwarded to the whole
group, a timeout or a cancel kills the whole group, and nothing the vendor started
(tool subprocesses, MCP servers) outlives a stopped turn.

Against a clinvk that is killed outright (kill -9) and so cannot stop anything, a
watchdog (clinvk.recovery.Watchdog) is started next to each vendor.

Stdout is read straight off the pipe with a selector and handed out line by line the
moment a newline arrives: no buffering layer sits between the vendor's write and
clinvk's own output. Stderr is collected on a thread; stdin is written on a thread and
closed, so a vendor that streams output before reading all of a big prompt cannot
deadlock against us.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal, Self

import msgspec

from clinvk.errors import BackendError
from clinvk.liveness import process_start_time
from clinvk.recovery import Watchdog

if TYPE_CHECKING:
    from clinvk.backends import Invocation

StopReason = Literal["timeout", "interrupted", "cancelled"]

# After forwarding Ctrl-C (or a cancel), how long the vendor may take to wind down
# (claude and gemini save their transcript on SIGINT) before the group is killed.
INTERRUPT_GRACE = 3.0
# After a timeout's SIGTERM: the vendor has already had its chance.
TIMEOUT_GRACE = 2.0
# How long stdout may stay open after the vendor itself exited: a grandchild that
# kept the pipe must not make clinvk wait for it.
DRAIN_AFTER_EXIT = 0.5
# Stderr kept per turn: enough for any error message, bounded against chatty vendors.
STDERR_LIMIT = 1 << 20

_SIGNAL_FOR: dict[StopReason, signal.Signals] = {
    "interrupted": signal.SIGINT,
    "cancelled": signal.SIGTERM,
    "timeout": signal.SIGTERM,
}

# Signals that stop a turn the way Ctrl-C does (the turn is saved as interrupted and
# clinvk exits 128 + the signal): the terminal closing (SIGHUP), a polite kill or a
# system shutdown (SIGTERM), Ctrl-\ (SIGQUIT). `clinvk cancel` sends CANCEL_SIGNAL so
# that a cancel can be told apart from them.
INTERRUPTING = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT)
CANCEL_SIGNAL = signal.SIGUSR1


class Outcome(msgspec.Struct):
    """How a vendor process ended."""

    # None when the process was never started (stopped before it could be).
    exit_code: int | None
    stderr: str
    stop: StopReason | None
    duration_s: float


class StopSignals:
    """While active, the INTERRUPTING signals and CANCEL_SIGNAL stop the running vendor
    process, not clinvk.

    The command keeps this active from before the turn is recorded until after its
    final save, so a Ctrl-C at any moment ends in a saved, resumable session instead of
    a KeyboardInterrupt halfway through a write. A second signal kills the group at once.
    """

    def __init__(self) -> None:
        self.reason: StopReason | None = None
        # The signal that stopped the turn (the exit code is 128 + it).
        self.signum: int | None = None
        # What stopped a cancelled turn, as the record says it.
        self.note = "cancelled by `clinvk cancel`"
        self._process: VendorProcess | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Self:
        # Python only lets the main thread install handlers; elsewhere (an embedding
        # program's worker thread) the defaults stay and Ctrl-C is the caller's business.
        if threading.current_thread() is threading.main_thread():
            for signum in (*INTERRUPTING, CANCEL_SIGNAL):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def attach(self, process: VendorProcess | None) -> None:
        self._process = process
        if process is not None and self.reason is not None:
            process.stop(self.reason)

    def trigger(self, signum: int, note: str | None = None) -> None:
        """Stop the turn as if ``signum`` had arrived: how a command that runs turns on
        worker threads (`clinvk parallel`) forwards the signals its main thread gets.
        ``note``: what the record says stopped it (for a CANCEL_SIGNAL)."""
        if note is not None and self.reason is None:
            self.note = note
        self._handle(signum, None)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        reason: StopReason = "cancelled" if signum == CANCEL_SIGNAL else "interrupted"
        process = self._process
        if self.reason is not None or (process is not None and process.stop_reason is not None):
            if process is not None:
                process.kill()
            return
        self.reason, self.signum = reason, signum
        if process is not None:
            process.stop(reason)


class VendorProcess:
    """One vendor CLI run: spawn, stream stdout lines, stop, and collect the outcome.

    Use as a context manager: leaving the block for any reason kills what is left of
    the process group, so an exception in the caller never orphans a vendor.
    """

    def __init__(self, invocation: Invocation, *, name: str, install_hint: str,
                 timeout: float | None = None, signals: StopSignals | None = None):
        self.invocation = invocation
        self.name = name
        self.install_hint = install_hint
        self.timeout = timeout if timeout and timeout > 0 else None
        self.signals = signals
        self.pid: int | None = None
        self.pgid: int | None = None
        # The group leader's start time, recorded so a later clinvk can verify the group.
        self.pgid_start: float | None = None
        self.stop_reason: StopReason | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._deadline: float | None = None
        self._kill_at: float | None = None
        self._stderr = bytearray()
        self._threads: list[threading.Thread] = []
        self._exit_code: int | None = None
        self._watchdog = Watchdog()

    # ------------------------------------------------------------------ start
    def start(self) -> VendorProcess:
        inv = self.invocation
        if not os.path.isdir(inv.cwd):
            # Popen would report a missing cwd as a missing executable; say which it is.
            raise BackendError(f"working directory does not exist: {inv.cwd}")
        env = dict(os.environ)
        env.update(inv.env)
        try:
            proc = subprocess.Popen(
                inv.argv,
                cwd=inv.cwd,
                env=env,
                stdin=subprocess.PIPE if inv.stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                bufsize=0,
            )
        except FileNotFoundError:
            raise BackendError(
                f"{self.name} CLI not found: {inv.argv[0]!r} is not on PATH",
                hint=f"install it: {self.install_hint}" if self.install_hint else None,
            ) from None
        except PermissionError:
            raise BackendError(f"cannot run {inv.argv[0]!r}: permission denied") from None
        except OSError as exc:
            raise BackendError(f"cannot run {inv.argv[0]!r}: {exc.strerror or exc}") from None
        self._proc = proc
        self._started = time.monotonic()
        self.pid = proc.pid
        # start_new_session makes the child the leader of a new group with its own pid.
        self.pgid = proc.pid
        self.pgid_start = process_start_time(proc.pid)
        if self.pgid_start is not None:
            # Without the leader's start time the group cannot be verified: no watchdog.
            self._watchdog.start(self.pgid, self.pgid_start)
        if self.timeout is not None:
            self._deadline = self._started + self.timeout
        assert proc.stderr is not None
        self._spawn_thread(self._collect_stderr, proc.stderr)
        if inv.stdin is not None:
            assert proc.stdin is not None
            self._spawn_thread(self._feed_stdin, proc.stdin, inv.stdin)
        if self.signals is not None:
            # A Ctrl-C that landed between the handler going in and Popen returning.
            self.signals.attach(self)
        return self

    def _spawn_thread(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True,
                                  name=f"clinvk-{self.name}-{target.__name__}")
        thread.start()
        self._threads.append(thread)

    def _collect_stderr(self, pipe: Any) -> None:
        try:
            while chunk := pipe.read(65536):
                self._stderr += chunk
                if len(self._stderr) > STDERR_LIMIT:
                    # The end of stderr is where the error is; drop the oldest noise.
                    del self._stderr[: len(self._stderr) - STDERR_LIMIT]
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                pipe.close()

    @staticmethod
    def _feed_stdin(pipe: Any, data: bytes) -> None:
        try:
            pipe.write(data)
        except (BrokenPipeError, OSError, ValueError):
            pass  # the vendor exited or closed stdin early; its exit status tells why
        finally:
            with contextlib.suppress(OSError, ValueError):
                pipe.close()

    # ------------------------------------------------------------------ stopping
    def _signal_group(self, signum: int) -> None:
        if self.pgid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signum)

    def stop(self, reason: StopReason) -> None:
        """Ask the vendor to stop (SIGINT for Ctrl-C, SIGTERM otherwise), kill it after a grace."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if self._proc is None or self._exit_code is not None:
            return
        self._signal_group(_SIGNAL_FOR[reason])
        grace = TIMEOUT_GRACE if reason == "timeout" else INTERRUPT_GRACE
        kill_at = time.monotonic() + grace
        if self._kill_at is None or kill_at < self._kill_at:
            self._kill_at = kill_at

    def kill(self) -> None:
        """SIGKILL the whole group now."""
        if self._proc is not None and self._exit_code is None:
            self._signal_group(signal.SIGKILL)
            self._kill_at = None

    def _check_deadlines(self, now: float) -> None:
        if self._deadline is not None and now >= self._deadline and self.stop_reason is None:
            self.stop("timeout")
        if self._kill_at is not None and now >= self._kill_at:
            self.kill()

    def _next_wakeup(self, now: float, cap: float) -> float:
        wake = cap
        for moment in (self._deadline if self.stop_reason is None else None, self._kill_at):
            if moment is not None:
                wake = min(wake, max(0.0, moment - now))
        return wake

    def _leader_exited(self) -> bool:
        """Whether the vendor exited, without reaping it.

        An unreaped leader keeps its pid reserved as the group id, so a later killpg
        can never hit an unrelated process that reused the number.
        """
        if self._exit_code is not None:
            return True
        assert self.pid is not None
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    # ------------------------------------------------------------------ reading
    def lines(self) -> Iterator[str]:
        """Stdout lines (without the newline) as they arrive, until the vendor is done."""
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        os.set_blocking(fd, False)
        buf = bytearray()
        exited_at: float | None = None
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                now = time.monotonic()
                self._check_deadlines(now)
                if exited_at is not None and now - exited_at >= DRAIN_AFTER_EXIT:
                    break
                ready = selector.select(self._next_wakeup(now, 0.2))
                if not ready:
                    if exited_at is None and self._leader_exited():
                        exited_at = time.monotonic()
                    continue
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                start = len(buf)
                buf += chunk
                if b"\n" not in chunk:
                    continue
                # Search only the new bytes: a 200 KB line arrives in many chunks.
                cut = 0
                pos = buf.find(b"\n", start)
                while pos != -1:
                    yield _decode(buf[cut:pos])
                    cut = pos + 1
                    pos = buf.find(b"\n", cut)
                del buf[:cut]
        if buf:
            yield _decode(buf)

    def wait(self) -> Outcome:
        """Wait for the vendor to exit (still honouring the timeout) and collect the outcome."""
        proc = self._proc
        assert proc is not None
        pause = 0.002
        while not self._leader_exited():
            now = time.monotonic()
            self._check_deadlines(now)
            time.sleep(self._next_wakeup(now, pause))
            pause = min(pause * 2, 0.05)
        if self.stop_reason is not None:
            # Whatever the vendor left running in its group goes with it.
            self._signal_group(signal.SIGKILL)
        self._watchdog.release()
        self._exit_code = proc.wait()
        self._close_stdout()
        for thread in self._threads:
            # A grandchild that escaped the kill may hold stderr open; don't wait on it.
            thread.join(timeout=0.5)
        return Outcome(
            exit_code=self._exit_code,
            stderr=bytes(self._stderr).decode("utf-8", "replace"),
            stop=self.stop_reason,
            duration_s=round(time.monotonic() - self._started, 3),
        )

    def _close_stdout(self) -> None:
        if self._proc is not None and self._proc.stdout is not None:
            with contextlib.suppress(OSError):
                self._proc.stdout.close()

    # ------------------------------------------------------------------ context
    def __enter__(self) -> Self:
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.signals is not None:
            self.signals.attach(None)
        proc = self._proc
        if proc is None or self._exit_code is not None:
            return
        # Left early (an exception in the caller): nothing of the vendor may survive us.
        self._signal_group(signal.SIGKILL)
        self._watchdog.release()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._exit_code = proc.wait(timeout=5)
        self._close_stdout()


def _decode(raw: bytes | bytearray) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return bytes(raw).decode("utf-8", "replace")
